//===- AMDGPUTarget.h - The AMD (HSA) target backend ------------*- C++ -*-===//
//
// Compiles the GPU pipeline's kernels through MLIR's ROCDL dialect and
// ROCDL target to one HSA code object (`amdgcn-amd-amdhsa`, gfx90a, gfx942,
// gfx1100): LLVM's AMDGPU backend and ld.lld, with a ROCm root made of
// Debian's rocm-device-libs bitcode (docs/nvidia-amd.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_AMDGPU_AMDGPUTARGET_H
#define QOPT_TARGET_AMDGPU_AMDGPUTARGET_H

#include "qopt/Target/Target.h"

#include "mlir/Pass/PassManager.h"

#include <memory>

namespace qopt::amdgpu {

/// The features an AMD GPU is assumed to have unless the user removes
/// them: `dotprod` is the int8 four-way dot product (v_dot4_i32_i8 on
/// gfx90a/gfx942, v_dot4_i32_iu8 on gfx11).
inline constexpr const char *kDefaultFeatures = "+dotprod";

/// The processor a cross compile picks for `native` or no -mcpu.
inline constexpr const char *kDefaultProcessor = "gfx90a";

/// Stage 4: the kernels into one gpu.module, W8A8 dot products to the
/// amdgcn dot intrinsics (with `dotprod`), the kernels to the ROCDL
/// dialect with bare-pointer buffer arguments, and the #rocdl.target of
/// the module's #qopt.target (gfx90a, +dotprod without one).
void buildAMDGPUKernelPipeline(mlir::OpPassManager &pm, TargetAttr target);

/// Registers `qopt-amdgpu-kernel-pipeline`, `qopt-amdgpu-pipeline` and
/// the AMDGPU passes.
void registerAMDGPUPipelines();

/// The backend registered for `amdgcn-amd-amdhsa`.
std::unique_ptr<TargetBackend> createAMDGPUBackend();

} // namespace qopt::amdgpu

#endif // QOPT_TARGET_AMDGPU_AMDGPUTARGET_H
