/*
 * Errors shaped like Node's own system errors, for both addons: message "CODE: strerror,
 * syscall 'path'", with .code, .errno, .syscall and .path (path only when there is one).
 */
#ifndef TSBUILD_ERRNO_ERROR_H
#define TSBUILD_ERRNO_ERROR_H

#include <node_api.h>
#include <stdio.h>
#include <string.h>

static napi_value errno_error(napi_env env, int err, const char *syscall, const char *path) {
  const char *code_name = strerrorname_np(err);
  if (code_name == NULL) code_name = "EUNKNOWN";
  char message[4096 + 256];
  if (path == NULL) snprintf(message, sizeof message, "%s: %s, %s", code_name, strerror(err), syscall);
  else snprintf(message, sizeof message, "%s: %s, %s '%s'", code_name, strerror(err), syscall, path);
  napi_value code, text, error, value;
  napi_create_string_utf8(env, code_name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, -err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  if (path != NULL) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, error, "path", value);
  }
  return error;
}

#endif
