#include "process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif
#ifndef PIPEFS_MAGIC
#define PIPEFS_MAGIC 0x50495045
#endif

void
close_other_fds (const int *keep, int keep_count, int preserve)
{
  /* This runs inside the root, whose /proc may be anything the image or a volume holds (a
     directory listing no descriptor): only a procfs's listing is believed. */
  DIR *dir = opendir ("/proc/self/fd");
  struct statfs fs;
  if (dir != NULL && (fstatfs (dirfd (dir), &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC))
    {
      closedir (dir);
      dir = NULL;
    }
  if (dir == NULL)
    {
      /* No procfs: close every descriptor the limit allows. */
      struct rlimit limit;
      int end = getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur > 1024 ? (int) (limit.rlim_cur > 1 << 20 ? 1 << 20 : limit.rlim_cur) : 1024;
      for (int fd = 3 + preserve; fd < end; fd++)
        {
          bool kept = false;
          for (int i = 0; i < keep_count; i++)
            kept = kept || keep[i] == fd;
          if (!kept)
            close (fd);
        }
      return;
    }
  int dir_fd = dirfd (dir);
  int fds[4096];
  int count = 0;
  struct dirent *entry;
  while ((entry = readdir (dir)) != NULL && count < (int) (sizeof fds / sizeof fds[0]))
    {
      char *end;
      long fd = strtol (entry->d_name, &end, 10);
      if (*end != '\0' || entry->d_name[0] == '.' || fd < 3 + preserve || fd == dir_fd)
        continue;
      bool kept = false;
      for (int i = 0; i < keep_count; i++)
        kept = kept || keep[i] == fd;
      if (!kept)
        fds[count++] = (int) fd;
    }
  closedir (dir);
  for (int i = 0; i < count; i++)
    close (fds[i]);
}

static int
set_rlimits (const struct spec *spec, struct shim_error *err)
{
  for (size_t i = 0; i < spec->rlimit_count; i++)
    {
      struct rlimit limit = { (rlim_t) spec->rlimits[i].soft, (rlim_t) spec->rlimits[i].hard };
      if (setrlimit (spec->rlimits[i].resource, &limit) < 0)
        {
          struct rlimit current;
          getrlimit (spec->rlimits[i].resource, &current);
          return shim_fail (err, errno, "setrlimit", NULL, "set rlimit %d to soft %llu hard %llu (the current hard limit is %llu)", spec->rlimits[i].resource,
                            spec->rlimits[i].soft, spec->rlimits[i].hard, (unsigned long long) current.rlim_max);
        }
    }
  return 0;
}

/* Before the uid changes: dropping from the bounding set needs CAP_SETPCAP in effect. */
static int
drop_bounding (const struct spec *spec, struct shim_error *err)
{
  for (int cap = 0; cap <= last_capability (); cap++)
    if (!(spec->capabilities[CAP_SET_BOUNDING] & (1ULL << cap)) && prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      return shim_fail (err, errno, "prctl", NULL, "drop capability %d from the bounding set", cap);
  return 0;
}

static int
set_capabilities (const struct spec *spec, struct shim_error *err)
{
  int last = last_capability ();
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];
  memset (data, 0, sizeof data);
  for (int word = 0; word < 2; word++)
    {
      data[word].effective = (uint32_t) (spec->capabilities[CAP_SET_EFFECTIVE] >> (32 * word));
      data[word].permitted = (uint32_t) (spec->capabilities[CAP_SET_PERMITTED] >> (32 * word));
      data[word].inheritable = (uint32_t) (spec->capabilities[CAP_SET_INHERITABLE] >> (32 * word));
    }
  if (syscall (SYS_capset, &header, data) < 0)
    return shim_fail (err, errno, "capset", NULL, "set the process's capabilities");
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return shim_fail (err, errno, "prctl", NULL, "clear ambient capabilities");
  for (int cap = 0; cap <= last; cap++)
    /* The kernel refuses an ambient capability that is not also inheritable and permitted;
       runc skips those too, rather than failing the container. */
    if ((spec->capabilities[CAP_SET_AMBIENT] & (1ULL << cap)) && prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM)
      return shim_fail (err, errno, "prctl", NULL, "raise ambient capability %d", cap);
  return 0;
}

static int
install_seccomp (const struct spec *spec, struct shim_error *err)
{
  if (spec->seccomp_filter == NULL)
    return 0;
  struct sock_fprog program = { (unsigned short) spec->seccomp_filter_length, (struct sock_filter *) (void *) spec->seccomp_filter };
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) < 0)
    return shim_fail (err, errno, "seccomp", NULL, "install the seccomp filter");
  return 0;
}

/*
 * The standard streams given to the process's user, as runc's fixStdioPermissions does before
 * it changes ids (the uid only; the group stays): a pipe root made is 0600, and a step run as
 * a user then opens /dev/stdout or /dev/stderr again (EACCES otherwise, where BuildKit's runc
 * lets it). Only pipes (not a named fifo of the host's) and the container's own terminal: a
 * host file, fifo or terminal passed through keeps its owner. An owner the kernel will not change (not mapped in a user
 * namespace) is left, as runc leaves it.
 */
static void
give_streams_to_user (const struct spec *spec)
{
  for (int fd = 0; fd < 3; fd++)
    {
      struct stat st;
      if (fstat (fd, &st) < 0 || st.st_uid == spec->uid)
        continue;
      struct statfs fs;
      bool anonymous_pipe = S_ISFIFO (st.st_mode) && fstatfs (fd, &fs) == 0 && fs.f_type == PIPEFS_MAGIC;
      if (!anonymous_pipe && !(spec->terminal && isatty (fd)))
        continue;
      if (fchown (fd, spec->uid, st.st_gid) < 0)
        continue;
    }
}

int
process_prepare (const struct spec *spec, bool user_namespace, struct shim_error *err)
{
  (void) user_namespace;
  if (chdir (spec->cwd) < 0)
    return shim_fail (err, errno, "chdir", spec->cwd, "enter the working directory");
  /* A cwd reached through a descriptor that leaked from the host would lie outside the root:
     the kernel then reports it as unreachable. */
  char cwd[PATH_MAX];
  if (getcwd (cwd, sizeof cwd) == NULL || cwd[0] != '/')
    return shim_fail (err, errno == 0 ? EPERM : errno, "getcwd", spec->cwd, "the working directory is outside the container's root");
  if (set_rlimits (spec, err) < 0)
    return -1;
  /* Without one in the config, 022, as runc gives: the caller's own (an ordinary user's 002 or
     077) would otherwise reach every file the process makes, a build's layers among them. */
  umask (spec->has_umask ? spec->umask : 022);
  give_streams_to_user (spec);
  /* Always asked of the kernel, never of /proc/self/setgroups, which the root may fake: where
     setgroups is denied (a single-id user namespace) no group can be left to clear. */
  if (setgroups (spec->additional_gid_count, spec->additional_gids) < 0 && spec->additional_gid_count > 0)
    return shim_fail (err, errno, "setgroups", NULL, "set additional groups (a single-id user namespace cannot have them)");
  if (spec->has_capabilities && drop_bounding (spec, err) < 0)
    return -1;
  /* While the process is still root with CAP_SYS_ADMIN, which a filter without no_new_privs
     needs (as runc installs it before dropping capabilities); what follows (the ids, capset,
     execve) is nothing a filter refuses. */
  if (install_seccomp (spec, err) < 0)
    return -1;
  /* Keep the permitted set across the change of uid; capset then sets exactly what was asked. */
  if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return shim_fail (err, errno, "prctl", NULL, "keep capabilities across the uid change");
  if (setresgid (spec->gid, spec->gid, spec->gid) < 0)
    return shim_fail (err, errno, "setresgid", NULL, "become gid %u", (unsigned) spec->gid);
  if (setresuid (spec->uid, spec->uid, spec->uid) < 0)
    return shim_fail (err, errno, "setresuid", NULL, "become uid %u", (unsigned) spec->uid);
  /* The change of ids cleared the parent-death signal: set again, so that it holds until the
     program's execve (which keeps it). */
  if (spec->kill_with_parent && prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    return shim_fail (err, errno, "prctl", NULL, "be killed with the runtime");
  if (spec->has_capabilities && set_capabilities (spec, err) < 0)
    return -1;
  if (prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return shim_fail (err, errno, "prctl", NULL, "reset keep-capabilities");
  if (spec->no_new_privileges && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return shim_fail (err, errno, "prctl", NULL, "set no_new_privs");
  return 0;
}

static const char *
env_value (char **env, const char *name)
{
  size_t len = strlen (name);
  for (char **e = env; e != NULL && *e != NULL; e++)
    if (strncmp (*e, name, len) == 0 && (*e)[len] == '=')
      return *e + len + 1;
  return NULL;
}

/* At most this much of /etc/passwd is read, as tsbuild and runc (moby/sys/user) read it. */
#define PASSWD_MAX_BYTES (10 << 20)

/* The user's home from the container's /etc/passwd, "/" when it has none (as runc and crun).
   The image chose the file: one that is no regular file (a fifo that would block the start, a
   link to /dev/zero that never ends) counts as absent, and lines of any length are read whole,
   so that the rest of a long line is never taken for an entry of its own. */
static void
home_of (uid_t uid, char *out, size_t size)
{
  snprintf (out, size, "/");
  int fd = open ("/etc/passwd", O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return;
  struct stat st;
  char *text = NULL;
  size_t length = 0;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode))
    {
      size_t capacity = st.st_size > PASSWD_MAX_BYTES ? PASSWD_MAX_BYTES : (size_t) st.st_size;
      text = malloc (capacity + 1);
      while (text != NULL && length < capacity)
        {
          ssize_t n = read (fd, text + length, capacity - length);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            break;
          length += (size_t) n;
        }
    }
  close (fd);
  if (text == NULL)
    return;
  text[length] = '\0';
  for (char *line = text; line < text + length;)
    {
      char *end = memchr (line, '\n', (size_t) (text + length - line));
      char *next = end == NULL ? text + length : end + 1;
      if (end != NULL)
        *end = '\0';
      char *fields[7];
      int n = 0;
      for (char *p = line, *field = line; n < 7; p++)
        if (*p == ':' || *p == '\0')
          {
            bool last = *p == '\0';
            *p = '\0';
            fields[n++] = field;
            field = p + 1;
            if (last)
              break;
          }
      if (n >= 6 && fields[2][0] != '\0' && strtoul (fields[2], NULL, 10) == uid)
        {
          snprintf (out, size, "%s", fields[5][0] == '\0' ? "/" : fields[5]);
          break;
        }
      line = next;
    }
  free (text);
}

/* The environment, with HOME added when the config leaves it out. */
static char **
environment_of (const struct spec *spec)
{
  size_t count = 0;
  for (char **e = spec->env; e[count] != NULL; e++)
    if (strncmp (*e, "HOME=", 5) == 0)
      return spec->env;
  while (spec->env[count] != NULL)
    count++;
  char **env = calloc (count + 2, sizeof *env);
  if (env == NULL)
    return spec->env;
  memcpy (env, spec->env, count * sizeof *env);
  char home[PATH_MAX];
  home_of (getuid (), home, sizeof home);
  env[count] = malloc (strlen (home) + 6);
  if (env[count] != NULL)
    sprintf (env[count], "HOME=%s", home);
  return env;
}

int
process_exec (const struct spec *spec, struct shim_error *err)
{
  const char *file = spec->args[0];
  char **environment = environment_of (spec);
  /* The context says it in runc's words too (docker's messages carry them: scripts and people
     search for them): exec: "X": executable file not found in $PATH, and so on. */
  if (strchr (file, '/') != NULL)
    {
      execve (file, spec->args, environment);
      int saved = errno;
      if (saved == ENOENT)
        return shim_fail (err, saved, "execve", file, "start the container's process: exec: \"%s\": stat %s: no such file or directory", file, file);
      if (saved == EACCES)
        return shim_fail (err, saved, "execve", file, "start the container's process: exec: \"%s\": permission denied", file);
      return shim_fail (err, saved, "execve", file, "start the container's process");
    }
  const char *path = env_value (environment, "PATH");
  if (path == NULL)
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int last_error = ENOENT;
  for (const char *p = path;; p++)
    {
      const char *end = strchr (p, ':');
      size_t len = end == NULL ? strlen (p) : (size_t) (end - p);
      char candidate[PATH_MAX];
      int written = len == 0 ? snprintf (candidate, sizeof candidate, "./%s", file) : snprintf (candidate, sizeof candidate, "%.*s/%s", (int) len, p, file);
      if (written > 0 && written < (int) sizeof candidate)
        {
          execve (candidate, spec->args, environment);
          if (errno != ENOENT && errno != ENOTDIR)
            last_error = errno;
        }
      if (end == NULL)
        break;
      p = end;
    }
  if (last_error == ENOENT)
    return shim_fail (err, last_error, "execve", file, "start the container's process: exec: \"%s\": executable file not found in $PATH (%s)", file, path);
  if (last_error == EACCES)
    return shim_fail (err, last_error, "execve", file, "start the container's process: exec: \"%s\": permission denied", file);
  return shim_fail (err, last_error, "execve", file, "start the container's process: found in PATH %s, but not executed", path);
}
