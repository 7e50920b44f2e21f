/*===- qopt-c.h - qopt's C API ---------------------------------*- C -*-===*\
|*                                                                        *|
|* Compile an ONNX model into an artifact folder, load the artifact, run  *|
|* it, and read its manifest and quality report, from C or any language   *|
|* with a C FFI. Plain C99; link the QOptCAPI library (docs/c-api.md).    *|
|*                                                                        *|
\*===----------------------------------------------------------------------===*/

#ifndef QOPT_C_H
#define QOPT_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*===-- Conventions -------------------------------------------------------===*
 *
 * Every function that can fail returns a qopt_status; QOPT_OK is 0. No
 * function crashes on a NULL argument: it returns
 * QOPT_ERROR_INVALID_ARGUMENT (or does nothing, for the free functions).
 *
 * Functions that take `char *error, size_t error_size` write a
 * NUL-terminated message there, truncated to error_size - 1 characters;
 * `error` may be NULL (or error_size 0) to discard it. On success they
 * write the warnings and notes, if any, or the empty string.
 *
 * Ownership: handles (qopt_compile_options, qopt_artifact) belong to the
 * caller from their create/load function until the matching free function.
 * Strings returned through `char **` are malloc'd and belong to the caller,
 * who releases them with qopt_string_free. `const char *` results and the
 * pointers inside qopt_tensor_info stay owned by the library: static
 * strings, or valid until the handle they came from is freed.
 *
 *===----------------------------------------------------------------------===*/

/** Why a call failed. */
typedef enum qopt_status {
  QOPT_OK = 0,
  /** A NULL or out-of-range argument, or a value the API itself rejects
   *  (an optimization level above 3, missing output folder, wrong tensor
   *  count). */
  QOPT_ERROR_INVALID_ARGUMENT = 1,
  /** A file could not be read, or is not what it should be: the model, a
   *  manifest, a report. */
  QOPT_ERROR_IO = 2,
  /** The compiler reported errors (unknown precision, unsupported operator,
   *  bad calibration data, ...): the message holds every diagnostic, as
   *  the qopt tool prints them. */
  QOPT_ERROR_COMPILE = 3,
  /** The artifact could not be loaded (not an artifact, a CPU that lacks
   *  its features, a missing library, ...). */
  QOPT_ERROR_LOAD = 4,
  /** The model's entry point failed. */
  QOPT_ERROR_RUN = 5,
  /** The artifact has no such file (report.json of a float compile). */
  QOPT_ERROR_NOT_FOUND = 6,
  QOPT_ERROR_OUT_OF_MEMORY = 7,
  /** The progress callback asked the compile to stop. */
  QOPT_ERROR_CANCELLED = 8
} qopt_status;

/** A short English name of `status` ("invalid argument", ...); never NULL. */
const char *qopt_status_string(qopt_status status);

/*===-- Versions ----------------------------------------------------------===*/

/** Bumped when a declaration of this header changes incompatibly. */
#define QOPT_C_API_VERSION 1

/** The QOPT_C_API_VERSION the library was built with (compare it with the
 *  header's to catch a stale library). */
int qopt_c_api_version(void);

/** The qopt release ("0.1.0"), the same one manifests record. */
const char *qopt_version(void);

/*===-- Compiling ---------------------------------------------------------===*
 *
 * Each setter is one of the qopt tool's flags (docs/tools.md), named in
 * its comment. Setters copy their strings and only reject NULL; values are
 * checked by qopt_compile, which reports a bad one (an unknown precision or
 * CPU, a malformed shape) in its error message.
 *
 *===----------------------------------------------------------------------===*/

typedef struct qopt_compile_options qopt_compile_options;

/** Options with qopt's defaults: x86_64-unknown-linux-gnu for the native
 *  CPU, name "model", -O3, weights in weights.bin, float (no precision),
 *  100 calibration samples by the percentile method, nothing printed.
 *  Returns NULL only when out of memory. */
qopt_compile_options *qopt_compile_options_create(void);
void qopt_compile_options_free(qopt_compile_options *options);

/** --target: the target triple. */
qopt_status
qopt_compile_options_set_target_triple(qopt_compile_options *options,
                                       const char *triple);
/** -mcpu: "native" or a CPU name ("znver4", "x86-64-v3", ...). */
qopt_status qopt_compile_options_set_cpu(qopt_compile_options *options,
                                         const char *cpu);
/** -mattr: extra target features ("+avx512f,-avx512vnni"). */
qopt_status qopt_compile_options_set_features(qopt_compile_options *options,
                                              const char *features);
/** --name: the C symbol prefix (NAME_run) and the code files' stem. */
qopt_status qopt_compile_options_set_name(qopt_compile_options *options,
                                          const char *name);
/** --recipe: a built-in recipe (balanced, quality, edge-int8) or a YAML/JSON
 *  recipe file of per-layer precisions; the precision sets what it leaves
 *  open. */
qopt_status qopt_compile_options_set_recipe(qopt_compile_options *options,
                                            const char *recipe);
/** --emit-onnx: also write the quantized model as ONNX for other runtimes
 *  (QDQ, com.microsoft MatMulNBits) to this file, after the artifact. */
qopt_status qopt_compile_options_set_emit_onnx(qopt_compile_options *options,
                                               const char *path);
/** -o: the artifact folder. Required: qopt_compile has no default. */
qopt_status qopt_compile_options_set_output_dir(qopt_compile_options *options,
                                                const char *dir);
/** --force: replace a file, a link or a non-artifact folder at the output
 *  folder (never the current folder or the model's). Nonzero: on. */
qopt_status qopt_compile_options_set_force(qopt_compile_options *options,
                                           int force);
/** --input-shape: "NAME=D0xD1..." (an input's static shape) or "NAME=N" (a
 *  symbolic dimension's value). Repeatable: each call adds one. */
qopt_status qopt_compile_options_add_input_shape(qopt_compile_options *options,
                                                 const char *spec);
/** --freeze-input: "NAME=file.npy" replaces an input by a constant.
 *  Repeatable. */
qopt_status qopt_compile_options_add_freeze_input(qopt_compile_options *options,
                                                  const char *spec);
/** --embed-weights: keep the weights inside the code. Nonzero: on. */
qopt_status
qopt_compile_options_set_embed_weights(qopt_compile_options *options,
                                       int embed);
/** -O: LLVM optimization level, 0 to 3 (checked by qopt_compile). */
qopt_status qopt_compile_options_set_opt_level(qopt_compile_options *options,
                                               int level);
/** --precision: "w8a16", "w4a16-g32", "w8a8-static", ... (docs/
 *  quantization.md); "" compiles float. */
qopt_status qopt_compile_options_set_precision(qopt_compile_options *options,
                                               const char *precision);
/** --algorithm: "rtn", "gptq" or "awq"; "" lets qopt choose. */
qopt_status qopt_compile_options_set_algorithm(qopt_compile_options *options,
                                               const char *algorithm);
/** --exclude: ops whose ONNX node name matches this regex stay float. */
qopt_status qopt_compile_options_set_exclude(qopt_compile_options *options,
                                             const char *regex);
/** --calib: a folder of samples (.npy/.npz files or ONNX test_data_set_*
 *  folders), or a token-id .npy with calibration offsets. */
qopt_status
qopt_compile_options_set_calibration_data(qopt_compile_options *options,
                                          const char *path);
/** --calib-offsets: story offsets .npy; the calibration data is token ids. */
qopt_status
qopt_compile_options_set_calibration_offsets(qopt_compile_options *options,
                                             const char *path);
/** --calib-samples: the most samples calibration uses. */
qopt_status
qopt_compile_options_set_calibration_samples(qopt_compile_options *options,
                                             size_t samples);
/** --calib-method: "minmax", "percentile", "entropy" or "mse". */
qopt_status
qopt_compile_options_set_calibration_method(qopt_compile_options *options,
                                            const char *method);
/** --calib-table: written after calibrating on data; read instead of
 *  calibrating when no data is set. */
qopt_status
qopt_compile_options_set_calibration_table(qopt_compile_options *options,
                                           const char *path);
/** Print progress, the phase timings and the quality report's table to
 *  stderr, as `qopt -v` does. Off by default: a compile prints nothing and
 *  its diagnostics go to the error buffer only. Nonzero: on. */
qopt_status qopt_compile_options_set_verbose(qopt_compile_options *options,
                                             int verbose);

/** Called as each compile phase starts, with its name ("importing
 *  model.onnx", "calibrating", "quantizing (gptq)", "measuring quality
 *  (report)", "compiling for x86_64 (znver4)"), on the thread that called
 *  qopt_compile. Return 0 to go on; nonzero stops the compile before that
 *  phase, and qopt_compile returns QOPT_ERROR_CANCELLED. A phase already
 *  running (a long calibration) is not interrupted. */
typedef int (*qopt_progress_callback)(const char *phase, void *user_data);

/** Sets the progress callback (NULL: none) and the pointer passed to it. */
qopt_status qopt_compile_options_set_progress(qopt_compile_options *options,
                                              qopt_progress_callback callback,
                                              void *user_data);

/** Compiles the ONNX model at `model_path` (binary .onnx or ONNX text
 *  .onnxtxt) into the options' output folder. Returns QOPT_OK, or an error
 *  with every diagnostic of the compile in `error`, one per line, the same
 *  text the qopt tool prints ("qopt: error: node 'X': ..."). Compiles from
 *  several threads are safe and run one at a time. */
qopt_status qopt_compile(const char *model_path,
                         const qopt_compile_options *options, char *error,
                         size_t error_size);

/*===-- Artifacts ---------------------------------------------------------===*/

typedef struct qopt_artifact qopt_artifact;

/** One input or output, as the manifest declares it. */
typedef struct qopt_tensor_info {
  const char *name;
  const char *dtype; /* "float32", "int64", "bool", ... */
  int rank;
  const int64_t *shape; /* rank entries */
  size_t element_size;  /* bytes per element */
  size_t num_elements;
} qopt_tensor_info;

/** Loads the artifact folder `dir` into `*artifact` (set to NULL on
 *  failure). */
qopt_status qopt_artifact_load(const char *dir, qopt_artifact **artifact,
                               char *error, size_t error_size);
/** Like qopt_artifact_load, on a named device: "cpu" (x86 artifacts),
 *  "vulkan" (SPIR-V artifacts), or NULL/"" for the one the artifact was
 *  compiled for (qrt_load_on_device). An artifact for another device is
 *  refused with QOPT_ERROR_LOAD. */
qopt_status qopt_artifact_load_on_device(const char *dir, const char *device,
                                         qopt_artifact **artifact, char *error,
                                         size_t error_size);
void qopt_artifact_free(qopt_artifact *artifact);

/** Counts of inputs and outputs; 0 for NULL. */
size_t qopt_artifact_num_inputs(const qopt_artifact *artifact);
size_t qopt_artifact_num_outputs(const qopt_artifact *artifact);

/** Describes input or output `index` (in manifest order) into `*info`.
 *  The strings and the shape live as long as `artifact`. */
qopt_status qopt_artifact_input_info(const qopt_artifact *artifact,
                                     size_t index, qopt_tensor_info *info);
qopt_status qopt_artifact_output_info(const qopt_artifact *artifact,
                                      size_t index, qopt_tensor_info *info);

/** The triple and CPU the artifact was compiled for, as one string ("" for
 *  NULL). */
const char *qopt_artifact_target(const qopt_artifact *artifact);

/** Where the loaded artifact runs: "cpu", or "vulkan:<device name>" (""
 *  for NULL). */
const char *qopt_artifact_device(const qopt_artifact *artifact);

/** Runs the model once. `inputs` and `outputs` hold one pointer per tensor
 *  in manifest order, `num_inputs` and `num_outputs` of them (checked
 *  against the artifact's), each to a caller-owned contiguous row-major
 *  buffer of the declared dtype and shape. An artifact holds one workspace:
 *  do not run it from two threads at once (load it twice instead). */
qopt_status qopt_artifact_run(qopt_artifact *artifact,
                              const void *const *inputs, size_t num_inputs,
                              void *const *outputs, size_t num_outputs,
                              char *error, size_t error_size);

/** Runs the artifact's later qopt_artifact_run calls on `threads` threads
 *  (1 by default): the caller's and threads - 1 parked between runs. The
 *  outputs are byte-identical for every count. `*used` (may be NULL)
 *  receives the count in effect: 1 for code that does not split over
 *  threads (device artifacts, or x86 code whose entry could not be shared).
 *  QOPT_ERROR_INVALID_ARGUMENT for threads < 1. */
qopt_status qopt_artifact_set_threads(qopt_artifact *artifact, int threads,
                                      int *used);

/** A language model's perplexity, as `qopt eval` measures it. */
typedef struct qopt_perplexity {
  double perplexity;
  double mean_nll; /* nats per predicted token */
  size_t predicted_tokens;
  size_t truncated_stories;      /* stories longer than the model's sequence */
  int64_t seq;                   /* the model's sequence length */
  size_t first_story, end_story; /* the half-open range evaluated */
} qopt_perplexity;

/** Measures the perplexity of the loaded language model (ids [1, seq] ->
 *  logits [1, seq, vocab] first) on token ids `ids` split into stories at
 *  `offsets` (num_offsets = stories + 1 increasing boundaries), stories
 *  `stories` ("FIRST:END", half-open; NULL or "" for all). With `decode`
 *  nonzero, a --kv-cache artifact runs token by token (`qopt eval
 *  --decode`). Results go to `*result`. */
qopt_status qopt_artifact_eval_perplexity(
    qopt_artifact *artifact, const int64_t *ids, size_t num_ids,
    const int64_t *offsets, size_t num_offsets, const char *stories, int decode,
    qopt_perplexity *result, char *error, size_t error_size);

/** The text of the artifact's manifest.json (docs/artifact.md) in `*json`,
 *  malloc'd: release it with qopt_string_free. Needs no load: the artifact
 *  may be for another machine. */
qopt_status qopt_artifact_manifest_json(const char *dir, char **json,
                                        char *error, size_t error_size);

/** The text of the artifact's report.json, the quality report of a
 *  quantized compile (docs/quantization.md), in `*json` as above; a float
 *  artifact has none (QOPT_ERROR_NOT_FOUND). */
qopt_status qopt_artifact_report_json(const char *dir, char **json, char *error,
                                      size_t error_size);

/** Releases a string returned through a `char **` argument; NULL is a
 *  no-op. */
void qopt_string_free(char *string);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_C_H */
