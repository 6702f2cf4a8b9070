/*
 * tsbuild-runtime: a small OCI runtime with the command line crun and runc share, for the
 * subset tsbuild uses. Errors: one JSON line on stderr and exit status 125 (see ERRORS.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "container.h"
#include "exec.h"
#include "error.h"
#include "state.h"

#define RUNTIME_VERSION "0.1.0"
#define EXIT_RUNTIME_ERROR 125

extern char **environ;

static void
usage (FILE *out)
{
  fprintf (out,
           "usage: tsbuild-runtime [--root DIR] COMMAND [OPTIONS] ID\n"
           "commands:\n"
           "  run     [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] [--preserve-fds N] ID\n"
           "  create  [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] [--preserve-fds N] ID\n"
           "  exec    --pid PID [--bundle DIR] [--console-socket SOCKET] ID   (the bundle's process, in the namespaces of PID)\n"
           "  start   ID\n"
           "  state   ID\n"
           "  kill    ID [SIGNAL]\n"
           "  delete  [--force] ID\n");
}

/*
 * Runs from a sealed in-memory copy of this binary: a process in the container that opens
 * /proc/PID/exe of the runtime (while it sets the container up) reaches the copy, which
 * cannot be written, never the binary on the host.
 */
static void
ensure_sealed (char **argv, struct shim_error *err)
{
  int self = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return;
  int seals = fcntl (self, F_GET_SEALS);
  if (seals >= 0 && (seals & F_SEAL_WRITE))
    {
      close (self);
      return;
    }
  struct stat st;
  int copy = memfd_create ("tsbuild-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (copy < 0 || fstat (self, &st) < 0)
    {
      shim_fail (err, errno, "memfd_create", "/proc/self/exe", "make a sealed copy of the runtime");
      shim_error_write (2, err);
      exit (EXIT_RUNTIME_ERROR);
    }
  off_t offset = 0;
  while (offset < st.st_size)
    {
      ssize_t n = sendfile (copy, self, &offset, (size_t) (st.st_size - offset));
      if (n <= 0)
        {
          shim_fail (err, errno, "sendfile", "/proc/self/exe", "copy the runtime");
          shim_error_write (2, err);
          exit (EXIT_RUNTIME_ERROR);
        }
    }
  close (self);
  if (fcntl (copy, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
    {
      shim_fail (err, errno, "fcntl", "memfd", "seal the copy of the runtime");
      shim_error_write (2, err);
      exit (EXIT_RUNTIME_ERROR);
    }
  fexecve (copy, argv, environ);
  shim_fail (err, errno, "fexecve", "memfd", "run the sealed copy of the runtime");
  shim_error_write (2, err);
  exit (EXIT_RUNTIME_ERROR);
}

static const char *
option_value (int argc, char **argv, int *i, const char *name)
{
  size_t len = strlen (name);
  if (strncmp (argv[*i], name, len) == 0 && argv[*i][len] == '=')
    return argv[*i] + len + 1;
  if (strcmp (argv[*i], name) == 0 && *i + 1 < argc)
    return argv[++*i];
  return NULL;
}

int
main (int argc, char **argv)
{
  struct shim_error err;
  memset (&err, 0, sizeof err);
  /* Read from the host's /proc now: once in a container's root or namespaces, /proc is the
     container's, which its root filesystem may fake. */
  (void) last_capability ();
  container_command_line_region (argv[0], (size_t) (argv[argc - 1] + strlen (argv[argc - 1]) + 1 - argv[0]));
  const char *root = NULL;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++)
    {
      const char *value;
      if (strcmp (argv[i], "--version") == 0 || strcmp (argv[i], "-v") == 0)
        {
          printf ("tsbuild-runtime version %s\nspec: 1.0.2\n", RUNTIME_VERSION);
          return 0;
        }
      if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        {
          usage (stdout);
          return 0;
        }
      if ((value = option_value (argc, argv, &i, "--root")) != NULL)
        root = value;
      else if (option_value (argc, argv, &i, "--log") != NULL || option_value (argc, argv, &i, "--log-format") != NULL)
        continue; /* accepted for compatibility with callers of runc; errors go to stderr */
      else if (strcmp (argv[i], "--debug") == 0 || strcmp (argv[i], "--systemd-cgroup") == 0)
        continue;
      else
        {
          shim_fail (&err, EINVAL, "", argv[i], "unknown global option");
          shim_error_write (2, &err);
          return EXIT_RUNTIME_ERROR;
        }
    }
  if (i >= argc)
    {
      usage (stderr);
      return EXIT_RUNTIME_ERROR;
    }
  const char *command = argv[i++];
  if (root == NULL)
    root = state_default_root ();

  struct launch_options options = { .bundle = ".", .state_root = root };
  bool force = false;
  pid_t exec_target = 0;
  const char *positional[2] = { NULL, NULL };
  int positional_count = 0;
  for (; i < argc; i++)
    {
      const char *value;
      if (argv[i][0] != '-' || positional_count > 0)
        {
          if (positional_count < 2)
            positional[positional_count++] = argv[i];
          continue;
        }
      if ((value = option_value (argc, argv, &i, "--bundle")) != NULL || (value = option_value (argc, argv, &i, "-b")) != NULL)
        options.bundle = value;
      else if ((value = option_value (argc, argv, &i, "--pid")) != NULL)
        exec_target = atoi (value);
      else if ((value = option_value (argc, argv, &i, "--pid-file")) != NULL)
        options.pid_file = value;
      else if ((value = option_value (argc, argv, &i, "--console-socket")) != NULL)
        options.console_socket = value;
      else if ((value = option_value (argc, argv, &i, "--preserve-fds")) != NULL)
        options.preserve_fds = atoi (value);
      else if (strcmp (argv[i], "--force") == 0 || strcmp (argv[i], "-f") == 0)
        force = true;
      else if (strcmp (argv[i], "--no-new-keyring") == 0 || strcmp (argv[i], "--all") == 0 || strcmp (argv[i], "-a") == 0)
        continue;
      else
        {
          shim_fail (&err, EINVAL, "", argv[i], "unknown option of %s", command);
          shim_error_write (2, &err);
          return EXIT_RUNTIME_ERROR;
        }
    }
  if (positional[0] == NULL)
    {
      shim_fail (&err, EINVAL, "", command, "a container id is required");
      shim_error_write (2, &err);
      return EXIT_RUNTIME_ERROR;
    }
  options.id = positional[0];

  int rc;
  if (strcmp (command, "run") == 0 || strcmp (command, "create") == 0)
    {
      ensure_sealed (argv, &err);
      struct spec spec;
      options.detach = strcmp (command, "create") == 0;
      if (spec_load (options.bundle, &spec, &err) < 0)
        rc = -1;
      else
        rc = container_run (&spec, &options, &err);
      if (rc >= 0)
        return rc;
    }
  else if (strcmp (command, "exec") == 0)
    {
      /* The process's config comes from --bundle's config.json; the container is found by the
         pid of its first process (--pid), which the caller (tsbuild's monitor) records. */
      ensure_sealed (argv, &err);
      struct spec spec;
      if (exec_target <= 0)
        rc = shim_fail (&err, EINVAL, "", "--pid", "exec needs --pid PID of the container's first process");
      else if (spec_load (options.bundle, &spec, &err) < 0)
        rc = -1;
      else
        rc = container_exec (&spec, exec_target, options.console_socket, &err);
      if (rc >= 0)
        return rc;
    }
  else if (strcmp (command, "start") == 0)
    rc = command_start (root, options.id, &err);
  else if (strcmp (command, "state") == 0)
    rc = command_state (root, options.id, &err);
  else if (strcmp (command, "kill") == 0)
    rc = command_kill (root, options.id, positional[1], &err);
  else if (strcmp (command, "delete") == 0)
    rc = command_delete (root, options.id, force, &err);
  else
    rc = shim_fail (&err, EINVAL, "", command, "unknown command");
  if (rc < 0)
    {
      shim_error_write (2, &err);
      return EXIT_RUNTIME_ERROR;
    }
  return 0;
}
