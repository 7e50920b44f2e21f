//===- qopt-translate.cpp - ONNX to MLIR translation driver ---------------===//
//
// mlir-translate with qopt's translations: `--import-onnx` reads an ONNX
// model (binary protobuf or ONNX's textual syntax) and prints MLIR.
//
//===----------------------------------------------------------------------===//

#include "qopt/Frontend/ONNX/Importer.h"

#include "mlir/InitAllTranslations.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  qopt::onnx_frontend::registerONNXImportTranslation();
  llvm::cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "qopt-translate " << QOPT_VERSION << "\n";
  });
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "qopt ONNX/MLIR translation tool"));
}
