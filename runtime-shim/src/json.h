/* A small strict JSON reader: enough for an OCI runtime config, nothing more. */
#ifndef TSBUILD_RUNTIME_JSON_H
#define TSBUILD_RUNTIME_JSON_H

#include <stddef.h>
#include <stdbool.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
  enum json_type type;
  bool boolean;
  double number;
  char *string;          /* JSON_STRING; NUL-terminated, NUL bytes rejected */
  size_t length;         /* array elements or object members */
  struct json **items;   /* JSON_ARRAY elements; JSON_OBJECT values */
  char **keys;           /* JSON_OBJECT keys */
};

/* Parses text; on failure returns NULL and writes a message with the byte offset to error. */
struct json *json_parse (const char *text, size_t size, char *error, size_t error_size);
void json_free (struct json *value);

/* Member of an object by key (NULL if absent or not an object). */
const struct json *json_get (const struct json *object, const char *key);
/* Typed accessors: NULL/default when the value is absent or of another type. */
const char *json_string (const struct json *value);
bool json_is (const struct json *value, enum json_type type);
/* The value of one hex digit (either case), or -1. */
int json_hex_digit (char c);

#endif
