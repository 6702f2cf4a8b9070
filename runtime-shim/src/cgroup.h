#ifndef TSBUILD_RUNTIME_CGROUP_H
#define TSBUILD_RUNTIME_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "error.h"

/* cgroup v1 hierarchies a host mounts: about a dozen controllers and named ones. */
#define CGROUP_MAX_HIERARCHIES 16

struct cgroup {
  char paths[CGROUP_MAX_HIERARCHIES][PATH_MAX];  /* the directories made for this container (one per v1 hierarchy) */
  int count;
  bool join_in_child;  /* v1: the process joins them itself (cgroup_join_v1) before it runs */
};

/* A cgroup v1 hierarchy the host mounts at /sys/fs/cgroup/NAME, with its controllers (the
   mount's options, "name=systemd" among them). */
struct cgroup_hierarchy {
  char name[64];
  char controllers[256];
};

/* The v1 hierarchies of /proc/self/mountinfo (cgroup2's is not one), at most MAX; -1 when it
   cannot be read. */
int cgroup_v1_hierarchies (struct cgroup_hierarchy *out, int max);

void cgroup_init (struct cgroup *cgroup);
/*
 * Applies memory, pids and cpu limits: cgroup v2 where /sys/fs/cgroup is unified, the v1 memory,
 * pids and cpu hierarchies otherwise. Where the hierarchy is not writable (rootless without delegation)
 * the limits are skipped with a warning; the container still runs.
 */
int cgroup_apply (struct cgroup *cgroup, const char *id, const struct spec *spec, pid_t pid, struct shim_error *err);
/* The container's group in each hierarchy: linux.cgroupsPath, or tsbuild/ID. */
void cgroup_group (const struct spec *spec, const char *id, char *out, size_t size);
/* Moves the calling single-threaded process into GROUP (cgroup_group's) of every v1 hierarchy. */
int cgroup_join_v1 (const char *group);
void cgroup_remove (const struct cgroup *cgroup);

#endif
