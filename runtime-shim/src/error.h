/*
 * One error convention for the whole runtime: a function that can fail returns -1 (or NULL)
 * after filling a struct shim_error; callers add nothing and pass it up. main prints it as one
 * JSON line on stderr (see ERRORS.md) and exits 125.
 */
#ifndef TSBUILD_RUNTIME_ERROR_H
#define TSBUILD_RUNTIME_ERROR_H

#include <stddef.h>

struct shim_error {
  char syscall[32];
  char path[512];
  int errnum;
  char message[512];
};

/* Records a failed system call on a path (path may be NULL); returns -1. */
int shim_fail (struct shim_error *err, int errnum, const char *syscall, const char *path, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

/* Writes the error as one JSON line to fd (2, or the pipe from the container's setup). */
void shim_error_write (int fd, const struct shim_error *err);
/* Reads back what shim_error_write wrote on a pipe; returns 1 if one was read. */
int shim_error_read (int fd, struct shim_error *err);
void shim_warning (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

/* JSON string escaping into a buffer (truncated, always NUL-terminated). */
void json_escape (char *out, size_t out_size, const char *in);

#endif
