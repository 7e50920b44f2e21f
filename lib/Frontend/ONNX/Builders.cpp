//===- Builders.cpp - IR building helpers for ONNX converters -------------===//

#include "Builders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <cmath>
#include <limits>

using namespace mlir;

namespace qopt::onnx_frontend {

Value emitConstant(OpBuilder &b, Location loc, const HostTensor &t,
                   size_t resourceThreshold) {
  MLIRContext *ctx = b.getContext();
  auto type = RankedTensorType::get(t.shape, dtypeToMLIR(ctx, t.dtype));
  size_t bytes = t.numElements() * (dtypeBits(t.dtype) / 8);
  if (bytes >= resourceThreshold && t.numElements() > 1)
    return emitResourceConstant(b, loc, type, t.toBytes());
  return arith::ConstantOp::create(b, loc, type, t.toAttr(ctx));
}

Value emitResourceConstant(OpBuilder &b, Location loc, RankedTensorType type,
                           ArrayRef<char> bytes) {
  auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      bytes, /*align=*/64, /*dataIsMutable=*/false);
  auto attr = DenseResourceElementsAttr::get(type, "onnx_const", std::move(blob));
  return arith::ConstantOp::create(b, loc, type, attr);
}

Value emitScalar(OpBuilder &b, Location loc, Type elem, double value) {
  if (auto ft = dyn_cast<FloatType>(elem))
    return arith::ConstantOp::create(b, loc, elem,
                                     b.getFloatAttr(elem, value));
  if (elem.isInteger(1))
    return arith::ConstantOp::create(b, loc, elem,
                                     b.getBoolAttr(value != 0.0));
  return arith::ConstantOp::create(b, loc, elem,
                                   b.getIntegerAttr(elem, (int64_t)value));
}

Value emitSplat(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Type elem,
                double value) {
  auto type = RankedTensorType::get(shape, elem);
  Attribute scalar;
  if (isa<FloatType>(elem))
    scalar = b.getFloatAttr(elem, value);
  else if (elem.isInteger(1))
    scalar = b.getBoolAttr(value != 0.0);
  else
    scalar = b.getIntegerAttr(elem, (int64_t)value);
  return arith::ConstantOp::create(b, loc, type,
                                   SplatElementsAttr::get(type, scalar));
}

/// The indexing map reading an input of `inShape` inside an iteration space
/// of `outShape` with numpy broadcasting.
static AffineMap broadcastMap(MLIRContext *ctx, ArrayRef<int64_t> inShape,
                              ArrayRef<int64_t> outShape) {
  unsigned rank = outShape.size();
  unsigned offset = rank - inShape.size();
  SmallVector<AffineExpr> exprs;
  for (unsigned i = 0; i < inShape.size(); ++i) {
    if (inShape[i] == 1 && outShape[offset + i] != 1)
      exprs.push_back(getAffineConstantExpr(0, ctx));
    else
      exprs.push_back(getAffineDimExpr(offset + i, ctx));
  }
  return AffineMap::get(rank, 0, exprs, ctx);
}

Value emitElementwise(OpBuilder &b, Location loc, ValueRange inputs,
                      ArrayRef<int64_t> outShape, Type outElem,
                      const ScalarBodyFn &body) {
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps;
  for (Value in : inputs)
    maps.push_back(broadcastMap(
        ctx, cast<RankedTensorType>(in.getType()).getShape(), outShape));
  maps.push_back(b.getMultiDimIdentityMap(outShape.size()));
  SmallVector<utils::IteratorType> iters(outShape.size(),
                                         utils::IteratorType::parallel);
  Value init = tensor::EmptyOp::create(b, loc, outShape, outElem);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value r = body(nb, nloc, args.drop_back());
        linalg::YieldOp::create(nb, nloc, r);
      });
  return generic.getResult(0);
}

Value emitBroadcastTo(OpBuilder &b, Location loc, Value v,
                      ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getShape() == shape)
    return v;
  return emitElementwise(b, loc, v, shape, type.getElementType(),
                         [](OpBuilder &, Location, ValueRange a) { return a[0]; });
}

Value scalarTruth(OpBuilder &b, Location loc, Value v) {
  Type t = v.getType();
  if (t.isInteger(1))
    return v;
  if (isa<FloatType>(t))
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v,
                                 emitScalar(b, loc, t, 0.0));
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v,
                               emitScalar(b, loc, t, 0.0));
}

Value boolToByte(OpBuilder &b, Location loc, Value i1) {
  return arith::ExtUIOp::create(b, loc, b.getI8Type(), i1);
}

Value castScalar(OpBuilder &b, Location loc, Value v, DType from, DType to) {
  MLIRContext *ctx = b.getContext();
  Type dst = dtypeToMLIR(ctx, to);
  Type src = v.getType();
  if (src == dst && from == to)
    return v;
  bool fromFloat = isFloatDType(from), toFloat = isFloatDType(to);
  if (to == DType::Bool)
    return boolToByte(b, loc, scalarTruth(b, loc, v));
  if (fromFloat && toFloat) {
    unsigned sw = src.getIntOrFloatBitWidth(), dw = dst.getIntOrFloatBitWidth();
    if (sw == dw) // f16 <-> bf16
      return arith::TruncFOp::create(
          b, loc, dst, arith::ExtFOp::create(b, loc, b.getF32Type(), v));
    if (sw < dw)
      return arith::ExtFOp::create(b, loc, dst, v);
    return arith::TruncFOp::create(b, loc, dst, v);
  }
  if (fromFloat) {
    if (isUnsignedDType(to))
      return arith::FPToUIOp::create(b, loc, dst, v);
    return arith::FPToSIOp::create(b, loc, dst, v);
  }
  if (toFloat) {
    if (isUnsignedDType(from))
      return arith::UIToFPOp::create(b, loc, dst, v);
    return arith::SIToFPOp::create(b, loc, dst, v);
  }
  unsigned sw = src.getIntOrFloatBitWidth(), dw = dst.getIntOrFloatBitWidth();
  if (sw == dw)
    return v;
  if (sw > dw)
    return arith::TruncIOp::create(b, loc, dst, v);
  if (isUnsignedDType(from))
    return arith::ExtUIOp::create(b, loc, dst, v);
  return arith::ExtSIOp::create(b, loc, dst, v);
}

Value emitCast(OpBuilder &b, Location loc, Value v, DType from, DType to) {
  auto type = cast<RankedTensorType>(v.getType());
  Type dst = dtypeToMLIR(b.getContext(), to);
  if (type.getElementType() == dst)
    return v;
  return emitElementwise(b, loc, v, type.getShape(), dst,
                         [&](OpBuilder &nb, Location nloc, ValueRange a) {
                           return castScalar(nb, nloc, a[0], from, to);
                         });
}

Value emitPad(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> lo,
              ArrayRef<int64_t> hi, double padValue) {
  auto type = cast<RankedTensorType>(v.getType());
  bool any = false;
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    shape.push_back(type.getDimSize(d) + lo[d] + hi[d]);
    any |= lo[d] || hi[d];
  }
  if (!any)
    return v;
  Type elem = type.getElementType();
  auto outType = RankedTensorType::get(shape, elem);
  MLIRContext *ctx = b.getContext();
  return tensor::PadOp::create(b, loc, outType, v,
                               getAsIndexOpFoldResult(ctx, lo),
                               getAsIndexOpFoldResult(ctx, hi),
                               emitScalar(b, loc, elem, padValue));
}

Value emitConstShape(OpBuilder &b, Location loc, ArrayRef<int64_t> values) {
  ImplicitLocOpBuilder ib(loc, b);
  return tosa::getTosaConstShape(ib, values);
}

Value emitReshape(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getShape() == shape)
    return v;
  auto outType = RankedTensorType::get(shape, type.getElementType());
  if (llvm::is_contained(shape, 0))
    return tensor::EmptyOp::create(b, loc, shape, type.getElementType());
  if (shape.empty() ||
      type.getRank() == 0) {
    // TOSA reshape takes no rank-0 results; tensor.reshape handles all.
    SmallVector<int64_t> shapeVals(shape.begin(), shape.end());
    auto shapeType =
        RankedTensorType::get({(int64_t)shape.size()}, b.getI64Type());
    Value shapeConst = arith::ConstantOp::create(
        b, loc, shapeType,
        DenseIntElementsAttr::get(shapeType, ArrayRef<int64_t>(shapeVals)));
    return tensor::ReshapeOp::create(b, loc, outType, v, shapeConst);
  }
  return tosa::ReshapeOp::create(b, loc, outType, v,
                                 emitConstShape(b, loc, shape));
}

Value emitTranspose(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> perm) {
  auto type = cast<RankedTensorType>(v.getType());
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i)
    identity &= perm[i] == (int64_t)i;
  if (identity)
    return v;
  SmallVector<int64_t> shape;
  SmallVector<int32_t> perm32;
  for (int64_t p : perm) {
    shape.push_back(type.getDimSize(p));
    perm32.push_back((int32_t)p);
  }
  auto outType = RankedTensorType::get(shape, type.getElementType());
  return tosa::TransposeOp::create(b, loc, outType, v,
                                   b.getDenseI32ArrayAttr(perm32));
}

Value emitSlice(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> offsets,
                ArrayRef<int64_t> sizes, ArrayRef<int64_t> strides) {
  auto type = cast<RankedTensorType>(v.getType());
  if (llvm::is_contained(sizes, 0))
    return tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
  bool anyNegative = false;
  for (int64_t s : strides)
    anyNegative |= s < 0;
  if (!anyNegative) {
    auto outType = RankedTensorType::get(sizes, type.getElementType());
    return tensor::ExtractSliceOp::create(b, loc, outType, v, ValueRange{},
                                          ValueRange{}, ValueRange{},
                                          b.getDenseI64ArrayAttr(offsets),
                                          b.getDenseI64ArrayAttr(sizes),
                                          b.getDenseI64ArrayAttr(strides));
  }
  // Negative strides: a generic that reads input[offset + i * stride].
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineExpr> exprs;
  for (size_t d = 0; d < sizes.size(); ++d)
    exprs.push_back(getAffineConstantExpr(offsets[d], ctx) +
                    getAffineDimExpr(d, ctx) * strides[d]);
  SmallVector<AffineMap> maps = {AffineMap::get(sizes.size(), 0, exprs, ctx),
                                 b.getMultiDimIdentityMap(sizes.size())};
  SmallVector<utils::IteratorType> iters(sizes.size(),
                                         utils::IteratorType::parallel);
  Value init = tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{v}, ValueRange{init},
             maps, iters,
             [](OpBuilder &nb, Location nloc, ValueRange a) {
               linalg::YieldOp::create(nb, nloc, a[0]);
             })
      .getResult(0);
}

Value emitReduceInit(OpBuilder &b, Location loc, Type elem, ReduceKind kind,
                     bool isUnsigned) {
  if (auto ft = dyn_cast<FloatType>(elem)) {
    switch (kind) {
    case ReduceKind::Sum: return emitScalar(b, loc, elem, 0.0);
    case ReduceKind::Prod: return emitScalar(b, loc, elem, 1.0);
    case ReduceKind::Max:
      return arith::ConstantOp::create(
          b, loc, elem,
          b.getFloatAttr(elem, APFloat::getInf(ft.getFloatSemantics(), true)));
    case ReduceKind::Min:
      return arith::ConstantOp::create(
          b, loc, elem,
          b.getFloatAttr(elem, APFloat::getInf(ft.getFloatSemantics(), false)));
    }
  }
  unsigned w = elem.getIntOrFloatBitWidth();
  APInt value;
  switch (kind) {
  case ReduceKind::Sum: value = APInt(w, 0); break;
  case ReduceKind::Prod: value = APInt(w, 1); break;
  case ReduceKind::Max:
    value = isUnsigned ? APInt::getMinValue(w) : APInt::getSignedMinValue(w);
    break;
  case ReduceKind::Min:
    value = isUnsigned ? APInt::getMaxValue(w) : APInt::getSignedMaxValue(w);
    break;
  }
  return arith::ConstantOp::create(b, loc, elem, b.getIntegerAttr(elem, value));
}

Value combineScalars(OpBuilder &b, Location loc, ReduceKind kind, Value acc,
                     Value x, bool isUnsigned) {
  bool isFloat = isa<FloatType>(acc.getType());
  switch (kind) {
  case ReduceKind::Sum:
    return isFloat ? (Value)arith::AddFOp::create(b, loc, acc, x)
                   : (Value)arith::AddIOp::create(b, loc, acc, x);
  case ReduceKind::Prod:
    return isFloat ? (Value)arith::MulFOp::create(b, loc, acc, x)
                   : (Value)arith::MulIOp::create(b, loc, acc, x);
  case ReduceKind::Max:
    if (isFloat)
      return arith::MaximumFOp::create(b, loc, acc, x);
    return isUnsigned ? (Value)arith::MaxUIOp::create(b, loc, acc, x)
                      : (Value)arith::MaxSIOp::create(b, loc, acc, x);
  case ReduceKind::Min:
    if (isFloat)
      return arith::MinimumFOp::create(b, loc, acc, x);
    return isUnsigned ? (Value)arith::MinUIOp::create(b, loc, acc, x)
                      : (Value)arith::MinSIOp::create(b, loc, acc, x);
  }
  llvm_unreachable("unknown reduction");
}

Value emitReduce(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> axes,
                 bool keepDims, ReduceKind kind, bool isUnsigned,
                 const ScalarBodyFn &pre) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(v.getType());
  Type elem = type.getElementType();
  int64_t rank = type.getRank();
  SmallVector<int64_t> outShape, keptShape;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iters;
  for (int64_t d = 0; d < rank; ++d) {
    bool reduced = llvm::is_contained(axes, d);
    iters.push_back(reduced ? utils::IteratorType::reduction
                            : utils::IteratorType::parallel);
    if (!reduced) {
      outShape.push_back(type.getDimSize(d));
      outExprs.push_back(getAffineDimExpr(d, ctx));
    }
    keptShape.push_back(reduced ? 1 : type.getDimSize(d));
  }
  Value init = tensor::EmptyOp::create(b, loc, outShape, elem);
  Value identity = emitReduceInit(b, loc, elem, kind, isUnsigned);
  Value filled =
      linalg::FillOp::create(b, loc, ValueRange{identity}, ValueRange{init})
          .getResult(0);
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  Value reduced =
      linalg::GenericOp::create(
          b, loc, TypeRange{filled.getType()}, ValueRange{v},
          ValueRange{filled}, maps, iters,
          [&](OpBuilder &nb, Location nloc, ValueRange a) {
            Value x = pre ? pre(nb, nloc, a[0]) : a[0];
            linalg::YieldOp::create(
                nb, nloc, combineScalars(nb, nloc, kind, a[1], x, isUnsigned));
          })
          .getResult(0);
  if (keepDims)
    return emitReshape(b, loc, reduced, keptShape);
  return reduced;
}

/// [B, M, K] x [B, K, N] -> [B, M, N] in element type `t`.
Value emitBatchMatMul(OpBuilder &b, Location loc, Value lhs, Value rhs,
                      DType t) {
  auto lt = cast<RankedTensorType>(lhs.getType());
  auto rt = cast<RankedTensorType>(rhs.getType());
  SmallVector<int64_t> outShape = {lt.getDimSize(0), lt.getDimSize(1),
                                   rt.getDimSize(2)};
  MLIRContext *ctx = b.getContext();
  if (t == DType::F32) {
    auto outType = RankedTensorType::get(outShape, b.getF32Type());
    return tosa::MatMulOp::create(b, loc, outType, lhs, rhs);
  }
  if (t == DType::F16 || t == DType::BF16) {
    // Accumulate in f32 like ONNX Runtime's CPU kernels, round once.
    Value l32 = emitCast(b, loc, lhs, t, DType::F32);
    Value r32 = emitCast(b, loc, rhs, t, DType::F32);
    auto outType = RankedTensorType::get(outShape, b.getF32Type());
    Value r = tosa::MatMulOp::create(b, loc, outType, l32, r32);
    return emitCast(b, loc, r, DType::F32, t);
  }
  Type elem = dtypeToMLIR(ctx, t);
  Value init = tensor::EmptyOp::create(b, loc, outShape, elem);
  Value zero = emitScalar(b, loc, elem, 0.0);
  Value filled =
      linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{init})
          .getResult(0);
  if (isUnsignedDType(t)) {
    // batch_matmul extends signed by default; request unsigned casts.
    auto op = linalg::BatchMatmulOp::create(b, loc, TypeRange{filled.getType()},
                                            ValueRange{lhs, rhs},
                                            ValueRange{filled});
    op->setAttr("cast", linalg::TypeFnAttr::get(ctx, linalg::TypeFn::cast_unsigned));
    return op.getResult(0);
  }
  return linalg::BatchMatmulOp::create(b, loc, TypeRange{filled.getType()},
                                       ValueRange{lhs, rhs}, ValueRange{filled})
      .getResult(0);
}

} // namespace qopt::onnx_frontend
