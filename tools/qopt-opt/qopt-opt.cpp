//===- qopt-opt.cpp - mlir-opt with qopt's passes and pipelines ------------===//

#include "qopt/Conversion/Passes.h"
#include "qopt/QOptDialect.h"
#include "qopt/Target/Target.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  qopt::registerQOptTransformsPasses();
  qopt::registerQOptConversionPasses();
  // Each registered target's named pipelines (qopt-x86-pipeline, ...).
  qopt::registerBuiltinTargets();
  for (const qopt::TargetBackend *backend : qopt::registeredTargets())
    backend->registerPipelines();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<qopt::QOptDialect>();
  llvm::cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "qopt-opt " << QOPT_VERSION << "\n";
  });
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "qopt optimizer driver (mlir-opt with qopt's passes)\n",
      registry));
}
