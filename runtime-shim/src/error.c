#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
shim_fail (struct shim_error *err, int errnum, const char *syscall, const char *path, const char *format, ...)
{
  va_list args;
  snprintf (err->syscall, sizeof err->syscall, "%s", syscall == NULL ? "" : syscall);
  snprintf (err->path, sizeof err->path, "%s", path == NULL ? "" : path);
  err->errnum = errnum;
  va_start (args, format);
  vsnprintf (err->message, sizeof err->message, format, args);
  va_end (args);
  return -1;
}

void
json_escape (char *out, size_t out_size, const char *in)
{
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *) in; *p != '\0' && n + 7 < out_size; p++)
    {
      if (*p == '"' || *p == '\\')
        {
          out[n++] = '\\';
          out[n++] = (char) *p;
        }
      else if (*p < 0x20)
        n += (size_t) snprintf (out + n, out_size - n, "\\u%04x", *p);
      else
        out[n++] = (char) *p;
    }
  out[n] = '\0';
}

static void
write_all (int fd, const char *data, size_t size)
{
  while (size > 0)
    {
      ssize_t written = write (fd, data, size);
      if (written < 0 && errno == EINTR)
        continue;
      if (written <= 0)
        return;
      data += written;
      size -= (size_t) written;
    }
}

void
shim_error_write (int fd, const struct shim_error *err)
{
  char syscall[sizeof err->syscall * 2], path[sizeof err->path * 2], message[sizeof err->message * 2], line[4096];
  json_escape (syscall, sizeof syscall, err->syscall);
  json_escape (path, sizeof path, err->path);
  json_escape (message, sizeof message, err->message);
  int n = snprintf (line, sizeof line, "{\"error\":{\"syscall\":\"%s\",\"path\":\"%s\",\"errno\":%d,\"strerror\":\"%s\",\"message\":\"%s\"}}\n", syscall, path, err->errnum,
                    err->errnum == 0 ? "" : strerror (err->errnum), message);
  if (n > 0)
    write_all (fd, line, (size_t) n < sizeof line ? (size_t) n : sizeof line - 1);
}

int
shim_error_read (int fd, struct shim_error *err)
{
  /* The container side sends the raw struct: both ends are this same binary. */
  size_t got = 0;
  char *buffer = (char *) err;
  while (got < sizeof *err)
    {
      ssize_t n = read (fd, buffer + got, sizeof *err - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (size_t) n;
    }
  return got == sizeof *err ? 1 : 0;
}

void
shim_warning (const char *format, ...)
{
  char message[1024], escaped[2048], line[2200];
  va_list args;
  va_start (args, format);
  vsnprintf (message, sizeof message, format, args);
  va_end (args);
  json_escape (escaped, sizeof escaped, message);
  int n = snprintf (line, sizeof line, "{\"warning\":\"%s\"}\n", escaped);
  if (n > 0)
    write_all (2, line, (size_t) n < sizeof line ? (size_t) n : sizeof line - 1);
}
