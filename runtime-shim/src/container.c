#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "network.h"
#include "process.h"
#include "rootfs.h"
#include "state.h"
#include "terminal.h"

/* process.oomScoreAdj, as runc writes it: /proc/self/oom_score_adj. */
static int
write_oom_score_adj (int value, struct shim_error *err)
{
  char text[16];
  int length = snprintf (text, sizeof text, "%d", value);
  int fd = open ("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write (fd, text, (size_t) length) != length)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      return shim_fail (err, saved, "write", "/proc/self/oom_score_adj", "set the process's OOM score adjustment");
    }
  close (fd);
  return 0;
}

/* Messages on the report pipe from the container's side, each one tag byte. */
#define REPORT_ERROR 'E'
#define REPORT_READY 'R'

struct child_args {
  const struct spec *spec;
  const struct launch_options *options;
  int go_read;        /* the parent writes one byte once id maps and cgroups are set */
  int go_write;       /* the parent's end, closed first by the child: a parent gone is EOF */
  int report_read;    /* the parent's end, closed first by the child */
  int report_write;   /* close-on-exec: EOF without a message means execve succeeded */
  int exec_fifo;      /* create: O_PATH descriptor of the fifo that `start` opens, else -1 */
  bool user_namespace;
  bool cgroup_namespace; /* a new one, made once the parent placed the process in its cgroups */
};

static void
report_error (int fd, const struct shim_error *err)
{
  char tag = REPORT_ERROR;
  if (write (fd, &tag, 1) == 1 && write (fd, err, sizeof *err) < 0)
    return;
}

static volatile sig_atomic_t forwarded_pid;

static void
forward_signal (int sig)
{
  if (forwarded_pid > 0)
    kill ((pid_t) forwarded_pid, sig);
}

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

/* The forwarded signals, blocked from before clone until forwarding is in place: a signal
   sent to the runtime while the container starts is then delivered to it, not lost or fatal. */
static void
block_forwarded (int how)
{
  sigset_t set;
  sigemptyset (&set);
  for (size_t i = 0; i < sizeof forwarded_signals / sizeof forwarded_signals[0]; i++)
    sigaddset (&set, forwarded_signals[i]);
  sigprocmask (how, &set, NULL);
}

static void
install_forwarding (pid_t pid)
{
  struct sigaction action;
  memset (&action, 0, sizeof action);
  action.sa_handler = forward_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset (&action.sa_mask);
  forwarded_pid = pid;
  for (size_t i = 0; i < sizeof forwarded_signals / sizeof forwarded_signals[0]; i++)
    sigaction (forwarded_signals[i], &action, NULL);
}

static int
exit_status_of (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 255;
}

static char *command_line_start;
static size_t command_line_size;

void
container_command_line_region (char *start, size_t size)
{
  command_line_start = start;
  command_line_size = size;
}

/* The init's command line as the container sees it (ps, /proc/1/cmdline): "tsbuild-init --
   ARGS", as docker's reads "/sbin/docker-init -- ARGS", cut at the last word that fits. */
static void
show_init_command_line (char *const *args)
{
  if (command_line_start == NULL || command_line_size == 0)
    return;
  memset (command_line_start, 0, command_line_size);
  const char *const lead[] = { "tsbuild-init", "--" };
  size_t at = 0;
  for (size_t i = 0;; i++)
    {
      const char *word = i < 2 ? lead[i] : args == NULL ? NULL : args[i - 2];
      if (word == NULL)
        break;
      size_t length = strlen (word) + 1;
      if (at + length > command_line_size)
        break;
      memcpy (command_line_start + at, word, length);
      at += length;
    }
}

/*
 * PID 1 duties, when asked for: the process runs as a child of a minimal init that forwards
 * signals to it, reaps every orphan, and exits with the process's status.
 */
static int
run_as_init (const struct spec *spec, int report_write, struct shim_error *err)
{
  pid_t child = fork ();
  if (child < 0)
    return shim_fail (err, errno, "fork", NULL, "start the process under the container's init");
  if (child == 0)
    {
      for (size_t i = 0; i < sizeof forwarded_signals / sizeof forwarded_signals[0]; i++)
        signal (forwarded_signals[i], SIG_DFL);
      process_exec (spec, err);
      report_error (report_write, err);
      _exit (127);
    }
  close (report_write);
  install_forwarding (child);
  prctl (PR_SET_NAME, "tsbuild-init", 0, 0, 0);
  show_init_command_line (spec->args);
  for (;;)
    {
      int status;
      pid_t done = waitpid (-1, &status, 0);
      if (done < 0 && errno == EINTR)
        continue;
      if (done < 0)
        _exit (255);
      if (done == child)
        _exit (exit_status_of (status));
    }
}

static int
child_main (void *opaque)
{
  struct child_args *a = opaque;
  const struct spec *spec = a->spec;
  struct shim_error err;
  /* The parent's ends of the setup pipes, copied by clone: held here, the go pipe's write end
     would keep the wait below from ever seeing EOF when the parent dies before its byte (killed
     with its caller, a build's), and the process would wait for ever. */
  close (a->go_write);
  close (a->report_read);
  /* The container's process starts with the signal mask its caller had. */
  block_forwarded (SIG_UNBLOCK);
  memset (&err, 0, sizeof err);
  char byte;

  for (size_t i = 0; i < spec->namespace_count; i++)
    if (spec->namespaces[i].path != NULL && spec->namespaces[i].flag != CLONE_NEWPID && spec->namespaces[i].flag != CLONE_NEWUSER)
      {
        int fd = open (spec->namespaces[i].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns (fd, spec->namespaces[i].flag) < 0)
          {
            shim_fail (&err, errno, "setns", spec->namespaces[i].path, "join a namespace");
            goto fail;
          }
        close (fd);
      }
  if (read (a->go_read, &byte, 1) != 1)
    _exit (1);
  close (a->go_read);
  /* Not dumpable until its execve (which makes the program dumpable again): a process of a pid
     namespace it joins (--pid container:NAME) would otherwise read its memory, environment (the
     caller's) and descriptors through /proc, or attach to it while it still holds every
     capability (runc CVE-2016-9962). Only now: newuidmap, run by the parent before the go
     byte, refuses a process that is not dumpable. */
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    {
      shim_fail (&err, errno, "prctl", NULL, "make the runtime not dumpable");
      goto fail;
    }
  char group[PATH_MAX - 64];
  cgroup_group (a->spec, a->options->id, group, sizeof group);
  if (byte == 'j' && cgroup_join_v1 (group) < 0)
    {
      shim_fail (&err, errno, "write", NULL, "join the container's cgroups");
      goto fail;
    }
  /* As runc does: the namespace's root is the container's own cgroup, so that the cgroup file
     systems it mounts show its limits at their top, not its parent's tree. */
  if (a->cgroup_namespace && unshare (CLONE_NEWCGROUP) < 0)
    {
      shim_fail (&err, errno, "unshare", NULL, "create the container's cgroup namespace");
      goto fail;
    }
  if (a->user_namespace && (setresgid (0, 0, 0) < 0 || setresuid (0, 0, 0) < 0))
    {
      shim_fail (&err, errno, "setresuid", NULL, "become root in the user namespace (is id 0 mapped?)");
      goto fail;
    }
  /* After the change of ids, which clears it; process_prepare sets it again after its own. */
  if (spec->kill_with_parent && prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    {
      shim_fail (&err, errno, "prctl", NULL, "be killed with the runtime");
      goto fail;
    }
  if (spec->hostname != NULL && spec->hostname[0] != '\0' && spec_has_namespace (spec, CLONE_NEWUTS, NULL) && sethostname (spec->hostname, strlen (spec->hostname)) < 0)
    {
      shim_fail (&err, errno, "sethostname", spec->hostname, "set the hostname");
      goto fail;
    }
  if (spec->domainname != NULL && spec->domainname[0] != '\0' && spec_has_namespace (spec, CLONE_NEWUTS, NULL) && setdomainname (spec->domainname, strlen (spec->domainname)) < 0)
    {
      shim_fail (&err, errno, "setdomainname", spec->domainname, "set the domain name");
      goto fail;
    }
  /* Inherited by what it execs; written while the process is still the runtime's root (a value
     below the current one needs CAP_SYS_RESOURCE, as with runc). */
  if (spec->has_oom_score_adj && write_oom_score_adj (spec->oom_score_adj, &err) < 0)
    goto fail;
  if (spec_has_namespace (spec, CLONE_NEWNET, NULL) && network_loopback_up (&err) < 0)
    goto fail;

  /* A session and process group of its own, as runc and crun start every process (with a
     terminal, terminal_attach makes it): a `kill 0` or a signal to the process group then stays
     in the container, where one in its caller's group would reach the runtime and whatever
     started it (a build step's `trap 'kill 0' EXIT` killed the build). */
  if (!spec->terminal && setsid () < 0)
    {
      shim_fail (&err, errno, "setsid", NULL, "make the process a session leader");
      goto fail;
    }
  int console_socket = -1;
  int console_fd = -1;
  /* The host's terminal, made before the root changes: the one the process gets only where its
     /dev has no devpts of its own (a volume on /dev hides the one the spec mounts). */
  char host_slave[PATH_MAX] = "";
  int host_master = -1;
  int host_slave_fd = -1;
  if (spec->terminal)
    {
      if ((console_socket = terminal_connect (a->options->console_socket, &err)) < 0
          || terminal_new (spec->console_height, spec->console_width, &host_master, host_slave, sizeof host_slave, &err) < 0)
        goto fail;
      if ((host_slave_fd = open (host_slave, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
        {
          shim_fail (&err, errno, "open", host_slave, "open the terminal");
          goto fail;
        }
    }
  if (spec_has_namespace (spec, CLONE_NEWNS, NULL) && rootfs_setup (spec, a->user_namespace, spec->terminal ? host_slave : NULL, &console_fd, &err) < 0)
    goto fail;
  /* The terminal comes from the container's own /dev/ptmx once the root has changed, as runc
     makes it: its process sees /dev/pts/0 (`tty`, ps's TTY), with /dev/console bound on it. */
  if (spec->terminal)
    {
      char slave_path[PATH_MAX] = "";
      int master = -1;
      int slave = -1;
      struct shim_error own = { 0 };
      bool through_console = false;
      if (spec_has_namespace (spec, CLONE_NEWNS, NULL) && terminal_new (spec->console_height, spec->console_width, &master, slave_path, sizeof slave_path, &own) == 0
          && (slave = open (slave_path, O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
        {
          close (host_master);
          close (host_slave_fd);
        }
      else
        {
          if (master >= 0)
            close (master);
          master = host_master;
          slave = host_slave_fd;
          snprintf (slave_path, sizeof slave_path, "%s", host_slave);
          /* Already bound on /dev/console, before the root changed. */
          through_console = console_fd >= 0;
          if (console_fd >= 0)
            close (console_fd);
          console_fd = -1;
        }
      if (terminal_send (console_socket, master, &err) < 0 || terminal_attach (master, slave, slave_path, console_fd, through_console, &err) < 0)
        goto fail;
    }

  /* Only 0-2 (and the preserved ones) may reach the process; the report pipe is close-on-exec. */
  int keep[2] = { a->report_write, a->exec_fifo };
  close_other_fds (keep, a->exec_fifo >= 0 ? 2 : 1, a->options->preserve_fds);
  if (process_prepare (spec, a->user_namespace, &err) < 0)
    goto fail;

  if (a->exec_fifo >= 0)
    {
      /* Created: tell the parent, then block until `start` opens the fifo for reading. */
      char tag = REPORT_READY;
      if (write (a->report_write, &tag, 1) != 1)
        _exit (1);
      char fifo[64];
      snprintf (fifo, sizeof fifo, "/proc/self/fd/%d", a->exec_fifo);
      int fd = open (fifo, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write (fd, "0", 1) != 1)
        _exit (1);
      close (fd);
      close (a->exec_fifo);
    }
  if (spec->init && spec_has_namespace (spec, CLONE_NEWPID, NULL))
    return run_as_init (spec, a->report_write, &err);
  process_exec (spec, &err);
fail:
  report_error (a->report_write, &err);
  _exit (127);
}

static int
write_file (const char *path, const char *data, struct shim_error *err)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return shim_fail (err, errno, "open", path, "write an id map");
  ssize_t n = write (fd, data, strlen (data));
  int saved = errno;
  close (fd);
  if (n != (ssize_t) strlen (data))
    return shim_fail (err, saved, "write", path, "write %s", data);
  return 0;
}

static int
run_helper (char *const argv[], struct shim_error *err)
{
  pid_t pid = fork ();
  if (pid < 0)
    return shim_fail (err, errno, "fork", argv[0], "run %s", argv[0]);
  if (pid == 0)
    {
      execvp (argv[0], argv);
      _exit (127);
    }
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return shim_fail (err, errno, "waitpid", argv[0], "run %s", argv[0]);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return shim_fail (err, EPERM, "exec", argv[0], "%s failed (status %d): check the ranges in /etc/subuid and /etc/subgid", argv[0], WIFEXITED (status) ? WEXITSTATUS (status) : -1);
  return 0;
}

/* Writes uid_map and gid_map: directly when allowed, through newuidmap/newgidmap otherwise. */
static int
write_id_maps (const struct spec *spec, pid_t pid, struct shim_error *err)
{
  bool root = geteuid () == 0;
  const struct id_mapping *maps[2] = { spec->uid_mappings, spec->gid_mappings };
  size_t counts[2] = { spec->uid_mapping_count, spec->gid_mapping_count };
  const char *files[2] = { "uid_map", "gid_map" };
  const char *helpers[2] = { "newuidmap", "newgidmap" };
  unsigned long own[2] = { geteuid (), getegid () };
  for (int kind = 1; kind >= 0; kind--)
    {
      char path[64], text[4096] = "";
      snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, files[kind]);
      bool direct = root || (counts[kind] == 1 && maps[kind][0].size == 1 && maps[kind][0].host_id == own[kind]);
      if (counts[kind] == 0)
        {
          /* No mapping given: the caller becomes root inside, as `unshare -r` does. */
          snprintf (text, sizeof text, "0 %lu 1\n", own[kind]);
          direct = true;
        }
      if (direct)
        {
          if (kind == 1 && !root)
            {
              char setgroups[64];
              snprintf (setgroups, sizeof setgroups, "/proc/%d/setgroups", (int) pid);
              if (write_file (setgroups, "deny", err) < 0)
                return -1;
            }
          /* Whole or not at all: cut at the buffer (the kernel's own limit, a page), the map
             would silently lose its last lines, or end in a line of other numbers. */
          for (size_t i = 0; i < counts[kind]; i++)
            {
              size_t used = strlen (text);
              int wrote = snprintf (text + used, sizeof text - used, "%lu %lu %lu\n", maps[kind][i].container_id, maps[kind][i].host_id, maps[kind][i].size);
              if (wrote < 0 || (size_t) wrote >= sizeof text - used)
                return shim_fail (err, E2BIG, "", path, "linux.%s: %zu mappings do not fit in one write of %s", kind == 0 ? "uidMappings" : "gidMappings", counts[kind], files[kind]);
            }
          if (write_file (path, text, err) < 0)
            return -1;
          continue;
        }
      enum { max_helper_mappings = 16 };
      char *argv[3 + 3 * max_helper_mappings + 1];
      char numbers[3 * max_helper_mappings][24];
      char pid_text[24];
      int argc = 0;
      /* Refused rather than passed on in part (newuidmap would map the first ones only). */
      if (counts[kind] > max_helper_mappings)
        return shim_fail (err, E2BIG, "", helpers[kind], "linux.%s: %zu mappings, more than the %d passed to %s", kind == 0 ? "uidMappings" : "gidMappings", counts[kind], (int) max_helper_mappings, helpers[kind]);
      snprintf (pid_text, sizeof pid_text, "%d", (int) pid);
      argv[argc++] = (char *) helpers[kind];
      argv[argc++] = pid_text;
      for (size_t i = 0; i < counts[kind]; i++)
        {
          unsigned long values[3] = { maps[kind][i].container_id, maps[kind][i].host_id, maps[kind][i].size };
          for (int v = 0; v < 3; v++)
            {
              snprintf (numbers[i * 3 + (size_t) v], sizeof numbers[0], "%lu", values[v]);
              argv[argc++] = numbers[i * 3 + (size_t) v];
            }
        }
      argv[argc] = NULL;
      if (run_helper (argv, err) < 0)
        return -1;
    }
  return 0;
}

static int
write_pid_file (const char *path, pid_t pid, struct shim_error *err)
{
  char temporary[PATH_MAX], text[24];
  snprintf (temporary, sizeof temporary, "%s.tmp%d", path, (int) getpid ());
  snprintf (text, sizeof text, "%d", (int) pid);
  int fd = open (temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write (fd, text, strlen (text)) != (ssize_t) strlen (text) || close (fd) < 0 || rename (temporary, path) < 0)
    return shim_fail (err, errno, "write", path, "write the pid file");
  return 0;
}

int
container_run (const struct spec *spec, const struct launch_options *options, struct shim_error *err)
{
  bool user_namespace = false, cgroup_namespace = false;
  const char *user_path = NULL, *pid_path = NULL;
  int flags = 0;
  for (size_t i = 0; i < spec->namespace_count; i++)
    {
      int flag = spec->namespaces[i].flag;
      if (spec->namespaces[i].path == NULL && flag == CLONE_NEWCGROUP)
        cgroup_namespace = true;
      else if (spec->namespaces[i].path == NULL)
        flags |= flag;
      if (flag == CLONE_NEWUSER)
        {
          user_namespace = true;
          user_path = spec->namespaces[i].path;
        }
      if (flag == CLONE_NEWPID)
        pid_path = spec->namespaces[i].path;
    }
  /* Joining a user or pid namespace must happen before the child exists. */
  if (user_path != NULL || pid_path != NULL)
    {
      const char *paths[2] = { user_path, pid_path };
      int types[2] = { CLONE_NEWUSER, CLONE_NEWPID };
      for (int i = 0; i < 2; i++)
        {
          if (paths[i] == NULL)
            continue;
          int fd = open (paths[i], O_RDONLY | O_CLOEXEC);
          if (fd < 0 || setns (fd, types[i]) < 0)
            return shim_fail (err, errno, "setns", paths[i], "join a namespace");
          close (fd);
        }
    }

  /* A build's step dies with the build: killed, even with SIGKILL, it must not leave the step's
     processes running with no one to wait for them. The runtime dies with its caller, and the
     container's first process with the runtime (its pid namespace with it). */
  if (spec->kill_with_parent && !options->detach)
    {
      pid_t caller = getppid ();
      if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        return shim_fail (err, errno, "prctl", NULL, "be killed with the caller");
      if (getppid () != caller)
        return shim_fail (err, ESRCH, "", NULL, "the caller is gone");
    }

  struct container_state state;
  int exec_fifo = -1;
  if (options->detach && state_prepare (options->state_root, options->id, options->bundle, &state, &exec_fifo, err) < 0)
    return -1;

  int go[2], report[2];
  if (pipe2 (go, O_CLOEXEC) < 0 || pipe2 (report, O_CLOEXEC) < 0)
    return shim_fail (err, errno, "pipe2", NULL, "create the setup pipes");
  struct child_args args = { spec, options, go[0], go[1], report[0], report[1], exec_fifo, user_namespace, cgroup_namespace };
  size_t stack_size = 1024 * 1024;
  char *stack = malloc (stack_size);
  if (stack == NULL)
    return shim_fail (err, ENOMEM, "malloc", NULL, "allocate the child's stack");
  block_forwarded (SIG_BLOCK);
  pid_t pid = clone (child_main, stack + stack_size, flags | SIGCHLD, &args);
  if (pid < 0)
    {
      block_forwarded (SIG_UNBLOCK);
      return shim_fail (err, errno, "clone", NULL, "create the container's namespaces");
    }
  if (!options->detach)
    install_forwarding (pid);
  block_forwarded (SIG_UNBLOCK);
  close (go[0]);
  close (report[1]);
  if (exec_fifo >= 0)
    close (exec_fifo);

  struct cgroup cgroup;
  cgroup_init (&cgroup);
  bool failed = false;
  if (user_namespace && user_path == NULL && write_id_maps (spec, pid, err) < 0)
    failed = true;
  if (!failed && cgroup_apply (&cgroup, options->id, spec, pid, err) < 0)
    failed = true;
  /* 'j': the child joins the groups made for it itself (v1); 'g': it is where it belongs. */
  if (!failed && write (go[1], cgroup.join_in_child ? "j" : "g", 1) != 1)
    failed = shim_fail (err, errno, "write", NULL, "start the container's setup") < 0;
  close (go[1]);
  if (!failed)
    {
      char tag;
      ssize_t n;
      while ((n = read (report[0], &tag, 1)) < 0 && errno == EINTR)
        ;
      if (n == 1 && tag == REPORT_ERROR)
        {
          shim_error_read (report[0], err);
          failed = true;
        }
    }
  close (report[0]);
  if (failed)
    {
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
      cgroup_remove (&cgroup);
      if (options->detach)
        state_remove (options->state_root, options->id);
      return -1;
    }
  if (options->pid_file != NULL && write_pid_file (options->pid_file, pid, err) < 0)
    {
      kill (pid, SIGKILL);
      return -1;
    }
  if (options->detach)
    return state_commit (&state, pid, &cgroup, err) < 0 ? -1 : 0;

  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return shim_fail (err, errno, "waitpid", NULL, "wait for the container's process");
  cgroup_remove (&cgroup);
  return exit_status_of (status);
}
