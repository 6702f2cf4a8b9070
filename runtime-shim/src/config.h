/* The part of the OCI runtime spec (config.json) this runtime implements, read into C. */
#ifndef TSBUILD_RUNTIME_CONFIG_H
#define TSBUILD_RUNTIME_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct mount_spec {
  char *destination;
  char *type;
  char *source;
  unsigned long flags;        /* MS_* applied at mount time */
  unsigned long propagation;  /* MS_PRIVATE, MS_SHARED ... (with MS_REC), applied after */
  bool bind;
  char *data;                 /* options that are not flags, comma-joined */
};

struct id_mapping {
  unsigned long container_id, host_id, size;
};

struct rlimit_spec {
  int resource;
  unsigned long long soft, hard;
};

struct namespace_spec {
  int flag;     /* CLONE_NEW* */
  char *path;   /* join this one instead of making a new one; NULL otherwise */
};

enum capability_set { CAP_SET_BOUNDING, CAP_SET_EFFECTIVE, CAP_SET_INHERITABLE, CAP_SET_PERMITTED, CAP_SET_AMBIENT, CAP_SET_COUNT };

/* The kinds of linux.resources.blockIO's per-device entries: each a cgroup file of its own. */
enum blkio_kind {
  BLKIO_WEIGHT,     /* weightDevice: weight */
  BLKIO_READ_BPS,   /* throttleReadBpsDevice: rate */
  BLKIO_WRITE_BPS,  /* throttleWriteBpsDevice */
  BLKIO_READ_IOPS,  /* throttleReadIOPSDevice */
  BLKIO_WRITE_IOPS, /* throttleWriteIOPSDevice */
};

struct blkio_device {
  enum blkio_kind kind;
  unsigned major, minor;
  unsigned long long value; /* the weight (10-1000) or the rate (0: no limit) */
};

struct spec {
  char **args;
  char **env;
  char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t *additional_gids;
  size_t additional_gid_count;
  bool has_umask;
  mode_t umask;
  bool terminal;
  unsigned short console_height, console_width; /* process.consoleSize; 0 when not given */
  bool no_new_privileges;
  bool has_capabilities;
  uint64_t capabilities[CAP_SET_COUNT];
  struct rlimit_spec *rlimits;
  size_t rlimit_count;
  char *hostname;
  char *domainname;
  bool has_oom_score_adj;
  int oom_score_adj;          /* process.oomScoreAdj, -1000..1000 */
  char *root_path;            /* absolute, resolved against the bundle */
  bool root_readonly;
  struct mount_spec *mounts;
  size_t mount_count;
  struct namespace_spec namespaces[8];
  size_t namespace_count;
  struct id_mapping *uid_mappings, *gid_mappings;
  size_t uid_mapping_count, gid_mapping_count;
  char **masked_paths;
  size_t masked_path_count;
  char **readonly_paths;
  size_t readonly_path_count;
  unsigned long rootfs_propagation;
  long long memory_limit;     /* bytes, -1 when not set */
  long long memory_swap;      /* memory and swap together, bytes; 0 when not set, -1 unlimited */
  long long memory_reservation; /* bytes, -1 when not set */
  long long pids_limit;       /* -1 when not set */
  long long memory_swappiness; /* 0-100, -1 when not set */
  bool disable_oom_killer;    /* linux.resources.memory.disableOOMKiller */
  unsigned blkio_weight;      /* linux.resources.blockIO.weight (10-1000), 0 when not set */
  struct blkio_device *blkio_devices; /* linux.resources.blockIO's per-device weights and throttles, in order */
  size_t blkio_device_count;
  long long cpu_quota;        /* microseconds per period, -1 when not set */
  unsigned long long cpu_period; /* microseconds, 0 when not set (100000) */
  unsigned long long cpu_shares; /* 0 when not set */
  char *cpuset_cpus;          /* linux.resources.cpu.cpus ("0-3,5"), NULL when not set */
  char *cpuset_mems;          /* linux.resources.cpu.mems, NULL when not set */
  unsigned long long cpu_rt_period; /* linux.resources.cpu.realtimePeriod, 0 when not set */
  long long cpu_rt_runtime;   /* linux.resources.cpu.realtimeRuntime, 0 when not set */
  char *cgroups_path;         /* linux.cgroupsPath without its leading /, NULL when not set (tsbuild/ID) */
  bool init;                  /* annotation run.oci.init / org.tsbuild.init: a PID 1 that reaps */
  bool kill_with_parent;      /* annotation org.tsbuild.kill-with-parent: the container dies with the runtime's caller */
  char *rootfs_overlay;       /* annotation org.tsbuild.rootfs.overlay: overlay options for root.path, or NULL */
  bool all_devices;           /* linux.resources.devices ends allowing every device: no nodev mounts */
  /* linux.resources.devices' rules naming devices ("c 1:3 rwm", allow or not), for a v1 device
     cgroup; device_cgroup: one is made (root, a writable v1 devices hierarchy), and then the
     mounts keep their device nodes as runc's do. */
  struct device_rule { bool allow; char text[64]; } *device_rules;
  size_t device_rule_count;
  bool device_cgroup;
  char **sysctl_keys;         /* linux.sysctl: names (net.ipv4.ip_forward) and values, in order */
  char **sysctl_values;
  size_t sysctl_count;
  unsigned char *seccomp_filter; /* annotation org.tsbuild.seccomp: struct sock_filter[], or NULL */
  size_t seccomp_filter_length;  /* instructions */
};

int spec_load (const char *bundle, struct spec *spec, struct shim_error *err);
/* spec_load's reading of the text of config.json; path names it in errors, bundle resolves a
   relative root.path. A separate entry so that runtime-shim/fuzz can drive it without files. */
int spec_parse (const char *text, size_t size, const char *bundle, const char *path, struct spec *spec, struct shim_error *err);
bool spec_has_namespace (const struct spec *spec, int flag, const char **path);
int capability_from_name (const char *name);
int last_capability (void);

#endif
