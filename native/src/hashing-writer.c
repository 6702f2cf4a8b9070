/*
 * A file writer that hashes what it writes, both on libuv's thread pool: the main thread only
 * hands over buffers. Pulling a layer otherwise spends most of its main-thread time in sha256
 * and write(2), which then serialize with the network. The hash is OpenSSL's, the copy Node
 * itself carries (its symbols resolve from the node binary when the addon loads).
 *
 *   const writer = createHashingWriter(fd, 'sha256', position, writebackBytes)
 *   await writer.write([buffer, ...])   // one at a time; appends at the current position
 *   writer.update([buffer, ...])        // hashes without writing (content already in the file)
 *   writer.hex()                        // hash of everything so far, the writer unchanged
 *   digest('sha256', [buffer, ...])     // hex hash of small data, at once on this thread
 *
 * With writebackBytes > 0, every time that many bytes have been written the kernel is asked to
 * start writing them to disk (sync_file_range, not waiting): the fsync that makes the blob
 * durable then finds little left to do. That call can take a while, so it is made here too.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "errno-error.h"

typedef struct {
  int fd;
  int64_t position;
  int64_t writeback_bytes;
  int64_t written_back;
  bool busy;
  EVP_MD_CTX *context;
} writer_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref buffers;
  napi_ref owner;
  writer_t *writer;
  struct iovec *vectors;
  uint32_t count;
  int error;
  const char *syscall;
} write_job_t;

static void reject_errno(napi_env env, napi_deferred deferred, int err, const char *syscall) {
  napi_reject_deferred(env, deferred, errno_error(env, err, syscall, NULL));
}

static void finalize_writer(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  writer_t *writer = data;
  EVP_MD_CTX_free(writer->context);
  free(writer);
}

static writer_t *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, napi_value *self_out) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok || napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "not a hashing writer");
    return NULL;
  }
  if (self_out != NULL) *self_out = self;
  return data;
}

/* The buffers of ARRAY as iovecs; NULL (with an exception pending) when it is not an array of Uint8Arrays. */
static struct iovec *vectors_of(napi_env env, napi_value array, uint32_t *count) {
  bool is_array = false;
  napi_is_array(env, array, &is_array);
  if (!is_array || napi_get_array_length(env, array, count) != napi_ok) {
    napi_throw_type_error(env, NULL, "buffers: an array of Uint8Array");
    return NULL;
  }
  struct iovec *vectors = calloc(*count == 0 ? 1 : *count, sizeof *vectors);
  if (vectors == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  for (uint32_t index = 0; index < *count; index++) {
    napi_value element;
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length = 0;
    void *data = NULL;
    if (napi_get_element(env, array, index, &element) != napi_ok || napi_is_typedarray(env, element, &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, element, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
      free(vectors);
      napi_throw_type_error(env, NULL, "buffers: an array of Uint8Array");
      return NULL;
    }
    vectors[index].iov_base = data;
    vectors[index].iov_len = length;
  }
  return vectors;
}

static void execute_write(napi_env env, void *data) {
  (void)env;
  write_job_t *job = data;
  writer_t *writer = job->writer;
  for (uint32_t index = 0; index < job->count; index++) {
    if (EVP_DigestUpdate(writer->context, job->vectors[index].iov_base, job->vectors[index].iov_len) != 1) {
      job->error = EIO;
      job->syscall = "EVP_DigestUpdate";
      return;
    }
  }
  /* pwritev may write less than asked (a signal, a full disk): continue from where it stopped. */
  struct iovec *vectors = job->vectors;
  int count = (int)job->count;
  while (count > 0) {
    ssize_t written = pwritev(writer->fd, vectors, count > IOV_MAX ? IOV_MAX : count, writer->position);
    if (written < 0) {
      if (errno == EINTR) continue;
      job->error = errno;
      job->syscall = "pwritev";
      return;
    }
    writer->position += written;
    while (count > 0 && (size_t)written >= vectors->iov_len) {
      written -= (ssize_t)vectors->iov_len;
      vectors++;
      count--;
    }
    if (count > 0 && written > 0) {
      vectors->iov_base = (char *)vectors->iov_base + written;
      vectors->iov_len -= (size_t)written;
    }
  }
  if (writer->writeback_bytes > 0 && writer->position - writer->written_back >= writer->writeback_bytes) {
    /* Only an optimization: a failure here leaves the work to the fsync. */
    (void)sync_file_range(writer->fd, writer->written_back, writer->position - writer->written_back, SYNC_FILE_RANGE_WRITE);
    writer->written_back = writer->position;
  }
}

static void complete_write(napi_env env, napi_status status, void *data) {
  write_job_t *job = data;
  job->writer->busy = false;
  if (status != napi_ok) reject_errno(env, job->deferred, ECANCELED, "write");
  else if (job->error != 0) reject_errno(env, job->deferred, job->error, job->syscall);
  else {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, job->deferred, undefined);
  }
  napi_delete_reference(env, job->buffers);
  napi_delete_reference(env, job->owner);
  napi_delete_async_work(env, job->work);
  free(job->vectors);
  free(job);
}

static napi_value writer_write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value self;
  writer_t *writer = unwrap_this(env, info, &argc, argv, &self);
  if (writer == NULL) return NULL;
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "buffers: an array of Uint8Array");
    return NULL;
  }
  if (writer->busy) {
    napi_throw_error(env, "EBUSY", "a write is in progress");
    return NULL;
  }
  uint32_t count = 0;
  struct iovec *vectors = vectors_of(env, argv[0], &count);
  if (vectors == NULL) return NULL;
  write_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) {
    free(vectors);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  job->writer = writer;
  job->vectors = vectors;
  job->count = count;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  /* The buffers stay alive, and unmoved, until the thread pool is done with them; so does the
     writer, whose state the pool thread uses (a writer dropped mid-write is not freed under it). */
  napi_create_reference(env, argv[0], 1, &job->buffers);
  napi_create_reference(env, self, 1, &job->owner);
  napi_create_string_utf8(env, "tsbuild hashing write", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute_write, complete_write, job, &job->work);
  writer->busy = true;
  napi_queue_async_work(env, job->work);
  return promise;
}

static napi_value writer_update(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  writer_t *writer = unwrap_this(env, info, &argc, argv, NULL);
  if (writer == NULL) return NULL;
  if (writer->busy) {
    napi_throw_error(env, "EBUSY", "a write is in progress");
    return NULL;
  }
  uint32_t count = 0;
  struct iovec *vectors = argc < 1 ? NULL : vectors_of(env, argv[0], &count);
  if (vectors == NULL) return NULL;
  for (uint32_t index = 0; index < count; index++) EVP_DigestUpdate(writer->context, vectors[index].iov_base, vectors[index].iov_len);
  free(vectors);
  return NULL;
}

/* The digest as lower-case hex, a JS string. */
static napi_value hex_string(napi_env env, const unsigned char *digest, unsigned int length) {
  char hex[EVP_MAX_MD_SIZE * 2 + 1];
  static const char digits[] = "0123456789abcdef";
  for (unsigned int index = 0; index < length; index++) {
    hex[2 * index] = digits[digest[index] >> 4];
    hex[2 * index + 1] = digits[digest[index] & 15];
  }
  napi_value result;
  napi_create_string_utf8(env, hex, 2 * length, &result);
  return result;
}

/* The algorithms the store names blobs with; NULL (with a RangeError pending) for any other. */
static const EVP_MD *digest_algorithm(napi_env env, napi_value value) {
  char algorithm[16];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, algorithm, sizeof algorithm, &length) != napi_ok) algorithm[0] = 0;
  const EVP_MD *md = strcmp(algorithm, "sha256") == 0 ? EVP_sha256() : strcmp(algorithm, "sha512") == 0 ? EVP_sha512() : NULL;
  if (md == NULL) napi_throw_range_error(env, NULL, "algorithm: sha256 or sha512");
  return md;
}

static napi_value writer_hex(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  writer_t *writer = unwrap_this(env, info, &argc, NULL, NULL);
  if (writer == NULL) return NULL;
  if (writer->busy) {
    napi_throw_error(env, "EBUSY", "a write is in progress");
    return NULL;
  }
  EVP_MD_CTX *copy = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (copy == NULL || EVP_MD_CTX_copy_ex(copy, writer->context) != 1 || EVP_DigestFinal_ex(copy, digest, &length) != 1) {
    EVP_MD_CTX_free(copy);
    napi_throw_error(env, "EIO", "hash: cannot finish");
    return NULL;
  }
  EVP_MD_CTX_free(copy);
  return hex_string(env, digest, length);
}

/*
 * digest(algorithm, buffers): the hash of the buffers together, as hex, at once on the calling
 * thread: for manifests and other small documents, which need no thread and no node:crypto.
 */
static napi_value digest_once(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "digest(algorithm, buffers)");
    return NULL;
  }
  const EVP_MD *md = digest_algorithm(env, argv[0]);
  if (md == NULL) return NULL;
  uint32_t count = 0;
  struct iovec *vectors = vectors_of(env, argv[1], &count);
  if (vectors == NULL) return NULL;
  EVP_MD_CTX *context = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  bool ok = context != NULL && EVP_DigestInit_ex(context, md, NULL) == 1;
  for (uint32_t index = 0; ok && index < count; index++) ok = EVP_DigestUpdate(context, vectors[index].iov_base, vectors[index].iov_len) == 1;
  ok = ok && EVP_DigestFinal_ex(context, digest, &length) == 1;
  EVP_MD_CTX_free(context);
  free(vectors);
  if (!ok) {
    napi_throw_error(env, "EIO", "digest: cannot hash");
    return NULL;
  }
  return hex_string(env, digest, length);
}

/* createHashingWriter(fd, algorithm, position, writebackBytes) */
static napi_value create_writer(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd = -1;
  int64_t position = -1, writeback_bytes = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &position) != napi_ok || napi_get_value_int64(env, argv[3], &writeback_bytes) != napi_ok || fd < 0 ||
      position < 0 || writeback_bytes < 0) {
    napi_throw_type_error(env, NULL, "createHashingWriter(fd, algorithm, position, writebackBytes)");
    return NULL;
  }
  const EVP_MD *md = digest_algorithm(env, argv[1]);
  if (md == NULL) return NULL;
  writer_t *writer = calloc(1, sizeof *writer);
  if (writer == NULL || (writer->context = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(writer->context, md, NULL) != 1) {
    if (writer != NULL) EVP_MD_CTX_free(writer->context);
    free(writer);
    napi_throw_error(env, "ENOMEM", "hashing writer: cannot create");
    return NULL;
  }
  writer->fd = fd;
  writer->position = position;
  writer->written_back = position;
  writer->writeback_bytes = writeback_bytes;
  napi_value object, function;
  napi_create_object(env, &object);
  napi_create_function(env, "write", NAPI_AUTO_LENGTH, writer_write, NULL, &function);
  napi_set_named_property(env, object, "write", function);
  napi_create_function(env, "update", NAPI_AUTO_LENGTH, writer_update, NULL, &function);
  napi_set_named_property(env, object, "update", function);
  napi_create_function(env, "hex", NAPI_AUTO_LENGTH, writer_hex, NULL, &function);
  napi_set_named_property(env, object, "hex", function);
  napi_wrap(env, object, writer, finalize_writer, NULL, NULL);
  return object;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value function;
  napi_create_function(env, "createHashingWriter", NAPI_AUTO_LENGTH, create_writer, NULL, &function);
  napi_set_named_property(env, exports, "createHashingWriter", function);
  napi_create_function(env, "digest", NAPI_AUTO_LENGTH, digest_once, NULL, &function);
  napi_set_named_property(env, exports, "digest", function);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
