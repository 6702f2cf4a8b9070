INSERT INTO users (name, email) VALUES ('ada', 'ada@example.org'), ('linus', 'linus@example.org');
