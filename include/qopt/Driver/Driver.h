//===- Driver.h - The qopt compile pipeline as a library --------*- C++ -*-===//

#ifndef QOPT_DRIVER_DRIVER_H
#define QOPT_DRIVER_DRIVER_H

#include "qopt/Frontend/ONNX/Importer.h"
#include "qopt/Target/X86/X86Target.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/IR/MLIRContext.h"

#include <string>

namespace qopt {

/// What to quantize and how (empty precision: compile float).
struct QuantizeOptions {
  std::string precision;
  std::string exclude;
  bool quantizeClassifier = false;
  bool quantizeEmbeddings = false;
  /// Samples the quality report runs on (held out from calibration).
  size_t reportSamples = 16;
};

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
  bool showProgress = true;
};

/// Everything one `qopt` invocation needs.
struct CompileOptions {
  QuantizeOptions quantize;
  CalibrationOptions calibration;
  std::string modelPath;
  onnx_frontend::ImportOptions import;
  x86::X86CompileOptions x86;
  std::string outDir;
  /// Stop after import and write the graph IR here instead ("-" = stdout).
  std::string emitGraphIR;
};

/// Registers the dialects and translations every qopt tool needs.
void registerQOptDialects(mlir::DialectRegistry &registry);

/// Prints diagnostics as `qopt: error: node 'NAME': message`, so errors
/// speak the user's ONNX node names. Returns the handler id.
void installDiagnosticPrinter(mlir::MLIRContext &context,
                              llvm::StringRef toolName);

/// Quantizes the float graph in `module` as `options` says (qopt-quantize),
/// describes the result for the manifest in `summary`, and lists the
/// quantized ops in `quantized`.
mlir::LogicalResult quantizeGraph(mlir::ModuleOp module,
                                  const QuantizeOptions &options,
                                  llvm::json::Object &summary,
                                  std::vector<QuantizedLayer> &quantized);

/// Gathers statistics for the observers in `module` (running the
/// instrumented model on the calibration data, or reading a saved table),
/// and records the chosen ranges on the observers for qopt-quantize.
mlir::LogicalResult calibrateGraph(mlir::ModuleOp module,
                                   const QuantizeOptions &quantize,
                                   const CalibrationOptions &options,
                                   const x86::X86CompileOptions &x86,
                                   llvm::json::Object &summary);

struct QualityReport;

/// Compiles both models with their observers as outputs, runs them on up to
/// `reportSamples` samples held out from calibration, and fills the
/// per-layer and output metrics of `report` (whose layers are set).
mlir::LogicalResult measureQuality(mlir::ModuleOp floatModule,
                                   mlir::ModuleOp quantizedModule,
                                   const CalibrationOptions &data,
                                   size_t reportSamples,
                                   const x86::X86CompileOptions &x86,
                                   QualityReport &report);

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
