//===- ByteDotProduct.h - int8 dot products, per vendor ---------*- C++ -*-===//
//
// qopt-gpu-fuse-integer-matmul's W8A8 kernel takes four codes at a time as
// `vector.reduction <add>` of the product of two sign-extended
// vector<4xi8>, added to the running i32 sum. A GPU target with a four-way
// byte dot product instruction (dp4a, v_dot4) rewrites that step into it,
// the running sum as the instruction's accumulator.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_GPU_BYTEDOTPRODUCT_H
#define QOPT_TARGET_GPU_BYTEDOTPRODUCT_H

#include "mlir/IR/PatternMatch.h"

#include <functional>

namespace qopt::gpu {

/// Builds acc + dot(a, b) for two signed vector<4xi8> and an i32 `acc`.
using ByteDotProductBuilder =
    std::function<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::Value a,
                              mlir::Value b, mlir::Value acc)>;

/// acc + reduce<add>(extsi(a) * extsi(b)) -> build(a, b, acc), and a lone
/// reduce<add>(extsi(a) * extsi(b)) -> build(a, b, 0).
void populateByteDotProductPatterns(mlir::RewritePatternSet &patterns,
                                    ByteDotProductBuilder build);

} // namespace qopt::gpu

#endif // QOPT_TARGET_GPU_BYTEDOTPRODUCT_H
