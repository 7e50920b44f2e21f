//===- DecomposeConvolutions.cpp - CPU lowerings of linalg convolutions ---===//
//
// The qopt-decompose-convolutions pass: the importer keeps ONNX
// convolutions as named linalg convolutions over a padded input, and the
// x86 pipeline picks a form per convolution here. Group-1 convolutions
// become im2col matrix products (the vectorized matmul path), small
// depthwise ones an elementwise sum of shifted windows, and the rest one
// grouped generic whose output pixels are the innermost loops.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace qopt {
#define GEN_PASS_DEF_DECOMPOSECONVOLUTIONSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

/// Depthwise kernels with more taps than this read too many slices for the
/// tap-sum form; they take the grouped generic.
constexpr int64_t kMaxDepthwiseTaps = 49;

int64_t product(ArrayRef<int64_t> v) {
  int64_t p = 1;
  for (int64_t x : v)
    p *= x;
  return p;
}

SmallVector<int64_t> shapeOf(Value v) {
  return SmallVector<int64_t>(cast<RankedTensorType>(v.getType()).getShape());
}

Value reshape(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getShape() == shape)
    return v;
  ImplicitLocOpBuilder ib(loc, b);
  return tosa::ReshapeOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), v,
      tosa::getTosaConstShape(ib, shape));
}

/// An elementwise generic over `shape` whose inputs are read through
/// `maps`, with `body` computing the result from the input scalars.
Value elementwise(OpBuilder &b, Location loc, ValueRange inputs,
                  ArrayRef<AffineMap> maps, ArrayRef<int64_t> shape, Type elem,
                  function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  SmallVector<AffineMap> all(maps);
  all.push_back(b.getMultiDimIdentityMap(shape.size()));
  Value init = tensor::EmptyOp::create(b, loc, shape, elem);
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, all,
             SmallVector<utils::IteratorType>(shape.size(),
                                              utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location l, ValueRange a) {
               linalg::YieldOp::create(nb, l, body(nb, l, a.drop_back()));
             })
      .getResult(0);
}

Value castElements(OpBuilder &b, Location loc, Value v, Type to) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getElementType() == to)
    return v;
  bool widen = to.getIntOrFloatBitWidth() >
               type.getElementType().getIntOrFloatBitWidth();
  return elementwise(b, loc, v, {b.getMultiDimIdentityMap(type.getRank())},
                     type.getShape(), to,
                     [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                       if (widen)
                         return arith::ExtFOp::create(nb, l, to, a[0]);
                       return arith::TruncFOp::create(nb, l, to, a[0]);
                     });
}

/// Whether `init` is a linalg.fill of floating-point zero: the only
/// accumulator the decompositions below reproduce.
bool isZeroFill(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  return fill && matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
}

/// The strides and dilations of a named convolution.
template <typename ConvOp>
std::pair<SmallVector<int64_t>, SmallVector<int64_t>> windowOf(ConvOp op) {
  return {
      SmallVector<int64_t>(op.getStrides().template getValues<int64_t>()),
      SmallVector<int64_t>(op.getDilations().template getValues<int64_t>())};
}

/// A grouped convolution over x [N, G, C/G, S...] and w [G, M/G, C/G, K...]
/// as one generic over [N, G, M/G, C/G, K..., O...]: the output's spatial
/// dims are the innermost loops so depthwise convolutions vectorize along
/// the width. Returns [N, G, M/G, O...].
Value emitGroupedConv(OpBuilder &b, Location loc, Value x, Value w,
                      ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                      ArrayRef<int64_t> outSpatial, Type elem) {
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> xs = shapeOf(x), ws = shapeOf(w);
  int64_t d = outSpatial.size();
  int64_t nLoops = 4 + 2 * d, kBase = 4, oBase = 4 + d;
  auto dim = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  SmallVector<AffineExpr> xe = {dim(0), dim(1), dim(3)};
  for (int64_t i = 0; i < d; ++i)
    xe.push_back(dim(oBase + i) * strides[i] + dim(kBase + i) * dilations[i]);
  SmallVector<AffineExpr> we = {dim(1), dim(2), dim(3)};
  SmallVector<AffineExpr> oe = {dim(0), dim(1), dim(2)};
  for (int64_t i = 0; i < d; ++i) {
    we.push_back(dim(kBase + i));
    oe.push_back(dim(oBase + i));
  }
  SmallVector<AffineMap> maps = {AffineMap::get(nLoops, 0, xe, ctx),
                                 AffineMap::get(nLoops, 0, we, ctx),
                                 AffineMap::get(nLoops, 0, oe, ctx)};
  SmallVector<utils::IteratorType> iters(3, utils::IteratorType::parallel);
  iters.append(1 + d, utils::IteratorType::reduction);
  iters.append(d, utils::IteratorType::parallel);
  SmallVector<int64_t> outShape = {xs[0], xs[1], ws[1]};
  outShape.append(outSpatial.begin(), outSpatial.end());
  Value init = tensor::EmptyOp::create(b, loc, outShape, elem);
  Value zero = arith::ConstantOp::create(b, loc, elem, b.getFloatAttr(elem, 0));
  Value filled =
      linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{init})
          .getResult(0);
  return linalg::GenericOp::create(
             b, loc, TypeRange{filled.getType()}, ValueRange{x, w},
             ValueRange{filled}, maps, iters,
             [&](OpBuilder &nb, Location l, ValueRange a) {
               Value p = arith::MulFOp::create(nb, l, a[0], a[1]);
               linalg::YieldOp::create(
                   nb, l, Value(arith::AddFOp::create(nb, l, a[2], p)));
             })
      .getResult(0);
}

/// A float 2-D group-1 convolution as a loop over the N*OH output rows:
/// each iteration gathers its row's im2col panel [C*KH*KW, OW] from the
/// KH input rows it reads and multiplies the weights [M, C*KH*KW] by it,
/// so the panel is consumed from the cache right after it is written and
/// no whole-image im2col buffer exists. The loop is marked for
/// qopt-tile-strategy, which tiles the ops inside it.
Value emitConvRowLoop(OpBuilder &b, Location loc, Value x, Value w,
                      ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                      ArrayRef<int64_t> outSpatial,
                      ArrayRef<NamedAttribute> carried) {
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> xs = shapeOf(x), ws = shapeOf(w);
  int64_t n = xs[0], c = xs[1], m = ws[0], kh = ws[2], kw = ws[3];
  int64_t oh = outSpatial[0], ow = outSpatial[1];
  int64_t span = (kh - 1) * dilations[0] + 1, ck = c * kh * kw;
  Type f32 = b.getF32Type();
  auto dim = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  auto idx = [&](OpBuilder &ob, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(ob, loc, v);
  };
  Value w2 = reshape(b, loc, w, {m, ck});
  Value out = tensor::EmptyOp::create(b, loc, {n, m, oh, ow}, f32);
  auto loop = scf::ForOp::create(
      b, loc, idx(b, 0), idx(b, n * oh), idx(b, 1), ValueRange{out},
      [&](OpBuilder &lb, Location l, Value r, ValueRange iter) {
        Value image = arith::DivUIOp::create(lb, l, r, idx(lb, oh));
        Value row = arith::RemUIOp::create(lb, l, r, idx(lb, oh));
        Value top = arith::MulIOp::create(lb, l, row, idx(lb, strides[0]));
        SmallVector<OpFoldResult> off = {image, lb.getIndexAttr(0), top,
                                         lb.getIndexAttr(0)};
        auto rowsType = RankedTensorType::get({c, span, xs[3]}, f32);
        Value rows = tensor::ExtractSliceOp::create(
            lb, l, rowsType, x, off,
            getAsIndexOpFoldResult(ctx, {1, c, span, xs[3]}),
            getAsIndexOpFoldResult(ctx, {1, 1, 1, 1}));
        // panel[c, kh, kw, ow] = rows[c, kh*d0, ow*s1 + kw*d1]
        SmallVector<AffineExpr> re = {dim(0), dim(1) * dilations[0],
                                      dim(3) * strides[1] +
                                          dim(2) * dilations[1]};
        Value panel = elementwise(
            lb, l, rows, {AffineMap::get(4, 0, re, ctx)}, {c, kh, kw, ow}, f32,
            [](OpBuilder &, Location, ValueRange a) { return a[0]; });
        Value panel2 = tensor::CollapseShapeOp::create(
            lb, l, RankedTensorType::get({ck, ow}, f32), panel,
            SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
        Value init = tensor::EmptyOp::create(lb, l, {m, ow}, f32);
        Value zero =
            arith::ConstantOp::create(lb, l, f32, lb.getFloatAttr(f32, 0));
        Value filled =
            linalg::FillOp::create(lb, l, ValueRange{zero}, ValueRange{init})
                .getResult(0);
        auto mm = linalg::MatmulOp::create(lb, l, TypeRange{init.getType()},
                                           ValueRange{w2, panel2},
                                           ValueRange{filled});
        for (const NamedAttribute &a : carried)
          mm->setAttr(a.getName(), a.getValue());
        SmallVector<OpFoldResult> outOff = {image, lb.getIndexAttr(0), row,
                                            lb.getIndexAttr(0)};
        Value expanded = tensor::ExpandShapeOp::create(
            lb, l, RankedTensorType::get({1, m, 1, ow}, f32), mm.getResult(0),
            SmallVector<ReassociationIndices>{{0, 1}, {2, 3}});
        Value next = tensor::InsertSliceOp::create(
            lb, l, expanded, iter[0], outOff,
            getAsIndexOpFoldResult(ctx, {1, m, 1, ow}),
            getAsIndexOpFoldResult(ctx, {1, 1, 1, 1}));
        scf::YieldOp::create(lb, l, next);
      });
  loop->setAttr(QOptDialect::kTileInLoopAttrName, b.getUnitAttr());
  return loop.getResult(0);
}

/// A group-1 convolution of x [N, C, S...] by w [M, C, K...] as a matrix
/// product: the input windows are gathered into [N, C*K, pixels] columns
/// (skipped for 1x1 stride-1 kernels) and multiplied by W viewed as
/// [M, C*K]. Half-precision operands are multiplied in f32 and rounded once,
/// like ONNX Runtime's CPU kernels. With `rowLoop`, a float 2-D one whose
/// output rows are whole vectors (OW a multiple of 8) is emitConvRowLoop's
/// loop instead.
Value emitConvAsMatMul(OpBuilder &b, Location loc, Value x, Value w,
                       ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                       ArrayRef<int64_t> outSpatial, Type elem,
                       ArrayRef<NamedAttribute> carried = {},
                       bool rowLoop = false) {
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> xs = shapeOf(x), ws = shapeOf(w);
  int64_t n = xs[0], c = xs[1], m = ws[0];
  int64_t d = outSpatial.size();
  int64_t kprod = product(ArrayRef<int64_t>(ws).drop_front(2));
  int64_t pixels = product(outSpatial);
  bool pointwise = kprod == 1 &&
                   llvm::all_of(strides, [](int64_t s) { return s == 1; }) &&
                   ArrayRef<int64_t>(xs).drop_front(2) == outSpatial;
  Type f32 = b.getF32Type();
  auto elemOf = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getElementType();
  };
  if (rowLoop && d == 2 && !pointwise && elem == f32 && elemOf(x) == f32 &&
      elemOf(w) == f32 && outSpatial[1] % 8 == 0)
    return emitConvRowLoop(b, loc, x, w, strides, dilations, outSpatial,
                           carried);
  Value cols;
  if (pointwise) {
    cols = reshape(b, loc, x, {n, c, pixels});
  } else {
    // cols[n, c, k..., o...] = x[n, c, o*s + k*dil]
    SmallVector<int64_t> colShape = {n, c};
    colShape.append(ws.begin() + 2, ws.end());
    colShape.append(outSpatial.begin(), outSpatial.end());
    int64_t nLoops = 2 + 2 * d;
    SmallVector<AffineExpr> xe = {getAffineDimExpr(0, ctx),
                                  getAffineDimExpr(1, ctx)};
    for (int64_t i = 0; i < d; ++i)
      xe.push_back(getAffineDimExpr(2 + d + i, ctx) * strides[i] +
                   getAffineDimExpr(2 + i, ctx) * dilations[i]);
    Value gathered =
        elementwise(b, loc, x, {AffineMap::get(nLoops, 0, xe, ctx)}, colShape,
                    cast<RankedTensorType>(x.getType()).getElementType(),
                    [](OpBuilder &, Location, ValueRange a) { return a[0]; });
    cols = reshape(b, loc, gathered, {n, c * kprod, pixels});
  }
  Value w2 = reshape(b, loc, w, {1, m, c * kprod});
  if (n > 1) {
    // One copy of the weights per image of the batch.
    AffineMap bcast =
        AffineMap::get(3, 0,
                       {getAffineConstantExpr(0, ctx), getAffineDimExpr(1, ctx),
                        getAffineDimExpr(2, ctx)},
                       ctx);
    w2 = elementwise(b, loc, w2, {bcast}, {n, m, c * kprod},
                     cast<RankedTensorType>(w2.getType()).getElementType(),
                     [](OpBuilder &, Location, ValueRange a) { return a[0]; });
  }
  auto mm = tosa::MatMulOp::create(
      b, loc, RankedTensorType::get({n, m, pixels}, f32),
      castElements(b, loc, w2, f32), castElements(b, loc, cols, f32));
  for (const NamedAttribute &a : carried)
    mm->setAttr(a.getName(), a.getValue());
  Value y = castElements(b, loc, mm.getResult(), elem);
  SmallVector<int64_t> finalShape = {n, m};
  finalShape.append(outSpatial.begin(), outSpatial.end());
  return reshape(b, loc, y, finalShape);
}

/// A depthwise 2-D convolution of x [N, C, H, W] by w [C, KH, KW] as one
/// elementwise generic over [N, C, OH, OW] that sums the KH*KW shifted
/// (strided) windows of x times the channel's tap weight. Every operand is
/// read through a projected permutation, so the op fuses and vectorizes
/// along the width like any elementwise op.
Value emitDepthwiseAsTaps(OpBuilder &b, Location loc, Value x, Value w,
                          ArrayRef<int64_t> strides,
                          ArrayRef<int64_t> dilations,
                          ArrayRef<int64_t> outSpatial, Type elem,
                       ArrayRef<NamedAttribute> carried = {}) {
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> xs = shapeOf(x), ws = shapeOf(w);
  int64_t n = xs[0], c = xs[1], kh = ws[1], kw = ws[2];
  SmallVector<int64_t> outShape = {n, c, outSpatial[0], outSpatial[1]};
  Value taps = reshape(b, loc, w, {c, kh * kw});
  SmallVector<Value> ins;
  SmallVector<AffineMap> maps;
  AffineMap window = b.getMultiDimIdentityMap(4);
  AffineExpr zero = getAffineConstantExpr(0, ctx);
  AffineMap channel =
      AffineMap::get(4, 0, {getAffineDimExpr(1, ctx), zero, zero}, ctx);
  auto sliceType = RankedTensorType::get(outShape, elem);
  auto tapType = RankedTensorType::get({c, 1}, elem);
  for (int64_t i = 0; i < kh; ++i)
    for (int64_t j = 0; j < kw; ++j) {
      SmallVector<int64_t> off = {0, 0, i * dilations[0], j * dilations[1]};
      SmallVector<int64_t> st = {1, 1, strides[0], strides[1]};
      ins.push_back(tensor::ExtractSliceOp::create(
          b, loc, sliceType, x, ValueRange{}, ValueRange{}, ValueRange{},
          b.getDenseI64ArrayAttr(off), b.getDenseI64ArrayAttr(outShape),
          b.getDenseI64ArrayAttr(st)));
      maps.push_back(window);
      // Tap (i, j) of every channel as a [C, 1, 1] column.
      Value tap = tensor::ExtractSliceOp::create(
          b, loc, tapType, taps, ValueRange{}, ValueRange{}, ValueRange{},
          b.getDenseI64ArrayAttr({0, i * kw + j}),
          b.getDenseI64ArrayAttr({c, 1}), b.getDenseI64ArrayAttr({1, 1}));
      ins.push_back(reshape(b, loc, tap, {c, 1, 1}));
      maps.push_back(channel);
    }
  return elementwise(b, loc, ins, maps, outShape, elem,
                     [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                       Value acc;
                       for (size_t t = 0; t + 1 < a.size(); t += 2) {
                         Value p = arith::MulFOp::create(nb, l, a[t], a[t + 1]);
                         acc = acc ? (Value)arith::AddFOp::create(nb, l, acc, p)
                                   : p;
                       }
                       return acc;
                     });
}

/// Common checks: float elements and a zero-filled accumulator.
LogicalResult checkDecomposable(PatternRewriter &rewriter,
                                linalg::LinalgOp op) {
  Type elem = getElementTypeOrSelf(op->getResult(0).getType());
  if (!isa<FloatType>(elem))
    return rewriter.notifyMatchFailure(op, "not a floating-point convolution");
  if (!isZeroFill(op.getDpsInits()[0]))
    return rewriter.notifyMatchFailure(op, "accumulator is not a zero fill");
  return success();
}

template <typename ConvOp> struct DenseConvToMatMul : OpRewritePattern<ConvOp> {
  DenseConvToMatMul(MLIRContext *ctx, bool rowLoop)
      : OpRewritePattern<ConvOp>(ctx), rowLoop(rowLoop) {}
  /// The row loop (see emitConvRowLoop) for convolutions that stay float;
  /// the driver's pass before quantization keeps the im2col tosa.matmul
  /// that weight-only quantization rewrites.
  bool rowLoop;
  LogicalResult matchAndRewrite(ConvOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkDecomposable(rewriter, op)))
      return failure();
    // A convolution assigned a precision with a convolution form (W8A8) is
    // quantized as qopt.conv2d, not as its im2col product.
    auto assigned = op->template getAttrOfType<AssignmentAttr>(
        QOptDialect::kAssignAttrName);
    if (assigned && assigned.getPrecision() != "float") {
      std::string error;
      std::optional<PrecisionSpec> spec =
          parsePrecision(assigned.getPrecision(), error);
      if (spec && quantizesConvolutions(*spec))
        return rewriter.notifyMatchFailure(op, "quantized as a convolution");
    }
    // The precision assignment and the layer role move to the product.
    SmallVector<NamedAttribute> carried;
    for (NamedAttribute a : op->getDiscardableAttrs())
      if (a.getName() == QOptDialect::kAssignAttrName ||
          a.getName() == "qopt.role")
        carried.push_back(a);
    auto [strides, dilations] = windowOf(op);
    SmallVector<int64_t> out = shapeOf(op->getResult(0));
    Value y = emitConvAsMatMul(
        rewriter, op.getLoc(), op.getInputs()[0], op.getInputs()[1], strides,
        dilations, ArrayRef<int64_t>(out).drop_front(2),
        getElementTypeOrSelf(op->getResult(0).getType()), carried, rowLoop);
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// Depthwise convolutions (one filter per channel, input [N, C, S...],
/// weights [C, K...]): taps for small 2-D kernels, else the grouped generic
/// with one channel per group.
template <typename ConvOp> struct DepthwiseConv : OpRewritePattern<ConvOp> {
  using OpRewritePattern<ConvOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(ConvOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkDecomposable(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    auto [strides, dilations] = windowOf(op);
    Value x = op.getInputs()[0], w = op.getInputs()[1];
    SmallVector<int64_t> xs = shapeOf(x), ws = shapeOf(w),
                         out = shapeOf(op->getResult(0));
    ArrayRef<int64_t> outSpatial = ArrayRef<int64_t>(out).drop_front(2);
    Type elem = getElementTypeOrSelf(op->getResult(0).getType());
    if (outSpatial.size() == 2 &&
        product(ArrayRef<int64_t>(ws).drop_front()) <= kMaxDepthwiseTaps) {
      rewriter.replaceOp(op, emitDepthwiseAsTaps(rewriter, loc, x, w, strides,
                                                 dilations, outSpatial, elem));
      return success();
    }
    int64_t n = xs[0], c = xs[1];
    SmallVector<int64_t> xg = {n, c, 1}, wg = {c, 1, 1};
    xg.append(xs.begin() + 2, xs.end());
    wg.append(ws.begin() + 1, ws.end());
    Value y = emitGroupedConv(rewriter, loc, reshape(rewriter, loc, x, xg),
                              reshape(rewriter, loc, w, wg), strides, dilations,
                              outSpatial, elem);
    rewriter.replaceOp(op, reshape(rewriter, loc, y, out));
    return success();
  }
};

struct GroupedConv : OpRewritePattern<linalg::Conv2DNgchwGfchwOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::Conv2DNgchwGfchwOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkDecomposable(rewriter, op)))
      return failure();
    auto [strides, dilations] = windowOf(op);
    SmallVector<int64_t> out = shapeOf(op->getResult(0));
    rewriter.replaceOp(
        op, emitGroupedConv(rewriter, op.getLoc(), op.getInputs()[0],
                            op.getInputs()[1], strides, dilations,
                            ArrayRef<int64_t>(out).drop_front(3),
                            getElementTypeOrSelf(op->getResult(0).getType())));
    return success();
  }
};

/// The input of an integer qopt.conv2d padded as its `pads` say, with the
/// input zero point (or 0) so that padded taps contribute nothing.
Value padWithInputZeroPoint(OpBuilder &b, Conv2DOp op) {
  Location loc = op.getLoc();
  Value x = op.getInput(), zx = op.getInputZeroPoint();
  ArrayRef<int64_t> pads = op.getPads();
  if (llvm::all_of(pads, [](int64_t p) { return p == 0; }))
    return x;
  auto xt = op.getInput().getType();
  Value padValue;
  if (zx) {
    auto zt = cast<RankedTensorType>(zx.getType());
    SmallVector<Value> idx(zt.getRank(),
                           arith::ConstantIndexOp::create(b, loc, 0));
    padValue = tensor::ExtractOp::create(b, loc, zx, idx);
  } else {
    padValue = arith::ConstantOp::create(b, loc,
                                         b.getZeroAttr(xt.getElementType()));
  }
  SmallVector<int64_t> lo = {0, 0, pads[0], pads[1]},
                       hi = {0, 0, pads[2], pads[3]};
  SmallVector<int64_t> shape(xt.getShape());
  shape[2] += pads[0] + pads[2];
  shape[3] += pads[1] + pads[3];
  MLIRContext *ctx = b.getContext();
  return tensor::PadOp::create(
      b, loc, RankedTensorType::get(shape, xt.getElementType()), x,
      getAsIndexOpFoldResult(ctx, lo), getAsIndexOpFoldResult(ctx, hi),
      padValue);
}

/// Integer group-1 qopt.conv2d (signed weights) as an im2col product on
/// the integer qopt.matmul: the zero-point-padded input codes are gathered
/// straight into rows [N, OH*OW, C*KH*KW] (one row per output pixel, so no
/// transpose of the columns), multiplied by the weights viewed as
/// [F, C*KH*KW] with their per-channel or per-tensor scales and zero points,
/// and the [N, pixels, F] result is transposed back to [N, F, OH, OW]. The
/// i32 sums are exact and the matmul's rescale float(acc) * (sx * sw[f]) is
/// the reference lowering's, so results are bit-identical to it.
struct QuantizedDenseConvAsMatMul : OpRewritePattern<Conv2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(Conv2DOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getGroup() != 1)
      return rewriter.notifyMatchFailure(op, "grouped");
    if (op.getWeightUnsigned())
      return rewriter.notifyMatchFailure(op, "unsigned weights");
    auto xt = op.getInput().getType();
    auto wt = op.getWeight().getType();
    if (!xt.getElementType().isInteger(8) || !wt.getElementType().isInteger(8))
      return rewriter.notifyMatchFailure(op, "not 8-bit codes");
    auto resultType = op.getResult().getType();
    bool rescale = resultType.getElementType().isF32();
    Value zx = op.getInputZeroPoint(), sx = op.getInputScale();
    // The matmul's input zero point takes the input scale's shape.
    if (zx && sx && rescale &&
        cast<RankedTensorType>(zx.getType()).getShape() !=
            cast<RankedTensorType>(sx.getType()).getShape())
      return rewriter.notifyMatchFailure(op, "input scale and zero point "
                                             "shapes differ");
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    int64_t n = xt.getDimSize(0), c = xt.getDimSize(1);
    int64_t f = wt.getDimSize(0), kh = wt.getDimSize(2), kw = wt.getDimSize(3);
    int64_t oh = resultType.getDimSize(2), ow = resultType.getDimSize(3);
    int64_t k = c * kh * kw, pixels = oh * ow;
    ArrayRef<int64_t> strides = op.getStrides(), dil = op.getDilations();
    Value x = padWithInputZeroPoint(rewriter, op);
    // rows[n, oh, ow, c, kh, kw] = x[n, c, oh * s0 + kh * d0, ow * s1 + kw * d1]
    // (a 1x1 kernel has no kh, kw loops: unit loops would hide from the
    // vectorizer that the gather is a plain transpose).
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    bool pointwise = kh == 1 && kw == 1;
    AffineMap gather =
        pointwise ? AffineMap::get(4, 0,
                                   {d(0), d(3), d(1) * strides[0],
                                    d(2) * strides[1]},
                                   ctx)
                  : AffineMap::get(6, 0,
                                   {d(0), d(3), d(1) * strides[0] + d(4) * dil[0],
                                    d(2) * strides[1] + d(5) * dil[1]},
                                   ctx);
    SmallVector<int64_t> rowShape = {n, oh, ow, c};
    if (!pointwise)
      rowShape.append({kh, kw});
    Value rows = elementwise(
        rewriter, loc, x, {gather}, rowShape, xt.getElementType(),
        [](OpBuilder &, Location, ValueRange a) { return a[0]; });
    rows = reshape(rewriter, loc, rows, {n, pixels, k});
    Value w = reshape(rewriter, loc, op.getWeight(), {f, k});
    // Per-tensor ([1]) or per-channel ([F]) parameters as [rows, 1].
    bool perTensor = false;
    auto asColumn = [&](Value p) -> Value {
      if (!p)
        return p;
      auto pt = cast<RankedTensorType>(p.getType());
      int64_t count = pt.getNumElements();
      perTensor = count == 1 && f != 1;
      return reshape(rewriter, loc, p, {count, 1});
    };
    Value ws = rescale ? asColumn(op.getWeightScales()) : Value();
    Value zw = asColumn(op.getWeightZeroPoints());
    if (ws && zw &&
        cast<RankedTensorType>(ws.getType()).getShape() !=
            cast<RankedTensorType>(zw.getType()).getShape())
      return rewriter.notifyMatchFailure(op, "scales and zero points differ");
    auto scheme = SchemeAttr::get(
        ctx, QuantKind::Int, 8, /*isUnsigned=*/false,
        perTensor ? Granularity::PerTensor : Granularity::PerChannel, 0,
        /*symmetric=*/!zw);
    Value inputScale = rescale ? sx : Value();
    auto mm = MatMulOp::create(
        rewriter, loc,
        RankedTensorType::get({n, pixels, f}, resultType.getElementType()),
        rows, w, ws, zw, inputScale, zx, scheme, uint64_t(k),
        op.getInputUnsigned(), PrecisionAttr());
    Value y = tosa::TransposeOp::create(
        rewriter, loc,
        RankedTensorType::get({n, f, pixels}, resultType.getElementType()),
        mm.getResult(), rewriter.getDenseI32ArrayAttr({0, 2, 1}));
    rewriter.replaceOp(op, reshape(rewriter, loc, y, resultType.getShape()));
    return success();
  }
};

/// Integer depthwise qopt.conv2d (one filter per channel, at most
/// kMaxDepthwiseTaps taps) as the tap sum of emitDepthwiseAsTaps: one
/// elementwise generic over [N, C, OH, OW] that adds (x - zx) * (w - zw)
/// over the strided windows of the zero-point-padded input and, for an f32
/// result, rescales by float(acc) * (sx * sw[c]). For an f32 result the sum
/// runs in f32 fmas on the converted differences: each product is an
/// integer of magnitude at most 255^2 and every partial sum one below
/// 49 * 255^2 < 2^24, all exact in f32, so acc equals float of the i32 sum
/// the reference lowering computes (in any order) and results are
/// bit-identical to it; fmas and conversions run on more of a core's ports
/// than 32-bit integer multiplies (vpmulld). An i32 result sums in i32. The
/// reference's [N, G, F, OH, OW, C, KH, KW] reduction does not vectorize
/// along the width.
struct QuantizedDepthwiseAsTaps : OpRewritePattern<Conv2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(Conv2DOp op,
                                PatternRewriter &rewriter) const override {
    auto xt = op.getInput().getType();
    auto wt = op.getWeight().getType();
    int64_t c = xt.getDimSize(1);
    if (int64_t(op.getGroup()) != c || wt.getDimSize(0) != c ||
        wt.getDimSize(1) != 1)
      return rewriter.notifyMatchFailure(op, "not depthwise");
    int64_t kh = wt.getDimSize(2), kw = wt.getDimSize(3);
    if (kh * kw > kMaxDepthwiseTaps)
      return rewriter.notifyMatchFailure(op, "too many taps");
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type i32 = rewriter.getI32Type();
    bool xUnsigned = op.getInputUnsigned(), wUnsigned = op.getWeightUnsigned();
    ArrayRef<int64_t> strides = op.getStrides(), dil = op.getDilations();
    Value zx = op.getInputZeroPoint();
    Value x = padWithInputZeroPoint(rewriter, op);
    auto resultType = op.getResult().getType();
    SmallVector<int64_t> outShape(resultType.getShape());
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    AffineExpr zero = getAffineConstantExpr(0, ctx);
    // A per-tensor parameter (any rank, one element) or a per-channel one.
    auto paramMap = [&](Value p) {
      auto pt = cast<RankedTensorType>(p.getType());
      if (pt.getNumElements() == 1)
        return AffineMap::get(4, 0, SmallVector<AffineExpr>(pt.getRank(), zero),
                              ctx);
      return AffineMap::get(4, 0, {d(1)}, ctx);
    };
    Value taps = reshape(rewriter, loc, op.getWeight(), {c, kh * kw});
    auto sliceType = RankedTensorType::get(outShape, xt.getElementType());
    auto tapType = RankedTensorType::get({c, 1}, wt.getElementType());
    AffineMap channel = AffineMap::get(4, 0, {d(1), zero, zero}, ctx);
    SmallVector<Value> ins;
    SmallVector<AffineMap> maps;
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) {
        ins.push_back(tensor::ExtractSliceOp::create(
            rewriter, loc, sliceType, x, ValueRange{}, ValueRange{},
            ValueRange{},
            rewriter.getDenseI64ArrayAttr({0, 0, i * dil[0], j * dil[1]}),
            rewriter.getDenseI64ArrayAttr(outShape),
            rewriter.getDenseI64ArrayAttr({1, 1, strides[0], strides[1]})));
        maps.push_back(rewriter.getMultiDimIdentityMap(4));
        Value tap = tensor::ExtractSliceOp::create(
            rewriter, loc, tapType, taps, ValueRange{}, ValueRange{},
            ValueRange{}, rewriter.getDenseI64ArrayAttr({0, i * kw + j}),
            rewriter.getDenseI64ArrayAttr({c, 1}),
            rewriter.getDenseI64ArrayAttr({1, 1}));
        ins.push_back(reshape(rewriter, loc, tap, {c, 1, 1}));
        maps.push_back(channel);
      }
    int64_t numTaps = ins.size();
    // Parameters follow the taps: zx, zw, sx, sw (those present).
    Value zw = op.getWeightZeroPoints();
    bool rescale = resultType.getElementType().isF32();
    for (Value p : {zx, zw, rescale ? op.getInputScale() : Value(),
                    rescale ? op.getWeightScales() : Value()})
      if (p) {
        ins.push_back(p);
        maps.push_back(paramMap(p));
      }
    auto extend = [](OpBuilder &b, Location l, Value v,
                     bool isUnsigned) -> Value {
      Type i32 = b.getI32Type();
      if (isUnsigned)
        return arith::ExtUIOp::create(b, l, i32, v);
      return arith::ExtSIOp::create(b, l, i32, v);
    };
    Value y = elementwise(
        rewriter, loc, ins, maps, outShape, resultType.getElementType(),
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          unsigned next = numTaps;
          Value zxv = zx ? extend(b, l, a[next++], xUnsigned) : Value();
          Value zwv = zw ? extend(b, l, a[next++], wUnsigned) : Value();
          Type f32 = b.getF32Type();
          Value acc = rescale
                          ? Value(arith::ConstantFloatOp::create(
                                b, l, cast<FloatType>(f32), APFloat(0.f)))
                          : Value(arith::ConstantIntOp::create(b, l, i32, 0));
          for (int64_t t = 0; t < numTaps; t += 2) {
            Value xv = extend(b, l, a[t], xUnsigned);
            Value wv = extend(b, l, a[t + 1], wUnsigned);
            if (zxv)
              xv = arith::SubIOp::create(b, l, xv, zxv);
            if (zwv)
              wv = arith::SubIOp::create(b, l, wv, zwv);
            if (rescale)
              acc = math::FmaOp::create(
                  b, l, arith::SIToFPOp::create(b, l, f32, xv),
                  arith::SIToFPOp::create(b, l, f32, wv), acc);
            else
              acc = arith::AddIOp::create(b, l, acc,
                                          arith::MulIOp::create(b, l, xv, wv));
          }
          if (!rescale)
            return acc;
          Value f = acc;
          Value scale = arith::MulFOp::create(b, l, a[next], a[next + 1]);
          return arith::MulFOp::create(b, l, f, scale);
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct DecomposeConvolutionsPass
    : impl::DecomposeConvolutionsPassBase<DecomposeConvolutionsPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateDecomposeConvolutionPatterns(patterns, denseOnly);
    // One rewrite per convolution; what the patterns create is final.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace

void populateDecomposeConvolutionPatterns(RewritePatternSet &patterns,
                                          bool denseOnly) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<DenseConvToMatMul<linalg::Conv2DNchwFchwOp>,
               DenseConvToMatMul<linalg::Conv3DNcdhwFcdhwOp>>(ctx, !denseOnly);
  if (denseOnly)
    return;
  patterns.add<QuantizedDenseConvAsMatMul, QuantizedDepthwiseAsTaps,
               DepthwiseConv<linalg::DepthwiseConv2DNchwChwOp>,
               DepthwiseConv<linalg::DepthwiseConv3DNcdhwCdhwOp>, GroupedConv>(
      ctx);
}

} // namespace qopt
