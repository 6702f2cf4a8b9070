chmod 4755 suid
