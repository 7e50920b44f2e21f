//===- ComputeToLinalg.cpp - Lowering of qopt compute ops ------------------===//
//
// qopt.matmul (weight-only: a weight-dequantization generic feeding
// linalg.matmul; integer: an i32 contraction and a float rescale),
// qopt.conv2d and qopt.embedding.
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

struct LowerMatMul : OpConversionPattern<MatMulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MatMulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    SchemeAttr scheme = op.getScheme();
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

    if (scheme.getGranularity() == Granularity::Group) {
      Value r = lowerGroupedProduct(rewriter, loc, op, adaptor, a);
      r = addOutlierProduct(rewriter, loc, op, adaptor, r);
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
    Value sum;
    if (!hasZa && !hasZw && !aUnsigned && !wUnsigned) {
      // Signed codes without zero points (qopt's own W8A8): the named
      // transposed-B matmul, whose operands linalg sign-extends, is what
      // targets recognize as a contraction and give their int8 kernels.
      sum = linalg::MatmulTransposeBOp::create(
                rewriter, loc, TypeRange{acc.getType()},
                ValueRange{a, adaptor.getWeight()}, ValueRange{acc})
                .getResult(0);
    } else if (hasZa && !hasZw && !wUnsigned) {
      sum = lowerInputZeroPointProduct(rewriter, loc, a, adaptor.getWeight(),
                                       za, aUnsigned, rows, n);
    } else {
      sum =
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
    }
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
    r = addOutlierProduct(rewriter, loc, op, adaptor, r);
    rewriter.replaceOp(op, expandRows(rewriter, loc, r, resultType));
    return success();
  }

  /// sum_k (a - za) * w for signed weights without zero points, as the
  /// named signed product of the codes plus a rank-1 correction:
  /// sum_k a' * w - za' * sum_k w, where unsigned codes are first shifted by
  /// -128 (a' = a xor 0x80 read as i8, za' = za - 128) so that the product
  /// takes the same signed int8 matmul as qopt's own W8A8. The i32 sums are
  /// exact, so the result equals the direct (a - za) * w accumulation.
  static Value lowerInputZeroPointProduct(OpBuilder &b, Location loc, Value a,
                                          Value w, Value za, bool aUnsigned,
                                          int64_t rows, int64_t n) {
    MLIRContext *ctx = b.getContext();
    Type i8 = b.getI8Type(), i32 = b.getI32Type();
    auto at = cast<RankedTensorType>(a.getType());
    AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
    if (aUnsigned) {
      Value flipped = emptyLike(b, loc, at.getShape(), i8);
      a = linalg::GenericOp::create(
              b, loc, TypeRange{flipped.getType()}, ValueRange{a},
              ValueRange{flipped}, {id2, id2}, parallel(2),
              [&](OpBuilder &nb, Location l, ValueRange args) {
                Value bit = arith::ConstantIntOp::create(nb, l, i8, -128);
                linalg::YieldOp::create(
                    nb, l,
                    arith::XOrIOp::create(nb, l, args[0], bit).getResult());
              })
              .getResult(0);
    }
    Value acc = zeroFilled(b, loc, {rows, n}, i32);
    Value product = linalg::MatmulTransposeBOp::create(
                        b, loc, TypeRange{acc.getType()}, ValueRange{a, w},
                        ValueRange{acc})
                        .getResult(0);
    // wsum[n] = sum_k w[n, k]
    AffineExpr d0 = getAffineDimExpr(0, ctx), d1 = getAffineDimExpr(1, ctx);
    Value wsum = zeroFilled(b, loc, {n}, i32);
    wsum = linalg::GenericOp::create(
               b, loc, TypeRange{wsum.getType()}, ValueRange{w},
               ValueRange{wsum},
               {id2, AffineMap::get(2, 0, {d0}, ctx)},
               {IteratorType::parallel, IteratorType::reduction},
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 Value x = arith::ExtSIOp::create(nb, l, i32, args[0]);
                 linalg::YieldOp::create(
                     nb, l, arith::AddIOp::create(nb, l, args[1], x).getResult());
               })
               .getResult(0);
    auto zt = cast<RankedTensorType>(za.getType());
    SmallVector<AffineExpr> ze(zt.getRank(), getAffineConstantExpr(0, ctx));
    if (zt.getNumElements() != 1)
      ze[0] = d0; // one per row: [rows, 1]
    Value out = emptyLike(b, loc, {rows, n}, i32);
    return linalg::GenericOp::create(
               b, loc, TypeRange{out.getType()},
               ValueRange{product, za, wsum}, ValueRange{out},
               {id2, AffineMap::get(2, 0, ze, ctx),
                AffineMap::get(2, 0, {d1}, ctx), id2},
               parallel(2),
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 Value z = extendToI32(nb, l, args[1], aUnsigned);
                 if (aUnsigned)
                   z = arith::SubIOp::create(nb, l, z,
                                             constI32(nb, l, 128));
                 Value corr = arith::MulIOp::create(nb, l, z, args[2]);
                 linalg::YieldOp::create(
                     nb, l,
                     arith::SubIOp::create(nb, l, args[0], corr).getResult());
               })
        .getResult(0);
  }

  /// `r` ([rows, n], the integer part) plus the float product over the
  /// outlier channels, accumulated into `r` with one fma per channel in
  /// ascending order (the op's documented order). Loops (m, j, n) with n
  /// innermost make it an fma chain, which targets step through channel by
  /// channel with vectors across n. The activation is read in place: the
  /// body extracts x[m, c_j] through a constant channel table, so no
  /// gathered copy of the outlier columns exists.
  static Value addOutlierProduct(ConversionPatternRewriter &rewriter,
                                 Location loc, MatMulOp op, OpAdaptor adaptor,
                                 Value r) {
    DenseI64ArrayAttr channels = op.getOutlierChannelsAttr();
    if (!channels)
      return r;
    MLIRContext *ctx = rewriter.getContext();
    int64_t k = op.getK(), count = channels.size();
    // One flat vector: single-index extracts are what the vectorizer reads
    // as scalar loads broadcast across n.
    Value x = adaptor.getOutlierInput();
    ReassociationIndices all;
    for (int64_t i = 0; i < cast<RankedTensorType>(x.getType()).getRank(); ++i)
      all.push_back(i);
    Value flat = tensor::CollapseShapeOp::create(
        rewriter, loc, x, SmallVector<ReassociationIndices>{all});
    auto tableType = RankedTensorType::get({count}, rewriter.getI64Type());
    Value table = arith::ConstantOp::create(
        rewriter, loc,
        DenseElementsAttr::get(tableType, channels.asArrayRef()));
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    return linalg::GenericOp::create(
               rewriter, loc, TypeRange{r.getType()},
               ValueRange{adaptor.getOutlierWeights()}, ValueRange{r},
               {AffineMap::get(3, 0, {d(1), d(2)}, ctx),
                AffineMap::get(3, 0, {d(0), d(2)}, ctx)},
               {IteratorType::parallel, IteratorType::reduction,
                IteratorType::parallel},
               [&](OpBuilder &b, Location l, ValueRange args) {
                 Value row = linalg::IndexOp::create(b, l, 0);
                 Value j = linalg::IndexOp::create(b, l, 1);
                 Value c = arith::IndexCastOp::create(
                     b, l, b.getIndexType(),
                     tensor::ExtractOp::create(b, l, table, ValueRange{j}));
                 Value pos = arith::AddIOp::create(
                     b, l,
                     arith::MulIOp::create(
                         b, l, row, arith::ConstantIndexOp::create(b, l, k)),
                     c);
                 Value xv =
                     tensor::ExtractOp::create(b, l, flat, ValueRange{pos});
                 linalg::YieldOp::create(
                     b, l,
                     math::FmaOp::create(b, l, xv, args[0], args[1])
                         .getResult());
               })
        .getResult(0);
  }

  /// Integer input with group-wise weights (W4A8), `a` the [rows, k] codes:
  /// exact i32 partial sums per group, then, per output, one fma per group
  /// in ascending group order and a final multiply by the input scale (the
  /// op's documented order). The fma chain has no vector reduction kind, so
  /// targets keep its order (qopt-tile-and-vectorize steps through it).
  static Value lowerGroupedProduct(ConversionPatternRewriter &rewriter,
                                   Location loc, MatMulOp op, OpAdaptor adaptor,
                                   Value a) {
    MLIRContext *ctx = rewriter.getContext();
    SchemeAttr scheme = op.getScheme();
    int64_t n = op.getN(), k = op.getK();
    int64_t group = scheme.getGroupSize();
    int64_t padded = scheme.getPaddedLength(k), groups = padded / group;
    int64_t rows = cast<RankedTensorType>(a.getType()).getDimSize(0);
    Type i8 = rewriter.getI8Type(), i32 = rewriter.getI32Type();
    // Zero activations fill the last group's padding, so padded weights
    // add nothing, whatever their codes.
    if (padded != k) {
      Value zero =
          arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(i8));
      a = tensor::PadOp::create(
          rewriter, loc, RankedTensorType::get({rows, padded}, i8), a,
          getAsIndexOpFoldResult(ctx, {0, 0}),
          getAsIndexOpFoldResult(ctx, {0, padded - k}), zero);
    }
    // Group-major activations [groups, rows, group]: with the group leading
    // in every operand the product is a batch of plain transposed-B
    // matmuls (one small copy of the activations).
    Value a3 = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({rows, groups, group}, i8), a,
        SmallVector<ReassociationIndices>{{0}, {1, 2}});
    Value byGroup = emptyLike(rewriter, loc, {groups, rows, group}, i8);
    byGroup = linalg::TransposeOp::create(rewriter, loc, a3, byGroup,
                                          ArrayRef<int64_t>{1, 0, 2})
                  .getResult()[0];
    Value w3 = emitWeightUnpacking(rewriter, loc, op);

    // P[g, m, n] = sum_j a[g, m, j] * w[g, n, j]: a named contraction, which
    // the tiler blocks like a matmul (with the unpacking fused in) and the
    // vectorizer turns into mixed i8 x i8 -> i32 vector.contracts. Its
    // operands sign-extend: unpacked codes hold their exact values (shifted
    // by unpackedCodeOffset, which the zero-point term below undoes).
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    AffineExpr dg = d(0), dm = d(1), dn = d(2), dj = d(3);
    Value sums = zeroFilled(rewriter, loc, {groups, rows, n}, i32);
    sums = linalg::ContractOp::create(
               rewriter, loc, TypeRange{sums.getType()},
               ValueRange{byGroup, w3}, ValueRange{sums},
               rewriter.getAffineMapArrayAttr(
                   {AffineMap::get(4, 0, {dg, dm, dj}, ctx),
                    AffineMap::get(4, 0, {dg, dn, dj}, ctx),
                    AffineMap::get(4, 0, {dg, dm, dn}, ctx)}))
               .getResult(0);

    // Zero points: sum_j a * (w - zw) = P - zw * sum_j a, exactly in i32,
    // with the per-group activation sums computed once.
    Value zw = adaptor.getWeightZeroPoints();
    Value groupSums;
    if (zw) {
      groupSums = zeroFilled(rewriter, loc, {rows, groups}, i32);
      groupSums =
          linalg::GenericOp::create(
              rewriter, loc, TypeRange{groupSums.getType()}, ValueRange{a3},
              ValueRange{groupSums},
              {AffineMap::get(3, 0, {d(0), d(1), d(2)}, ctx),
               AffineMap::get(3, 0, {d(0), d(1)}, ctx)},
              {IteratorType::parallel, IteratorType::parallel,
               IteratorType::reduction},
              [&](OpBuilder &b, Location l, ValueRange args) {
                Value x = extendToI32(b, l, args[0], false);
                linalg::YieldOp::create(
                    b, l, arith::AddIOp::create(b, l, args[1], x).getResult());
              })
              .getResult(0);
    }

    // acc[m, n] = fma(sw[n, g], float(P'[g, m, n]), acc[m, n]), g ascending.
    // Loops (m, g, n): n innermost reads P and acc contiguously.
    SmallVector<Value> inputs = {sums, adaptor.getWeightScales()};
    SmallVector<AffineMap> maps = {
        AffineMap::get(3, 0, {d(1), d(0), d(2)}, ctx),
        AffineMap::get(3, 0, {d(2), d(1)}, ctx)};
    if (zw) {
      inputs.append({zw, groupSums});
      maps.push_back(AffineMap::get(3, 0, {d(2), d(1)}, ctx));
      maps.push_back(AffineMap::get(3, 0, {d(0), d(1)}, ctx));
    }
    maps.push_back(AffineMap::get(3, 0, {d(0), d(2)}, ctx));
    int64_t offset = unpackedCodeOffset(scheme);
    assert((!offset || zw) && "shifted codes are unsigned, hence asymmetric");
    Value acc = zeroFilled(rewriter, loc, {rows, n}, rewriter.getF32Type());
    acc = linalg::GenericOp::create(
              rewriter, loc, TypeRange{acc.getType()}, inputs, ValueRange{acc},
              maps,
              {IteratorType::parallel, IteratorType::reduction,
               IteratorType::parallel},
              [&](OpBuilder &b, Location l, ValueRange args) {
                Value p = args[0];
                if (zw) {
                  // Zero points are unsigned codes, as in dequantization,
                  // shifted like the unpacked codes.
                  Value z = extendToI32(b, l, args[2], true);
                  if (offset)
                    z = arith::SubIOp::create(b, l, z, constI32(b, l, offset));
                  p = arith::SubIOp::create(
                      b, l, p, arith::MulIOp::create(b, l, z, args[3]));
                }
                Value f = arith::SIToFPOp::create(b, l, b.getF32Type(), p);
                linalg::YieldOp::create(
                    b, l,
                    math::FmaOp::create(b, l, args[1], f, args.back())
                        .getResult());
              })
              .getResult(0);

    // result = input_scale * acc.
    Value sa = pt2(rewriter, loc, adaptor.getInputScale(), rows);
    auto saType = cast<RankedTensorType>(sa.getType());
    AffineMap saMap = saType.getNumElements() == 1
                          ? AffineMap::get(2, 0,
                                           SmallVector<AffineExpr>(
                                               saType.getRank(),
                                               getAffineConstantExpr(0, ctx)),
                                           ctx)
                          : AffineMap::get(2, 0, {d(0)}, ctx);
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
    Value out = emptyLike(rewriter, loc, {rows, n}, rewriter.getF32Type());
    return linalg::GenericOp::create(
               rewriter, loc, TypeRange{out.getType()}, ValueRange{sa, acc},
               ValueRange{out}, {saMap, id, id}, parallel(2),
               [&](OpBuilder &b, Location l, ValueRange args) {
                 linalg::YieldOp::create(
                     b, l,
                     arith::MulFOp::create(b, l, args[0], args[1]).getResult());
               })
        .getResult(0);
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

} // namespace

void populateComputeLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerMatMul, LowerConv2D, LowerEmbedding>(patterns.getContext());
}

} // namespace qopt::lowering
