//===- qopt-translate.cpp - ONNX to MLIR translation driver ---------------===//
//
// mlir-translate with qopt's translations: `--import-onnx` reads an ONNX
// model (binary protobuf or ONNX's textual syntax) and prints MLIR.
//
//===----------------------------------------------------------------------===//

#include "qopt/Frontend/ONNX/Importer.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace onnx_frontend = qopt::onnx_frontend;

static llvm::cl::list<std::string> inputShapes(
    "input-shape",
    llvm::cl::desc("Static shape of an input (NAME=D0xD1...) or value of a "
                   "symbolic dimension (NAME=N); repeatable"),
    llvm::cl::ZeroOrMore);

/// `--import-onnx`: the ONNX importer over the translation's input buffer.
static OwningOpRef<Operation *> importONNX(llvm::SourceMgr &sourceMgr,
                                          MLIRContext *ctx) {
  onnx_frontend::ImportOptions options;
  for (const std::string &spec : inputShapes) {
    std::string name, error;
    std::vector<int64_t> shape;
    if (!onnx_frontend::parseShapeSpec(spec, name, shape, error)) {
      emitError(UnknownLoc::get(ctx)) << "--input-shape: " << error;
      return nullptr;
    }
    options.inputShapes[name] = shape;
  }
  const llvm::MemoryBuffer *buf =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  llvm::SmallString<256> dir(buf->getBufferIdentifier());
  llvm::sys::path::remove_filename(dir);
  auto module = onnx_frontend::importONNXBuffer(
      *ctx, buf->getBuffer(), buf->getBufferIdentifier(), dir, options);
  return OwningOpRef<Operation *>(module.release());
}

int main(int argc, char **argv) {
  TranslateToMLIRRegistration importRegistration(
      "import-onnx", "import an ONNX model (binary or text syntax)",
      importONNX, [](DialectRegistry &registry) {
        onnx_frontend::registerImporterDialects(registry);
      });
  llvm::cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "qopt-translate " << QOPT_VERSION << "\n";
  });
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "qopt ONNX/MLIR translation tool"));
}
