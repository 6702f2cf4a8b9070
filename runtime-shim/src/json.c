#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nesting deeper than this is refused rather than risking the stack on hostile input. */
#define MAX_DEPTH 64

struct reader {
  const char *text;
  size_t size;
  size_t at;
  char *error;
  size_t error_size;
};

static void
fail (struct reader *r, const char *what)
{
  if (r->error[0] == '\0')
    snprintf (r->error, r->error_size, "%s at byte %zu", what, r->at);
}

static void
skip_space (struct reader *r)
{
  while (r->at < r->size && (r->text[r->at] == ' ' || r->text[r->at] == '\t' || r->text[r->at] == '\n' || r->text[r->at] == '\r'))
    r->at++;
}

static struct json *
new_value (enum json_type type)
{
  struct json *value = calloc (1, sizeof *value);
  if (value != NULL)
    value->type = type;
  return value;
}

int
json_hex_digit (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static bool
read_hex4 (struct reader *r, unsigned *out)
{
  unsigned value = 0;
  if (r->at + 4 > r->size)
    return false;
  for (int i = 0; i < 4; i++)
    {
      int digit = json_hex_digit (r->text[r->at + i]);
      if (digit < 0)
        return false;
      value = value * 16 + (unsigned) digit;
    }
  r->at += 4;
  *out = value;
  return true;
}

static size_t
put_utf8 (char *out, unsigned code)
{
  if (code < 0x80)
    {
      out[0] = (char) code;
      return 1;
    }
  if (code < 0x800)
    {
      out[0] = (char) (0xc0 | (code >> 6));
      out[1] = (char) (0x80 | (code & 0x3f));
      return 2;
    }
  if (code < 0x10000)
    {
      out[0] = (char) (0xe0 | (code >> 12));
      out[1] = (char) (0x80 | ((code >> 6) & 0x3f));
      out[2] = (char) (0x80 | (code & 0x3f));
      return 3;
    }
  out[0] = (char) (0xf0 | (code >> 18));
  out[1] = (char) (0x80 | ((code >> 12) & 0x3f));
  out[2] = (char) (0x80 | ((code >> 6) & 0x3f));
  out[3] = (char) (0x80 | (code & 0x3f));
  return 4;
}

static char *
read_string (struct reader *r)
{
  /* The decoded string is never longer than its source. */
  size_t start = ++r->at;
  char *out = malloc (r->size - start + 1);
  size_t n = 0;
  if (out == NULL)
    {
      fail (r, "out of memory");
      return NULL;
    }
  while (r->at < r->size)
    {
      unsigned char c = (unsigned char) r->text[r->at];
      if (c == '"')
        {
          r->at++;
          out[n] = '\0';
          return out;
        }
      if (c < 0x20)
        {
          fail (r, "control character in string");
          break;
        }
      if (c != '\\')
        {
          out[n++] = (char) c;
          r->at++;
          continue;
        }
      if (r->at + 1 >= r->size)
        break;
      char escape = r->text[r->at + 1];
      r->at += 2;
      switch (escape)
        {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u':
          {
            unsigned code;
            if (!read_hex4 (r, &code))
              {
                fail (r, "bad \\u escape");
                free (out);
                return NULL;
              }
            if (code >= 0xd800 && code <= 0xdbff && r->at + 6 <= r->size && r->text[r->at] == '\\' && r->text[r->at + 1] == 'u')
              {
                unsigned low;
                r->at += 2;
                if (read_hex4 (r, &low) && low >= 0xdc00 && low <= 0xdfff)
                  code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                else
                  code = 0xfffd;
              }
            else if (code >= 0xd800 && code <= 0xdfff)
              code = 0xfffd;
            if (code == 0)
              {
                fail (r, "NUL character in string");
                free (out);
                return NULL;
              }
            n += put_utf8 (out + n, code);
            break;
          }
        default:
          fail (r, "bad escape");
          free (out);
          return NULL;
        }
    }
  fail (r, "unterminated string");
  free (out);
  return NULL;
}

static struct json *read_value (struct reader *r, int depth);

static bool
append (struct json *container, struct json *item, char *key)
{
  struct json **items = realloc (container->items, (container->length + 1) * sizeof *items);
  if (items == NULL)
    return false;
  container->items = items;
  if (container->type == JSON_OBJECT)
    {
      char **keys = realloc (container->keys, (container->length + 1) * sizeof *keys);
      if (keys == NULL)
        return false;
      container->keys = keys;
      keys[container->length] = key;
    }
  items[container->length++] = item;
  return true;
}

static struct json *
read_container (struct reader *r, int depth, bool object)
{
  struct json *value = new_value (object ? JSON_OBJECT : JSON_ARRAY);
  char close = object ? '}' : ']';
  if (value == NULL)
    {
      fail (r, "out of memory");
      return NULL;
    }
  r->at++;
  skip_space (r);
  if (r->at < r->size && r->text[r->at] == close)
    {
      r->at++;
      return value;
    }
  for (;;)
    {
      char *key = NULL;
      skip_space (r);
      if (object)
        {
          if (r->at >= r->size || r->text[r->at] != '"')
            {
              fail (r, "expected a member name");
              break;
            }
          key = read_string (r);
          if (key == NULL)
            break;
          skip_space (r);
          if (r->at >= r->size || r->text[r->at] != ':')
            {
              free (key);
              fail (r, "expected ':'");
              break;
            }
          r->at++;
        }
      struct json *item = read_value (r, depth + 1);
      if (item == NULL || !append (value, item, key))
        {
          free (key);
          json_free (item);
          fail (r, "out of memory");
          break;
        }
      skip_space (r);
      if (r->at < r->size && r->text[r->at] == ',')
        {
          r->at++;
          continue;
        }
      if (r->at < r->size && r->text[r->at] == close)
        {
          r->at++;
          return value;
        }
      fail (r, object ? "expected ',' or '}'" : "expected ',' or ']'");
      break;
    }
  json_free (value);
  return NULL;
}

static struct json *
read_value (struct reader *r, int depth)
{
  if (depth > MAX_DEPTH)
    {
      fail (r, "nesting too deep");
      return NULL;
    }
  skip_space (r);
  if (r->at >= r->size)
    {
      fail (r, "unexpected end of input");
      return NULL;
    }
  char c = r->text[r->at];
  if (c == '{' || c == '[')
    return read_container (r, depth, c == '{');
  if (c == '"')
    {
      char *string = read_string (r);
      struct json *value = string == NULL ? NULL : new_value (JSON_STRING);
      if (value == NULL)
        {
          free (string);
          return NULL;
        }
      value->string = string;
      return value;
    }
  static const struct { const char *word; enum json_type type; bool boolean; } words[] = {
    { "true", JSON_BOOL, true }, { "false", JSON_BOOL, false }, { "null", JSON_NULL, false },
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    {
      size_t len = strlen (words[i].word);
      if (r->size - r->at >= len && memcmp (r->text + r->at, words[i].word, len) == 0)
        {
          struct json *value = new_value (words[i].type);
          r->at += len;
          if (value != NULL)
            value->boolean = words[i].boolean;
          return value;
        }
    }
  if (c == '-' || (c >= '0' && c <= '9'))
    {
      /* strtod accepts more than JSON (hex, inf): check the JSON number grammar first. */
      size_t start = r->at, i = r->at;
      if (r->text[i] == '-')
        i++;
      if (i >= r->size || r->text[i] < '0' || r->text[i] > '9')
        {
          fail (r, "bad number");
          return NULL;
        }
      while (i < r->size && ((r->text[i] >= '0' && r->text[i] <= '9') || r->text[i] == '.' || r->text[i] == 'e' || r->text[i] == 'E' || r->text[i] == '+' || r->text[i] == '-'))
        i++;
      char buffer[64];
      if (i - start >= sizeof buffer)
        {
          fail (r, "number too long");
          return NULL;
        }
      memcpy (buffer, r->text + start, i - start);
      buffer[i - start] = '\0';
      char *end;
      errno = 0;
      double number = strtod (buffer, &end);
      if (*end != '\0' || errno != 0 || !isfinite (number))
        {
          fail (r, "bad number");
          return NULL;
        }
      struct json *value = new_value (JSON_NUMBER);
      r->at = i;
      if (value != NULL)
        value->number = number;
      return value;
    }
  fail (r, "unexpected character");
  return NULL;
}

struct json *
json_parse (const char *text, size_t size, char *error, size_t error_size)
{
  struct reader r = { text, size, 0, error, error_size };
  error[0] = '\0';
  struct json *value = read_value (&r, 0);
  if (value == NULL)
    {
      fail (&r, "invalid JSON");
      return NULL;
    }
  skip_space (&r);
  if (r.at != r.size)
    {
      fail (&r, "trailing data after the JSON value");
      json_free (value);
      return NULL;
    }
  return value;
}

void
json_free (struct json *value)
{
  if (value == NULL)
    return;
  for (size_t i = 0; i < value->length; i++)
    {
      json_free (value->items[i]);
      if (value->keys != NULL)
        free (value->keys[i]);
    }
  free (value->items);
  free (value->keys);
  free (value->string);
  free (value);
}

const struct json *
json_get (const struct json *object, const char *key)
{
  if (object == NULL || object->type != JSON_OBJECT)
    return NULL;
  /* The last of duplicate keys wins, as in Go's decoder. */
  for (size_t i = object->length; i > 0; i--)
    if (strcmp (object->keys[i - 1], key) == 0)
      return object->items[i - 1];
  return NULL;
}

const char *
json_string (const struct json *value)
{
  return value != NULL && value->type == JSON_STRING ? value->string : NULL;
}

bool
json_is (const struct json *value, enum json_type type)
{
  return value != NULL && value->type == type;
}
