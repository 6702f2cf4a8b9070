#include "network.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int
network_loopback_up (struct shim_error *err)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return shim_fail (err, errno, "socket", NULL, "open a socket to configure lo");
  struct ifreq request;
  memset (&request, 0, sizeof request);
  strncpy (request.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl (fd, SIOCGIFFLAGS, &request) < 0)
    {
      int saved = errno;
      close (fd);
      return shim_fail (err, saved, "ioctl", "lo", "read the flags of lo");
    }
  request.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (fd, SIOCSIFFLAGS, &request) < 0)
    {
      int saved = errno;
      close (fd);
      return shim_fail (err, saved, "ioctl", "lo", "bring lo up");
    }
  close (fd);
  return 0;
}
