//===- Passes.h - qopt graph and buffer passes ------------------*- C++ -*-===//

#ifndef QOPT_TRANSFORMS_PASSES_H
#define QOPT_TRANSFORMS_PASSES_H

#include "qopt/QOptDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include <vector>

namespace qopt {

#define GEN_PASS_DECL
#include "qopt/Transforms/Passes.h.inc"

/// An op the tiling passes leave as scalar loops: a remark at its location
/// (which carries the ONNX node name) when `asRemark`, a debug line always.
void reportLeftScalar(mlir::Operation *op, llvm::StringRef why, bool asRemark);

/// The model's entry: the module's one public function with a body, or an
/// error on the module naming what was found.
mlir::FailureOr<mlir::func::FuncOp> lookupEntryFunction(mlir::ModuleOp module);

/// One constant moved into the weights blob.
struct WeightEntry {
  std::string name;
  int64_t offset;
  int64_t bytes;
};

/// Moves every constant global of at least `threshold` bytes into `blob`
/// (see ExternalizeWeightsPass). Returns failure if a global's data cannot be
/// read. `entries` lists what moved.
mlir::LogicalResult externalizeWeights(mlir::ModuleOp module,
                                       llvm::StringRef entryFunction,
                                       int64_t threshold, int64_t alignment,
                                       std::vector<char> &blob,
                                       std::vector<WeightEntry> &entries);

/// The raw little-endian bytes of a dense or dense_resource constant of
/// `type` (splats expanded), or failure for sub-byte elements and other
/// attributes.
mlir::FailureOr<std::vector<char>> constantBytes(mlir::Attribute value,
                                                 mlir::ShapedType type);

/// Frees the data of every dense_resource blob of `module`'s context that no
/// attribute in `module` refers to (the float weights that quantization or
/// constant folding replaced: MLIR keeps a blob until its context dies), and
/// returns the bytes freed. Only for a point where `module` is the only IR of
/// its context still alive: a clone sharing a freed blob would read it as
/// empty.
int64_t releaseUnreferencedBlobs(mlir::ModuleOp module);

/// Adds the patterns of qopt-decompose-convolutions: float named linalg
/// convolutions become im2col matmuls, depthwise tap sums or grouped
/// generics. With `denseOnly`, only the group-1 ones.
void populateDecomposeConvolutionPatterns(mlir::RewritePatternSet &patterns,
                                          bool denseOnly = false);

/// Adds the memref.copy → linalg.copy patterns.
void populateLowerMemRefCopyPatterns(mlir::RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "qopt/Transforms/Passes.h.inc"

} // namespace qopt

#endif // QOPT_TRANSFORMS_PASSES_H
