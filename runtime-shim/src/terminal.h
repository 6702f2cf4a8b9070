#ifndef TSBUILD_RUNTIME_TERMINAL_H
#define TSBUILD_RUNTIME_TERMINAL_H

#include <stddef.h>

#include "error.h"

/* Opens a pseudo-terminal pair of the given size (process.consoleSize; none when 0); the master
   is sent over the console socket (SCM_RIGHTS). */
int terminal_open (const char *console_socket, unsigned short height, unsigned short width, int *master, char *slave_path, size_t slave_size, struct shim_error *err);
/* Makes the slave the process's controlling terminal and its stdio. */
int terminal_attach (int master, const char *slave_path, struct shim_error *err);

#endif
