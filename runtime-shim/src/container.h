#ifndef TSBUILD_RUNTIME_CONTAINER_H
#define TSBUILD_RUNTIME_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"

struct launch_options {
  const char *id;
  const char *bundle;
  const char *state_root;     /* --root */
  const char *pid_file;       /* --pid-file, or NULL */
  const char *console_socket; /* --console-socket, or NULL */
  bool detach;                /* create: stop before exec until `start` */
  int preserve_fds;           /* --preserve-fds N: fds 3..3+N-1 also reach the process */
};

/* The memory of this process's command line (its argv strings, end to end), which the
   container's init rewrites: its /proc/1/cmdline would otherwise show the runtime's, with the
   host's paths in it. */
void container_command_line_region (char *start, size_t size);

/* run: returns the exit status to exit with (128+N when killed by signal N), or -1 on error. */
int container_run (const struct spec *spec, const struct launch_options *options, struct shim_error *err);

#endif
