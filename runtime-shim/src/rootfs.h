#ifndef TSBUILD_RUNTIME_ROOTFS_H
#define TSBUILD_RUNTIME_ROOTFS_H

#include <stdbool.h>

#include "config.h"
#include "error.h"

/*
 * Builds the container's filesystem view in the current (new) mount namespace and pivots into
 * it. `console_slave` is the terminal to bind on a new /dev/console, or NULL; the new file's
 * descriptor is left in `console_fd` (untouched when the spec mounts no /dev).
 */
int rootfs_setup (const struct spec *spec, bool user_namespace, const char *console_slave, int *console_fd, struct shim_error *err);

/*
 * Opens `path` inside the directory `root_fd` as an O_PATH descriptor without ever leaving it:
 * `..` stops at the root and symlinks, absolute ones included, resolve inside it. With
 * `create` ('d' directory, 'f' file, 0 none), missing components are created on the way.
 */
int open_in_root (int root_fd, const char *path, char create, struct shim_error *err);

#endif
