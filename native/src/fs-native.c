/*
 * The few system calls Node does not offer and tsbuild needs: mknod (device nodes and fifos)
 * and extended attributes, read and written without following symlinks; writeback of a file
 * range; a directory's top-of-hierarchy flag; times to the nanosecond; pipes; a file opened
 * inside a root by the kernel's own resolution (openat2). A Node-API addon rather than a helper process: layer diffs read the xattrs of every
 * file.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "napi-args.h"

#define MAX_PATH_BYTES 4096
#define MAX_NAME_BYTES 256

static int get_uint32(napi_env env, napi_value value, uint32_t *out, const char *what) {
  if (napi_get_value_uint32(env, value, out) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return -1;
  }
  return 0;
}

/*
 * A path argument into BUFFER: a string (as UTF-8), or a Buffer of the path's bytes, which a
 * file name that is not UTF-8 needs. A TypeError when neither, a RangeError when too long or
 * holding NUL.
 */
static int get_path(napi_env env, napi_value value, char *buffer, size_t size) {
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  if (!is_buffer) return get_string(env, value, buffer, size, "path: a string or Buffer without NUL");
  void *data = NULL;
  size_t length = 0;
  if (napi_get_buffer_info(env, value, &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "path: a string or Buffer without NUL");
    return -1;
  }
  if (length + 1 >= size || (length > 0 && memchr(data, 0, length) != NULL)) {
    napi_throw_range_error(env, NULL, "path: a string or Buffer without NUL");
    return -1;
  }
  if (length > 0) memcpy(buffer, data, length);
  buffer[length] = 0;
  return 0;
}

/* mknod(path, mode, major, minor): mode carries the type (S_IFCHR, S_IFBLK, S_IFIFO). */
static napi_value fs_mknod(napi_env env, napi_callback_info info) {
  napi_value args[4];
  char path[MAX_PATH_BYTES];
  uint32_t mode, major_number, minor_number;
  if (get_args(env, info, 4, args) || get_path(env, args[0], path, sizeof path) ||
      get_uint32(env, args[1], &mode, "mode: a number") || get_uint32(env, args[2], &major_number, "major: a number") ||
      get_uint32(env, args[3], &minor_number, "minor: a number"))
    return NULL;
  mode_t type = mode & S_IFMT;
  if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO) {
    napi_throw_range_error(env, NULL, "mode: a character device, block device or fifo");
    return NULL;
  }
  if (mknod(path, (mode_t)mode, makedev(major_number, minor_number)) != 0) return throw_errno(env, errno, "mknod", path);
  return NULL;
}

/* lsetxattr(path, name, value: Uint8Array) */
static napi_value fs_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value args[3];
  char path[MAX_PATH_BYTES], name[MAX_NAME_BYTES];
  if (get_args(env, info, 3, args) || get_path(env, args[0], path, sizeof path) ||
      get_string(env, args[1], name, sizeof name, "name: an attribute name"))
    return NULL;
  bool is_typed_array = false;
  napi_is_typedarray(env, args[2], &is_typed_array);
  if (!is_typed_array) {
    napi_throw_type_error(env, NULL, "value: a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, args[2], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "value: a Uint8Array");
    return NULL;
  }
  if (lsetxattr(path, name, length == 0 ? "" : data, length, 0) != 0) return throw_errno(env, errno, "lsetxattr", path);
  return NULL;
}

/* llistxattr(path): the attribute names, in the order the file system lists them. */
static napi_value fs_llistxattr(napi_env env, napi_callback_info info) {
  napi_value args[1];
  char path[MAX_PATH_BYTES];
  if (get_args(env, info, 1, args) || get_path(env, args[0], path, sizeof path)) return NULL;
  char *names = NULL;
  ssize_t size = 0;
  /* The list can grow between the size query and the read: ask again on ERANGE, a few times. */
  for (int attempt = 0; attempt < 4; attempt++) {
    size = llistxattr(path, NULL, 0);
    if (size < 0) return throw_errno(env, errno, "llistxattr", path);
    if (size == 0) break;
    free(names);
    names = malloc((size_t)size);
    if (names == NULL) return throw_errno(env, ENOMEM, "llistxattr", path);
    size = llistxattr(path, names, (size_t)size);
    if (size >= 0) break;
    if (errno != ERANGE) {
      int err = errno;
      free(names);
      return throw_errno(env, err, "llistxattr", path);
    }
  }
  if (size < 0) {
    free(names);
    return throw_errno(env, ERANGE, "llistxattr", path);
  }
  napi_value result;
  napi_create_array(env, &result);
  uint32_t index = 0;
  for (ssize_t offset = 0; offset < size;) {
    size_t length = strnlen(names + offset, (size_t)(size - offset));
    napi_value name;
    napi_create_string_utf8(env, names + offset, length, &name);
    napi_set_element(env, result, index++, name);
    offset += (ssize_t)length + 1;
  }
  free(names);
  return result;
}

/*
 * lgetxattr(path, name): the value as a Buffer, or undefined when PATH has no attribute of that
 * name: most files have none, and an error thrown per file made a layer of 2,000 files spend
 * 40 ms building exceptions.
 */
static napi_value fs_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value args[2];
  char path[MAX_PATH_BYTES], name[MAX_NAME_BYTES];
  if (get_args(env, info, 2, args) || get_path(env, args[0], path, sizeof path) ||
      get_string(env, args[1], name, sizeof name, "name: an attribute name"))
    return NULL;
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0 && errno == ENODATA) {
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      return undefined;
    }
    if (size < 0) return throw_errno(env, errno, "lgetxattr", path);
    void *data = NULL;
    napi_value buffer;
    if (napi_create_buffer(env, (size_t)size, &data, &buffer) != napi_ok) return NULL;
    if (size == 0) return buffer;
    ssize_t read = lgetxattr(path, name, data, (size_t)size);
    if (read >= 0) {
      if (read == size) return buffer;
      napi_value slice;
      napi_create_buffer_copy(env, (size_t)read, data, NULL, &slice);
      return slice;
    }
    if (errno != ERANGE) return throw_errno(env, errno, "lgetxattr", path);
  }
  return throw_errno(env, ERANGE, "lgetxattr", path);
}

/*
 * startWriteback(fd, offset, length): asks the kernel to start writing the range to disk now,
 * without waiting, so that a later fsync of a large file finds little left to do.
 */
static napi_value fs_start_writeback(napi_env env, napi_callback_info info) {
  napi_value args[3];
  int32_t fd;
  int64_t offset, length;
  if (get_args(env, info, 3, args)) return NULL;
  if (napi_get_value_int32(env, args[0], &fd) != napi_ok || napi_get_value_int64(env, args[1], &offset) != napi_ok ||
      napi_get_value_int64(env, args[2], &length) != napi_ok || fd < 0 || offset < 0 || length < 0) {
    napi_throw_type_error(env, NULL, "fd, offset and length: non-negative numbers");
    return NULL;
  }
  if (sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE) != 0) return throw_errno(env, errno, "sync_file_range", NULL);
  return NULL;
}

/*
 * markTopDirectory(path): sets ext2/3/4's top-of-hierarchy flag (chattr +T) on a directory, so
 * that the Orlov allocator places each directory made in it in a block group of its own choosing
 * rather than beside its parent. Returns whether the flag is set; false where the file system
 * has no such flag.
 */
static napi_value fs_mark_top_directory(napi_env env, napi_callback_info info) {
  napi_value args[1];
  char path[MAX_PATH_BYTES];
  if (get_args(env, info, 1, args) || get_string(env, args[0], path, sizeof path, "path: a string without NUL")) return NULL;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", path);
  int flags = 0;
  bool set = false;
  if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
    set = (flags & FS_TOPDIR_FL) != 0;
    if (!set) {
      flags |= FS_TOPDIR_FL;
      set = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    }
  }
  close(fd);
  napi_value result;
  napi_get_boolean(env, set, &result);
  return result;
}

/* A time in nanoseconds since the epoch as a timespec, before 1970 too (tv_nsec stays in 0..1e9). */
static int get_timespec(napi_env env, napi_value value, struct timespec *out, const char *what) {
  int64_t ns = 0;
  bool lossless = false;
  if (napi_get_value_bigint_int64(env, value, &ns, &lossless) != napi_ok || !lossless) {
    napi_throw_type_error(env, NULL, what);
    return -1;
  }
  *out = timespec_of_ns(ns);
  return 0;
}

/*
 * lutimens(path, atimeNs: bigint, mtimeNs: bigint): the times to the nanosecond, of PATH itself
 * (a symlink's own). Node's utimes calls keep microseconds at most.
 */
static napi_value fs_lutimens(napi_env env, napi_callback_info info) {
  napi_value args[3];
  char path[MAX_PATH_BYTES];
  struct timespec times[2];
  if (get_args(env, info, 3, args) || get_path(env, args[0], path, sizeof path) ||
      get_timespec(env, args[1], &times[0], "atimeNs: a bigint") || get_timespec(env, args[2], &times[1], "mtimeNs: a bigint"))
    return NULL;
  if (utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) != 0) return throw_errno(env, errno, "utimensat", path);
  return NULL;
}

/* futimens(fd, atimeNs: bigint, mtimeNs: bigint): lutimens for a file held open. */
static napi_value fs_futimens(napi_env env, napi_callback_info info) {
  napi_value args[3];
  int32_t fd = -1;
  struct timespec times[2];
  if (get_args(env, info, 3, args)) return NULL;
  if (napi_get_value_int32(env, args[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "fd: a file descriptor");
    return NULL;
  }
  if (get_timespec(env, args[1], &times[0], "atimeNs: a bigint") || get_timespec(env, args[2], &times[1], "mtimeNs: a bigint")) return NULL;
  if (futimens(fd, times) != 0) return throw_errno(env, errno, "futimens", NULL);
  return NULL;
}

/*
 * openInRoot(root, path, flags): a descriptor of PATH opened as if ROOT were `/`, by openat2
 * with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, so that every symlink and `..` on the way stays
 * inside ROOT at the moment of the open, whatever the tree's owner swaps meanwhile (a walk in
 * JavaScript that checked each component first leaves a window between its check and the open,
 * through which a running container could lead the open to a host file). ROOT itself is opened
 * as the caller names it (a /proc/PID/root is followed there, on purpose). The descriptor is
 * close-on-exec; the caller closes it. ENOSYS where the kernel lacks openat2 (before 5.6).
 */
static napi_value fs_open_in_root(napi_env env, napi_callback_info info) {
  napi_value args[3];
  char root[MAX_PATH_BYTES], path[MAX_PATH_BYTES];
  uint32_t flags = 0;
  if (get_args(env, info, 3, args) || get_path(env, args[0], root, sizeof root) || get_path(env, args[1], path, sizeof path) ||
      get_uint32(env, args[2], &flags, "flags: a number"))
    return NULL;
  int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return throw_errno(env, errno, "open", root);
  struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  long fd = -1;
  /* EAGAIN: a rename or mount elsewhere raced a `..` of the walk; the kernel asks for a retry. */
  for (int attempt = 0; attempt < 8; attempt++) {
    fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  int saved = errno;
  close(root_fd);
  if (fd < 0) return throw_errno(env, saved, "openat2", path);
  napi_value result;
  napi_create_int32(env, (int32_t)fd, &result);
  return result;
}

/*
 * pipe(): [read, write], the descriptors of a new pipe, close-on-exec. For a container's
 * standard streams: Node makes a child's `pipe` streams socket pairs, and open(2) of a socket
 * through /proc/self/fd (a RUN's `> /dev/stderr`) fails with ENXIO where a pipe opens.
 */
static napi_value fs_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return throw_errno(env, errno, "pipe2", NULL);
  napi_value result, end;
  napi_create_array_with_length(env, 2, &result);
  for (uint32_t i = 0; i < 2; i++) {
    napi_create_int32(env, fds[i], &end);
    napi_set_element(env, result, i, end);
  }
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"mknod", NULL, fs_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, fs_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, fs_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, fs_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startWriteback", NULL, fs_start_writeback, NULL, NULL, NULL, napi_enumerable, NULL},
      {"markTopDirectory", NULL, fs_mark_top_directory, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lutimens", NULL, fs_lutimens, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futimens", NULL, fs_futimens, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipe", NULL, fs_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openInRoot", NULL, fs_open_in_root, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
