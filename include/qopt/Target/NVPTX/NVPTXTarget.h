//===- NVPTXTarget.h - The NVIDIA (PTX) target backend ----------*- C++ -*-===//
//
// Compiles the GPU pipeline's kernels through MLIR's NVVM dialect and NVVM
// target to one PTX module (`nvptx64-nvidia-cuda`, sm_80 to sm_90), plus a
// cubin when CUDA's ptxas is installed, and describes the host side as a
// launch list in manifest.json, which qrt's CUDA backend executes
// (docs/nvidia-amd.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_NVPTX_NVPTXTARGET_H
#define QOPT_TARGET_NVPTX_NVPTXTARGET_H

#include "qopt/Target/Target.h"

#include "mlir/Pass/PassManager.h"

#include <memory>
#include <optional>
#include <string>

namespace qopt::nvptx {

/// The features an NVIDIA GPU is assumed to have unless the user removes
/// them: `dotprod` is the int8 four-way dot product (dp4a, sm_61 on).
inline constexpr const char *kDefaultFeatures = "+dotprod";

/// The processor a cross compile picks for `native` or no -mcpu.
inline constexpr const char *kDefaultProcessor = "sm_80";

/// Stage 4: the kernels into one gpu.module, W8A8 dot products to
/// nvvm.dot.accumulate.4way (with `dotprod`), the kernels to the NVVM
/// dialect with bare-pointer buffer arguments, and the #nvvm.target of the
/// module's #qopt.target (sm_80 with the default features without one).
void buildNVPTXKernelPipeline(mlir::OpPassManager &pm, TargetAttr target);

/// Registers `qopt-nvptx-kernel-pipeline`, `qopt-nvptx-pipeline` and
/// qopt-nvptx-dot-product.
void registerNVPTXPipelines();

/// Where ptxas is: $CUDA_HOME/bin, then PATH, then /usr/local/cuda/bin;
/// nothing when none has it.
std::optional<std::string> findPtxas();

/// The backend registered for `nvptx64-nvidia-cuda`.
std::unique_ptr<TargetBackend> createNVPTXBackend();

} // namespace qopt::nvptx

#endif // QOPT_TARGET_NVPTX_NVPTXTARGET_H
