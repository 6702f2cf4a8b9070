#include "rootfs.h"
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif
/* The inode number of every procfs's root directory (the kernel's PROC_ROOT_INO). */
#define PROC_ROOT_INO 1

static int
openat2_in_root (int root_fd, const char *path, int flags)
{
  struct open_how how = { .flags = (unsigned long long) flags, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  return (int) syscall (SYS_openat2, root_fd, path, &how, sizeof how);
}

/* Splits "a/b/c" into parent "a/b" and name "c" (in place). */
static const char *
split_last (char *path)
{
  char *slash = strrchr (path, '/');
  if (slash == NULL)
    return path;
  *slash = '\0';
  return slash + 1;
}

/* As Linux's MAXSYMLINKS: dangling links followed while making a mount point. */
#define MAX_CREATE_HOPS 40

static int open_in_root_hops (int root_fd, const char *path, char create, int hops, struct shim_error *err);

/* NAME in DIR_FD (the directory PARENT names) is a symbolic link that leads nowhere yet: the
   mount point is made where it leads, inside the root as the kernel resolves it there (an
   absolute target from the root, `..` stopping at it), as runc's securejoin makes it. */
static int
create_through_link (int root_fd, int dir_fd, const char *parent, const char *name, char create, int hops, struct shim_error *err)
{
  char target[PATH_MAX];
  ssize_t length = readlinkat (dir_fd, name, target, sizeof target - 1);
  if (length < 0)
    return shim_fail (err, errno, "readlinkat", name, "read the link on the way to a mount point");
  target[length] = '\0';
  if (hops >= MAX_CREATE_HOPS)
    return shim_fail (err, ELOOP, "openat2", name, "create a mount point through symbolic links");
  char next[PATH_MAX];
  int written = target[0] == '/' ? snprintf (next, sizeof next, "%s", target) : snprintf (next, sizeof next, "%s/%s", parent, target);
  if (written < 0 || (size_t) written >= sizeof next)
    return shim_fail (err, ENAMETOOLONG, "openat2", name, "create a mount point through symbolic links");
  return open_in_root_hops (root_fd, next, create, hops + 1, err);
}

int
open_in_root (int root_fd, const char *path, char create, struct shim_error *err)
{
  return open_in_root_hops (root_fd, path, create, 0, err);
}

static int
open_in_root_hops (int root_fd, const char *path, char create, int hops, struct shim_error *err)
{
  int fd = openat2_in_root (root_fd, path, O_PATH | O_CLOEXEC);
  if (fd >= 0 || create == 0)
    {
      if (fd < 0)
        return shim_fail (err, errno, "openat2", path, "resolve inside the root filesystem");
      return fd;
    }
  if (errno != ENOENT)
    return shim_fail (err, errno, "openat2", path, "resolve inside the root filesystem");
  /* Create the missing tail one component at a time, each resolved inside the root again. */
  char parent_path[PATH_MAX];
  snprintf (parent_path, sizeof parent_path, "%s", path);
  while (strlen (parent_path) > 1 && parent_path[strlen (parent_path) - 1] == '/')
    parent_path[strlen (parent_path) - 1] = '\0';
  char copy[PATH_MAX];
  snprintf (copy, sizeof copy, "%s", parent_path);
  const char *name = split_last (copy);
  const char *parent = copy[0] == '\0' && parent_path[0] == '/' ? "/" : copy;
  if (strcmp (name, "") == 0 || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return shim_fail (err, EINVAL, "mkdirat", path, "cannot create this path");
  int parent_fd = open_in_root_hops (root_fd, parent, 'd', hops, err);
  if (parent_fd < 0)
    return -1;
  /* O_PATH cannot create: reopen the parent as a directory, still the same inode. */
  char proc_path[64];
  snprintf (proc_path, sizeof proc_path, "/proc/self/fd/%d", parent_fd);
  int dir_fd = open (proc_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close (parent_fd);
  if (dir_fd < 0)
    return shim_fail (err, errno, "open", parent, "open a directory to create %s in", name);
  int rc;
  if (create == 'd')
    rc = mkdirat (dir_fd, name, 0755);
  else
    {
      rc = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (rc >= 0)
        rc = close (rc);
    }
  if (rc < 0 && errno != EEXIST)
    {
      int saved = errno;
      close (dir_fd);
      return shim_fail (err, saved, create == 'd' ? "mkdirat" : "openat", path, "create a mount point");
    }
  fd = openat2_in_root (root_fd, path, O_PATH | O_CLOEXEC);
  struct stat st;
  if (fd < 0 && errno == ENOENT && fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
    {
      /* A link planted where the mount point goes (in a volume, a cache) that leads nowhere yet. */
      fd = create_through_link (root_fd, dir_fd, parent, name, create, hops, err);
      close (dir_fd);
      return fd;
    }
  int saved = errno;
  close (dir_fd);
  if (fd < 0)
    return shim_fail (err, saved, "openat2", path, "resolve inside the root filesystem");
  return fd;
}

static void
fd_path (char *out, size_t size, int fd)
{
  snprintf (out, size, "/proc/self/fd/%d", fd);
}

/* Flags of an existing mount that a remount inside a user namespace must keep (they are locked). */
static unsigned long
locked_flags (const char *path)
{
  struct statvfs st;
  unsigned long flags = 0;
  if (statvfs (path, &st) < 0)
    return 0;
  if (st.f_flag & ST_NOSUID)
    flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV)
    flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC)
    flags |= MS_NOEXEC;
  if (st.f_flag & ST_RDONLY)
    flags |= MS_RDONLY;
  if (st.f_flag & ST_NOATIME)
    flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME)
    flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME)
    flags |= MS_RELATIME;
  return flags;
}

/* Read-only on a whole tree of mounts (a remount applies to one mount only). */
static int
make_tree_readonly (const char *target)
{
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
  if (syscall (SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof attr) == 0)
    return 0;
  return mount (NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags (target), NULL);
}

static bool
is_directory (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

static bool
on_procfs (int fd)
{
  struct statfs fs;
  return fstatfs (fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
}

/* The files of /proc a mount may cover, as runc allows them (lxcfs binds these); anything else
   below a procfs's root is no mount point, so no mount (an image's VOLUME, a -v, a RUN --mount)
   can put what the container controls where the runtime later writes or masks. A procfs's root
   itself may be covered by a file system the spec names (a tmpfs), or by a bind of a procfs
   only. As runc's checkProcMount. */
static const char *const proc_mount_points[] = {
  "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
  "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
};

static bool
proc_mount_allowed (const struct mount_spec *m, const char *type, int target_fd)
{
  if (strcmp (type, "proc") == 0)
    return true;
  struct stat st;
  if (fstat (target_fd, &st) == 0 && st.st_ino == PROC_ROOT_INO)
    {
      struct statfs fs;
      return !m->bind || (m->source != NULL && statfs (m->source, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC);
    }
  for (size_t i = 0; i < sizeof proc_mount_points / sizeof proc_mount_points[0]; i++)
    if (strcmp (m->destination, proc_mount_points[i]) == 0)
      return true;
  return false;
}

/* The process's own group in the v1 hierarchy of CONTROLLERS, from /proc/self/cgroup ("/" in
   a cgroup namespace of its own, the whole path in the host's). */
static void
own_cgroup (const char *controllers, char *out, size_t size)
{
  snprintf (out, size, "/");
  FILE *file = fopen ("/proc/self/cgroup", "re");
  char line[PATH_MAX + 256];
  while (file != NULL && fgets (line, sizeof line, file) != NULL)
    {
      char *first = strchr (line, ':');
      char *second = first == NULL ? NULL : strchr (first + 1, ':');
      if (second == NULL || (size_t) (second - first - 1) != strlen (controllers) || strncmp (first + 1, controllers, strlen (controllers)) != 0)
        continue;
      second[strcspn (second, "\n")] = '\0';
      snprintf (out, size, "%s", second + 1);
      break;
    }
  if (file != NULL)
    fclose (file);
}

/* cgroup v1 (and hybrid) hosts, as runc mounts them: a tmpfs at TARGET holding each of the
   host's v1 hierarchies (cgroup2's "unified" of a hybrid host is left out, as runc does),
   mounted afresh: inside the container's cgroup namespace each shows the container's own
   cgroup at its top, so a program reading memory.limit_in_bytes finds the container's limit.
   In the host's cgroup namespace (docker's default on v1) the container's own group is bound
   in the hierarchy's place, as runc binds it, for the same view (and the same mountinfo: one
   mount per hierarchy, its root the group's path).
   Names the host links to co-mounted hierarchies (cpu -> cpu,cpuacct) are linked alike.
   Returns -1 with errno when a hierarchy cannot be mounted here (a user namespace's v1 mounts),
   the tmpfs left for the caller to remove. */
static int
mount_cgroup_v1 (int root_fd, const char *destination, unsigned long flags)
{
  char tmpfs_target[64];
  int fd = open_in_root (root_fd, destination, 0, &(struct shim_error){ 0 });
  if (fd < 0)
    return -1;
  fd_path (tmpfs_target, sizeof tmpfs_target, fd);
  if (mount ("tmpfs", tmpfs_target, "tmpfs", (flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
    {
      int saved = errno;
      close (fd);
      errno = saved;
      return -1;
    }
  close (fd);
  /* The tmpfs now covers DESTINATION: a fresh descriptor reaches it. */
  int dir_fd = open_in_root (root_fd, destination, 0, &(struct shim_error){ 0 });
  struct cgroup_hierarchy hierarchies[CGROUP_MAX_HIERARCHIES];
  int count = dir_fd < 0 ? -1 : cgroup_v1_hierarchies (hierarchies, CGROUP_MAX_HIERARCHIES);
  if (count < 0)
    {
      int saved = errno;
      if (dir_fd >= 0)
        close (dir_fd);
      errno = saved;
      return -1;
    }
  char dir_path[64];
  fd_path (dir_path, sizeof dir_path, dir_fd);
  int rc = 0;
  for (int i = 0; rc == 0 && i < count; i++)
    {
      char target[sizeof dir_path + sizeof hierarchies[i].name + 1];
      snprintf (target, sizeof target, "%s/%.63s", dir_path, hierarchies[i].name);
      char own[PATH_MAX];
      own_cgroup (hierarchies[i].controllers, own, sizeof own);
      if (mkdirat (dir_fd, hierarchies[i].name, 0755) < 0 && errno != EEXIST)
        {
          rc = -1;
          continue;
        }
      if (strcmp (own, "/") == 0)
        {
          if (mount ("cgroup", target, "cgroup", flags | MS_NOSUID | MS_NODEV | MS_NOEXEC, hierarchies[i].controllers) < 0)
            rc = -1;
          continue;
        }
      /* The hierarchy is mounted beside TARGET and let go once its group is bound: stacked under
         the bind, it stayed in the mount table, where a program reading mountinfo (the JVM's
         container support) took its root for the container's and found no limits. */
      char staging[sizeof dir_path + 16], source[sizeof staging + PATH_MAX];
      snprintf (staging, sizeof staging, "%s/.staging", dir_path);
      snprintf (source, sizeof source, "%s%s", staging, own);
      if (mkdirat (dir_fd, ".staging", 0700) < 0)
        rc = -1;
      else
        {
          if (mount ("cgroup", staging, "cgroup", flags | MS_NOSUID | MS_NODEV | MS_NOEXEC, hierarchies[i].controllers) < 0
              || mount (source, target, NULL, MS_BIND, NULL) < 0
              || mount (NULL, target, NULL, MS_REMOUNT | MS_BIND | (flags & MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            rc = -1;
          int saved_error = errno;
          umount2 (staging, MNT_DETACH);
          unlinkat (dir_fd, ".staging", AT_REMOVEDIR);
          errno = saved_error;
        }
    }
  int saved = errno;
  if (rc == 0)
    {
      DIR *host = opendir ("/sys/fs/cgroup");
      struct dirent *entry;
      while (host != NULL && (entry = readdir (host)) != NULL)
        {
          char link_path[PATH_MAX], link_target[NAME_MAX + 1];
          if (entry->d_type != DT_LNK)
            continue;
          snprintf (link_path, sizeof link_path, "/sys/fs/cgroup/%s", entry->d_name);
          ssize_t n = readlink (link_path, link_target, sizeof link_target - 1);
          if (n <= 0 || memchr (link_target, '/', (size_t) n) != NULL)
            continue;
          link_target[n] = '\0';
          if (symlinkat (link_target, dir_fd, entry->d_name) < 0 && errno != EEXIST)
            shim_warning ("link %s to %s in the container's /sys/fs/cgroup: %s", entry->d_name, link_target, strerror (errno));
        }
      if (host != NULL)
        closedir (host);
    }
  close (dir_fd);
  errno = saved;
  return rc;
}

/* device_policy: the runtime makes no cgroup of devices (a v2 host would need a BPF program,
   and a hierarchy that is not writable would leave none). Instead no file system it mounts
   honours device nodes: the root, /dev and every mount are nodev, but for devpts and a bind of
   a device node itself (the spec's devices, bound from the host). A node made with mknod (which
   CAP_MKNOD allows, as docker's) or shipped in an image exists but does not open: as behind
   docker's device cgroup, a step cannot reach the host's console, kernel log or disks. A spec
   whose device rules end allowing all (BuildKit's --security=insecure) keeps the mounts as asked,
   and so does one given a device cgroup (spec->device_cgroup, a v1 host as root), which then
   decides what opens, as runc's does. */
static int
mount_one (int root_fd, const struct mount_spec *m, bool user_namespace, bool all_devices, struct shim_error *err)
{
  const char *type = m->type == NULL ? "" : m->type;
  bool source_is_dir = true;
  if (m->bind && m->source != NULL)
    {
      struct stat st;
      if (stat (m->source, &st) < 0)
        return shim_fail (err, errno, "stat", m->source, "bind mount source for %s", m->destination);
      source_is_dir = S_ISDIR (st.st_mode);
    }
  bool source_is_device = false;
  if (m->bind && m->source != NULL)
    {
      struct stat st;
      source_is_device = stat (m->source, &st) == 0 && (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode));
    }
  int target_fd = open_in_root (root_fd, m->destination, source_is_dir ? 'd' : 'f', err);
  if (target_fd < 0)
    return -1;
  if (on_procfs (target_fd) && !proc_mount_allowed (m, type, target_fd))
    {
      close (target_fd);
      return shim_fail (err, EPERM, "mount", m->destination, "mount %s: the destination is inside /proc", m->destination);
    }
  char target[64];
  fd_path (target, sizeof target, target_fd);
  unsigned long flags = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  /* No device node reaches the process but the ones the runtime gives it (see device_policy). */
  if (!all_devices && !source_is_device && strcmp (type, "devpts") != 0)
    flags |= MS_NODEV;
  /* What must change the new mount itself (read-only, propagation) is done through a fresh
     descriptor: the one opened before refers to the directory underneath. */
  enum { NOTHING, REMOUNT_BIND, TREE_READONLY } after = NOTHING;
  /* A remount changes one mount: "ro" on a recursive bind would leave the mounts below it as
     they were on the host, writable. The rootless /sys is such a bind, and its /sys/fs/cgroup
     (a user's delegated cgroups among them) stayed writable under a read-only /sys (runc
     CVE-2023-25809); so would the mounts below a `-v /srv:/srv:ro`. As docker's since 25, the
     whole tree is made read-only. */
  bool tree_readonly = false;
  int rc;
  if (m->bind)
    {
      rc = mount (m->source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL);
      if (flags != 0)
        after = REMOUNT_BIND;
      tree_readonly = (m->flags & MS_REC) != 0 && (flags & MS_RDONLY) != 0;
    }
  else if (strcmp (type, "cgroup") == 0 || strcmp (type, "cgroup2") == 0)
    {
      struct stat st;
      rc = -1;
      if (stat ("/sys/fs/cgroup/cgroup.controllers", &st) == 0)
        rc = mount ("cgroup2", target, "cgroup2", flags, NULL);
      else
        {
          close (target_fd);
          target_fd = -1;
          rc = mount_cgroup_v1 (root_fd, m->destination, flags);
          if (rc < 0)
            {
              /* Where v1 hierarchies cannot be mounted afresh (a user namespace's), the host's,
                 bound read-only; whatever of the tmpfs and its mounts was made goes first. */
              int cleanup_fd = open_in_root (root_fd, m->destination, 0, err);
              char cleanup_target[64];
              if (cleanup_fd >= 0)
                {
                  fd_path (cleanup_target, sizeof cleanup_target, cleanup_fd);
                  struct statfs fs;
                  if (fstatfs (cleanup_fd, &fs) == 0 && fs.f_type == TMPFS_MAGIC)
                    umount2 (cleanup_target, MNT_DETACH);
                  close (cleanup_fd);
                }
              target_fd = open_in_root (root_fd, m->destination, 0, err);
              if (target_fd < 0)
                return -1;
              fd_path (target, sizeof target, target_fd);
              rc = mount ("/sys/fs/cgroup", target, NULL, MS_BIND | MS_REC, NULL);
              after = TREE_READONLY;
              if (rc < 0)
                {
                  /* No cgroup file system reachable here (tsbuild itself in a container that
                     hides them): the container runs without, as it would have no limits to read. */
                  shim_warning ("no cgroup file system at %s: %s", m->destination, strerror (errno));
                  close (target_fd);
                  return 0;
                }
            }
          else if (m->propagation == 0)
            return 0;
        }
    }
  else
    {
      const char *source = m->source == NULL ? type : m->source;
      rc = mount (source, target, type, flags, m->data[0] == '\0' ? NULL : m->data);
      if (rc < 0 && (errno == EPERM || errno == EINVAL) && (strcmp (type, "sysfs") == 0 || strcmp (type, "mqueue") == 0))
        {
          /* Without a network namespace of its own, the kernel refuses a new sysfs in a user
             namespace (and mqueue without an ipc one): bind the host's, read-only. */
          rc = mount (strcmp (type, "sysfs") == 0 ? "/sys" : "/dev/mqueue", target, NULL, MS_BIND | MS_REC, NULL);
          after = TREE_READONLY;
        }
    }
  close (target_fd);
  if (rc < 0)
    return shim_fail (err, errno, "mount", m->destination, "mount %s (%s)", m->source == NULL ? type : m->source, type[0] == '\0' ? "bind" : type);
  if (after == NOTHING && m->propagation == 0)
    return 0;
  target_fd = open_in_root (root_fd, m->destination, 0, err);
  if (target_fd < 0)
    return -1;
  fd_path (target, sizeof target, target_fd);
  if (after == REMOUNT_BIND)
    rc = mount (NULL, target, NULL, MS_REMOUNT | MS_BIND | flags | (user_namespace ? locked_flags (target) : 0), NULL);
  if (rc == 0 && (after == TREE_READONLY || tree_readonly))
    rc = make_tree_readonly (target);
  if (rc == 0 && m->propagation != 0)
    rc = mount (NULL, target, NULL, m->propagation, NULL);
  int saved = errno;
  close (target_fd);
  return rc < 0 ? shim_fail (err, saved, "mount", m->destination, "set the options of the mount") : 0;
}

/* The container's /proc as a descriptor, checked to be the root of a procfs: a directory bound
   or a file system mounted over /proc (from an image's VOLUME, a volume another container fills)
   is refused rather than written into (runc CVE-2025-52881). */
static int
open_container_proc (int root_fd, const char *why, struct shim_error *err)
{
  int proc_fd = open_in_root (root_fd, "/proc", 0, err);
  if (proc_fd < 0)
    return -1;
  struct stat st;
  if (!on_procfs (proc_fd) || fstat (proc_fd, &st) < 0 || st.st_ino != PROC_ROOT_INO)
    {
      close (proc_fd);
      return shim_fail (err, EXDEV, "fstatfs", "/proc", "%s: /proc is not the container's procfs", why);
    }
  return proc_fd;
}

/* One sysctl: /proc/sys/NAME with the dots as slashes, written as runc writes it, into the
   container's own procfs (its namespaces' values) and nowhere else: the file is resolved below
   the checked /proc without following any link or crossing any mount, so a link or a bind
   mount the container controls under /proc/sys cannot send the value to another file (such as
   the host's kernel.core_pattern, or a host file bound there) (runc CVE-2025-52881). */
static int
write_sysctl (int root_fd, const char *name, const char *value, struct shim_error *err)
{
  char path[PATH_MAX];
  int written = snprintf (path, sizeof path, "sys/%s", name);
  if (written < 0 || (size_t) written >= sizeof path)
    return shim_fail (err, ENAMETOOLONG, "open", name, "write the sysctl");
  for (char *p = path + strlen ("sys/"); *p != '\0'; p++)
    if (*p == '.')
      *p = '/';
  int proc_fd = open_container_proc (root_fd, "write a sysctl", err);
  if (proc_fd < 0)
    return -1;
  struct open_how how = {
    .flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int) syscall (SYS_openat2, proc_fd, path, &how, sizeof how);
  int saved = errno;
  close (proc_fd);
  char shown[PATH_MAX + 8];
  snprintf (shown, sizeof shown, "/proc/%s", path);
  if (fd < 0)
    return shim_fail (err, saved, "openat2", shown, "write the sysctl %s inside the container's /proc", name);
  if (!on_procfs (fd))
    {
      close (fd);
      return shim_fail (err, EXDEV, "fstatfs", shown, "write the sysctl %s: not a file of the container's procfs", name);
    }
  size_t length = strlen (value);
  ssize_t done = write (fd, value, length);
  saved = errno;
  close (fd);
  if (done < 0 || (size_t) done != length)
    return shim_fail (err, done < 0 ? saved : EIO, "write", shown, "write the sysctl %s=%s", name, value);
  return 0;
}

static const char *const default_devices[] = { "null", "zero", "full", "random", "urandom", "tty" };

/* The devices the runtime spec requires, when /dev is a fresh mount. */
static int
create_devices (int root_fd, const char *console_slave, int *console_fd, struct shim_error *err)
{
  int dev_fd = open_in_root (root_fd, "/dev", 0, err);
  if (dev_fd < 0)
    return -1;
  char dev_path[64];
  fd_path (dev_path, sizeof dev_path, dev_fd);
  int dir = open (dev_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close (dev_fd);
  if (dir < 0)
    return shim_fail (err, errno, "open", "/dev", "open the container's /dev");
  for (size_t i = 0; i < sizeof default_devices / sizeof default_devices[0]; i++)
    {
      const char *name = default_devices[i];
      char host[64], target[64];
      snprintf (host, sizeof host, "/dev/%s", name);
      /* /dev is nodev (see device_policy): a node there opens only through a mount of its own
         that allows it. Where the runtime may make nodes (CAP_MKNOD, as runc makes them), the
         node is the container's own, bound on itself: its mode and owner are the container's to
         change, never the host's (a bind of the host's node would let a step's `chmod 000
         /dev/null` change the host's). In a user namespace, where mknod is refused, the host's
         node is bound on an empty file instead; the host's root owns it, and the container's
         root, another user, cannot change it. */
      struct stat device;
      bool own = stat (host, &device) == 0 && S_ISCHR (device.st_mode) && mknodat (dir, name, S_IFCHR | 0666, device.st_rdev) == 0;
      if (own && fchmodat (dir, name, 0666, 0) < 0)
        {
          close (dir);
          return shim_fail (err, errno, "fchmodat", name, "make /dev/%s 0666", name);
        }
      if (!own)
        {
          int file = openat (dir, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
          if (file < 0)
            {
              close (dir);
              return shim_fail (err, errno, "openat", name, "create /dev/%s", name);
            }
          close (file);
        }
      int target_fd = openat (dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      fd_path (target, sizeof target, target_fd);
      if (target_fd < 0 || mount (own ? target : host, target, NULL, MS_BIND, NULL) < 0)
        {
          int saved = errno;
          if (target_fd >= 0)
            close (target_fd);
          close (dir);
          return shim_fail (err, saved, "mount", host, "bind /dev/%s", name);
        }
      close (target_fd);
      /* As crun: a device bound from the host neither runs programs nor honours setuid. */
      target_fd = openat (dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      fd_path (target, sizeof target, target_fd);
      /* The bind of an own node took /dev's nodev with it: this remount drops it (the runtime is
         then not in a user namespace, where mknod is refused, so no flag is locked). */
      unsigned long kept = own ? 0 : locked_flags (target);
      if (target_fd < 0 || mount (NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC | kept, NULL) < 0)
        {
          int saved = errno;
          if (target_fd >= 0)
            close (target_fd);
          close (dir);
          return shim_fail (err, saved, "mount", host, "remount /dev/%s nosuid,noexec", name);
        }
      close (target_fd);
    }
  static const struct { const char *target, *name; } links[] = {
    { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
    { "/proc/self/fd/2", "stderr" }, { "/proc/kcore", "core" }, { "pts/ptmx", "ptmx" },
  };
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    {
      /* As runc: /dev/core only where the kernel has /proc/kcore (CONFIG_PROC_KCORE). */
      if (strcmp (links[i].name, "core") == 0 && access ("/proc/kcore", F_OK) != 0)
        continue;
      if (symlinkat (links[i].target, dir, links[i].name) < 0 && errno != EEXIST)
        {
          close (dir);
          return shim_fail (err, errno, "symlinkat", links[i].name, "create /dev/%s", links[i].name);
        }
    }
  if (console_slave != NULL)
    {
      /* Whatever is at /dev/console (a link or a device a /dev from a volume holds) is replaced
         by a new empty file, and the terminal bound on that very file through its descriptor:
         never through a link, never on another file (runc CVE-2025-52565). The file stays open
         for the terminal the container's own devpts gives once the root has changed. */
      struct stat st;
      if (fstatat (dir, "console", &st, AT_SYMLINK_NOFOLLOW) == 0 && unlinkat (dir, "console", S_ISDIR (st.st_mode) ? AT_REMOVEDIR : 0) < 0)
        {
          int saved = errno;
          close (dir);
          return shim_fail (err, saved, "unlinkat", "/dev/console", "replace /dev/console");
        }
      int file = openat (dir, "console", O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      char target[64];
      fd_path (target, sizeof target, file);
      if (file < 0 || mount (console_slave, target, NULL, MS_BIND, NULL) < 0)
        {
          int saved = errno;
          if (file >= 0)
            close (file);
          close (dir);
          return shim_fail (err, saved, "mount", console_slave, "bind the terminal on /dev/console");
        }
      *console_fd = file;
    }
  close (dir);
  return 0;
}

/* Whether /proc is to be the procfs the spec mounts there: it mounts one, and nothing else on
   /proc itself (a tmpfs a RUN --mount puts over it is asked for, as runc allows it). */
static bool
mounts_proc (const struct spec *spec)
{
  bool procfs = false;
  for (size_t i = 0; i < spec->mount_count; i++)
    if (strcmp (spec->mounts[i].destination, "/proc") == 0)
      {
        if (spec->mounts[i].type == NULL || strcmp (spec->mounts[i].type, "proc") != 0)
          return false;
        procfs = true;
      }
  return procfs;
}

static bool
mounts_dev (const struct spec *spec)
{
  for (size_t i = 0; i < spec->mount_count; i++)
    if (strcmp (spec->mounts[i].destination, "/dev") == 0)
      return true;
  return false;
}

/* maskedPaths as runc applies them: /dev/null over files, an empty read-only tmpfs over directories. */
/* Opens a path inside the root for masking; -2 when it does not exist (nothing to mask). */
static int
open_existing (int root_fd, const char *path, struct shim_error *err)
{
  struct shim_error ignored;
  int fd = open_in_root (root_fd, path, 0, &ignored);
  if (fd >= 0)
    return fd;
  if (ignored.errnum == ENOENT || ignored.errnum == ELOOP || ignored.errnum == ENOTDIR)
    return -2;
  *err = ignored;
  return -1;
}

static int
mask_path (int root_fd, const char *path, int host_null, struct shim_error *err)
{
  int fd = open_existing (root_fd, path, err);
  if (fd < 0)
    return fd == -2 ? 0 : -1;
  char target[64];
  fd_path (target, sizeof target, fd);
  if (is_directory (target))
    {
      int rc = mount ("tmpfs", target, "tmpfs", MS_RDONLY, "size=0k");
      int saved = errno;
      close (fd);
      return rc < 0 ? shim_fail (err, saved, "mount", path, "mask a path") : 0;
    }
  /* The host's /dev/null, read-only, as runc and crun mask a file. */
  char source[64];
  fd_path (source, sizeof source, host_null);
  int rc = mount (source, target, NULL, MS_BIND, NULL);
  close (fd);
  if (rc < 0)
    return shim_fail (err, errno, "mount", path, "mask a path");
  fd = open_in_root (root_fd, path, 0, err);
  if (fd < 0)
    return -1;
  fd_path (target, sizeof target, fd);
  rc = mount (NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags (target), NULL);
  int saved = errno;
  close (fd);
  return rc < 0 ? shim_fail (err, saved, "mount", path, "mask a path") : 0;
}

static int
readonly_path (int root_fd, const char *path, struct shim_error *err)
{
  int fd = open_existing (root_fd, path, err);
  if (fd < 0)
    return fd == -2 ? 0 : -1;
  char target[64];
  fd_path (target, sizeof target, fd);
  int rc = mount (target, target, NULL, MS_BIND | MS_REC, NULL);
  close (fd);
  if (rc < 0)
    return shim_fail (err, errno, "mount", path, "make a path read-only");
  /* The remount must reach the new mount, not the directory the first descriptor saw. */
  fd = open_in_root (root_fd, path, 0, err);
  if (fd < 0)
    return -1;
  fd_path (target, sizeof target, fd);
  /* The procfs's nosuid, nodev and noexec kept, as runc keeps them (and a user namespace
     requires: they are locked there). */
  rc = mount (NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags (target), NULL);
  int saved = errno;
  close (fd);
  return rc < 0 ? shim_fail (err, saved, "mount", path, "make a path read-only") : 0;
}

int
rootfs_setup (const struct spec *spec, bool user_namespace, const char *console_slave, int *console_fd, struct shim_error *err)
{
  /* Nothing done below may reach the host's mount table. */
  if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    return shim_fail (err, errno, "mount", "/", "make the host's mounts slaves of this namespace");
  /* A writable root over shared read-only layers, made here because only this mount namespace
     (its user namespace's owner) may: an unprivileged caller cannot mount it on the host. */
  if (spec->rootfs_overlay != NULL && mount ("overlay", spec->root_path, "overlay", 0, spec->rootfs_overlay) < 0)
    return shim_fail (err, errno, "mount", spec->root_path, "mount the overlay root filesystem");
  if (mount (spec->root_path, spec->root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
    return shim_fail (err, errno, "mount", spec->root_path, "bind the root filesystem on itself");
  if (mount (NULL, spec->root_path, NULL, spec->rootfs_propagation, NULL) < 0)
    return shim_fail (err, errno, "mount", spec->root_path, "set the root filesystem's propagation");
  if (!spec->all_devices && !spec->device_cgroup && mount (NULL, spec->root_path, NULL, MS_REMOUNT | MS_BIND | MS_NODEV | locked_flags (spec->root_path), NULL) < 0)
    return shim_fail (err, errno, "mount", spec->root_path, "make the root filesystem nodev");
  int root_fd = open (spec->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    return shim_fail (err, errno, "open", spec->root_path, "open the root filesystem");
  for (size_t i = 0; i < spec->mount_count; i++)
    if (mount_one (root_fd, &spec->mounts[i], user_namespace, spec->all_devices || spec->device_cgroup, err) < 0)
      {
        close (root_fd);
        return -1;
      }
  if (mounts_dev (spec) && create_devices (root_fd, console_slave, console_fd, err) < 0)
    {
      close (root_fd);
      return -1;
    }
  /* Once every mount is in place, /proc must still be the procfs mounted for it: an image whose
     /proc is a link into a VOLUME (or a mount over it) would otherwise give the container, and
     what the runtime writes and masks there, a /proc of its own making (runc CVE-2025-52881). */
  if (mounts_proc (spec))
    {
      int proc_fd = open_container_proc (root_fd, "set up the container", err);
      if (proc_fd < 0)
        {
          close (root_fd);
          return -1;
        }
      close (proc_fd);
    }
  /* linux.sysctl, through the container's own /proc (its namespaces' values), before /proc/sys
     turns read-only. */
  for (size_t i = 0; i < spec->sysctl_count; i++)
    if (write_sysctl (root_fd, spec->sysctl_keys[i], spec->sysctl_values[i], err) < 0)
      {
        close (root_fd);
        return -1;
      }
  /* Read-only, then masked paths (runc's order, which /proc/mounts shows) before pivot_root,
     with the host's /dev/null as runc and crun. */
  for (size_t i = 0; i < spec->readonly_path_count; i++)
    if (readonly_path (root_fd, spec->readonly_paths[i], err) < 0)
      {
        close (root_fd);
        return -1;
      }
  int host_null = open ("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  struct stat null_st;
  if (host_null < 0 || fstat (host_null, &null_st) < 0 || !S_ISCHR (null_st.st_mode) || null_st.st_rdev != makedev (1, 3))
    {
      int saved = host_null < 0 ? errno : ENODEV;
      if (host_null >= 0)
        close (host_null);
      close (root_fd);
      return shim_fail (err, saved, "open", "/dev/null", "open the host's /dev/null (the character device 1:3) for masked paths");
    }
  for (size_t i = 0; i < spec->masked_path_count; i++)
    if (mask_path (root_fd, spec->masked_paths[i], host_null, err) < 0)
      {
        close (host_null);
        close (root_fd);
        return -1;
      }
  close (host_null);
  /* pivot_root with the old root stacked under the new one, then detached: no directory of
     the host stays reachable, and no put_old directory is needed in the image. */
  if (fchdir (root_fd) < 0)
    {
      close (root_fd);
      return shim_fail (err, errno, "fchdir", spec->root_path, "enter the root filesystem");
    }
  close (root_fd);
  if (syscall (SYS_pivot_root, ".", ".") < 0)
    return shim_fail (err, errno, "pivot_root", spec->root_path, "pivot into the root filesystem");
  if (mount (NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
    return shim_fail (err, errno, "mount", "/", "make the old root a slave before detaching it");
  if (umount2 (".", MNT_DETACH) < 0)
    return shim_fail (err, errno, "umount2", "/", "detach the old root");
  if (chdir ("/") < 0)
    return shim_fail (err, errno, "chdir", "/", "enter the new root");
  if (spec->root_readonly && mount (NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | (spec->all_devices || spec->device_cgroup ? 0 : MS_NODEV) | (user_namespace ? locked_flags ("/") : 0), NULL) < 0)
    return shim_fail (err, errno, "mount", "/", "make the root filesystem read-only");
  return 0;
}
