//===- SPIRVTarget.h - The SPIR-V (Vulkan) target backend -------*- C++ -*-===//
//
// Compiles the GPU pipeline's kernels to SPIR-V compute shaders for the
// Vulkan environment (`spirv64-unknown-vulkan1.3`) and describes the host
// side as a dispatch list in manifest.json, which qrt's Vulkan backend
// executes (docs/gpu.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_SPIRV_SPIRVTARGET_H
#define QOPT_TARGET_SPIRV_SPIRVTARGET_H

#include "qopt/Target/Target.h"

#include "mlir/Pass/PassManager.h"
#include "llvm/Support/JSON.h"

#include <functional>

#include <memory>

namespace qopt::spirv {

/// The features a Vulkan 1.3 device is assumed to have unless the user
/// removes them ("-int64"): they decide the SPIR-V capabilities the kernels
/// may use (docs/targets.md).
inline constexpr const char *kDefaultFeatures = "+dotprod,+float16,+int16,+int64,+int8";

/// Stage 4: kernels to SPIR-V: the Vulkan target environment and each
/// kernel's workgroup size (qopt-spirv-attach-target), math and gpu to the
/// spirv dialect, ABI lowering and minimal version/capabilities/extensions.
void buildSPIRVPipeline(mlir::OpPassManager &pm, TargetAttr target);

/// qopt-spirv-attach-target: puts the `spirv.target_env` of `features`
/// (an LLVM-style feature string of this target) on the module and a
/// `spirv.entry_point_abi` with the launch's workgroup size on each
/// kernel; refuses buffers whose element type needs a capability the
/// features exclude.
std::unique_ptr<mlir::Pass> createAttachTargetPass(std::string features = "");

/// Registers `qopt-spirv-pipeline` (all stages, default features) and
/// qopt-spirv-attach-target.
void registerSPIRVPipelines();

/// What a backend built on the SPIR-V kernels (Metal) does with them.
struct GPUKernelSink {
  /// Each distinct kernel once, as SPIR-V (`entry` its entry point);
  /// returns the file the dispatch list names for it.
  std::function<mlir::FailureOr<std::string>(
      llvm::StringRef kernel, llvm::StringRef entry,
      llvm::ArrayRef<uint32_t> spirv, mlir::Location loc)>
      kernel;
  /// After the last kernel, with the finished dispatch list (which it may
  /// annotate), the workspace and weights sizes.
  std::function<mlir::LogicalResult(llvm::json::Array &dispatches,
                                    int64_t workspaceBytes,
                                    int64_t weightsBytes)>
      finish;
};

/// The SPIR-V target's serialization: the GPU pipeline with the weights
/// moved to weights.bin, kernels to SPIR-V, and the manifest's dispatch
/// list. Without `sink` each kernel is written as model.<kernel>.spv.
mlir::LogicalResult
serializeGPUArtifact(mlir::ModuleOp module, const SerializeOptions &options,
                     ArtifactWriter &writer, llvm::StringRef backendName,
                     const TargetCapabilities &targetCaps,
                     GPUKernelSink *sink);

/// The backend registered for `spirv64-*-vulkan*` triples.
std::unique_ptr<TargetBackend> createSPIRVBackend();

} // namespace qopt::spirv

#endif // QOPT_TARGET_SPIRV_SPIRVTARGET_H
