//===- CodeObjectArtifact.cpp - GPU artifacts through gpu-module-to-binary ===//
//
// The stages of an NVPTX or AMDGPU compile up to the code object: the
// shared GPU pipeline, weights to weights.bin, the target's kernel
// pipeline, the launch list read from the host function, and MLIR's
// translation of the one kernel module to PTX or an HSA code object.
//
//===----------------------------------------------------------------------===//

#include "qopt/Target/GPU/CodeObjectArtifact.h"
#include "qopt/QOptDialect.h"
#include "qopt/Target/GPU/DispatchList.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Format.h"

#include <chrono>

using namespace mlir;

namespace qopt::gpu {

LogicalResult serializeCodeObjectArtifact(ModuleOp module,
                                          const SerializeOptions &options,
                                          ArtifactWriter &writer,
                                          const CodeObjectTarget &target,
                                          llvm::json::Object targetEntry) {
  Location loc = module.getLoc();
  MLIRContext *ctx = module.getContext();
  StringRef name = target.backendName;
  std::vector<TensorInfo> inputs, outputs;
  if (failed(describeSignature(module, inputs, outputs)))
    return failure();
  func::FuncOp entry = *lookupEntryFunction(module);

  auto clock = std::chrono::steady_clock::now();
  auto stage = [&](const char *what) {
    if (!options.verbose)
      return;
    auto now = std::chrono::steady_clock::now();
    llvm::errs() << llvm::format(
        "qopt: %-38s %7.2f s\n", what,
        std::chrono::duration<double>(now - clock).count());
    clock = now;
  };
  auto failWith = [&](llvm::Error e) {
    return emitError(loc) << llvm::toString(std::move(e));
  };

  if (options.embedWeights)
    return emitError(loc) << "the " << name
                          << " target keeps its weights in weights.bin (a "
                             "device buffer); --embed-weights is for CPU "
                             "targets";

  {
    PassManager pm(ctx);
    buildGPUTensorPipeline(pm);
    buildGPUBufferPipeline(pm, target.strategy);
    if (failed(pm.run(module)))
      return emitError(loc)
             << name << " pipeline failed (tensor/buffer stages)";
  }
  stage("linalg and bufferization");

  // Every constant buffer moves to weights.bin: a kernel reads only what
  // its launch passes, never the host's globals.
  std::vector<char> blob;
  std::vector<WeightLayoutEntry> layoutEntries;
  if (failed(externalizeWeightsToBlob(module, /*threshold=*/0,
                                      target.strategy.bufferAlignment, blob,
                                      layoutEntries)))
    return failure();
  int64_t workspaceBytes = 0;
  if (auto attr = module->getAttrOfType<IntegerAttr>(
          QOptDialect::kWorkspaceBytesAttrName))
    workspaceBytes = attr.getInt();
  FailureOr<std::vector<BufferBinding>> argBindings =
      bindEntryArguments(entry, blob.size(), workspaceBytes, name);
  if (failed(argBindings))
    return failure();

  {
    PassManager pm(ctx);
    buildGPUMappingPipeline(pm, target.strategy);
    target.buildKernelPipeline(pm);
    if (failed(pm.run(module)))
      return emitError(loc) << name
                            << " pipeline failed (kernel mapping or "
                               "conversion to the vendor dialect)";
  }
  stage("mapping to workgroups, kernels");
  if (options.keepIntermediates) {
    std::string text;
    llvm::raw_string_ostream os(text);
    module.print(os);
    if (llvm::Error e = writer.addFile(options.name + ".kernels.mlir", text,
                                       "intermediate"))
      return failWith(std::move(e));
  }

  // The launch list, read before the kernels become a binary.
  llvm::json::Array dispatches;
  FailureOr<std::vector<mlir::gpu::LaunchFuncOp>> launches =
      collectLaunches(entry, name);
  if (failed(launches))
    return failure();
  for (mlir::gpu::LaunchFuncOp launch : *launches) {
    FailureOr<llvm::json::Object> dispatch =
        describeLaunch(launch, entry, *argBindings, name);
    if (failed(dispatch))
      return failure();
    std::string kernel = launch.getKernelName().getValue().str();
    (*dispatch)["kernel"] = kernel;
    (*dispatch)["file"] = target.codeFile;
    (*dispatch)["entry"] = kernel;
    dispatches.push_back(std::move(*dispatch));
  }

  target.prepareContext(ctx);
  std::string code;
  if (!module.getOps<mlir::gpu::GPUModuleOp>().empty()) {
    mlir::gpu::TargetOptions codeOptions(
        target.toolkitPath, /*librariesToLink=*/{}, /*cmdOptions=*/{},
        /*elfSection=*/{}, target.format);
    if (failed(mlir::gpu::transformGpuModulesToBinaries(module, nullptr,
                                                        codeOptions)))
      return emitError(loc) << name << ": translating the kernels failed";
    for (auto binary : module.getOps<mlir::gpu::BinaryOp>())
      for (Attribute object : binary.getObjects())
        code += cast<mlir::gpu::ObjectAttr>(object).getObject().getValue();
  }
  stage("code object");
  if (failed(target.writeCode(code, writer, targetEntry, loc)))
    return failure();
  stage("code files");

  if (llvm::Error e = writer.setWeights(blob, std::move(layoutEntries),
                                        /*embedded=*/false,
                                        target.strategy.bufferAlignment))
    return failWith(std::move(e));
  llvm::json::Object &manifest = writer.manifest();
  manifest["target"] = std::move(targetEntry);
  manifest["workspace_bytes"] = workspaceBytes;
  manifest["dispatches"] = std::move(dispatches);
  return success();
}

} // namespace qopt::gpu
