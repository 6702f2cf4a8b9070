#include "config.h"


#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

#include "json.h"

static const char *capability_names[] = {
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
  "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

/* The filter tsbuild compiled from linux.seccomp (this runtime has no syscall table of its
   own): 8-byte instructions in hex, at most the kernel's BPF_MAXINSNS (4096). */
static int
read_seccomp_filter (const char *hex, struct spec *spec, const char *path, struct shim_error *err)
{
  size_t length = strlen (hex);
  if (length == 0 || length % 16 != 0 || length / 16 > 4096)
    return shim_fail (err, EINVAL, "", path, "config.json: annotation org.tsbuild.seccomp must be 1 to 4096 filter instructions in hex");
  spec->seccomp_filter = malloc (length / 2);
  if (spec->seccomp_filter == NULL)
    return shim_fail (err, ENOMEM, "malloc", NULL, "read the seccomp filter");
  for (size_t i = 0; i < length / 2; i++)
    {
      int high = json_hex_digit (hex[2 * i]), low = json_hex_digit (hex[2 * i + 1]);
      if (high < 0 || low < 0)
        return shim_fail (err, EINVAL, "", path, "config.json: annotation org.tsbuild.seccomp is not hex");
      spec->seccomp_filter[i] = (unsigned char) (high * 16 + low);
    }
  spec->seccomp_filter_length = length / 16;
  return 0;
}

int
capability_from_name (const char *name)
{
  for (size_t i = 0; i < sizeof capability_names / sizeof capability_names[0]; i++)
    if (strcasecmp (name, capability_names[i]) == 0)
      return (int) i;
  return -1;
}

int
last_capability (void)
{
  /* The running kernel's last capability; the table may know more than it does. Read once,
     before the root is entered (main asks first); a /proc that is no procfs (a root's own) is
     not believed: 63 then, every capability the kernel may have (a drop beyond its last is
     EINVAL, which the callers ignore). */
  static int cached = -1;
  if (cached >= 0)
    return cached;
  FILE *f = fopen ("/proc/sys/kernel/cap_last_cap", "re");
  int value = 63;
  struct statfs fs;
  if (f != NULL)
    {
      if (fstatfs (fileno (f), &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC || fscanf (f, "%d", &value) != 1 || value < 0 || value > 63)
        value = 63;
      fclose (f);
    }
  cached = value;
  return value;
}

static const struct { const char *name; int resource; } rlimit_names[] = {
  { "RLIMIT_CPU", RLIMIT_CPU }, { "RLIMIT_FSIZE", RLIMIT_FSIZE }, { "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_STACK", RLIMIT_STACK },
  { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_RSS", RLIMIT_RSS }, { "RLIMIT_NPROC", RLIMIT_NPROC }, { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
  { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

static const struct { const char *name; int flag; } namespace_names[] = {
  { "pid", CLONE_NEWPID }, { "mount", CLONE_NEWNS }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
  { "network", CLONE_NEWNET }, { "user", CLONE_NEWUSER }, { "cgroup", CLONE_NEWCGROUP },
};
_Static_assert (sizeof namespace_names / sizeof namespace_names[0] <= sizeof ((struct spec *) 0)->namespaces / sizeof ((struct spec *) 0)->namespaces[0],
                "one slot per namespace type");

struct mount_option {
  const char *name;
  bool clear;
  unsigned long flag;
  bool propagation;
};

static const struct mount_option mount_options[] = {
  { "defaults", false, 0, false }, { "ro", false, MS_RDONLY, false }, { "rw", true, MS_RDONLY, false },
  { "suid", true, MS_NOSUID, false }, { "nosuid", false, MS_NOSUID, false }, { "dev", true, MS_NODEV, false },
  { "nodev", false, MS_NODEV, false }, { "exec", true, MS_NOEXEC, false }, { "noexec", false, MS_NOEXEC, false },
  { "sync", false, MS_SYNCHRONOUS, false }, { "async", true, MS_SYNCHRONOUS, false }, { "dirsync", false, MS_DIRSYNC, false },
  { "remount", false, MS_REMOUNT, false }, { "mand", false, MS_MANDLOCK, false }, { "nomand", true, MS_MANDLOCK, false },
  { "atime", true, MS_NOATIME, false }, { "noatime", false, MS_NOATIME, false }, { "diratime", true, MS_NODIRATIME, false },
  { "nodiratime", false, MS_NODIRATIME, false }, { "relatime", false, MS_RELATIME, false }, { "norelatime", true, MS_RELATIME, false },
  { "strictatime", false, MS_STRICTATIME, false }, { "nostrictatime", true, MS_STRICTATIME, false },
  { "bind", false, MS_BIND, false }, { "rbind", false, MS_BIND | MS_REC, false },
  { "private", false, MS_PRIVATE, true }, { "rprivate", false, MS_PRIVATE | MS_REC, true },
  { "shared", false, MS_SHARED, true }, { "rshared", false, MS_SHARED | MS_REC, true },
  { "slave", false, MS_SLAVE, true }, { "rslave", false, MS_SLAVE | MS_REC, true },
  { "unbindable", false, MS_UNBINDABLE, true }, { "runbindable", false, MS_UNBINDABLE | MS_REC, true },
};

static char *
dup_or_null (const char *s)
{
  return s == NULL ? NULL : strdup (s);
}

/* An array of strings, or NULL-terminated empty array; -1 if some element is not a string. */
static int
string_array (const struct json *value, char ***out, size_t *count, const char *what, struct shim_error *err)
{
  size_t n = json_is (value, JSON_ARRAY) ? value->length : 0;
  char **list = calloc (n + 1, sizeof *list);
  if (list == NULL)
    return shim_fail (err, ENOMEM, "calloc", NULL, "read %s", what);
  for (size_t i = 0; i < n; i++)
    {
      const char *s = json_string (value->items[i]);
      if (s == NULL)
        return shim_fail (err, EINVAL, "", NULL, "config.json: %s[%zu] is not a string", what, i);
      list[i] = strdup (s);
    }
  *out = list;
  if (count != NULL)
    *count = n;
  return 0;
}

static bool
read_uint (const struct json *value, unsigned long long max, unsigned long long *out)
{
  if (!json_is (value, JSON_NUMBER) || value->number < 0 || value->number > (double) max)
    return false;
  /* A double holds UINT64_MAX and INT64_MAX as 2^64 and 2^63, one past them, which no cast may
     convert (undefined; on x86-64 2^64 became 0, and an rlimit of 18446744073709551615,
     RLIM_INFINITY as runc's specs write "unlimited", was refused). A number that rounds to MAX
     is MAX: the text most likely wrote it. */
  if (value->number == (double) max)
    {
      *out = max;
      return true;
    }
  if (value->number != (double) (unsigned long long) value->number)
    return false;
  *out = (unsigned long long) value->number;
  return true;
}

/* linux.resources.blockIO's weightDevice and throttle*Device lists, as runc takes them: each
   entry a device's major and minor and its weight (10-1000) or rate. */
static int
read_blkio_devices (const struct json *block_io, struct spec *spec, struct shim_error *err)
{
  static const struct
  {
    const char *name;
    enum blkio_kind kind;
  } lists[] = {
    { "weightDevice", BLKIO_WEIGHT },
    { "throttleReadBpsDevice", BLKIO_READ_BPS },
    { "throttleWriteBpsDevice", BLKIO_WRITE_BPS },
    { "throttleReadIOPSDevice", BLKIO_READ_IOPS },
    { "throttleWriteIOPSDevice", BLKIO_WRITE_IOPS },
  };
  size_t total = 0;
  for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++)
    {
      const struct json *list = json_get (block_io, lists[k].name);
      total += json_is (list, JSON_ARRAY) ? list->length : 0;
    }
  if (total == 0)
    return 0;
  spec->blkio_devices = calloc (total, sizeof *spec->blkio_devices);
  if (spec->blkio_devices == NULL)
    return shim_fail (err, errno, "", NULL, "config.json: linux.resources.blockIO: out of memory");
  for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++)
    {
      const struct json *list = json_get (block_io, lists[k].name);
      for (size_t i = 0; json_is (list, JSON_ARRAY) && i < list->length; i++)
        {
          const struct json *entry = list->items[i];
          unsigned long long major, minor, value;
          bool weight = lists[k].kind == BLKIO_WEIGHT;
          if (!read_uint (json_get (entry, "major"), UINT32_MAX, &major) || !read_uint (json_get (entry, "minor"), UINT32_MAX, &minor)
              || !read_uint (json_get (entry, weight ? "weight" : "rate"), weight ? 1000 : UINT64_MAX, &value) || (weight && value < 10))
            return shim_fail (err, EINVAL, "", NULL, "config.json: linux.resources.blockIO.%s[%zu]: needs major, minor and %s", lists[k].name, i,
                              weight ? "a weight of 10 to 1000" : "a rate");
          spec->blkio_devices[spec->blkio_device_count++] = (struct blkio_device){ lists[k].kind, (unsigned) major, (unsigned) minor, value };
        }
    }
  return 0;
}

static int
read_mappings (const struct json *value, struct id_mapping **out, size_t *count, const char *what, struct shim_error *err)
{
  size_t n = json_is (value, JSON_ARRAY) ? value->length : 0;
  *out = calloc (n + 1, sizeof **out);
  *count = n;
  for (size_t i = 0; i < n; i++)
    {
      unsigned long long c, h, s;
      if (!read_uint (json_get (value->items[i], "containerID"), UINT32_MAX, &c) || !read_uint (json_get (value->items[i], "hostID"), UINT32_MAX, &h)
          || !read_uint (json_get (value->items[i], "size"), UINT32_MAX, &s))
        return shim_fail (err, EINVAL, "", NULL, "config.json: %s[%zu] needs containerID, hostID and size", what, i);
      (*out)[i] = (struct id_mapping){ c, h, s };
    }
  return 0;
}

static int
read_mount (const struct json *value, struct mount_spec *m, struct shim_error *err, size_t index)
{
  const char *destination = json_string (json_get (value, "destination"));
  if (destination == NULL || destination[0] != '/')
    return shim_fail (err, EINVAL, "", destination, "config.json: mounts[%zu] needs an absolute destination", index);
  m->destination = strdup (destination);
  m->type = dup_or_null (json_string (json_get (value, "type")));
  m->source = dup_or_null (json_string (json_get (value, "source")));
  char **options = NULL;
  size_t count = 0;
  if (string_array (json_get (value, "options"), &options, &count, "mount options", err) < 0)
    return -1;
  size_t data_size = 1;
  for (size_t i = 0; i < count; i++)
    data_size += strlen (options[i]) + 1;
  m->data = calloc (data_size, 1);
  for (size_t i = 0; i < count; i++)
    {
      const struct mount_option *known = NULL;
      for (size_t k = 0; k < sizeof mount_options / sizeof mount_options[0]; k++)
        if (strcmp (options[i], mount_options[k].name) == 0)
          known = &mount_options[k];
      if (known == NULL)
        {
          if (m->data[0] != '\0')
            strcat (m->data, ",");
          strcat (m->data, options[i]);
        }
      else if (known->propagation)
        m->propagation = known->flag;
      else if (known->clear)
        m->flags &= ~known->flag;
      else
        m->flags |= known->flag;
      free (options[i]);
    }
  free (options);
  if (m->type != NULL && strcmp (m->type, "bind") == 0)
    m->flags |= MS_BIND;
  m->bind = (m->flags & MS_BIND) != 0;
  return 0;
}

static int
read_capabilities (const struct json *caps, struct spec *spec, struct shim_error *err)
{
  static const char *set_names[CAP_SET_COUNT] = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  if (!json_is (caps, JSON_OBJECT))
    return 0;
  spec->has_capabilities = true;
  for (int set = 0; set < CAP_SET_COUNT; set++)
    {
      const struct json *list = json_get (caps, set_names[set]);
      for (size_t i = 0; json_is (list, JSON_ARRAY) && i < list->length; i++)
        {
          const char *name = json_string (list->items[i]);
          int cap = name == NULL ? -1 : capability_from_name (name);
          if (cap < 0)
            return shim_fail (err, EINVAL, "", NULL, "config.json: unknown capability %s in %s", name == NULL ? "(not a string)" : name, set_names[set]);
          /* Capabilities this kernel lacks are skipped, as runc does. */
          if (cap <= last_capability ())
            spec->capabilities[set] |= 1ULL << cap;
        }
    }
  return 0;
}

static int
read_file (const char *path, char **out, size_t *size, struct shim_error *err)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return shim_fail (err, errno, "open", path, "read the runtime config");
  struct stat st;
  if (fstat (fd, &st) < 0 || st.st_size > 16 * 1024 * 1024)
    {
      close (fd);
      return shim_fail (err, EFBIG, "fstat", path, "runtime config missing or larger than 16 MiB");
    }
  char *buffer = malloc ((size_t) st.st_size + 1);
  size_t got = 0;
  while (buffer != NULL && got < (size_t) st.st_size)
    {
      ssize_t n = read (fd, buffer + got, (size_t) st.st_size - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (size_t) n;
    }
  close (fd);
  if (buffer == NULL)
    return shim_fail (err, ENOMEM, "malloc", path, "read the runtime config");
  buffer[got] = '\0';
  *out = buffer;
  *size = got;
  return 0;
}

int
spec_load (const char *bundle, struct spec *spec, struct shim_error *err)
{
  char path[PATH_MAX];
  char *text = NULL;
  size_t size = 0;
  memset (spec, 0, sizeof *spec);
  if (snprintf (path, sizeof path, "%s/config.json", bundle) >= (int) sizeof path)
    return shim_fail (err, ENAMETOOLONG, "", bundle, "bundle path too long");
  if (read_file (path, &text, &size, err) < 0)
    return -1;
  int rc = spec_parse (text, size, bundle, path, spec, err);
  free (text);
  return rc;
}

int
spec_parse (const char *text, size_t size, const char *bundle, const char *path, struct spec *spec, struct shim_error *err)
{
  char message[256];
  memset (spec, 0, sizeof *spec);
  spec->memory_limit = -1;
  spec->memory_reservation = -1;
  spec->pids_limit = -1;
  spec->memory_swappiness = -1;
  spec->cpu_quota = -1;
  struct json *root = json_parse (text, size, message, sizeof message);
  if (root == NULL)
    return shim_fail (err, EINVAL, "", path, "malformed config.json: %s", message);
  if (!json_is (root, JSON_OBJECT))
    {
      json_free (root);
      return shim_fail (err, EINVAL, "", path, "malformed config.json: not an object");
    }

  const struct json *process = json_get (root, "process");
  if (!json_is (process, JSON_OBJECT))
    goto invalid_process;
  size_t argc = 0;
  if (string_array (json_get (process, "args"), &spec->args, &argc, "process.args", err) < 0 || string_array (json_get (process, "env"), &spec->env, NULL, "process.env", err) < 0)
    goto fail;
  if (argc == 0)
    goto invalid_process;
  const char *cwd = json_string (json_get (process, "cwd"));
  spec->cwd = strdup (cwd == NULL ? "/" : cwd);
  if (spec->cwd[0] != '/')
    {
      shim_fail (err, EINVAL, "", spec->cwd, "config.json: process.cwd must be absolute");
      goto fail;
    }
  spec->terminal = json_is (json_get (process, "terminal"), JSON_BOOL) && json_get (process, "terminal")->boolean;
  spec->no_new_privileges = json_is (json_get (process, "noNewPrivileges"), JSON_BOOL) && json_get (process, "noNewPrivileges")->boolean;
  const struct json *user = json_get (process, "user");
  unsigned long long number;
  const struct json *console_size = json_get (process, "consoleSize");
  if (read_uint (json_get (console_size, "height"), UINT16_MAX, &number))
    spec->console_height = (unsigned short) number;
  if (read_uint (json_get (console_size, "width"), UINT16_MAX, &number))
    spec->console_width = (unsigned short) number;
  /* An id above 2^31-1 is refused, never wrapped nor left at 0: setresuid((uid_t) -1) keeps
     root, and such a user would run as root (containerd CVE-2024-40635). */
  static const char *const id_fields[] = { "uid", "gid" };
  for (size_t i = 0; i < 2; i++)
    {
      const struct json *id = json_get (user, id_fields[i]);
      if (id == NULL)
        continue;
      if (!read_uint (id, INT32_MAX, &number))
        {
          shim_fail (err, EINVAL, "", NULL, "config.json: process.user.%s is not an id from 0 to 2147483647", id_fields[i]);
          goto fail;
        }
      if (i == 0)
        spec->uid = (uid_t) number;
      else
        spec->gid = (gid_t) number;
    }
  if (read_uint (json_get (user, "umask"), 07777, &number))
    {
      spec->has_umask = true;
      spec->umask = (mode_t) number;
    }
  const struct json *gids = json_get (user, "additionalGids");
  if (json_is (gids, JSON_ARRAY))
    {
      spec->additional_gids = calloc (gids->length + 1, sizeof (gid_t));
      for (size_t i = 0; i < gids->length; i++)
        {
          if (!read_uint (gids->items[i], INT32_MAX, &number))
            {
              shim_fail (err, EINVAL, "", NULL, "config.json: process.user.additionalGids[%zu] is not an id from 0 to 2147483647", i);
              goto fail;
            }
          spec->additional_gids[spec->additional_gid_count++] = (gid_t) number;
        }
    }
  if (read_capabilities (json_get (process, "capabilities"), spec, err) < 0)
    goto fail;
  const struct json *rlimits = json_get (process, "rlimits");
  if (json_is (rlimits, JSON_ARRAY))
    {
      spec->rlimits = calloc (rlimits->length + 1, sizeof *spec->rlimits);
      for (size_t i = 0; i < rlimits->length; i++)
        {
          const char *type = json_string (json_get (rlimits->items[i], "type"));
          int resource = -1;
          for (size_t k = 0; type != NULL && k < sizeof rlimit_names / sizeof rlimit_names[0]; k++)
            if (strcmp (type, rlimit_names[k].name) == 0)
              resource = rlimit_names[k].resource;
          unsigned long long soft, hard;
          if (resource < 0 || !read_uint (json_get (rlimits->items[i], "soft"), UINT64_MAX, &soft) || !read_uint (json_get (rlimits->items[i], "hard"), UINT64_MAX, &hard))
            {
              shim_fail (err, EINVAL, "", NULL, "config.json: process.rlimits[%zu] needs a known type, soft and hard", i);
              goto fail;
            }
          spec->rlimits[spec->rlimit_count++] = (struct rlimit_spec){ resource, soft, hard };
        }
    }

  spec->hostname = dup_or_null (json_string (json_get (root, "hostname")));
  spec->domainname = dup_or_null (json_string (json_get (root, "domainname")));
  const struct json *oom_score_adj = json_get (process, "oomScoreAdj");
  if (oom_score_adj != NULL)
    {
      if (!json_is (oom_score_adj, JSON_NUMBER) || oom_score_adj->number < -1000 || oom_score_adj->number > 1000 || oom_score_adj->number != (double) (int) oom_score_adj->number)
        {
          shim_fail (err, EINVAL, "", "oomScoreAdj", "config.json: process.oomScoreAdj must be an integer from -1000 to 1000");
          goto fail;
        }
      spec->has_oom_score_adj = true;
      spec->oom_score_adj = (int) oom_score_adj->number;
    }
  const struct json *rootfs = json_get (root, "root");
  const char *root_path = json_string (json_get (rootfs, "path"));
  if (root_path == NULL)
    {
      shim_fail (err, EINVAL, "", path, "config.json: root.path is missing");
      goto fail;
    }
  char joined[PATH_MAX];
  /* A path cut at PATH_MAX would be resolved as the shorter path it became: another directory. */
  if ((root_path[0] == '/' ? snprintf (joined, sizeof joined, "%s", root_path) : snprintf (joined, sizeof joined, "%s/%s", bundle, root_path)) >= (int) sizeof joined)
    {
      shim_fail (err, ENAMETOOLONG, "", path, "config.json: root.path is longer than %d bytes", PATH_MAX - 1);
      goto fail;
    }
  spec->root_path = realpath (joined, NULL);
  if (spec->root_path == NULL)
    {
      shim_fail (err, errno, "realpath", joined, "find the root filesystem");
      goto fail;
    }
  spec->root_readonly = json_is (json_get (rootfs, "readonly"), JSON_BOOL) && json_get (rootfs, "readonly")->boolean;

  const struct json *mounts = json_get (root, "mounts");
  if (json_is (mounts, JSON_ARRAY))
    {
      spec->mounts = calloc (mounts->length + 1, sizeof *spec->mounts);
      for (size_t i = 0; i < mounts->length; i++)
        {
          if (read_mount (mounts->items[i], &spec->mounts[i], err, i) < 0)
            goto fail;
          spec->mount_count++;
        }
    }

  const struct json *linux_ = json_get (root, "linux");
  const struct json *namespaces = json_get (linux_, "namespaces");
  for (size_t i = 0; json_is (namespaces, JSON_ARRAY) && i < namespaces->length; i++)
    {
      const char *type = json_string (json_get (namespaces->items[i], "type"));
      int flag = 0;
      for (size_t k = 0; type != NULL && k < sizeof namespace_names / sizeof namespace_names[0]; k++)
        if (strcmp (type, namespace_names[k].name) == 0)
          flag = namespace_names[k].flag;
      if (flag == 0)
        {
          shim_fail (err, EINVAL, "", NULL, "config.json: linux.namespaces[%zu] has an unknown type %s", i, type == NULL ? "(none)" : type);
          goto fail;
        }
      /* A type named twice is refused, as runc's specconv does: kept in a table of one slot per
         type, a repeat once filled it would push the later types off silently, and the process
         would run in the host's pid or mount namespace. */
      for (size_t k = 0; k < spec->namespace_count; k++)
        if (spec->namespaces[k].flag == flag)
          {
            shim_fail (err, EINVAL, "", NULL, "config.json: linux.namespaces[%zu]: duplicated namespace %s", i, type);
            goto fail;
          }
      spec->namespaces[spec->namespace_count++] = (struct namespace_spec){ flag, dup_or_null (json_string (json_get (namespaces->items[i], "path"))) };
    }
  if (read_mappings (json_get (linux_, "uidMappings"), &spec->uid_mappings, &spec->uid_mapping_count, "linux.uidMappings", err) < 0
      || read_mappings (json_get (linux_, "gidMappings"), &spec->gid_mappings, &spec->gid_mapping_count, "linux.gidMappings", err) < 0
      || string_array (json_get (linux_, "maskedPaths"), &spec->masked_paths, &spec->masked_path_count, "linux.maskedPaths", err) < 0
      || string_array (json_get (linux_, "readonlyPaths"), &spec->readonly_paths, &spec->readonly_path_count, "linux.readonlyPaths", err) < 0)
    goto fail;
  const char *propagation = json_string (json_get (linux_, "rootfsPropagation"));
  spec->rootfs_propagation = MS_REC | MS_PRIVATE;
  for (size_t k = 0; propagation != NULL && k < sizeof mount_options / sizeof mount_options[0]; k++)
    if (mount_options[k].propagation && strcmp (propagation, mount_options[k].name) == 0)
      spec->rootfs_propagation = mount_options[k].flag;
  const struct json *resources = json_get (linux_, "resources");
  if (read_uint (json_get (json_get (resources, "memory"), "limit"), INT64_MAX, &number))
    spec->memory_limit = (long long) number;
  const struct json *swap = json_get (json_get (resources, "memory"), "swap");
  if (json_is (swap, JSON_NUMBER) && swap->number == -1)
    spec->memory_swap = -1;
  else if (read_uint (swap, INT64_MAX, &number))
    spec->memory_swap = (long long) number;
  if (read_uint (json_get (json_get (resources, "memory"), "reservation"), INT64_MAX, &number))
    spec->memory_reservation = (long long) number;
  if (read_uint (json_get (json_get (resources, "pids"), "limit"), INT64_MAX, &number))
    spec->pids_limit = (long long) number;
  if (read_uint (json_get (json_get (resources, "memory"), "swappiness"), 100, &number))
    spec->memory_swappiness = (long long) number;
  const struct json *oom = json_get (json_get (resources, "memory"), "disableOOMKiller");
  spec->disable_oom_killer = json_is (oom, JSON_BOOL) && oom->boolean;
  if (read_uint (json_get (json_get (resources, "blockIO"), "weight"), 1000, &number) && number >= 10)
    spec->blkio_weight = (unsigned) number;
  if (read_blkio_devices (json_get (resources, "blockIO"), spec, err) < 0)
    goto fail;
  const struct json *cpu = json_get (resources, "cpu");
  if (read_uint (json_get (cpu, "quota"), INT64_MAX, &number) && number > 0)
    spec->cpu_quota = (long long) number;
  if (read_uint (json_get (cpu, "period"), 1000000, &number) && number >= 1000)
    spec->cpu_period = number;
  if (read_uint (json_get (cpu, "shares"), 262144, &number) && number >= 2)
    spec->cpu_shares = number;
  const char *cpus = json_string (json_get (cpu, "cpus"));
  const char *mems = json_string (json_get (cpu, "mems"));
  spec->cpuset_cpus = cpus == NULL || cpus[0] == '\0' ? NULL : dup_or_null (cpus);
  spec->cpuset_mems = mems == NULL || mems[0] == '\0' ? NULL : dup_or_null (mems);
  if (read_uint (json_get (cpu, "realtimePeriod"), INT64_MAX, &number))
    spec->cpu_rt_period = number;
  const struct json *rt_runtime = json_get (cpu, "realtimeRuntime");
  if (json_is (rt_runtime, JSON_NUMBER))
    spec->cpu_rt_runtime = (long long) rt_runtime->number;
  const char *cgroups_path = json_string (json_get (linux_, "cgroupsPath"));
  while (cgroups_path != NULL && cgroups_path[0] == '/')
    cgroups_path++;
  spec->cgroups_path = cgroups_path == NULL || cgroups_path[0] == '\0' ? NULL : dup_or_null (cgroups_path);
  /* The rule that names no device with every access decides for them all (the last one);
     the others are kept for a device cgroup. */
  const struct json *devices = json_get (resources, "devices");
  if (json_is (devices, JSON_ARRAY))
    {
      spec->device_rules = calloc (devices->length + 1, sizeof *spec->device_rules);
      for (size_t i = 0; spec->device_rules != NULL && i < devices->length; i++)
        {
          const struct json *rule = devices->items[i];
          const char *type = json_string (json_get (rule, "type"));
          const char *access = json_string (json_get (rule, "access"));
          bool allow = json_is (json_get (rule, "allow"), JSON_BOOL) && json_get (rule, "allow")->boolean;
          bool every = access == NULL || (strchr (access, 'r') != NULL && strchr (access, 'w') != NULL && strchr (access, 'm') != NULL);
          if (json_get (rule, "major") == NULL && json_get (rule, "minor") == NULL && (type == NULL || strcmp (type, "a") == 0) && every)
            {
              spec->all_devices = allow;
              continue;
            }
          char major[24] = "*", minor[24] = "*";
          if (read_uint (json_get (rule, "major"), INT64_MAX, &number))
            snprintf (major, sizeof major, "%llu", (unsigned long long) number);
          if (read_uint (json_get (rule, "minor"), INT64_MAX, &number))
            snprintf (minor, sizeof minor, "%llu", (unsigned long long) number);
          struct device_rule *out = &spec->device_rules[spec->device_rule_count++];
          out->allow = allow;
          snprintf (out->text, sizeof out->text, "%.1s %s:%s %.3s", type == NULL ? "a" : type, major, minor, access == NULL ? "rwm" : access);
        }
    }
  struct stat unified_st;
  spec->device_cgroup = spec->device_rule_count > 0 && !spec->all_devices && stat ("/sys/fs/cgroup/cgroup.controllers", &unified_st) < 0
                        && access ("/sys/fs/cgroup/devices", W_OK) == 0;
  const struct json *sysctl = json_get (linux_, "sysctl");
  if (json_is (sysctl, JSON_OBJECT) && sysctl->length > 0)
    {
      spec->sysctl_keys = calloc (sysctl->length, sizeof *spec->sysctl_keys);
      spec->sysctl_values = calloc (sysctl->length, sizeof *spec->sysctl_values);
      if (spec->sysctl_keys == NULL || spec->sysctl_values == NULL)
        {
          shim_fail (err, ENOMEM, "calloc", NULL, "read linux.sysctl");
          goto fail;
        }
      for (size_t i = 0; i < sysctl->length; i++)
        {
          const char *value = json_string (sysctl->items[i]);
          const char *key = sysctl->keys[i];
          /* A name is dotted words: no path of it may climb out of /proc/sys. */
          bool valid = value != NULL && key[0] != '\0' && key[0] != '.' && strstr (key, "..") == NULL && strchr (key, '/') == NULL;
          if (!valid)
            {
              shim_fail (err, EINVAL, "", path, "config.json: linux.sysctl: %s is not a name with a string value", key);
              goto fail;
            }
          spec->sysctl_keys[i] = strdup (key);
          spec->sysctl_values[i] = strdup (value);
        }
      spec->sysctl_count = sysctl->length;
    }
  const struct json *annotations = json_get (root, "annotations");
  const char *init = json_string (json_get (annotations, "org.tsbuild.init"));
  if (init == NULL)
    init = json_string (json_get (annotations, "run.oci.init"));
  spec->init = init != NULL && strcmp (init, "true") == 0;
  const char *kill_with_parent = json_string (json_get (annotations, "org.tsbuild.kill-with-parent"));
  spec->kill_with_parent = kill_with_parent != NULL && strcmp (kill_with_parent, "true") == 0;
  spec->rootfs_overlay = dup_or_null (json_string (json_get (annotations, "org.tsbuild.rootfs.overlay")));
  const char *seccomp = json_string (json_get (annotations, "org.tsbuild.seccomp"));
  if (seccomp != NULL && read_seccomp_filter (seccomp, spec, path, err) < 0)
    goto fail;

  json_free (root);
  return 0;

invalid_process:
  shim_fail (err, EINVAL, "", path, "config.json: process.args must be a non-empty array of strings");
fail:
  json_free (root);
  return -1;
}

bool
spec_has_namespace (const struct spec *spec, int flag, const char **path)
{
  for (size_t i = 0; i < spec->namespace_count; i++)
    if (spec->namespaces[i].flag == flag)
      {
        if (path != NULL)
          *path = spec->namespaces[i].path;
        return true;
      }
  return false;
}
