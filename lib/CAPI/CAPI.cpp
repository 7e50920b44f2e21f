//===- CAPI.cpp - qopt's C API
//---------------------------------------------===//
//
// qopt-c.h over the driver (compiling) and qrt (loading and running). Each
// compile gets its own MLIRContext, whose diagnostics are formatted as the
// qopt tool prints them and handed back in the caller's buffer instead of
// stderr.
//
//===----------------------------------------------------------------------===//

#include "qopt-c.h"

#include "qopt/Calibration/Calibrate.h"
#include "qopt/Calibration/Samples.h"
#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/qrt.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

struct qopt_compile_options {
  qopt::CompileOptions compile;
  std::vector<std::string> inputShapes, freezeInputs;
  /// Kept signed and unchecked until qopt_compile, which reports a bad one.
  int optLevel = 3;
  qopt_progress_callback progress = nullptr;
  void *progressData = nullptr;
};

struct qopt_artifact {
  qrt_model *model = nullptr;
  /// The folder it came from (the manifest's KV-cache layout is read from
  /// there for decode-mode perplexity).
  std::string dir;
};

namespace {

/// Copies `text` into the caller's buffer, truncated, always terminated.
void writeMessage(char *buffer, size_t size, llvm::StringRef text) {
  if (!buffer || !size)
    return;
  size_t n = std::min(text.size(), size - 1);
  std::memcpy(buffer, text.data(), n);
  buffer[n] = '\0';
}

qopt_status fail(char *buffer, size_t size, qopt_status status,
                 const llvm::Twine &message) {
  writeMessage(buffer, size, ("qopt: error: " + message).str());
  return status;
}

/// Copies a setter's string into `field` (null when the options are).
qopt_status copyString(const char *value, std::string *field) {
  if (!field || !value)
    return QOPT_ERROR_INVALID_ARGUMENT;
  *field = value;
  return QOPT_OK;
}

/// Reads `file` of the artifact in `dir`, checks that it is a JSON object
/// whose "format" is `format`, and returns its text malloc'd.
qopt_status readArtifactJSON(const char *dir, llvm::StringRef file,
                             llvm::StringRef format, llvm::StringRef what,
                             char **json, char *error, size_t errorSize) {
  if (json)
    *json = nullptr;
  if (!dir || !json)
    return fail(error, errorSize, QOPT_ERROR_INVALID_ARGUMENT,
                "no artifact folder or result pointer given");
  llvm::SmallString<256> manifestPath(dir), path(dir);
  llvm::sys::path::append(manifestPath, "manifest.json");
  llvm::sys::path::append(path, file);
  // A float artifact has no report: say so, rather than that a file is
  // missing, when the folder is an artifact.
  if (path != manifestPath && !llvm::sys::fs::exists(path) &&
      llvm::sys::fs::exists(manifestPath))
    return fail(error, errorSize, QOPT_ERROR_NOT_FOUND,
                "'" + llvm::Twine(dir) + "' has no " + file +
                    ": only quantized compiles write one");
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return fail(error, errorSize, QOPT_ERROR_IO,
                "cannot read " + path + ": " + buffer.getError().message());
  llvm::StringRef text = (*buffer)->getBuffer();
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(text);
  if (!parsed)
    return fail(
        error, errorSize, QOPT_ERROR_IO,
        path + " is not valid JSON: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *object = parsed->getAsObject();
  if (!object || object->getString("format") != format)
    return fail(error, errorSize, QOPT_ERROR_IO,
                path + " is not a qopt " + what);
  char *copy = static_cast<char *>(std::malloc(text.size() + 1));
  if (!copy)
    return fail(error, errorSize, QOPT_ERROR_OUT_OF_MEMORY,
                "out of memory reading " + path);
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  *json = copy;
  writeMessage(error, errorSize, "");
  return QOPT_OK;
}

void copyInfo(const qrt_tensor_info &from, qopt_tensor_info *to) {
  to->name = from.name;
  to->dtype = from.dtype;
  to->rank = from.rank;
  to->shape = from.shape;
  to->element_size = from.element_size;
  to->num_elements = from.num_elements;
}

/// Checks one side of a run: the count, and a buffer for every tensor that
/// has elements.
qopt_status checkBuffers(const qopt_artifact *artifact, bool inputs,
                         const void *const *buffers, size_t count, char *error,
                         size_t errorSize) {
  size_t expected = inputs ? qrt_num_inputs(artifact->model)
                           : qrt_num_outputs(artifact->model);
  const char *side = inputs ? "input" : "output";
  if (count != expected)
    return fail(error, errorSize, QOPT_ERROR_INVALID_ARGUMENT,
                llvm::Twine(count) + " " + side + " buffers given, the model " +
                    "has " + llvm::Twine(expected));
  for (size_t i = 0; i < count; ++i) {
    qrt_tensor_info info;
    if (inputs)
      qrt_input_info(artifact->model, i, &info);
    else
      qrt_output_info(artifact->model, i, &info);
    if (info.num_elements && (!buffers || !buffers[i]))
      return fail(error, errorSize, QOPT_ERROR_INVALID_ARGUMENT,
                  llvm::Twine("no buffer for ") + side + " '" + info.name +
                      "'");
  }
  return QOPT_OK;
}

} // namespace

extern "C" {

const char *qopt_status_string(qopt_status status) {
  switch (status) {
  case QOPT_OK:
    return "ok";
  case QOPT_ERROR_INVALID_ARGUMENT:
    return "invalid argument";
  case QOPT_ERROR_IO:
    return "cannot read file";
  case QOPT_ERROR_COMPILE:
    return "compile failed";
  case QOPT_ERROR_LOAD:
    return "cannot load artifact";
  case QOPT_ERROR_RUN:
    return "run failed";
  case QOPT_ERROR_NOT_FOUND:
    return "not found";
  case QOPT_ERROR_OUT_OF_MEMORY:
    return "out of memory";
  case QOPT_ERROR_CANCELLED:
    return "cancelled";
  }
  return "unknown status";
}

int qopt_c_api_version(void) { return QOPT_C_API_VERSION; }

const char *qopt_version(void) { return QOPT_VERSION; }

qopt_compile_options *qopt_compile_options_create(void) {
  auto *options = new (std::nothrow) qopt_compile_options();
  if (!options)
    return nullptr;
  // A library call prints nothing unless asked to.
  options->compile.calibration.showProgress = false;
  options->compile.printReport = false;
  return options;
}

void qopt_compile_options_free(qopt_compile_options *options) {
  delete options;
}

qopt_status
qopt_compile_options_set_target_triple(qopt_compile_options *options,
                                       const char *triple) {
  return copyString(triple,
                    options ? &options->compile.target.triple : nullptr);
}

qopt_status qopt_compile_options_set_cpu(qopt_compile_options *options,
                                         const char *cpu) {
  return copyString(cpu, options ? &options->compile.target.cpu : nullptr);
}

qopt_status qopt_compile_options_set_features(qopt_compile_options *options,
                                              const char *features) {
  return copyString(features,
                    options ? &options->compile.target.features : nullptr);
}

qopt_status qopt_compile_options_set_name(qopt_compile_options *options,
                                          const char *name) {
  return copyString(name, options ? &options->compile.codegen.name : nullptr);
}

qopt_status qopt_compile_options_set_output_dir(qopt_compile_options *options,
                                                const char *dir) {
  return copyString(dir, options ? &options->compile.outDir : nullptr);
}

qopt_status qopt_compile_options_set_force(qopt_compile_options *options,
                                           int force) {
  if (!options)
    return QOPT_ERROR_INVALID_ARGUMENT;
  options->compile.force = force != 0;
  return QOPT_OK;
}

qopt_status qopt_compile_options_add_input_shape(qopt_compile_options *options,
                                                 const char *spec) {
  if (!options || !spec)
    return QOPT_ERROR_INVALID_ARGUMENT;
  options->inputShapes.push_back(spec);
  return QOPT_OK;
}

qopt_status qopt_compile_options_add_freeze_input(qopt_compile_options *options,
                                                  const char *spec) {
  if (!options || !spec)
    return QOPT_ERROR_INVALID_ARGUMENT;
  options->freezeInputs.push_back(spec);
  return QOPT_OK;
}

qopt_status
qopt_compile_options_set_embed_weights(qopt_compile_options *options,
                                       int embed) {
  if (!options)
    return QOPT_ERROR_INVALID_ARGUMENT;
  options->compile.codegen.embedWeights = embed != 0;
  return QOPT_OK;
}

qopt_status qopt_compile_options_set_opt_level(qopt_compile_options *options,
                                               int level) {
  if (!options)
    return QOPT_ERROR_INVALID_ARGUMENT;
  options->optLevel = level;
  return QOPT_OK;
}

qopt_status qopt_compile_options_set_precision(qopt_compile_options *options,
                                               const char *precision) {
  return copyString(precision,
                    options ? &options->compile.quantize.precision : nullptr);
}

qopt_status qopt_compile_options_set_recipe(qopt_compile_options *options,
                                            const char *recipe) {
  return copyString(recipe,
                    options ? &options->compile.quantize.recipe : nullptr);
}

qopt_status qopt_compile_options_set_emit_onnx(qopt_compile_options *options,
                                               const char *path) {
  return copyString(path, options ? &options->compile.emitONNX : nullptr);
}

qopt_status qopt_compile_options_set_algorithm(qopt_compile_options *options,
                                               const char *algorithm) {
  return copyString(algorithm,
                    options ? &options->compile.quantize.algorithm : nullptr);
}

qopt_status qopt_compile_options_set_exclude(qopt_compile_options *options,
                                             const char *regex) {
  return copyString(regex,
                    options ? &options->compile.quantize.exclude : nullptr);
}

qopt_status
qopt_compile_options_set_calibration_data(qopt_compile_options *options,
                                          const char *path) {
  return copyString(path,
                    options ? &options->compile.calibration.data : nullptr);
}

qopt_status
qopt_compile_options_set_calibration_offsets(qopt_compile_options *options,
                                             const char *path) {
  return copyString(path,
                    options ? &options->compile.calibration.offsets : nullptr);
}

qopt_status
qopt_compile_options_set_calibration_samples(qopt_compile_options *options,
                                             size_t samples) {
  if (!options)
    return QOPT_ERROR_INVALID_ARGUMENT;
  options->compile.calibration.samples = samples;
  return QOPT_OK;
}

qopt_status
qopt_compile_options_set_calibration_method(qopt_compile_options *options,
                                            const char *method) {
  return copyString(method,
                    options ? &options->compile.calibration.method : nullptr);
}

qopt_status
qopt_compile_options_set_calibration_table(qopt_compile_options *options,
                                           const char *path) {
  return copyString(path, options ? &options->compile.calibration.tablePath
                                  : nullptr);
}

qopt_status qopt_compile_options_set_verbose(qopt_compile_options *options,
                                             int verbose) {
  if (!options)
    return QOPT_ERROR_INVALID_ARGUMENT;
  bool on = verbose != 0;
  qopt::CompileOptions &c = options->compile;
  c.verbose = c.codegen.verbose = c.import.verbose = on;
  c.calibration.showProgress = c.printReport = on;
  return QOPT_OK;
}

qopt_status qopt_compile_options_set_progress(qopt_compile_options *options,
                                              qopt_progress_callback callback,
                                              void *user_data) {
  if (!options)
    return QOPT_ERROR_INVALID_ARGUMENT;
  options->progress = callback;
  options->progressData = user_data;
  return QOPT_OK;
}

qopt_status qopt_compile(const char *model_path,
                         const qopt_compile_options *options, char *error,
                         size_t error_size) {
  if (!model_path)
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                "no model path given");
  if (!options)
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                "no compile options given (create them with "
                "qopt_compile_options_create)");
  if (options->compile.outDir.empty())
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                "no output folder: set one with "
                "qopt_compile_options_set_output_dir");
  if (options->optLevel < 0 || options->optLevel > 3)
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                "optimization level " + llvm::Twine(options->optLevel) +
                    " is out of range (0 to 3)");
  // Checked here, not by the importer: it would read stdin for "-".
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(model_path, status))
    return fail(error, error_size, QOPT_ERROR_IO,
                "cannot open '" + llvm::Twine(model_path) +
                    "': " + ec.message());
  if (status.type() == llvm::sys::fs::file_type::directory_file)
    return fail(error, error_size, QOPT_ERROR_IO,
                "cannot open '" + llvm::Twine(model_path) + "': " +
                    std::make_error_code(std::errc::is_a_directory).message());

  qopt::CompileOptions compile = options->compile;
  compile.modelPath = model_path;
  compile.codegen.optLevel = unsigned(options->optLevel);
  bool cancelled = false;
  if (qopt_progress_callback progress = options->progress) {
    void *data = options->progressData;
    compile.onPhase = [progress, data, &cancelled](llvm::StringRef phase) {
      cancelled = progress(phase.str().c_str(), data) != 0;
      return !cancelled;
    };
  }

  // The driver's registries and LLVM's target setup are process-wide; one
  // compile at a time keeps them out of each other's way.
  static std::mutex compileMutex;
  std::lock_guard<std::mutex> lock(compileMutex);
  qopt::registerBuiltinTargets();
  mlir::DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  context.getDiagEngine().registerHandler([&os](mlir::Diagnostic &diag) {
    qopt::printDiagnostic(diag, "qopt", os);
    return mlir::success();
  });
  bool ok = mlir::succeeded(qopt::applyShapeSpecs(context, options->inputShapes,
                                                  compile.import)) &&
            mlir::succeeded(qopt::applyFreezeSpecs(
                context, options->freezeInputs, compile.import)) &&
            mlir::succeeded(qopt::compileModel(context, compile));
  writeMessage(error, error_size, llvm::StringRef(diagnostics).rtrim('\n'));
  if (ok)
    return QOPT_OK;
  return cancelled ? QOPT_ERROR_CANCELLED : QOPT_ERROR_COMPILE;
}

qopt_status qopt_artifact_load(const char *dir, qopt_artifact **artifact,
                               char *error, size_t error_size) {
  return qopt_artifact_load_on_device(dir, nullptr, artifact, error,
                                      error_size);
}

qopt_status qopt_artifact_load_on_device(const char *dir, const char *device,
                                         qopt_artifact **artifact, char *error,
                                         size_t error_size) {
  if (artifact)
    *artifact = nullptr;
  if (!dir || !artifact)
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                "no artifact folder or result pointer given");
  auto *loaded = new (std::nothrow) qopt_artifact();
  if (!loaded)
    return fail(error, error_size, QOPT_ERROR_OUT_OF_MEMORY,
                "out of memory loading '" + llvm::Twine(dir) + "'");
  char message[1024];
  loaded->model = qrt_load_on_device(dir, device, message, sizeof message);
  if (!loaded->model) {
    delete loaded;
    return fail(error, error_size, QOPT_ERROR_LOAD,
                "cannot load '" + llvm::Twine(dir) + "': " + message);
  }
  loaded->dir = dir;
  *artifact = loaded;
  writeMessage(error, error_size, "");
  return QOPT_OK;
}

void qopt_artifact_free(qopt_artifact *artifact) {
  if (!artifact)
    return;
  qrt_free(artifact->model);
  delete artifact;
}

size_t qopt_artifact_num_inputs(const qopt_artifact *artifact) {
  return artifact ? qrt_num_inputs(artifact->model) : 0;
}

size_t qopt_artifact_num_outputs(const qopt_artifact *artifact) {
  return artifact ? qrt_num_outputs(artifact->model) : 0;
}

qopt_status qopt_artifact_input_info(const qopt_artifact *artifact,
                                     size_t index, qopt_tensor_info *info) {
  qrt_tensor_info from;
  if (!artifact || !info || qrt_input_info(artifact->model, index, &from))
    return QOPT_ERROR_INVALID_ARGUMENT;
  copyInfo(from, info);
  return QOPT_OK;
}

qopt_status qopt_artifact_output_info(const qopt_artifact *artifact,
                                      size_t index, qopt_tensor_info *info) {
  qrt_tensor_info from;
  if (!artifact || !info || qrt_output_info(artifact->model, index, &from))
    return QOPT_ERROR_INVALID_ARGUMENT;
  copyInfo(from, info);
  return QOPT_OK;
}

const char *qopt_artifact_target(const qopt_artifact *artifact) {
  return artifact ? qrt_target(artifact->model) : "";
}

const char *qopt_artifact_device(const qopt_artifact *artifact) {
  return artifact ? qrt_device(artifact->model) : "";
}

qopt_status qopt_artifact_set_threads(qopt_artifact *artifact, int threads,
                                      int *used) {
  if (!artifact || threads < 1)
    return QOPT_ERROR_INVALID_ARGUMENT;
  int n = qrt_set_threads(artifact->model, threads);
  if (n < 1)
    return QOPT_ERROR_INVALID_ARGUMENT;
  if (used)
    *used = n;
  return QOPT_OK;
}

qopt_status qopt_artifact_run(qopt_artifact *artifact,
                              const void *const *inputs, size_t num_inputs,
                              void *const *outputs, size_t num_outputs,
                              char *error, size_t error_size) {
  if (!artifact)
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                "no artifact given");
  if (qopt_status s = checkBuffers(artifact, /*inputs=*/true, inputs,
                                   num_inputs, error, error_size))
    return s;
  if (qopt_status s =
          checkBuffers(artifact, /*inputs=*/false,
                       reinterpret_cast<const void *const *>(outputs),
                       num_outputs, error, error_size))
    return s;
  if (qrt_run(artifact->model, inputs, outputs))
    return fail(error, error_size, QOPT_ERROR_RUN,
                qrt_last_error(artifact->model));
  writeMessage(error, error_size, "");
  return QOPT_OK;
}

qopt_status qopt_artifact_eval_perplexity(
    qopt_artifact *artifact, const int64_t *ids, size_t num_ids,
    const int64_t *offsets, size_t num_offsets, const char *stories, int decode,
    qopt_perplexity *result, char *error, size_t error_size) {
  if (!artifact || !result || (!ids && num_ids) || (!offsets && num_offsets))
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                "no artifact, token ids, offsets or result given");
  if (!qrt_num_outputs(artifact->model))
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                "'" + llvm::Twine(artifact->dir) +
                    "' has no outputs: it is not a language model");
  auto loaded = qopt::calib::TokenStories::fromArrays(
      std::vector<int64_t>(ids, ids + num_ids),
      std::vector<int64_t>(offsets, offsets + num_offsets), "the token ids",
      "given");
  if (!loaded)
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                llvm::toString(loaded.takeError()));
  auto range = qopt::calib::parseStoryRange(stories ? stories : "",
                                            loaded->numStories());
  if (!range)
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                llvm::toString(range.takeError()));
  size_t first = range->first, end = range->second;
  // A wrong mode is the caller's mistake, found before anything runs.
  auto layout = qopt::calib::readKVCacheLayout(artifact->dir);
  if (!decode && layout)
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                "this artifact runs one decode step with a KV cache: "
                "evaluate it in decode mode");
  if (decode && !layout)
    return fail(error, error_size, QOPT_ERROR_INVALID_ARGUMENT,
                llvm::toString(layout.takeError()));
  llvm::Expected<qopt::calib::PerplexityResult> measured =
      decode ? qopt::calib::evaluateDecodePerplexity(artifact->model, *layout,
                                                     *loaded, first, end,
                                                     /*showProgress=*/false)
             : qopt::calib::evaluatePerplexity(artifact->model, *loaded, first,
                                               end, /*showProgress=*/false);
  if (!layout)
    llvm::consumeError(layout.takeError());
  if (!measured)
    return fail(error, error_size, QOPT_ERROR_RUN,
                llvm::toString(measured.takeError()));
  result->perplexity = measured->perplexity;
  result->mean_nll = measured->meanNLL;
  result->predicted_tokens = measured->predictedTokens;
  result->truncated_stories = measured->truncatedStories;
  result->seq = measured->seq;
  result->first_story = first;
  result->end_story = end;
  writeMessage(error, error_size, "");
  return QOPT_OK;
}

qopt_status qopt_artifact_manifest_json(const char *dir, char **json,
                                        char *error, size_t error_size) {
  return readArtifactJSON(dir, "manifest.json", "qopt-artifact",
                          "artifact manifest", json, error, error_size);
}

qopt_status qopt_artifact_report_json(const char *dir, char **json, char *error,
                                      size_t error_size) {
  return readArtifactJSON(dir, "report.json", "qopt-quality-report",
                          "quality report", json, error, error_size);
}

void qopt_string_free(char *string) { std::free(string); }

} // extern "C"
