/*===- capi_test.c - qopt's C API, used from C -----------------*- C -*-===*\
|*                                                                        *|
|* capi_test INPUTS_DIR WORK_DIR: compiles the models in INPUTS_DIR       *|
|* through qopt-c.h into a fresh folder under WORK_DIR, runs them against *|
|* values computed here, reads their manifests and reports, and walks     *|
|* the error paths. Prints every failed check; exits 1 if any failed.     *|
|*                                                                        *|
\*===----------------------------------------------------------------------===*/

#define _XOPEN_SOURCE 700

#include "qopt-c.h"

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { K = 16, N = 32, ERROR_SIZE = 4096 };

static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ++failures;                                                              \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
    }                                                                          \
  } while (0)

static const char *inputsDir, *workDir;
static char errorText[ERROR_SIZE];

static const char *path2(const char *dir, const char *name) {
  static char buffers[8][1024];
  static int next;
  char *buffer = buffers[next++ % 8];
  snprintf(buffer, sizeof buffers[0], "%s/%s", dir, name);
  return buffer;
}

static const char *input(const char *name) { return path2(inputsDir, name); }
static const char *work(const char *name) { return path2(workDir, name); }

static int contains(const char *text, const char *part) {
  return text && strstr(text, part) != NULL;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* The model's constants, as dense-relu.onnxtxt's comment defines them. */
static float weight(int k, int n) { return ((7 * k + 3 * n) % 11 - 5) / 4.0f; }
static float bias(int n) { return ((n % 5) - 2) / 2.0f; }

static void referenceDense(const float *x, int rows, float *z) {
  for (int r = 0; r < rows; ++r)
    for (int n = 0; n < N; ++n) {
      float acc = bias(n);
      for (int k = 0; k < K; ++k)
        acc += x[r * K + k] * weight(k, n);
      z[r * N + n] = acc > 0 ? acc : 0;
    }
}

/* Deterministic inputs in [-1, 1]. */
static void fillInput(float *x, int count, unsigned seed) {
  for (int i = 0; i < count; ++i) {
    seed = seed * 1103515245u + 12345u;
    x[i] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
  }
}

/* Writes `count` floats as a float32 .npy file (format 1.0) of `shape`, a
 * Python tuple ("(2, 16)", "(4,)"). */
static int writeNpy(const char *path, const float *data, int count,
                    const char *shape) {
  char header[128];
  int n = snprintf(header, sizeof header,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                   shape);
  /* Magic (6) + version (2) + length (2) + header, padded to 64 bytes with
   * spaces and ended by a newline. */
  int total = (10 + n + 1 + 63) / 64 * 64;
  unsigned short length = (unsigned short)(total - 10);
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fputc(length & 0xff, f);
  fputc(length >> 8, f);
  fwrite(header, 1, (size_t)n, f);
  for (int i = 10 + n; i < total - 1; ++i)
    fputc(' ', f);
  fputc('\n', f);
  fwrite(data, sizeof(float), (size_t)count, f);
  return fclose(f);
}

/* Runs `dir` on `x` (rows x K) and compares with the reference within
 * `tolerance`. */
static void checkDenseRun(const char *dir, int rows, float tolerance) {
  qopt_artifact *artifact = NULL;
  qopt_status s = qopt_artifact_load(dir, &artifact, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK, "loading %s: %s", dir, errorText);
  if (s != QOPT_OK)
    return;
  CHECK(qopt_artifact_num_inputs(artifact) == 1, "inputs of %s", dir);
  CHECK(qopt_artifact_num_outputs(artifact) == 1, "outputs of %s", dir);
  qopt_tensor_info info;
  CHECK(qopt_artifact_input_info(artifact, 0, &info) == QOPT_OK, "%s", dir);
  CHECK(strcmp(info.name, "X") == 0, "input name %s", info.name);
  CHECK(strcmp(info.dtype, "float32") == 0, "input dtype %s", info.dtype);
  CHECK(info.rank == 2 && info.shape[0] == rows && info.shape[1] == K,
        "input shape of %s", dir);
  CHECK(info.num_elements == (size_t)(rows * K) && info.element_size == 4,
        "input size of %s", dir);
  CHECK(qopt_artifact_output_info(artifact, 0, &info) == QOPT_OK, "%s", dir);
  CHECK(strcmp(info.name, "Z") == 0, "output name %s", info.name);
  CHECK(info.rank == 2 && info.shape[0] == rows && info.shape[1] == N,
        "output shape of %s", dir);

  float *x = malloc(sizeof(float) * (size_t)(rows * K));
  float *z = malloc(sizeof(float) * (size_t)(rows * N));
  float *expected = malloc(sizeof(float) * (size_t)(rows * N));
  fillInput(x, rows * K, (unsigned)rows);
  for (int i = 0; i < rows * N; ++i)
    z[i] = NAN;
  referenceDense(x, rows, expected);
  const void *inputs[1] = {x};
  void *outputs[1] = {z};
  s = qopt_artifact_run(artifact, inputs, 1, outputs, 1, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK, "running %s: %s", dir, errorText);
  float worst = 0;
  for (int i = 0; i < rows * N; ++i) {
    float e = fabsf(z[i] - expected[i]);
    if (!(e <= worst)) /* NaN counts as worst */
      worst = isnan(e) ? INFINITY : e;
  }
  CHECK(worst <= tolerance, "%s: max |error| %g above %g", dir, worst,
        tolerance);
  /* The same outputs, byte for byte, on two threads. */
  {
    int used = 0;
    float *z2 = malloc(sizeof(float) * (size_t)(rows * N));
    void *outputs2[1] = {z2};
    CHECK(qopt_artifact_set_threads(artifact, 2, &used) == QOPT_OK &&
              used >= 1,
          "set_threads on %s", dir);
    s = qopt_artifact_run(artifact, inputs, 1, outputs2, 1, errorText,
                          ERROR_SIZE);
    CHECK(s == QOPT_OK, "running %s on %d threads: %s", dir, used, errorText);
    CHECK(memcmp(z, z2, sizeof(float) * (size_t)(rows * N)) == 0,
          "%s: %d threads differ from one", dir, used);
    CHECK(qopt_artifact_set_threads(artifact, 0, NULL) ==
              QOPT_ERROR_INVALID_ARGUMENT,
          "set_threads(0) refused");
    CHECK(qopt_artifact_set_threads(artifact, 1, NULL) == QOPT_OK, "1 thread");
    free(z2);
  }

  /* The run checks its buffers before calling the model. */
  s = qopt_artifact_run(artifact, inputs, 2, outputs, 1, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            contains(errorText, "2 input buffers given, the model has 1"),
        "%s", errorText);
  void *noOutput[1] = {NULL};
  s = qopt_artifact_run(artifact, inputs, 1, noOutput, 1, errorText,
                        ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            contains(errorText, "no buffer for output 'Z'"),
        "%s", errorText);
  s = qopt_artifact_run(artifact, NULL, 1, outputs, 1, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            contains(errorText, "no buffer for input 'X'"),
        "%s", errorText);
  CHECK(qopt_artifact_input_info(artifact, 1, &info) ==
            QOPT_ERROR_INVALID_ARGUMENT,
        "input 1 of a one-input model");
  CHECK(qopt_artifact_output_info(artifact, 0, NULL) ==
            QOPT_ERROR_INVALID_ARGUMENT,
        "NULL info");
  free(x);
  free(z);
  free(expected);
  qopt_artifact_free(artifact);
}

static char *manifestOf(const char *dir) {
  char *json = NULL;
  qopt_status s =
      qopt_artifact_manifest_json(dir, &json, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK && json, "manifest of %s: %s", dir, errorText);
  return json;
}

/* Options for dense-relu at `rows` rows into work/NAME. */
static qopt_compile_options *denseOptions(const char *name, int rows) {
  char shape[32];
  snprintf(shape, sizeof shape, "X=%dx%d", rows, K);
  qopt_compile_options *options = qopt_compile_options_create();
  CHECK(options != NULL, "create");
  CHECK(qopt_compile_options_set_output_dir(options, work(name)) == QOPT_OK,
        "output dir");
  CHECK(qopt_compile_options_add_input_shape(options, shape) == QOPT_OK,
        "input shape");
  return options;
}

static qopt_status compileDense(const qopt_compile_options *options) {
  return qopt_compile(input("dense-relu.onnxtxt"), options, errorText,
                      ERROR_SIZE);
}

static void testFloat(void) {
  qopt_compile_options *options = denseOptions("float", 3);
  qopt_status s = compileDense(options);
  CHECK(s == QOPT_OK, "float compile: %s", errorText);
  CHECK(errorText[0] == '\0', "a clean compile leaves no message: %s",
        errorText);
  qopt_compile_options_free(options);
  checkDenseRun(work("float"), 3, 1e-4f);

  char *manifest = manifestOf(work("float"));
  CHECK(contains(manifest, "\"format\": \"qopt-artifact\""), "%s", manifest);
  CHECK(contains(manifest, "\"name\": \"X\""), "names its input: %s", manifest);
  CHECK(contains(manifest, "\"name\": \"Z\""), "names its output");
  CHECK(contains(manifest, "\"embedded\": false"), "weights in weights.bin");
  CHECK(!contains(manifest, "\"quantization\""), "a float compile");
  char version[64];
  snprintf(version, sizeof version, "\"qopt_version\": \"%s\"", qopt_version());
  CHECK(contains(manifest, version), "manifest records %s", version);
  qopt_string_free(manifest);
  CHECK(exists(work("float/weights.bin")), "weights.bin");

  char *report = (char *)"untouched";
  s = qopt_artifact_report_json(work("float"), &report, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_NOT_FOUND && report == NULL &&
            contains(errorText, "has no report.json: only quantized "
                                "compiles write one"),
        "%s", errorText);
}

/* Name, embedded weights, CPU and features, opt level: each shows in the
 * artifact. */
static void testCodegenOptions(void) {
  qopt_compile_options *options = denseOptions("named", 2);
  qopt_compile_options_set_name(options, "tiny");
  qopt_compile_options_set_embed_weights(options, 1);
  qopt_compile_options_set_cpu(options, "x86-64-v2");
  qopt_compile_options_set_features(options, "-sse4.2");
  qopt_compile_options_set_opt_level(options, 0);
  qopt_compile_options_set_target_triple(options, "x86_64-unknown-linux-gnu");
  qopt_status s = compileDense(options);
  CHECK(s == QOPT_OK, "codegen options: %s", errorText);
  checkDenseRun(work("named"), 2, 1e-4f);
  char *manifest = manifestOf(work("named"));
  CHECK(contains(manifest, "\"name\": \"tiny\""), "%s", manifest);
  CHECK(contains(manifest, "\"library\": \"tiny.so\""), "library name");
  CHECK(contains(manifest, "\"embedded\": true"), "embedded weights");
  CHECK(contains(manifest, "\"cpu\": \"x86-64-v2\""), "cpu");
  CHECK(contains(manifest, "\"sse4.1\"") && !contains(manifest, "\"sse4.2\""),
        "-sse4.2 removes one feature of x86-64-v2: %s", manifest);
  qopt_string_free(manifest);
  CHECK(!exists(work("named/weights.bin")), "no weights.bin when embedded");

  qopt_artifact *artifact = NULL;
  s = qopt_artifact_load(work("named"), &artifact, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK && contains(qopt_artifact_target(artifact), "x86-64-v2"),
        "target %s", qopt_artifact_target(artifact));
  qopt_artifact_free(artifact);

  qopt_compile_options_set_opt_level(options, 4);
  s = compileDense(options);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            strcmp(errorText, "qopt: error: optimization level 4 is out of "
                              "range (0 to 3)") == 0,
        "%s", errorText);
  qopt_compile_options_set_opt_level(options, 3);
  qopt_compile_options_set_target_triple(options, "riscv64-unknown-linux-gnu");
  s = compileDense(options);
  CHECK(s == QOPT_ERROR_COMPILE &&
            contains(errorText, "qopt: error: unknown target "
                                "'riscv64-unknown-linux-gnu'; this build "
                                "compiles for: x86: x86_64-unknown-linux-gnu"),
        "an unknown triple lists the known ones: %s", errorText);
  qopt_compile_options_free(options);
}

static void testQuantized(void) {
  qopt_compile_options *options = denseOptions("w8a16", 4);
  qopt_compile_options_set_precision(options, "w8a16");
  qopt_compile_options_set_algorithm(options, "rtn");
  qopt_status s = compileDense(options);
  CHECK(s == QOPT_OK, "w8a16 compile: %s", errorText);
  qopt_compile_options_free(options);
  /* Per-channel int8 weights: each of the K products is off by at most
   * |x| * scale / 2 with |x| <= 1 and scale = 1.25 / 127. */
  checkDenseRun(work("w8a16"), 4, K * 1.25f / 127 / 2 + 1e-4f);
  char *manifest = manifestOf(work("w8a16"));
  CHECK(contains(manifest, "\"quantization\""), "%s", manifest);
  CHECK(contains(manifest, "\"precision\": \"w8a16\""), "precision recorded");
  CHECK(contains(manifest, "\"algorithm\": \"rtn\""), "algorithm recorded");
  qopt_string_free(manifest);

  char *report = NULL;
  s = qopt_artifact_report_json(work("w8a16"), &report, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK, "%s", errorText);
  CHECK(contains(report, "\"format\": \"qopt-quality-report\""), "%s", report);
  CHECK(contains(report, "\"precision\": \"w8a16\""), "report precision");
  qopt_string_free(report);

  /* An excluded op stays float: nothing is quantized. */
  options = denseOptions("excluded", 4);
  qopt_compile_options_set_precision(options, "w8a16");
  qopt_compile_options_set_exclude(options, "MatMul.*");
  s = compileDense(options);
  CHECK(s == QOPT_OK, "excluded compile: %s", errorText);
  qopt_compile_options_free(options);
  checkDenseRun(work("excluded"), 4, 1e-4f);
  manifest = manifestOf(work("excluded"));
  CHECK(contains(manifest, "\"layers\": []"), "%s", manifest);
  qopt_string_free(manifest);
}

/* w8a8-static on a folder of .npy samples: calibration (samples, method,
 * table) and the quality report. */
static void testCalibrated(void) {
  const char *data = work("calib");
  CHECK(mkdir(data, 0755) == 0, "mkdir %s", data);
  float x[2 * K];
  for (int i = 0; i < 3; ++i) {
    char name[32];
    snprintf(name, sizeof name, "calib/s%d.npy", i);
    fillInput(x, 2 * K, 100u + (unsigned)i);
    CHECK(writeNpy(work(name), x, 2 * K, "(2, 16)") == 0, "writing %s", name);
  }
  qopt_compile_options *options = denseOptions("static", 2);
  qopt_compile_options_set_precision(options, "w8a8-static");
  qopt_compile_options_set_calibration_data(options, data);
  qopt_compile_options_set_calibration_samples(options, 2);
  qopt_compile_options_set_calibration_method(options, "minmax");
  qopt_compile_options_set_calibration_table(options, work("table.json"));
  qopt_status s = compileDense(options);
  CHECK(s == QOPT_OK, "calibrated compile: %s", errorText);
  /* Activations in int8 as well: a looser bound. */
  checkDenseRun(work("static"), 2, 0.25f);
  char *manifest = manifestOf(work("static"));
  CHECK(contains(manifest, "\"precision\": \"w8a8-static\""), "%s", manifest);
  CHECK(contains(manifest, "\"method\": \"minmax\""), "calibration method");
  CHECK(contains(manifest, "\"samples\": 2"), "calibration samples");
  qopt_string_free(manifest);
  CHECK(exists(work("table.json")), "calibration table written");

  char *report = NULL;
  s = qopt_artifact_report_json(work("static"), &report, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK, "%s", errorText);
  CHECK(contains(report, "\"format\": \"qopt-quality-report\""), "%s", report);
  CHECK(contains(report, "\"sqnr_db\""), "per-layer metrics: %s", report);
  CHECK(contains(report, "\"name\": \"Z\""), "output metrics");
  qopt_string_free(report);

  /* The saved table replaces calibration. */
  qopt_compile_options_set_calibration_data(options, "");
  qopt_compile_options_set_output_dir(options, work("from-table"));
  s = compileDense(options);
  CHECK(s == QOPT_OK, "compile from the table: %s", errorText);
  checkDenseRun(work("from-table"), 2, 0.25f);

  /* Offsets make the data token ids, which this model does not take. */
  qopt_compile_options_set_calibration_data(options, work("calib/s0.npy"));
  qopt_compile_options_set_calibration_offsets(options, work("calib/s1.npy"));
  s = compileDense(options);
  CHECK(s == QOPT_ERROR_COMPILE &&
            contains(errorText, "qopt: error: token-id calibration needs a "
                                "model with one [1, seq] integer input"),
        "%s", errorText);
  qopt_compile_options_free(options);

  options = denseOptions("no-data", 2);
  qopt_compile_options_set_precision(options, "w8a8-static");
  s = compileDense(options);
  CHECK(s == QOPT_ERROR_COMPILE &&
            contains(errorText, "precision 'w8a8-static' needs calibration "
                                "data"),
        "%s", errorText);
  qopt_compile_options_set_calibration_data(options, data);
  qopt_compile_options_set_calibration_method(options, "median");
  s = compileDense(options);
  CHECK(s == QOPT_ERROR_COMPILE &&
            contains(errorText, "unknown calibration method 'median'"),
        "%s", errorText);
  qopt_compile_options_free(options);
}

/* S frozen from a .npy file: the artifact takes X only. */
static void testFreezeInput(void) {
  float scale[4] = {2, -1, 0.5f, 3};
  CHECK(writeNpy(work("s.npy"), scale, 4, "(4,)") == 0, "writing s.npy");
  char spec[1100];
  snprintf(spec, sizeof spec, "S=%s", work("s.npy"));
  qopt_compile_options *options = qopt_compile_options_create();
  qopt_compile_options_set_output_dir(options, work("scale"));
  qopt_compile_options_add_freeze_input(options, spec);
  qopt_status s =
      qopt_compile(input("scale.onnxtxt"), options, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK, "freeze S: %s", errorText);
  qopt_compile_options_free(options);
  qopt_artifact *artifact = NULL;
  s = qopt_artifact_load(work("scale"), &artifact, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK, "%s", errorText);
  if (s == QOPT_OK) {
    CHECK(qopt_artifact_num_inputs(artifact) == 1, "S is no input any more");
    float x[8] = {1, 2, 3, 4, -1, -2, -3, -4}, y[8];
    const void *inputs[1] = {x};
    void *outputs[1] = {y};
    s = qopt_artifact_run(artifact, inputs, 1, outputs, 1, errorText,
                          ERROR_SIZE);
    CHECK(s == QOPT_OK, "%s", errorText);
    for (int i = 0; i < 8; ++i)
      CHECK(y[i] == x[i] * scale[i % 4], "y[%d] = %g", i, y[i]);
    qopt_artifact_free(artifact);
  }

  options = qopt_compile_options_create();
  qopt_compile_options_set_output_dir(options, work("scale-bad"));
  qopt_compile_options_add_freeze_input(options, "S");
  s = qopt_compile(input("scale.onnxtxt"), options, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_COMPILE &&
            contains(errorText, "--freeze-input: expected NAME=file.npy in "
                                "'S'"),
        "%s", errorText);
  qopt_compile_options_free(options);
}

/* Shapes: a symbolic dimension needs one; a bad one is reported. */
static void testShapes(void) {
  qopt_compile_options *options = qopt_compile_options_create();
  qopt_compile_options_set_output_dir(options, work("dynamic"));
  qopt_status s = compileDense(options);
  CHECK(s == QOPT_ERROR_COMPILE &&
            strncmp(errorText,
                    "qopt: error: node 'X': graph input 'X' has dynamic "
                    "dimension 0 ('N')",
                    60) == 0,
        "diagnostics name the node: %s", errorText);
  qopt_compile_options_add_input_shape(options, "X=2xq");
  s = compileDense(options);
  CHECK(s == QOPT_ERROR_COMPILE &&
            contains(errorText, "qopt: error: --input-shape: bad dimension "
                                "'q' in 'X=2xq'"),
        "%s", errorText);
  qopt_compile_options_free(options);
  /* The batch by its dimension's name. */
  options = qopt_compile_options_create();
  qopt_compile_options_set_output_dir(options, work("by-dim"));
  qopt_compile_options_add_input_shape(options, "N=5");
  s = compileDense(options);
  CHECK(s == QOPT_OK, "N=5: %s", errorText);
  qopt_compile_options_free(options);
  checkDenseRun(work("by-dim"), 5, 1e-4f);
}

static void testCompileErrors(void) {
  qopt_compile_options *options = denseOptions("bad", 2);
  qopt_compile_options_set_precision(options, "w9a9");
  qopt_status s = compileDense(options);
  CHECK(s == QOPT_ERROR_COMPILE &&
            strncmp(errorText, "qopt: error: unknown precision 'w9a9'", 37) ==
                0,
        "%s", errorText);
  CHECK(!exists(work("bad")), "a failed compile writes nothing");

  /* A short buffer gets the start of the message, terminated. */
  char small[8];
  memset(small, 'x', sizeof small);
  s = qopt_compile(input("dense-relu.onnxtxt"), options, small, sizeof small);
  CHECK(s == QOPT_ERROR_COMPILE && strcmp(small, "qopt: e") == 0, "%s", small);
  s = qopt_compile(input("dense-relu.onnxtxt"), options, NULL, 0);
  CHECK(s == QOPT_ERROR_COMPILE, "no buffer");
  qopt_compile_options_set_precision(options, "w8a16");
  qopt_compile_options_set_algorithm(options, "best");
  s = compileDense(options);
  CHECK(s == QOPT_ERROR_COMPILE &&
            contains(errorText, "unknown --algorithm 'best'"),
        "%s", errorText);
  qopt_compile_options_free(options);

  /* One diagnostic of several lines comes back whole. */
  options = qopt_compile_options_create();
  qopt_compile_options_set_output_dir(options, work("unsupported"));
  s = qopt_compile(input("unsupported.onnxtxt"), options, errorText,
                   ERROR_SIZE);
  CHECK(s == QOPT_ERROR_COMPILE &&
            contains(errorText, "qopt: error: the model uses 2 unsupported "
                                "operator(s):\n") &&
            contains(errorText, "Frobnicate (opset 14) used by 1 node(s)") &&
            contains(errorText, "Sinh (opset 14) used by 1 node(s)"),
        "%s", errorText);

  s = qopt_compile(input("missing.onnx"), options, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_IO && contains(errorText, "cannot open '") &&
            contains(errorText, "missing.onnx': No such file or directory"),
        "%s", errorText);
  s = qopt_compile(inputsDir, options, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_IO && contains(errorText, "Is a directory"), "%s",
        errorText);
  s = qopt_compile("-", options, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_IO, "'-' is a file name, never stdin: %s", errorText);
  s = qopt_compile(NULL, options, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            strcmp(errorText, "qopt: error: no model path given") == 0,
        "%s", errorText);
  qopt_compile_options_free(options);

  s = qopt_compile(input("dense-relu.onnxtxt"), NULL, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            contains(errorText, "no compile options given"),
        "%s", errorText);
  options = qopt_compile_options_create();
  s = compileDense(options);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            contains(errorText, "no output folder"),
        "%s", errorText);
  qopt_compile_options_free(options);

  /* NULL handles and strings are refused, never dereferenced. */
  CHECK(qopt_compile_options_set_cpu(NULL, "znver4") ==
            QOPT_ERROR_INVALID_ARGUMENT,
        "NULL options");
  options = qopt_compile_options_create();
  CHECK(qopt_compile_options_set_precision(options, NULL) ==
            QOPT_ERROR_INVALID_ARGUMENT,
        "NULL precision");
  CHECK(qopt_compile_options_add_input_shape(options, NULL) ==
            QOPT_ERROR_INVALID_ARGUMENT,
        "NULL shape");
  CHECK(qopt_compile_options_set_force(NULL, 1) == QOPT_ERROR_INVALID_ARGUMENT,
        "NULL options");
  CHECK(qopt_compile_options_set_calibration_samples(NULL, 1) ==
            QOPT_ERROR_INVALID_ARGUMENT,
        "NULL options");
  qopt_compile_options_free(options);
  qopt_compile_options_free(NULL);
}

/* --force: a folder that is not an artifact is replaced only with it. */
static void testForce(void) {
  CHECK(mkdir(work("photos"), 0755) == 0, "mkdir");
  FILE *f = fopen(work("photos/a.jpg"), "w");
  CHECK(f != NULL, "a.jpg");
  if (f)
    fclose(f);
  qopt_compile_options *options = denseOptions("photos", 1);
  qopt_status s = compileDense(options);
  CHECK(s == QOPT_ERROR_COMPILE &&
            contains(errorText, "neither empty nor a qopt artifact (give "
                                "--force to replace it)"),
        "%s", errorText);
  CHECK(exists(work("photos/a.jpg")), "left as it was");
  qopt_compile_options_set_force(options, 1);
  s = compileDense(options);
  CHECK(s == QOPT_OK, "with force: %s", errorText);
  CHECK(!exists(work("photos/a.jpg")), "replaced");
  qopt_compile_options_free(options);
  checkDenseRun(work("photos"), 1, 1e-4f);
}

/* Runs `compile` with stderr sent to work/NAME and returns what it got. */
static char *captureStderr(const char *name, qopt_status (*compile)(int),
                           int verbose, qopt_status *status) {
  fflush(stderr);
  int saved = dup(2);
  int fd = open(work(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  *status = compile(verbose);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  FILE *f = fopen(work(name), "rb");
  char *text = calloc(1, 1 << 16);
  if (f) {
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
  }
  return text;
}

static qopt_status compileQuantizedVerbose(int verbose) {
  qopt_compile_options *options = denseOptions("verbose", 2);
  qopt_compile_options_set_precision(options, "w8a8-static");
  qopt_compile_options_set_calibration_data(options, work("calib"));
  qopt_compile_options_set_verbose(options, verbose);
  qopt_status s = compileDense(options);
  qopt_compile_options_free(options);
  return s;
}

/* Quiet by default; verbose prints what `qopt -v` does. */
static void testVerbose(void) {
  qopt_status s;
  char *quiet = captureStderr("quiet.txt", compileQuantizedVerbose, 0, &s);
  CHECK(s == QOPT_OK && quiet[0] == '\0', "nothing on stderr: '%s'", quiet);
  free(quiet);
  char *loud = captureStderr("loud.txt", compileQuantizedVerbose, 1, &s);
  CHECK(s == QOPT_OK, "%s", errorText);
  CHECK(contains(loud, "qopt: phase") && contains(loud, "calibrating") &&
            contains(loud, "weights of quantized ops"),
        "phases, progress and the report's table: '%s'", loud);
  free(loud);
}

static void testArtifactErrors(void) {
  qopt_artifact *artifact = (qopt_artifact *)&failures;
  qopt_status s =
      qopt_artifact_load(work("nowhere"), &artifact, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_LOAD && artifact == NULL &&
            contains(errorText, "cannot load '") &&
            contains(errorText, "No such file or directory"),
        "%s", errorText);
  s = qopt_artifact_load(NULL, &artifact, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT, "%s", errorText);
  s = qopt_artifact_load(work("float"), NULL, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT, "%s", errorText);
  CHECK(qopt_artifact_num_inputs(NULL) == 0, "NULL artifact");
  CHECK(strcmp(qopt_artifact_target(NULL), "") == 0, "NULL artifact");
  s = qopt_artifact_run(NULL, NULL, 0, NULL, 0, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT, "%s", errorText);
  qopt_artifact_free(NULL);

  char *json = NULL;
  s = qopt_artifact_manifest_json(work("nowhere"), &json, errorText,
                                  ERROR_SIZE);
  CHECK(s == QOPT_ERROR_IO && json == NULL &&
            contains(errorText, "No such file or directory"),
        "%s", errorText);
  s = qopt_artifact_report_json(work("nowhere"), &json, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_IO, "no artifact, no report: %s", errorText);
  /* The calibration folder is not an artifact; a JSON file that is not a
   * manifest is refused. */
  CHECK(mkdir(work("fake"), 0755) == 0, "mkdir");
  FILE *f = fopen(work("fake/manifest.json"), "w");
  if (f) {
    fputs("{\"format\": \"something-else\"}", f);
    fclose(f);
  }
  s = qopt_artifact_manifest_json(work("fake"), &json, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_IO && contains(errorText, "is not a qopt artifact "
                                                  "manifest"),
        "%s", errorText);
  s = qopt_artifact_manifest_json(NULL, &json, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT, "%s", errorText);
  s = qopt_artifact_manifest_json(work("float"), NULL, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT, "%s", errorText);
  qopt_string_free(NULL);
}

/* Records the phases a compile announces; stops before `stopAt`, if set. */
struct PhaseLog {
  char phases[1024];
  const char *stopAt;
};

static int logPhase(const char *phase, void *data) {
  struct PhaseLog *log = data;
  size_t used = strlen(log->phases);
  snprintf(log->phases + used, sizeof log->phases - used, "%s;", phase);
  return log->stopAt && strncmp(phase, log->stopAt, strlen(log->stopAt)) == 0;
}

static void testProgress(void) {
  struct PhaseLog log = {"", NULL};
  qopt_compile_options *options = denseOptions("progress", 2);
  qopt_compile_options_set_progress(options, logPhase, &log);
  qopt_status s = compileDense(options);
  CHECK(s == QOPT_OK, "%s", errorText);
  CHECK(contains(log.phases, "importing dense-relu.onnxtxt;compiling for "
                             "x86 ("),
        "phases: %s", log.phases);

  struct PhaseLog stop = {"", "compiling for"};
  qopt_compile_options_set_output_dir(options, work("progress-stopped"));
  qopt_compile_options_set_progress(options, logPhase, &stop);
  s = compileDense(options);
  CHECK(s == QOPT_ERROR_CANCELLED &&
            contains(errorText, "qopt: error: compile stopped before "
                                "compiling for x86 ("),
        "%d: %s", s, errorText);
  CHECK(!exists(work("progress-stopped/manifest.json")), "no artifact");
  CHECK(strcmp(qopt_status_string(QOPT_ERROR_CANCELLED), "cancelled") == 0,
        "status name");
  qopt_compile_options_set_progress(options, NULL, NULL);
  s = compileDense(options);
  CHECK(s == QOPT_OK, "without a callback: %s", errorText);
  qopt_compile_options_free(options);
  CHECK(qopt_compile_options_set_progress(NULL, logPhase, NULL) ==
            QOPT_ERROR_INVALID_ARGUMENT,
        "NULL options");
}

static void testDevices(void) {
  qopt_artifact *artifact = NULL;
  qopt_status s = qopt_artifact_load_on_device(work("float"), "cpu", &artifact,
                                               errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK && strcmp(qopt_artifact_device(artifact), "cpu") == 0,
        "%s", errorText);
  qopt_artifact_free(artifact);
  s = qopt_artifact_load_on_device(work("float"), "vulkan", &artifact,
                                   errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_LOAD && artifact == NULL &&
            contains(errorText, "cannot load"),
        "an x86 artifact on Vulkan: %d %s", s, errorText);
  CHECK(strcmp(qopt_artifact_device(NULL), "") == 0, "NULL artifact");
}

/* bigram-lm's logits for token v are row v of E (its comment). */
static double bigramNLL(int from, int to) {
  double logits[8], sum = 0;
  for (int j = 0; j < 8; ++j) {
    logits[j] = ((3 * from + 5 * j) % 7 - 3) / 2.0;
    sum += exp(logits[j]);
  }
  return log(sum) - logits[to];
}

static void testPerplexity(void) {
  qopt_compile_options *options = qopt_compile_options_create();
  qopt_compile_options_set_output_dir(options, work("bigram"));
  qopt_status s =
      qopt_compile(input("bigram-lm.onnxtxt"), options, errorText, ERROR_SIZE);
  qopt_compile_options_free(options);
  CHECK(s == QOPT_OK, "%s", errorText);
  qopt_artifact *artifact = NULL;
  s = qopt_artifact_load(work("bigram"), &artifact, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK, "%s", errorText);
  if (s != QOPT_OK)
    return;
  /* Three stories; the seq-4 model sees the first 4 tokens of the second. */
  int64_t ids[12] = {1, 2, 3, 4, 5, 6, 7, 0, 3, 3, 2, 6};
  int64_t offsets[4] = {0, 3, 10, 12};
  qopt_perplexity result;
  s = qopt_artifact_eval_perplexity(artifact, ids, 12, offsets, 4, "0:2", 0,
                                    &result, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK, "%s", errorText);
  double nll = (bigramNLL(1, 2) + bigramNLL(2, 3) + bigramNLL(4, 5) +
                bigramNLL(5, 6) + bigramNLL(6, 7)) /
               5;
  CHECK(fabs(result.mean_nll - nll) < 1e-5 &&
            fabs(result.perplexity - exp(nll)) < 1e-4,
        "mean NLL %g (expected %g), perplexity %g", result.mean_nll, nll,
        result.perplexity);
  CHECK(result.predicted_tokens == 5 && result.truncated_stories == 1 &&
            result.seq == 4 && result.first_story == 0 && result.end_story == 2,
        "tokens %zu truncated %zu seq %lld stories %zu:%zu",
        result.predicted_tokens, result.truncated_stories,
        (long long)result.seq, result.first_story, result.end_story);
  s = qopt_artifact_eval_perplexity(artifact, ids, 12, offsets, 4, NULL, 0,
                                    &result, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK && result.end_story == 3 && result.predicted_tokens == 6,
        "all stories: %s", errorText);

  int64_t decreasing[3] = {0, 5, 4};
  s = qopt_artifact_eval_perplexity(artifact, ids, 12, decreasing, 3, NULL, 0,
                                    &result, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            contains(errorText, "not increasing at index 1"),
        "%s", errorText);
  s = qopt_artifact_eval_perplexity(artifact, ids, 3, offsets, 4, NULL, 0,
                                    &result, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            contains(errorText, "end at 12 but the token ids holds 3 tokens"),
        "%s", errorText);
  s = qopt_artifact_eval_perplexity(artifact, ids, 12, offsets, 4, "2:9", 0,
                                    &result, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT, "bad range: %s", errorText);
  s = qopt_artifact_eval_perplexity(artifact, ids, 12, offsets, 4, NULL, 1,
                                    &result, errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT &&
            contains(errorText, "has no \"kv_cache\" entry"),
        "decode without a KV cache: %s", errorText);
  s = qopt_artifact_eval_perplexity(NULL, ids, 12, offsets, 4, NULL, 0, &result,
                                    errorText, ERROR_SIZE);
  CHECK(s == QOPT_ERROR_INVALID_ARGUMENT, "NULL artifact");
  qopt_artifact_free(artifact);

  /* A model that is no language model: an error from the run, no crash. */
  s = qopt_artifact_load(work("float"), &artifact, errorText, ERROR_SIZE);
  CHECK(s == QOPT_OK, "%s", errorText);
  s = qopt_artifact_eval_perplexity(artifact, ids, 12, offsets, 4, NULL, 0,
                                    &result, errorText, ERROR_SIZE);
  CHECK(s != QOPT_OK && errorText[0], "dense-relu is no language model: %s",
        errorText);
  qopt_artifact_free(artifact);
}

static int removeEntry(const char *path, const struct stat *st, int flag,
                       struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: capi_test INPUTS_DIR WORK_DIR\n");
    return 2;
  }
  inputsDir = argv[1];
  static char dir[1024];
  mkdir(argv[2], 0755);
  snprintf(dir, sizeof dir, "%s/run-XXXXXX", argv[2]);
  if (!mkdtemp(dir)) {
    perror(dir);
    return 2;
  }
  workDir = dir;

  CHECK(qopt_c_api_version() == QOPT_C_API_VERSION, "library and header");
  CHECK(qopt_version()[0] != '\0', "version");
  CHECK(strcmp(qopt_status_string(QOPT_ERROR_COMPILE), "compile failed") == 0,
        "status names");

  testFloat();
  testCodegenOptions();
  testQuantized();
  testCalibrated();
  testFreezeInput();
  testShapes();
  testCompileErrors();
  testForce();
  testVerbose();
  testArtifactErrors();
  testProgress();
  testDevices();
  testPerplexity();

  if (failures) {
    fprintf(stderr, "%d check(s) failed; files kept in %s\n", failures,
            workDir);
    return 1;
  }
  nftw(workDir, removeEntry, 16, FTW_DEPTH | FTW_PHYS);
  printf("capi: all checks passed\n");
  return 0;
}
