//===- Driver.cpp - The qopt compile pipeline as a library -----------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/QOptDialect.h"
#include "qopt/Runtime/TensorFile.h"

#include <chrono>

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/FileSystem.h"
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

/// The innermost NameLoc's name, if any.
static std::string nodeName(Location loc) {
  std::string name;
  loc->walk([&](Location l) {
    if (auto n = dyn_cast<NameLoc>(l)) {
      name = n.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return name;
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
    std::string node = nodeName(diag.getLocation());
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
  return x86::compileToArtifact(*module, options.x86, options.outDir);
}

} // namespace qopt
