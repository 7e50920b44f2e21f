//===- OpsConvPool.cpp - ONNX convolution, pooling and resizing
//------------===//
//
// Convolutions become one named linalg convolution each (group 1,
// depthwise or grouped) over a tensor.pad-ded input, so the quantizer and
// the targets see convolutions and choose their lowering themselves;
// ConvTranspose is rewritten as a stride-1 convolution of the zero-stuffed
// input with the flipped kernel, or, when the kernel tiles the output
// (stride = kernel), as one matrix product and an interleave. Pools are window
// reductions; Resize and Upsample gather through per-axis index/weight tables
// computed on the host, since every shape is static.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <cmath>

using namespace mlir;

namespace qopt::onnx_frontend {
/// The `d` values of int-list attribute `name`, or `d` copies of `dflt` when
/// it is absent or has another length.
static SmallVector<int64_t> spatialInts(NodeContext &ctx, StringRef name, size_t d,
                                 int64_t dflt) {
  SmallVector<int64_t> v(d, dflt);
  if (auto a = ctx.attrInts(name))
    if (a->size() == d)
      v.assign(a->begin(), a->end());
  return v;
}

/// Reads kernel_shape/strides/dilations/pads/auto_pad for `spatial` dims of
/// input `in` and computes explicit pads (SAME_* as ONNX defines them).
FailureOr<Window> readWindow(NodeContext &ctx, ArrayRef<int64_t> in,
                             ArrayRef<int64_t> kernel) {
  size_t d = in.size();
  Window w;
  w.kernel.assign(kernel.begin(), kernel.end());
  w.strides = spatialInts(ctx, "strides", d, 1);
  w.dilations = spatialInts(ctx, "dilations", d, 1);
  if (!llvm::all_of(w.strides, [](int64_t v) { return v > 0; }) ||
      !llvm::all_of(w.dilations, [](int64_t v) { return v > 0; }) ||
      !llvm::all_of(w.kernel, [](int64_t v) { return v > 0; })) {
    (void)ctx.fail("strides, dilations and kernel sizes must be positive");
    return failure();
  }
  w.padBegin.assign(d, 0);
  w.padEnd.assign(d, 0);
  std::string autoPad = ctx.attrString("auto_pad", "NOTSET");
  if (autoPad == "NOTSET") {
    if (auto p = ctx.attrInts("pads")) {
      if (p->size() != 2 * d) {
        (void)ctx.fail("pads has " + std::to_string(p->size()) +
                       " entries for " + std::to_string(d) + " spatial dims");
        return failure();
      }
      for (size_t i = 0; i < d; ++i) {
        w.padBegin[i] = (*p)[i];
        w.padEnd[i] = (*p)[i + d];
      }
    }
  } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    for (size_t i = 0; i < d; ++i) {
      int64_t out = (in[i] + w.strides[i] - 1) / w.strides[i];
      int64_t eff = (w.kernel[i] - 1) * w.dilations[i] + 1;
      int64_t total = std::max<int64_t>(0, (out - 1) * w.strides[i] + eff - in[i]);
      int64_t small = total / 2, big = total - small;
      w.padBegin[i] = autoPad == "SAME_UPPER" ? small : big;
      w.padEnd[i] = autoPad == "SAME_UPPER" ? big : small;
    }
  } else if (autoPad != "VALID") {
    (void)ctx.fail("unknown auto_pad '" + autoPad + "'");
    return failure();
  }
  return w;
}

namespace {

/// Output size of one spatial dim.
int64_t windowOut(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb,
                  int64_t pe, bool ceilMode) {
  int64_t eff = (k - 1) * d + 1;
  int64_t span = in + pb + pe - eff;
  if (span < 0)
    return 0;
  int64_t out = ceilMode ? (span + s - 1) / s + 1 : span / s + 1;
  // The last window must start inside the input or the begin padding.
  if (ceilMode && (out - 1) * s >= in + pb)
    --out;
  return out;
}

/// A named linalg convolution of `ConvOp` over padded x and weights w with
/// a zero-filled accumulator of shape `out`.
template <typename ConvOp>
Value emitNamedConv(OpBuilder &b, Location loc, Value x, Value w,
                    ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                    ArrayRef<int64_t> out, Type elem) {
  auto window = [&](ArrayRef<int64_t> v) {
    auto t = RankedTensorType::get({(int64_t)v.size()}, b.getI64Type());
    return DenseIntElementsAttr::get(t, v);
  };
  Value init = tensor::EmptyOp::create(b, loc, out, elem);
  Value filled =
      linalg::FillOp::create(b, loc, ValueRange{emitScalar(b, loc, elem, 0.0)},
                             ValueRange{init})
          .getResult(0);
  return ConvOp::create(b, loc, TypeRange{filled.getType()}, ValueRange{x, w},
                        ValueRange{filled}, window(strides), window(dilations))
      .getResult(0);
}

/// A convolution linalg has no named op for (more than three spatial dims)
/// as one generic over [N, G, M/G, C/G, K..., O...] on the padded input
/// x [N, C, S...] and w [M, C/G, K...], accumulating into [N, G, M/G, O...]
/// (the output map must be a permutation) viewed back as [N, M, O...].
static Value emitGenericConvolution(OpBuilder &b, Location loc, Value x,
                                    Value w, int64_t groups,
                                    ArrayRef<int64_t> strides,
                                    ArrayRef<int64_t> dilations,
                                    ArrayRef<int64_t> outSpatial, Type elem) {
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> xs(cast<RankedTensorType>(x.getType()).getShape());
  SmallVector<int64_t> ws(cast<RankedTensorType>(w.getType()).getShape());
  int64_t n = xs[0], cg = ws[1], mg = ws[0] / groups;
  int64_t d = outSpatial.size(), nLoops = 4 + 2 * d, kBase = 4, oBase = 4 + d;
  auto dim = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  SmallVector<AffineExpr> xe = {dim(0), dim(1) * cg + dim(3)};
  SmallVector<AffineExpr> we = {dim(1) * mg + dim(2), dim(3)};
  SmallVector<AffineExpr> oe = {dim(0), dim(1), dim(2)};
  for (int64_t i = 0; i < d; ++i) {
    xe.push_back(dim(oBase + i) * strides[i] + dim(kBase + i) * dilations[i]);
    we.push_back(dim(kBase + i));
    oe.push_back(dim(oBase + i));
  }
  SmallVector<utils::IteratorType> iters(3, utils::IteratorType::parallel);
  iters.append(1 + d, utils::IteratorType::reduction);
  iters.append(d, utils::IteratorType::parallel);
  SmallVector<int64_t> grouped = {n, groups, mg};
  grouped.append(outSpatial.begin(), outSpatial.end());
  Value init = tensor::EmptyOp::create(b, loc, grouped, elem);
  Value filled =
      linalg::FillOp::create(b, loc, ValueRange{emitScalar(b, loc, elem, 0.0)},
                             ValueRange{init})
          .getResult(0);
  Value y =
      linalg::GenericOp::create(
          b, loc, TypeRange{filled.getType()}, ValueRange{x, w},
          ValueRange{filled},
          ArrayRef<AffineMap>{AffineMap::get(nLoops, 0, xe, ctx),
                              AffineMap::get(nLoops, 0, we, ctx),
                              AffineMap::get(nLoops, 0, oe, ctx)},
          iters,
          [&](OpBuilder &nb, Location l, ValueRange a) {
            Value p = arith::MulFOp::create(nb, l, a[0], a[1]);
            linalg::YieldOp::create(
                nb, l, Value(arith::AddFOp::create(nb, l, a[2], p)));
          })
          .getResult(0);
  SmallVector<int64_t> out = {n, groups * mg};
  out.append(outSpatial.begin(), outSpatial.end());
  return emitReshape(b, loc, y, out);
}

/// An ONNX convolution of the padded input x [N, C, S...] by w
/// [M, C/G, K...] as one named linalg convolution, which the target
/// lowers (qopt-decompose-convolutions on x86) and the quantizer reads as a
/// convolution: conv_*_nchw_fchw for one group, depthwise_conv_*_nchw_chw
/// for one filter per channel, conv_2d_ngchw_gfchw otherwise (always with
/// `grouped`). 1-D convolutions are 2-D ones of height 1; grouped 3-D ones,
/// which linalg has no op for, are one 3-D convolution per group, and
/// convolutions over more spatial dims one generic.
/// Returns [N, M, O...].
FailureOr<Value> emitConvolution(NodeContext &ctx, Value x, Value w,
                                 int64_t groups, ArrayRef<int64_t> strides,
                                 ArrayRef<int64_t> dilations,
                                 ArrayRef<int64_t> outSpatial, Type elem,
                                 bool grouped) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<int64_t> xs(cast<RankedTensorType>(x.getType()).getShape());
  SmallVector<int64_t> ws(cast<RankedTensorType>(w.getType()).getShape());
  int64_t n = xs[0], c = xs[1], m = ws[0], cg = c / groups, mg = m / groups;
  SmallVector<int64_t> out = {n, m};
  out.append(outSpatial.begin(), outSpatial.end());
  size_t d = outSpatial.size();
  if (d == 1) {
    FailureOr<Value> y = emitConvolution(
        ctx, emitReshape(b, loc, x, {n, c, 1, xs[2]}),
        emitReshape(b, loc, w, {m, ws[1], 1, ws[2]}), groups, {1, strides[0]},
        {1, dilations[0]}, {1, outSpatial[0]}, elem, grouped);
    if (failed(y))
      return failure();
    return emitReshape(b, loc, *y, out);
  }
  bool depthwise = groups == c && m == c && !grouped;
  if (d == 2 && (grouped || (groups > 1 && !depthwise))) {
    SmallVector<int64_t> xg = {n, groups, cg, xs[2], xs[3]};
    SmallVector<int64_t> wg = {groups, mg, cg, ws[2], ws[3]};
    SmallVector<int64_t> yg = {n, groups, mg, outSpatial[0], outSpatial[1]};
    Value y = emitNamedConv<linalg::Conv2DNgchwGfchwOp>(
        b, loc, emitReshape(b, loc, x, xg), emitReshape(b, loc, w, wg), strides,
        dilations, yg, elem);
    return emitReshape(b, loc, y, out);
  }
  SmallVector<int64_t> depthwiseShape = {c};
  depthwiseShape.append(ws.begin() + 2, ws.end());
  if (d == 2)
    return groups == 1 ? emitNamedConv<linalg::Conv2DNchwFchwOp>(
                             b, loc, x, w, strides, dilations, out, elem)
                       : emitNamedConv<linalg::DepthwiseConv2DNchwChwOp>(
                             b, loc, x, emitReshape(b, loc, w, depthwiseShape),
                             strides, dilations, out, elem);
  if (d != 3)
    return emitGenericConvolution(b, loc, x, w, groups, strides, dilations,
                                  outSpatial, elem);
  if (groups == 1)
    return emitNamedConv<linalg::Conv3DNcdhwFcdhwOp>(b, loc, x, w, strides,
                                                     dilations, out, elem);
  if (depthwise)
    return emitNamedConv<linalg::DepthwiseConv3DNcdhwCdhwOp>(
        b, loc, x, emitReshape(b, loc, w, depthwiseShape), strides, dilations,
        out, elem);
  SmallVector<Value> parts;
  SmallVector<int64_t> ones(xs.size(), 1);
  for (int64_t g = 0; g < groups; ++g) {
    SmallVector<int64_t> xOff(xs.size(), 0), xSize(xs), wOff(ws.size(), 0),
        wSize(ws), part(out);
    xOff[1] = g * cg;
    xSize[1] = cg;
    wOff[0] = g * mg;
    wSize[0] = mg;
    part[1] = mg;
    parts.push_back(emitNamedConv<linalg::Conv3DNcdhwFcdhwOp>(
        b, loc, emitSlice(b, loc, x, xOff, xSize, ones),
        emitSlice(b, loc, w, wOff, wSize, ones), strides, dilations, part,
        elem));
  }
  return Value(tensor::ConcatOp::create(b, loc, 1, parts));
}

Value addChannelBias(OpBuilder &b, Location loc, Value y, Value bias) {
  auto ys = cast<RankedTensorType>(y.getType()).getShape();
  SmallVector<int64_t> bshape(ys.size(), 1);
  bshape[1] = ys[1];
  Value b2 = emitReshape(b, loc, bias, bshape);
  return emitElementwise(b, loc, ValueRange{y, b2}, ys,
                         cast<RankedTensorType>(y.getType()).getElementType(),
                         [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                           return arith::AddFOp::create(nb, l, a[0], a[1]);
                         });
}

LogicalResult convertConv(NodeContext &ctx) {
  if (!isFloatDType(ctx.dtype(0)))
    return ctx.fail("only floating-point convolutions are supported");
  auto xs = ctx.shape(0), ws = ctx.shape(1);
  if (xs.size() < 3 || ws.size() != xs.size())
    return ctx.fail("expects X [N, C, spatial...] and W [M, C/group, k...] of "
                    "the same rank, got " + shapeToString(xs) + " and " +
                    shapeToString(ws));
  int64_t groups = ctx.attrInt("group", 1);
  int64_t c = xs[1], m = ws[0];
  if (groups <= 0 || c % groups || m % groups || ws[1] != c / groups)
    return ctx.fail("channels " + std::to_string(c) + " and weights " +
                    shapeToString(ws) + " do not match group " +
                    std::to_string(groups));
  ArrayRef<int64_t> spatialIn = xs.drop_front(2), kernel = ws.drop_front(2);
  if (auto k = ctx.attrInts("kernel_shape"))
    if (SmallVector<int64_t>(k->begin(), k->end()) != SmallVector<int64_t>(kernel))
      return ctx.fail("kernel_shape does not match the weights");
  auto win = readWindow(ctx, spatialIn, kernel);
  if (failed(win))
    return failure();
  SmallVector<int64_t> outSpatial;
  for (size_t i = 0; i < spatialIn.size(); ++i)
    outSpatial.push_back(windowOut(spatialIn[i], kernel[i], win->strides[i],
                                   win->dilations[i], win->padBegin[i],
                                   win->padEnd[i], false));
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<int64_t> lo = {0, 0}, hi = {0, 0};
  lo.append(win->padBegin.begin(), win->padBegin.end());
  hi.append(win->padEnd.begin(), win->padEnd.end());
  Value x = emitPad(b, loc, ctx.value(0), lo, hi, 0.0);
  Type elem = ctx.elemType(ctx.dtype(0));
  FailureOr<Value> conv =
      emitConvolution(ctx, x, ctx.value(1), groups, win->strides,
                      win->dilations, outSpatial, elem, /*grouped=*/false);
  if (failed(conv))
    return failure();
  Value y = *conv;
  if (ctx.hasInput(2))
    y = addChannelBias(b, loc, y, ctx.value(2));
  ctx.setOutput(0, y, ctx.dtype(0));
  return success();
}

LogicalResult convertConvTranspose(NodeContext &ctx) {
  if (!isFloatDType(ctx.dtype(0)))
    return ctx.fail("only floating-point convolutions are supported");
  auto xs = ctx.shape(0), ws = ctx.shape(1);
  if (xs.size() < 3 || ws.size() != xs.size())
    return ctx.fail("expects X [N, C, spatial...] and W [C, M/group, k...]");
  int64_t groups = ctx.attrInt("group", 1);
  if (groups < 1 || groups > xs[1])
    return ctx.fail("group " + std::to_string(groups) +
                    " must be between 1 and the " + std::to_string(xs[1]) +
                    " input channels");
  int64_t n = xs[0], c = xs[1], mg = ws[1], m = mg * groups;
  if (ws[0] != c || c % groups)
    return ctx.fail("weights " + shapeToString(ws) + " do not match " +
                    std::to_string(c) + " input channels");
  size_t d = xs.size() - 2;
  ArrayRef<int64_t> in = xs.drop_front(2), kernel = ws.drop_front(2);
  SmallVector<int64_t> strides = spatialInts(ctx, "strides", d, 1),
                       dil = spatialInts(ctx, "dilations", d, 1),
                       outPad = spatialInts(ctx, "output_padding", d, 0);
  if (!llvm::all_of(strides, [](int64_t v) { return v > 0; }) ||
      !llvm::all_of(dil, [](int64_t v) { return v > 0; }))
    return ctx.fail("strides and dilations must be positive");
  SmallVector<int64_t> pb(d, 0), pe(d, 0), outSpatial(d);
  std::string autoPad = ctx.attrString("auto_pad", "NOTSET");
  auto outShapeAttr = ctx.attrInts("output_shape");
  auto padsAttr = ctx.attrInts("pads");
  // Lists of the wrong length were read past their end (found by the
  // import fuzzer).
  if (outShapeAttr && outShapeAttr->size() < d)
    return ctx.fail("output_shape has " + std::to_string(outShapeAttr->size()) +
                    " values for " + std::to_string(d) + " spatial axes");
  if (padsAttr && padsAttr->size() != 2 * d)
    return ctx.fail("pads has " + std::to_string(padsAttr->size()) +
                    " values, expected " + std::to_string(2 * d));
  for (size_t i = 0; i < d; ++i) {
    int64_t full = strides[i] * (in[i] - 1) + outPad[i] +
                   (kernel[i] - 1) * dil[i] + 1;
    if (outShapeAttr || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      int64_t target = outShapeAttr
                           ? (*outShapeAttr)[outShapeAttr->size() - d + i]
                           : in[i] * strides[i];
      // ONNX's reference splits with floor division (the total may be
      // negative when output_shape exceeds the natural size).
      int64_t total = full - target;
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      bool upper = autoPad == "SAME_UPPER";
      pb[i] = upper ? half : total - half;
      pe[i] = total - pb[i];
    } else if (padsAttr) {
      pb[i] = (*padsAttr)[i];
      pe[i] = (*padsAttr)[i + d];
    }
    outSpatial[i] = full - pb[i] - pe[i];
    if (outSpatial[i] < 1)
      return ctx.fail("the output's spatial axis " + std::to_string(i) +
                      " would have size " + std::to_string(outSpatial[i]));
  }
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  // A kernel that tiles the output (stride = kernel, no padding, dilation
  // or output padding, one group: the upsampling layers of detection and
  // segmentation models): every input pixel owns a block of k0 x k1 ...
  // outputs of its own, out[n, m, y*k0 + i, x*k1 + j] = sum_c x[n, c, y, x]
  // * w[c, m, i, j]. That is one matrix product [M*K, C] x [C, pixels] and
  // an interleave of its blocks; the stride-1 form below would multiply
  // k0*k1 - 1 stuffed zeros for every product that counts.
  bool tiling = groups == 1;
  for (size_t i = 0; i < d; ++i)
    tiling &= strides[i] == kernel[i] && dil[i] == 1 && outPad[i] == 0 &&
              pb[i] == 0 && pe[i] == 0;
  if (tiling) {
    int64_t kp = shapeProduct(kernel), sp = shapeProduct(in);
    Value wt = emitTranspose(
        b, loc, emitReshape(b, loc, ctx.value(1), {c, m * kp}), {1, 0});
    Value lhs = emitBroadcastTo(b, loc, emitReshape(b, loc, wt, {1, m * kp, c}),
                                {n, m * kp, c});
    Value rhs = emitReshape(b, loc, ctx.value(0), {n, c, sp});
    Value t = emitBatchMatMul(b, loc, lhs, rhs, ctx.dtype(0));
    // [N, M, K..., S...] -> [N, M, S0, K0, S1, K1, ...] -> [N, M, S0*K0, ...]
    SmallVector<int64_t> blocks = {n, m}, perm = {0, 1}, outShape = {n, m};
    blocks.append(kernel.begin(), kernel.end());
    blocks.append(in.begin(), in.end());
    for (size_t i = 0; i < d; ++i) {
      perm.push_back(2 + d + i);
      perm.push_back(2 + i);
      outShape.push_back(in[i] * kernel[i]);
    }
    Value y = emitReshape(
        b, loc, emitTranspose(b, loc, emitReshape(b, loc, t, blocks), perm),
        outShape);
    if (ctx.hasInput(2))
      y = addChannelBias(b, loc, y, ctx.value(2));
    ctx.setOutput(0, y, ctx.dtype(0));
    return success();
  }
  Type elem = ctx.elemType(ctx.dtype(0));
  // Zero-stuff the input by the strides, then pad by (k-1)*d - pads.
  SmallVector<int64_t> stuffed = {n, c};
  for (size_t i = 0; i < d; ++i)
    stuffed.push_back((in[i] - 1) * strides[i] + 1);
  Value x = ctx.value(0);
  bool anyStride = llvm::any_of(strides, [](int64_t s) { return s != 1; });
  if (anyStride) {
    Value zeros = emitSplat(b, loc, stuffed, elem, 0.0);
    SmallVector<int64_t> off(d + 2, 0), st = {1, 1};
    st.append(strides.begin(), strides.end());
    x = tensor::InsertSliceOp::create(b, loc, x, zeros, ValueRange{}, ValueRange{},
                                      ValueRange{}, b.getDenseI64ArrayAttr(off),
                                      b.getDenseI64ArrayAttr(xs),
                                      b.getDenseI64ArrayAttr(st));
  }
  SmallVector<int64_t> lo = {0, 0}, hi = {0, 0}, cropOff(d + 2, 0),
                       cropSize = {n, c};
  bool crop = false;
  for (size_t i = 0; i < d; ++i) {
    int64_t l = (kernel[i] - 1) * dil[i] - pb[i];
    int64_t h = (kernel[i] - 1) * dil[i] - pe[i] + outPad[i];
    lo.push_back(std::max<int64_t>(l, 0));
    hi.push_back(std::max<int64_t>(h, 0));
    cropOff[i + 2] = std::max<int64_t>(-l, 0);
    cropSize.push_back(stuffed[i + 2] + lo.back() + hi.back() -
                       cropOff[i + 2] - std::max<int64_t>(-h, 0));
    crop |= l < 0 || h < 0;
  }
  x = emitPad(b, loc, x, lo, hi, 0.0);
  if (crop)
    x = emitSlice(b, loc, x, cropOff, cropSize, SmallVector<int64_t>(d + 2, 1));
  // Weights [C, M/G, k...] -> [M, C/G, k...] with flipped spatial axes.
  MLIRContext *mctx = ctx.ctx();
  int64_t cg = c / groups;
  SmallVector<int64_t> wOut = {m, cg};
  wOut.append(kernel.begin(), kernel.end());
  // out[g*mg + j, i, k] = w[g*cg + i, j, K-1-k]: via [G, CG, MG, K] view.
  SmallVector<int64_t> wView = {groups, cg, mg};
  wView.append(kernel.begin(), kernel.end());
  Value w4 = emitReshape(b, loc, ctx.value(1), wView);
  SmallVector<int64_t> flippedShape = {groups, mg, cg};
  flippedShape.append(kernel.begin(), kernel.end());
  SmallVector<AffineExpr> ex = {getAffineDimExpr(0, mctx), getAffineDimExpr(2, mctx),
                                getAffineDimExpr(1, mctx)};
  for (size_t i = 0; i < d; ++i)
    ex.push_back(getAffineConstantExpr(kernel[i] - 1, mctx) -
                 getAffineDimExpr(3 + i, mctx));
  SmallVector<AffineMap> maps = {AffineMap::get(3 + d, 0, ex, mctx),
                                 b.getMultiDimIdentityMap(3 + d)};
  Value init = tensor::EmptyOp::create(b, loc, flippedShape, elem);
  Value flipped = linalg::GenericOp::create(
                      b, loc, TypeRange{init.getType()}, ValueRange{w4},
                      ValueRange{init}, maps,
                      SmallVector<utils::IteratorType>(3 + d, utils::IteratorType::parallel),
                      [](OpBuilder &nb, Location l, ValueRange a) {
                        linalg::YieldOp::create(nb, l, a[0]);
                      })
                      .getResult(0);
  Value w = emitReshape(b, loc, flipped, wOut);
  // The grouped form even for one group: what this importer always
  // emitted for transposed convolutions, whose zero-stuffed input makes
  // im2col columns mostly zeros.
  FailureOr<Value> conv =
      emitConvolution(ctx, x, w, groups, SmallVector<int64_t>(d, 1), dil,
                      outSpatial, elem, /*grouped=*/true);
  if (failed(conv))
    return failure();
  Value y = *conv;
  if (ctx.hasInput(2))
    y = addChannelBias(b, loc, y, ctx.value(2));
  ctx.setOutput(0, y, ctx.dtype(0));
  return success();
}

/// MaxPool / AveragePool / LpPool-style window reduction.
LogicalResult convertPool(NodeContext &ctx) {
  bool isMax = ctx.opType() == "MaxPool";
  if (!isFloatDType(ctx.dtype(0)) && !isMax)
    return ctx.fail("expects a floating-point input");
  bool withIndices = isMax && ctx.hasOutput(1);
  int64_t storageOrder = ctx.attrInt("storage_order", 0);
  if (withIndices && storageOrder != 0 && storageOrder != 1)
    return ctx.fail("storage_order must be 0 or 1, not " +
                    std::to_string(storageOrder));
  auto xs = ctx.shape(0);
  if (xs.size() < 3)
    return ctx.fail("expects X [N, C, spatial...]");
  auto k = ctx.attrInts("kernel_shape");
  size_t d = xs.size() - 2;
  if (!k || k->size() != d)
    return ctx.fail("kernel_shape is missing or has the wrong rank");
  bool ceilMode = ctx.attrInt("ceil_mode", 0);
  ArrayRef<int64_t> in = xs.drop_front(2);
  auto win = readWindow(ctx, in, *k);
  if (failed(win))
    return failure();
  SmallVector<int64_t> outSpatial;
  for (size_t i = 0; i < d; ++i)
    outSpatial.push_back(windowOut(in[i], (*k)[i], win->strides[i],
                                   win->dilations[i], win->padBegin[i],
                                   win->padEnd[i], ceilMode));
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = ctx.elemType(ctx.dtype(0));
  // Pad enough for the last (ceil-mode) window.
  SmallVector<int64_t> lo = {0, 0}, hi = {0, 0};
  for (size_t i = 0; i < d; ++i) {
    lo.push_back(win->padBegin[i]);
    int64_t need = (outSpatial[i] - 1) * win->strides[i] +
                   ((*k)[i] - 1) * win->dilations[i] + 1;
    hi.push_back(std::max<int64_t>(need - in[i] - win->padBegin[i], 0));
  }
  double padValue = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
  if (isMax && !isa<FloatType>(elem))
    padValue = isUnsignedDType(ctx.dtype(0)) ? 0.0 : -128.0;
  Value x = emitPad(b, loc, ctx.value(0), lo, hi, padValue);
  MLIRContext *mctx = ctx.ctx();
  int64_t nLoops = 2 + 2 * d;
  SmallVector<AffineExpr> xe = {getAffineDimExpr(0, mctx), getAffineDimExpr(1, mctx)};
  SmallVector<AffineExpr> oe = xe;
  for (size_t i = 0; i < d; ++i) {
    xe.push_back(getAffineDimExpr(2 + i, mctx) * win->strides[i] +
                 getAffineDimExpr(2 + d + i, mctx) * win->dilations[i]);
    oe.push_back(getAffineDimExpr(2 + i, mctx));
  }
  // The kernel window as a shape-only operand.
  Value window = tensor::EmptyOp::create(b, loc, *k, elem);
  SmallVector<AffineExpr> ke;
  for (size_t i = 0; i < d; ++i)
    ke.push_back(getAffineDimExpr(2 + d + i, mctx));
  SmallVector<AffineMap> maps = {AffineMap::get(nLoops, 0, xe, mctx),
                                 AffineMap::get(nLoops, 0, ke, mctx),
                                 AffineMap::get(nLoops, 0, oe, mctx)};
  SmallVector<utils::IteratorType> iters(2 + d, utils::IteratorType::parallel);
  iters.append(d, utils::IteratorType::reduction);
  SmallVector<int64_t> outShape = {xs[0], xs[1]};
  outShape.append(outSpatial.begin(), outSpatial.end());
  ReduceKind kind = isMax ? ReduceKind::Max : ReduceKind::Sum;
  Value init = tensor::EmptyOp::create(b, loc, outShape, elem);
  Value id = emitReduceInit(b, loc, elem, kind, isUnsignedDType(ctx.dtype(0)));
  Value filled =
      linalg::FillOp::create(b, loc, ValueRange{id}, ValueRange{init}).getResult(0);
  bool isUnsigned = isUnsignedDType(ctx.dtype(0));
  if (withIndices) {
    // The maximum and where it is: the first of equal values in the
    // window's row-major order, as the flat index into X (row-major, or
    // with the spatial axes reversed for storage_order 1); padding is never
    // picked, it only holds the lowest value.
    Type i64 = b.getI64Type();
    Value idxInit =
        linalg::FillOp::create(
            b, loc, ValueRange{emitScalar(b, loc, i64, 0)},
            ValueRange{tensor::EmptyOp::create(b, loc, outShape, i64)})
            .getResult(0);
    SmallVector<AffineMap> imaps = maps;
    imaps.push_back(maps.back());
    auto g = linalg::GenericOp::create(
        b, loc, TypeRange{filled.getType(), idxInit.getType()},
        ValueRange{x, window}, ValueRange{filled, idxInit}, imaps, iters,
        [&](OpBuilder &nb, Location l, ValueRange a) {
          auto index = [&](unsigned dim) {
            return (Value)arith::IndexCastOp::create(
                nb, l, i64, linalg::IndexOp::create(nb, l, dim));
          };
          auto c64 = [&](int64_t v) { return emitScalar(nb, l, i64, v); };
          // Spatial positions in X, then the flat index.
          SmallVector<Value> pos;
          for (size_t i = 0; i < d; ++i) {
            Value p = arith::AddIOp::create(
                nb, l,
                arith::MulIOp::create(nb, l, index(2 + i),
                                      c64(win->strides[i])),
                arith::MulIOp::create(nb, l, index(2 + d + i),
                                      c64(win->dilations[i])));
            pos.push_back(
                arith::SubIOp::create(nb, l, p, c64(win->padBegin[i])));
          }
          Value flat = arith::AddIOp::create(
              nb, l, arith::MulIOp::create(nb, l, index(0), c64(xs[1])),
              index(1));
          int64_t plane = 1;
          for (size_t i = 0; i < d; ++i)
            plane *= in[i];
          if (storageOrder == 0) {
            for (size_t i = 0; i < d; ++i)
              flat = arith::AddIOp::create(
                  nb, l, arith::MulIOp::create(nb, l, flat, c64(in[i])),
                  pos[i]);
          } else {
            Value sp = c64(0);
            for (int i = (int)d - 1; i >= 0; --i)
              sp = arith::AddIOp::create(
                  nb, l, arith::MulIOp::create(nb, l, sp, c64(in[i])), pos[i]);
            flat = arith::AddIOp::create(
                nb, l, arith::MulIOp::create(nb, l, flat, c64(plane)), sp);
          }
          Value better = isa<FloatType>(elem)
                             ? (Value)arith::CmpFOp::create(
                                   nb, l, arith::CmpFPredicate::OGT, a[0], a[2])
                             : (Value)arith::CmpIOp::create(
                                   nb, l,
                                   isUnsigned ? arith::CmpIPredicate::ugt
                                              : arith::CmpIPredicate::sgt,
                                   a[0], a[2]);
          linalg::YieldOp::create(
              nb, l,
              ValueRange{arith::SelectOp::create(nb, l, better, a[0], a[2]),
                         arith::SelectOp::create(nb, l, better, flat, a[3])});
        });
    ctx.setOutput(0, g.getResult(0), ctx.dtype(0));
    ctx.setOutput(1, g.getResult(1), DType::I64);
    return success();
  }
  Value r = linalg::GenericOp::create(
                b, loc, TypeRange{filled.getType()}, ValueRange{x, window},
                ValueRange{filled}, maps, iters,
                [&](OpBuilder &nb, Location l, ValueRange a) {
                  linalg::YieldOp::create(
                      nb, l, combineScalars(nb, l, kind, a[2], a[0], isUnsigned));
                })
                .getResult(0);
  if (!isMax) {
    // Divide by the number of counted elements of each window, computed on
    // the host for every output position.
    bool includePad = ctx.attrInt("count_include_pad", 0);
    HostTensor counts(DType::F32, outSpatial);
    SmallVector<int64_t> strides = rowMajorStrides(outSpatial);
    for (int64_t idx = 0; idx < counts.numElements(); ++idx) {
      int64_t total = 1;
      for (size_t i = 0; i < d; ++i) {
        int64_t o = (idx / strides[i]) % outSpatial[i], cnt = 0;
        for (int64_t kk = 0; kk < (*k)[i]; ++kk) {
          int64_t p = o * win->strides[i] + kk * win->dilations[i] - win->padBegin[i];
          bool inside = includePad ? p >= -win->padBegin[i] && p < in[i] + win->padEnd[i]
                                   : p >= 0 && p < in[i];
          cnt += inside;
        }
        total *= cnt;
      }
      counts.setF(idx, (double)std::max<int64_t>(total, 1));
    }
    Value countV = emitConstant(b, loc, counts.castTo(ctx.dtype(0)), 1 << 30);
    r = emitElementwise(b, loc, ValueRange{r, countV}, outShape, elem,
                        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          return arith::DivFOp::create(nb, l, a[0], a[1]);
                        });
  }
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult convertGlobalPool(NodeContext &ctx) {
  bool isMax = ctx.opType() == "GlobalMaxPool";
  auto xs = ctx.shape(0);
  if (xs.size() < 3)
    return ctx.fail("expects X [N, C, spatial...]");
  SmallVector<int64_t> axes;
  int64_t count = 1;
  for (size_t i = 2; i < xs.size(); ++i) {
    axes.push_back(i);
    count *= xs[i];
  }
  OpBuilder &b = ctx.b;
  Value r = emitReduce(b, ctx.loc, ctx.value(0), axes, true,
                       isMax ? ReduceKind::Max : ReduceKind::Sum, false);
  if (!isMax) {
    auto rt = cast<RankedTensorType>(r.getType());
    r = emitElementwise(b, ctx.loc, r, rt.getShape(), rt.getElementType(),
                        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          return arith::DivFOp::create(
                              nb, l, a[0],
                              emitScalar(nb, l, a[0].getType(), (double)count));
                        });
  }
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Resize / Upsample
//===----------------------------------------------------------------------===//

struct AxisTaps {
  // For each output index: input indices and weights of its taps.
  std::vector<std::vector<int64_t>> idx;
  std::vector<std::vector<double>> w;
  // tf_crop_and_resize: outputs whose source coordinate lies outside the
  // input, which take extrapolation_value.
  std::vector<bool> outside;
  bool anyOutside = false;
};

/// The input coordinate of output index `o`. `outLength` is the unrounded
/// output length (in * scale when scales are given), as ONNX defines it.
double sourceCoord(const std::string &mode, int64_t o, double scale,
                   int64_t in, double outLength, double roiStart,
                   double roiEnd) {
  int64_t out = (int64_t)outLength;
  if (mode == "asymmetric")
    return o / scale;
  if (mode == "align_corners")
    return outLength == 1 ? 0.0 : o * (double)(in - 1) / (outLength - 1);
  if (mode == "pytorch_half_pixel")
    return out > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
  if (mode == "tf_crop_and_resize")
    return out > 1 ? roiStart * (in - 1) +
                         o * (roiEnd - roiStart) * (in - 1) / (out - 1)
                   : 0.5 * (roiStart + roiEnd) * (in - 1);
  if (mode == "tf_half_pixel_for_nn")
    return (o + 0.5) / scale;
  if (mode == "half_pixel_symmetric") {
    double adj = out / (scale * in);
    double center = in / 2.0;
    double offset = center * (1 - adj);
    return offset + (o + 0.5) / scale - 0.5;
  }
  return (o + 0.5) / scale - 0.5; // half_pixel
}

AxisTaps buildTaps(const std::string &mode, const std::string &coordMode,
                   const std::string &nearestMode, double cubicA,
                   bool excludeOutside, int64_t in, int64_t out,
                   double outLength, double scale, double roiStart,
                   double roiEnd) {
  AxisTaps t;
  for (int64_t o = 0; o < out; ++o) {
    double x = sourceCoord(coordMode, o, scale, in, outLength, roiStart, roiEnd);
    bool out = coordMode == "tf_crop_and_resize" && (x < 0 || x > in - 1);
    t.outside.push_back(out);
    t.anyOutside |= out;
    std::vector<int64_t> idx;
    std::vector<double> w;
    if (mode == "nearest") {
      int64_t i;
      if (nearestMode == "floor")
        i = (int64_t)std::floor(x);
      else if (nearestMode == "ceil")
        i = (int64_t)std::ceil(x);
      else if (nearestMode == "round_prefer_ceil")
        i = (int64_t)std::floor(x + 0.5);
      else // round_prefer_floor
        i = x == std::floor(x) + 0.5 ? (int64_t)std::floor(x)
                                     : (int64_t)std::round(x);
      idx.push_back(std::clamp<int64_t>(i, 0, in - 1));
      w.push_back(1.0);
    } else if (mode == "linear") {
      if (coordMode != "tf_crop_and_resize")
        x = std::clamp<double>(x, 0.0, (double)in - 1);
      int64_t i0 = (int64_t)std::floor(x);
      double f = x - i0;
      idx = {std::clamp<int64_t>(i0, 0, in - 1),
             std::clamp<int64_t>(i0 + 1, 0, in - 1)};
      w = {1.0 - f, f};
    } else { // cubic
      int64_t i0 = (int64_t)std::floor(x);
      double f = x - i0;
      auto coeff = [&](double s) {
        s = std::fabs(s);
        if (s <= 1)
          return ((cubicA + 2) * s - (cubicA + 3)) * s * s + 1;
        if (s < 2)
          return ((cubicA * s - 5 * cubicA) * s + 8 * cubicA) * s - 4 * cubicA;
        return 0.0;
      };
      double sum = 0;
      for (int64_t j = -1; j <= 2; ++j) {
        int64_t p = i0 + j;
        double c = coeff(j - f);
        if (excludeOutside && (p < 0 || p >= in))
          c = 0;
        idx.push_back(std::clamp<int64_t>(p, 0, in - 1));
        w.push_back(c);
        sum += c;
      }
      if (excludeOutside && sum != 0)
        for (double &c : w)
          c /= sum;
    }
    t.idx.push_back(idx);
    t.w.push_back(w);
  }
  return t;
}

LogicalResult emitResize(NodeContext &ctx, ArrayRef<double> scalesIn,
                         ArrayRef<int64_t> sizesIn, const std::string &mode,
                         const std::string &coordMode,
                         const std::string &nearestMode, ArrayRef<double> roi) {
  auto xs = ctx.shape(0);
  size_t r = xs.size();
  SmallVector<int64_t> outShape(r);
  SmallVector<double> scales(r);
  for (size_t i = 0; i < r; ++i) {
    if (!sizesIn.empty()) {
      // Both: the sizes of keep_aspect_ratio_policy with its common scale.
      outShape[i] = sizesIn[i];
      scales[i] = scalesIn.empty() ? (double)sizesIn[i] / xs[i] : scalesIn[i];
    } else {
      scales[i] = scalesIn[i];
      outShape[i] = (int64_t)std::floor(xs[i] * scalesIn[i]);
    }
  }
  if (!isValidShape(outShape) ||
      llvm::any_of(scales, [](double v) { return !(v > 0); }))
    return ctx.fail("scales and sizes must be positive, got output shape " +
                    shapeToString(outShape));
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    return ctx.fail("unsupported mode '" + mode + "'");
  double cubicA = ctx.attrFloat("cubic_coeff_a", -0.75f);
  bool exclude = ctx.attrInt("exclude_outside", 0);
  double extrapolation = ctx.attrFloat("extrapolation_value", 0.0f);
  // Axes that change get tap tables; the others pass through.
  std::vector<AxisTaps> taps(r);
  SmallVector<size_t> resized;
  for (size_t i = 0; i < r; ++i) {
    double rs = roi.size() == 2 * r ? roi[i] : 0.0;
    double re = roi.size() == 2 * r ? roi[i + r] : 1.0;
    if (outShape[i] == xs[i] && scales[i] == 1.0 && coordMode != "tf_crop_and_resize")
      continue;
    double outLength = sizesIn.empty() ? xs[i] * scales[i] : (double)outShape[i];
    taps[i] = buildTaps(mode, coordMode, nearestMode, cubicA, exclude, xs[i],
                        outShape[i], outLength, scales[i], rs, re);
    resized.push_back(i);
  }
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type elem = ctx.elemType(ctx.dtype(0));
  Value src = ctx.value(0);
  if (resized.empty()) {
    ctx.setOutput(0, src, ctx.dtype(0));
    return success();
  }
  // Tables: for resized axis a, idx_a [out_a, T] (index) and w_a [out_a, T].
  SmallVector<Value> tables;
  SmallVector<int64_t> tapCount;
  for (size_t a : resized) {
    int64_t nt = taps[a].idx[0].size();
    tapCount.push_back(nt);
    HostTensor it(DType::I64, {outShape[a], nt}), wt(DType::F64, {outShape[a], nt});
    for (int64_t o = 0; o < outShape[a]; ++o)
      for (int64_t j = 0; j < nt; ++j) {
        it.i[o * nt + j] = taps[a].idx[o][j];
        wt.f[o * nt + j] = taps[a].w[o][j];
      }
    tables.push_back(emitConstant(b, loc, it, 1 << 30));
    tables.push_back(emitConstant(b, loc, wt.castTo(isFloatDType(ctx.dtype(0)) ? ctx.dtype(0) : DType::F32), 1 << 30));
  }
  // Per resized axis, 1 where tf_crop_and_resize reads outside the input.
  SmallVector<Value> outsideTables(resized.size());
  for (size_t k = 0; k < resized.size(); ++k) {
    const AxisTaps &t = taps[resized[k]];
    if (!t.anyOutside)
      continue;
    HostTensor m(DType::Bool, {(int64_t)t.outside.size()});
    for (size_t o = 0; o < t.outside.size(); ++o)
      m.i[o] = t.outside[o];
    outsideTables[k] = emitConstant(b, loc, m, 1 << 30);
  }
  Value out = emitElementwise(
      b, loc, ValueRange{}, outShape, elem,
      [&](OpBuilder &nb, Location l, ValueRange) -> Value {
        SmallVector<Value> outIdx;
        for (size_t i = 0; i < r; ++i)
          outIdx.push_back(linalg::IndexOp::create(nb, l, i));
        Value outside;
        for (size_t k = 0; k < resized.size(); ++k) {
          if (!outsideTables[k])
            continue;
          Value o = tensor::ExtractOp::create(nb, l, outsideTables[k],
                                              ValueRange{outIdx[resized[k]]});
          if (!o.getType().isInteger(1))
            o = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ne, o,
                                      emitScalar(nb, l, o.getType(), 0));
          outside =
              outside ? (Value)arith::OrIOp::create(nb, l, outside, o) : o;
        }
        auto extrapolate = [&](Value v) -> Value {
          if (!outside)
            return v;
          return arith::SelectOp::create(
              nb, l, outside, emitScalar(nb, l, v.getType(), extrapolation), v);
        };
        // Sum over all tap combinations of the resized axes.
        int64_t combos = 1;
        for (int64_t t : tapCount)
          combos *= t;
        Type acc = isa<FloatType>(elem) ? elem : nb.getF32Type();
        Value sum = emitScalar(nb, l, acc, 0.0);
        for (int64_t cidx = 0; cidx < combos; ++cidx) {
          SmallVector<Value> coords(outIdx);
          Value weight;
          int64_t rem = cidx;
          for (size_t k = 0; k < resized.size(); ++k) {
            int64_t tap = rem % tapCount[k];
            rem /= tapCount[k];
            size_t a = resized[k];
            Value tapIdx = arith::ConstantIndexOp::create(nb, l, tap);
            Value srcI = tensor::ExtractOp::create(nb, l, tables[2 * k],
                                                   ValueRange{outIdx[a], tapIdx});
            coords[a] = arith::IndexCastOp::create(nb, l, nb.getIndexType(), srcI);
            Value w = tensor::ExtractOp::create(nb, l, tables[2 * k + 1],
                                                ValueRange{outIdx[a], tapIdx});
            weight = weight ? (Value)arith::MulFOp::create(nb, l, weight, w) : w;
          }
          Value v = tensor::ExtractOp::create(nb, l, src, coords);
          if (mode == "nearest")
            return extrapolate(v);
          Value vf = isa<FloatType>(elem) ? v
                                          : castScalar(nb, l, v, ctx.dtype(0), DType::F32);
          sum = arith::AddFOp::create(nb, l, sum, arith::MulFOp::create(nb, l, vf, weight));
        }
        return extrapolate(
            isa<FloatType>(elem)
                ? sum
                : castScalar(nb, l, sum, DType::F32, ctx.dtype(0)));
      });
  ctx.setOutput(0, out, ctx.dtype(0));
  return success();
}

/// Col2Im (opset 18): the inverse of im2col. Every output pixel sums the
/// column entries whose block covers it; each block offset is one tap of a
/// generic over the output, valid where the offset lands on a block origin.
LogicalResult convertCol2Im(NodeContext &ctx) {
  const HostTensor *imageT = ctx.host(1), *blockT = ctx.host(2);
  if (!imageT || !blockT)
    return ctx.fail("image_shape and block_shape must be known at compile "
                    "time");
  std::vector<int64_t> image, block;
  for (int64_t k = 0; k < imageT->numElements(); ++k)
    image.push_back(imageT->getI(k));
  for (int64_t k = 0; k < blockT->numElements(); ++k)
    block.push_back(blockT->getI(k));
  size_t nd = image.size();
  if (nd == 0 || block.size() != nd)
    return ctx.fail("image_shape and block_shape must have the same, "
                    "non-zero length");
  if (ctx.rank(0) != 3)
    return ctx.fail("expects an input of rank 3 (N, C * prod(block_shape), "
                    "L)");
  auto attrOr = [&](StringRef name, size_t size, int64_t dflt) {
    std::vector<int64_t> v =
        ctx.attrInts(name).value_or(std::vector<int64_t>(size, dflt));
    return v;
  };
  std::vector<int64_t> dil = attrOr("dilations", nd, 1),
                       strides = attrOr("strides", nd, 1),
                       pads = attrOr("pads", 2 * nd, 0);
  if (dil.size() != nd || strides.size() != nd || pads.size() != 2 * nd)
    return ctx.fail("dilations and strides need " + std::to_string(nd) +
                    " entries and pads " + std::to_string(2 * nd));
  ArrayRef<int64_t> in = ctx.shape(0);
  int64_t blockSize = shapeProduct(block);
  if (blockSize <= 0 || in[1] % blockSize != 0)
    return ctx.fail("input dimension 1 (" + std::to_string(in[1]) +
                    ") is not a multiple of prod(block_shape) = " +
                    std::to_string(blockSize));
  // Blocks per spatial dim; their product must be the column count L.
  std::vector<int64_t> blocks(nd);
  for (size_t d = 0; d < nd; ++d) {
    int64_t span = dil[d] * (block[d] - 1) + 1;
    int64_t room = image[d] + pads[d] + pads[nd + d] - span;
    if (strides[d] <= 0 || dil[d] <= 0 || block[d] <= 0 || room < 0)
      return ctx.fail("block_shape, dilations, strides and pads do not fit "
                      "image_shape " +
                      shapeToString(image));
    blocks[d] = room / strides[d] + 1;
  }
  if (shapeProduct(blocks) != in[2])
    return ctx.fail("the input has " + std::to_string(in[2]) +
                    " columns, but the image holds " +
                    std::to_string(shapeProduct(blocks)) + " blocks");
  SmallVector<int64_t> outShape = {in[0], in[1] / blockSize};
  outShape.append(image.begin(), image.end());
  Type elem = ctx.elemType(ctx.dtype(0));
  Value src = ctx.value(0);
  OpBuilder &b = ctx.b;
  Value out = emitElementwise(
      b, ctx.loc, ValueRange{}, outShape, elem,
      [&](OpBuilder &nb, Location l, ValueRange) -> Value {
        Type i64 = nb.getI64Type();
        auto cst = [&](int64_t v) { return emitScalar(nb, l, i64, (double)v); };
        auto idx = [&](unsigned d) -> Value {
          return arith::IndexCastOp::create(nb, l, i64,
                                            linalg::IndexOp::create(nb, l, d));
        };
        Value n = linalg::IndexOp::create(nb, l, 0);
        Value c = idx(1);
        Value zero = emitScalar(nb, l, elem, 0.0);
        Value sum = zero;
        for (int64_t j = 0; j < blockSize; ++j) {
          // j's offset per dim, row-major over block_shape.
          std::vector<int64_t> off(nd);
          for (int64_t rem = j, d = nd - 1; d >= 0; --d) {
            off[d] = rem % block[d];
            rem /= block[d];
          }
          Value valid, column = cst(0);
          for (size_t d = 0; d < nd; ++d) {
            Value t = arith::SubIOp::create(
                nb, l, arith::AddIOp::create(nb, l, idx(2 + d), cst(pads[d])),
                cst(off[d] * dil[d]));
            Value q = arith::DivSIOp::create(nb, l, t, cst(strides[d]));
            Value r = arith::RemSIOp::create(nb, l, t, cst(strides[d]));
            Value ok = arith::AndIOp::create(
                nb, l,
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, t,
                                      cst(0)),
                arith::AndIOp::create(
                    nb, l,
                    arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, r,
                                          cst(0)),
                    arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, q,
                                          cst(blocks[d]))));
            valid = valid ? (Value)arith::AndIOp::create(nb, l, valid, ok) : ok;
            // Clamp so an invalid tap still reads inside the tensor.
            Value qc = arith::MaxSIOp::create(
                nb, l, arith::MinSIOp::create(nb, l, q, cst(blocks[d] - 1)),
                cst(0));
            column = arith::AddIOp::create(
                nb, l, arith::MulIOp::create(nb, l, column, cst(blocks[d])),
                qc);
          }
          Value chan = arith::AddIOp::create(
              nb, l, arith::MulIOp::create(nb, l, c, cst(blockSize)), cst(j));
          Type index = nb.getIndexType();
          Value v = tensor::ExtractOp::create(
              nb, l, src,
              ValueRange{n, arith::IndexCastOp::create(nb, l, index, chan),
                         arith::IndexCastOp::create(nb, l, index, column)});
          v = arith::SelectOp::create(nb, l, valid, v, zero);
          sum = isa<FloatType>(elem)
                    ? (Value)arith::AddFOp::create(nb, l, sum, v)
                    : (Value)arith::AddIOp::create(nb, l, sum, v);
        }
        return sum;
      });
  ctx.setOutput(0, out, ctx.dtype(0));
  return success();
}

std::vector<double> hostDoubles(const HostTensor *t) {
  std::vector<double> v;
  if (t)
    for (int64_t k = 0; k < t->numElements(); ++k)
      v.push_back(t->getF(k));
  return v;
}

LogicalResult convertResize(NodeContext &ctx) {
  std::string mode = ctx.attrString("mode", "nearest");
  std::string coord = ctx.attrString("coordinate_transformation_mode",
                                     ctx.opset < 11 ? "asymmetric" : "half_pixel");
  std::string nearest = ctx.attrString("nearest_mode", "round_prefer_floor");
  std::vector<double> roi, scales;
  std::vector<int64_t> sizes;
  if (ctx.opset < 11) {
    if (!ctx.host(1))
      return ctx.fail("scales must be known at compile time");
    scales = hostDoubles(ctx.host(1));
    // Opset 10 nearest rounds like round_prefer_floor? ORT uses floor for
    // asymmetric opset 10 semantics.
    nearest = "floor";
  } else {
    if (ctx.hasInput(1)) {
      if (!ctx.host(1))
        return ctx.fail("roi must be known at compile time");
      roi = hostDoubles(ctx.host(1));
    }
    if (ctx.hasInput(2) && ctx.host(2) && ctx.host(2)->numElements() > 0)
      scales = hostDoubles(ctx.host(2));
    else if (ctx.hasInput(2) && !ctx.host(2))
      return ctx.fail("scales must be known at compile time");
    if (ctx.hasInput(3)) {
      if (!ctx.host(3))
        return ctx.fail("sizes must be known at compile time");
      for (double v : hostDoubles(ctx.host(3)))
        sizes.push_back((int64_t)v);
    }
  }
  size_t r = ctx.rank(0);
  ArrayRef<int64_t> xs = ctx.shape(0);
  // Opset 18: scales, sizes and roi may cover only the listed axes; the
  // others keep their size (scale 1, roi [0, 1]).
  std::vector<int64_t> axes;
  if (auto a = ctx.attrInts("axes")) {
    for (int64_t ax : *a) {
      auto n = ctx.normalizeAxis(ax, r);
      if (failed(n))
        return failure();
      if (llvm::is_contained(axes, *n))
        return ctx.fail("axis " + std::to_string(ax) + " is listed twice");
      axes.push_back(*n);
    }
  } else {
    for (size_t d = 0; d < r; ++d)
      axes.push_back(d);
  }
  size_t k = axes.size();
  if (sizes.empty() && scales.size() != k)
    return ctx.fail("scales has " + std::to_string(scales.size()) +
                    " entries for " + std::to_string(k) + " axes");
  if (!sizes.empty() && sizes.size() != k)
    return ctx.fail("sizes has " + std::to_string(sizes.size()) +
                    " entries for " + std::to_string(k) + " axes");
  if (!roi.empty() && roi.size() != 2 * k)
    return ctx.fail("roi has " + std::to_string(roi.size()) + " entries for " +
                    std::to_string(k) + " axes");
  std::vector<double> fullScales, fullRoi;
  std::vector<int64_t> fullSizes;
  if (!sizes.empty()) {
    fullSizes.assign(xs.begin(), xs.end());
    for (size_t j = 0; j < k; ++j)
      fullSizes[axes[j]] = sizes[j];
  } else {
    fullScales.assign(r, 1.0);
    for (size_t j = 0; j < k; ++j)
      fullScales[axes[j]] = scales[j];
  }
  if (!roi.empty()) {
    fullRoi.assign(r, 0.0);
    fullRoi.resize(2 * r, 1.0);
    for (size_t j = 0; j < k; ++j) {
      fullRoi[axes[j]] = roi[j];
      fullRoi[r + axes[j]] = roi[k + j];
    }
  }
  std::string policy = ctx.attrString("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch" && !sizes.empty()) {
    if (policy != "not_larger" && policy != "not_smaller")
      return ctx.fail("unknown keep_aspect_ratio_policy '" + policy + "'");
    // One scale for all listed axes, the largest (smallest) that keeps
    // every size within (beyond) the requested one.
    double scale = policy == "not_larger" ? INFINITY : 0.0;
    for (int64_t ax : axes) {
      double s = (double)fullSizes[ax] / xs[ax];
      scale = policy == "not_larger" ? std::min(scale, s) : std::max(scale, s);
    }
    fullScales.assign(r, 1.0);
    for (int64_t ax : axes) {
      fullScales[ax] = scale;
      fullSizes[ax] = (int64_t)std::floor(scale * xs[ax] + 0.5);
    }
  }
  if (ctx.attrInt("antialias", 0) && mode != "nearest") {
    for (size_t d = 0; d < r; ++d) {
      bool shrinks =
          fullSizes.empty() ? fullScales[d] < 1.0 : fullSizes[d] < xs[d];
      if (shrinks)
        return ctx.fail("antialias=1 is not supported when an axis shrinks "
                        "(axis " +
                        std::to_string(d) + ")");
    }
  }
  return emitResize(ctx, fullScales, fullSizes, mode, coord, nearest, fullRoi);
}

LogicalResult convertUpsample(NodeContext &ctx) {
  std::string mode = ctx.attrString("mode", "nearest");
  std::vector<double> scales;
  if (auto s = ctx.attrFloats("scales"))
    scales.assign(s->begin(), s->end());
  else if (ctx.hasInput(1) && ctx.host(1))
    scales = hostDoubles(ctx.host(1));
  else
    return ctx.fail("scales must be known at compile time");
  if (scales.size() != (size_t)ctx.rank(0))
    return ctx.fail("scales has the wrong rank");
  return emitResize(ctx, scales, {}, mode, "asymmetric", "floor", {});
}

} // namespace

void appendConvPoolConverters(std::vector<ConverterEntry> &t) {
  t.push_back({"", "Conv", 1, convertConv});
  t.push_back({"", "ConvTranspose", 1, convertConvTranspose});
  t.push_back({"", "MaxPool", 1, convertPool});
  t.push_back({"", "AveragePool", 1, convertPool});
  t.push_back({"", "GlobalMaxPool", 1, convertGlobalPool});
  t.push_back({"", "GlobalAveragePool", 1, convertGlobalPool});
  t.push_back({"", "Resize", 10, convertResize});
  t.push_back({"", "Upsample", 7, convertUpsample});
  t.push_back({"", "Col2Im", 18, convertCol2Im});
}

} // namespace qopt::onnx_frontend
