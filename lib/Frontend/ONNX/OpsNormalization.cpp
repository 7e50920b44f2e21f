//===- OpsNormalization.cpp - ONNX softmax and normalization ops -----------===//
//
// Softmax-family ops and the normalizations, composed from the shared
// reduction and elementwise builders so their loops fuse downstream.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

Value ew(OpBuilder &b, Location loc, ValueRange ins, ArrayRef<int64_t> shape,
         Type elem, const ScalarBodyFn &fn) {
  return emitElementwise(b, loc, ins, shape, elem, fn);
}

/// Softmax, LogSoftmax and Hardmax. Opset < 13 flattens to 2-D at `axis`
/// (default 1); opset 13 normalizes along `axis` alone (default -1).
LogicalResult convertSoftmaxFamily(NodeContext &ctx) {
  StringRef op = ctx.opType();
  if (!isFloatDType(ctx.dtype(0)))
    return ctx.fail("expects a floating-point input");
  int64_t rank = ctx.rank(0);
  bool legacy = ctx.opset < 13;
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", legacy ? 1 : -1), rank);
  if (failed(axis))
    return failure();
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  SmallVector<int64_t> shape(ctx.shape(0));
  SmallVector<int64_t> axes;
  if (legacy) {
    int64_t outer = shapeProduct(ArrayRef<int64_t>(shape).take_front(*axis));
    x = emitReshape(b, loc, x, {outer, shapeProduct(shape) / outer});
    axes = {1};
  } else {
    axes = {*axis};
  }
  auto xs = cast<RankedTensorType>(x.getType()).getShape();
  SmallVector<int64_t> xShape(xs);
  Type elem = ctx.elemType(ctx.dtype(0));
  Value r;
  if (op == "Hardmax") {
    // One-hot of the first maximum along the axis.
    Value m = emitReduce(b, loc, x, axes, true, ReduceKind::Max, false);
    Value isMax = ew(b, loc, {x, m}, xShape, b.getI8Type(),
                     [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                       return boolToByte(nb, l, arith::CmpFOp::create(
                           nb, l, arith::CmpFPredicate::OEQ, a[0], a[1]));
                     });
    // Index of the first max: min over (isMax ? idx : n).
    int64_t n = xShape[axes[0]], ax = axes[0];
    Value idxs = ew(b, loc, {isMax}, xShape, b.getI64Type(),
                    [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                      Value i = arith::IndexCastOp::create(
                          nb, l, nb.getI64Type(), linalg::IndexOp::create(nb, l, ax));
                      return arith::SelectOp::create(
                          nb, l, scalarTruth(nb, l, a[0]), i,
                          emitScalar(nb, l, nb.getI64Type(), (double)n));
                    });
    Value first = emitReduce(b, loc, idxs, axes, true, ReduceKind::Min, false);
    r = ew(b, loc, {first}, xShape, elem,
           [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
             Value i = arith::IndexCastOp::create(
                 nb, l, nb.getI64Type(), linalg::IndexOp::create(nb, l, ax));
             Value eq = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq,
                                              i, a[0]);
             return arith::SelectOp::create(nb, l, eq, emitScalar(nb, l, elem, 1.0),
                                            emitScalar(nb, l, elem, 0.0));
           });
  } else {
    Value m = emitReduce(b, loc, x, axes, true, ReduceKind::Max, false);
    Value e = ew(b, loc, {x, m}, xShape, elem,
                 [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                   return math::ExpOp::create(
                       nb, l, arith::SubFOp::create(nb, l, a[0], a[1]));
                 });
    Value s = emitReduce(b, loc, e, axes, true, ReduceKind::Sum, false);
    if (op == "Softmax") {
      r = ew(b, loc, {e, s}, xShape, elem,
             [](OpBuilder &nb, Location l, ValueRange a) -> Value {
               return arith::DivFOp::create(nb, l, a[0], a[1]);
             });
    } else {
      r = ew(b, loc, {x, m, s}, xShape, elem,
             [](OpBuilder &nb, Location l, ValueRange a) -> Value {
               Value shifted = arith::SubFOp::create(nb, l, a[0], a[1]);
               return arith::SubFOp::create(nb, l, shifted,
                                            math::LogOp::create(nb, l, a[2]));
             });
    }
  }
  ctx.setOutput(0, emitReshape(b, loc, r, shape), ctx.dtype(0));
  return success();
}

Normalized normalize(OpBuilder &b, Location loc, Value x,
                     ArrayRef<int64_t> axes, double eps) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape(type.getShape());
  Type elem = type.getElementType();
  int64_t count = 1;
  for (int64_t a : axes)
    count *= shape[a];
  Value sum = emitReduce(b, loc, x, axes, true, ReduceKind::Sum, false);
  auto keptShape = cast<RankedTensorType>(sum.getType()).getShape();
  SmallVector<int64_t> kept(keptShape);
  Value mean = ew(b, loc, {sum}, kept, elem,
                  [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                    return arith::DivFOp::create(
                        nb, l, a[0], emitScalar(nb, l, elem, (double)count));
                  });
  Value centered = ew(b, loc, {x, mean}, shape, elem,
                      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        return arith::SubFOp::create(nb, l, a[0], a[1]);
                      });
  Value sq = emitReduce(b, loc, centered, axes, true, ReduceKind::Sum, false,
                        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          return arith::MulFOp::create(nb, l, a[0], a[0]);
                        });
  Value invStd = ew(b, loc, {sq}, kept, elem,
                    [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                      Value var = arith::DivFOp::create(
                          nb, l, a[0], emitScalar(nb, l, elem, (double)count));
                      Value v = arith::AddFOp::create(nb, l, var,
                                                      emitScalar(nb, l, elem, eps));
                      return math::RsqrtOp::create(nb, l, v);
                    });
  Value y = ew(b, loc, {centered, invStd}, shape, elem,
               [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                 return arith::MulFOp::create(nb, l, a[0], a[1]);
               });
  return {y, mean, invStd};
}

LogicalResult convertLayerNorm(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", -1), rank);
  if (failed(axis))
    return failure();
  // Scale and bias broadcast to the input (unidirectionally); one of
  // another shape gave the elementwise op invalid indexing maps (found by
  // the import fuzzer).
  ArrayRef<int64_t> xShape = ctx.shape(0);
  for (unsigned i = 1; i < 3 && ctx.hasInput(i); ++i) {
    ArrayRef<int64_t> s = ctx.shape(i);
    SmallVector<int64_t> joint;
    if (!broadcastShapes(xShape, s, joint) ||
        ArrayRef<int64_t>(joint) != xShape)
      return ctx.fail(std::string(i == 1 ? "scale" : "bias") + " " +
                      shapeToString(s) + " does not broadcast to the input " +
                      shapeToString(xShape));
  }
  double eps = ctx.attrFloat("epsilon", 1e-5f);
  SmallVector<int64_t> axes;
  for (int64_t d = *axis; d < rank; ++d)
    axes.push_back(d);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  DType t = ctx.dtype(0);
  Value x = ctx.value(0);
  // Half-precision inputs are normalized in f32 (stash_type = 1).
  DType compute = ctx.attrInt("stash_type", 1) == 1 && t != DType::F64
                      ? DType::F32 : t;
  x = emitCast(b, loc, x, t, compute);
  Normalized n = normalize(b, loc, x, axes, eps);
  SmallVector<int64_t> shape(ctx.shape(0));
  SmallVector<Value> ins = {emitCast(b, loc, n.y, compute, t), ctx.value(1)};
  if (ctx.hasInput(2))
    ins.push_back(ctx.value(2));
  Value y = ew(b, loc, ins, shape, ctx.elemType(t),
               [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                 Value v = arith::MulFOp::create(nb, l, a[0], a[1]);
                 if (a.size() > 2)
                   v = arith::AddFOp::create(nb, l, v, a[2]);
                 return v;
               });
  ctx.setOutput(0, y, t);
  if (ctx.hasOutput(1))
    ctx.setOutput(1, n.mean, compute);
  if (ctx.hasOutput(2))
    ctx.setOutput(2, n.invStd, compute);
  return success();
}

LogicalResult convertInstanceNorm(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  if (rank < 3)
    return ctx.fail("expects an input of rank >= 3 (N, C, spatial...)");
  double eps = ctx.attrFloat("epsilon", 1e-5f);
  SmallVector<int64_t> axes;
  for (int64_t d = 2; d < rank; ++d)
    axes.push_back(d);
  SmallVector<int64_t> shape(ctx.shape(0));
  int64_t c = shape[1];
  for (unsigned i = 1; i <= 2; ++i)
    if (ctx.rank(i) != 1 || shapeProduct(ctx.shape(i)) != c)
      return ctx.fail(std::string(i == 1 ? "scale" : "B") + " has shape [" +
                      shapeToString(ctx.shape(i)) + "], expected [" +
                      std::to_string(c) + "] (one value per channel)");
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Normalized n = normalize(b, loc, ctx.value(0), axes, eps);
  SmallVector<int64_t> chanShape(rank, 1);
  chanShape[1] = c;
  Value scale = emitReshape(b, loc, ctx.value(1), chanShape);
  Value bias = emitReshape(b, loc, ctx.value(2), chanShape);
  Value y = ew(b, loc, {n.y, scale, bias}, shape, ctx.elemType(ctx.dtype(0)),
               [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                 return arith::AddFOp::create(
                     nb, l, arith::MulFOp::create(nb, l, a[0], a[1]), a[2]);
               });
  ctx.setOutput(0, y, ctx.dtype(0));
  return success();
}

/// GroupNormalization: statistics over each group of `num_groups`
/// channels (with the spatial dims), then an affine map whose scale and
/// bias have one entry per group (opset 18) or per channel (opset 21).
LogicalResult convertGroupNorm(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  if (rank < 2)
    return ctx.fail("expects an input of rank >= 2 (N, C, spatial...)");
  if (!ctx.hasAttr("num_groups"))
    return ctx.fail("the num_groups attribute is required");
  int64_t groups = ctx.attrInt("num_groups", 1);
  SmallVector<int64_t> shape(ctx.shape(0));
  int64_t n = shape[0], c = shape[1];
  if (groups <= 0 || c % groups != 0)
    return ctx.fail("num_groups " + std::to_string(groups) +
                    " does not divide the " + std::to_string(c) + " channels");
  int64_t affineSize = ctx.opset >= 21 ? c : groups;
  for (unsigned i = 1; i <= 2; ++i)
    if (shapeProduct(ctx.shape(i)) != affineSize || ctx.rank(i) != 1)
      return ctx.fail("input " + std::to_string(i) + " has shape " +
                      shapeToString(ctx.shape(i)) + ", expected [" +
                      std::to_string(affineSize) + "] (one entry per " +
                      (ctx.opset >= 21 ? "channel" : "group") + " at opset " +
                      std::to_string(ctx.opset) + ")");
  double eps = ctx.attrFloat("epsilon", 1e-5f);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  DType t = ctx.dtype(0);
  DType compute =
      ctx.attrInt("stash_type", 1) == 1 && t != DType::F64 ? DType::F32 : t;
  int64_t perGroup = c / groups;
  int64_t spatial = shapeProduct(ArrayRef<int64_t>(shape).drop_front(2));
  // [N, G, C/G, S]: a group's statistics are over its last two axes.
  SmallVector<int64_t> grouped = {n, groups, perGroup, spatial};
  Value x =
      emitReshape(b, loc, emitCast(b, loc, ctx.value(0), t, compute), grouped);
  Normalized norm = normalize(b, loc, x, {2, 3}, eps);
  SmallVector<int64_t> affineShape = {1, groups, ctx.opset >= 21 ? perGroup : 1,
                                      1};
  Value scale =
      emitReshape(b, loc, emitCast(b, loc, ctx.value(1), ctx.dtype(1), compute),
                  affineShape);
  Value bias =
      emitReshape(b, loc, emitCast(b, loc, ctx.value(2), ctx.dtype(2), compute),
                  affineShape);
  Value y = ew(b, loc, {norm.y, scale, bias}, grouped, ctx.elemType(compute),
               [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                 return arith::AddFOp::create(
                     nb, l, arith::MulFOp::create(nb, l, a[0], a[1]), a[2]);
               });
  y = emitCast(b, loc, emitReshape(b, loc, y, shape), compute, t);
  ctx.setOutput(0, y, t);
  return success();
}

LogicalResult convertBatchNorm(NodeContext &ctx) {
  if (ctx.attrInt("training_mode", 0))
    return ctx.fail("training_mode=1 is not supported");
  int64_t rank = ctx.rank(0);
  if (rank < 2)
    return ctx.fail("expects an input of rank >= 2");
  double eps = ctx.attrFloat("epsilon", 1e-5f);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<int64_t> shape(ctx.shape(0));
  SmallVector<int64_t> chanShape(rank, 1);
  chanShape[1] = shape[1];
  SmallVector<Value> ins = {ctx.value(0)};
  for (unsigned i = 1; i <= 4; ++i) {
    if (shapeProduct(ctx.shape(i)) != shape[1])
      return ctx.fail("input " + std::to_string(i) + " has shape " +
                      shapeToString(ctx.shape(i)) + ", expected " +
                      std::to_string(shape[1]) + " channels");
    Value v = emitReshape(b, loc, ctx.value(i), chanShape);
    ins.push_back(emitCast(b, loc, v, ctx.dtype(i), ctx.dtype(0)));
  }
  Type elem = ctx.elemType(ctx.dtype(0));
  Value y = ew(b, loc, ins, shape, elem,
               [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                 Value x = a[0], scale = a[1], bias = a[2], mean = a[3], var = a[4];
                 Value inv = math::RsqrtOp::create(
                     nb, l, arith::AddFOp::create(nb, l, var,
                                                  emitScalar(nb, l, elem, eps)));
                 Value c = arith::MulFOp::create(
                     nb, l, arith::SubFOp::create(nb, l, x, mean), inv);
                 return arith::AddFOp::create(
                     nb, l, arith::MulFOp::create(nb, l, c, scale), bias);
               });
  ctx.setOutput(0, y, ctx.dtype(0));
  return success();
}

} // namespace

Normalized normalizeMeanVariance(OpBuilder &b, Location loc, Value x,
                                 ArrayRef<int64_t> axes, double eps) {
  return normalize(b, loc, x, axes, eps);
}

void appendNormalizationConverters(std::vector<ConverterEntry> &t) {
  for (const char *op : {"Softmax", "LogSoftmax", "Hardmax"})
    t.push_back({"", op, 1, convertSoftmaxFamily});
  t.push_back({"", "LayerNormalization", 17, convertLayerNorm});
  t.push_back({"", "InstanceNormalization", 1, convertInstanceNorm});
  t.push_back({"", "BatchNormalization", 1, convertBatchNorm});
  t.push_back({"", "GroupNormalization", 18, convertGroupNorm});
}

} // namespace qopt::onnx_frontend
