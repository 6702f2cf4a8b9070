#include "terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

int
terminal_connect (const char *console_socket, struct shim_error *err)
{
  if (console_socket == NULL)
    return shim_fail (err, EINVAL, "", NULL, "process.terminal needs --console-socket");
  int sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    return shim_fail (err, errno, "socket", console_socket, "connect to the console socket");
  struct sockaddr_un address;
  memset (&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  if (strlen (console_socket) >= sizeof address.sun_path)
    {
      close (sock);
      return shim_fail (err, ENAMETOOLONG, "connect", console_socket, "console socket path too long");
    }
  strcpy (address.sun_path, console_socket);
  if (connect (sock, (struct sockaddr *) &address, sizeof address) < 0)
    {
      int saved = errno;
      close (sock);
      return shim_fail (err, saved, "connect", console_socket, "connect to the console socket");
    }
  return sock;
}

/* Sends FD over the connected SOCK (SCM_RIGHTS) and closes SOCK. */
static int
send_fd (int sock, int fd, struct shim_error *err)
{
  char name[] = "/dev/ptmx";
  struct iovec iov = { name, sizeof name };
  char control[CMSG_SPACE (sizeof (int))];
  memset (control, 0, sizeof control);
  struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  struct cmsghdr *cmsg = CMSG_FIRSTHDR (&message);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (cmsg), &fd, sizeof fd);
  ssize_t n = sendmsg (sock, &message, 0);
  int saved = errno;
  close (sock);
  return n < 0 ? shim_fail (err, saved, "sendmsg", "console socket", "send the terminal to the console socket") : 0;
}

int
terminal_new (unsigned short height, unsigned short width, int *master, char *slave_path, size_t slave_size, struct shim_error *err)
{
  int fd = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return shim_fail (err, errno, "posix_openpt", "/dev/ptmx", "open a terminal");
  if (grantpt (fd) < 0 || unlockpt (fd) < 0 || ptsname_r (fd, slave_path, slave_size) != 0)
    {
      int saved = errno;
      close (fd);
      return shim_fail (err, saved, "unlockpt", "/dev/ptmx", "prepare the terminal");
    }
  /* Sized before the process starts: a size set later by the receiver would race its first read of it. */
  struct winsize size = { .ws_row = height, .ws_col = width };
  if (height != 0 && width != 0 && ioctl (fd, TIOCSWINSZ, &size) < 0)
    {
      int saved = errno;
      close (fd);
      return shim_fail (err, saved, "ioctl", "/dev/ptmx", "set the terminal's size");
    }
  *master = fd;
  return 0;
}

int
terminal_send (int sock, int master, struct shim_error *err)
{
  return send_fd (sock, master, err);
}

int
terminal_open (int sock, unsigned short height, unsigned short width, int *master, char *slave_path, size_t slave_size, struct shim_error *err)
{
  if (terminal_new (height, width, master, slave_path, slave_size, err) < 0)
    {
      close (sock);
      return -1;
    }
  if (send_fd (sock, *master, err) < 0)
    {
      close (*master);
      *master = -1;
      return -1;
    }
  return 0;
}

/* Whether SLAVE is the pseudo-terminal whose master is MASTER: Unix 98 ptys are majors 136-143,
   numbered as TIOCGPTN tells the master's. */
static bool
is_peer (int master, int slave)
{
  unsigned int number;
  struct stat st;
  if (ioctl (master, TIOCGPTN, &number) < 0 || fstat (slave, &st) < 0 || !S_ISCHR (st.st_mode))
    return false;
  unsigned int major_number = major (st.st_rdev);
  return major_number >= 136 && major_number <= 143 && (major_number - 136) * 256 + minor (st.st_rdev) == number;
}

int
terminal_attach (int master, int slave, const char *slave_path, int console_fd, bool through_console, struct shim_error *err)
{
  /* Only MASTER's very peer: not another device a /dev from a volume would put at its path. */
  if (!is_peer (master, slave))
    {
      close (slave);
      return shim_fail (err, ENOTTY, "open", slave_path, "open the terminal: it is not the terminal just made");
    }
  if (console_fd >= 0)
    {
      /* The host's terminal bound there before the root changed gives way to this one, bound on
         the same file through its descriptor. */
      char source[64], target[64];
      snprintf (source, sizeof source, "/proc/self/fd/%d", slave);
      snprintf (target, sizeof target, "/proc/self/fd/%d", console_fd);
      int failed = umount2 ("/dev/console", MNT_DETACH | UMOUNT_NOFOLLOW) < 0 || mount (source, target, NULL, MS_BIND, NULL) < 0 ? errno : 0;
      close (console_fd);
      if (failed != 0)
        {
          close (slave);
          return shim_fail (err, failed, "mount", slave_path, "bind the terminal on /dev/console");
        }
    }
  if (through_console)
    {
      /* A terminal from outside the container's root is reached through the bind on
         /dev/console, which must be that very terminal: not a link, nor another device. */
      int console = open ("/dev/console", O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
      if (console < 0)
        {
          int saved = errno;
          close (slave);
          return shim_fail (err, saved, "open", "/dev/console", "open the terminal");
        }
      close (slave);
      slave = console;
      if (!is_peer (master, slave))
        {
          close (slave);
          return shim_fail (err, ENOTTY, "open", "/dev/console", "open the terminal: /dev/console is not the terminal %s", slave_path);
        }
    }
  close (master);
  if (setsid () < 0 || ioctl (slave, TIOCSCTTY, 0) < 0)
    {
      int saved = errno;
      close (slave);
      return shim_fail (err, saved, "ioctl", slave_path, "make the terminal controlling");
    }
  for (int fd = 0; fd < 3; fd++)
    if (dup2 (slave, fd) < 0)
      return shim_fail (err, errno, "dup2", slave_path, "attach the terminal");
  if (slave > 2)
    close (slave);
  return 0;
}

int
terminal_attach_path (int master, const char *slave_path, struct shim_error *err)
{
  int slave = open (slave_path, O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
  if (slave < 0)
    return shim_fail (err, errno, "open", slave_path, "open the terminal");
  return terminal_attach (master, slave, slave_path, -1, false, err);
}
