/*
 * tsbuild-context.node: the content hashes of a build context's files, made on libuv's thread
 * pool. A context is mostly small files; hashed on the main thread, a cold build's 2,000 of
 * them held the event loop for about 120 ms while the first steps waited for their turn.
 *
 * hashFiles(paths, inodes, devices) hashes each file as src/cache/context.ts does on the main
 * thread (its fallback when this addon does not load), with the same results: the file opened
 * without following a link, by the very path walked, the same inode and device the walk saw, xxh64 of its bytes under
 * seeds 0 and 0x9e3779b97f4a7c15 (Debian's libxxhash), and the index entry's stat key and
 * whether it may be kept. Resolves to { hashes, statKeys, stable, errors, calls }, one element
 * per path: errors[i] is 0, CHANGED (the path no longer leads to the walked file) or an errno
 * from calls[i].
 *
 * listDirectory (below) lists a directory of the walk with its entries' stats in one call, and
 * copyFiles copies a COPY's small files with their metadata on the thread pool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sendfile.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "napi-args.h"

#define CHANGED (-1)
#define READ_BYTES (1 << 20)

typedef struct {
  char *path;
  uint64_t inode, device;
  int error;
  const char *call;
  char hash[64];
  char stat_key[128];
  bool stable;
} file_hash_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  size_t count;
  file_hash_t *files;
  int failure; /* an allocation that failed on the pool thread */
} hash_job_t;

typedef struct {
  int64_t size, mtime_ns, ctime_ns;
  uint64_t inode, device;
  bool regular;
} file_stat_t;

/* As libuv fills Node's stats (statx, device by makedev), so that a key made here is the one Node's BigInt stats give. */
static int stat_fd(int fd, file_stat_t *out) {
  struct statx info;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &info) < 0) return errno;
  out->size = (int64_t)info.stx_size;
  out->mtime_ns = (int64_t)info.stx_mtime.tv_sec * 1000000000LL + info.stx_mtime.tv_nsec;
  out->ctime_ns = (int64_t)info.stx_ctime.tv_sec * 1000000000LL + info.stx_ctime.tv_nsec;
  out->inode = info.stx_ino;
  out->device = makedev(info.stx_dev_major, info.stx_dev_minor);
  out->regular = S_ISREG(info.stx_mode);
  return 0;
}

static void format_key(const file_stat_t *stat, char *key, size_t size) {
  snprintf(key, size, "%" PRId64 ":%" PRId64 ":%" PRId64 ":%" PRIu64 ":%" PRIu64, stat->size, stat->mtime_ns, stat->ctime_ns, stat->inode, stat->device);
}

/* context.ts's granularityNs: seconds-only file systems keep a ctime with no nanoseconds. */
static int64_t granularity_ns(int64_t ctime_ns) {
  return ctime_ns % 1000000000LL == 0 ? 2000000000LL : 100000000LL;
}

static int64_t now_ms_as_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return ((int64_t)now.tv_sec * 1000LL + now.tv_nsec / 1000000LL) * 1000000LL;
}

/*
 * tree.ts's openedAsWalked: the kernel's name for the open file is the walked path itself, not
 * wherever a link swapped in for a directory on the way led (paths given here are canonical).
 */
static bool opened_as(int fd, const char *path) {
  char link[64], opened[PATH_MAX + 1];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t length = readlink(link, opened, sizeof opened - 1);
  if (length < 0 || (size_t)length >= sizeof opened - 1) return false;
  opened[length] = '\0';
  return strcmp(opened, path) == 0;
}

/*
 * Opens PATH, the regular file a walk found with INODE and DEVICE, for reading: never through a
 * link, and only while it is that very file reached by that very path (opened_as). Returns the
 * descriptor and its stat in *STAT, or -1 with *ERROR (CHANGED, or an errno of *CALL).
 */
static int open_walked(const char *path, uint64_t inode, uint64_t device, file_stat_t *stat, int *error, const char **call) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *error = (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) ? CHANGED : errno;
    *call = "open";
    return -1;
  }
  int err = stat_fd(fd, stat);
  if (err != 0 || !stat->regular || stat->inode != inode || stat->device != device || !opened_as(fd, path)) {
    *error = err != 0 ? err : CHANGED;
    *call = err != 0 ? "fstat" : "open";
    close(fd);
    return -1;
  }
  return fd;
}

static void hash_one(file_hash_t *file, unsigned char *buffer, XXH64_state_t *first, XXH64_state_t *second) {
  int64_t hashed_at_ns = now_ms_as_ns();
  file_stat_t before, after;
  int fd = open_walked(file->path, file->inode, file->device, &before, &file->error, &file->call);
  if (fd < 0) return;
  XXH64_reset(first, 0);
  XXH64_reset(second, 0x9e3779b97f4a7c15ULL);
  uint64_t total = 0;
  for (;;) {
    ssize_t got = read(fd, buffer, READ_BYTES);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      file->error = errno;
      file->call = "read";
      break;
    }
    if (got == 0) break;
    XXH64_update(first, buffer, (size_t)got);
    XXH64_update(second, buffer, (size_t)got);
    total += (uint64_t)got;
  }
  int err;
  if (file->error == 0 && (err = stat_fd(fd, &after)) != 0) {
    file->error = err;
    file->call = "fstat";
  }
  if (file->error == 0) {
    snprintf(file->hash, sizeof file->hash, "%" PRIx64 "-%016" PRIx64 "%016" PRIx64, total, (uint64_t)XXH64_digest(first), (uint64_t)XXH64_digest(second));
    char before_key[sizeof file->stat_key];
    format_key(&before, before_key, sizeof before_key);
    format_key(&after, file->stat_key, sizeof file->stat_key);
    /* context.ts's stableEntry: unchanged while read, and older than the hash by the granularity. */
    int64_t margin = granularity_ns(after.ctime_ns);
    file->stable = strcmp(before_key, file->stat_key) == 0 && (int64_t)total == after.size && after.ctime_ns + margin < hashed_at_ns && after.mtime_ns + margin < hashed_at_ns;
  }
  close(fd);
}

static void execute_hash(napi_env env, void *data) {
  (void)env;
  hash_job_t *job = data;
  unsigned char *buffer = malloc(READ_BYTES);
  XXH64_state_t *first = XXH64_createState(), *second = XXH64_createState();
  if (buffer == NULL || first == NULL || second == NULL) job->failure = ENOMEM;
  else
    for (size_t i = 0; i < job->count; i++) hash_one(&job->files[i], buffer, first, second);
  free(buffer);
  XXH64_freeState(first);
  XXH64_freeState(second);
}

static void free_job(hash_job_t *job) {
  for (size_t i = 0; i < job->count; i++) free(job->files[i].path);
  free(job->files);
  free(job);
}

static void complete_hash(napi_env env, napi_status status, void *data) {
  hash_job_t *job = data;
  if (status != napi_ok || job->failure != 0) {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->failure != 0 ? job->failure : ECANCELED, "hashFiles", NULL));
  } else {
    napi_value result, hashes, keys, calls, stable_buffer, stable, error_buffer, errors, value;
    uint8_t *stable_bytes = NULL;
    int32_t *error_codes = NULL;
    napi_create_object(env, &result);
    napi_create_array_with_length(env, job->count, &hashes);
    napi_create_array_with_length(env, job->count, &keys);
    napi_create_array_with_length(env, job->count, &calls);
    napi_create_arraybuffer(env, job->count, (void **)&stable_bytes, &stable_buffer);
    napi_create_typedarray(env, napi_uint8_array, job->count, stable_buffer, 0, &stable);
    napi_create_arraybuffer(env, job->count * sizeof(int32_t), (void **)&error_codes, &error_buffer);
    napi_create_typedarray(env, napi_int32_array, job->count, error_buffer, 0, &errors);
    for (size_t i = 0; i < job->count; i++) {
      file_hash_t *file = &job->files[i];
      error_codes[i] = file->error;
      stable_bytes[i] = file->stable ? 1 : 0;
      napi_create_string_utf8(env, file->error == 0 ? file->hash : "", NAPI_AUTO_LENGTH, &value);
      napi_set_element(env, hashes, (uint32_t)i, value);
      napi_create_string_utf8(env, file->error == 0 ? file->stat_key : "", NAPI_AUTO_LENGTH, &value);
      napi_set_element(env, keys, (uint32_t)i, value);
      napi_create_string_utf8(env, file->call == NULL ? "" : file->call, NAPI_AUTO_LENGTH, &value);
      napi_set_element(env, calls, (uint32_t)i, value);
    }
    napi_set_named_property(env, result, "hashes", hashes);
    napi_set_named_property(env, result, "statKeys", keys);
    napi_set_named_property(env, result, "stable", stable);
    napi_set_named_property(env, result, "errors", errors);
    napi_set_named_property(env, result, "calls", calls);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free_job(job);
}

/* A path argument: a string, or a Buffer of the name's bytes (a name that is not UTF-8). */
static char *copy_path(napi_env env, napi_value value) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) == napi_ok && is_buffer) {
    void *bytes = NULL;
    size_t length = 0;
    /* An empty Buffer may have no data at all: memchr and memcpy are not given its NULL. */
    if (napi_get_buffer_info(env, value, &bytes, &length) != napi_ok || (length > 0 && memchr(bytes, 0, length) != NULL)) return NULL;
    char *path = malloc(length + 1);
    if (path == NULL) return NULL;
    if (length > 0) memcpy(path, bytes, length);
    path[length] = '\0';
    return path;
  }
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *path = malloc(length + 1);
  if (path == NULL) return NULL;
  if (napi_get_value_string_utf8(env, value, path, length + 1, &length) != napi_ok || strlen(path) != length) {
    free(path);
    return NULL;
  }
  return path;
}

static bool get_uint64s(napi_env env, napi_value value, size_t count, uint64_t **out) {
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed || napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok) return false;
  if (type != napi_biguint64_array || length != count) return false;
  *out = data;
  return true;
}

/* A job of SIZE bytes and its COUNT files of FILE_SIZE bytes each, zeroed; NULL after throwing when out of memory. */
static void *allocate_job(napi_env env, size_t size, uint32_t count, size_t file_size, void **files) {
  void *job = calloc(1, size);
  *files = count == 0 ? NULL : calloc(count, file_size);
  if (job == NULL || (count > 0 && *files == NULL)) {
    free(job);
    free(*files);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  return job;
}

/* Runs EXECUTE with JOB on libuv's thread pool, then COMPLETE on the main thread: the promise COMPLETE settles. */
static napi_value queue_job(napi_env env, const char *title, napi_async_execute_callback execute, napi_async_complete_callback complete, void *job, napi_async_work *work, napi_deferred *deferred) {
  napi_value promise, name;
  napi_create_promise(env, deferred, &promise);
  napi_create_string_utf8(env, title, NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, job, work);
  napi_queue_async_work(env, *work);
  return promise;
}

/* hashFiles(paths, inodes: BigUint64Array, devices: BigUint64Array) */
static napi_value hash_files(napi_env env, napi_callback_info info) {
  napi_value args[3];
  if (get_args(env, info, 3, args) != 0) return NULL;
  uint32_t count = 0;
  bool is_array = false;
  uint64_t *inodes = NULL, *devices = NULL;
  if (napi_is_array(env, args[0], &is_array) != napi_ok || !is_array || napi_get_array_length(env, args[0], &count) != napi_ok ||
      !get_uint64s(env, args[1], count, &inodes) || !get_uint64s(env, args[2], count, &devices)) {
    napi_throw_type_error(env, NULL, "hashFiles(paths, inodes, devices): an array of paths and two BigUint64Arrays of its length");
    return NULL;
  }
  file_hash_t *files = NULL;
  hash_job_t *job = allocate_job(env, sizeof *job, count, sizeof *files, (void **)&files);
  if (job == NULL) return NULL;
  job->files = files;
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    napi_get_element(env, args[0], i, &element);
    files[i].path = copy_path(env, element);
    files[i].inode = inodes[i];
    files[i].device = devices[i];
    job->count = i + 1;
    if (files[i].path == NULL) {
      free_job(job);
      napi_throw_type_error(env, NULL, "hashFiles: a path is neither a string nor a Buffer, or holds a NUL byte");
      return NULL;
    }
  }
  job->count = count;
  return queue_job(env, "tsbuild hash context files", execute_hash, complete_hash, job, &job->work, &job->deferred);
}

/* mode, nlink, uid, gid, rdev, size, ino, dev, then atime, mtime and ctime in nanoseconds */
#define LISTED_FIELDS 11

typedef struct {
  char *names;
  size_t names_used, names_size;
  int64_t *stats;
  size_t count, stats_size;
} listing_t;

static bool listing_add(listing_t *listing, const char *name, const struct statx *info) {
  size_t length = strlen(name) + 1;
  if (listing->names_used + length > listing->names_size) {
    size_t size = listing->names_size == 0 ? 4096 : listing->names_size * 2;
    while (size < listing->names_used + length) size *= 2;
    char *grown = realloc(listing->names, size);
    if (grown == NULL) return false;
    listing->names = grown;
    listing->names_size = size;
  }
  if (listing->count == listing->stats_size) {
    size_t size = listing->stats_size == 0 ? 128 : listing->stats_size * 2;
    int64_t *grown = realloc(listing->stats, size * LISTED_FIELDS * sizeof *grown);
    if (grown == NULL) return false;
    listing->stats = grown;
    listing->stats_size = size;
  }
  memcpy(listing->names + listing->names_used, name, length);
  listing->names_used += length;
  int64_t *fields = listing->stats + listing->count * LISTED_FIELDS;
  fields[0] = info->stx_mode;
  fields[1] = info->stx_nlink;
  fields[2] = info->stx_uid;
  fields[3] = info->stx_gid;
  fields[4] = (int64_t)makedev(info->stx_rdev_major, info->stx_rdev_minor);
  fields[5] = (int64_t)info->stx_size;
  fields[6] = (int64_t)info->stx_ino;
  fields[7] = (int64_t)makedev(info->stx_dev_major, info->stx_dev_minor);
  fields[8] = (int64_t)info->stx_atime.tv_sec * 1000000000LL + info->stx_atime.tv_nsec;
  fields[9] = (int64_t)info->stx_mtime.tv_sec * 1000000000LL + info->stx_mtime.tv_nsec;
  fields[10] = (int64_t)info->stx_ctime.tv_sec * 1000000000LL + info->stx_ctime.tv_nsec;
  listing->count++;
  return true;
}

/* Lists the directory open as FD; 0 or an errno, with *CALL the call that failed. */
static int list_open_directory(int fd, listing_t *listing, const char **call) {
  DIR *directory = fdopendir(fd);
  if (directory == NULL) {
    *call = "fdopendir";
    return errno;
  }
  int error = 0;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(directory);
    if (entry == NULL) {
      if (errno != 0) {
        error = errno;
        *call = "readdir";
      }
      break;
    }
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    struct statx info;
    /* As libuv's lstat, relative to the directory itself: no path, and no link, on the way. */
    if (statx(fd, entry->d_name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &info) < 0) {
      /* Removed since it was listed: as a walk that finds it gone, it is not there. */
      if (errno == ENOENT) continue;
      error = errno;
      *call = "statx";
      break;
    }
    if (!listing_add(listing, entry->d_name, &info)) {
      error = ENOMEM;
      *call = "malloc";
      break;
    }
  }
  closedir(directory);
  return error;
}

static napi_value listing_error(napi_env env, int error, const char *call) {
  napi_value result, code, name;
  napi_create_object(env, &result);
  napi_create_int32(env, error, &code);
  napi_create_string_utf8(env, call, NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, result, "error", code);
  napi_set_named_property(env, result, "call", name);
  return result;
}

/*
 * listDirectory(path, inode, device): what tree.ts's walk reads of a directory it found at PATH
 * with that inode and device, in one call instead of one lstat per entry: the directory opened
 * without following a link and checked to be that one, its names, and each entry's lstat made
 * relative to it, as libuv makes Node's. Returns { names: a Buffer of each name followed by NUL,
 * stats: BigInt64Array of LISTED_FIELDS per name }, or { error, call }: CHANGED when PATH is no
 * longer that directory, else an errno.
 */
static napi_value list_directory(napi_env env, napi_callback_info info) {
  napi_value args[3];
  if (get_args(env, info, 3, args) != 0) return NULL;
  uint64_t inode = 0, device = 0;
  bool lossless = false;
  char *path = copy_path(env, args[0]);
  if (path == NULL || napi_get_value_bigint_uint64(env, args[1], &inode, &lossless) != napi_ok || napi_get_value_bigint_uint64(env, args[2], &device, &lossless) != napi_ok) {
    free(path);
    napi_throw_type_error(env, NULL, "listDirectory(path, inode, device): a path (string or Buffer without NUL) and two bigints");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  free(path);
  if (fd < 0) return listing_error(env, errno, "open");
  struct statx opened;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &opened) < 0) {
    int error = errno;
    close(fd);
    return listing_error(env, error, "statx");
  }
  if (opened.stx_ino != inode || makedev(opened.stx_dev_major, opened.stx_dev_minor) != device) {
    close(fd);
    return listing_error(env, CHANGED, "open");
  }
  listing_t listing = {0};
  const char *call = "";
  int error = list_open_directory(fd, &listing, &call);
  if (error != 0) {
    free(listing.names);
    free(listing.stats);
    return listing_error(env, error, call);
  }
  napi_value result, names, buffer, stats;
  void *bytes = NULL;
  size_t stats_bytes = listing.count * LISTED_FIELDS * sizeof(int64_t);
  napi_status status = napi_create_buffer_copy(env, listing.names_used, listing.names_used == 0 ? "" : listing.names, NULL, &names);
  if (status == napi_ok) status = napi_create_arraybuffer(env, stats_bytes, &bytes, &buffer);
  if (status == napi_ok && stats_bytes > 0) memcpy(bytes, listing.stats, stats_bytes);
  if (status == napi_ok) status = napi_create_typedarray(env, napi_bigint64_array, listing.count * LISTED_FIELDS, buffer, 0, &stats);
  free(listing.names);
  free(listing.stats);
  if (status != napi_ok) {
    napi_throw_error(env, "ENOMEM", "listDirectory: out of memory");
    return NULL;
  }
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "names", names);
  napi_set_named_property(env, result, "stats", stats);
  return result;
}

/*
 * copyFiles(sources, destinations, fields): COPY's small files (src/executor/copy.ts), each
 * copied whole on libuv's thread pool as the Copier copies it on the main thread where this
 * addon does not load. FIELDS holds COPY_FIELDS BigInt64 values per file: the walked inode,
 * device and size, the walked mode, the owner to give (uid -1: none), the mode to set after the
 * owner (-1: none), the atime and mtime in ns, and flags (COPY_XATTRS, COPY_DROP_CAPABILITY).
 * Each source is opened as hashFiles opens one (the walked file by its walked path, or CHANGED);
 * the destination is created with O_EXCL, so a link planted at its name is never written
 * through; at most the walked size is copied, and a file that ends before it is CUT. Then, on
 * the open destination: the walked mode, the owner, the mode again (chown clears set-id bits),
 * the source's xattrs (one the destination refuses is skipped; security.capability too with
 * COPY_DROP_CAPABILITY), the times, last. Resolves to { codes: Int32Array (0, CHANGED, CUT or an
 * errno), copied: Float64Array (the bytes copied before a CUT), errors: an Error shaped like
 * Node's for each errno, else undefined }.
 */
#define CUT (-2)
#define COPY_FIELDS 10
#define COPY_XATTRS 1
#define COPY_DROP_CAPABILITY 2
#define XATTR_NAMES_BYTES 65536
#define XATTR_VALUE_BYTES 65536

typedef struct {
  char *source, *destination;
  int64_t fields[COPY_FIELDS];
  int error;
  const char *call;
  bool on_destination;
  double copied;
} file_copy_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  size_t count;
  file_copy_t *files;
  int failure;
} copy_job_t;

/* copy.ts's copyXattrs: all or nothing of the listing; a value gone meanwhile or refused is skipped. */
static void copy_xattrs(int from, int to, bool drop_capability, char *names, char *value) {
  ssize_t listed = flistxattr(from, names, XATTR_NAMES_BYTES);
  if (listed <= 0) return;
  /* Read through once first: a value that cannot be read (but one removed meanwhile) leaves the copy without any, as readXattrs does. */
  for (char *name = names; name < names + listed; name += strlen(name) + 1) {
    if (fgetxattr(from, name, value, XATTR_VALUE_BYTES) < 0 && errno != ENODATA) return;
  }
  for (char *name = names; name < names + listed; name += strlen(name) + 1) {
    if (drop_capability && strcmp(name, "security.capability") == 0) continue;
    ssize_t length = fgetxattr(from, name, value, XATTR_VALUE_BYTES);
    if (length >= 0) (void)fsetxattr(to, name, value, (size_t)length, 0);
  }
}

static int fail(file_copy_t *file, int error, const char *call, bool on_destination) {
  file->error = error;
  file->call = call;
  file->on_destination = on_destination;
  return -1;
}

static int copy_content(file_copy_t *file, int from, int to, unsigned char *buffer) {
  int64_t size = file->fields[2];
  int64_t copied = 0;
  while (copied < size) {
    size_t want = (size_t)(size - copied < READ_BYTES ? size - copied : READ_BYTES);
    ssize_t got = pread(from, buffer, want, copied);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(file, errno, "read", false);
    if (got == 0) {
      file->copied = (double)copied;
      return fail(file, CUT, "read", false);
    }
    for (ssize_t written = 0; written < got;) {
      ssize_t put = pwrite(to, buffer + written, (size_t)(got - written), copied + written);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) return fail(file, errno, "write", true);
      written += put;
    }
    copied += got;
  }
  return 0;
}

static void copy_one(file_copy_t *file, unsigned char *buffer, char *names, char *value) {
  const int64_t *f = file->fields;
  file_stat_t walked;
  int from = open_walked(file->source, (uint64_t)f[0], (uint64_t)f[1], &walked, &file->error, &file->call);
  if (from < 0) return;
  int to = open(file->destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (to < 0) {
    fail(file, errno, "open", true);
  } else {
    struct timespec times[2] = {timespec_of_ns(f[7]), timespec_of_ns(f[8])};
    if (copy_content(file, from, to, buffer) == 0) {
      if (fchmod(to, (mode_t)(f[3] & 07777)) < 0) fail(file, errno, "fchmod", true);
      else if (f[4] >= 0 && fchown(to, (uid_t)f[4], (gid_t)f[5]) < 0) fail(file, errno, "lchown", true);
      else if (f[6] >= 0 && fchmod(to, (mode_t)f[6]) < 0) fail(file, errno, "chmod", true);
      else {
        if ((f[9] & COPY_XATTRS) != 0) copy_xattrs(from, to, (f[9] & COPY_DROP_CAPABILITY) != 0, names, value);
        if (futimens(to, times) < 0) fail(file, errno, "utimensat", true);
      }
    }
    close(to);
  }
  close(from);
}

static void execute_copy(napi_env env, void *data) {
  (void)env;
  copy_job_t *job = data;
  unsigned char *buffer = malloc(READ_BYTES);
  char *names = malloc(XATTR_NAMES_BYTES), *value = malloc(XATTR_VALUE_BYTES);
  if (buffer == NULL || names == NULL || value == NULL) job->failure = ENOMEM;
  else
    for (size_t i = 0; i < job->count; i++) copy_one(&job->files[i], buffer, names, value);
  free(buffer);
  free(names);
  free(value);
}

static void free_copy_job(copy_job_t *job) {
  for (size_t i = 0; i < job->count; i++) {
    free(job->files[i].source);
    free(job->files[i].destination);
  }
  free(job->files);
  free(job);
}

static void complete_copy(napi_env env, napi_status status, void *data) {
  copy_job_t *job = data;
  if (status != napi_ok || job->failure != 0) {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->failure != 0 ? job->failure : ECANCELED, "copyFiles", NULL));
  } else {
    napi_value result, code_buffer, codes, copied_buffer, copied, errors, value, undefined;
    int32_t *code_values = NULL;
    double *copied_values = NULL;
    napi_get_undefined(env, &undefined);
    napi_create_object(env, &result);
    napi_create_arraybuffer(env, job->count * sizeof(int32_t), (void **)&code_values, &code_buffer);
    napi_create_typedarray(env, napi_int32_array, job->count, code_buffer, 0, &codes);
    napi_create_arraybuffer(env, job->count * sizeof(double), (void **)&copied_values, &copied_buffer);
    napi_create_typedarray(env, napi_float64_array, job->count, copied_buffer, 0, &copied);
    napi_create_array_with_length(env, job->count, &errors);
    for (size_t i = 0; i < job->count; i++) {
      file_copy_t *file = &job->files[i];
      code_values[i] = file->error;
      copied_values[i] = file->copied;
      value = file->error > 0 ? errno_error(env, file->error, file->call, file->on_destination ? file->destination : file->source) : undefined;
      napi_set_element(env, errors, (uint32_t)i, value);
    }
    napi_set_named_property(env, result, "codes", codes);
    napi_set_named_property(env, result, "copied", copied);
    napi_set_named_property(env, result, "errors", errors);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free_copy_job(job);
}

/* copyFiles(sources, destinations, fields: BigInt64Array of COPY_FIELDS per file) */
static napi_value copy_files(napi_env env, napi_callback_info info) {
  napi_value args[3];
  if (get_args(env, info, 3, args) != 0) return NULL;
  uint32_t count = 0, destination_count = 0;
  bool sources_array = false, destinations_array = false, is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_is_array(env, args[0], &sources_array) != napi_ok || !sources_array || napi_get_array_length(env, args[0], &count) != napi_ok ||
      napi_is_array(env, args[1], &destinations_array) != napi_ok || !destinations_array || napi_get_array_length(env, args[1], &destination_count) != napi_ok ||
      destination_count != count || napi_is_typedarray(env, args[2], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, args[2], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_bigint64_array || length != (size_t)count * COPY_FIELDS) {
    napi_throw_type_error(env, NULL, "copyFiles(sources, destinations, fields): two arrays of paths of one length and a BigInt64Array of 10 fields per path");
    return NULL;
  }
  const int64_t *fields = data;
  file_copy_t *files = NULL;
  copy_job_t *job = allocate_job(env, sizeof *job, count, sizeof *files, (void **)&files);
  if (job == NULL) return NULL;
  job->files = files;
  for (uint32_t i = 0; i < count; i++) {
    napi_value source, destination;
    napi_get_element(env, args[0], i, &source);
    napi_get_element(env, args[1], i, &destination);
    files[i].source = copy_path(env, source);
    files[i].destination = copy_path(env, destination);
    memcpy(files[i].fields, fields + (size_t)i * COPY_FIELDS, sizeof files[i].fields);
    job->count = i + 1;
    if (files[i].source == NULL || files[i].destination == NULL) {
      free_copy_job(job);
      napi_throw_type_error(env, NULL, "copyFiles: a path is neither a string nor a Buffer, or holds a NUL byte");
      return NULL;
    }
  }
  job->count = count;
  return queue_job(env, "tsbuild copy files", execute_copy, complete_copy, job, &job->work, &job->deferred);
}


/*
 * copyRange(fromFd, toFd, offset, length): up to LENGTH bytes at OFFSET of one open file into
 * another at the same offset, in the kernel (copy_file_range, or sendfile where the two file
 * systems differ), on the thread pool: a large file of a COPY never passes through Node's
 * buffers. Resolves to the bytes copied, fewer only at the source's end (0 there).
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int from, to;
  int64_t offset, length, copied;
  int error;
  const char *call;
} range_job_t;

static void execute_range(napi_env env, void *data) {
  (void)env;
  range_job_t *job = data;
  bool in_kernel = true;
  while (job->copied < job->length) {
    size_t want = (size_t)(job->length - job->copied);
    ssize_t moved;
    if (in_kernel) {
      loff_t in = job->offset + job->copied, out = in;
      moved = copy_file_range(job->from, &in, job->to, &out, want, 0);
      if (moved < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        in_kernel = false;
        continue;
      }
    } else {
      /* sendfile writes at the destination's own offset: placed there first. */
      off_t in = job->offset + job->copied;
      if (lseek(job->to, in, SEEK_SET) < 0) {
        job->error = errno;
        job->call = "lseek";
        return;
      }
      moved = sendfile(job->to, job->from, &in, want);
    }
    if (moved < 0 && errno == EINTR) continue;
    if (moved < 0) {
      job->error = errno;
      job->call = in_kernel ? "copy_file_range" : "sendfile";
      return;
    }
    if (moved == 0) return;
    job->copied += moved;
  }
}

static void complete_range(napi_env env, napi_status status, void *data) {
  range_job_t *job = data;
  if (status != napi_ok || job->error != 0) {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->error != 0 ? job->error : ECANCELED, job->error != 0 ? job->call : "copyRange", NULL));
  } else {
    napi_value copied;
    napi_create_double(env, (double)job->copied, &copied);
    napi_resolve_deferred(env, job->deferred, copied);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value copy_range(napi_env env, napi_callback_info info) {
  napi_value args[4];
  if (get_args(env, info, 4, args) != 0) return NULL;
  int32_t from = -1, to = -1;
  int64_t offset = -1, length = -1;
  if (napi_get_value_int32(env, args[0], &from) != napi_ok || napi_get_value_int32(env, args[1], &to) != napi_ok || napi_get_value_int64(env, args[2], &offset) != napi_ok ||
      napi_get_value_int64(env, args[3], &length) != napi_ok || from < 0 || to < 0 || offset < 0 || length < 0) {
    napi_throw_type_error(env, NULL, "copyRange(fromFd, toFd, offset, length): four non-negative numbers");
    return NULL;
  }
  range_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  *job = (range_job_t){.from = from, .to = to, .offset = offset, .length = length};
  return queue_job(env, "tsbuild copy range", execute_range, complete_range, job, &job->work, &job->deferred);
}

/*
 * readFiles(paths, sizes: Float64Array): the small files of a layer being written
 * (src/exporter/layer.ts), each read whole on the thread pool with its security.capability, a
 * run of them in one call: the main thread made an open, a stat, a read, a close and an
 * lgetxattr of each. Each file is opened without following a link and read up to one byte past
 * its listed size, so that one that grew is seen to. Resolves to { data: one Buffer of every
 * file's bytes in turn, lengths: Float64Array of the bytes read of each, capabilities: each one's
 * security.capability or undefined, errors: an Error shaped like Node's for a file that could
 * not be read, else undefined }.
 */
/* The largest file readFiles reads: layer.ts's small files are at most 256 KiB. */
#define READ_FILES_MAX (16.0 * 1024 * 1024)

typedef struct {
  char *path;
  size_t size, offset, length;
  unsigned char *capability;
  ssize_t capability_length;
  int error;
  const char *call;
} file_read_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  size_t count;
  file_read_t *files;
  unsigned char *data;
} read_job_t;

static void fail_read(file_read_t *file, int error, const char *call) {
  file->error = error;
  file->call = call;
}

static void read_capability(file_read_t *file, int fd) {
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t size = fgetxattr(fd, "security.capability", NULL, 0);
    if (size < 0) {
      if (errno != ENODATA && errno != ENOTSUP) fail_read(file, errno, "lgetxattr");
      return;
    }
    free(file->capability);
    file->capability = malloc(size == 0 ? 1 : (size_t)size);
    if (file->capability == NULL) {
      fail_read(file, ENOMEM, "lgetxattr");
      return;
    }
    ssize_t got = fgetxattr(fd, "security.capability", file->capability, (size_t)size);
    if (got >= 0) {
      file->capability_length = got;
      return;
    }
    if (errno != ERANGE) {
      fail_read(file, errno, "lgetxattr");
      return;
    }
  }
  fail_read(file, ERANGE, "lgetxattr");
}

static void read_one(file_read_t *file, unsigned char *into) {
  int fd = open(file->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    fail_read(file, errno, "open");
    return;
  }
  size_t want = file->size + 1;
  while (file->length < want) {
    ssize_t got = read(fd, into + file->length, want - file->length);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      fail_read(file, errno, "read");
      break;
    }
    if (got == 0) break;
    file->length += (size_t)got;
  }
  if (file->error == 0) read_capability(file, fd);
  close(fd);
}

static void execute_read(napi_env env, void *data) {
  (void)env;
  read_job_t *job = data;
  for (size_t i = 0; i < job->count; i++) read_one(&job->files[i], job->data + job->files[i].offset);
}

static void free_read_job(read_job_t *job) {
  for (size_t i = 0; i < job->count; i++) {
    free(job->files[i].path);
    free(job->files[i].capability);
  }
  free(job->files);
  free(job->data);
  free(job);
}

static void complete_read(napi_env env, napi_status status, void *data) {
  read_job_t *job = data;
  if (status != napi_ok) {
    napi_reject_deferred(env, job->deferred, errno_error(env, ECANCELED, "readFiles", NULL));
  } else {
    napi_value result, bytes, length_buffer, lengths, capabilities, errors, value, undefined;
    double *length_values = NULL;
    void *copy = NULL;
    napi_get_undefined(env, &undefined);
    napi_create_object(env, &result);
    /* Packed: each file's bytes right after the one before, for one Buffer the caller slices. */
    size_t packed = 0;
    for (size_t i = 0; i < job->count; i++) packed += job->files[i].length;
    napi_create_buffer(env, packed, &copy, &bytes);
    napi_create_arraybuffer(env, job->count * sizeof(double), (void **)&length_values, &length_buffer);
    napi_create_typedarray(env, napi_float64_array, job->count, length_buffer, 0, &lengths);
    napi_create_array_with_length(env, job->count, &capabilities);
    napi_create_array_with_length(env, job->count, &errors);
    size_t at = 0;
    for (size_t i = 0; i < job->count; i++) {
      file_read_t *file = &job->files[i];
      if (file->length > 0) memcpy((unsigned char *)copy + at, job->data + file->offset, file->length);
      at += file->length;
      length_values[i] = (double)file->length;
      if (file->capability != NULL && file->error == 0) napi_create_buffer_copy(env, (size_t)file->capability_length, file->capability, NULL, &value);
      else value = undefined;
      napi_set_element(env, capabilities, (uint32_t)i, value);
      value = file->error != 0 ? errno_error(env, file->error, file->call, file->path) : undefined;
      napi_set_element(env, errors, (uint32_t)i, value);
    }
    napi_set_named_property(env, result, "data", bytes);
    napi_set_named_property(env, result, "lengths", lengths);
    napi_set_named_property(env, result, "capabilities", capabilities);
    napi_set_named_property(env, result, "errors", errors);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free_read_job(job);
}

/* readFiles(paths, sizes: Float64Array of each file's listed size) */
static napi_value read_files(napi_env env, napi_callback_info info) {
  napi_value args[2];
  if (get_args(env, info, 2, args) != 0) return NULL;
  uint32_t count = 0;
  bool is_array = false, is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *sizes_data = NULL;
  if (napi_is_array(env, args[0], &is_array) != napi_ok || !is_array || napi_get_array_length(env, args[0], &count) != napi_ok || napi_is_typedarray(env, args[1], &is_typed) != napi_ok ||
      !is_typed || napi_get_typedarray_info(env, args[1], &type, &length, &sizes_data, NULL, NULL) != napi_ok || type != napi_float64_array || length != count) {
    napi_throw_type_error(env, NULL, "readFiles(paths, sizes): an array of paths and a Float64Array of their sizes");
    return NULL;
  }
  const double *sizes = sizes_data;
  file_read_t *files = NULL;
  read_job_t *job = allocate_job(env, sizeof *job, count, sizeof *files, (void **)&files);
  if (job == NULL) return NULL;
  job->files = files;
  size_t total = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    napi_get_element(env, args[0], i, &element);
    files[i].path = copy_path(env, element);
    job->count = i + 1;
    if (files[i].path == NULL || !(sizes[i] >= 0 && sizes[i] <= READ_FILES_MAX)) {
      free_read_job(job);
      napi_throw_type_error(env, NULL, "readFiles: a path is neither a string nor a Buffer, or holds a NUL byte, or a size is not one of a small file");
      return NULL;
    }
    files[i].size = (size_t)sizes[i];
    files[i].offset = total;
    total += files[i].size + 1;
  }
  job->data = malloc(total == 0 ? 1 : total);
  if (job->data == NULL) {
    free_read_job(job);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  return queue_job(env, "tsbuild read files", execute_read, complete_read, job, &job->work, &job->deferred);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value function;
  napi_create_function(env, "hashFiles", NAPI_AUTO_LENGTH, hash_files, NULL, &function);
  napi_set_named_property(env, exports, "hashFiles", function);
  napi_create_function(env, "listDirectory", NAPI_AUTO_LENGTH, list_directory, NULL, &function);
  napi_set_named_property(env, exports, "listDirectory", function);
  napi_create_function(env, "copyFiles", NAPI_AUTO_LENGTH, copy_files, NULL, &function);
  napi_set_named_property(env, exports, "copyFiles", function);
  napi_create_function(env, "copyRange", NAPI_AUTO_LENGTH, copy_range, NULL, &function);
  napi_set_named_property(env, exports, "copyRange", function);
  napi_create_function(env, "readFiles", NAPI_AUTO_LENGTH, read_files, NULL, &function);
  napi_set_named_property(env, exports, "readFiles", function);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
