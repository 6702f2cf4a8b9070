#include "state.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

const char *
state_default_root (void)
{
  static char path[PATH_MAX];
  if (geteuid () == 0)
    return "/run/tsbuild-runtime";
  const char *runtime_dir = getenv ("XDG_RUNTIME_DIR");
  if (runtime_dir != NULL && runtime_dir[0] == '/')
    snprintf (path, sizeof path, "%s/tsbuild-runtime", runtime_dir);
  else
    snprintf (path, sizeof path, "/tmp/tsbuild-runtime-%u", (unsigned) geteuid ());
  return path;
}

static bool
valid_id (const char *id)
{
  if (id[0] == '\0' || strlen (id) > 200 || strcmp (id, ".") == 0 || strcmp (id, "..") == 0)
    return false;
  for (const char *p = id; *p != '\0'; p++)
    if (!isalnum ((unsigned char) *p) && *p != '-' && *p != '_' && *p != '.')
      return false;
  return true;
}

static int
directory_of (const char *root, const char *id, char *out, size_t size, struct shim_error *err)
{
  if (!valid_id (id))
    return shim_fail (err, EINVAL, "", id, "container id must be letters, digits, '-', '_' and '.'");
  snprintf (out, size, "%s/%s", root, id);
  return 0;
}

int
state_prepare (const char *root, const char *id, const char *bundle, struct container_state *state, int *fifo, struct shim_error *err)
{
  memset (state, 0, sizeof *state);
  if (directory_of (root, id, state->directory, sizeof state->directory, err) < 0)
    return -1;
  if (mkdir (root, 0700) < 0 && errno != EEXIST)
    return shim_fail (err, errno, "mkdir", root, "create the state directory");
  if (mkdir (state->directory, 0700) < 0)
    return shim_fail (err, errno, "mkdir", state->directory, errno == EEXIST ? "container %s exists" : "create the state of %s", id);
  snprintf (state->id, sizeof state->id, "%s", id);
  if (realpath (bundle, state->bundle) == NULL)
    snprintf (state->bundle, sizeof state->bundle, "%s", bundle);
  char path[PATH_MAX];
  snprintf (path, sizeof path, "%s/exec.fifo", state->directory);
  if (mkfifo (path, 0600) < 0)
    return shim_fail (err, errno, "mkfifo", path, "create the exec fifo");
  *fifo = open (path, O_PATH | O_CLOEXEC);
  if (*fifo < 0)
    return shim_fail (err, errno, "open", path, "open the exec fifo");
  return 0;
}

/* Field 22 of /proc/PID/stat: tells a process from a later one that reuses its pid. */
static unsigned long long
start_time (pid_t pid)
{
  char path[64], buffer[1024];
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read (fd, buffer, sizeof buffer - 1);
  close (fd);
  if (n <= 0)
    return 0;
  buffer[n] = '\0';
  char *p = strrchr (buffer, ')');
  if (p == NULL)
    return 0;
  unsigned long long value = 0;
  int field = 2;
  for (char *token = strtok (p + 1, " "); token != NULL; token = strtok (NULL, " "))
    if (++field == 22)
      {
        value = strtoull (token, NULL, 10);
        break;
      }
  return value;
}

int
state_commit (const struct container_state *state, pid_t pid, const struct cgroup *cgroup, struct shim_error *err)
{
  char path[PATH_MAX], temporary[PATH_MAX], bundle[PATH_MAX * 2], cgroups[PATH_MAX * 4] = "", escaped[PATH_MAX * 2];
  json_escape (bundle, sizeof bundle, state->bundle);
  for (int i = 0; i < cgroup->count; i++)
    {
      json_escape (escaped, sizeof escaped, cgroup->paths[i]);
      snprintf (cgroups + strlen (cgroups), sizeof cgroups - strlen (cgroups), "%s\"%s\"", i == 0 ? "" : ",", escaped);
    }
  time_t now = time (NULL);
  char created[64];
  strftime (created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime (&now));
  snprintf (path, sizeof path, "%s/state.json", state->directory);
  snprintf (temporary, sizeof temporary, "%s/state.json.tmp", state->directory);
  FILE *f = fopen (temporary, "we");
  if (f == NULL)
    return shim_fail (err, errno, "open", temporary, "write the container state");
  fprintf (f, "{\"ociVersion\":\"1.0.2\",\"id\":\"%s\",\"pid\":%d,\"startTime\":%llu,\"bundle\":\"%s\",\"created\":\"%s\",\"cgroups\":[%s]}\n", state->id, (int) pid,
           start_time (pid), bundle, created, cgroups);
  if (fclose (f) != 0 || rename (temporary, path) < 0)
    return shim_fail (err, errno, "rename", path, "write the container state");
  return 0;
}

static int
remove_tree (const char *directory)
{
  char path[PATH_MAX];
  const char *names[] = { "exec.fifo", "state.json", "state.json.tmp" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    {
      snprintf (path, sizeof path, "%s/%s", directory, names[i]);
      unlink (path);
    }
  return rmdir (directory);
}

void
state_remove (const char *root, const char *id)
{
  char directory[PATH_MAX - 64]; /* room for a file name within PATH_MAX */
  struct shim_error ignored;
  if (directory_of (root, id, directory, sizeof directory, &ignored) == 0)
    remove_tree (directory);
}

struct loaded {
  char directory[PATH_MAX - 64]; /* room for a file name within PATH_MAX */
  struct json *json;
  pid_t pid;
  const char *status;
};

static int
load (const char *root, const char *id, struct loaded *out, struct shim_error *err)
{
  memset (out, 0, sizeof *out);
  if (directory_of (root, id, out->directory, sizeof out->directory, err) < 0)
    return -1;
  char path[PATH_MAX], text[16384], message[256];
  snprintf (path, sizeof path, "%s/state.json", out->directory);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return shim_fail (err, errno, "open", path, errno == ENOENT ? "container %s does not exist" : "read the state of %s", id);
  ssize_t n = read (fd, text, sizeof text - 1);
  close (fd);
  if (n <= 0)
    return shim_fail (err, EIO, "read", path, "read the state of %s", id);
  out->json = json_parse (text, (size_t) n, message, sizeof message);
  if (out->json == NULL)
    return shim_fail (err, EINVAL, "", path, "corrupt state: %s", message);
  const struct json *pid = json_get (out->json, "pid");
  const struct json *started = json_get (out->json, "startTime");
  out->pid = json_is (pid, JSON_NUMBER) ? (pid_t) pid->number : 0;
  bool alive = out->pid > 0 && kill (out->pid, 0) == 0 && (!json_is (started, JSON_NUMBER) || start_time (out->pid) == (unsigned long long) started->number);
  /* A zombie is dead for this purpose. */
  if (alive)
    {
      char stat_path[64], buffer[512] = "";
      snprintf (stat_path, sizeof stat_path, "/proc/%d/stat", (int) out->pid);
      int sfd = open (stat_path, O_RDONLY | O_CLOEXEC);
      if (sfd >= 0)
        {
          ssize_t m = read (sfd, buffer, sizeof buffer - 1);
          close (sfd);
          char *p = m > 0 ? strrchr (buffer, ')') : NULL;
          if (p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
            alive = false;
        }
    }
  snprintf (path, sizeof path, "%s/exec.fifo", out->directory);
  struct stat st;
  out->status = !alive ? "stopped" : stat (path, &st) == 0 ? "created" : "running";
  return 0;
}

int
command_start (const char *root, const char *id, struct shim_error *err)
{
  struct loaded c;
  if (load (root, id, &c, err) < 0)
    return -1;
  json_free (c.json);
  if (strcmp (c.status, "created") != 0)
    return shim_fail (err, EINVAL, "", id, "cannot start a container that is %s", c.status);
  char path[PATH_MAX];
  snprintf (path, sizeof path, "%s/exec.fifo", c.directory);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return shim_fail (err, errno, "open", path, "start %s", id);
  char byte;
  ssize_t n = read (fd, &byte, 1);
  close (fd);
  unlink (path);
  if (n != 1)
    return shim_fail (err, EIO, "read", path, "start %s: the container's process went away", id);
  return 0;
}

int
command_state (const char *root, const char *id, struct shim_error *err)
{
  struct loaded c;
  if (load (root, id, &c, err) < 0)
    return -1;
  const char *bundle = json_string (json_get (c.json, "bundle"));
  const char *created = json_string (json_get (c.json, "created"));
  char escaped_bundle[PATH_MAX * 2], escaped_id[512];
  json_escape (escaped_bundle, sizeof escaped_bundle, bundle == NULL ? "" : bundle);
  json_escape (escaped_id, sizeof escaped_id, id);
  printf ("{\n  \"ociVersion\": \"1.0.2\",\n  \"id\": \"%s\",\n  \"status\": \"%s\",\n  \"pid\": %d,\n  \"bundle\": \"%s\",\n  \"created\": \"%s\"\n}\n", escaped_id, c.status,
          strcmp (c.status, "stopped") == 0 ? 0 : (int) c.pid, escaped_bundle, created == NULL ? "" : created);
  json_free (c.json);
  return 0;
}

static int
signal_number (const char *name)
{
  static const struct { const char *name; int number; } names[] = {
    { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
    { "TERM", SIGTERM }, { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "WINCH", SIGWINCH }, { "ALRM", SIGALRM }, { "PIPE", SIGPIPE },
  };
  if (name == NULL)
    return SIGTERM;
  char *end;
  long number = strtol (name, &end, 10);
  if (*end == '\0' && number > 0 && number < 65)
    return (int) number;
  if (strncasecmp (name, "SIG", 3) == 0)
    name += 3;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp (name, names[i].name) == 0)
      return names[i].number;
  return -1;
}

int
command_kill (const char *root, const char *id, const char *signal_name, struct shim_error *err)
{
  int sig = signal_number (signal_name);
  if (sig < 0)
    return shim_fail (err, EINVAL, "", signal_name, "unknown signal");
  struct loaded c;
  if (load (root, id, &c, err) < 0)
    return -1;
  json_free (c.json);
  if (strcmp (c.status, "stopped") == 0)
    return shim_fail (err, ESRCH, "kill", id, "container %s is not running", id);
  if (kill (c.pid, sig) < 0)
    return shim_fail (err, errno, "kill", id, "signal container %s", id);
  return 0;
}

int
command_delete (const char *root, const char *id, bool force, struct shim_error *err)
{
  struct loaded c;
  if (load (root, id, &c, err) < 0)
    return -1;
  if (strcmp (c.status, "stopped") != 0)
    {
      if (!force)
        {
          json_free (c.json);
          return shim_fail (err, EBUSY, "", id, "container %s is %s: stop it or use --force", id, c.status);
        }
      kill (c.pid, SIGKILL);
      /* Wait (5 s at most) for it to go, so that its cgroups can be removed. */
      for (int i = 0; i < 500; i++)
        {
          struct loaded again;
          struct shim_error ignored;
          bool stopped = load (root, id, &again, &ignored) < 0 || strcmp (again.status, "stopped") == 0;
          json_free (again.json);
          if (stopped)
            break;
          struct timespec pause = { 0, 10 * 1000 * 1000 };
          nanosleep (&pause, NULL);
        }
    }
  const struct json *cgroups = json_get (c.json, "cgroups");
  for (size_t i = 0; json_is (cgroups, JSON_ARRAY) && i < cgroups->length; i++)
    if (json_string (cgroups->items[i]) != NULL)
      rmdir (json_string (cgroups->items[i]));
  json_free (c.json);
  if (remove_tree (c.directory) < 0)
    return shim_fail (err, errno, "rmdir", c.directory, "remove the state of %s", id);
  return 0;
}
