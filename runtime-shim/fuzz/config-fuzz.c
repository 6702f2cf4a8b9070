/* libFuzzer target: the text of a config.json through spec_parse (and so json_parse), and a
   failure through the error line main writes. See README.md in this folder. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/config.h"
#include "../src/error.h"

static char bundle[PATH_MAX];
static int null_fd = -1;

static void
free_strings (char **list, size_t count)
{
  for (size_t i = 0; list != NULL && i < count; i++)
    free (list[i]);
  free (list);
}

static size_t
count_strings (char **list)
{
  size_t n = 0;
  while (list != NULL && list[n] != NULL)
    n++;
  return n;
}

/* The runtime never frees its spec (it execs or exits); the fuzzer runs millions in one process. */
static void
release (struct spec *spec)
{
  free_strings (spec->args, count_strings (spec->args));
  free_strings (spec->env, count_strings (spec->env));
  free (spec->cwd);
  free (spec->additional_gids);
  free (spec->rlimits);
  free (spec->hostname);
  free (spec->root_path);
  for (size_t i = 0; spec->mounts != NULL && i < spec->mount_count + 1; i++)
    {
      free (spec->mounts[i].destination);
      free (spec->mounts[i].type);
      free (spec->mounts[i].source);
      free (spec->mounts[i].data);
    }
  free (spec->mounts);
  for (size_t i = 0; i < spec->namespace_count; i++)
    free (spec->namespaces[i].path);
  free (spec->uid_mappings);
  free (spec->gid_mappings);
  free_strings (spec->masked_paths, spec->masked_path_count);
  free_strings (spec->readonly_paths, spec->readonly_path_count);
  free (spec->cpuset_cpus);
  free (spec->cpuset_mems);
  free_strings (spec->sysctl_keys, spec->sysctl_count);
  free_strings (spec->sysctl_values, spec->sysctl_count);
  free (spec->rootfs_overlay);
  free (spec->seccomp_filter);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  /* A bundle with a rootfs, so that "root": {"path": "rootfs"} resolves as in a real run. */
  snprintf (bundle, sizeof bundle, "/tmp/tsbuild-config-fuzz-%d", (int) getpid ());
  char rootfs[PATH_MAX + 16];
  snprintf (rootfs, sizeof rootfs, "%s/rootfs", bundle);
  mkdir (bundle, 0700);
  mkdir (rootfs, 0700);
  null_fd = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* spec_load hands spec_parse a NUL-terminated buffer; so does this. */
  char *text = malloc (size + 1);
  if (text == NULL)
    return 0;
  memcpy (text, data, size);
  text[size] = '\0';
  struct spec spec;
  struct shim_error err;
  memset (&err, 0, sizeof err);
  if (spec_parse (text, size, bundle, "config.json", &spec, &err) < 0)
    shim_error_write (null_fd, &err);
  release (&spec);
  free (text);
  return 0;
}
