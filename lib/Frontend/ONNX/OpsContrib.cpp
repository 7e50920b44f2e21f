//===- OpsContrib.cpp - com.microsoft transformer ops
//----------------------===//
//
// The fused ops ONNX Runtime's transformer optimizer and exporters write
// into published models: FusedMatMul, the Gelu variants, BiasAdd, the skip
// and simplified (RMS) layer normalizations, RotaryEmbedding and the
// attention ops. Each is composed from the same builders as the standard
// ops, so a fused model imports to the IR its unfused form would: weight
// products are the matmuls the quantizer recognizes, and attention is two
// tosa.matmul products of activations around a softmax, as exporters spell
// it with MatMul and Softmax.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

SmallVector<int64_t> shapeOf(Value v) {
  return SmallVector<int64_t>(cast<RankedTensorType>(v.getType()).getShape());
}

LogicalResult requireFloat(NodeContext &ctx, unsigned i) {
  if (!isFloatDType(ctx.dtype(i)))
    return ctx.fail("input " + std::to_string(i) +
                    " must be floating-point, got " + dtypeName(ctx.dtype(i)));
  return success();
}

/// The broadcast shape of the present inputs among `idxs`.
FailureOr<SmallVector<int64_t>> broadcastInputs(NodeContext &ctx,
                                                ArrayRef<unsigned> idxs) {
  SmallVector<int64_t> shape;
  bool seeded = false;
  for (unsigned i : idxs) {
    if (!ctx.hasInput(i))
      continue;
    SmallVector<int64_t> next;
    if (!seeded) {
      next.assign(ctx.shape(i).begin(), ctx.shape(i).end());
    } else if (!broadcastShapes(shape, ctx.shape(i), next)) {
      (void)ctx.fail("input shapes " + shapeToString(shape) + " and " +
                     shapeToString(ctx.shape(i)) + " do not broadcast");
      return failure();
    }
    shape = next;
    seeded = true;
  }
  return shape;
}

Value sumScalars(OpBuilder &b, Location loc, ValueRange xs) {
  Value acc = xs[0];
  for (Value x : xs.drop_front())
    acc = arith::AddFOp::create(b, loc, acc, x);
  return acc;
}

Value cst(OpBuilder &b, Location loc, Value like, double v) {
  return emitScalar(b, loc, like.getType(), v);
}

/// 0.5 x (1 + erf(x / sqrt(2))).
Value geluErf(OpBuilder &b, Location loc, Value x) {
  Value e = math::ErfOp::create(
      b, loc, arith::MulFOp::create(b, loc, x, cst(b, loc, x, M_SQRT1_2)));
  Value half = arith::MulFOp::create(b, loc, x, cst(b, loc, x, 0.5));
  return arith::MulFOp::create(
      b, loc, half, arith::AddFOp::create(b, loc, cst(b, loc, x, 1.0), e));
}

/// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
Value geluTanh(OpBuilder &b, Location loc, Value x) {
  Value x3 =
      arith::MulFOp::create(b, loc, x, arith::MulFOp::create(b, loc, x, x));
  Value inner = arith::AddFOp::create(
      b, loc, x, arith::MulFOp::create(b, loc, cst(b, loc, x, 0.044715), x3));
  Value t = math::TanhOp::create(
      b, loc,
      arith::MulFOp::create(b, loc, cst(b, loc, x, std::sqrt(2.0 / M_PI)),
                            inner));
  Value half = arith::MulFOp::create(b, loc, x, cst(b, loc, x, 0.5));
  return arith::MulFOp::create(
      b, loc, half, arith::AddFOp::create(b, loc, cst(b, loc, x, 1.0), t));
}

/// One elementwise generic over the broadcast of the present inputs
/// `idxs`, whose scalars are summed before `fn` (the fused bias adds).
LogicalResult
convertSumThen(NodeContext &ctx, ArrayRef<unsigned> idxs,
               const std::function<Value(OpBuilder &, Location, Value)> &fn) {
  for (unsigned i : idxs)
    if (ctx.hasInput(i) && failed(requireFloat(ctx, i)))
      return failure();
  auto shape = broadcastInputs(ctx, idxs);
  if (failed(shape))
    return failure();
  SmallVector<Value> ins;
  for (unsigned i : idxs)
    if (ctx.hasInput(i))
      ins.push_back(
          emitCast(ctx.b, ctx.loc, ctx.value(i), ctx.dtype(i), ctx.dtype(0)));
  Value r =
      emitElementwise(ctx.b, ctx.loc, ins, *shape, ctx.elemType(ctx.dtype(0)),
                      [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                        Value s = sumScalars(b, loc, a);
                        return fn ? fn(b, loc, s) : s;
                      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult convertGelu(NodeContext &ctx) {
  return convertSumThen(ctx, {0}, geluErf);
}
LogicalResult convertBiasGelu(NodeContext &ctx) {
  return convertSumThen(ctx, {0, 1}, geluErf);
}
LogicalResult convertFastGelu(NodeContext &ctx) {
  return convertSumThen(ctx, {0, 1}, geluTanh);
}
LogicalResult convertBiasAdd(NodeContext &ctx) {
  return convertSumThen(ctx, {0, 1, 2}, nullptr);
}
LogicalResult convertQuickGelu(NodeContext &ctx) {
  double alpha = ctx.attrFloat("alpha", 1.702f);
  return convertSumThen(ctx, {0}, [&](OpBuilder &b, Location loc, Value x) {
    // x * sigmoid(alpha x)
    Value ax = arith::MulFOp::create(b, loc, x, cst(b, loc, x, alpha));
    Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, ax));
    Value den = arith::AddFOp::create(b, loc, cst(b, loc, x, 1.0), e);
    return (Value)arith::DivFOp::create(b, loc, x, den);
  });
}

/// Swaps the last two dims of a tensor of rank >= 2.
Value transposeLast(OpBuilder &b, Location loc, Value v) {
  int64_t rank = shapeOf(v).size();
  SmallVector<int64_t> perm;
  for (int64_t d = 0; d < rank; ++d)
    perm.push_back(d);
  std::swap(perm[rank - 1], perm[rank - 2]);
  return emitTranspose(b, loc, v, perm);
}

/// alpha * op(A) op(B), op transposing the last two dims on request.
LogicalResult convertFusedMatMul(NodeContext &ctx) {
  DType t = ctx.dtype(0);
  if (failed(requireFloat(ctx, 0)))
    return failure();
  if (ctx.dtype(1) != t)
    return ctx.fail("operand element types differ");
  if (ctx.attrInt("transBatchA", 0) || ctx.attrInt("transBatchB", 0))
    return ctx.fail("transBatchA and transBatchB are not supported");
  OpBuilder &b = ctx.b;
  Value a = ctx.value(0), bv = ctx.value(1);
  if (ctx.attrInt("transA", 0) && ctx.rank(0) >= 2)
    a = transposeLast(b, ctx.loc, a);
  if (ctx.attrInt("transB", 0) && ctx.rank(1) >= 2)
    bv = transposeLast(b, ctx.loc, bv);
  auto r = emitMatMul(ctx, a, bv, t);
  if (failed(r))
    return failure();
  double alpha = ctx.attrFloat("alpha", 1.0f);
  Value y = *r;
  if (alpha != 1.0)
    y = emitElementwise(b, ctx.loc, y, shapeOf(y), ctx.elemType(t),
                        [&](OpBuilder &nb, Location l, ValueRange s) -> Value {
                          return arith::MulFOp::create(nb, l, s[0],
                                                       cst(nb, l, s[0], alpha));
                        });
  ctx.setOutput(0, y, t);
  return success();
}

//===----------------------------------------------------------------------===//
// Layer normalizations
//===----------------------------------------------------------------------===//

/// x / sqrt(mean(x^2) + eps) over `axes`, with the inverse RMS (kept dims).
std::pair<Value, Value> normalizeRms(OpBuilder &b, Location loc, Value x,
                                     ArrayRef<int64_t> axes, double eps) {
  SmallVector<int64_t> shape = shapeOf(x);
  Type elem = cast<RankedTensorType>(x.getType()).getElementType();
  int64_t count = 1;
  for (int64_t a : axes)
    count *= shape[a];
  Value sq = emitReduce(b, loc, x, axes, true, ReduceKind::Sum, false,
                        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          return arith::MulFOp::create(nb, l, a[0], a[0]);
                        });
  Value invRms = emitElementwise(
      b, loc, sq, shapeOf(sq), elem,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value ms =
            arith::DivFOp::create(nb, l, a[0], cst(nb, l, a[0], (double)count));
        return math::RsqrtOp::create(
            nb, l, arith::AddFOp::create(nb, l, ms, cst(nb, l, a[0], eps)));
      });
  Value y =
      emitElementwise(b, loc, {x, invRms}, shape, elem,
                      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        return arith::MulFOp::create(nb, l, a[0], a[1]);
                      });
  return {y, invRms};
}

/// The normalization's compute type: f32 for half-precision inputs.
DType statsType(DType t) { return t == DType::F64 ? t : DType::F32; }

/// Normalizes `x` (already in the compute type) over `axes` and applies
/// scale and optional bias given as input indices; sets output 0 (type t)
/// and, when requested, outputs `meanOut` and `invStdOut`.
LogicalResult finishNorm(NodeContext &ctx, Value x, ArrayRef<int64_t> axes,
                         bool rms, unsigned scaleIdx,
                         std::optional<unsigned> biasIdx, int meanOut,
                         int invStdOut) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  DType t = ctx.dtype(0), compute = statsType(t);
  double eps = ctx.attrFloat("epsilon", 1e-5f);
  Value y, mean, invStd;
  if (rms) {
    std::tie(y, invStd) = normalizeRms(b, loc, x, axes, eps);
  } else {
    Normalized n = normalizeMeanVariance(b, loc, x, axes, eps);
    y = n.y;
    mean = n.mean;
    invStd = n.invStd;
  }
  SmallVector<int64_t> shape = shapeOf(x);
  SmallVector<Value> ins = {
      y, emitCast(b, loc, ctx.value(scaleIdx), ctx.dtype(scaleIdx), compute)};
  if (biasIdx && ctx.hasInput(*biasIdx))
    ins.push_back(
        emitCast(b, loc, ctx.value(*biasIdx), ctx.dtype(*biasIdx), compute));
  for (Value v : ArrayRef<Value>(ins).drop_front()) {
    SmallVector<int64_t> bs;
    if (!broadcastShapes(shape, shapeOf(v), bs) || bs != shape)
      return ctx.fail("scale/bias of shape " + shapeToString(shapeOf(v)) +
                      " does not broadcast to " + shapeToString(shape));
  }
  Value r =
      emitElementwise(b, loc, ins, shape, ctx.elemType(compute),
                      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        Value v = arith::MulFOp::create(nb, l, a[0], a[1]);
                        if (a.size() > 2)
                          v = arith::AddFOp::create(nb, l, v, a[2]);
                        return v;
                      });
  ctx.setOutput(0, emitCast(b, loc, r, compute, t), t);
  if (meanOut >= 0 && ctx.hasOutput(meanOut)) {
    if (!mean)
      return ctx.fail("the mean output is not defined for an RMS "
                      "normalization");
    ctx.setOutput(meanOut, mean, compute);
  }
  if (invStdOut >= 0 && ctx.hasOutput(invStdOut))
    ctx.setOutput(invStdOut, invStd, compute);
  return success();
}

/// SimplifiedLayerNormalization (RMSNorm): X, scale; axis, epsilon.
LogicalResult convertSimplifiedLayerNorm(NodeContext &ctx) {
  if (failed(requireFloat(ctx, 0)))
    return failure();
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", -1), rank);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> axes;
  for (int64_t d = *axis; d < rank; ++d)
    axes.push_back(d);
  DType t = ctx.dtype(0);
  Value x = emitCast(ctx.b, ctx.loc, ctx.value(0), t, statsType(t));
  return finishNorm(ctx, x, axes, /*rms=*/true, 1, std::nullopt, -1, 1);
}

/// SkipLayerNormalization (input, skip, gamma, beta?, bias?) and
/// SkipSimplifiedLayerNormalization (input, skip, gamma, bias?), over the
/// last axis; outputs: y, mean, inv_std_var, input + skip + bias.
LogicalResult convertSkipLayerNorm(NodeContext &ctx, bool rms) {
  unsigned biasIdx = rms ? 3 : 4;
  SmallVector<unsigned> summed = {0, 1, biasIdx};
  for (unsigned i : summed)
    if (ctx.hasInput(i) && failed(requireFloat(ctx, i)))
      return failure();
  if (ctx.rank(0) < 1)
    return ctx.fail("the input must have rank >= 1");
  auto shape = broadcastInputs(ctx, summed);
  if (failed(shape))
    return failure();
  if (*shape != SmallVector<int64_t>(ctx.shape(0)))
    return ctx.fail("skip and bias must broadcast to the input shape " +
                    shapeToString(ctx.shape(0)));
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  DType t = ctx.dtype(0);
  SmallVector<Value> ins;
  for (unsigned i : summed)
    if (ctx.hasInput(i))
      ins.push_back(emitCast(b, loc, ctx.value(i), ctx.dtype(i), t));
  Value sum = emitElementwise(b, loc, ins, *shape, ctx.elemType(t),
                              [](OpBuilder &nb, Location l, ValueRange a) {
                                return sumScalars(nb, l, a);
                              });
  if (ctx.hasOutput(3))
    ctx.setOutput(3, sum, t);
  Value x = emitCast(b, loc, sum, t, statsType(t));
  int64_t last = ctx.rank(0) - 1;
  return finishNorm(ctx, x, {last}, rms, 2,
                    rms ? std::nullopt : std::optional<unsigned>(3),
                    rms ? -1 : 1, 2);
}

LogicalResult convertSkipLN(NodeContext &ctx) {
  return convertSkipLayerNorm(ctx, false);
}
LogicalResult convertSkipSimplifiedLN(NodeContext &ctx) {
  return convertSkipLayerNorm(ctx, true);
}

//===----------------------------------------------------------------------===//
// Rotary embedding
//===----------------------------------------------------------------------===//

/// An index scalar (i64/i32 element) as `index`, clamped to [0, n).
Value clampedIndex(OpBuilder &b, Location loc, Value v, int64_t n) {
  Value i = v;
  if (!i.getType().isInteger(64))
    i = arith::ExtSIOp::create(b, loc, b.getI64Type(), i);
  Value zero = emitScalar(b, loc, b.getI64Type(), 0);
  Value hi = emitScalar(b, loc, b.getI64Type(), (double)(n - 1));
  i = arith::MaxSIOp::create(b, loc, arith::MinSIOp::create(b, loc, i, hi),
                             zero);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), i);
}

/// Rotates the first 2 * half entries of the last axis of `x` (rank 4, the
/// head axis last) by the angles whose cosines and sines `cos` and `sin`
/// hold, broadcastable to x's shape with `half` entries on the last axis.
/// Interleaved pairs are (2i, 2i+1); otherwise (i, i + half).
Value rotate(OpBuilder &b, Location loc, Value x, Value cos, Value sin,
             int64_t half, bool interleaved) {
  SmallVector<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size(), head = shape.back(), rot = 2 * half;
  Type elem = cast<RankedTensorType>(x.getType()).getElementType();
  SmallVector<int64_t> zeros(rank, 0), ones(rank, 1);
  auto lastSlice = [&](Value v, int64_t off, int64_t size) {
    SmallVector<int64_t> offs(zeros), sizes = shapeOf(v);
    offs.back() = off;
    sizes.back() = size;
    return emitSlice(b, loc, v, offs, sizes, ones);
  };
  SmallVector<int64_t> halfShape(shape);
  halfShape.back() = half;
  Value x1, x2;
  if (interleaved) {
    SmallVector<int64_t> pairs(shape);
    pairs.back() = half;
    pairs.push_back(2);
    Value p = emitReshape(b, loc, lastSlice(x, 0, rot), pairs);
    SmallVector<int64_t> offs(rank + 1, 0), sizes(pairs), strides(rank + 1, 1);
    sizes.back() = 1;
    x1 = emitReshape(b, loc, emitSlice(b, loc, p, offs, sizes, strides),
                     halfShape);
    offs.back() = 1;
    x2 = emitReshape(b, loc, emitSlice(b, loc, p, offs, sizes, strides),
                     halfShape);
  } else {
    x1 = lastSlice(x, 0, half);
    x2 = lastSlice(x, half, half);
  }
  Value o1 =
      emitElementwise(b, loc, {x1, x2, cos, sin}, halfShape, elem,
                      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        return arith::SubFOp::create(
                            nb, l, arith::MulFOp::create(nb, l, a[0], a[2]),
                            arith::MulFOp::create(nb, l, a[1], a[3]));
                      });
  Value o2 =
      emitElementwise(b, loc, {x1, x2, cos, sin}, halfShape, elem,
                      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        return arith::AddFOp::create(
                            nb, l, arith::MulFOp::create(nb, l, a[1], a[2]),
                            arith::MulFOp::create(nb, l, a[0], a[3]));
                      });
  Value rotated;
  if (interleaved) {
    SmallVector<int64_t> col(halfShape);
    col.push_back(1);
    rotated = tensor::ConcatOp::create(
        b, loc, rank,
        ValueRange{emitReshape(b, loc, o1, col), emitReshape(b, loc, o2, col)});
    SmallVector<int64_t> rotShape(shape);
    rotShape.back() = rot;
    rotated = emitReshape(b, loc, rotated, rotShape);
  } else {
    rotated = tensor::ConcatOp::create(b, loc, rank - 1, ValueRange{o1, o2});
  }
  if (rot == head)
    return rotated;
  return tensor::ConcatOp::create(
      b, loc, rank - 1, ValueRange{rotated, lastSlice(x, rot, head - rot)});
}

/// cos/sin cache rows at positions `pos` ([B, S] integers): [B, S, half].
Value gatherCache(OpBuilder &b, Location loc, Value cache, Value pos) {
  SmallVector<int64_t> cs = shapeOf(cache), ps = shapeOf(pos);
  Type elem = cast<RankedTensorType>(cache.getType()).getElementType();
  Value pos3 = emitReshape(b, loc, pos, {ps[0], ps[1], 1});
  return emitElementwise(
      b, loc, pos3, {ps[0], ps[1], cs[1]}, elem,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value row = clampedIndex(nb, l, a[0], cs[0]);
        Value col = linalg::IndexOp::create(nb, l, 2);
        return tensor::ExtractOp::create(nb, l, cache, ValueRange{row, col});
      });
}

/// Rotary embedding of `x` in [B, N, S, H] at positions `pos` ([B, S]).
Value applyRotary(OpBuilder &b, Location loc, Value x, Value pos,
                  Value cosCache, Value sinCache, bool interleaved) {
  SmallVector<int64_t> ps = shapeOf(pos);
  int64_t half = shapeOf(cosCache)[1];
  Value cos = emitReshape(b, loc, gatherCache(b, loc, cosCache, pos),
                          {ps[0], 1, ps[1], half});
  Value sin = emitReshape(b, loc, gatherCache(b, loc, sinCache, pos),
                          {ps[0], 1, ps[1], half});
  return rotate(b, loc, x, cos, sin, half, interleaved);
}

/// Checks a cos/sin cache pair: [max positions, half], float.
LogicalResult checkCaches(NodeContext &ctx, unsigned cosIdx, unsigned sinIdx,
                          int64_t headSize) {
  if (ctx.rank(cosIdx) != 2 || ctx.shape(cosIdx) != ctx.shape(sinIdx))
    return ctx.fail("cos_cache and sin_cache must both be [max_sequence_length"
                    ", rotary_embedding_dim / 2], got " +
                    shapeToString(ctx.shape(cosIdx)) + " and " +
                    shapeToString(ctx.shape(sinIdx)));
  if (2 * ctx.shape(cosIdx)[1] > headSize)
    return ctx.fail("the rotary dimension " +
                    std::to_string(2 * ctx.shape(cosIdx)[1]) +
                    " exceeds the head size " + std::to_string(headSize));
  return success();
}

/// com.microsoft RotaryEmbedding: input [B, S, N*H] or [B, N, S, H],
/// position_ids [B, S] (or [1], an offset added to 0..S-1), cos_cache and
/// sin_cache [max positions, rotary_dim / 2].
LogicalResult convertRotaryEmbedding(NodeContext &ctx) {
  if (failed(requireFloat(ctx, 0)))
    return failure();
  if (ctx.attrInt("is_packed_batching", 0))
    return ctx.fail("is_packed_batching=1 is not supported");
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<int64_t> xs(ctx.shape(0));
  if (xs.size() != 3 && xs.size() != 4)
    return ctx.fail("the input must be [batch, sequence, hidden] or "
                    "[batch, heads, sequence, head_size], got " +
                    shapeToString(xs));
  if (ctx.rank(2) != 2)
    return ctx.fail("cos_cache must be [max_sequence_length, "
                    "rotary_embedding_dim / 2], got " +
                    shapeToString(ctx.shape(2)));
  int64_t half = ctx.shape(2)[1];
  int64_t rotAttr = ctx.attrInt("rotary_embedding_dim", 0);
  if (rotAttr && rotAttr != 2 * half)
    return ctx.fail("rotary_embedding_dim " + std::to_string(rotAttr) +
                    " disagrees with the cos_cache width " +
                    std::to_string(half));
  int64_t batch = xs[0], seq = xs.size() == 3 ? xs[1] : xs[2];
  Value x = ctx.value(0);
  int64_t heads = 0, headSize = 0;
  if (xs.size() == 3) {
    heads = ctx.attrInt("num_heads", 0);
    if (heads <= 0 && rotAttr)
      return ctx.fail("num_heads is required with rotary_embedding_dim on a "
                      "3-D input");
    headSize = heads > 0 ? xs[2] / heads : 2 * half;
    if (headSize <= 0 || xs[2] % headSize)
      return ctx.fail("hidden size " + std::to_string(xs[2]) +
                      " is not a multiple of the head size " +
                      std::to_string(headSize));
    heads = xs[2] / headSize;
    x = emitTranspose(b, loc,
                      emitReshape(b, loc, x, {batch, seq, heads, headSize}),
                      {0, 2, 1, 3});
  } else {
    heads = xs[1];
    headSize = xs[3];
  }
  if (failed(checkCaches(ctx, 2, 3, headSize)))
    return failure();
  // Positions [B, S]: given per token, or an offset plus the token index.
  Value pos = ctx.value(1);
  SmallVector<int64_t> ps(ctx.shape(1));
  if (shapeProduct(ps) == 1 && !(batch == 1 && seq == 1)) {
    pos = emitElementwise(
        b, loc, emitReshape(b, loc, pos, {1, 1}), {batch, seq}, b.getI64Type(),
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value base = a[0];
          if (!base.getType().isInteger(64))
            base = arith::ExtSIOp::create(nb, l, nb.getI64Type(), base);
          Value s = arith::IndexCastOp::create(
              nb, l, nb.getI64Type(), linalg::IndexOp::create(nb, l, 1));
          return arith::AddIOp::create(nb, l, base, s);
        });
  } else if (ps != SmallVector<int64_t>{batch, seq}) {
    if (shapeProduct(ps) != batch * seq)
      return ctx.fail("position_ids must be [1] or [batch, sequence] = " +
                      shapeToString({batch, seq}) + ", got " +
                      shapeToString(ps));
    pos = emitReshape(b, loc, pos, {batch, seq});
  }
  Value cosCache = emitCast(b, loc, ctx.value(2), ctx.dtype(2), ctx.dtype(0));
  Value sinCache = emitCast(b, loc, ctx.value(3), ctx.dtype(3), ctx.dtype(0));
  Value y = applyRotary(b, loc, x, pos, cosCache, sinCache,
                        ctx.attrInt("interleaved", 0) != 0);
  if (xs.size() == 3)
    y = emitReshape(b, loc, emitTranspose(b, loc, y, {0, 2, 1, 3}), xs);
  ctx.setOutput(0, y, ctx.dtype(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// What masks a score [b, n, i, j] (query i, key j): each condition reads
/// its own input (broadcast to [B, N, S, T]) and the loop indices.
struct MaskTerm {
  Value input;
  std::function<Value(OpBuilder &, Location, Value)> masked;
};

/// The attention masks of a node, combined in the scores' generic: a score
/// masked by any term gets `fillValue` added once (ONNX Runtime's mask
/// holds 0 or the fill value, never a sum of them), then the additive
/// biases are added.
struct AttentionMasks {
  SmallVector<MaskTerm> terms;
  SmallVector<Value> biases;
  double fillValue = -10000.0;
};

/// [B, L, N*H] -> [B, N, L, H].
Value splitHeads(OpBuilder &b, Location loc, Value v, int64_t heads) {
  SmallVector<int64_t> s = shapeOf(v);
  Value r = emitReshape(b, loc, v, {s[0], s[1], heads, s[2] / heads});
  return emitTranspose(b, loc, r, {0, 2, 1, 3});
}

/// softmax(scale * q k^T + masks) v over q [B, N, S, H], k [B, Nk, T, H],
/// v [B, Nk, T, Hv] with N a multiple of Nk (key/value head n / (N/Nk)
/// serves query head n); returns [B, S, N*Hv].
FailureOr<Value> emitAttention(NodeContext &ctx, Value q, Value k, Value v,
                               double scale, const AttentionMasks &masks,
                               DType t) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<int64_t> qs = shapeOf(q), ks = shapeOf(k), vs = shapeOf(v);
  int64_t batch = qs[0], heads = qs[1], seq = qs[2];
  int64_t kvHeads = ks[1], total = ks[2];
  if (ks[3] != qs[3] || vs[2] != total || vs[1] != kvHeads || ks[0] != batch ||
      vs[0] != batch)
    return ctx.fail("query " + shapeToString(qs) + ", key " +
                    shapeToString(ks) + " and value " + shapeToString(vs) +
                    " do not form an attention");
  if (heads % kvHeads)
    return ctx.fail("num_heads " + std::to_string(heads) +
                    " is not a multiple of the key/value heads " +
                    std::to_string(kvHeads));
  if (kvHeads != heads) {
    int64_t group = heads / kvHeads;
    auto repeat = [&](Value x) {
      SmallVector<int64_t> s = shapeOf(x);
      Value r = emitReshape(b, loc, x, {s[0], s[1], 1, s[2], s[3]});
      r = emitBroadcastTo(b, loc, r, {s[0], s[1], group, s[2], s[3]});
      return emitReshape(b, loc, r, {s[0], heads, s[2], s[3]});
    };
    k = repeat(k);
    v = repeat(v);
  }
  auto scores = emitMatMul(ctx, q, emitTranspose(b, loc, k, {0, 1, 3, 2}), t);
  if (failed(scores))
    return failure();
  SmallVector<int64_t> sShape = {batch, heads, seq, total};
  Type elem = ctx.elemType(t);
  SmallVector<Value> ins = {*scores};
  for (const MaskTerm &m : masks.terms)
    if (m.input)
      ins.push_back(m.input);
  for (Value bias : masks.biases)
    ins.push_back(bias);
  for (Value in : ArrayRef<Value>(ins).drop_front()) {
    SmallVector<int64_t> bs;
    if (!broadcastShapes(sShape, shapeOf(in), bs) || bs != sShape)
      return ctx.fail("a mask or bias of shape " + shapeToString(shapeOf(in)) +
                      " does not broadcast to the attention scores " +
                      shapeToString(sShape));
  }
  Value logits = emitElementwise(
      b, loc, ins, sShape, elem,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value s = arith::MulFOp::create(nb, l, a[0], cst(nb, l, a[0], scale));
        unsigned next = 1;
        Value masked;
        for (const MaskTerm &m : masks.terms) {
          Value arg = m.input ? a[next++] : Value();
          Value c = m.masked(nb, l, arg);
          masked = masked ? (Value)arith::OrIOp::create(nb, l, masked, c) : c;
        }
        if (masked)
          s = arith::SelectOp::create(
              nb, l, masked,
              arith::AddFOp::create(nb, l, s, cst(nb, l, s, masks.fillValue)),
              s);
        for (; next < a.size(); ++next)
          s = arith::AddFOp::create(nb, l, s, a[next]);
        return s;
      });
  SmallVector<int64_t> axis = {3};
  Value mx = emitReduce(b, loc, logits, axis, true, ReduceKind::Max, false);
  Value e =
      emitElementwise(b, loc, {logits, mx}, sShape, elem,
                      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        return math::ExpOp::create(
                            nb, l, arith::SubFOp::create(nb, l, a[0], a[1]));
                      });
  Value sum = emitReduce(b, loc, e, axis, true, ReduceKind::Sum, false);
  Value p =
      emitElementwise(b, loc, {e, sum}, sShape, elem,
                      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        return arith::DivFOp::create(nb, l, a[0], a[1]);
                      });
  auto o = emitMatMul(ctx, p, v, t);
  if (failed(o))
    return failure();
  int64_t hv = vs[3];
  Value r = emitTranspose(b, loc, *o, {0, 2, 1, 3});
  return emitReshape(b, loc, r, {batch, seq, heads * hv});
}

Value indexI64(OpBuilder &b, Location loc, int64_t dim) {
  return arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                    linalg::IndexOp::create(b, loc, dim));
}

Value toI64(OpBuilder &b, Location loc, Value v) {
  if (v.getType().isInteger(64))
    return v;
  return arith::ExtSIOp::create(b, loc, b.getI64Type(), v);
}

/// Causal masking: key j is masked for query i when j > i + past.
MaskTerm causalMask(int64_t past) {
  return {Value(), [past](OpBuilder &b, Location loc, Value) -> Value {
            Value limit = arith::AddIOp::create(
                b, loc, indexI64(b, loc, 2),
                emitScalar(b, loc, b.getI64Type(), (double)past));
            return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                         indexI64(b, loc, 3), limit);
          }};
}

/// The masks of Attention's mask_index and MultiHeadAttention's
/// key_padding_mask (int32): [B] key lengths, [2B] ends then starts,
/// [B, T] or [B, S, T] with 0 for masked keys.
LogicalResult addIndexMask(NodeContext &ctx, unsigned idx, int64_t batch,
                           int64_t seq, int64_t total, AttentionMasks &masks,
                           StringRef name) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<int64_t> ms(ctx.shape(idx));
  if (isFloatDType(ctx.dtype(idx)))
    return ctx.fail(name + " must be integer (int32), got " +
                    dtypeName(ctx.dtype(idx)));
  Value m = ctx.value(idx);
  auto isZero = [](OpBuilder &nb, Location l, Value x) -> Value {
    return arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, x,
                                 emitScalar(nb, l, x.getType(), 0));
  };
  if (ms.size() == 2 && ms[0] == batch && ms[1] == total) {
    masks.terms.push_back(
        {emitReshape(b, loc, m, {batch, 1, 1, total}), isZero});
  } else if (ms.size() == 3 && ms[0] == batch && ms[1] == seq &&
             ms[2] == total) {
    masks.terms.push_back(
        {emitReshape(b, loc, m, {batch, 1, seq, total}), isZero});
  } else if (ms.size() == 1 && ms[0] == batch) {
    masks.terms.push_back({emitReshape(b, loc, m, {batch, 1, 1, 1}),
                           [](OpBuilder &nb, Location l, Value end) -> Value {
                             return arith::CmpIOp::create(
                                 nb, l, arith::CmpIPredicate::sge,
                                 indexI64(nb, l, 3), toI64(nb, l, end));
                           }});
  } else if (ms.size() == 1 && ms[0] == 2 * batch) {
    Value ends = emitSlice(b, loc, m, {0}, {batch}, {1});
    Value starts = emitSlice(b, loc, m, {batch}, {batch}, {1});
    masks.terms.push_back({emitReshape(b, loc, ends, {batch, 1, 1, 1}),
                           [](OpBuilder &nb, Location l, Value end) -> Value {
                             return arith::CmpIOp::create(
                                 nb, l, arith::CmpIPredicate::sge,
                                 indexI64(nb, l, 3), toI64(nb, l, end));
                           }});
    masks.terms.push_back({emitReshape(b, loc, starts, {batch, 1, 1, 1}),
                           [](OpBuilder &nb, Location l, Value start) -> Value {
                             return arith::CmpIOp::create(
                                 nb, l, arith::CmpIPredicate::slt,
                                 indexI64(nb, l, 3), toI64(nb, l, start));
                           }});
  } else {
    return ctx.fail(name + " of shape " + shapeToString(ms) +
                    " is not supported: expected [batch] = " +
                    shapeToString({batch}) + ", [2 * batch], [batch, " +
                    "total_sequence] = " + shapeToString({batch, total}) +
                    " or [batch, sequence, total_sequence] = " +
                    shapeToString({batch, seq, total}));
  }
  return success();
}

/// Adds a float attention bias [B or 1, N or 1, S, T] (cast to `t`).
LogicalResult addAttentionBias(NodeContext &ctx, unsigned idx, DType t,
                               AttentionMasks &masks) {
  if (!isFloatDType(ctx.dtype(idx)))
    return ctx.fail("the attention bias must be floating-point");
  if (ctx.rank(idx) != 4)
    return ctx.fail("the attention bias must be [batch or 1, num_heads or 1, "
                    "sequence, total_sequence], got " +
                    shapeToString(ctx.shape(idx)));
  masks.biases.push_back(
      emitCast(ctx.b, ctx.loc, ctx.value(idx), ctx.dtype(idx), t));
  return success();
}

double attentionScale(NodeContext &ctx, int64_t headSize) {
  double scale = ctx.attrFloat("scale", 0.0f);
  return scale != 0.0 ? scale : 1.0 / std::sqrt((double)headSize);
}

/// com.microsoft Attention: one projection of the input on packed Q, K and
/// V weights [D_in, Dq + Dk + Dv], bias, then multi-head attention.
LogicalResult convertAttention(NodeContext &ctx) {
  if (failed(requireFloat(ctx, 0)))
    return failure();
  DType t = ctx.dtype(0);
  if (ctx.hasInput(4))
    return ctx.fail("past (a KV cache) is not supported");
  if (ctx.hasInput(6))
    return ctx.fail("past_sequence_length is not supported");
  if (ctx.hasOutput(1))
    return ctx.fail("the present output (a KV cache) is not supported");
  if (ctx.attrInt("do_rotary", 0))
    return ctx.fail("do_rotary=1 is not supported");
  if (ctx.rank(0) != 3 || ctx.rank(1) != 2)
    return ctx.fail("expects input [batch, sequence, input_hidden] and "
                    "weights [input_hidden, 3 * hidden], got " +
                    shapeToString(ctx.shape(0)) + " and " +
                    shapeToString(ctx.shape(1)));
  int64_t heads = ctx.attrInt("num_heads", 0);
  if (heads <= 0)
    return ctx.fail("num_heads must be positive");
  int64_t width = ctx.shape(1)[1];
  SmallVector<int64_t> sizes;
  if (auto qkv = ctx.attrInts("qkv_hidden_sizes")) {
    if (qkv->size() != 3)
      return ctx.fail("qkv_hidden_sizes must have 3 entries");
    sizes.assign(qkv->begin(), qkv->end());
  } else {
    if (width % 3)
      return ctx.fail("the weights' width " + std::to_string(width) +
                      " is not 3 * hidden");
    sizes.assign(3, width / 3);
  }
  if (sizes[0] + sizes[1] + sizes[2] != width || sizes[0] != sizes[1])
    return ctx.fail("qkv_hidden_sizes " + shapeToString(sizes) +
                    " do not split the weights' width " +
                    std::to_string(width) + " (Q and K must be equal)");
  for (int64_t s : sizes)
    if (s % heads)
      return ctx.fail("hidden size " + std::to_string(s) +
                      " is not a multiple of num_heads " +
                      std::to_string(heads));
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  auto proj = emitMatMul(ctx, ctx.value(0), ctx.value(1), t);
  if (failed(proj))
    return failure();
  Value qkv = *proj;
  SmallVector<int64_t> ps = shapeOf(qkv);
  if (ctx.hasInput(2)) {
    if (shapeProduct(ctx.shape(2)) != width)
      return ctx.fail("bias of shape " + shapeToString(ctx.shape(2)) +
                      " does not match the weights' width " +
                      std::to_string(width));
    Value bias = emitReshape(b, loc, ctx.value(2), {width});
    qkv = emitElementwise(b, loc, {qkv, bias}, ps, ctx.elemType(t),
                          [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                            return arith::AddFOp::create(nb, l, a[0], a[1]);
                          });
  }
  int64_t batch = ps[0], seq = ps[1];
  auto part = [&](int64_t off, int64_t size) {
    return splitHeads(
        b, loc,
        emitSlice(b, loc, qkv, {0, 0, off}, {batch, seq, size}, {1, 1, 1}),
        heads);
  };
  Value q = part(0, sizes[0]), k = part(sizes[0], sizes[1]),
        v = part(sizes[0] + sizes[1], sizes[2]);
  AttentionMasks masks;
  masks.fillValue = ctx.attrFloat("mask_filter_value", -10000.0f);
  if (ctx.hasInput(3) &&
      failed(addIndexMask(ctx, 3, batch, seq, seq, masks, "mask_index")))
    return failure();
  if (ctx.attrInt("unidirectional", 0))
    masks.terms.push_back(causalMask(0));
  if (ctx.hasInput(5) && failed(addAttentionBias(ctx, 5, t, masks)))
    return failure();
  auto r = emitAttention(ctx, q, k, v, attentionScale(ctx, sizes[0] / heads),
                         masks, t);
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, t);
  return success();
}

/// com.microsoft MultiHeadAttention: query [B, S, D], key and value
/// [B, L, D] (or already split into heads, [B, N, L, H]), optional packed
/// bias [Dq + Dk + Dv] for the 3-D forms.
LogicalResult convertMultiHeadAttention(NodeContext &ctx) {
  if (failed(requireFloat(ctx, 0)))
    return failure();
  DType t = ctx.dtype(0);
  if (!ctx.hasInput(1) || !ctx.hasInput(2))
    return ctx.fail("packed QKV or packed KV (no separate key and value) is "
                    "not supported");
  if (ctx.hasInput(6) || ctx.hasInput(7) || ctx.hasInput(8) || ctx.hasInput(9))
    return ctx.fail("past_key/past_value (a KV cache) and cache_indirection "
                    "are not supported");
  if (ctx.hasOutput(3))
    return ctx.fail("the qk output is not supported");
  int64_t heads = ctx.attrInt("num_heads", 0);
  if (heads <= 0)
    return ctx.fail("num_heads must be positive");
  if (ctx.rank(0) != 3)
    return ctx.fail("query must be [batch, sequence, hidden], got " +
                    shapeToString(ctx.shape(0)));
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  int64_t batch = ctx.shape(0)[0], seq = ctx.shape(0)[1], dq = ctx.shape(0)[2];
  if (dq % heads)
    return ctx.fail("hidden size " + std::to_string(dq) +
                    " is not a multiple of num_heads " + std::to_string(heads));
  auto kvDim = [&](unsigned i) -> int64_t {
    return ctx.rank(i) == 3 ? ctx.shape(i)[2]
                            : ctx.shape(i)[1] * ctx.shape(i)[3];
  };
  for (unsigned i : {1u, 2u})
    if (ctx.rank(i) != 3 && ctx.rank(i) != 4)
      return ctx.fail(std::string(i == 1 ? "key" : "value") +
                      " must be [batch, kv_sequence, hidden] or [batch, "
                      "num_heads, kv_sequence, head_size], got " +
                      shapeToString(ctx.shape(i)));
  int64_t dk = kvDim(1), dv = kvDim(2);
  SmallVector<Value> qkv = {ctx.value(0), ctx.value(1), ctx.value(2)};
  if (ctx.hasInput(3)) {
    if (shapeProduct(ctx.shape(3)) != dq + dk + dv)
      return ctx.fail("bias of shape " + shapeToString(ctx.shape(3)) +
                      " is not [" + std::to_string(dq + dk + dv) + "]");
    Value bias = emitReshape(b, loc, ctx.value(3), {dq + dk + dv});
    int64_t offsets[3] = {0, dq, dq + dk}, widths[3] = {dq, dk, dv};
    for (unsigned i = 0; i < 3; ++i) {
      if (ctx.rank(i) != 3)
        return ctx.fail("bias is only supported with 3-D key and value");
      Value part = emitSlice(b, loc, bias, {offsets[i]}, {widths[i]}, {1});
      qkv[i] =
          emitElementwise(b, loc, {qkv[i], part}, ctx.shape(i), ctx.elemType(t),
                          [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                            return arith::AddFOp::create(nb, l, a[0], a[1]);
                          });
    }
  }
  Value q = splitHeads(b, loc, qkv[0], heads);
  Value k = ctx.rank(1) == 3 ? splitHeads(b, loc, qkv[1], heads) : qkv[1];
  Value v = ctx.rank(2) == 3 ? splitHeads(b, loc, qkv[2], heads) : qkv[2];
  int64_t total = shapeOf(k)[2];
  AttentionMasks masks;
  masks.fillValue = ctx.attrFloat("mask_filter_value", -10000.0f);
  if (ctx.hasInput(4) && failed(addIndexMask(ctx, 4, batch, seq, total, masks,
                                             "key_padding_mask")))
    return failure();
  if (ctx.attrInt("unidirectional", 0))
    masks.terms.push_back(causalMask(total - seq));
  if (ctx.hasInput(5) && failed(addAttentionBias(ctx, 5, t, masks)))
    return failure();
  auto r =
      emitAttention(ctx, q, k, v, attentionScale(ctx, dq / heads), masks, t);
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, t);
  if (ctx.hasOutput(1))
    ctx.setOutput(1, k, t);
  if (ctx.hasOutput(2))
    ctx.setOutput(2, v, t);
  return success();
}

/// The present cache [B, Nk, present, H] of a GroupQueryAttention:
/// present[b, n, j] = j < past_b ? past[b, n, j] : rows[b, n, j - past_b],
/// zero past the new rows; `pastLen` holds past_b ([B, 1, 1, 1] i64) and
/// `past` (null when there is none) is [B, Nk, P, H].
Value emitCacheWrite(OpBuilder &b, Location loc, Value past, Value rows,
                     Value pastLen, int64_t present) {
  SmallVector<int64_t> rs = shapeOf(rows);
  int64_t seq = rs[2], pastSize = past ? shapeOf(past)[2] : 0;
  Type elem = cast<RankedTensorType>(rows.getType()).getElementType();
  return emitElementwise(
      b, loc, pastLen, {rs[0], rs[1], present, rs[3]}, elem,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value j = indexI64(nb, l, 2);
        Value rel = arith::SubIOp::create(nb, l, j, a[0]);
        Value bi = linalg::IndexOp::create(nb, l, 0);
        Value ni = linalg::IndexOp::create(nb, l, 1);
        Value hi = linalg::IndexOp::create(nb, l, 3);
        Value zero = emitScalar(nb, l, nb.getI64Type(), 0);
        Value fromNew = tensor::ExtractOp::create(
            nb, l, rows, ValueRange{bi, ni, clampedIndex(nb, l, rel, seq), hi});
        Value inNew = arith::AndIOp::create(
            nb, l,
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, rel, zero),
            arith::CmpIOp::create(
                nb, l, arith::CmpIPredicate::slt, rel,
                emitScalar(nb, l, nb.getI64Type(), (double)seq)));
        Value r = arith::SelectOp::create(nb, l, inNew, fromNew,
                                          emitScalar(nb, l, elem, 0));
        if (pastSize == 0)
          return r;
        Value fromPast = tensor::ExtractOp::create(
            nb, l, past,
            ValueRange{bi, ni, clampedIndex(nb, l, j, pastSize), hi});
        Value inPast =
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, rel, zero);
        return arith::SelectOp::create(nb, l, inPast, fromPast, r);
      });
}

/// com.microsoft GroupQueryAttention: causal attention of num_heads query
/// heads over kv_num_heads key/value heads, with a KV cache. seqlens_k[b]
/// is the total length minus one of batch entry b; on the first prompt
/// (sequence == total_sequence_length, or no past) past lengths are 0,
/// otherwise batch b's past length is seqlens_k[b] + 1 - sequence and its
/// new keys are written after it in present.
LogicalResult convertGroupQueryAttention(NodeContext &ctx) {
  if (failed(requireFloat(ctx, 0)))
    return failure();
  DType t = ctx.dtype(0);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  if (ctx.attrFloat("softcap", 0.0f) != 0.0f)
    return ctx.fail("softcap is not supported");
  if (ctx.attrInt("smooth_softmax", 0))
    return ctx.fail("smooth_softmax=1 is not supported");
  if (ctx.hasInput(11))
    return ctx.fail("head_sink is not supported");
  if (ctx.hasOutput(3))
    return ctx.fail("the output_qk output is not supported");
  if (!ctx.hasInput(5) || !ctx.hasInput(6))
    return ctx.fail("seqlens_k and total_sequence_length are required");
  int64_t heads = ctx.attrInt("num_heads", 0);
  int64_t kvHeads = ctx.attrInt("kv_num_heads", 0);
  if (heads <= 0 || kvHeads <= 0 || heads % kvHeads)
    return ctx.fail("num_heads (" + std::to_string(heads) +
                    ") must be a positive multiple of kv_num_heads (" +
                    std::to_string(kvHeads) + ")");
  if (ctx.rank(0) != 3)
    return ctx.fail("query must be [batch, sequence, hidden], got " +
                    shapeToString(ctx.shape(0)));
  int64_t batch = ctx.shape(0)[0], seq = ctx.shape(0)[1];
  Value query = ctx.value(0), key, value;
  int64_t headSize;
  if (!ctx.hasInput(1)) {
    // Packed QKV: [B, S, (N + 2 Nk) H].
    int64_t width = ctx.shape(0)[2];
    if (width % (heads + 2 * kvHeads))
      return ctx.fail("packed QKV width " + std::to_string(width) +
                      " is not (num_heads + 2 * kv_num_heads) * head_size");
    headSize = width / (heads + 2 * kvHeads);
    Value packed = query;
    auto part = [&](int64_t off, int64_t size) {
      return emitSlice(b, loc, packed, {0, 0, off}, {batch, seq, size},
                       {1, 1, 1});
    };
    query = part(0, heads * headSize);
    key = part(heads * headSize, kvHeads * headSize);
    value = part((heads + kvHeads) * headSize, kvHeads * headSize);
  } else {
    if (!ctx.hasInput(2) || ctx.rank(1) != 3 || ctx.rank(2) != 3)
      return ctx.fail("key and value must be [batch, sequence, kv_hidden]");
    headSize = ctx.shape(0)[2] / heads;
    if (ctx.shape(0)[2] % heads || ctx.shape(1)[2] != kvHeads * headSize ||
        ctx.shape(2)[2] != kvHeads * headSize)
      return ctx.fail("query " + shapeToString(ctx.shape(0)) + ", key " +
                      shapeToString(ctx.shape(1)) + " and value " +
                      shapeToString(ctx.shape(2)) + " do not match num_heads " +
                      std::to_string(heads) + " and kv_num_heads " +
                      std::to_string(kvHeads));
    key = ctx.value(1);
    value = ctx.value(2);
  }
  Value q = splitHeads(b, loc, query, heads);
  Value k = splitHeads(b, loc, key, kvHeads);
  Value v = splitHeads(b, loc, value, kvHeads);

  int64_t past = 0;
  bool hasPast = ctx.hasInput(3) || ctx.hasInput(4);
  if (hasPast) {
    if (!ctx.hasInput(3) || !ctx.hasInput(4))
      return ctx.fail("past_key and past_value must be given together");
    SmallVector<int64_t> expect = {
        batch, kvHeads, ctx.shape(3).size() == 4 ? ctx.shape(3)[2] : -1,
        headSize};
    if (ctx.shape(3) != ArrayRef<int64_t>(expect) ||
        ctx.shape(4) != ArrayRef<int64_t>(expect))
      return ctx.fail("past_key and past_value must be [batch, kv_num_heads, "
                      "past_sequence, head_size], got " +
                      shapeToString(ctx.shape(3)) + " and " +
                      shapeToString(ctx.shape(4)));
    past = expect[2];
  }
  // The present length: max(total_sequence_length, past) as ONNX Runtime
  // allocates it; total_sequence_length must be known to tell the first
  // prompt from a continuation unless there is no past.
  const HostTensor *totalHost = ctx.host(6);
  int64_t total;
  bool firstPrompt;
  if (totalHost && totalHost->numElements() == 1) {
    total = totalHost->getI(0);
    firstPrompt = seq == total;
  } else if (past == 0) {
    total = seq;
    firstPrompt = true;
  } else {
    return ctx.fail("total_sequence_length must be known at compile time "
                    "when there is a past (it sets the present length)");
  }
  int64_t present = std::max(total, past);
  if (present < seq)
    return ctx.fail("total_sequence_length " + std::to_string(total) +
                    " is shorter than the sequence " + std::to_string(seq));
  if (ctx.rank(5) != 1 || ctx.shape(5)[0] != batch)
    return ctx.fail("seqlens_k must be [batch] = " + shapeToString({batch}) +
                    ", got " + shapeToString(ctx.shape(5)));
  // Past length per batch entry, [B, 1, 1, 1] i64.
  Value pastLen;
  if (firstPrompt) {
    pastLen = emitSplat(b, loc, {batch, 1, 1, 1}, b.getI64Type(), 0);
  } else {
    pastLen = emitElementwise(
        b, loc, emitReshape(b, loc, ctx.value(5), {batch, 1, 1, 1}),
        {batch, 1, 1, 1}, b.getI64Type(),
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          return arith::SubIOp::create(
              nb, l, toI64(nb, l, a[0]),
              emitScalar(nb, l, nb.getI64Type(), (double)(seq - 1)));
        });
  }

  if (ctx.attrInt("do_rotary", 0)) {
    if (!ctx.hasInput(7) || !ctx.hasInput(8))
      return ctx.fail("do_rotary=1 needs cos_cache and sin_cache");
    if (failed(checkCaches(ctx, 7, 8, headSize)))
      return failure();
    Value pos;
    if (ctx.hasInput(9)) {
      if (shapeProduct(ctx.shape(9)) != batch * seq)
        return ctx.fail("position_ids must be [batch, sequence]");
      pos = emitReshape(b, loc, ctx.value(9), {batch, seq});
    } else {
      pos = emitElementwise(
          b, loc, emitReshape(b, loc, pastLen, {batch, 1}), {batch, seq},
          b.getI64Type(),
          [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
            return arith::AddIOp::create(nb, l, a[0], indexI64(nb, l, 1));
          });
    }
    Value cosCache = emitCast(b, loc, ctx.value(7), ctx.dtype(7), t);
    Value sinCache = emitCast(b, loc, ctx.value(8), ctx.dtype(8), t);
    bool interleaved = ctx.attrInt("rotary_interleaved", 0) != 0;
    q = applyRotary(b, loc, q, pos, cosCache, sinCache, interleaved);
    k = applyRotary(b, loc, k, pos, cosCache, sinCache, interleaved);
  }

  Value pastK =
      hasPast ? emitCast(b, loc, ctx.value(3), ctx.dtype(3), t) : Value();
  Value pastV =
      hasPast ? emitCast(b, loc, ctx.value(4), ctx.dtype(4), t) : Value();
  Value presentK = k, presentV = v;
  if (present != seq || !firstPrompt) {
    presentK = emitCacheWrite(b, loc, pastK, k, pastLen, present);
    presentV = emitCacheWrite(b, loc, pastV, v, pastLen, present);
  }

  // Key j is visible to query i of batch b for j <= past_b + i and, with a
  // local window, the last `window` such keys (ONNX Runtime's reading).
  AttentionMasks masks;
  // The lowest float rather than -inf: exp approximations need finite input.
  masks.fillValue = std::numeric_limits<float>::lowest();
  int64_t window = ctx.attrInt("local_window_size", -1);
  masks.terms.push_back(
      {pastLen, [window](OpBuilder &nb, Location l, Value pb) -> Value {
         Value pos = arith::AddIOp::create(nb, l, pb, indexI64(nb, l, 2));
         Value j = indexI64(nb, l, 3);
         Value masked =
             arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sgt, j, pos);
         if (window >= 0) {
           Value lo = arith::SubIOp::create(
               nb, l, pos,
               emitScalar(nb, l, nb.getI64Type(), (double)window - 1));
           masked = arith::OrIOp::create(
               nb, l, masked,
               arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, j, lo));
         }
         return masked;
       }});
  if (ctx.hasInput(10) && failed(addAttentionBias(ctx, 10, t, masks)))
    return failure();
  auto r = emitAttention(ctx, q, presentK, presentV,
                         attentionScale(ctx, headSize), masks, t);
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, t);
  if (ctx.hasOutput(1))
    ctx.setOutput(1, presentK, t);
  if (ctx.hasOutput(2))
    ctx.setOutput(2, presentV, t);
  return success();
}

} // namespace

void appendContribConverters(std::vector<ConverterEntry> &t) {
  const char *ms = "com.microsoft";
  t.push_back({ms, "FusedMatMul", 1, convertFusedMatMul});
  t.push_back({ms, "Gelu", 1, convertGelu});
  t.push_back({ms, "FastGelu", 1, convertFastGelu});
  t.push_back({ms, "BiasGelu", 1, convertBiasGelu});
  t.push_back({ms, "QuickGelu", 1, convertQuickGelu});
  t.push_back({ms, "BiasAdd", 1, convertBiasAdd});
  t.push_back({ms, "SkipLayerNormalization", 1, convertSkipLN});
  t.push_back(
      {ms, "SkipSimplifiedLayerNormalization", 1, convertSkipSimplifiedLN});
  // ONNX Runtime registers SimplifiedLayerNormalization (RMSNorm) in the
  // default domain, at opset 1.
  t.push_back(
      {"", "SimplifiedLayerNormalization", 1, convertSimplifiedLayerNorm});
  t.push_back({ms, "RotaryEmbedding", 1, convertRotaryEmbedding});
  t.push_back({ms, "Attention", 1, convertAttention});
  t.push_back({ms, "MultiHeadAttention", 1, convertMultiHeadAttention});
  t.push_back({ms, "GroupQueryAttention", 1, convertGroupQueryAttention});
}

} // namespace qopt::onnx_frontend
