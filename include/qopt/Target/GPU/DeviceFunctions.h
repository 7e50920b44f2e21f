//===- DeviceFunctions.h - Math library calls to intrinsics -----*- C++ -*-===//
//
// GPU-to-NVVM and GPU-to-ROCDL lower math ops to calls of the vendor's
// bitcode math library (libdevice's __nv_*, ROCm's __ocml_*), which only a
// vendor toolkit provides. The ones that are plain LLVM intrinsics (fabs,
// sqrt, floor, ...) are resolved to those intrinsics here, so kernels
// compile without the library; any other call is an error at its op.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_GPU_DEVICEFUNCTIONS_H
#define QOPT_TARGET_GPU_DEVICEFUNCTIONS_H

#include "mlir/IR/Operation.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Support/LLVM.h"

#include <memory>
#include <utility>

namespace qopt::gpu {

/// One library function and the LLVM intrinsic op of the same semantics
/// ("llvm.intr.fabs"); an empty intrinsic means 1 / sqrt(x) (rsqrt, whose
/// library versions are approximate).
using DeviceFunction = std::pair<const char *, const char *>;

/// Rewrites every llvm.call of a function starting with `prefix` under
/// `root` by `table`, erases the declarations left unused, and fails with
/// an error at each call it cannot resolve, naming `targetName` and
/// `library`.
mlir::LogicalResult
resolveDeviceFunctionCalls(mlir::Operation *root, llvm::StringRef prefix,
                           llvm::ArrayRef<DeviceFunction> table,
                           llvm::StringRef targetName, llvm::StringRef library);

/// qopt-gpu-simplify-math, on a gpu.module before its conversion to the
/// vendor dialect: math.powf with a constant exponent (the x^2 of RMSNorm,
/// x^0.5, x^-1, ...) as multiplications, sqrt and divisions (upstream's
/// algebraic simplification), so it needs no library pow.
std::unique_ptr<mlir::Pass> createSimplifyMathPass();

/// Registers qopt-gpu-simplify-math (once, whoever calls).
void registerSimplifyMathPass();

} // namespace qopt::gpu

#endif // QOPT_TARGET_GPU_DEVICEFUNCTIONS_H
