//===- DispatchList.h - The host side of a GPU artifact ---------*- C++ -*-===//
//
// After the shared GPU pipeline the entry function is a straight sequence
// of gpu.launch_func over views of its buffer arguments (weights,
// workspace, inputs, outputs). Every GPU target describes that sequence
// the same way in manifest.json: per launch its grid, its block and, per
// kernel operand, which runtime buffer it is a range of (docs/gpu.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_GPU_DISPATCHLIST_H
#define QOPT_TARGET_GPU_DISPATCHLIST_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace qopt::gpu {

/// One buffer a kernel operand is bound to: `bytes` bytes at `offset` of
/// one runtime buffer.
struct BufferBinding {
  std::string buffer; // "weights", "workspace", "input", "output"
  unsigned index = 0; // Position among inputs or outputs.
  int64_t offset = 0;
  int64_t bytes = 0;
};

/// Bytes of a static memref (sub-byte elements take a byte each).
int64_t bytesOf(mlir::MemRefType type);

/// The runtime buffer each argument of `entry` is, from its argument roles.
/// Inputs and outputs must have static shapes; `targetName` names the
/// target in the error.
mlir::FailureOr<std::vector<BufferBinding>>
bindEntryArguments(mlir::func::FuncOp entry, int64_t weightsBytes,
                   int64_t workspaceBytes, llvm::StringRef targetName);

/// Which runtime buffer, at which offset, a host value of `entry` is:
/// an argument, or a view, reshape or subview of one (a subview binds its
/// whole source: the kernel indexes it with the subview's layout).
mlir::FailureOr<BufferBinding>
resolveBuffer(mlir::Value value, mlir::func::FuncOp entry,
              llvm::ArrayRef<BufferBinding> argBindings);

/// The launches of `entry` in execution order; anything else in it but
/// constants and buffer views is an error at that op naming `targetName`
/// (it would have to run on a host the artifact does not have).
mlir::FailureOr<std::vector<mlir::gpu::LaunchFuncOp>>
collectLaunches(mlir::func::FuncOp entry, llvm::StringRef targetName);

/// The dispatch-list entries every GPU target shares for one launch:
/// `workgroups` (the grid), `workgroup_size` (the block) and `bindings`
/// (one per kernel operand, in order: binding, buffer, index, offset,
/// bytes). An error at the launch when a size is not static or an
/// operand is not a view of a runtime buffer.
mlir::FailureOr<llvm::json::Object>
describeLaunch(mlir::gpu::LaunchFuncOp launch, mlir::func::FuncOp entry,
               llvm::ArrayRef<BufferBinding> argBindings,
               llvm::StringRef targetName);

/// Moves every kernel of the outlined `gpu.module`s of `module` into one
/// `gpu.module @name`, each renamed after the module it came from (the
/// outlining names every kernel `main_kernel`, each in its own module), and
/// points the launches at it: one code object with one entry point per
/// kernel, for the targets that build one (PTX, HSA).
mlir::LogicalResult mergeKernelModules(mlir::ModuleOp module,
                                       llvm::StringRef name);

} // namespace qopt::gpu

#endif // QOPT_TARGET_GPU_DISPATCHLIST_H
