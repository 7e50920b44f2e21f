//===- Driver.h - The qopt compile pipeline as a library --------*- C++ -*-===//

#ifndef QOPT_DRIVER_DRIVER_H
#define QOPT_DRIVER_DRIVER_H

#include "qopt/Frontend/ONNX/Importer.h"
#include "qopt/Target/Target.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace qopt {

/// What to quantize and how (empty precision: compile float).
struct QuantizeOptions {
  std::string precision;
  /// A per-layer recipe: a built-in name (balanced, quality, compact,
  /// edge-int8) or a YAML/JSON file (qopt-assign-precision). `precision`
  /// is then the precision of ops the recipe leaves open.
  std::string recipe;
  std::string exclude;
  bool quantizeClassifier = false;
  bool quantizeEmbeddings = false;
  /// Also quantize products of two activations (attention scores): int8
  /// operands, an exact i32 product, a float rescale.
  bool quantizeAttention = false;
  /// Their scales: "dynamic" (per row / column at run time) or "static"
  /// (calibrated, one per operand).
  std::string attentionScales = "dynamic";
  /// rtn | gptq | awq; empty: the best one the precision and the data allow
  /// (resolveWeightAlgorithm).
  std::string algorithm;
  double gptqDampening = 0.01;
  int gptqScaleGrid = 10;
  bool gptqActOrder = true;
  /// GPTQ's clip search before the sweep; unset: on below 4 bits, where it
  /// measured better, off from 4 bits (where it measured worse).
  std::optional<bool> clipSearch;
  int gptqRefineRounds = 4;
  /// Progress bars over long per-layer searches (GPTQ, AWQ).
  bool showProgress = false;
  /// Free each float weight as soon as its product is quantized: only when
  /// the module is the only IR of its context (no clone for a search, a
  /// report or another GPTQ round).
  bool releaseWeights = false;
  /// GPTQ rounds: after the first, the Hessians are measured again on the
  /// quantized model, so each layer sees inputs through quantized upstream
  /// layers (as sequential GPTQ does), and the float weights are quantized
  /// again with them.
  unsigned gptqRounds = 2;
  /// SmoothQuant before integer activations; alpha < 0: searched per layer.
  bool smooth = false;
  double smoothAlpha = -1;
  /// Input channels above this abs-max (and far above the median) are
  /// outliers (qopt-detect-outliers).
  double outlierThreshold = 6.0;
  /// ... and above this ratio to the median channel's abs-max.
  double outlierRatio = 8.0;
  /// What integer-activation products do with them: keep-float | clip |
  /// none (qopt-quantize's `outliers`).
  std::string outliers = "none";
  /// Storage of weight-only products' scales: f16 or f32; empty: the
  /// target's choice (f16 where its kernels read half scales).
  std::string weightScales;
  /// Samples the quality report runs on (held out from calibration).
  size_t reportSamples = 16;
  /// Budgets of the per-layer precision search (any one set starts it):
  /// average bits per quantized weight (scales included), total quantized
  /// weight bytes, and the model-output loss (mean KL per token for
  /// language models, else the output's noise-to-signal ratio; with
  /// `maxLossIsPerplexity`, a perplexity increase).
  std::optional<double> avgBits, maxWeightBytes, maxLoss;
  bool maxLossIsPerplexity = false;
  /// What the search minimises within the budgets: quality | size | speed;
  /// empty: size when --max-loss is the only budget (least loss would be
  /// float everywhere), quality otherwise.
  std::string objective;
  /// The cost model's peaks: nominal (the target description's), measured
  /// (this machine's; the target must be this machine) or auto (measured
  /// when the target is this machine, nominal otherwise).
  std::string costPeaks = "auto";
  /// The precisions the search picks from (comma-separated; empty: a
  /// default family, see defaultCandidates).
  std::string candidates;
  /// Samples held out from calibration that sensitivity is measured on.
  size_t sensitivitySamples = 8;
  /// A quality search charges each candidate its measured loss plus this
  /// many standard errors (over the samples), so that it does not chase
  /// gains the few samples cannot tell from noise; 0 uses the losses alone
  /// (docs/quantization.md: stories260k at 0, 1, 2 and 3).
  double sensitivityMargin = 2.0;
  /// How: isolated (each layer moved from float, every other layer float),
  /// in-context (each layer moved from the base precision, every other
  /// layer at the base) or auto (in context for a quality search under a
  /// size budget); empty is auto.
  std::string sensitivity;
  bool searchesBudget() const {
    return avgBits || maxWeightBytes || maxLoss;
  }
};

/// Activation rows per probe that calibration keeps for SmoothQuant.
inline constexpr int64_t kSmoothSampleRows = 512;

/// The weight algorithm a compile uses: the requested one, or by default
/// GPTQ for integer weights below 8 bits when calibration data or a table
/// is given, else RTN. `why` says how it was chosen (for the report).
std::string resolveWeightAlgorithm(const PrecisionSpec &spec,
                                   llvm::StringRef requested,
                                   bool haveCalibration, std::string &why);

/// Where calibration data comes from and how ranges are chosen.
struct CalibrationOptions {
  /// A folder of samples, or a token-id .npy (with `offsets`).
  std::string data;
  /// Story offsets .npy for token-id calibration.
  std::string offsets;
  /// First story used (token-id calibration) and most samples used.
  size_t firstSample = 0;
  size_t samples = 100;
  /// minmax | percentile | entropy | mse.
  std::string method = "percentile";
  double percentile = 99.99;
  /// Calibration table: written after calibrating; read instead of
  /// calibrating when no `data` is given.
  std::string tablePath;
  /// Progress bars while calibrating and quantizing, and on a terminal a
  /// line as each compile phase starts.
  bool showProgress = true;
};

/// The machine to compile for, as the user names it; the target registry
/// resolves it into the module's `#qopt.target`.
struct TargetOptions {
  /// Target triple; its backend is looked up in the registry.
  std::string triple = "x86_64-unknown-linux-gnu";
  /// CPU or GPU: "native" (this machine) or a name the backend knows.
  std::string cpu = "native";
  /// Extra target features ("+avx512f,-avx512vnni").
  std::string features;
};

/// Checks the calibration method and percentile (before any work).
mlir::LogicalResult checkCalibrationOptions(mlir::MLIRContext *context,
                                            const CalibrationOptions &options);

/// Reads every calibration sample a compile of `module` may use (the
/// calibration samples and up to `extraSamples` after them, which the report
/// and the sensitivity search hold out) and checks it against the model's
/// inputs: run after import and before anything is compiled, so that bad
/// data is an error in the first second, not after the calibration model
/// has been built.
mlir::LogicalResult validateCalibrationData(mlir::ModuleOp module,
                                            const CalibrationOptions &options,
                                            size_t extraSamples);

/// Everything one `qopt` invocation needs.
struct CompileOptions {
  QuantizeOptions quantize;
  CalibrationOptions calibration;
  std::string modelPath;
  onnx_frontend::ImportOptions import;
  TargetOptions target;
  /// How the backend writes its code (name, weights, optimization level).
  SerializeOptions codegen;
  std::string outDir;
  /// Replace a file, a link or a folder that is not a qopt artifact at
  /// `outDir` (never the current folder or the model's).
  bool force = false;
  /// Print a time per compile phase at the end.
  bool verbose = false;
  /// Print the quality report's summary table to stderr after a quantized
  /// compile (report.json and report.html hold it either way).
  bool printReport = true;
  /// Stop after import and write the graph IR here instead ("-" = stdout).
  std::string emitGraphIR;
  /// Also write the model, quantized as qopt quantized it, as ONNX for
  /// other runtimes (QDQ, MatMulNBits; see onnx_frontend::
  /// exportQuantizedONNX); written after the artifact.
  std::string emitONNX;
  /// Give the decoder's past/present tensors a fixed-capacity KV cache of
  /// this element type right after import (qopt-static-kv-cache): "float"
  /// or "int8"; empty keeps the graph as exported. The capacity is the
  /// exported present length: past + 1 (--input-shape past=511 gives 512
  /// slots).
  std::string kvCache;
  /// Compute float16/bfloat16 ops in half precision (each op rounds, as
  /// LLVM lowers half arithmetic on x86) instead of in float32, which the
  /// x86 target does by default (see ImportOptions::halfAsFloat).
  bool keepHalfPrecision = false;
  /// Called as each compile phase starts ("importing model.onnx",
  /// "calibrating", ...); returning false stops the compile there with an
  /// error (how the C and Python APIs report progress and honour Ctrl-C).
  /// A phase already running is not interrupted.
  std::function<bool(llvm::StringRef phase)> onPhase;
};

/// Registers the dialects and translations every qopt tool needs.
void registerQOptDialects(mlir::DialectRegistry &registry);

/// Writes `diag` and its notes as qopt prints them:
/// `TOOL: error: node 'NAME': message`, so errors speak the user's ONNX node
/// names. Colors only where `os` has them.
void printDiagnostic(mlir::Diagnostic &diag, llvm::StringRef toolName,
                     llvm::raw_ostream &os);

/// Prints every diagnostic of `context` to stderr with printDiagnostic.
void installDiagnosticPrinter(mlir::MLIRContext &context,
                              llvm::StringRef toolName);

/// Quantizes the float graph in `module` as `options` says (qopt-quantize),
/// describes the result for the manifest in `summary`, and lists the
/// quantized ops in `quantized`.
mlir::LogicalResult quantizeGraph(mlir::ModuleOp module,
                                  const QuantizeOptions &options,
                                  llvm::json::Object &summary,
                                  std::vector<QuantizedLayer> &quantized);

/// What the probes in front of matmuls gather beyond ranges and channel
/// maxima (which they always record, as `absmax` and `channel_absmax`).
struct StatisticsNeeds {
  /// The input's Gram matrix and mean |x| (`gram`, `channel_mean_abs`):
  /// GPTQ, AWQ.
  bool gram = false;
  /// Rows of the input kept by reservoir sampling (`sample_rows`):
  /// SmoothQuant's search.
  int64_t sampleRows = 0;
};

struct InstrumentedModel;

/// Gathers statistics for the observers in `module` (running the
/// instrumented model on the calibration data, or reading a saved table),
/// and records them on the observers for the passes that follow. With
/// `keep`, the compiled instrumented model is handed back (the quality
/// report runs it again as its float side instead of compiling it twice).
mlir::LogicalResult
calibrateGraph(mlir::ModuleOp module, const QuantizeOptions &quantize,
               const CalibrationOptions &options,
               const SerializeOptions &codegen, const StatisticsNeeds &needs,
               llvm::json::Object &summary,
               std::unique_ptr<InstrumentedModel> *keep = nullptr);

/// Copies the Gram matrices and mean |x| of the probes in `from` onto the
/// probes of `to` with the same ids (GPTQ's second round).
void copyInputStatistics(mlir::ModuleOp from, mlir::ModuleOp to);

struct QualityReport;

/// Compiles both models with their observers as outputs (the float one
/// only if `compiledFloat` is null: calibration's instrumented model is the
/// same graph), runs them on up to `reportSamples` samples held out from
/// calibration, and fills the per-layer and output metrics of `report`
/// (whose layers are set).
mlir::LogicalResult measureQuality(mlir::ModuleOp floatModule,
                                   mlir::ModuleOp quantizedModule,
                                   const CalibrationOptions &data,
                                   size_t reportSamples,
                                   const SerializeOptions &codegen,
                                   QualityReport &report,
                                   InstrumentedModel *compiledFloat = nullptr);

/// Resolves `options` through the target registry into the description a
/// module carries (an unknown triple or CPU is an error listing the known
/// ones).
mlir::FailureOr<TargetAttr> resolveTarget(mlir::MLIRContext &context,
                                          const TargetOptions &options);

/// Imports and compiles one model to an artifact folder.
mlir::LogicalResult compileModel(mlir::MLIRContext &context,
                                 const CompileOptions &options);

/// Parses "--input-shape" specifications into `options`.
mlir::LogicalResult
applyShapeSpecs(mlir::MLIRContext &context,
                llvm::ArrayRef<std::string> specs,
                onnx_frontend::ImportOptions &options);

/// Parses "--freeze-input NAME=file.npy" specifications into `options`.
mlir::LogicalResult
applyFreezeSpecs(mlir::MLIRContext &context,
                 llvm::ArrayRef<std::string> specs,
                 onnx_frontend::ImportOptions &options);

} // namespace qopt

#endif // QOPT_DRIVER_DRIVER_H
