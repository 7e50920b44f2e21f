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

} // namespace

void populateComputeLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerMatMul, LowerConv2D, LowerEmbedding>(patterns.getContext());
}

} // namespace qopt::lowering
