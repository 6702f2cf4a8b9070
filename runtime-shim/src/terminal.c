#include "terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
terminal_open (int sock, unsigned short height, unsigned short width, int *master, char *slave_path, size_t slave_size, struct shim_error *err)
{
  int fd = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      close (sock);
      return shim_fail (err, saved, "posix_openpt", "/dev/ptmx", "open a terminal");
    }
  if (grantpt (fd) < 0 || unlockpt (fd) < 0 || ptsname_r (fd, slave_path, slave_size) != 0)
    {
      int saved = errno;
      close (fd);
      close (sock);
      return shim_fail (err, saved, "unlockpt", "/dev/ptmx", "prepare the terminal");
    }
  /* Sized before the process starts: a size set later by the receiver would race its first read of it. */
  struct winsize size = { .ws_row = height, .ws_col = width };
  if (height != 0 && width != 0 && ioctl (fd, TIOCSWINSZ, &size) < 0)
    {
      int saved = errno;
      close (fd);
      close (sock);
      return shim_fail (err, saved, "ioctl", "/dev/ptmx", "set the terminal's size");
    }
  if (send_fd (sock, fd, err) < 0)
    {
      close (fd);
      return -1;
    }
  *master = fd;
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
terminal_attach (int master, const char *slave_path, bool through_console, struct shim_error *err)
{
  /* After the root changed, the slave is reached through the bind on /dev/console, which must
     be the very terminal of MASTER: not a link, nor another device the container's /dev holds. */
  int slave = through_console ? open ("/dev/console", O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC) : open (slave_path, O_RDWR | O_NOCTTY);
  if (slave < 0)
    return shim_fail (err, errno, "open", through_console ? "/dev/console" : slave_path, "open the terminal");
  if (through_console && !is_peer (master, slave))
    {
      close (slave);
      return shim_fail (err, ENOTTY, "open", "/dev/console", "open the terminal: /dev/console is not the terminal %s", slave_path);
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
