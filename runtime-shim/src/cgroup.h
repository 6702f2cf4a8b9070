#ifndef TSBUILD_RUNTIME_CGROUP_H
#define TSBUILD_RUNTIME_CGROUP_H

#include <limits.h>
#include <sys/types.h>

#include "config.h"
#include "error.h"

struct cgroup {
  char paths[3][PATH_MAX];  /* the directories made for this container (memory, pids, cpu on v1) */
  int count;
};

void cgroup_init (struct cgroup *cgroup);
/*
 * Applies memory, pids and cpu limits: cgroup v2 where /sys/fs/cgroup is unified, the v1 memory,
 * pids and cpu hierarchies otherwise. Where the hierarchy is not writable (rootless without delegation)
 * the limits are skipped with a warning; the container still runs.
 */
int cgroup_apply (struct cgroup *cgroup, const char *id, const struct spec *spec, pid_t pid, struct shim_error *err);
void cgroup_remove (const struct cgroup *cgroup);

#endif
