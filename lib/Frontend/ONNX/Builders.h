//===- Builders.h - IR building helpers for ONNX converters -----*- C++ -*-===//
//
// Small helpers the op converters share: constants, numpy broadcasting as
// linalg.generic, casts with ONNX semantics, and TOSA shape ops with their
// shape operands.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_FRONTEND_ONNX_BUILDERS_H
#define QOPT_LIB_FRONTEND_ONNX_BUILDERS_H

#include "HostTensor.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <functional>

namespace qopt::onnx_frontend {

/// Body of an elementwise op: scalar operands in, scalar result out.
using ScalarBodyFn = std::function<mlir::Value(
    mlir::OpBuilder &, mlir::Location, mlir::ValueRange)>;

/// Materializes `t` as an arith.constant; tensors of at least
/// `resourceThreshold` bytes become dense_resource blobs.
mlir::Value emitConstant(mlir::OpBuilder &b, mlir::Location loc,
                         const HostTensor &t, size_t resourceThreshold);

/// An arith.constant holding `bytes` (little-endian, `type`'s layout) as a
/// 64-byte aligned dense_resource blob.
mlir::Value emitResourceConstant(mlir::OpBuilder &b, mlir::Location loc,
                                 mlir::RankedTensorType type,
                                 llvm::ArrayRef<char> bytes);

/// A rank-0/splat constant tensor of the given shape.
mlir::Value emitSplat(mlir::OpBuilder &b, mlir::Location loc,
                      llvm::ArrayRef<int64_t> shape, mlir::Type elem,
                      double value);

/// A scalar arith constant of `elem` type.
mlir::Value emitScalar(mlir::OpBuilder &b, mlir::Location loc, mlir::Type elem,
                       double value);

/// Emits a linalg.generic over `outShape` that reads each input with numpy
/// broadcasting and computes `body` per element.
mlir::Value emitElementwise(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::ValueRange inputs,
                            llvm::ArrayRef<int64_t> outShape,
                            mlir::Type outElem, const ScalarBodyFn &body);

/// Broadcasts `v` to `shape` (numpy rules); returns `v` if already there.
mlir::Value emitBroadcastTo(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value v, llvm::ArrayRef<int64_t> shape);

/// The i1 truth value of a scalar (bool bytes, numbers: != 0).
mlir::Value scalarTruth(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v);
/// An i1 as a bool byte (i8 0/1).
mlir::Value boolToByte(mlir::OpBuilder &b, mlir::Location loc, mlir::Value i1);

/// Converts a scalar between ONNX element types with Cast semantics.
mlir::Value castScalar(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                       DType from, DType to);

/// Elementwise ONNX Cast of a tensor.
mlir::Value emitCast(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                     DType from, DType to);

/// tosa.reshape to a static shape.
mlir::Value emitReshape(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                        llvm::ArrayRef<int64_t> shape);

/// tosa.transpose with the given permutation.
mlir::Value emitTranspose(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value v, llvm::ArrayRef<int64_t> perm);

/// tensor.extract_slice with static offsets/sizes/strides (strides may be
/// negative; handled by a reversing gather).
mlir::Value emitSlice(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                      llvm::ArrayRef<int64_t> offsets,
                      llvm::ArrayRef<int64_t> sizes,
                      llvm::ArrayRef<int64_t> strides);

/// tensor.pad with a constant value and static low/high amounts.
mlir::Value emitPad(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                    llvm::ArrayRef<int64_t> lo, llvm::ArrayRef<int64_t> hi,
                    double padValue);

/// tosa.const_shape.
mlir::Value emitConstShape(mlir::OpBuilder &b, mlir::Location loc,
                           llvm::ArrayRef<int64_t> values);

/// [B, M, K] x [B, K, N] -> [B, M, N] in ONNX element type `t`: tosa.matmul
/// for f32 (f16/bf16 accumulate in f32 and round once), linalg.batch_matmul
/// for integers and f64.
mlir::Value emitBatchMatMul(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value lhs, mlir::Value rhs, DType t);

/// The identity value of a reduction-like combiner on `elem`.
enum class ReduceKind { Sum, Prod, Max, Min };
mlir::Value emitReduceInit(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Type elem, ReduceKind kind, bool isUnsigned);
mlir::Value combineScalars(mlir::OpBuilder &b, mlir::Location loc,
                           ReduceKind kind, mlir::Value acc, mlir::Value x,
                           bool isUnsigned);

/// Reduces `v` over `axes` (sorted, unique) with `kind`; keeps reduced dims
/// as size 1 when `keepDims`. `pre` maps each element before combining.
mlir::Value emitReduce(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                       llvm::ArrayRef<int64_t> axes, bool keepDims,
                       ReduceKind kind, bool isUnsigned,
                       const ScalarBodyFn &pre = nullptr);

} // namespace qopt::onnx_frontend

#endif // QOPT_LIB_FRONTEND_ONNX_BUILDERS_H
