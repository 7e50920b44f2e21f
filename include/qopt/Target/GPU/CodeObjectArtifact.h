//===- CodeObjectArtifact.h - PTX and HSA artifacts -------------*- C++ -*-===//
//
// The serialization shared by the GPU targets whose kernels reach LLVM IR
// (NVPTX, AMDGPU): the shared GPU pipeline with the weights moved to
// weights.bin, the target's kernel pipeline (one gpu.module with its
// #nvvm.target / #rocdl.target), the launch list, and the kernels
// translated by MLIR's gpu-module-to-binary into one code object.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_GPU_CODEOBJECTARTIFACT_H
#define QOPT_TARGET_GPU_CODEOBJECTARTIFACT_H

#include "qopt/Target/Artifact.h"
#include "qopt/Target/GPU/GPUPipeline.h"
#include "qopt/Target/Target.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/Support/JSON.h"

#include <functional>
#include <string>

namespace qopt::gpu {

/// What one code-object target contributes to the shared serialization.
struct CodeObjectTarget {
  /// The backend's name (messages, manifest).
  std::string backendName;
  GPUStrategy strategy;
  /// Stage 4, after the mapping: the kernels into one gpu.module with the
  /// target attribute gpu-module-to-binary serializes.
  std::function<void(mlir::OpPassManager &)> buildKernelPipeline;
  /// Registers the translations and target models the serialization
  /// needs in the context.
  std::function<void(mlir::MLIRContext *)> prepareContext;
  /// What gpu-module-to-binary produces, and from which toolkit.
  mlir::gpu::CompilationTarget format = mlir::gpu::CompilationTarget::Assembly;
  std::string toolkitPath;
  /// The file the launch list names for every kernel ("model.ptx").
  std::string codeFile;
  /// Writes the code object (gpu-module-to-binary's output) and whatever
  /// is made from it, adding entries to the manifest's `target`.
  std::function<mlir::LogicalResult(llvm::StringRef code, ArtifactWriter &,
                                    llvm::json::Object &targetEntry,
                                    mlir::Location loc)>
      writeCode;
};

/// Serializes `module` (with its #qopt.target) for `target` into `writer`:
/// code, weights.bin and the manifest's `target` (starting from
/// `targetEntry`), `workspace_bytes` and `dispatches`.
mlir::LogicalResult serializeCodeObjectArtifact(mlir::ModuleOp module,
                                                const SerializeOptions &options,
                                                ArtifactWriter &writer,
                                                const CodeObjectTarget &target,
                                                llvm::json::Object targetEntry);

} // namespace qopt::gpu

#endif // QOPT_TARGET_GPU_CODEOBJECTARTIFACT_H
