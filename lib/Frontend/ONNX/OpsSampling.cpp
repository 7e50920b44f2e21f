//===- OpsSampling.cpp - ONNX image sampling and box selection ops --------===//
//
// GridSample is a generic over the output pixels that reads its taps with
// tensor.extract; RoiAlign one over the output bins with the sample grid as
// reduction dims. NonMaxSuppression selects boxes per batch and class in
// loops over the candidates, its padded result a graph output.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

/// The run-time float scalar held by input `i` (shape [] or [1]): its
/// first element, read with tensor.extract.
Value extractFirst(NodeContext &ctx, unsigned i) {
  Value v = ctx.value(i);
  SmallVector<Value> zeros(ctx.rank(i),
                           arith::ConstantIndexOp::create(ctx.b, ctx.loc, 0));
  Value x = tensor::ExtractOp::create(ctx.b, ctx.loc, v, zeros);
  return castScalar(ctx.b, ctx.loc, x, ctx.dtype(i), DType::F32);
}

/// True when box `a` and box `p` (four f32 coordinates each, as the model
/// gives them) overlap by an IoU above `threshold`: ONNX Runtime's test,
/// where boxes without area or intersection never suppress.
Value suppresses(OpBuilder &b, Location l, ArrayRef<Value> a, ArrayRef<Value> p,
                 bool centers, Value threshold) {
  Type f32 = b.getF32Type();
  Value half = emitScalar(b, l, f32, 0.5);
  // [lo0, lo1, hi0, hi1] of a box.
  auto corners = [&](ArrayRef<Value> v) {
    SmallVector<Value> c(4);
    for (int d = 0; d < 2; ++d) {
      if (centers) {
        Value r = arith::MulFOp::create(b, l, v[d + 2], half);
        c[d] = arith::SubFOp::create(b, l, v[d], r);
        c[d + 2] = arith::AddFOp::create(b, l, v[d], r);
      } else {
        c[d] = arith::MinimumFOp::create(b, l, v[d], v[d + 2]);
        c[d + 2] = arith::MaximumFOp::create(b, l, v[d], v[d + 2]);
      }
    }
    return c;
  };
  SmallVector<Value> x = corners(a), y = corners(p);
  Value zero = emitScalar(b, l, f32, 0);
  Value inter = emitScalar(b, l, f32, 1), ok;
  auto both = [&](Value c) {
    ok = ok ? (Value)arith::AndIOp::create(b, l, ok, c) : c;
  };
  for (int d = 0; d < 2; ++d) {
    Value lo = arith::MaximumFOp::create(b, l, x[d], y[d]);
    Value hi = arith::MinimumFOp::create(b, l, x[d + 2], y[d + 2]);
    both(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, hi, lo));
    inter =
        arith::MulFOp::create(b, l, inter, arith::SubFOp::create(b, l, hi, lo));
  }
  auto area = [&](ArrayRef<Value> c) {
    return (Value)arith::MulFOp::create(
        b, l, arith::SubFOp::create(b, l, c[2], c[0]),
        arith::SubFOp::create(b, l, c[3], c[1]));
  };
  Value ax = area(x), ay = area(y);
  Value uni =
      arith::SubFOp::create(b, l, arith::AddFOp::create(b, l, ax, ay), inter);
  both(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, ax, zero));
  both(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, ay, zero));
  both(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, uni, zero));
  Value iou = arith::DivFOp::create(b, l, inter, uni);
  both(arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, iou, threshold));
  return ok;
}

/// NonMaxSuppression with max_output_boxes_per_class known at compile time.
/// ONNX's result has one row per selected box, a count only known at run
/// time; qopt's has the most there can be, B * C * min(max, N), the
/// selected rows first in ONNX's order and then rows of -1, so it must be
/// a graph output (notePaddedOutput). Per batch and class: the boxes
/// scoring above score_threshold are candidates; repeatedly the best
/// candidate (the lower index on equal scores) is selected and every
/// candidate it overlaps by an IoU above iou_threshold leaves, until
/// max_output_boxes_per_class are selected or none is left: O(max * N)
/// per class, the same selection as sorting and sweeping.
LogicalResult convertNonMaxSuppression(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 2)))
    return failure();
  int64_t center = ctx.attrInt("center_point_box", 0);
  if (center != 0 && center != 1)
    return ctx.fail("center_point_box must be 0 or 1, not " +
                    std::to_string(center));
  ArrayRef<int64_t> bs = ctx.shape(0), ss = ctx.shape(1);
  if (bs.size() != 3 || bs[2] != 4)
    return ctx.fail("boxes must be batches x boxes x 4, not " +
                    shapeToString(bs));
  if (ss.size() != 3 || ss[0] != bs[0] || ss[2] != bs[1])
    return ctx.fail("scores must be batches x classes x boxes (" +
                    std::to_string(bs[0]) + "xCx" + std::to_string(bs[1]) +
                    " for these boxes), not " + shapeToString(ss));
  for (unsigned i = 0; i < 2; ++i)
    if (!isFloatDType(ctx.dtype(i)))
      return ctx.fail(std::string(i ? "scores" : "boxes") + " must be float");
  int64_t maxPerClass = 0;
  if (ctx.hasInput(2)) {
    const HostTensor *m = ctx.host(2);
    if (!m)
      return ctx.fail("max_output_boxes_per_class must be known at compile "
                      "time (it bounds the output's size)");
    if (m->numElements() != 1)
      return ctx.fail("max_output_boxes_per_class must hold one value");
    maxPerClass = std::max<int64_t>(m->getI(0), 0);
  }
  for (unsigned i = 3; i < 5; ++i)
    if (ctx.hasInput(i) && shapeProduct(ctx.shape(i)) != 1)
      return ctx.fail(
          std::string(i == 3 ? "iou_threshold" : "score_threshold") +
          " must hold one value");
  if (ctx.hasInput(3) && ctx.host(3)) {
    double t = ctx.host(3)->getF(0);
    if (!(t >= 0 && t <= 1))
      return ctx.fail("iou_threshold must be in [0, 1], not " +
                      std::to_string(t));
  }
  int64_t batches = bs[0], n = bs[1], classes = ss[1];
  int64_t perClass = std::min(maxPerClass, n);
  int64_t rows;
  if (__builtin_mul_overflow(batches, classes, &rows) ||
      __builtin_mul_overflow(rows, perClass, &rows))
    return ctx.fail("the selection's size overflows");

  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Type i64 = b.getI64Type(), f32 = b.getF32Type();
  Type idx = b.getIndexType();
  auto outType = RankedTensorType::get({rows, 3}, i64);
  Value out =
      linalg::FillOp::create(
          b, loc, ValueRange{emitScalar(b, loc, i64, -1)},
          ValueRange{tensor::EmptyOp::create(b, loc, outType.getShape(), i64)})
          .getResult(0);
  ctx.notePaddedOutput(0, "padded with rows of -1 to a static [" +
                              std::to_string(rows) + ", 3]");
  if (rows == 0) {
    ctx.setOutput(0, out, DType::I64);
    return success();
  }
  emitWarning(loc) << "NonMaxSuppression: selected_indices is [" << rows
                   << ", 3] (up to " << perClass << " boxes for each of "
                   << batches << " batch(es) x " << classes
                   << " class(es)); the rows after the selected boxes are -1";

  Value boxes = ctx.value(0), scores = ctx.value(1);
  DType boxT = ctx.dtype(0), scoreT = ctx.dtype(1);
  Value iouThr =
      ctx.hasInput(3) ? extractFirst(ctx, 3) : emitScalar(b, loc, f32, 0);
  Value scoreThr = ctx.hasInput(4) ? extractFirst(ctx, 4) : Value();
  auto cidx = [&](int64_t v) {
    return (Value)arith::ConstantIndexOp::create(b, loc, v);
  };
  // Candidates as i8 0/1: memrefs of i1 do not hold one value per byte.
  Type i8 = b.getI8Type();
  auto toBool = [&](OpBuilder &nb, Location l, Value v) {
    return (Value)arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ne, v,
                                        emitScalar(nb, l, i8, 0));
  };
  auto aliveType = RankedTensorType::get({n}, i8);

  auto outer = scf::ForOp::create(
      b, loc, cidx(0), cidx(batches * classes), cidx(1),
      ValueRange{out, cidx(0)},
      [&](OpBuilder &ob, Location l, Value bc, ValueRange carried) {
        Value bi = arith::DivUIOp::create(ob, l, bc, cidx(classes));
        Value ci = arith::RemUIOp::create(ob, l, bc, cidx(classes));
        auto score = [&](OpBuilder &nb, Value i) {
          Value s =
              tensor::ExtractOp::create(nb, l, scores, ValueRange{bi, ci, i});
          return castScalar(nb, l, s, scoreT, DType::F32);
        };
        auto box = [&](OpBuilder &nb, Value i) {
          SmallVector<Value> v;
          for (int64_t d = 0; d < 4; ++d)
            v.push_back(castScalar(
                nb, l,
                tensor::ExtractOp::create(
                    nb, l, boxes,
                    ValueRange{bi, i,
                               arith::ConstantIndexOp::create(nb, l, d)}),
                boxT, DType::F32));
          return v;
        };
        // The candidates of this batch and class.
        Value alive0 =
            linalg::GenericOp::create(
                ob, l, TypeRange{aliveType}, ValueRange{},
                ValueRange{
                    tensor::EmptyOp::create(ob, l, aliveType.getShape(), i8)},
                ArrayRef<AffineMap>{
                    AffineMap::getMultiDimIdentityMap(1, ob.getContext())},
                ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
                [&](OpBuilder &nb, Location gl, ValueRange) {
                  Value ok = arith::ConstantIntOp::create(nb, gl, 1, 1);
                  if (scoreThr)
                    ok = arith::CmpFOp::create(
                        nb, gl, arith::CmpFPredicate::OGT,
                        score(nb, linalg::IndexOp::create(nb, gl, 0)),
                        scoreThr);
                  linalg::YieldOp::create(
                      nb, gl,
                      arith::ExtUIOp::create(nb, gl, i8, ok).getResult());
                })
                .getResult(0);
        // (out, count, alive, selected so far) while a candidate is left
        // and fewer than perClass are selected.
        SmallVector<Type> types = {outType, idx, aliveType, idx, idx};
        auto loop = scf::WhileOp::create(
            ob, l, TypeRange{types},
            ValueRange{carried[0], carried[1], alive0, cidx(0)},
            [&](OpBuilder &wb, Location wl, ValueRange st) {
              // The best candidate: the first of the highest score.
              Value none = arith::ConstantIntOp::create(wb, wl, 0, 1);
              auto scan = scf::ForOp::create(
                  wb, wl, cidx(0), cidx(n), cidx(1),
                  ValueRange{cidx(0), emitScalar(wb, wl, f32, 0), none},
                  [&](OpBuilder &fb, Location fl, Value i, ValueRange best) {
                    Value a = toBool(fb, fl,
                                     tensor::ExtractOp::create(fb, fl, st[2],
                                                               ValueRange{i}));
                    Value s = score(fb, i);
                    Value higher = arith::CmpFOp::create(
                        fb, fl, arith::CmpFPredicate::OGT, s, best[1]);
                    Value first = arith::XOrIOp::create(
                        fb, fl, best[2],
                        arith::ConstantIntOp::create(fb, fl, 1, 1));
                    Value take = arith::AndIOp::create(
                        fb, fl, a, arith::OrIOp::create(fb, fl, first, higher));
                    scf::YieldOp::create(
                        fb, fl,
                        ValueRange{
                            arith::SelectOp::create(fb, fl, take, i, best[0]),
                            arith::SelectOp::create(fb, fl, take, s, best[1]),
                            arith::OrIOp::create(fb, fl, best[2], take)});
                  });
              Value room = arith::CmpIOp::create(
                  wb, wl, arith::CmpIPredicate::ult, st[3], cidx(perClass));
              Value go = arith::AndIOp::create(wb, wl, room, scan.getResult(2));
              scf::ConditionOp::create(
                  wb, wl, go,
                  ValueRange{st[0], st[1], st[2], st[3], scan.getResult(0)});
            },
            [&](OpBuilder &wb, Location wl, ValueRange st) {
              Value best = st[4];
              Value o = st[0];
              Value row[3] = {bi, ci, best};
              for (int64_t k = 0; k < 3; ++k)
                o = tensor::InsertOp::create(
                    wb, wl, arith::IndexCastOp::create(wb, wl, i64, row[k]), o,
                    ValueRange{st[1],
                               arith::ConstantIndexOp::create(wb, wl, k)});
              SmallVector<Value> bestBox = box(wb, best);
              Value alive =
                  linalg::GenericOp::create(
                      wb, wl, TypeRange{aliveType}, ValueRange{st[2]},
                      ValueRange{tensor::EmptyOp::create(
                          wb, wl, aliveType.getShape(), i8)},
                      ArrayRef<AffineMap>{
                          AffineMap::getMultiDimIdentityMap(1, wb.getContext()),
                          AffineMap::getMultiDimIdentityMap(1,
                                                            wb.getContext())},
                      ArrayRef<utils::IteratorType>{
                          utils::IteratorType::parallel},
                      [&](OpBuilder &nb, Location gl, ValueRange a) {
                        Value i = linalg::IndexOp::create(nb, gl, 0);
                        Value other = arith::CmpIOp::create(
                            nb, gl, arith::CmpIPredicate::ne, i, best);
                        Value gone = suppresses(nb, gl, bestBox, box(nb, i),
                                                center == 1, iouThr);
                        Value keep = arith::AndIOp::create(
                            nb, gl,
                            arith::AndIOp::create(nb, gl, toBool(nb, gl, a[0]),
                                                  other),
                            arith::XOrIOp::create(
                                nb, gl, gone,
                                arith::ConstantIntOp::create(nb, gl, 1, 1)));
                        linalg::YieldOp::create(
                            nb, gl,
                            arith::ExtUIOp::create(nb, gl, i8, keep)
                                .getResult());
                      })
                      .getResult(0);
              Value one = arith::ConstantIndexOp::create(wb, wl, 1);
              scf::YieldOp::create(
                  wb, wl,
                  ValueRange{o, arith::AddIOp::create(wb, wl, st[1], one),
                             alive, arith::AddIOp::create(wb, wl, st[3], one)});
            });
        scf::YieldOp::create(ob, l,
                             ValueRange{loop.getResult(0), loop.getResult(1)});
      });
  ctx.setOutput(0, outer.getResult(0), DType::I64);
  return success();
}

/// GridSample's padding of a tap outside the image.
enum class GridPadding { Zeros, Border, Reflection };

/// The pixel image[n, c, r, col] of a 4-D image for i64 tap coordinates,
/// padded as GridSample pads: zeros outside, the nearest border pixel, or
/// the tap reflected at [lo, hi] (the pixel centers with align_corners,
/// the image edges without).
Value gridPixel(OpBuilder &b, Location l, Value image, Value n, Value c,
                Value r, Value col, ArrayRef<int64_t> hw, GridPadding pad,
                bool alignCorners) {
  Type i64 = b.getI64Type();
  Type elem = cast<RankedTensorType>(image.getType()).getElementType();
  Value zero = emitScalar(b, l, i64, 0);
  SmallVector<Value> taps = {r, col};
  Value inside;
  for (int k = 0; k < 2; ++k) {
    int64_t len = hw[k];
    Value t = taps[k];
    if (pad == GridPadding::Zeros) {
      Value ok = arith::AndIOp::create(
          b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, t, zero),
          arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, t,
                                emitScalar(b, l, i64, len)));
      inside = inside ? (Value)arith::AndIOp::create(b, l, inside, ok) : ok;
    } else if (pad == GridPadding::Reflection) {
      double lo = alignCorners ? 0.0 : -0.5;
      double hi = alignCorners ? len - 1.0 : len - 0.5;
      double range = hi - lo;
      if (range <= 0) {
        t = zero;
      } else {
        // Reflect at the nearer border until inside: the distance past a
        // border, in whole ranges q and a remainder, lands at that border
        // (q even) or the other (q odd).
        Type f = b.getF64Type();
        Value x = arith::SIToFPOp::create(b, l, f, t);
        Value loV = emitScalar(b, l, f, lo), hiV = emitScalar(b, l, f, hi);
        Value rangeV = emitScalar(b, l, f, range);
        Value below =
            arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, x, loV);
        Value above =
            arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, x, hiV);
        Value dist = arith::SelectOp::create(
            b, l, below, arith::SubFOp::create(b, l, loV, x),
            arith::SubFOp::create(b, l, x, hiV));
        Value q = math::FloorOp::create(
            b, l, arith::DivFOp::create(b, l, dist, rangeV));
        Value rem = arith::SubFOp::create(
            b, l, dist, arith::MulFOp::create(b, l, q, rangeV));
        Value qi = arith::FPToSIOp::create(b, l, i64, q);
        Value even = arith::CmpIOp::create(
            b, l, arith::CmpIPredicate::eq,
            arith::AndIOp::create(b, l, qi, emitScalar(b, l, i64, 1)), zero);
        Value fromLo = arith::AddFOp::create(b, l, loV, rem);
        Value fromHi = arith::SubFOp::create(b, l, hiV, rem);
        Value belowX = arith::SelectOp::create(b, l, even, fromLo, fromHi);
        Value aboveX = arith::SelectOp::create(b, l, even, fromHi, fromLo);
        x = arith::SelectOp::create(
            b, l, below, belowX,
            arith::SelectOp::create(b, l, above, aboveX, x));
        t = arith::FPToSIOp::create(b, l, i64, x);
      }
    }
    t = arith::MaxSIOp::create(b, l, t, zero);
    t = arith::MinSIOp::create(b, l, t, emitScalar(b, l, i64, len - 1));
    taps[k] = arith::IndexCastOp::create(b, l, b.getIndexType(), t);
  }
  Value v = tensor::ExtractOp::create(b, l, image,
                                      ValueRange{n, c, taps[0], taps[1]});
  if (inside)
    v = arith::SelectOp::create(b, l, inside, v, emitScalar(b, l, elem, 0));
  return v;
}

/// Keys' cubic convolution weights (alpha -0.75) of the four taps around a
/// point at fraction `t` past the second tap.
SmallVector<Value> cubicWeights(OpBuilder &b, Location l, Value t) {
  Type f = t.getType();
  auto c = [&](double v) { return emitScalar(b, l, f, v); };
  auto add = [&](Value x, Value y) {
    return (Value)arith::AddFOp::create(b, l, x, y);
  };
  auto sub = [&](Value x, Value y) {
    return (Value)arith::SubFOp::create(b, l, x, y);
  };
  auto mul = [&](Value x, Value y) {
    return (Value)arith::MulFOp::create(b, l, x, y);
  };
  const double a = -0.75;
  // |s| in [1, 2]: ((a s - 5a) s + 8a) s - 4a; |s| < 1: ((a + 2) s - (a + 3))
  // s^2 + 1.
  auto outer = [&](Value s) {
    return sub(mul(add(mul(sub(mul(c(a), s), c(5 * a)), s), c(8 * a)), s),
               c(4 * a));
  };
  auto inner = [&](Value s) {
    return add(mul(sub(mul(c(a + 2), s), c(a + 3)), mul(s, s)), c(1));
  };
  Value one = c(1), two = c(2);
  return {outer(add(t, one)), inner(t), inner(sub(one, t)), outer(sub(two, t))};
}

/// GridSample (opset 16 and its 4-D form in later opsets): each output
/// pixel samples the image at the grid's normalized (x, y), bilinear,
/// nearest (half to even) or bicubic, with zeros, border or reflection
/// padding of the taps outside the image.
LogicalResult convertGridSample(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 2)))
    return failure();
  if (ctx.rank(0) != 4)
    return ctx.fail("only 4-D (N, C, H, W) inputs are supported, not rank " +
                    std::to_string(ctx.rank(0)));
  DType t = ctx.dtype(0);
  if (!isFloatDType(t) || ctx.dtype(1) != t)
    return ctx.fail("X and grid must have one float type");
  ArrayRef<int64_t> in = ctx.shape(0), grid = ctx.shape(1);
  if (grid.size() != 4 || grid[0] != in[0] || grid[3] != 2)
    return ctx.fail("grid must be [N, H_out, W_out, 2] with N = " +
                    std::to_string(in[0]) + ", not " + shapeToString(grid));
  std::string mode =
      ctx.attrString("mode", ctx.opset >= 20 ? "linear" : "bilinear");
  if (mode == "linear")
    mode = "bilinear";
  if (mode == "cubic")
    mode = "bicubic";
  if (mode != "bilinear" && mode != "nearest" && mode != "bicubic")
    return ctx.fail("unknown mode '" + mode + "'");
  std::string padName = ctx.attrString("padding_mode", "zeros");
  GridPadding pad;
  if (padName == "zeros")
    pad = GridPadding::Zeros;
  else if (padName == "border")
    pad = GridPadding::Border;
  else if (padName == "reflection")
    pad = GridPadding::Reflection;
  else
    return ctx.fail("unknown padding_mode '" + padName + "'");
  bool align = ctx.attrInt("align_corners", 0);
  SmallVector<int64_t> hw = {in[2], in[3]};
  if (hw[0] == 0 || hw[1] == 0)
    return ctx.fail("the image is empty");
  SmallVector<int64_t> outShape = {in[0], in[1], grid[1], grid[2]};
  Value image = ctx.value(0), gridV = ctx.value(1);
  Type elem = ctx.elemType(t);
  Value r = emitElementwise(
      ctx.b, ctx.loc, ValueRange{}, outShape, elem,
      [&](OpBuilder &b, Location l, ValueRange) -> Value {
        Type i64 = b.getI64Type();
        Value n = linalg::IndexOp::create(b, l, 0);
        Value c = linalg::IndexOp::create(b, l, 1);
        Value oy = linalg::IndexOp::create(b, l, 2);
        Value ox = linalg::IndexOp::create(b, l, 3);
        auto cst = [&](double v) { return emitScalar(b, l, elem, v); };
        // Image coordinates of the grid point, kept in a range where the
        // integer conversions are defined (NaN becomes the bound).
        auto coord = [&](int64_t comp, int64_t len) -> Value {
          Value g = tensor::ExtractOp::create(
              b, l, gridV,
              ValueRange{n, oy, ox,
                         arith::ConstantIndexOp::create(b, l, comp)});
          Value one = cst(1);
          Value v =
              align
                  ? (Value)arith::MulFOp::create(
                        b, l,
                        arith::DivFOp::create(
                            b, l, arith::AddFOp::create(b, l, g, one), cst(2)),
                        cst(len - 1))
                  : (Value)arith::DivFOp::create(
                        b, l,
                        arith::SubFOp::create(
                            b, l,
                            arith::MulFOp::create(
                                b, l, arith::AddFOp::create(b, l, g, one),
                                cst(len)),
                            one),
                        cst(2));
          double bound = 4.0 * len + 1e6;
          v = arith::MaxNumFOp::create(b, l, v, cst(-bound));
          return arith::MinNumFOp::create(b, l, v, cst(bound));
        };
        Value x = coord(0, hw[1]), y = coord(1, hw[0]);
        auto toInt = [&](Value v) -> Value {
          return arith::FPToSIOp::create(b, l, i64, v);
        };
        auto pixel = [&](Value row, Value col) {
          return gridPixel(b, l, image, n, c, row, col, hw, pad, align);
        };
        auto add = [&](Value p, Value q) -> Value {
          return arith::AddFOp::create(b, l, p, q);
        };
        auto mul = [&](Value p, Value q) -> Value {
          return arith::MulFOp::create(b, l, p, q);
        };
        if (mode == "nearest")
          return pixel(toInt(math::RoundEvenOp::create(b, l, y)),
                       toInt(math::RoundEvenOp::create(b, l, x)));
        Value fx = math::FloorOp::create(b, l, x);
        Value fy = math::FloorOp::create(b, l, y);
        Value dx = arith::SubFOp::create(b, l, x, fx);
        Value dy = arith::SubFOp::create(b, l, y, fy);
        Value x1 = toInt(fx), y1 = toInt(fy);
        auto offset = [&](Value v, int64_t k) -> Value {
          return arith::AddIOp::create(b, l, v, emitScalar(b, l, i64, k));
        };
        if (mode == "bilinear") {
          Value x2 = offset(x1, 1), y2 = offset(y1, 1);
          Value wx1 = dx, wx2 = arith::SubFOp::create(b, l, cst(1), dx);
          Value wy1 = dy, wy2 = arith::SubFOp::create(b, l, cst(1), dy);
          Value top = add(mul(wx2, pixel(y1, x1)), mul(wx1, pixel(y1, x2)));
          Value bottom = add(mul(wx2, pixel(y2, x1)), mul(wx1, pixel(y2, x2)));
          return add(mul(wy2, top), mul(wy1, bottom));
        }
        SmallVector<Value> cx = cubicWeights(b, l, dx),
                           cy = cubicWeights(b, l, dy);
        Value sum;
        for (int64_t i = 0; i < 4; ++i) {
          Value row;
          for (int64_t j = 0; j < 4; ++j) {
            Value p = mul(cx[j], pixel(offset(y1, i - 1), offset(x1, j - 1)));
            row = row ? add(row, p) : p;
          }
          Value term = mul(cy[i], row);
          sum = sum ? add(sum, term) : term;
        }
        return sum;
      });
  ctx.setOutput(0, r, t);
  return success();
}

/// RoiAlign: each output bin of a region averages (or, mode max, takes the
/// largest of) a grid of bilinear samples, as ONNX Runtime computes them.
/// The sample grid is sampling_ratio^2 per bin, or with sampling_ratio 0
/// ceil(roi size / bins) per region, which then needs the regions at
/// compile time. One generic over [R, C, oh, ow] with the grid as reduction
/// dims (grids smaller than the largest are masked), then the average.
LogicalResult convertRoiAlign(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 3)))
    return failure();
  if (ctx.rank(0) != 4)
    return ctx.fail("X must be 4-D (N, C, H, W), not rank " +
                    std::to_string(ctx.rank(0)));
  DType t = ctx.dtype(0);
  if (!isFloatDType(t) || ctx.dtype(1) != t)
    return ctx.fail("X and rois must have one float type");
  ArrayRef<int64_t> in = ctx.shape(0);
  int64_t numRois = ctx.shape(1).empty() ? -1 : ctx.shape(1)[0];
  if (ctx.rank(1) != 2 || ctx.shape(1)[1] != 4)
    return ctx.fail("rois must be [num_rois, 4], not " +
                    shapeToString(ctx.shape(1)));
  if (!isIndexDType(ctx.dtype(2)) || ctx.shape(2) != ArrayRef<int64_t>{numRois})
    return ctx.fail("batch_indices must be an integer vector of " +
                    std::to_string(numRois) + " entries");
  std::string mode = ctx.attrString("mode", "avg");
  if (mode != "avg" && mode != "max")
    return ctx.fail("unknown mode '" + mode + "' (expected avg or max)");
  bool isMax = mode == "max";
  std::string ctm =
      ctx.attrString("coordinate_transformation_mode",
                     ctx.opset >= 16 ? "half_pixel" : "output_half_pixel");
  if (ctm != "half_pixel" && ctm != "output_half_pixel")
    return ctx.fail("unknown coordinate_transformation_mode '" + ctm + "'");
  bool halfPixel = ctm == "half_pixel";
  int64_t oh = ctx.attrInt("output_height", 1),
          ow = ctx.attrInt("output_width", 1);
  int64_t ratio = ctx.attrInt("sampling_ratio", 0);
  float scale = ctx.attrFloat("spatial_scale", 1.0f);
  if (oh < 1 || ow < 1 || ratio < 0)
    return ctx.fail("output_height and output_width must be positive and "
                    "sampling_ratio non-negative");
  int64_t height = in[2], width = in[3];
  if (height == 0 || width == 0 || (in[0] == 0 && numRois > 0))
    return ctx.fail("X is empty");
  float offset = halfPixel ? 0.5f : 0.0f;
  // Grid sizes per region: sampling_ratio, or computed from known regions
  // in float as ONNX Runtime does.
  int64_t gridH = ratio, gridW = ratio;
  HostTensor gridTable(DType::I64, {std::max<int64_t>(numRois, 0), 2});
  if (ratio == 0) {
    const HostTensor *rois = ctx.host(1);
    if (!rois)
      return ctx.fail("with sampling_ratio 0 the rois must be known at "
                      "compile time (they decide the number of samples)");
    gridH = gridW = 0;
    for (int64_t r = 0; r < numRois; ++r) {
      float x1 = (float)rois->getF(r * 4) * scale - offset;
      float y1 = (float)rois->getF(r * 4 + 1) * scale - offset;
      float x2 = (float)rois->getF(r * 4 + 2) * scale - offset;
      float y2 = (float)rois->getF(r * 4 + 3) * scale - offset;
      float rw = x2 - x1, rh = y2 - y1;
      if (!halfPixel) {
        rw = std::max(rw, 1.0f);
        rh = std::max(rh, 1.0f);
      }
      float gh = std::ceil(rh / (float)oh), gw = std::ceil(rw / (float)ow);
      if (!(gh >= 0 && gh <= 1024 && gw >= 0 && gw <= 1024))
        return ctx.fail("region " + std::to_string(r) +
                        " needs a sample grid larger than 1024");
      gridTable.i[r * 2] = (int64_t)gh;
      gridTable.i[r * 2 + 1] = (int64_t)gw;
      gridH = std::max(gridH, (int64_t)gh);
      gridW = std::max(gridW, (int64_t)gw);
    }
  }
  int64_t loopH = std::max<int64_t>(gridH, 1),
          loopW = std::max<int64_t>(gridW, 1);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  MLIRContext *mctx = ctx.ctx();
  Type elem = ctx.elemType(t);
  Type i64 = b.getI64Type();
  Value x = ctx.value(0), roisV = ctx.value(1), batchV = ctx.value(2);
  DType batchT = ctx.dtype(2);
  Value tableV =
      ratio == 0 ? emitConstant(b, loc, gridTable, SIZE_MAX) : Value();
  SmallVector<int64_t> outShape = {numRois, in[1], oh, ow};
  auto outMap = AffineMap::getMultiDimIdentityMap(4, mctx);
  // The grid dims get their sizes from an (unread) [loopH, loopW] operand.
  Value gridDims = tensor::EmptyOp::create(b, loc, {loopH, loopW}, elem);
  SmallVector<AffineMap> maps = {
      AffineMap::get(
          6, 0, {getAffineDimExpr(4, mctx), getAffineDimExpr(5, mctx)}, mctx),
      AffineMap::get(6, 0, outMap.getResults(), mctx)};
  SmallVector<utils::IteratorType> iters(4, utils::IteratorType::parallel);
  iters.append(2, utils::IteratorType::reduction);
  Value init = tensor::EmptyOp::create(b, loc, outShape, elem);
  Value initV = emitScalar(b, loc, elem, 0);
  if (isMax)
    initV = emitReduceInit(b, loc, elem, ReduceKind::Max, false);
  init = linalg::FillOp::create(b, loc, ValueRange{initV}, ValueRange{init})
             .getResult(0);
  // The grid size of region r along `k` (0: height, 1: width), as i64.
  auto gridOf = [&](OpBuilder &nb, Location l, Value r, int64_t k) -> Value {
    if (!tableV)
      return emitScalar(nb, l, i64, ratio);
    return tensor::ExtractOp::create(
        nb, l, tableV, ValueRange{r, arith::ConstantIndexOp::create(nb, l, k)});
  };
  Value acc =
      linalg::GenericOp::create(
          b, loc, TypeRange{init.getType()}, ValueRange{gridDims},
          ValueRange{init}, maps, iters,
          [&](OpBuilder &nb, Location l, ValueRange a) {
            auto cst = [&](double v) { return emitScalar(nb, l, elem, v); };
            auto fadd = [&](Value p, Value q) -> Value {
              return arith::AddFOp::create(nb, l, p, q);
            };
            auto fsub = [&](Value p, Value q) -> Value {
              return arith::SubFOp::create(nb, l, p, q);
            };
            auto fmul = [&](Value p, Value q) -> Value {
              return arith::MulFOp::create(nb, l, p, q);
            };
            auto fdiv = [&](Value p, Value q) -> Value {
              return arith::DivFOp::create(nb, l, p, q);
            };
            auto flt = [&](Value p, Value q) -> Value {
              return arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OLT, p,
                                           q);
            };
            Value r = linalg::IndexOp::create(nb, l, 0);
            Value c = linalg::IndexOp::create(nb, l, 1);
            Value ph = linalg::IndexOp::create(nb, l, 2);
            Value pw = linalg::IndexOp::create(nb, l, 3);
            Value iy = linalg::IndexOp::create(nb, l, 4);
            Value ix = linalg::IndexOp::create(nb, l, 5);
            auto toFloat = [&](Value idx) -> Value {
              return arith::SIToFPOp::create(
                  nb, l, elem, arith::IndexCastOp::create(nb, l, i64, idx));
            };
            Value bi = tensor::ExtractOp::create(nb, l, batchV, ValueRange{r});
            bi = castScalar(nb, l, bi, batchT, DType::I64);
            bi = arith::MaxSIOp::create(nb, l, bi, emitScalar(nb, l, i64, 0));
            bi = arith::MinSIOp::create(nb, l, bi,
                                        emitScalar(nb, l, i64, in[0] - 1));
            bi = arith::IndexCastOp::create(nb, l, nb.getIndexType(), bi);
            auto roi = [&](int64_t k) -> Value {
              Value v = tensor::ExtractOp::create(
                  nb, l, roisV,
                  ValueRange{r, arith::ConstantIndexOp::create(nb, l, k)});
              return fsub(fmul(v, cst(scale)), cst(offset));
            };
            Value x1 = roi(0), y1 = roi(1), x2 = roi(2), y2 = roi(3);
            Value rw = fsub(x2, x1), rh = fsub(y2, y1);
            if (!halfPixel) {
              rw = arith::MaximumFOp::create(nb, l, rw, cst(1));
              rh = arith::MaximumFOp::create(nb, l, rh, cst(1));
            }
            Value binH = fdiv(rh, cst(oh)), binW = fdiv(rw, cst(ow));
            Value gh = gridOf(nb, l, r, 0), gw = gridOf(nb, l, r, 1);
            Value active = arith::AndIOp::create(
                nb, l,
                arith::CmpIOp::create(
                    nb, l, arith::CmpIPredicate::slt,
                    arith::IndexCastOp::create(nb, l, i64, iy), gh),
                arith::CmpIOp::create(
                    nb, l, arith::CmpIPredicate::slt,
                    arith::IndexCastOp::create(nb, l, i64, ix), gw));
            // Masked-off samples divide by a grid of at least 1.
            auto gridF = [&](Value g) -> Value {
              g = arith::MaxSIOp::create(nb, l, g, emitScalar(nb, l, i64, 1));
              return arith::SIToFPOp::create(nb, l, elem, g);
            };
            Value yy =
                fadd(fadd(y1, fmul(toFloat(ph), binH)),
                     fdiv(fmul(fadd(toFloat(iy), cst(0.5)), binH), gridF(gh)));
            Value xx =
                fadd(fadd(x1, fmul(toFloat(pw), binW)),
                     fdiv(fmul(fadd(toFloat(ix), cst(0.5)), binW), gridF(gw)));
            // Samples more than a pixel outside contribute 0.
            Value outside = arith::OrIOp::create(
                nb, l,
                arith::OrIOp::create(nb, l, flt(yy, cst(-1)),
                                     flt(cst(height), yy)),
                arith::OrIOp::create(nb, l, flt(xx, cst(-1)),
                                     flt(cst(width), xx)));
            // One axis: the low tap, the high tap and the weight of the high
            // one (clamped at the last pixel; NaN becomes the bound).
            auto axis = [&](Value v, int64_t len) {
              v = arith::MaxNumFOp::create(nb, l, v, cst(0));
              v = arith::MinNumFOp::create(nb, l, v, cst(len - 1));
              Value lo = arith::FPToSIOp::create(nb, l, i64, v);
              Value last = emitScalar(nb, l, i64, len - 1);
              Value atEnd = arith::CmpIOp::create(
                  nb, l, arith::CmpIPredicate::sge, lo, last);
              Value hi = arith::SelectOp::create(
                  nb, l, atEnd, last,
                  arith::AddIOp::create(nb, l, lo, emitScalar(nb, l, i64, 1)));
              Value frac = arith::SelectOp::create(
                  nb, l, atEnd, cst(0),
                  fsub(v, arith::SIToFPOp::create(nb, l, elem, lo)));
              auto idx = [&](Value i) -> Value {
                return arith::IndexCastOp::create(nb, l, nb.getIndexType(), i);
              };
              return std::make_tuple(idx(lo), idx(hi), frac);
            };
            auto [yl, yh, ly] = axis(yy, height);
            auto [xl, xh, lx] = axis(xx, width);
            Value hy = fsub(cst(1), ly), hx = fsub(cst(1), lx);
            auto px = [&](Value row, Value col) -> Value {
              return tensor::ExtractOp::create(nb, l, x,
                                               ValueRange{bi, c, row, col});
            };
            SmallVector<Value> parts = {
                fmul(fmul(hy, hx), px(yl, xl)), fmul(fmul(hy, lx), px(yl, xh)),
                fmul(fmul(ly, hx), px(yh, xl)), fmul(fmul(ly, lx), px(yh, xh))};
            Value v;
            for (Value p : parts)
              v = !v      ? p
                  : isMax ? (Value)arith::MaximumFOp::create(nb, l, v, p)
                          : fadd(v, p);
            v = arith::SelectOp::create(nb, l, outside, cst(0), v);
            Value next;
            if (isMax) {
              v = arith::SelectOp::create(nb, l, active, v, initV);
              next = arith::MaximumFOp::create(nb, l, a[1], v);
            } else {
              v = arith::SelectOp::create(nb, l, active, v, cst(0));
              next = fadd(a[1], v);
            }
            linalg::YieldOp::create(nb, l, next);
          })
          .getResult(0);
  // avg: divide by the region's grid size (at least 1); max: a region
  // without samples is 0.
  Value y = emitElementwise(
      b, loc, acc, outShape, elem,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value r = linalg::IndexOp::create(nb, l, 0);
        Value count = arith::MulIOp::create(nb, l, gridOf(nb, l, r, 0),
                                            gridOf(nb, l, r, 1));
        if (isMax) {
          Value none = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq,
                                             count, emitScalar(nb, l, i64, 0));
          return arith::SelectOp::create(nb, l, none,
                                         emitScalar(nb, l, elem, 0), a[0]);
        }
        count = arith::MaxSIOp::create(nb, l, count, emitScalar(nb, l, i64, 1));
        return arith::DivFOp::create(
            nb, l, a[0], arith::SIToFPOp::create(nb, l, elem, count));
      });
  ctx.setOutput(0, y, t);
  return success();
}

} // namespace

void appendSamplingConverters(std::vector<ConverterEntry> &t) {
  t.push_back({"", "GridSample", 16, convertGridSample});
  t.push_back({"", "RoiAlign", 10, convertRoiAlign});
  t.push_back({"", "NonMaxSuppression", 10, convertNonMaxSuppression});
}

} // namespace qopt::onnx_frontend
