#ifndef TSBUILD_RUNTIME_EXEC_H
#define TSBUILD_RUNTIME_EXEC_H

#include <sys/types.h>

#include "config.h"
#include "error.h"

/* exec: runs the config's process in the namespaces of the running process TARGET (the
   container's first); returns the exit status to exit with (128+N when killed by signal N), or
   -1 on error. */
int container_exec (const struct spec *spec, pid_t target, const char *console_socket, struct shim_error *err);

#endif
