//===- QuantizeToLinalg.cpp - Lowering of (de)quantization ops ------------===//
//
// qopt.observe, qopt.quantize, qopt.dequantize and qopt.dynamic_quantize as
// elementwise and reduction linalg.generic ops.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"

#include "qopt/Quant/Quant.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AffineExpr.h"

#include <numeric>

using namespace mlir;

namespace qopt::lowering {
namespace {

using utils::IteratorType;

struct LowerObserve : OpConversionPattern<ObserveOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ObserveOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, adaptor.getInput());
    return success();
  }
};

/// Operands and indexing maps of an elementwise (de)quantization generic:
/// the data, its scale and optional zero point (one value, or one per index
/// of `axis`), and the identity map of the result.
void axisParamOperands(MLIRContext *ctx, unsigned rank, Value data,
                       Value scale, Value zero, std::optional<unsigned> axis,
                       SmallVector<Value> &inputs,
                       SmallVector<AffineMap> &maps) {
  inputs = {data, scale};
  maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
          paramMap(ctx, rank, cast<RankedTensorType>(scale.getType()), axis)};
  if (zero) {
    inputs.push_back(zero);
    maps.push_back(
        paramMap(ctx, rank, cast<RankedTensorType>(zero.getType()), axis));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
}

/// An i8 tensor over the last dim of `type` holding 1 at the excluded
/// channels: read through a last-dim map, it lets the quantization generics
/// skip those channels in place, without a masked copy of the data.
Value excludedChannelMask(OpBuilder &b, Location loc, RankedTensorType type,
                          ArrayRef<int64_t> excluded) {
  int64_t channels = type.getShape().back();
  std::vector<int8_t> mask(channels, 0);
  for (int64_t c : excluded)
    mask[c] = 1;
  auto maskType = RankedTensorType::get({channels}, b.getI8Type());
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(maskType, ArrayRef<int8_t>(mask)));
}

/// `x`, or 0 where `excluded` (an i8 mask value) is set.
Value zeroIfExcluded(OpBuilder &b, Location loc, Value x, Value excluded) {
  Value isExcluded = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ne, excluded,
      arith::ConstantIntOp::create(b, loc, b.getI8Type(), 0));
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(x.getType()));
  return arith::SelectOp::create(b, loc, isExcluded, zero, x);
}

/// The map of the last dim of a rank-`rank` loop nest (channel masks).
AffineMap lastDimMap(MLIRContext *ctx, unsigned rank) {
  return AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx));
}

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
    SmallVector<Value> inputs;
    SmallVector<AffineMap> maps;
    axisParamOperands(ctx, rank, adaptor.getInput(), adaptor.getScale(),
                      adaptor.getZeroPoint(), axis, inputs, maps);
    bool hasZero = bool(adaptor.getZeroPoint());
    DenseI64ArrayAttr excluded = op.getExcludeChannelsAttr();
    if (excluded) {
      inputs.push_back(excludedChannelMask(
          rewriter, loc, op.getInput().getType(), excluded.asArrayRef()));
      maps.insert(maps.end() - 1, lastDimMap(ctx, rank));
    }
    bool isUnsigned = op.getIsUnsigned();
    Value init = emptyLike(rewriter, loc, resultType.getShape(), code);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps,
        parallel(rank), [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = args[0];
          if (!x.getType().isF32())
            x = arith::ExtFOp::create(b, l, b.getF32Type(), x);
          // Excluded channels quantize 0: they get the zero point.
          if (excluded)
            x = zeroIfExcluded(b, l, x, args[inputs.size() - 1]);
          Value zeroF;
          if (hasZero) {
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
    SmallVector<Value> inputs;
    SmallVector<AffineMap> maps;
    axisParamOperands(ctx, rank, adaptor.getInput(), adaptor.getScale(),
                      adaptor.getZeroPoint(), axis, inputs, maps);
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
/// (per tensor) of `combine(acc, x)`, starting from `init`; with a channel
/// `mask` (excludedChannelMask), excluded channels are read as 0.
Value emitReduce(
    OpBuilder &b, Location loc, Value x, bool perToken, float initValue,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine,
    Value mask = {}) {
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
  SmallVector<Value> inputs = {x};
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx)};
  if (mask) {
    inputs.push_back(mask);
    maps.push_back(lastDimMap(ctx, rank));
  }
  maps.push_back(AffineMap::get(rank, 0, outExprs, ctx));
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
             iters,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value v = args[0];
               if (mask)
                 v = zeroIfExcluded(nb, nl, v, args[1]);
               linalg::YieldOp::create(nb, nl, combine(nb, nl, args.back(), v));
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
    // Excluded channels (per token only) are read as 0 by both generics.
    Value mask;
    if (DenseI64ArrayAttr excluded = op.getExcludeChannelsAttr())
      mask = excludedChannelMask(rewriter, loc, t, excluded.asArrayRef());

    // Per-row (or whole-tensor) scale and zero point.
    Value scale, zero;
    if (perToken) {
      Value amax = emitReduce(
          rewriter, loc, x, true, 0.f,
          [](OpBuilder &b, Location l, Value acc, Value v) -> Value {
            return arith::MaximumFOp::create(b, l, acc,
                                             math::AbsFOp::create(b, l, v));
          },
          mask);
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
      // Row extrema first, then the extremum of the rows: the row
      // reductions vectorize like per-token ones, and min/max do not depend
      // on the order they combine values in.
      auto range = [&](auto combine) {
        Value v = x;
        if (rank > 1)
          v = emitReduce(rewriter, loc, v, true, 0.f, combine);
        return emitReduce(rewriter, loc, v, false, 0.f, combine);
      };
      Value mn = range([](OpBuilder &b, Location l, Value acc, Value v) {
        return arith::MinimumFOp::create(b, l, acc, v).getResult();
      });
      Value mx = range([](OpBuilder &b, Location l, Value acc, Value v) {
        return arith::MaximumFOp::create(b, l, acc, v).getResult();
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
    if (mask) {
      inputs.push_back(mask);
      maps.push_back(lastDimMap(ctx, rank));
    }
    maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
    Value init = emptyLike(rewriter, loc, t.getShape(), i8);
    int64_t qmin = perToken ? -127 : 0, qmax = perToken ? 127 : 255;
    Value q = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{init.getType()}, inputs,
                  ValueRange{init}, maps, parallel(rank),
                  [&](OpBuilder &b, Location l, ValueRange args) {
                    Value v = args[0];
                    if (mask)
                      v = zeroIfExcluded(b, l, v, args[inputs.size() - 1]);
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
                        quantizeScalar(b, l, v, s, zeroF, qmin, qmax,
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

} // namespace

void populateQuantizeLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerObserve, LowerQuantize, LowerDequantize,
               LowerDynamicQuantize>(patterns.getContext());
}

} // namespace qopt::lowering
