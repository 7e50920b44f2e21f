//===- Driver.cpp - The qopt compile pipeline as a library -----------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/Driver/Report.h"
#include "qopt/Calibration/Statistics.h"
#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"
#include "qopt/Runtime/TensorFile.h"

#include <chrono>

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"

using namespace mlir;

namespace qopt {

void registerQOptDialects(DialectRegistry &registry) {
  registerAllDialects(registry);
  registry.insert<QOptDialect>();
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
}

void installDiagnosticPrinter(MLIRContext &context, StringRef toolName) {
  std::string tool = toolName.str();
  context.getDiagEngine().registerHandler([tool](Diagnostic &diag) {
    auto &os = llvm::errs();
    const char *kind = diag.getSeverity() == DiagnosticSeverity::Error
                           ? "error"
                       : diag.getSeverity() == DiagnosticSeverity::Warning
                           ? "warning"
                           : "note";
    os << tool << ": ";
    llvm::WithColor(os, diag.getSeverity() == DiagnosticSeverity::Error
                            ? llvm::HighlightColor::Error
                            : llvm::HighlightColor::Note)
        << kind << ": ";
    std::string node = onnxNodeName(diag.getLocation());
    if (!node.empty())
      os << "node '" << node << "': ";
    os << diag.str() << "\n";
    for (Diagnostic &note : diag.getNotes())
      os << "  note: " << note.str() << "\n";
    return success();
  });
}

LogicalResult applyShapeSpecs(MLIRContext &context, ArrayRef<std::string> specs,
                              onnx_frontend::ImportOptions &options) {
  for (const std::string &s : specs) {
    std::string name, error;
    std::vector<int64_t> shape;
    if (!onnx_frontend::parseShapeSpec(s, name, shape, error))
      return emitError(UnknownLoc::get(&context)) << "--input-shape: " << error;
    options.inputShapes[name] = shape;
  }
  return success();
}

LogicalResult applyFreezeSpecs(MLIRContext &context,
                               ArrayRef<std::string> specs,
                               onnx_frontend::ImportOptions &options) {
  for (const std::string &spec : specs) {
    auto [name, file] = StringRef(spec).split('=');
    if (name.empty() || file.empty())
      return emitError(UnknownLoc::get(&context))
             << "--freeze-input: expected NAME=file.npy in '" << spec << "'";
    auto tensors = io::readTensorFile(file);
    if (!tensors)
      return emitError(UnknownLoc::get(&context))
             << "--freeze-input: " << llvm::toString(tensors.takeError());
    if (tensors->size() != 1)
      return emitError(UnknownLoc::get(&context))
             << "--freeze-input: " << file << " must hold one tensor";
    io::Tensor &t = (*tensors)[0];
    int type = io::onnxDataType(t.dtype);
    if (!type)
      return emitError(UnknownLoc::get(&context))
             << "--freeze-input: unsupported dtype " << t.dtype;
    onnx_frontend::FrozenInput frozen;
    frozen.dtype = type;
    frozen.shape = t.shape;
    frozen.data = std::move(t.data);
    options.frozenInputs[name.str()] = std::move(frozen);
  }
  return success();
}

LogicalResult quantizeGraph(ModuleOp module, const QuantizeOptions &options,
                            llvm::json::Object &summary,
                            std::vector<QuantizedLayer> &quantized) {
  PassManager pm(module.getContext());
  QuantizePassOptions passOptions;
  passOptions.precision = options.precision;
  passOptions.exclude = options.exclude;
  passOptions.quantizeClassifier = options.quantizeClassifier;
  passOptions.quantizeEmbeddings = options.quantizeEmbeddings;
  pm.addPass(createQuantizePass(passOptions));
  if (failed(pm.run(module)))
    return failure();
  llvm::json::Array layers;
  int64_t floatBytes = 0, quantizedBytes = 0;
  quantized = collectQuantizedLayers(module);
  for (const QuantizedLayer &l : quantized) {
    floatBytes += l.floatBytes;
    quantizedBytes += l.quantizedBytes;
    layers.push_back(llvm::json::Object{{"node", l.node},
                                        {"op", l.op},
                                        {"precision", l.precision},
                                        {"scheme", l.scheme},
                                        {"float_bytes", l.floatBytes},
                                        {"quantized_bytes", l.quantizedBytes}});
  }
  summary["precision"] = options.precision;
  if (!options.exclude.empty())
    summary["exclude"] = options.exclude;
  summary["quantized_weight_bytes"] = quantizedBytes;
  summary["float_weight_bytes_of_quantized_ops"] = floatBytes;
  summary["layers"] = std::move(layers);
  return success();
}

LogicalResult compileModel(MLIRContext &context, const CompileOptions &options) {
  auto start = std::chrono::steady_clock::now();
  OwningOpRef<ModuleOp> module =
      onnx_frontend::importONNXFile(context, options.modelPath, options.import);
  if (!module)
    return failure();
  if (options.x86.verbose)
    llvm::errs() << llvm::format(
        "qopt: %-38s %7.2f s\n", "import and shape folding",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  x86::X86CompileOptions x86Options = options.x86;
  if (!options.quantize.precision.empty()) {
    llvm::json::Object summary;
    std::string error;
    std::optional<PrecisionSpec> spec =
        parsePrecision(options.quantize.precision, error);
    if (!spec)
      return emitError(UnknownLoc::get(&context)) << error;
    bool isStatic = spec->activations == ActivationMode::Static;
    bool haveData = !options.calibration.data.empty();
    if (!calib::parseRangeMethod(options.calibration.method))
      return emitError(UnknownLoc::get(&context))
             << "unknown calibration method '" << options.calibration.method
             << "' (expected minmax, percentile, entropy or mse)";
    // Probes on quantized ops' inputs (static ranges) and, with data, on
    // their outputs (the quality report).
    if (isStatic || haveData) {
      PassManager pm(&context);
      InsertObserversPassOptions observe;
      observe.exclude = options.quantize.exclude;
      observe.quantizeClassifier = options.quantize.quantizeClassifier;
      observe.observeOutputs = haveData;
      pm.addPass(createInsertObserversPass(observe));
      if (failed(pm.run(*module)))
        return failure();
    }
    if (isStatic && failed(calibrateGraph(*module, options.quantize,
                                          options.calibration, options.x86,
                                          summary)))
      return failure();
    OwningOpRef<ModuleOp> floatModule;
    if (haveData && options.emitGraphIR.empty())
      floatModule = module->clone();
    std::vector<QuantizedLayer> quantized;
    if (failed(quantizeGraph(*module, options.quantize, summary, quantized)))
      return failure();

    QualityReport report;
    report.model = llvm::sys::path::filename(options.modelPath).str();
    report.precision = options.quantize.precision;
    for (QuantizedLayer &l : quantized) {
      report.floatWeightBytes += l.floatBytes;
      report.quantizedWeightBytes += l.quantizedBytes;
      report.layers.push_back({std::move(l), std::nullopt, std::nullopt});
    }
    // Measuring needs two more compiles: not when only the graph is wanted.
    if (haveData && options.emitGraphIR.empty()) {
      OwningOpRef<ModuleOp> quantizedModule(module->clone());
      if (failed(measureQuality(*floatModule, *quantizedModule,
                                options.calibration,
                                options.quantize.reportSamples, options.x86,
                                report)))
        return failure();
    }
    report.print(llvm::errs());
    std::string json;
    llvm::raw_string_ostream os(json);
    os << llvm::formatv("{0:2}", report.toJSON()) << "\n";
    x86Options.extraFiles.push_back({"report.json", json});
    x86Options.extraFiles.push_back({"report.html", report.toHTML()});
    x86Options.quantization = std::move(summary);
  }
  if (!options.emitGraphIR.empty()) {
    std::string err;
    auto out = mlir::openOutputFile(options.emitGraphIR, &err);
    if (!out)
      return emitError(UnknownLoc::get(&context)) << err;
    // Keep locations: they carry the ONNX node names through qopt-opt.
    module->print(out->os(), OpPrintingFlags().enableDebugInfo());
    out->keep();
    return success();
  }
  return x86::compileToArtifact(*module, x86Options, options.outDir);
}

} // namespace qopt
