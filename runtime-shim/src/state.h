#ifndef TSBUILD_RUNTIME_STATE_H
#define TSBUILD_RUNTIME_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"
#include "error.h"

struct container_state {
  char directory[PATH_MAX - 64]; /* room for a file name within PATH_MAX */
  char id[256];
  char bundle[PATH_MAX];
};

/* The state directory when --root is not given: /run/tsbuild-runtime as root, else under XDG_RUNTIME_DIR. */
const char *state_default_root (void);

/* create: makes ROOT/ID with its exec fifo (opened as O_PATH in *fifo); fails if ID exists. */
int state_prepare (const char *root, const char *id, const char *bundle, struct container_state *state, int *fifo, struct shim_error *err);
/* create: records pid (with its start time, against pid reuse) and cgroups in state.json. */
int state_commit (const struct container_state *state, pid_t pid, const struct cgroup *cgroup, struct shim_error *err);
void state_remove (const char *root, const char *id);

int command_start (const char *root, const char *id, struct shim_error *err);
int command_state (const char *root, const char *id, struct shim_error *err);
int command_kill (const char *root, const char *id, const char *signal_name, struct shim_error *err);
int command_delete (const char *root, const char *id, bool force, struct shim_error *err);

#endif
