const char *greet_message(void);
