/*
 * zstd compression of layers with Debian's libzstd, on libuv's thread pool and zstd's own
 * worker threads (ZSTD_c_nbWorkers). Node 20's zlib has no zstd.
 *
 *   const compressor = createCompressor(level, workers)
 *   const bytes = await compressor.compress(buffer, end)   // one call at a time
 *
 * compress hands BUFFER to the stream and resolves to the compressed bytes that came out
 * (possibly none); with END true it finishes the frame. The output depends on the bytes and the
 * level only: input is cut into zstd's jobs at fixed sizes whatever the chunks given, and with
 * any number of workers from 1 up zstd writes the same frame (its multithreaded format does
 * not depend on how many threads ran), so a layer has one digest on every machine.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

typedef struct {
  ZSTD_CCtx *context;
  bool busy;
  bool ended;
} compressor_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref;
  napi_ref owner;
  compressor_t *compressor;
  const void *input;
  size_t input_length;
  bool end;
  char *output;
  size_t output_length;
  size_t output_capacity;
  const char *error;
} compress_job_t;

static void finalize_compressor(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  compressor_t *compressor = data;
  ZSTD_freeCCtx(compressor->context);
  free(compressor);
}

static void finalize_output(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* Room for at least one more ZSTD_CStreamOutSize() in the job's output; false when out of memory. */
static bool reserve(compress_job_t *job) {
  size_t need = job->output_length + ZSTD_CStreamOutSize();
  if (need <= job->output_capacity) return true;
  size_t capacity = job->output_capacity == 0 ? ZSTD_CStreamOutSize() * 2 : job->output_capacity * 2;
  while (capacity < need) capacity *= 2;
  char *grown = realloc(job->output, capacity);
  if (grown == NULL) return false;
  job->output = grown;
  job->output_capacity = capacity;
  return true;
}

static void execute_compress(napi_env env, void *data) {
  (void)env;
  compress_job_t *job = data;
  ZSTD_inBuffer input = {job->input, job->input_length, 0};
  ZSTD_EndDirective mode = job->end ? ZSTD_e_end : ZSTD_e_continue;
  for (;;) {
    if (!reserve(job)) {
      job->error = "out of memory";
      return;
    }
    ZSTD_outBuffer output = {job->output + job->output_length, job->output_capacity - job->output_length, 0};
    size_t remaining = ZSTD_compressStream2(job->compressor->context, &output, &input, mode);
    if (ZSTD_isError(remaining)) {
      job->error = ZSTD_getErrorName(remaining);
      return;
    }
    job->output_length += output.pos;
    /* e_continue: done once the input is taken (zstd keeps what it has not written yet);
       e_end: done when nothing is left to flush. */
    if (job->end ? remaining == 0 : input.pos == input.size) return;
  }
}

static void complete_compress(napi_env env, napi_status status, void *data) {
  compress_job_t *job = data;
  job->compressor->busy = false;
  if (status != napi_ok || job->error != NULL) {
    napi_value message, error;
    napi_create_string_utf8(env, job->error == NULL ? "zstd: compression cancelled" : job->error, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, job->deferred, error);
    free(job->output);
  } else {
    napi_value buffer;
    if (job->output_length == 0) {
      free(job->output);
      napi_create_buffer(env, 0, NULL, &buffer);
    } else if (napi_create_external_buffer(env, job->output_length, job->output, finalize_output, NULL, &buffer) != napi_ok) {
      /* Where external buffers are not allowed: a copy. */
      napi_create_buffer_copy(env, job->output_length, job->output, NULL, &buffer);
      free(job->output);
    }
    napi_resolve_deferred(env, job->deferred, buffer);
  }
  napi_delete_reference(env, job->input_ref);
  napi_delete_reference(env, job->owner);
  napi_delete_async_work(env, job->work);
  free(job);
}

/* compress(buffer, end) */
static napi_value compressor_compress(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok || napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "not a zstd compressor");
    return NULL;
  }
  compressor_t *compressor = data;
  bool is_typed = false, end = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *input = NULL;
  if (argc < 2 || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &input, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      napi_get_value_bool(env, argv[1], &end) != napi_ok) {
    napi_throw_type_error(env, NULL, "compress(Uint8Array, end)");
    return NULL;
  }
  if (compressor->busy) {
    napi_throw_error(env, "EBUSY", "a compression is in progress");
    return NULL;
  }
  if (compressor->ended) {
    napi_throw_error(env, "EINVAL", "the zstd frame is already ended");
    return NULL;
  }
  compress_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  job->compressor = compressor;
  job->input = input;
  job->input_length = length;
  job->end = end;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  /* The input stays alive, and unmoved, until the pool thread is done with it; so does the compressor. */
  napi_create_reference(env, argv[0], 1, &job->input_ref);
  napi_create_reference(env, self, 1, &job->owner);
  napi_create_string_utf8(env, "tsbuild zstd compress", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute_compress, complete_compress, job, &job->work);
  compressor->busy = true;
  compressor->ended = end;
  napi_queue_async_work(env, job->work);
  return promise;
}

/* createCompressor(level, workers) */
static napi_value create_compressor(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t level = 0, workers = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_value_int32(env, argv[0], &level) != napi_ok ||
      napi_get_value_int32(env, argv[1], &workers) != napi_ok || level < ZSTD_minCLevel() || level > ZSTD_maxCLevel() || workers < 1) {
    napi_throw_range_error(env, NULL, "createCompressor(level, workers): a zstd level and at least one worker");
    return NULL;
  }
  compressor_t *compressor = calloc(1, sizeof *compressor);
  if (compressor == NULL || (compressor->context = ZSTD_createCCtx()) == NULL) {
    free(compressor);
    napi_throw_error(env, "ENOMEM", "zstd: cannot create a context");
    return NULL;
  }
  size_t result = ZSTD_CCtx_setParameter(compressor->context, ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(result)) result = ZSTD_CCtx_setParameter(compressor->context, ZSTD_c_checksumFlag, 1);
  if (!ZSTD_isError(result)) result = ZSTD_CCtx_setParameter(compressor->context, ZSTD_c_nbWorkers, workers);
  if (ZSTD_isError(result)) {
    ZSTD_freeCCtx(compressor->context);
    free(compressor);
    napi_throw_error(env, "EINVAL", ZSTD_getErrorName(result));
    return NULL;
  }
  napi_value object, function;
  napi_create_object(env, &object);
  napi_create_function(env, "compress", NAPI_AUTO_LENGTH, compressor_compress, NULL, &function);
  napi_set_named_property(env, object, "compress", function);
  napi_wrap(env, object, compressor, finalize_compressor, NULL, NULL);
  return object;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value function, value;
  napi_create_function(env, "createCompressor", NAPI_AUTO_LENGTH, create_compressor, NULL, &function);
  napi_set_named_property(env, exports, "createCompressor", function);
  napi_create_string_utf8(env, ZSTD_versionString(), NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, exports, "version", value);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
