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

void
cgroup_group (const struct spec *spec, const char *id, char *out, size_t size)
{
  if (spec->cgroups_path != NULL)
    snprintf (out, size, "%s", spec->cgroups_path);
  else
    snprintf (out, size, "tsbuild/%s", id);
}

/* HIERARCHY/GROUP made, each level of GROUP in turn (a --cgroup-parent may be several deep). */
static int
make_group (struct cgroup *cgroup, const char *hierarchy, const char *group)
{
  char *path = cgroup->paths[cgroup->count];
  snprintf (path, sizeof cgroup->paths[0], "%s/%s", hierarchy, group);
  for (char *slash = strchr (path + strlen (hierarchy) + 1, '/');; slash = strchr (slash + 1, '/'))
    {
      if (slash != NULL)
        *slash = '\0';
      int rc = mkdir (path, 0755);
      if (slash != NULL)
        *slash = '/';
      if (rc < 0 && errno != EEXIST)
        return -1;
      if (slash == NULL)
        break;
    }
  cgroup->count++;
  return 0;
}

/* A new cpuset group has no CPUs and no memory nodes, and takes no process until given some:
   those of its parent, level by level from the hierarchy's root, as runc does. */
static int
inherit_cpuset (const char *hierarchy, const char *group)
{
  char parent[PATH_MAX], child[PATH_MAX];
  snprintf (child, sizeof child, "%s", hierarchy);
  for (const char *next = group + strlen (hierarchy) + 1; next != NULL; next = strchr (next, '/') == NULL ? NULL : strchr (next, '/') + 1)
    {
      snprintf (parent, sizeof parent, "%s", child);
      const char *end = strchr (next, '/');
      snprintf (child, sizeof child, "%.*s", (int) ((end == NULL ? next + strlen (next) : end) - group), group);
      for (int i = 0; i < 2; i++)
      {
        const char *file = i == 0 ? "cpuset.cpus" : "cpuset.mems";
        char from[PATH_MAX + 48], value[4096];
        snprintf (from, sizeof from, "%s/%s", child, file);
        FILE *current = fopen (from, "re");
        bool empty = current == NULL || fgets (value, sizeof value, current) == NULL || value[0] == '\n';
        if (current != NULL)
          fclose (current);
        if (!empty)
          continue;
        snprintf (from, sizeof from, "%s/%s", parent, file);
        FILE *source = fopen (from, "re");
        bool read = source != NULL && fgets (value, sizeof value, source) != NULL;
        if (source != NULL)
          fclose (source);
        if (!read || write_value (child, file, value) < 0)
          return -1;
      }
    }
  return 0;
}

int
cgroup_v1_hierarchies (struct cgroup_hierarchy *out, int max)
{
  FILE *mounts = fopen ("/proc/self/mountinfo", "re");
  if (mounts == NULL)
    return -1;
  char line[4096];
  int count = 0;
  while (count < max && fgets (line, sizeof line, mounts) != NULL)
    {
      /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER_OPTIONS" */
      char mount_point[PATH_MAX], type[32], super_options[sizeof out->controllers];
      const char *separator = strstr (line, " - ");
      if (separator == NULL || sscanf (line, "%*s %*s %*s %*s %4095s", mount_point) != 1
          || sscanf (separator, " - %31s %*s %255s", type, super_options) != 2 || strcmp (type, "cgroup") != 0
          || strncmp (mount_point, "/sys/fs/cgroup/", 15) != 0 || mount_point[15] == '\0' || strchr (mount_point + 15, '/') != NULL
          || strlen (mount_point + 15) >= sizeof out->name)
        continue;
      struct cgroup_hierarchy *h = &out[count++];
      snprintf (h->name, sizeof h->name, "%s", mount_point + 15);
      /* The super options name the hierarchy's controllers; rw and ro are the mount's own. */
      h->controllers[0] = '\0';
      char *saveptr = NULL;
      for (char *option = strtok_r (super_options, ",", &saveptr); option != NULL; option = strtok_r (NULL, ",", &saveptr))
        if (strcmp (option, "rw") != 0 && strcmp (option, "ro") != 0)
          snprintf (h->controllers + strlen (h->controllers), sizeof h->controllers - strlen (h->controllers), "%s%s", h->controllers[0] == '\0' ? "" : ",", option);
    }
  fclose (mounts);
  return count;
}

/* The allowed devices of runc and docker's default spec: any node made, the standard ones opened. */
static const char *const default_device_rules[]
    = { "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 5:1 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm" };

/* A v1 device cgroup: every device denied, then runc's defaults and the spec's rules in order. */
static int
apply_device_rules (const char *group, const struct spec *spec)
{
  if (write_value (group, "devices.deny", "a") < 0)
    return -1;
  for (size_t i = 0; i < sizeof default_device_rules / sizeof default_device_rules[0]; i++)
    if (write_value (group, "devices.allow", default_device_rules[i]) < 0)
      return -1;
  for (size_t i = 0; i < spec->device_rule_count; i++)
    if (write_value (group, spec->device_rules[i].allow ? "devices.allow" : "devices.deny", spec->device_rules[i].text) < 0)
      return -1;
  return 0;
}

/* The unified hierarchy: CONTROLLERS enabled in each level above GROUP's own. */
static void
enable_controllers (const char *group, const char *controllers)
{
  char level[PATH_MAX];
  snprintf (level, sizeof level, "%s", group);
  for (char *slash = strchr (level + strlen ("/sys/fs/cgroup") + 1, '/'); slash != NULL; slash = strchr (slash + 1, '/'))
    {
      *slash = '\0';
      write_value (level, "cgroup.subtree_control", controllers);
      *slash = '/';
    }
}

/* Each per-device weight and throttle of SPEC written in GROUP, a v1 blkio group: runc's files
   (BFQ's weight_device where CFQ's is absent). */
static int
apply_blkio_devices_v1 (const char *group, const struct spec *spec)
{
  static const char *const files[] = { "blkio.weight_device", "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
                                       "blkio.throttle.write_iops_device" };
  for (size_t i = 0; i < spec->blkio_device_count; i++)
    {
      const struct blkio_device *device = &spec->blkio_devices[i];
      const char *file = files[device->kind];
      char value[96], path[PATH_MAX + 32];
      struct stat st;
      snprintf (path, sizeof path, "%s/%s", group, file);
      if (device->kind == BLKIO_WEIGHT && stat (path, &st) != 0)
        file = "blkio.bfq.weight_device";
      snprintf (value, sizeof value, "%u:%u %llu", device->major, device->minor, device->value);
      if (write_value (group, file, value) < 0)
        return -1;
    }
  return 0;
}

/* The same on cgroup v2: io.max's rbps, wbps, riops, wiops (0 is no limit, "max", as runc
   writes it) and BFQ's weight, or io.weight converted as runc converts v1's range. */
static int
apply_blkio_devices_v2 (const char *group, const struct spec *spec)
{
  static const char *const keys[] = { "", "rbps", "wbps", "riops", "wiops" };
  for (size_t i = 0; i < spec->blkio_device_count; i++)
    {
      const struct blkio_device *device = &spec->blkio_devices[i];
      char value[96];
      if (device->kind == BLKIO_WEIGHT)
        {
          snprintf (value, sizeof value, "%u:%u %llu", device->major, device->minor, device->value);
          if (write_value (group, "io.bfq.weight", value) == 0)
            continue;
          snprintf (value, sizeof value, "%u:%u %llu", device->major, device->minor, 1 + ((device->value - 10) * 9999) / 990);
          if (write_value (group, "io.weight", value) < 0)
            return -1;
          continue;
        }
      if (device->value == 0)
        snprintf (value, sizeof value, "%u:%u %s=max", device->major, device->minor, keys[device->kind]);
      else
        snprintf (value, sizeof value, "%u:%u %s=%llu", device->major, device->minor, keys[device->kind], device->value);
      if (write_value (group, "io.max", value) < 0)
        return -1;
    }
  return 0;
}

int
cgroup_apply (struct cgroup *cgroup, const char *id, const struct spec *spec, pid_t pid, struct shim_error *err)
{
  char group_name[PATH_MAX - 64];
  cgroup_group (spec, id, group_name, sizeof group_name);
  bool cpu = spec->cpu_quota > 0 || spec->cpu_shares > 0 || spec->cpu_rt_period > 0 || spec->cpu_rt_runtime != 0;
  bool cpuset = spec->cpuset_cpus != NULL || spec->cpuset_mems != NULL;
  bool memory_tuned = spec->memory_swappiness >= 0 || spec->disable_oom_killer;
  bool limited = spec->memory_limit >= 0 || spec->memory_swap != 0 || spec->memory_reservation >= 0 || spec->pids_limit >= 0 || cpu || cpuset || memory_tuned || spec->blkio_weight > 0
                 || spec->blkio_device_count > 0;
  unsigned long long period = spec->cpu_period > 0 ? spec->cpu_period : 100000;
  char value[64], pid_text[24];
  snprintf (pid_text, sizeof pid_text, "%d", (int) pid);
  struct stat st;
  bool unified = stat ("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
  if (unified)
    {
      if (write_value ("/sys/fs/cgroup", "cgroup.subtree_control", "+memory +pids +cpu") < 0 && errno != EBUSY)
        goto skip;
      if (make_group (cgroup, "/sys/fs/cgroup", group_name) < 0)
        goto skip;
      enable_controllers (cgroup->paths[0], "+memory +pids +cpu");
      if (spec->cpu_quota > 0)
        {
          snprintf (value, sizeof value, "%lld %llu", spec->cpu_quota, period);
          if (write_value (cgroup->paths[0], "cpu.max", value) < 0)
            goto skip;
        }
      if (cpuset)
        {
          write_value ("/sys/fs/cgroup", "cgroup.subtree_control", "+cpuset");
          enable_controllers (cgroup->paths[0], "+cpuset");
          if ((spec->cpuset_cpus != NULL && write_value (cgroup->paths[0], "cpuset.cpus", spec->cpuset_cpus) < 0)
              || (spec->cpuset_mems != NULL && write_value (cgroup->paths[0], "cpuset.mems", spec->cpuset_mems) < 0))
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
          /* v2 counts swap apart: what the total leaves over the memory limit, as runc converts it. */
          if (spec->memory_swap == -1)
            snprintf (value, sizeof value, "max");
          else
            snprintf (value, sizeof value, "%lld", spec->memory_swap > spec->memory_limit ? spec->memory_swap - spec->memory_limit : 0);
          if (spec->memory_swap != 0)
            write_value (cgroup->paths[0], "memory.swap.max", value);
        }
      if (spec->memory_reservation >= 0)
        {
          snprintf (value, sizeof value, "%lld", spec->memory_reservation);
          if (write_value (cgroup->paths[0], "memory.low", value) < 0)
            goto skip;
        }
      if (spec->pids_limit >= 0)
        {
          snprintf (value, sizeof value, "%lld", spec->pids_limit);
          if (write_value (cgroup->paths[0], "pids.max", value) < 0)
            goto skip;
        }
      if (spec->blkio_weight > 0)
        {
          /* BFQ's weight takes v1's range; io.weight (1-10000) is runc's conversion where BFQ is absent. */
          write_value ("/sys/fs/cgroup", "cgroup.subtree_control", "+io");
          enable_controllers (cgroup->paths[0], "+io");
          snprintf (value, sizeof value, "%u", spec->blkio_weight);
          if (write_value (cgroup->paths[0], "io.bfq.weight", value) < 0)
            {
              snprintf (value, sizeof value, "default %u", 1 + ((spec->blkio_weight - 10) * 9999) / 990);
              write_value (cgroup->paths[0], "io.weight", value);
            }
        }
      if (spec->blkio_device_count > 0)
        {
          write_value ("/sys/fs/cgroup", "cgroup.subtree_control", "+io");
          write_value ("/sys/fs/cgroup/tsbuild", "cgroup.subtree_control", "+io");
          if (apply_blkio_devices_v2 (cgroup->paths[0], spec) < 0)
            goto skip;
        }
      if (write_value (cgroup->paths[0], "cgroup.procs", pid_text) < 0)
        goto skip;
      return 0;
    }
  /* Every v1 hierarchy, as runc places a container: the cgroup namespace made next roots each
     at the container's own group, so the cgroup file systems it mounts show its limits and
     nothing of the host's tree. */
  struct cgroup_hierarchy hierarchies[CGROUP_MAX_HIERARCHIES];
  int hierarchy_count = cgroup_v1_hierarchies (hierarchies, CGROUP_MAX_HIERARCHIES);
  if (hierarchy_count < 0)
    goto skip;
  for (int i = 0; i < hierarchy_count; i++)
    {
      const char *name = hierarchies[i].name;
      char hierarchy[sizeof hierarchies[i].name + 16];
      snprintf (hierarchy, sizeof hierarchy, "/sys/fs/cgroup/%.63s", name);
      if (make_group (cgroup, hierarchy, group_name) < 0)
        goto skip;
      const char *group = cgroup->paths[cgroup->count - 1];
      int rc = 0;
      if (strstr (name, "cpuset") != NULL)
        {
          rc = inherit_cpuset (hierarchy, group);
          if (rc == 0 && spec->cpuset_cpus != NULL)
            rc = write_value (group, "cpuset.cpus", spec->cpuset_cpus);
          if (rc == 0 && spec->cpuset_mems != NULL)
            rc = write_value (group, "cpuset.mems", spec->cpuset_mems);
        }
      if (rc == 0 && strcmp (name, "memory") == 0 && spec->memory_limit >= 0)
        {
          snprintf (value, sizeof value, "%lld", spec->memory_limit);
          rc = write_value (group, "memory.limit_in_bytes", value);
          /* Memory and swap together, where the kernel accounts swap (runc skips it otherwise). */
          char memsw[PATH_MAX + 32];
          snprintf (memsw, sizeof memsw, "%s/memory.memsw.limit_in_bytes", group);
          struct stat memsw_st;
          snprintf (value, sizeof value, "%lld", spec->memory_swap);
          if (rc == 0 && spec->memory_swap != 0 && stat (memsw, &memsw_st) == 0)
            rc = write_value (group, "memory.memsw.limit_in_bytes", value);
        }
      if (rc == 0 && strcmp (name, "memory") == 0 && spec->memory_reservation >= 0)
        {
          snprintf (value, sizeof value, "%lld", spec->memory_reservation);
          rc = write_value (group, "memory.soft_limit_in_bytes", value);
        }
      if (rc == 0 && strcmp (name, "memory") == 0 && spec->memory_swappiness >= 0)
        {
          snprintf (value, sizeof value, "%lld", spec->memory_swappiness);
          rc = write_value (group, "memory.swappiness", value);
        }
      if (rc == 0 && strcmp (name, "memory") == 0 && spec->disable_oom_killer)
        rc = write_value (group, "memory.oom_control", "1");
      if (rc == 0 && strcmp (name, "blkio") == 0 && spec->blkio_weight > 0)
        {
          snprintf (value, sizeof value, "%u", spec->blkio_weight);
          /* CFQ's file, or BFQ's where that scheduler is the one. */
          char weight_file[PATH_MAX + 32];
          struct stat weight_st;
          snprintf (weight_file, sizeof weight_file, "%s/blkio.weight", group);
          rc = write_value (group, stat (weight_file, &weight_st) == 0 ? "blkio.weight" : "blkio.bfq.weight", value);
        }
      if (rc == 0 && strcmp (name, "devices") == 0 && spec->device_cgroup && apply_device_rules (group, spec) < 0)
        {
          /* The mounts keep their device nodes on the strength of this cgroup: no skipping it. */
          int saved = errno;
          cgroup_remove (cgroup);
          cgroup_init (cgroup);
          return shim_fail (err, saved, "write", group, "set the container's device cgroup");
        }
      if (rc == 0 && strcmp (name, "blkio") == 0 && spec->blkio_device_count > 0)
        rc = apply_blkio_devices_v1 (group, spec);
      if (rc == 0 && strcmp (name, "pids") == 0 && spec->pids_limit >= 0)
        {
          snprintf (value, sizeof value, "%lld", spec->pids_limit);
          rc = write_value (group, "pids.max", value);
        }
      if (rc == 0 && cpu && (strcmp (name, "cpu") == 0 || strcmp (name, "cpu,cpuacct") == 0))
        {
          snprintf (value, sizeof value, "%llu", period);
          if (spec->cpu_quota > 0)
            rc = write_value (group, "cpu.cfs_period_us", value);
          snprintf (value, sizeof value, "%lld", spec->cpu_quota);
          if (rc == 0 && spec->cpu_quota > 0)
            rc = write_value (group, "cpu.cfs_quota_us", value);
          snprintf (value, sizeof value, "%llu", spec->cpu_shares);
          if (rc == 0 && spec->cpu_shares > 0)
            rc = write_value (group, "cpu.shares", value);
          /* The real-time share, period first, as runc: what the kernel refuses (a runtime the
             parent's budget lacks) fails the start with the file named, not skipped. */
          const char *rt_file = NULL;
          if (rc == 0 && spec->cpu_rt_period > 0)
            {
              snprintf (value, sizeof value, "%llu", spec->cpu_rt_period);
              rt_file = write_value (group, "cpu.rt_period_us", value) < 0 ? "cpu.rt_period_us" : NULL;
            }
          if (rc == 0 && rt_file == NULL && spec->cpu_rt_runtime != 0)
            {
              snprintf (value, sizeof value, "%lld", spec->cpu_rt_runtime);
              rt_file = write_value (group, "cpu.rt_runtime_us", value) < 0 ? "cpu.rt_runtime_us" : NULL;
            }
          if (rt_file != NULL)
            {
              int saved = errno;
              char path[PATH_MAX + 32];
              snprintf (path, sizeof path, "%s/%s", group, rt_file);
              cgroup_remove (cgroup);
              cgroup_init (cgroup);
              return shim_fail (err, saved, "write", path, "failed to write \"%s\"", value);
            }
        }
      if (rc < 0)
        goto skip;
    }
  /* The process joins them itself (cgroup_join_v1): moving another process, or a whole
     thread group, takes the kernel's global threadgroup lock and waits out an RCU grace
     period (10 ms and more here), which a single thread moving itself does not. */
  cgroup->join_in_child = cgroup->count > 0;
  return 0;
skip:
  if (spec->device_cgroup)
    {
      int saved = errno;
      cgroup_remove (cgroup);
      cgroup_init (cgroup);
      return shim_fail (err, saved, "mkdir", NULL, "make the container's device cgroup");
    }
  /* Without limits the process keeps its caller's cgroups, as where none can be made. */
  if (limited)
    shim_warning ("memory, pids, cpu and block I/O limits skipped: cgroup not writable here (%s)", strerror (errno));
  cgroup_remove (cgroup);
  cgroup_init (cgroup);
  return 0;
}

int
cgroup_join_v1 (const char *group_name)
{
  struct cgroup_hierarchy hierarchies[CGROUP_MAX_HIERARCHIES];
  int count = cgroup_v1_hierarchies (hierarchies, CGROUP_MAX_HIERARCHIES);
  if (count < 0)
    return -1;
  for (int i = 0; i < count; i++)
    {
      char group[PATH_MAX];
      snprintf (group, sizeof group, "/sys/fs/cgroup/%.63s/%s", hierarchies[i].name, group_name);
      /* "0" in tasks: this thread, the process's only one. */
      if (write_value (group, "tasks", "0") < 0)
        return -1;
    }
  return 0;
}

void
cgroup_remove (const struct cgroup *cgroup)
{
  for (int i = 0; i < cgroup->count; i++)
    rmdir (cgroup->paths[i]);
}
