//===- InstrumentedModel.cpp - A model compiled with its probes -----------===//

#include "InstrumentedModel.h"

#include "qopt/Transforms/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"

using namespace mlir;

namespace qopt {

InstrumentedModel::~InstrumentedModel() {
  outs.reset();
  if (model)
    qrt_free(model);
  if (!dir.empty())
    llvm::sys::fs::remove_directories(dir);
}

LogicalResult InstrumentedModel::build(ModuleOp module,
                                       const SerializeOptions &codegen,
                                       llvm::StringRef name) {
  // Not an ONNX node: errors here speak about the whole model.
  Location loc = UnknownLoc::get(module.getContext());
  PassManager pm(module.getContext());
  pm.addPass(createExposeObserversPass());
  if (failed(pm.run(module)) || failed(attachHostTarget(module)))
    return failure();
  if (!createGuardedTempDirectory("qopt-" + name.str(), dir, dirGuard))
    return emitError(loc) << "cannot create a temporary folder for the " << name
                          << " model";
  SerializeOptions options;
  options.name = name.str();
  options.helperModel = true;
  options.verbose = codegen.verbose;
  std::string artifact = (dir + "/model").str();
  if (failed(compileArtifact(module, options, artifact, /*force=*/false)))
    return failure();
  char err[512];
  model = qrt_load(artifact.c_str(), err, sizeof err);
  if (!model)
    return emitError(loc) << "cannot load the " << name << " model: " << err;
  outs.emplace(model);
  return success();
}

} // namespace qopt
