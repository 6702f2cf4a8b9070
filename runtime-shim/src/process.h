#ifndef TSBUILD_RUNTIME_PROCESS_H
#define TSBUILD_RUNTIME_PROCESS_H

#include <stdbool.h>

#include "config.h"
#include "error.h"

/* Closes every descriptor above 2 except those in keep (and the preserved ones, 3..3+preserve-1). */
void close_other_fds (const int *keep, int keep_count, int preserve);

/* Everything between the finished root filesystem and execve: cwd, rlimits, ids, capabilities. */
int process_prepare (const struct spec *spec, bool user_namespace, struct shim_error *err);

/* execve with PATH looked up in the container's environment; returns only on failure. */
int process_exec (const struct spec *spec, struct shim_error *err);

#endif
