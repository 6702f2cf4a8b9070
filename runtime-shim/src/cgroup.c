#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
cgroup_init (struct cgroup *cgroup)
{
  memset (cgroup, 0, sizeof *cgroup);
}

static int
write_value (const char *directory, const char *file, const char *value)
{
  char path[PATH_MAX];
  snprintf (path, sizeof path, "%s/%s", directory, file);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = write (fd, value, strlen (value));
  int saved = errno;
  close (fd);
  errno = saved;
  return n == (ssize_t) strlen (value) ? 0 : -1;
}

static int
make_group (struct cgroup *cgroup, const char *hierarchy, const char *id)
{
  char path[PATH_MAX];
  snprintf (path, sizeof path, "%s/tsbuild", hierarchy);
  if (mkdir (path, 0755) < 0 && errno != EEXIST)
    return -1;
  snprintf (cgroup->paths[cgroup->count], sizeof cgroup->paths[0], "%s/tsbuild/%s", hierarchy, id);
  if (mkdir (cgroup->paths[cgroup->count], 0755) < 0 && errno != EEXIST)
    return -1;
  cgroup->count++;
  return 0;
}

int
cgroup_apply (struct cgroup *cgroup, const char *id, const struct spec *spec, pid_t pid, struct shim_error *err)
{
  (void) err;
  bool cpu = spec->cpu_quota > 0 || spec->cpu_shares > 0;
  if (spec->memory_limit < 0 && spec->pids_limit < 0 && !cpu)
    return 0;
  unsigned long long period = spec->cpu_period > 0 ? spec->cpu_period : 100000;
  char value[64], pid_text[24];
  snprintf (pid_text, sizeof pid_text, "%d", (int) pid);
  struct stat st;
  bool unified = stat ("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
  if (unified)
    {
      if (write_value ("/sys/fs/cgroup", "cgroup.subtree_control", "+memory +pids +cpu") < 0 && errno != EBUSY)
        goto skip;
      if (make_group (cgroup, "/sys/fs/cgroup", id) < 0)
        goto skip;
      write_value ("/sys/fs/cgroup/tsbuild", "cgroup.subtree_control", "+memory +pids +cpu");
      if (spec->cpu_quota > 0)
        {
          snprintf (value, sizeof value, "%lld %llu", spec->cpu_quota, period);
          if (write_value (cgroup->paths[0], "cpu.max", value) < 0)
            goto skip;
        }
      if (spec->cpu_shares > 0)
        {
          /* runc's conversion of v1 shares (2-262144) to v2 weight (1-10000). */
          snprintf (value, sizeof value, "%llu", 1 + ((spec->cpu_shares - 2) * 9999) / 262142);
          if (write_value (cgroup->paths[0], "cpu.weight", value) < 0)
            goto skip;
        }
      if (spec->memory_limit >= 0)
        {
          snprintf (value, sizeof value, "%lld", spec->memory_limit);
          if (write_value (cgroup->paths[0], "memory.max", value) < 0)
            goto skip;
        }
      if (spec->pids_limit >= 0)
        {
          snprintf (value, sizeof value, "%lld", spec->pids_limit);
          if (write_value (cgroup->paths[0], "pids.max", value) < 0)
            goto skip;
        }
      if (write_value (cgroup->paths[0], "cgroup.procs", pid_text) < 0)
        goto skip;
      return 0;
    }
  if (spec->memory_limit >= 0)
    {
      snprintf (value, sizeof value, "%lld", spec->memory_limit);
      if (make_group (cgroup, "/sys/fs/cgroup/memory", id) < 0 || write_value (cgroup->paths[cgroup->count - 1], "memory.limit_in_bytes", value) < 0
          || write_value (cgroup->paths[cgroup->count - 1], "cgroup.procs", pid_text) < 0)
        goto skip;
    }
  if (spec->pids_limit >= 0)
    {
      snprintf (value, sizeof value, "%lld", spec->pids_limit);
      if (make_group (cgroup, "/sys/fs/cgroup/pids", id) < 0 || write_value (cgroup->paths[cgroup->count - 1], "pids.max", value) < 0
          || write_value (cgroup->paths[cgroup->count - 1], "cgroup.procs", pid_text) < 0)
        goto skip;
    }
  if (cpu)
    {
      if (make_group (cgroup, "/sys/fs/cgroup/cpu", id) < 0)
        goto skip;
      const char *group = cgroup->paths[cgroup->count - 1];
      snprintf (value, sizeof value, "%llu", period);
      if (spec->cpu_quota > 0 && write_value (group, "cpu.cfs_period_us", value) < 0)
        goto skip;
      snprintf (value, sizeof value, "%lld", spec->cpu_quota);
      if (spec->cpu_quota > 0 && write_value (group, "cpu.cfs_quota_us", value) < 0)
        goto skip;
      snprintf (value, sizeof value, "%llu", spec->cpu_shares);
      if (spec->cpu_shares > 0 && write_value (group, "cpu.shares", value) < 0)
        goto skip;
      if (write_value (group, "cgroup.procs", pid_text) < 0)
        goto skip;
    }
  return 0;
skip:
  shim_warning ("memory, pids and cpu limits skipped: cgroup not writable here (%s)", strerror (errno));
  cgroup_remove (cgroup);
  cgroup_init (cgroup);
  return 0;
}

void
cgroup_remove (const struct cgroup *cgroup)
{
  for (int i = 0; i < cgroup->count; i++)
    rmdir (cgroup->paths[i]);
}
