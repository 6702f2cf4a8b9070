/*
 * Reading a call's arguments (times given in nanoseconds among them) and throwing system errors,
 * the same in every addon.
 */
#ifndef TSBUILD_NAPI_ARGS_H
#define TSBUILD_NAPI_ARGS_H

#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "errno-error.h"

static inline napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  napi_throw(env, errno_error(env, err, syscall, path));
  return NULL;
}

/* The first EXPECTED arguments into ARGS; a TypeError when fewer were given. */
static inline int get_args(napi_env env, napi_callback_info info, size_t expected, napi_value *args) {
  size_t count = expected;
  if (napi_get_cb_info(env, info, &count, args, NULL, NULL) != napi_ok || count < expected) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return -1;
  }
  return 0;
}

/* A string argument into BUFFER: a TypeError when not a string, a RangeError when too long or holding NUL. */
static inline int get_string(napi_env env, napi_value value, char *buffer, size_t size, const char *what) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, buffer, size, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return -1;
  }
  if (length + 1 >= size || strlen(buffer) != length) {
    napi_throw_range_error(env, NULL, what);
    return -1;
  }
  return 0;
}

/* A time in nanoseconds since the epoch as a timespec, before 1970 too (tv_nsec stays in 0..1e9). */
static inline struct timespec timespec_of_ns(int64_t ns) {
  int64_t seconds = ns / 1000000000, rest = ns % 1000000000;
  if (rest < 0) {
    rest += 1000000000;
    seconds -= 1;
  }
  return (struct timespec){.tv_sec = (time_t)seconds, .tv_nsec = (long)rest};
}

#endif
