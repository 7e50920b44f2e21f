//===- QOptToLinalg.cpp - Reference lowering of the qopt dialect ----------===//
//
// Every qopt op becomes linalg/arith/math/tensor on tensors. This lowering
// is the definition of what qopt ops compute: targets and the C++ reference
// in the unit tests follow the same operation order, so integer results are
// bit-exact and float results differ only by summation order.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Passes.h"
#include "qopt/QOptDialect.h"
#include "qopt/Quant/Quant.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/AffineExpr.h"

#include <numeric>

namespace qopt {
#define GEN_PASS_DEF_LOWERTOLINALGPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

using utils::IteratorType;

Value constI32(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
}
Value constF32(OpBuilder &b, Location loc, float v) {
  return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(v));
}

/// Widens an integer code to i32, sign- or zero-extending.
Value extendToI32(OpBuilder &b, Location loc, Value v, bool isUnsigned) {
  if (v.getType().isInteger(32))
    return v;
  if (isUnsigned)
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), v);
  return arith::ExtSIOp::create(b, loc, b.getI32Type(), v);
}

/// An affine map from `numDims` loop dims to a per-tensor or per-axis
/// parameter of shape `paramType`, where `axisDim` is the loop dim of the
/// quantization axis.
AffineMap paramMap(MLIRContext *ctx, unsigned numDims, RankedTensorType paramType,
                   std::optional<unsigned> axisDim) {
  SmallVector<AffineExpr> results;
  for (int64_t i = 0; i < paramType.getRank(); ++i)
    results.push_back(axisDim && paramType.getDimSize(i) != 1
                          ? getAffineDimExpr(*axisDim, ctx)
                          : getAffineConstantExpr(0, ctx));
  return AffineMap::get(numDims, 0, results, ctx);
}

std::optional<unsigned> normalizedAxis(std::optional<int64_t> axis,
                                       int64_t rank) {
  if (!axis)
    return std::nullopt;
  return unsigned(*axis < 0 ? *axis + rank : *axis);
}

/// roundeven(x / scale) + zero_point, clamped to [qmin, qmax], as an integer
/// of `codeType`. The float clamp happens before the conversion so the
/// conversion never overflows.
Value quantizeScalar(OpBuilder &b, Location loc, Value x, Value scale,
                     Value zeroF, int64_t qmin, int64_t qmax,
                     Type codeType) {
  Value q = arith::DivFOp::create(b, loc, x, scale);
  q = math::RoundEvenOp::create(b, loc, q);
  if (zeroF)
    q = arith::AddFOp::create(b, loc, q, zeroF);
  q = arith::MaximumFOp::create(b, loc, q, constF32(b, loc, float(qmin)));
  q = arith::MinimumFOp::create(b, loc, q, constF32(b, loc, float(qmax)));
  Value i = arith::FPToSIOp::create(b, loc, b.getI32Type(), q);
  if (codeType.isInteger(32))
    return i;
  return arith::TruncIOp::create(b, loc, codeType, i);
}

std::pair<int64_t, int64_t> codeRange(Type t, bool isUnsigned) {
  unsigned w = t.getIntOrFloatBitWidth();
  if (isUnsigned)
    return {0, (int64_t(1) << w) - 1};
  return {-(int64_t(1) << (w - 1)), (int64_t(1) << (w - 1)) - 1};
}

Value emptyLike(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                Type elem) {
  return tensor::EmptyOp::create(b, loc, shape, elem);
}

Value zeroFilled(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                 Type elem) {
  Value init = emptyLike(b, loc, shape, elem);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elem));
  return linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{init})
      .getResult(0);
}

/// [d0, ..., dn-2, k] -> [d0 * ... * dn-2, k].
Value collapseRows(OpBuilder &b, Location loc, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() == 2)
    return v;
  ReassociationIndices rows;
  for (int64_t i = 0; i + 1 < t.getRank(); ++i)
    rows.push_back(i);
  SmallVector<ReassociationIndices> re = {rows, {t.getRank() - 1}};
  return tensor::CollapseShapeOp::create(b, loc, v, re);
}

Value expandRows(OpBuilder &b, Location loc, Value v, RankedTensorType to) {
  if (to.getRank() == 2)
    return v;
  ReassociationIndices rows;
  for (int64_t i = 0; i + 1 < to.getRank(); ++i)
    rows.push_back(i);
  SmallVector<ReassociationIndices> re = {rows, {to.getRank() - 1}};
  return tensor::ExpandShapeOp::create(b, loc, to, v, re);
}

SmallVector<IteratorType> parallel(unsigned n) {
  return SmallVector<IteratorType>(n, IteratorType::parallel);
}

//===----------------------------------------------------------------------===//
// Packed weights
//===----------------------------------------------------------------------===//

/// Affine maps that address value `kExpr` of row `rowExpr` of a packed
/// [rows, bytes] tensor: the byte holding its first bit, and the next byte
/// (only read when values straddle bytes).
std::pair<AffineMap, AffineMap> packedByteMaps(MLIRContext *ctx,
                                               unsigned numDims,
                                               AffineExpr rowExpr,
                                               AffineExpr kExpr,
                                               unsigned bits) {
  AffineExpr byte = (kExpr * bits).floorDiv(8);
  return {AffineMap::get(numDims, 0, {rowExpr, byte}, ctx),
          AffineMap::get(numDims, 0, {rowExpr, byte + 1}, ctx)};
}

/// The i32 code of value `k` (an index) from its first (and second) byte.
Value unpackCode(OpBuilder &b, Location loc, Value byte0, Value byte1,
                 Value k, SchemeAttr scheme) {
  unsigned bits = scheme.getBits();
  Value word = arith::ExtUIOp::create(b, loc, b.getI32Type(), byte0);
  if (bits == 8)
    return scheme.getKind() == QuantKind::Int && !scheme.getIsUnsigned()
               ? (Value)arith::ExtSIOp::create(b, loc, b.getI32Type(), byte0)
               : word;
  if (byte1) {
    Value hi = arith::ExtUIOp::create(b, loc, b.getI32Type(), byte1);
    hi = arith::ShLIOp::create(b, loc, hi, constI32(b, loc, 8));
    word = arith::OrIOp::create(b, loc, word, hi);
  }
  // shift = (k * bits) mod 8
  Value kI32 = arith::IndexCastUIOp::create(b, loc, b.getI32Type(), k);
  Value bitPos = arith::MulIOp::create(b, loc, kI32, constI32(b, loc, bits));
  Value shift = arith::AndIOp::create(b, loc, bitPos, constI32(b, loc, 7));
  Value v = arith::ShRUIOp::create(b, loc, word, shift);
  if (scheme.getKind() == QuantKind::Int && !scheme.getIsUnsigned()) {
    // Sign-extend the low `bits` bits.
    Value up = constI32(b, loc, 32 - bits);
    v = arith::ShLIOp::create(b, loc, v, up);
    return arith::ShRSIOp::create(b, loc, v, up);
  }
  return arith::AndIOp::create(b, loc, v, constI32(b, loc, (1 << bits) - 1));
}

/// float(code - zero) * scale, or level[code] * scale for nf4.
Value dequantizeCode(OpBuilder &b, Location loc, Value code, Value zeroCode,
                     Value scale, SchemeAttr scheme, Value nf4Levels) {
  if (scheme.getKind() == QuantKind::NF4) {
    Value idx = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), code);
    Value level = tensor::ExtractOp::create(b, loc, nf4Levels, idx);
    return arith::MulFOp::create(b, loc, level, scale);
  }
  if (zeroCode)
    code = arith::SubIOp::create(b, loc, code, zeroCode);
  Value f = arith::SIToFPOp::create(b, loc, b.getF32Type(), code);
  return arith::MulFOp::create(b, loc, f, scale);
}

Value nf4LevelsConstant(OpBuilder &b, Location loc) {
  auto type = RankedTensorType::get({16}, b.getF32Type());
  return arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(type, ArrayRef<float>(quant::kNF4Levels, 16)));
}

/// Scale / zero-point map for packed parameters of shape [rows|1, groups|1]
/// addressed by row `rowExpr` and value `kExpr`.
AffineMap groupParamMap(MLIRContext *ctx, unsigned numDims, AffineExpr rowExpr,
                        AffineExpr kExpr, SchemeAttr scheme,
                        RankedTensorType paramType, int64_t k) {
  AffineExpr zero = getAffineConstantExpr(0, ctx);
  AffineExpr row = paramType.getDimSize(0) == 1 ? zero : rowExpr;
  AffineExpr group = paramType.getDimSize(1) == 1
                         ? zero
                         : kExpr.floorDiv(scheme.getGroupLength(k));
  return AffineMap::get(numDims, 0, {row, group}, ctx);
}

/// Dequantizes packed weights [N, packed] into a float [K, N] tensor (the
/// layout linalg.matmul reads). One generic over (k, n) reading the packed
/// bytes in place.
Value emitWeightDequantization(OpBuilder &b, Location loc, MatMulOp op) {
  MLIRContext *ctx = b.getContext();
  SchemeAttr scheme = op.getScheme();
  int64_t k = op.getK(), n = op.getN();
  AffineExpr dk = getAffineDimExpr(0, ctx), dn = getAffineDimExpr(1, ctx);
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  bool straddles = scheme.isPackedInteger() && 8 % scheme.getBits() != 0;
  if (scheme.isPackedInteger()) {
    auto [m0, m1] = packedByteMaps(ctx, 2, dn, dk, scheme.getBits());
    Value weight = op.getWeight();
    // With whole bytes the byte map is a plain dim map, from which linalg
    // infers the loop range: drop the group padding so it reads k columns.
    if (scheme.getBits() == 8 &&
        op.getWeight().getType().getDimSize(1) != k)
      weight = tensor::ExtractSliceOp::create(
          b, loc, weight, ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(n), b.getIndexAttr(k)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
    inputs.push_back(weight);
    maps.push_back(m0);
    if (straddles) {
      inputs.push_back(op.getWeight());
      maps.push_back(m1);
    }
  } else {
    inputs.push_back(op.getWeight());
    maps.push_back(AffineMap::get(2, 0, {dn, dk}, ctx));
  }
  Value scales = op.getWeightScales(), zeros = op.getWeightZeroPoints();
  if (scales) {
    inputs.push_back(scales);
    maps.push_back(groupParamMap(ctx, 2, dn, dk, scheme,
                                 cast<RankedTensorType>(scales.getType()), k));
  }
  if (zeros) {
    inputs.push_back(zeros);
    maps.push_back(groupParamMap(ctx, 2, dn, dk, scheme,
                                 cast<RankedTensorType>(zeros.getType()), k));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(2, ctx));
  Value levels = scheme.getKind() == QuantKind::NF4 ? nf4LevelsConstant(b, loc)
                                                    : Value();
  Value init = emptyLike(b, loc, {k, n}, b.getF32Type());
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      parallel(2), [&](OpBuilder &nb, Location nl, ValueRange args) {
        unsigned i = 0;
        Value result;
        if (scheme.getKind() == QuantKind::Float) {
          result = arith::ExtFOp::create(nb, nl, nb.getF32Type(), args[i++]);
          if (scales)
            result = arith::MulFOp::create(nb, nl, result, args[i++]);
        } else {
          Value byte0 = args[i++];
          Value byte1 = straddles ? args[i++] : Value();
          Value kIdx = linalg::IndexOp::create(nb, nl, 0);
          Value code = unpackCode(nb, nl, byte0, byte1, kIdx, scheme);
          Value scale = args[i++];
          if (zeros && args[i].getType().isF32()) {
            // Float zero points: (float(code) - zero) * scale.
            Value f = arith::SIToFPOp::create(nb, nl, nb.getF32Type(), code);
            f = arith::SubFOp::create(nb, nl, f, args[i++]);
            result = arith::MulFOp::create(nb, nl, f, scale);
          } else {
            Value zero =
                zeros ? extendToI32(nb, nl, args[i++], true) : Value();
            result = dequantizeCode(nb, nl, code, zero, scale, scheme, levels);
          }
        }
        linalg::YieldOp::create(nb, nl, result);
      });
  // Blocks of k that targets may dequantize separately must start where
  // both a group and a byte start: the packed and group maps above are only
  // valid per block at those offsets.
  int64_t align = std::lcm<int64_t>(
      8, scheme.getGranularity() == Granularity::Group ? scheme.getGroupSize()
                                                       : 1);
  generic->setAttr("qopt.dequantize_weights", b.getI64IntegerAttr(align));
  return generic.getResult(0);
}

/// Body of an integer product with optional zero points: args are (x, w,
/// [zx], [zw], acc); yields acc + (x - zx) * (w - zw) in i32.
void yieldZeroPointMac(OpBuilder &b, Location l, ValueRange args,
                       bool xUnsigned, bool wUnsigned, bool hasZx,
                       bool hasZw) {
  unsigned i = 2;
  Value x = extendToI32(b, l, args[0], xUnsigned);
  Value w = extendToI32(b, l, args[1], wUnsigned);
  if (hasZx)
    x = arith::SubIOp::create(b, l, x, extendToI32(b, l, args[i++], xUnsigned));
  if (hasZw)
    w = arith::SubIOp::create(b, l, w, extendToI32(b, l, args[i++], wUnsigned));
  Value p = arith::MulIOp::create(b, l, x, w);
  linalg::YieldOp::create(b, l,
                          arith::AddIOp::create(b, l, args[i], p).getResult());
}

/// float(acc) * (input_scale * weight_scale) over `acc` with the scales
/// read through `scaleMaps`: the float rescale of integer products.
Value emitRescale(OpBuilder &b, Location loc, Value acc, Value inputScale,
                  Value weightScale, AffineMap inputScaleMap,
                  AffineMap weightScaleMap) {
  auto at = cast<RankedTensorType>(acc.getType());
  unsigned rank = at.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  Value out = emptyLike(b, loc, at.getShape(), b.getF32Type());
  return linalg::GenericOp::create(
             b, loc, TypeRange{out.getType()},
             ValueRange{acc, inputScale, weightScale}, ValueRange{out},
             {id, inputScaleMap, weightScaleMap, id}, parallel(rank),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value f =
                   arith::SIToFPOp::create(nb, l, nb.getF32Type(), args[0]);
               Value sc = arith::MulFOp::create(nb, l, args[1], args[2]);
               linalg::YieldOp::create(
                   nb, l, arith::MulFOp::create(nb, l, f, sc).getResult());
             })
      .getResult(0);
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

struct LowerObserve : OpConversionPattern<ObserveOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ObserveOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, adaptor.getInput());
    return success();
  }
};

struct LowerQuantize : OpConversionPattern<QuantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(QuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto resultType = op.getResult().getType();
    unsigned rank = resultType.getRank();
    auto axis = normalizedAxis(op.getAxis(), rank);
    Type code = resultType.getElementType();
    std::pair<int64_t, int64_t> range = codeRange(code, op.getIsUnsigned());
    int64_t qmin = range.first, qmax = range.second;
    SmallVector<Value> inputs = {adaptor.getInput(), adaptor.getScale()};
    SmallVector<AffineMap> maps = {
        AffineMap::getMultiDimIdentityMap(rank, ctx),
        paramMap(ctx, rank, op.getScale().getType(), axis)};
    if (Value z = adaptor.getZeroPoint()) {
      inputs.push_back(z);
      maps.push_back(
          paramMap(ctx, rank, cast<RankedTensorType>(z.getType()), axis));
    }
    maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
    bool isUnsigned = op.getIsUnsigned();
    Value init = emptyLike(rewriter, loc, resultType.getShape(), code);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps,
        parallel(rank), [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = args[0];
          if (!x.getType().isF32())
            x = arith::ExtFOp::create(b, l, b.getF32Type(), x);
          Value zeroF;
          if (inputs.size() == 3) {
            Value z = extendToI32(b, l, args[2], isUnsigned);
            zeroF = arith::SIToFPOp::create(b, l, b.getF32Type(), z);
          }
          linalg::YieldOp::create(b, l,
                                  quantizeScalar(b, l, x, args[1], zeroF, qmin,
                                                 qmax, code));
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

struct LowerDequantize : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto resultType = op.getResult().getType();
    unsigned rank = resultType.getRank();
    auto axis = normalizedAxis(op.getAxis(), rank);
    SmallVector<Value> inputs = {adaptor.getInput(), adaptor.getScale()};
    SmallVector<AffineMap> maps = {
        AffineMap::getMultiDimIdentityMap(rank, ctx),
        paramMap(ctx, rank, op.getScale().getType(), axis)};
    if (Value z = adaptor.getZeroPoint()) {
      inputs.push_back(z);
      maps.push_back(
          paramMap(ctx, rank, cast<RankedTensorType>(z.getType()), axis));
    }
    maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
    bool isUnsigned = op.getIsUnsigned();
    Value init = emptyLike(rewriter, loc, resultType.getShape(),
                           resultType.getElementType());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps,
        parallel(rank), [&](OpBuilder &b, Location l, ValueRange args) {
          Value q = extendToI32(b, l, args[0], isUnsigned);
          if (inputs.size() == 3)
            q = arith::SubIOp::create(b, l, q,
                                      extendToI32(b, l, args[2], isUnsigned));
          Value f = arith::SIToFPOp::create(b, l, b.getF32Type(), q);
          f = arith::MulFOp::create(b, l, f, args[1]);
          if (!resultType.getElementType().isF32())
            f = arith::TruncFOp::create(b, l, resultType.getElementType(), f);
          linalg::YieldOp::create(b, l, f);
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

/// A reduction over all dims but the last (per token) or over everything
/// (per tensor) of `combine(acc, x)`, starting from `init`.
Value emitReduce(OpBuilder &b, Location loc, Value x, bool perToken,
                 float initValue,
                 function_ref<Value(OpBuilder &, Location, Value, Value)>
                     combine) {
  MLIRContext *ctx = b.getContext();
  auto t = cast<RankedTensorType>(x.getType());
  unsigned rank = t.getRank();
  SmallVector<int64_t> outShape;
  SmallVector<AffineExpr> outExprs;
  SmallVector<IteratorType> iters;
  for (unsigned i = 0; i < rank; ++i) {
    bool keep = perToken && i + 1 < rank;
    iters.push_back(keep ? IteratorType::parallel : IteratorType::reduction);
    if (keep) {
      outShape.push_back(t.getDimSize(i));
      outExprs.push_back(getAffineDimExpr(i, ctx));
    }
  }
  Value init = emptyLike(b, loc, outShape, b.getF32Type());
  Value c = constF32(b, loc, initValue);
  init = linalg::FillOp::create(b, loc, ValueRange{c}, ValueRange{init})
             .getResult(0);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{x},
             ValueRange{init}, maps, iters,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(nb, nl,
                                       combine(nb, nl, args[1], args[0]));
             })
      .getResult(0);
}

struct LowerDynamicQuantize : OpConversionPattern<DynamicQuantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(DynamicQuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = adaptor.getInput();
    auto t = cast<RankedTensorType>(x.getType());
    unsigned rank = t.getRank();
    bool perToken = op.getGranularity() == Granularity::PerToken;
    Type i8 = rewriter.getI8Type();

    // Per-row (or whole-tensor) scale and zero point.
    Value scale, zero;
    if (perToken) {
      Value amax = emitReduce(
          rewriter, loc, x, true, 0.f,
          [](OpBuilder &b, Location l, Value acc, Value v) -> Value {
            return arith::MaximumFOp::create(b, l, acc,
                                             math::AbsFOp::create(b, l, v));
          });
      auto at = cast<RankedTensorType>(amax.getType());
      Value init = emptyLike(rewriter, loc, at.getShape(), rewriter.getF32Type());
      scale = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{init.getType()}, ValueRange{amax},
                  ValueRange{init},
                  SmallVector<AffineMap>(
                      2, AffineMap::getMultiDimIdentityMap(at.getRank(), ctx)),
                  parallel(at.getRank()),
                  [&](OpBuilder &b, Location l, ValueRange args) {
                    Value s = arith::DivFOp::create(b, l, args[0],
                                                    constF32(b, l, 127.f));
                    Value isZero = arith::CmpFOp::create(
                        b, l, arith::CmpFPredicate::OEQ, args[0],
                        constF32(b, l, 0.f));
                    linalg::YieldOp::create(
                        b, l,
                        arith::SelectOp::create(b, l, isZero,
                                                constF32(b, l, 1.f), s)
                            .getResult());
                  })
                  .getResult(0);
    } else {
      Value mn = emitReduce(rewriter, loc, x, false, 0.f,
                            [](OpBuilder &b, Location l, Value acc, Value v) {
                              return arith::MinimumFOp::create(b, l, acc, v)
                                  .getResult();
                            });
      Value mx = emitReduce(rewriter, loc, x, false, 0.f,
                            [](OpBuilder &b, Location l, Value acc, Value v) {
                              return arith::MaximumFOp::create(b, l, acc, v)
                                  .getResult();
                            });
      // Starting both reductions at 0 includes 0 in the range, as ONNX does.
      auto scalarMap = AffineMap::get(0, 0, {}, ctx);
      Value sInit = emptyLike(rewriter, loc, {}, rewriter.getF32Type());
      Value zInit = emptyLike(rewriter, loc, {}, i8);
      auto params = linalg::GenericOp::create(
          rewriter, loc, TypeRange{sInit.getType(), zInit.getType()},
          ValueRange{mn, mx}, ValueRange{sInit, zInit},
          SmallVector<AffineMap>(4, scalarMap), {},
          [&](OpBuilder &b, Location l, ValueRange args) {
            Value range = arith::SubFOp::create(b, l, args[1], args[0]);
            Value s = arith::DivFOp::create(b, l, range, constF32(b, l, 255.f));
            Value neg = arith::NegFOp::create(b, l, args[0]);
            Value z = quantizeScalar(b, l, neg, s, Value(), 0, 255, i8);
            Value isZero = arith::CmpFOp::create(
                b, l, arith::CmpFPredicate::OEQ, s, constF32(b, l, 0.f));
            Value zero8 = arith::ConstantIntOp::create(b, l, i8, 0);
            z = arith::SelectOp::create(b, l, isZero, zero8, z);
            linalg::YieldOp::create(b, l, ValueRange{s, z});
          });
      scale = params.getResult(0);
      zero = params.getResult(1);
    }

    SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx)};
    SmallVector<AffineExpr> paramExprs;
    if (perToken)
      for (unsigned i = 0; i + 1 < rank; ++i)
        paramExprs.push_back(getAffineDimExpr(i, ctx));
    maps.push_back(AffineMap::get(rank, 0, paramExprs, ctx));
    SmallVector<Value> inputs = {x, scale};
    if (zero) {
      inputs.push_back(zero);
      maps.push_back(maps.back());
    }
    maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
    Value init = emptyLike(rewriter, loc, t.getShape(), i8);
    int64_t qmin = perToken ? -127 : 0, qmax = perToken ? 127 : 255;
    Value q = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{init.getType()}, inputs,
                  ValueRange{init}, maps, parallel(rank),
                  [&](OpBuilder &b, Location l, ValueRange args) {
                    Value zeroF;
                    if (!perToken)
                      zeroF = arith::UIToFPOp::create(b, l, b.getF32Type(),
                                                      args[2]);
                    Value s = args[1];
                    if (!perToken) {
                      // An all-zero tensor has scale 0: quantize with 1.
                      Value isZero = arith::CmpFOp::create(
                          b, l, arith::CmpFPredicate::OEQ, s,
                          constF32(b, l, 0.f));
                      s = arith::SelectOp::create(b, l, isZero,
                                                  constF32(b, l, 1.f), s);
                    }
                    linalg::YieldOp::create(
                        b, l,
                        quantizeScalar(b, l, args[0], s, zeroF, qmin, qmax,
                                       b.getI8Type()));
                  })
                  .getResult(0);

    // Scale / zero point in the op's result shapes.
    auto scaleType = op.getScale().getType();
    if (perToken) {
      SmallVector<ReassociationIndices> re;
      for (int64_t i = 0; i + 1 < scaleType.getRank(); ++i)
        re.push_back({i});
      if (re.empty())
        re.push_back({});
      re.back().push_back(scaleType.getRank() - 1);
      if (scaleType.getRank() == 1) {
        scale = tensor::ExpandShapeOp::create(rewriter, loc, scaleType, scale,
                                              SmallVector<ReassociationIndices>{});
      } else {
        scale =
            tensor::ExpandShapeOp::create(rewriter, loc, scaleType, scale, re);
      }
      zero = arith::ConstantOp::create(
          rewriter, loc,
          DenseElementsAttr::get(op.getZeroPoint().getType(),
                                 rewriter.getI8IntegerAttr(0)));
    }
    rewriter.replaceOp(op, {q, scale, zero});
    return success();
  }
};

struct LowerMatMul : OpConversionPattern<MatMulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MatMulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    SchemeAttr scheme = op.getScheme();
    if (scheme.getKind() == QuantKind::FP8E4M3)
      return op.emitOpError("fp8_e4m3 weights have no lowering yet");
    auto resultType = op.getResult().getType();
    int64_t n = op.getN(), k = op.getK();
    Value a = collapseRows(rewriter, loc, adaptor.getInput());
    int64_t rows = cast<RankedTensorType>(a.getType()).getDimSize(0);

    if (!op.hasIntegerInput()) {
      Value w = emitWeightDequantization(rewriter, loc, op);
      Value acc = zeroFilled(rewriter, loc, {rows, n}, rewriter.getF32Type());
      Value r = linalg::MatmulOp::create(rewriter, loc, TypeRange{acc.getType()},
                                         ValueRange{a, w}, ValueRange{acc})
                    .getResult(0);
      rewriter.replaceOp(op, expandRows(rewriter, loc, r, resultType));
      return success();
    }

    // Integer input: acc = sum_k (a - za) * (w - zw) in i32.
    AffineExpr dm = getAffineDimExpr(0, ctx), dn = getAffineDimExpr(1, ctx),
               dk = getAffineDimExpr(2, ctx);
    bool aUnsigned = op.getInputUnsigned();
    bool wUnsigned = scheme.getIsUnsigned();
    Value za = adaptor.getInputZeroPoint();
    Value zw = adaptor.getWeightZeroPoints();
    SmallVector<Value> inputs = {a, adaptor.getWeight()};
    SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {dm, dk}, ctx),
                                   AffineMap::get(3, 0, {dn, dk}, ctx)};
    auto rowParamMap = [&](Value p) {
      auto pt = cast<RankedTensorType>(p.getType());
      SmallVector<AffineExpr> e(pt.getRank(), getAffineConstantExpr(0, ctx));
      if (pt.getNumElements() != 1)
        e = {dm};
      return AffineMap::get(3, 0, e, ctx);
    };
    if (za) {
      za = pt2(rewriter, loc, za, rows);
      inputs.push_back(za);
      maps.push_back(rowParamMap(za));
    }
    if (zw) {
      inputs.push_back(zw);
      maps.push_back(groupParamMap(ctx, 3, dn, dk, scheme,
                                   cast<RankedTensorType>(zw.getType()), k));
    }
    maps.push_back(AffineMap::get(3, 0, {dm, dn}, ctx));
    Value acc = zeroFilled(rewriter, loc, {rows, n}, rewriter.getI32Type());
    bool hasZa = bool(za), hasZw = bool(zw);
    Value sum =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{acc.getType()}, inputs, ValueRange{acc},
            maps,
            {IteratorType::parallel, IteratorType::parallel,
             IteratorType::reduction},
            [&](OpBuilder &b, Location l, ValueRange args) {
              yieldZeroPointMac(b, l, args, aUnsigned, wUnsigned, hasZa,
                                hasZw);
            })
            .getResult(0);
    if (resultType.getElementType().isInteger(32)) {
      rewriter.replaceOp(op, expandRows(rewriter, loc, sum, resultType));
      return success();
    }
    // result = float(acc) * (sa * sw).
    Value sa = pt2(rewriter, loc, adaptor.getInputScale(), rows);
    Value sw = adaptor.getWeightScales();
    AffineExpr r0 = getAffineDimExpr(0, ctx), c0 = getAffineDimExpr(1, ctx);
    auto saType = cast<RankedTensorType>(sa.getType());
    AffineMap saMap =
        saType.getNumElements() == 1
            ? AffineMap::get(2, 0,
                             SmallVector<AffineExpr>(
                                 saType.getRank(), getAffineConstantExpr(0, ctx)),
                             ctx)
            : AffineMap::get(2, 0, {r0}, ctx);
    auto swType = cast<RankedTensorType>(sw.getType());
    AffineMap swMap = AffineMap::get(
        2, 0,
        {swType.getDimSize(0) == 1 ? getAffineConstantExpr(0, ctx) : c0,
         getAffineConstantExpr(0, ctx)},
        ctx);
    Value r = emitRescale(rewriter, loc, sum, sa, sw, saMap, swMap);
    rewriter.replaceOp(op, expandRows(rewriter, loc, r, resultType));
    return success();
  }

  /// Per-row parameters [..., 1] collapse to [rows]; per-tensor ones stay.
  static Value pt2(OpBuilder &b, Location loc, Value p, int64_t rows) {
    auto t = cast<RankedTensorType>(p.getType());
    if (t.getNumElements() == 1 || t.getRank() == 1)
      return p;
    ReassociationIndices all;
    for (int64_t i = 0; i < t.getRank(); ++i)
      all.push_back(i);
    return tensor::CollapseShapeOp::create(
        b, loc, RankedTensorType::get({rows}, t.getElementType()), p,
        SmallVector<ReassociationIndices>{all});
  }
};

struct LowerConv2D : OpConversionPattern<Conv2DOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(Conv2DOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto inType = op.getInput().getType();
    auto wType = op.getWeight().getType();
    auto resultType = op.getResult().getType();
    bool xUnsigned = op.getInputUnsigned(), wUnsigned = op.getWeightUnsigned();
    int64_t g = op.getGroup();
    int64_t f = wType.getDimSize(0), fg = f / g, cg = wType.getDimSize(1);
    ArrayRef<int64_t> pads = op.getPads(), strides = op.getStrides(),
                      dil = op.getDilations();

    // Pad with the input zero point so padded taps contribute nothing.
    Value x = adaptor.getInput();
    Value za = adaptor.getInputZeroPoint();
    if (llvm::any_of(pads, [](int64_t p) { return p != 0; })) {
      Value padValue;
      if (za) {
        auto zt = cast<RankedTensorType>(za.getType());
        SmallVector<Value> idx(zt.getRank(),
                               arith::ConstantIndexOp::create(rewriter, loc, 0));
        padValue = tensor::ExtractOp::create(rewriter, loc, za, idx);
      } else {
        padValue = arith::ConstantOp::create(
            rewriter, loc, rewriter.getZeroAttr(inType.getElementType()));
      }
      SmallVector<int64_t> lo = {0, 0, pads[0], pads[1]};
      SmallVector<int64_t> hi = {0, 0, pads[2], pads[3]};
      SmallVector<int64_t> shape(inType.getShape());
      shape[2] += pads[0] + pads[2];
      shape[3] += pads[1] + pads[3];
      x = tensor::PadOp::create(
          rewriter, loc,
          RankedTensorType::get(shape, inType.getElementType()), x,
          getAsIndexOpFoldResult(ctx, lo), getAsIndexOpFoldResult(ctx, hi),
          padValue);
    }
    // dims: n, g, f, oh, ow, c, kh, kw
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    SmallVector<Value> inputs = {x, adaptor.getWeight()};
    SmallVector<AffineMap> maps = {
        AffineMap::get(8, 0,
                       {d(0), d(1) * cg + d(5), d(3) * strides[0] + d(6) * dil[0],
                        d(4) * strides[1] + d(7) * dil[1]},
                       ctx),
        AffineMap::get(8, 0, {d(1) * fg + d(2), d(5), d(6), d(7)}, ctx)};
    auto channelMap = [&](Value p) {
      auto pt = cast<RankedTensorType>(p.getType());
      AffineExpr e = pt.getNumElements() == 1 ? getAffineConstantExpr(0, ctx)
                                              : d(1) * fg + d(2);
      return AffineMap::get(8, 0, SmallVector<AffineExpr>(pt.getRank(), e), ctx);
    };
    if (za) {
      inputs.push_back(za);
      auto zt = cast<RankedTensorType>(za.getType());
      maps.push_back(AffineMap::get(
          8, 0,
          SmallVector<AffineExpr>(zt.getRank(), getAffineConstantExpr(0, ctx)),
          ctx));
    }
    Value zw = adaptor.getWeightZeroPoints();
    if (zw) {
      inputs.push_back(zw);
      maps.push_back(channelMap(zw));
    }
    int64_t oh = resultType.getDimSize(2), ow = resultType.getDimSize(3);
    int64_t nb = resultType.getDimSize(0);
    maps.push_back(AffineMap::get(8, 0, {d(0), d(1), d(2), d(3), d(4)}, ctx));
    Value acc =
        zeroFilled(rewriter, loc, {nb, g, fg, oh, ow}, rewriter.getI32Type());
    bool hasZa = bool(za), hasZw = bool(zw);
    SmallVector<IteratorType> iters = parallel(5);
    iters.append(3, IteratorType::reduction);
    Value sum =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{acc.getType()}, inputs, ValueRange{acc},
            maps, iters,
            [&](OpBuilder &b, Location l, ValueRange args) {
              yieldZeroPointMac(b, l, args, xUnsigned, wUnsigned, hasZa,
                                hasZw);
            })
            .getResult(0);
    SmallVector<ReassociationIndices> re = {{0}, {1, 2}, {3}, {4}};
    auto i32Type = RankedTensorType::get(resultType.getShape(),
                                         rewriter.getI32Type());
    sum = tensor::CollapseShapeOp::create(rewriter, loc, i32Type, sum, re);
    if (resultType.getElementType().isInteger(32)) {
      rewriter.replaceOp(op, sum);
      return success();
    }
    Value sx = adaptor.getInputScale(), sw = adaptor.getWeightScales();
    auto e = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    auto sxType = cast<RankedTensorType>(sx.getType());
    auto swType = cast<RankedTensorType>(sw.getType());
    AffineMap sxMap = AffineMap::get(
        4, 0,
        SmallVector<AffineExpr>(sxType.getRank(), getAffineConstantExpr(0, ctx)),
        ctx);
    AffineMap swMap = AffineMap::get(
        4, 0,
        {swType.getNumElements() == 1 ? getAffineConstantExpr(0, ctx) : e(1)},
        ctx);
    Value r = emitRescale(rewriter, loc, sum, sx, sw, sxMap, swMap);
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct LowerEmbedding : OpConversionPattern<EmbeddingOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(EmbeddingOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    SchemeAttr scheme = op.getScheme();
    auto resultType = op.getResult().getType();
    unsigned rank = resultType.getRank();
    int64_t vocab = op.getTable().getType().getDimSize(0);
    int64_t dim = op.getDim();
    bool straddles = 8 % scheme.getBits() != 0;
    Value table = adaptor.getTable(), scales = adaptor.getScales(),
          zeros = adaptor.getZeroPoints();
    Value levels = scheme.getKind() == QuantKind::NF4
                       ? nf4LevelsConstant(rewriter, loc)
                       : Value();
    SmallVector<AffineExpr> idExprs;
    for (unsigned i = 0; i + 1 < rank; ++i)
      idExprs.push_back(getAffineDimExpr(i, ctx));
    SmallVector<AffineMap> maps = {
        AffineMap::get(rank, 0, idExprs, ctx),
        AffineMap::getMultiDimIdentityMap(rank, ctx)};
    Value init = emptyLike(rewriter, loc, resultType.getShape(),
                           rewriter.getF32Type());
    bool idsUnsigned = false;
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{resultType}, ValueRange{adaptor.getIds()},
        ValueRange{init}, maps, parallel(rank),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value id = args[0];
          if (!id.getType().isInteger(64))
            id = idsUnsigned ? (Value)arith::ExtUIOp::create(b, l, b.getI64Type(), id)
                             : (Value)arith::ExtSIOp::create(b, l, b.getI64Type(), id);
          Value lo = arith::ConstantIntOp::create(b, l, b.getI64Type(), 0);
          Value hi = arith::ConstantIntOp::create(b, l, b.getI64Type(), vocab - 1);
          id = arith::MaxSIOp::create(b, l, id, lo);
          id = arith::MinSIOp::create(b, l, id, hi);
          Value row = arith::IndexCastOp::create(b, l, b.getIndexType(), id);
          Value dIdx = linalg::IndexOp::create(b, l, rank - 1);
          Value bitPos = arith::MulIOp::create(
              b, l, dIdx, arith::ConstantIndexOp::create(b, l, scheme.getBits()));
          Value byteIdx = arith::DivUIOp::create(
              b, l, bitPos, arith::ConstantIndexOp::create(b, l, 8));
          Value byte0 = tensor::ExtractOp::create(b, l, table,
                                                  ValueRange{row, byteIdx});
          Value byte1;
          if (straddles) {
            Value next = arith::AddIOp::create(
                b, l, byteIdx, arith::ConstantIndexOp::create(b, l, 1));
            byte1 = tensor::ExtractOp::create(b, l, table, ValueRange{row, next});
          }
          Value code = unpackCode(b, l, byte0, byte1, dIdx, scheme);
          auto st = cast<RankedTensorType>(scales.getType());
          Value zeroIdx = arith::ConstantIndexOp::create(b, l, 0);
          Value sRow = st.getDimSize(0) == 1 ? zeroIdx : row;
          Value sCol =
              st.getDimSize(1) == 1
                  ? zeroIdx
                  : (Value)arith::DivUIOp::create(
                        b, l, dIdx,
                        arith::ConstantIndexOp::create(
                            b, l, scheme.getGroupLength(dim)));
          Value scale =
              tensor::ExtractOp::create(b, l, scales, ValueRange{sRow, sCol});
          Value zero;
          if (zeros)
            zero = extendToI32(
                b, l,
                tensor::ExtractOp::create(b, l, zeros, ValueRange{sRow, sCol}),
                true);
          linalg::YieldOp::create(
              b, l, dequantizeCode(b, l, code, zero, scale, scheme, levels));
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

struct LowerToLinalgPass : impl::LowerToLinalgPassBase<LowerToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalDialect<QOptDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateQOptToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void populateQOptToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerObserve, LowerQuantize, LowerDequantize,
               LowerDynamicQuantize, LowerMatMul, LowerConv2D, LowerEmbedding>(
      patterns.getContext());
}

} // namespace qopt
