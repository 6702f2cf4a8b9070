/*
 * `exec`: a process in a running container. The runtime enters the namespaces of the
 * container's first process that differ from its own (its user namespace first), forks (a pid
 * namespace takes effect for children), and the child becomes the config's process as `run`
 * makes one: working directory, rlimits, groups, ids, capabilities, no_new_privs. The parent
 * passes signals on and exits with the child's status. The child also joins the container's
 * cgroups, so that its limits count it.
 */
#include "exec.h"
#include "terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"

static volatile sig_atomic_t exec_child;

static void
pass_on (int sig)
{
  if (exec_child > 0)
    kill ((pid_t) exec_child, sig);
}

static const int passed_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

/* The user namespace comes first: it gives the rights to enter the others. */
static const struct
{
  const char *name;
  int type;
} namespaces[] = {
  { "user", CLONE_NEWUSER }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS }, { "net", CLONE_NEWNET },
  { "pid", CLONE_NEWPID },   { "cgroup", CLONE_NEWCGROUP }, { "mnt", CLONE_NEWNS },
};

/* Moves this process into TARGET's cgroup of each v1 hierarchy (or the unified one), where it
   may write; a hierarchy it may not write is left as it is (rootless, no delegation). */
static void
join_cgroups (pid_t target)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/cgroup", (int) target);
  FILE *file = fopen (path, "re");
  if (file == NULL)
    return;
  char line[4096];
  while (fgets (line, sizeof line, file) != NULL)
    {
      line[strcspn (line, "\n")] = '\0';
      char *controllers = strchr (line, ':');
      char *where = controllers == NULL ? NULL : strchr (controllers + 1, ':');
      if (where == NULL || where[1] != '/')
        continue;
      *where++ = '\0';
      controllers++;
      char procs[4096 + 64];
      if (*controllers == '\0')
        {
          /* The unified hierarchy holds containers only where it is the host's only one; a
             hybrid host's (/sys/fs/cgroup/unified) has none of tsbuild's groups. */
          struct stat st;
          if (stat ("/sys/fs/cgroup/cgroup.controllers", &st) < 0)
            continue;
          snprintf (procs, sizeof procs, "/sys/fs/cgroup%s/cgroup.procs", where);
        }
      else
        {
          /* A named hierarchy (name=systemd) is mounted under its name. This process has one
             thread: moved through tasks, it spares the kernel's global threadgroup lock and its
             RCU grace period (see cgroup.c). */
          const char *directory = strncmp (controllers, "name=", 5) == 0 ? controllers + 5 : controllers;
          snprintf (procs, sizeof procs, "/sys/fs/cgroup/%s%s/tasks", directory, where);
        }
      int fd = open (procs, O_WRONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      if (write (fd, "0\n", 2) < 0)
        {
          /* Not ours to join: the process stays where it is. */
        }
      close (fd);
    }
  fclose (file);
}

int
container_exec (const struct spec *spec, pid_t target, const char *console_socket, struct shim_error *err)
{
  /* Not dumpable, and so the child it forks: from its fork in the container's pid namespace
     until its execve (which makes the program dumpable again), a process of the container would
     otherwise read its memory, environment (the caller's) and descriptors through /proc, or
     attach to it while it still holds every capability (runc CVE-2016-9962). */
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    return shim_fail (err, errno, "prctl", NULL, "make the runtime not dumpable");
  /* A terminal of its own, never the caller's: a process handed the caller's terminal could push
     input into it (TIOCSTI) that the caller's shell runs after the exec ends. The socket is
     connected before the namespaces change, and the pair comes from the container's /dev/ptmx. */
  int console = -1;
  if (spec->terminal && (console = terminal_connect (console_socket, err)) < 0)
    return -1;
  int fds[sizeof namespaces / sizeof namespaces[0]];
  for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
    {
      char theirs[64], ours[64];
      snprintf (theirs, sizeof theirs, "/proc/%d/ns/%s", (int) target, namespaces[i].name);
      snprintf (ours, sizeof ours, "/proc/self/ns/%s", namespaces[i].name);
      struct stat their_info, our_info;
      fds[i] = -1;
      if (stat (theirs, &their_info) < 0)
        {
          for (size_t j = 0; j < i; j++)
            if (fds[j] >= 0)
              close (fds[j]);
          if (console >= 0)
            close (console);
          return shim_fail (err, errno, "stat", theirs, "find the container's process %d", (int) target);
        }
      /* Entering a namespace one is in already is refused where a parent user namespace owns it. */
      if (stat (ours, &our_info) == 0 && our_info.st_ino == their_info.st_ino && our_info.st_dev == their_info.st_dev)
        continue;
      fds[i] = open (theirs, O_RDONLY | O_CLOEXEC);
      if (fds[i] < 0)
        return shim_fail (err, errno, "open", theirs, "open the container's %s namespace", namespaces[i].name);
    }
  join_cgroups (target);
  for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
    {
      if (fds[i] < 0)
        continue;
      int rc = setns (fds[i], namespaces[i].type);
      int saved = errno;
      close (fds[i]);
      fds[i] = -1;
      if (rc < 0)
        {
          for (size_t j = i + 1; j < sizeof namespaces / sizeof namespaces[0]; j++)
            if (fds[j] >= 0)
              close (fds[j]);
          return shim_fail (err, saved, "setns", namespaces[i].name, "enter the container's %s namespace", namespaces[i].name);
        }
    }

  char slave[PATH_MAX] = "";
  int master = -1;
  if (console >= 0 && terminal_open (console, spec->console_height, spec->console_width, &master, slave, sizeof slave, err) < 0)
    return -1;

  sigset_t passed, previous;
  sigemptyset (&passed);
  for (size_t i = 0; i < sizeof passed_signals / sizeof passed_signals[0]; i++)
    sigaddset (&passed, passed_signals[i]);
  sigprocmask (SIG_BLOCK, &passed, &previous);
  int report[2];
  if (pipe2 (report, O_CLOEXEC) < 0)
    return shim_fail (err, errno, "pipe2", NULL, "make the error pipe");
  pid_t child = fork ();
  if (child < 0)
    return shim_fail (err, errno, "fork", NULL, "start the process in the container");
  if (child == 0)
    {
      close (report[0]);
      sigprocmask (SIG_SETMASK, &previous, NULL);
      /* As run does: only 0-2 reach the process, and none is open when the cwd is entered (a
         cwd of /proc/self/fd/N would otherwise reach the host through it). */
      /* The terminal's master stays until terminal_attach has the slave open: closed before, its
         number could be the slave's, which terminal_attach would then close. */
      int keep[2] = { report[1], master };
      close_other_fds (keep, master >= 0 ? 2 : 1, 0);
      struct shim_error child_err = { 0 };
      /* A session of its own, as run's process (container.c): its `kill 0` stays in the container. */
      if (master < 0 && setsid () < 0)
        shim_fail (&child_err, errno, "setsid", NULL, "make the process a session leader");
      else if ((master < 0 || terminal_attach_path (master, slave, &child_err) == 0) && process_prepare (spec, false, &child_err) == 0)
        {
          /* Ends with the runtime: a caller that kills it (a health check past its timeout)
             must not leave the process running. Set after the change of ids, which clears it. */
          prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
          process_exec (spec, &child_err);
        }
      /* The raw struct, as container.c's child sends it: both ends are this binary. */
      if (write (report[1], &child_err, sizeof child_err) < 0)
        _exit (125);
      _exit (125);
    }
  close (report[1]);
  /* The child holds the slave; the caller holds the master it was sent. */
  if (master >= 0)
    close (master);
  exec_child = child;
  struct sigaction action;
  memset (&action, 0, sizeof action);
  action.sa_handler = pass_on;
  for (size_t i = 0; i < sizeof passed_signals / sizeof passed_signals[0]; i++)
    sigaction (passed_signals[i], &action, NULL);
  sigprocmask (SIG_SETMASK, &previous, NULL);

  /* The child's own failure to start arrives as its error on the pipe, closed by its execve. */
  struct shim_error child_err = { 0 };
  int got = shim_error_read (report[0], &child_err);
  close (report[0]);
  int status;
  while (waitpid (child, &status, 0) < 0)
    if (errno != EINTR)
      return shim_fail (err, errno, "waitpid", NULL, "wait for the process in the container");
  if (got > 0)
    {
      *err = child_err;
      return -1;
    }
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return WEXITSTATUS (status);
}
