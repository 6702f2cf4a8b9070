/*
 * What `tsbuild run` needs from the kernel and Node cannot do: mount and unmount (the overlay a
 * container writes to), a unix socket that receives a descriptor (the pty master an OCI runtime
 * sends to --console-socket, with SCM_RIGHTS), and a terminal's window size (TIOCSWINSZ).
 * Nothing here blocks for long: accepting waits at most the timeout it is given, so the caller
 * can go back to its event loop and try again.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "napi-args.h"

#define MAX_PATH_BYTES 4096
#define MAX_DATA_BYTES 8192

static int get_int32(napi_env env, napi_value value, int32_t *out, const char *what) {
  if (napi_get_value_int32(env, value, out) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return -1;
  }
  return 0;
}

static napi_value int_value(napi_env env, int32_t number) {
  napi_value result;
  napi_create_int32(env, number, &result);
  return result;
}

/* mount(source, target, fstype, flags, data) */
static napi_value rt_mount(napi_env env, napi_callback_info info) {
  napi_value args[5];
  char source[MAX_PATH_BYTES], target[MAX_PATH_BYTES], fstype[64], data[MAX_DATA_BYTES];
  int32_t flags;
  if (get_args(env, info, 5, args) || get_string(env, args[0], source, sizeof source, "source: a string without NUL") ||
      get_string(env, args[1], target, sizeof target, "target: a string without NUL") || get_string(env, args[2], fstype, sizeof fstype, "fstype: a short string") ||
      get_int32(env, args[3], &flags, "flags: a number") || get_string(env, args[4], data, sizeof data, "data: a string without NUL"))
    return NULL;
  if (mount(source, target, fstype, (unsigned long)(uint32_t)flags, data[0] == '\0' ? NULL : data) != 0) return throw_errno(env, errno, "mount", target);
  return NULL;
}

/* umount(target, flags): flags as umount2 takes them (MNT_DETACH = 2). */
static napi_value rt_umount(napi_env env, napi_callback_info info) {
  napi_value args[2];
  char target[MAX_PATH_BYTES];
  int32_t flags;
  if (get_args(env, info, 2, args) || get_string(env, args[0], target, sizeof target, "target: a string without NUL") || get_int32(env, args[1], &flags, "flags: a number"))
    return NULL;
  if (umount2(target, flags) != 0) return throw_errno(env, errno, "umount2", target);
  return NULL;
}

/* listenUnix(path): a listening unix stream socket bound at path (close-on-exec); its descriptor. */
static napi_value rt_listen_unix(napi_env env, napi_callback_info info) {
  napi_value args[1];
  char path[MAX_PATH_BYTES];
  if (get_args(env, info, 1, args) || get_string(env, args[0], path, sizeof path, "path: a string without NUL")) return NULL;
  struct sockaddr_un address;
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof address.sun_path) return throw_errno(env, ENAMETOOLONG, "bind", path);
  strcpy(address.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", path);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 1) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind", path);
  }
  return int_value(env, fd);
}

/*
 * acceptFd(listenFd, timeoutMs): waits up to timeoutMs for a connection on the socket, and returns
 * the descriptor it sends (SCM_RIGHTS, received close-on-exec); -1 when none came in time.
 */
static napi_value rt_accept_fd(napi_env env, napi_callback_info info) {
  napi_value args[2];
  int32_t listen_fd, timeout;
  if (get_args(env, info, 2, args) || get_int32(env, args[0], &listen_fd, "listenFd: a descriptor") || get_int32(env, args[1], &timeout, "timeoutMs: a number")) return NULL;
  struct pollfd waiting = {.fd = listen_fd, .events = POLLIN};
  int ready = poll(&waiting, 1, timeout);
  if (ready < 0 && errno != EINTR) return throw_errno(env, errno, "poll", NULL);
  if (ready <= 0) return int_value(env, -1);
  int connection = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (connection < 0) return throw_errno(env, errno, "accept4", NULL);
  char name[256];
  struct iovec iov = {name, sizeof name};
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  /* The sender writes once, right after connecting: wait for it as for the connection. */
  struct pollfd incoming = {.fd = connection, .events = POLLIN};
  if (poll(&incoming, 1, timeout < 1000 ? 1000 : timeout) <= 0) {
    close(connection);
    return throw_errno(env, ETIMEDOUT, "recvmsg", NULL);
  }
  ssize_t n = recvmsg(connection, &message, MSG_CMSG_CLOEXEC);
  int err = errno;
  close(connection);
  if (n < 0) return throw_errno(env, err, "recvmsg", NULL);
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&message); cmsg != NULL; cmsg = CMSG_NXTHDR(&message, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS && cmsg->cmsg_len == CMSG_LEN(sizeof(int))) {
      int received;
      memcpy(&received, CMSG_DATA(cmsg), sizeof received);
      return int_value(env, received);
    }
  }
  return throw_errno(env, EBADMSG, "recvmsg", NULL);
}

/* setWindowSize(fd, rows, columns): TIOCSWINSZ on a terminal (the pty master). */
static napi_value rt_set_window_size(napi_env env, napi_callback_info info) {
  napi_value args[3];
  int32_t fd, rows, columns;
  if (get_args(env, info, 3, args) || get_int32(env, args[0], &fd, "fd: a descriptor") || get_int32(env, args[1], &rows, "rows: a number") ||
      get_int32(env, args[2], &columns, "columns: a number"))
    return NULL;
  if (rows < 0 || columns < 0 || rows > UINT16_MAX || columns > UINT16_MAX) {
    napi_throw_range_error(env, NULL, "rows and columns: 0 to 65535");
    return NULL;
  }
  struct winsize size = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)columns};
  if (ioctl(fd, TIOCSWINSZ, &size) != 0) return throw_errno(env, errno, "ioctl", NULL);
  return NULL;
}

/*
 * clearOutputProcessing(fd): turns off output processing (OPOST) on a terminal, which Node's raw
 * mode keeps: a container's pty already turned "\n" into "\r\n", as docker's raw terminal
 * leaves it. Node's own reset of the terminal (setRawMode(false), and at exit) restores it.
 */
static napi_value rt_clear_output_processing(napi_env env, napi_callback_info info) {
  napi_value args[1];
  int32_t fd;
  if (get_args(env, info, 1, args) || get_int32(env, args[0], &fd, "fd: a descriptor")) return NULL;
  struct termios mode;
  if (tcgetattr(fd, &mode) != 0) return throw_errno(env, errno, "tcgetattr", NULL);
  mode.c_oflag &= ~(tcflag_t)OPOST;
  if (tcsetattr(fd, TCSANOW, &mode) != 0) return throw_errno(env, errno, "tcsetattr", NULL);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"mount", NULL, rt_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount", NULL, rt_umount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listenUnix", NULL, rt_listen_unix, NULL, NULL, NULL, napi_enumerable, NULL},
      {"acceptFd", NULL, rt_accept_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setWindowSize", NULL, rt_set_window_size, NULL, NULL, NULL, napi_enumerable, NULL},
      {"clearOutputProcessing", NULL, rt_clear_output_processing, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
