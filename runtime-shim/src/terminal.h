#ifndef TSBUILD_RUNTIME_TERMINAL_H
#define TSBUILD_RUNTIME_TERMINAL_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Connects to the console socket: before a namespace change that would hide its path. */
int terminal_connect (const char *console_socket, struct shim_error *err);
/* Opens a pseudo-terminal pair of the given size (process.consoleSize; none when 0) from the
   /dev/ptmx of the current mount namespace; the master is sent over SOCK (SCM_RIGHTS), which is
   closed. */
int terminal_open (int sock, unsigned short height, unsigned short width, int *master, char *slave_path, size_t slave_size, struct shim_error *err);
/* Makes the slave the process's controlling terminal and its stdio; THROUGH_CONSOLE: reach it
   through /dev/console first (a container's first process, whose root has changed). */
int terminal_attach (int master, const char *slave_path, bool through_console, struct shim_error *err);

#endif
