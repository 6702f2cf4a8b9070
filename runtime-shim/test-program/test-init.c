/*
 * A static program for runtime tests: each subcommand prints one JSON document about the
 * process as the container sees it, so that no distribution image is needed.
 *
 *   test-init ids | caps | env | cwd | hostname | mounts | rlimits | pid | session | stdio-owner | nnp | fds | netdevs | seccomp
 *   test-init exit N | kill-self N | sleep-until-signal | zombies | write FILE | open-exe PID
 *   test-init console-receiver SOCKET   (on the host: takes a terminal from --console-socket)
 *   test-init tty                        (in the container: whether stdio is a terminal)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void
print_string (const char *s)
{
  putchar ('"');
  for (const unsigned char *p = (const unsigned char *) s; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        printf ("\\%c", *p);
      else if (*p < 0x20)
        printf ("\\u%04x", *p);
      else
        putchar (*p);
    }
  putchar ('"');
}

static int
ids (void)
{
  gid_t groups[256];
  int n = getgroups (256, groups);
  printf ("{\"uid\":%u,\"gid\":%u,\"euid\":%u,\"egid\":%u,\"groups\":[", getuid (), getgid (), geteuid (), getegid ());
  for (int i = 0; i < n; i++)
    printf ("%s%u", i == 0 ? "" : ",", groups[i]);
  printf ("]}\n");
  return 0;
}

/* Lines of /proc/self/status that start with one of the prefixes, as a JSON object. */
static int
status_fields (const char *const *prefixes, size_t count)
{
  FILE *f = fopen ("/proc/self/status", "re");
  char line[512];
  int first = 1;
  if (f == NULL)
    return 1;
  printf ("{");
  while (fgets (line, sizeof line, f) != NULL)
    for (size_t i = 0; i < count; i++)
      if (strncmp (line, prefixes[i], strlen (prefixes[i])) == 0)
        {
          char *value = strchr (line, ':');
          if (value == NULL)
            continue;
          *value++ = '\0';
          while (*value == ' ' || *value == '\t')
            value++;
          value[strcspn (value, "\n")] = '\0';
          printf ("%s", first ? "" : ",");
          first = 0;
          print_string (line);
          putchar (':');
          print_string (value);
        }
  printf ("}\n");
  fclose (f);
  return 0;
}

static int
env (void)
{
  printf ("[");
  for (char **e = environ; *e != NULL; e++)
    {
      printf ("%s", e == environ ? "" : ",");
      print_string (*e);
    }
  printf ("]\n");
  return 0;
}

static int
cwd (void)
{
  char path[4096];
  if (getcwd (path, sizeof path) == NULL)
    return 1;
  print_string (path);
  printf ("\n");
  return 0;
}

static int
hostname (void)
{
  char name[256];
  if (gethostname (name, sizeof name) < 0)
    return 1;
  print_string (name);
  printf ("\n");
  return 0;
}

/* Mount point, filesystem type and the options that matter (ro, nosuid, nodev, noexec). */
static int
mounts (void)
{
  FILE *f = fopen ("/proc/self/mountinfo", "re");
  char line[4096];
  int first = 1;
  if (f == NULL)
    return 1;
  printf ("[");
  while (fgets (line, sizeof line, f) != NULL)
    {
      char *fields[16];
      int n = 0;
      for (char *token = strtok (line, " \n"); token != NULL && n < 16; token = strtok (NULL, " \n"))
        fields[n++] = token;
      int dash = -1;
      for (int i = 6; i < n; i++)
        if (strcmp (fields[i], "-") == 0)
          {
            dash = i;
            break;
          }
      if (n < 7 || dash < 0 || dash + 1 >= n)
        continue;
      const char *options = fields[5];
      printf ("%s{\"target\":", first ? "" : ",");
      first = 0;
      print_string (fields[4]);
      printf (",\"type\":");
      print_string (fields[dash + 1]);
      printf (",\"ro\":%s,\"nosuid\":%s,\"nodev\":%s,\"noexec\":%s}", strstr (options, "ro") == options ? "true" : "false", strstr (options, "nosuid") ? "true" : "false",
              strstr (options, "nodev") ? "true" : "false", strstr (options, "noexec") ? "true" : "false");
    }
  printf ("]\n");
  fclose (f);
  return 0;
}

static int
rlimits (void)
{
  static const struct { const char *name; int resource; } names[] = {
    { "NOFILE", RLIMIT_NOFILE }, { "NPROC", RLIMIT_NPROC }, { "CORE", RLIMIT_CORE }, { "STACK", RLIMIT_STACK }, { "MEMLOCK", RLIMIT_MEMLOCK },
  };
  printf ("{");
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    {
      struct rlimit limit;
      getrlimit (names[i].resource, &limit);
      printf ("%s\"%s\":[%lld,%lld]", i == 0 ? "" : ",", names[i].name, limit.rlim_cur == RLIM_INFINITY ? -1LL : (long long) limit.rlim_cur,
              limit.rlim_max == RLIM_INFINITY ? -1LL : (long long) limit.rlim_max);
    }
  printf ("}\n");
  return 0;
}

static int
fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;
  int first = 1;
  if (dir == NULL)
    return 1;
  printf ("[");
  while ((entry = readdir (dir)) != NULL)
    {
      if (entry->d_name[0] == '.' || atoi (entry->d_name) == dirfd (dir))
        continue;
      char path[64], target[4096];
      snprintf (path, sizeof path, "/proc/self/fd/%d", atoi (entry->d_name));
      ssize_t n = readlink (path, target, sizeof target - 1);
      target[n < 0 ? 0 : n] = '\0';
      printf ("%s{\"fd\":%s,\"target\":", first ? "" : ",", entry->d_name);
      print_string (target);
      printf ("}");
      first = 0;
    }
  printf ("]\n");
  closedir (dir);
  return 0;
}

static int
netdevs (void)
{
  FILE *f = fopen ("/proc/net/dev", "re");
  char line[512];
  int first = 1, number = 0;
  if (f == NULL)
    return 1;
  printf ("[");
  while (fgets (line, sizeof line, f) != NULL)
    {
      if (++number <= 2)
        continue;
      char *colon = strchr (line, ':');
      if (colon == NULL)
        continue;
      *colon = '\0';
      char *name = line;
      while (*name == ' ')
        name++;
      printf ("%s", first ? "" : ",");
      print_string (name);
      first = 0;
    }
  printf ("]\n");
  fclose (f);
  return 0;
}

static volatile sig_atomic_t received;

static void
on_signal (int sig)
{
  received = sig;
}

static int
sleep_until_signal (void)
{
  int signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT };
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    signal (signals[i], on_signal);
  /* Tells the test it may send the signal now. */
  printf ("ready\n");
  fflush (stdout);
  for (int i = 0; i < 600 && received == 0; i++)
    {
      struct timespec pause = { 0, 100 * 1000 * 1000 };
      nanosleep (&pause, NULL);
    }
  printf ("{\"signal\":%d}\n", (int) received);
  return received == 0 ? 1 : 0;
}

/* The state letter of a process from /proc/PID/stat, or 0 when it no longer exists. */
static char
process_state (pid_t pid)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  FILE *f = fopen (path, "r");
  if (f == NULL)
    return 0;
  char buf[512];
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  /* The command name may hold spaces and parentheses: the state follows the last ')'. */
  char *close = strrchr (buf, ')');
  return close != NULL && close[1] == ' ' ? close[2] : 0;
}

/*
 * Makes an orphan: a grandchild whose parent exits first, then exits itself. Reports which pid
 * it was re-parented to and whether that process reaped it within half a second (a program
 * that is PID 1 itself never does: its orphans stay zombies; an init in front of it does).
 */
static int
zombies (void)
{
  int report[2];
  if (pipe (report) < 0)
    return 1;
  pid_t child = fork ();
  if (child < 0)
    return 1;
  if (child == 0)
    {
      pid_t parent = getpid ();
      pid_t grandchild = fork ();
      if (grandchild == 0)
        {
          /* Waits (up to 2 s) until its parent is gone, so that it is an orphan for sure. */
          for (int i = 0; i < 200 && getppid () == parent; i++)
            {
              struct timespec pause = { 0, 10 * 1000 * 1000 };
              nanosleep (&pause, NULL);
            }
          int fields[2] = { (int) getpid (), (int) getppid () };
          if (write (report[1], fields, sizeof fields) != (ssize_t) sizeof fields)
            _exit (1);
          _exit (0);
        }
      _exit (grandchild < 0 ? 1 : 0);
    }
  close (report[1]);
  int status = 0;
  waitpid (child, &status, 0);
  int fields[2] = { 0, 0 };
  if (read (report[0], fields, sizeof fields) != (ssize_t) sizeof fields)
    return 1;
  const char *fate = "zombie";
  for (int i = 0; i < 50; i++)
    {
      char state = process_state ((pid_t) fields[0]);
      if (state == 0)
        {
          fate = "reaped";
          break;
        }
      struct timespec pause = { 0, 10 * 1000 * 1000 };
      nanosleep (&pause, NULL);
    }
  printf ("{\"self\":%d,\"orphanParent\":%d,\"orphan\":\"%s\"}\n", (int) getpid (), fields[1], fate);
  return 0;
}

/*
 * Listens on a unix socket for the terminal a runtime sends with --console-socket, then copies
 * what the container writes to it to stdout until the container closes it.
 */
static int
console_receiver (const char *path)
{
  int listener = socket (AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un address;
  memset (&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  snprintf (address.sun_path, sizeof address.sun_path, "%s", path);
  unlink (path);
  if (listener < 0 || bind (listener, (struct sockaddr *) &address, sizeof address) < 0 || listen (listener, 1) < 0)
    return 1;
  printf ("listening\n");
  fflush (stdout);
  int connection = accept (listener, NULL, NULL);
  if (connection < 0)
    return 1;
  char data[64];
  char control[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { data, sizeof data };
  struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  if (recvmsg (connection, &message, 0) < 0)
    return 1;
  struct cmsghdr *cmsg = CMSG_FIRSTHDR (&message);
  if (cmsg == NULL || cmsg->cmsg_type != SCM_RIGHTS)
    return 1;
  int master;
  memcpy (&master, CMSG_DATA (cmsg), sizeof master);
  char buffer[4096];
  ssize_t n;
  /* EIO is how a pty master sees the last slave descriptor close. */
  while ((n = read (master, buffer, sizeof buffer)) > 0)
    fwrite (buffer, 1, (size_t) n, stdout);
  return 0;
}

/* The errno of raw syscalls a seccomp filter decides on (0: it went through), each undone
   where it succeeded; the calls a capability check refuses anyway are not among them. */
static int
seccomp_answers (void)
{
  static const struct
  {
    const char *name;
    long number;
    long arg0;
  } calls[] = {
    { "unshare_user", SYS_unshare, 0x10000000 /* CLONE_NEWUSER */ },
    { "keyctl", SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */ },
    { "clone3", SYS_clone3, 0 },
    { "io_uring_setup", SYS_io_uring_setup, 1 },
    { "getpid", SYS_getpid, 0 },
  };
  printf ("{");
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
    {
      int answer = 0;
      if (calls[i].number == SYS_unshare || calls[i].number == SYS_clone3)
        {
          /* In a child, so that a namespace it gets leaves this process as it was. */
          pid_t child = fork ();
          if (child == 0)
            {
              long result = calls[i].number == SYS_clone3 ? syscall (SYS_clone3, NULL, 0) : syscall (SYS_unshare, calls[i].arg0);
              _exit (result < 0 ? errno : 0);
            }
          int status = 0;
          waitpid (child, &status, 0);
          answer = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
        }
      else
        {
          char params[120];
          memset (params, 0, sizeof params);
          long result = calls[i].number == SYS_keyctl ? syscall (SYS_keyctl, 0, -2 /* KEY_SPEC_PROCESS_KEYRING */, 0)
                        : calls[i].number == SYS_io_uring_setup ? syscall (SYS_io_uring_setup, 1, params)
                        : syscall (calls[i].number);
          answer = result < 0 ? errno : 0;
          if (result > 0 && calls[i].number == SYS_io_uring_setup)
            close ((int) result);
        }
      printf ("%s\"%s\":%d", i == 0 ? "" : ",", calls[i].name, answer);
    }
  printf ("}\n");
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: test-init SUBCOMMAND\n");
      return 2;
    }
  const char *command = argv[1];
  static const char *const caps[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
  static const char *const nnp[] = { "NoNewPrivs" };
  static const char *const pid[] = { "Pid", "PPid", "NSpid" };
  /* 0 for a session or group led from outside the pid namespace. */
  static const char *const session[] = { "NSpgid", "NSsid" };
  if (strcmp (command, "ids") == 0)
    return ids ();
  if (strcmp (command, "caps") == 0)
    return status_fields (caps, 5);
  if (strcmp (command, "nnp") == 0)
    return status_fields (nnp, 1);
  if (strcmp (command, "pid") == 0)
    return status_fields (pid, 3);
  if (strcmp (command, "session") == 0)
    return status_fields (session, 2);
  if (strcmp (command, "env") == 0)
    return env ();
  if (strcmp (command, "cwd") == 0)
    return cwd ();
  if (strcmp (command, "hostname") == 0)
    return hostname ();
  if (strcmp (command, "mounts") == 0)
    return mounts ();
  if (strcmp (command, "rlimits") == 0)
    return rlimits ();
  if (strcmp (command, "fds") == 0)
    return fds ();
  if (strcmp (command, "netdevs") == 0)
    return netdevs ();
  if (strcmp (command, "seccomp") == 0)
    return seccomp_answers ();
  if (strcmp (command, "exit") == 0 && argc > 2)
    return atoi (argv[2]);
  if (strcmp (command, "kill-self") == 0 && argc > 2)
    {
      signal (atoi (argv[2]), SIG_DFL);
      kill (getpid (), atoi (argv[2]));
      return 0;
    }
  if (strcmp (command, "sleep-until-signal") == 0)
    return sleep_until_signal ();
  if (strcmp (command, "zombies") == 0)
    return zombies ();
  if (strcmp (command, "stdio-owner") == 0)
    {
      /* Who owns each standard stream (a pipe's owner decides who may open it again through
         /proc/self/fd), and whether it opens again. */
      printf ("[");
      for (int fd = 0; fd < 3; fd++)
        {
          struct stat st;
          char link[32];
          snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
          int reopened = open (link, fd == 0 ? O_RDONLY : O_WRONLY);
          int reopen_errno = reopened < 0 ? errno : 0;
          if (reopened >= 0)
            close (reopened);
          if (fstat (fd, &st) < 0)
            printf ("%s{\"errno\":%d}", fd == 0 ? "" : ",", errno);
          else
            printf ("%s{\"fifo\":%s,\"uid\":%u,\"gid\":%u,\"reopen\":%d}", fd == 0 ? "" : ",", S_ISFIFO (st.st_mode) ? "true" : "false", (unsigned) st.st_uid, (unsigned) st.st_gid, reopen_errno);
        }
      printf ("]\n");
      return 0;
    }
  if (strcmp (command, "write") == 0 && argc > 2)
    {
      /* Tries to write a file; prints the errno (0 on success). */
      int fd = open (argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int result = fd < 0 ? errno : (write (fd, "x", 1) == 1 ? 0 : errno);
      printf ("{\"errno\":%d}\n", result);
      return 0;
    }
  if (strcmp (command, "probe") == 0)
    {
      /* What the process holds, asked of the kernel itself rather than of /proc (which a root
         filesystem may fake): open descriptors below 1024, supplementary groups, bounding set. */
      printf ("{\"fds\":[");
      for (int fd = 0, first = 1; fd < 1024; fd++)
        if (fcntl (fd, F_GETFD) >= 0)
          {
            printf ("%s%d", first ? "" : ",", fd);
            first = 0;
          }
      gid_t groups[256];
      int n = getgroups (256, groups);
      printf ("],\"groups\":[");
      for (int i = 0; i < n; i++)
        printf ("%s%u", i == 0 ? "" : ",", groups[i]);
      unsigned long long bounding = 0;
      for (int cap = 0; cap < 64; cap++)
        if (prctl (PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
          bounding |= 1ULL << cap;
      printf ("],\"bounding\":\"%llx\"}\n", bounding);
      return 0;
    }
  if (strcmp (command, "stat") == 0 && argc > 2)
    {
      /* What each path is, as lstat sees it: its type letter and device numbers, or its errno. */
      printf ("{");
      for (int i = 2; i < argc; i++)
        {
          struct stat st;
          int rc = lstat (argv[i], &st);
          const char *type = rc < 0 ? "" : S_ISCHR (st.st_mode) ? "c" : S_ISREG (st.st_mode) ? "f" : S_ISDIR (st.st_mode) ? "d" : S_ISLNK (st.st_mode) ? "l" : "o";
          printf ("%s\"%s\":{\"errno\":%d,\"type\":\"%s\",\"rdev\":\"%u:%u\"}", i == 2 ? "" : ",", argv[i], rc < 0 ? errno : 0, type,
                  rc < 0 ? 0 : major (st.st_rdev), rc < 0 ? 0 : minor (st.st_rdev));
        }
      printf ("}\n");
      return 0;
    }
  if (strcmp (command, "console-receiver") == 0 && argc > 2)
    return console_receiver (argv[2]);
  if (strcmp (command, "tty") == 0)
    {
      printf ("{\"stdin\":%s,\"stdout\":%s,\"name\":\"%s\"}\n", isatty (0) ? "true" : "false", isatty (1) ? "true" : "false", ttyname (1) == NULL ? "" : ttyname (1));
      return 0;
    }
  if (strcmp (command, "open-exe") == 0 && argc > 2)
    {
      /* Tries to open /proc/PID/exe for writing: the runtime's own binary must stay out of reach. */
      char path[64];
      snprintf (path, sizeof path, "/proc/%s/exe", argv[2]);
      int fd = open (path, O_WRONLY);
      printf ("{\"errno\":%d}\n", fd < 0 ? errno : 0);
      return 0;
    }
  fprintf (stderr, "test-init: unknown subcommand %s\n", command);
  return 2;
}
