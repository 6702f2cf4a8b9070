#ifndef TSBUILD_RUNTIME_TERMINAL_H
#define TSBUILD_RUNTIME_TERMINAL_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Connects to the console socket: before a namespace change that would hide its path. */
int terminal_connect (const char *console_socket, struct shim_error *err);
/* Opens a pseudo-terminal pair of the given size (process.consoleSize; none when 0) from the
   /dev/ptmx of the current mount namespace and root. */
int terminal_new (unsigned short height, unsigned short width, int *master, char *slave_path, size_t slave_size, struct shim_error *err);
/* Sends MASTER over SOCK (SCM_RIGHTS), which is closed. */
int terminal_send (int sock, int master, struct shim_error *err);
/* terminal_new, then terminal_send (SOCK is closed either way). */
int terminal_open (int sock, unsigned short height, unsigned short width, int *master, char *slave_path, size_t slave_size, struct shim_error *err);
/* Makes SLAVE (SLAVE_PATH in messages), which must be MASTER's peer, the process's controlling
   terminal and its stdio. With CONSOLE_FD (a container's first process; -1 otherwise), the
   container's /dev/console where the host's terminal is bound, it takes that terminal's place, as
   runc binds its own; THROUGH_CONSOLE: the process gets the host's terminal through /dev/console
   (its path is none the container can see). */
int terminal_attach (int master, int slave, const char *slave_path, int console_fd, bool through_console, struct shim_error *err);
/* terminal_attach of the slave at SLAVE_PATH (an exec's, in the container's devpts). */
int terminal_attach_path (int master, const char *slave_path, struct shim_error *err);

#endif
