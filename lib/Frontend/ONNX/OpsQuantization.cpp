//===- OpsQuantization.cpp - Pre-quantized ONNX ops -------------------------===//
//
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger,
// QLinearMatMul, ConvInteger, QLinearConv and com.microsoft MatMulNBits
// become qopt ops, so models quantized elsewhere compile through the same
// reference lowering as the ones qopt quantizes itself. Integer codes are
// signless i8 in IR; their ONNX signedness travels in op attributes.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "qopt/QOptDialect.h"
#include "qopt/Quant/Quant.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

bool isQuantizedCode(DType t) {
  return t == DType::U8 || t == DType::I8;
}

/// A per-tensor or per-axis scale/zero point as the qopt ops take it: rank
/// 0 for one value, rank 1 otherwise.
Value asParam(NodeContext &ctx, unsigned i) {
  Value v = ctx.value(i);
  if (ctx.rank(i) > 1 && shapeProduct(ctx.shape(i)) == 1)
    return emitReshape(ctx.b, ctx.loc, v, {});
  return v;
}

/// The axis of a (de)quantization whose scale is input 1, if per-axis.
FailureOr<IntegerAttr> quantAxis(NodeContext &ctx) {
  if (ctx.rank(1) == 0 || shapeProduct(ctx.shape(1)) == 1)
    return IntegerAttr();
  if (ctx.rank(1) != 1)
    return ctx.fail("scales must be a scalar or 1-D (blocked quantization "
                     "is not supported)");
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.attrInt("axis", 1), ctx.rank(0));
  if (failed(axis))
    return failure();
  if (ctx.shape(0)[*axis] != ctx.shape(1)[0])
    return ctx.fail("scale has " + std::to_string(ctx.shape(1)[0]) +
                     " values for axis " + std::to_string(*axis) + " of size " +
                     std::to_string(ctx.shape(0)[*axis]));
  return ctx.b.getI64IntegerAttr(*axis);
}

LogicalResult convertQuantizeLinear(NodeContext &ctx) {
  if (ctx.attrInt("block_size", 0) != 0)
    return ctx.fail("blocked quantization (block_size) is not supported");
  if (ctx.dtype(0) != DType::F32)
    return ctx.fail("the input must be float32");
  DType out = ctx.hasInput(2) ? ctx.dtype(2) : DType::U8;
  if (!isQuantizedCode(out))
    return ctx.fail("output type " + std::string(dtypeName(out)) +
                    " is not supported (uint8 and int8 are)");
  FailureOr<IntegerAttr> axis = quantAxis(ctx);
  if (failed(axis))
    return failure();
  Value zp = ctx.hasInput(2) ? asParam(ctx, 2) : Value();
  auto q = QuantizeOp::create(ctx.b, ctx.loc, ctx.tensorType(ctx.shape(0), out),
                              ctx.value(0), asParam(ctx, 1), zp, *axis,
                              out == DType::U8);
  ctx.setOutput(0, q, out);
  return success();
}

LogicalResult convertDequantizeLinear(NodeContext &ctx) {
  if (ctx.attrInt("block_size", 0) != 0)
    return ctx.fail("blocked quantization (block_size) is not supported");
  DType in = ctx.dtype(0);
  if (!isQuantizedCode(in) && in != DType::I32)
    return ctx.fail("input type " + std::string(dtypeName(in)) +
                    " is not supported (uint8, int8 and int32 are)");
  if (ctx.dtype(1) != DType::F32)
    return ctx.fail("scales must be float32");
  FailureOr<IntegerAttr> axis = quantAxis(ctx);
  if (failed(axis))
    return failure();
  Value zp = ctx.hasInput(2) ? asParam(ctx, 2) : Value();
  auto d = DequantizeOp::create(
      ctx.b, ctx.loc, ctx.tensorType(ctx.shape(0), DType::F32), ctx.value(0),
      asParam(ctx, 1), zp, *axis, in == DType::U8);
  ctx.setOutput(0, d, DType::F32);
  return success();
}

LogicalResult convertDynamicQuantizeLinear(NodeContext &ctx) {
  if (ctx.dtype(0) != DType::F32)
    return ctx.fail("the input must be float32");
  auto q = DynamicQuantizeOp::create(
      ctx.b, ctx.loc, ctx.tensorType(ctx.shape(0), DType::U8),
      ctx.tensorType({}, DType::F32), ctx.tensorType({}, DType::U8),
      ctx.value(0), Granularity::PerTensor, /*is_unsigned=*/true);
  ctx.setOutput(0, q.getResult(), DType::U8);
  if (ctx.hasOutput(1))
    ctx.setOutput(1, q.getScale(), DType::F32);
  if (ctx.hasOutput(2))
    ctx.setOutput(2, q.getZeroPoint(), DType::U8);
  return success();
}

/// Operands of one integer matrix product A [..., M, K] x B [K, N] with
/// optional zero points and scales, as qopt.matmul takes them.
struct IntegerMatMul {
  Value a, b, aZero, bZero, aScale, bScale;
  DType aType, bType;
  SmallVector<int64_t> aShape;
  int64_t k, n;
};

/// qopt.matmul over B transposed to rows of N. `f32` rescales by the
/// scales; otherwise the raw i32 accumulator.
FailureOr<Value> emitIntegerMatMul(NodeContext &ctx, const IntegerMatMul &m,
                                   bool f32) {
  OpBuilder &b = ctx.b;
  MLIRContext *mctx = ctx.ctx();
  Value w = emitTranspose(b, ctx.loc, m.b, {1, 0});
  bool wUnsigned = m.bType == DType::U8;
  // Per-column weight parameters make the scheme per-channel.
  auto isPerColumn = [&](Value v) {
    return v && cast<RankedTensorType>(v.getType()).getNumElements() > 1;
  };
  bool perChannel = isPerColumn(m.bZero) || isPerColumn(m.bScale);
  int64_t rows = perChannel ? m.n : 1;
  auto toRows = [&](Value v) -> Value {
    if (!v)
      return v;
    int64_t count = cast<RankedTensorType>(v.getType()).getNumElements();
    if (count != 1 && count != m.n)
      return Value();
    Value r = emitReshape(b, ctx.loc, v, {count, 1});
    if (count == 1 && rows != 1)
      r = emitBroadcastTo(b, ctx.loc, r, {rows, 1});
    return r;
  };
  Value bZero = m.bZero;
  if (!bZero && wUnsigned) // unsigned codes always carry a zero point
    bZero = emitSplat(b, ctx.loc, {1}, b.getI8Type(), 0);
  Value zw = toRows(bZero), sw = f32 ? toRows(m.bScale) : Value();
  if ((bZero && !zw) || (f32 && !sw))
    return ctx.fail("B's scale and zero point must be scalars or hold one "
                     "value per column");
  auto scheme = SchemeAttr::get(
      mctx, QuantKind::Int, 8, wUnsigned,
      perChannel ? Granularity::PerChannel : Granularity::PerTensor, 0,
      /*symmetric=*/!zw);
  Value aZero = m.aZero, aScale = f32 ? m.aScale : Value();
  for (Value *p : {&aZero, &aScale})
    if (*p && cast<RankedTensorType>(p->getType()).getNumElements() != 1)
      return ctx.fail("A's scale and zero point must be scalars (per-row "
                       "parameters are not supported)");
  if (aZero)
    aZero = emitReshape(b, ctx.loc, aZero, {});
  if (aScale)
    aScale = emitReshape(b, ctx.loc, aScale, {});
  SmallVector<int64_t> outShape(m.aShape);
  outShape.back() = m.n;
  auto resultType =
      RankedTensorType::get(outShape, f32 ? Type(b.getF32Type()) : Type(b.getI32Type()));
  return MatMulOp::create(b, ctx.loc, resultType, m.a, w, sw, zw, aScale,
                          aZero, scheme, uint64_t(m.k),
                          /*input_unsigned=*/m.aType == DType::U8,
                          PrecisionAttr())
      .getResult();
}

/// Shared by MatMulInteger and QLinearMatMul: A [..., M, K] x B [K, N], or
/// batched B [..., K, N] with the same batch as A (one product per batch).
FailureOr<Value> emitQuantizedMatMul(NodeContext &ctx, unsigned ia,
                                     unsigned ib, Value aZero, Value bZero,
                                     Value aScale, Value bScale, bool f32) {
  if (!isQuantizedCode(ctx.dtype(ia)) || !isQuantizedCode(ctx.dtype(ib)))
    return ctx.fail("A and B must be uint8 or int8");
  ArrayRef<int64_t> as = ctx.shape(ia), bs = ctx.shape(ib);
  if (as.size() < 2 || bs.size() < 2)
    return ctx.fail("A and B must have rank >= 2");
  int64_t k = as.back(), n = bs.back();
  if (bs[bs.size() - 2] != k)
    return ctx.fail("inner dimensions differ: " + shapeToString(as) + " x " +
                     shapeToString(bs));
  IntegerMatMul m{ctx.value(ia), ctx.value(ib), aZero,  bZero,
                  aScale,        bScale,        ctx.dtype(ia), ctx.dtype(ib),
                  SmallVector<int64_t>(as),     k,      n};
  if (bs.size() == 2)
    return emitIntegerMatMul(ctx, m, f32);
  // Batched B: one product per batch entry, concatenated.
  if (as.size() != bs.size() ||
      ArrayRef<int64_t>(as).drop_back(2) != ArrayRef<int64_t>(bs).drop_back(2))
    return ctx.fail("batched B must have A's batch dims: " +
                     shapeToString(as) + " x " + shapeToString(bs));
  int64_t batch = shapeProduct(as.drop_back(2)), rowsA = as[as.size() - 2];
  Value a3 = emitReshape(ctx.b, ctx.loc, m.a, {batch, rowsA, k});
  Value b3 = emitReshape(ctx.b, ctx.loc, m.b, {batch, k, n});
  SmallVector<Value> parts;
  for (int64_t i = 0; i < batch; ++i) {
    IntegerMatMul one = m;
    one.a = emitReshape(ctx.b, ctx.loc,
                        emitSlice(ctx.b, ctx.loc, a3, {i, 0, 0}, {1, rowsA, k},
                                  {1, 1, 1}),
                        {rowsA, k});
    one.b = emitReshape(ctx.b, ctx.loc,
                        emitSlice(ctx.b, ctx.loc, b3, {i, 0, 0}, {1, k, n},
                                  {1, 1, 1}),
                        {k, n});
    one.aShape = {rowsA, k};
    FailureOr<Value> r = emitIntegerMatMul(ctx, one, f32);
    if (failed(r))
      return failure();
    parts.push_back(emitReshape(ctx.b, ctx.loc, *r, {1, rowsA, n}));
  }
  auto elem = cast<RankedTensorType>(parts[0].getType()).getElementType();
  Value cat = tosa::ConcatOp::create(
      ctx.b, ctx.loc, RankedTensorType::get({batch, rowsA, n}, elem), parts,
      ctx.b.getI32IntegerAttr(0));
  SmallVector<int64_t> outShape(as);
  outShape.back() = n;
  return emitReshape(ctx.b, ctx.loc, cat, outShape);
}

Value optionalInput(NodeContext &ctx, unsigned i) {
  return ctx.hasInput(i) ? ctx.value(i) : Value();
}

LogicalResult convertMatMulInteger(NodeContext &ctx) {
  FailureOr<Value> r = emitQuantizedMatMul(
      ctx, 0, 1, optionalInput(ctx, 2), optionalInput(ctx, 3), Value(),
      Value(), /*f32=*/false);
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, DType::I32);
  return success();
}

/// round(x / scale) + zero_point, saturated to the zero point's type.
Value requantize(NodeContext &ctx, Value x, unsigned scaleIdx,
                 unsigned zeroIdx, DType out) {
  auto xt = cast<RankedTensorType>(x.getType());
  return QuantizeOp::create(ctx.b, ctx.loc,
                            ctx.tensorType(xt.getShape(), out), x,
                            asParam(ctx, scaleIdx), asParam(ctx, zeroIdx),
                            IntegerAttr(), out == DType::U8);
}

LogicalResult convertQLinearMatMul(NodeContext &ctx) {
  for (unsigned i : {1u, 4u, 6u})
    if (shapeProduct(ctx.shape(i)) != 1 && i != 4)
      return ctx.fail("per-row A or output scales are not supported");
  FailureOr<Value> r =
      emitQuantizedMatMul(ctx, 0, 3, ctx.value(2), ctx.value(5), ctx.value(1),
                          ctx.value(4), /*f32=*/true);
  if (failed(r))
    return failure();
  DType out = ctx.dtype(7);
  if (!isQuantizedCode(out))
    return ctx.fail("the output must be uint8 or int8");
  ctx.setOutput(0, requantize(ctx, *r, 6, 7, out), out);
  return success();
}

/// qopt.conv2d for ConvInteger (i32) and QLinearConv (f32 before
/// requantization).
FailureOr<Value> emitQuantizedConv(NodeContext &ctx, unsigned ix, unsigned iw,
                                   Value xZero, Value wZero, Value xScale,
                                   Value wScale, bool f32) {
  if (!isQuantizedCode(ctx.dtype(ix)) || !isQuantizedCode(ctx.dtype(iw)))
    return ctx.fail("x and w must be uint8 or int8");
  if (ctx.rank(ix) != 4 || ctx.rank(iw) != 4)
    return ctx.fail("only 2-D convolutions (NCHW) are supported");
  ArrayRef<int64_t> xs = ctx.shape(ix), ws = ctx.shape(iw);
  int64_t group = ctx.attrInt("group", 1);
  if (group <= 0 || ws[0] % group != 0 || xs[1] != ws[1] * group)
    return ctx.fail("channels do not match: x " + shapeToString(xs) +
                     ", w " + shapeToString(ws) + ", group " +
                     std::to_string(group));
  FailureOr<Window> win = readWindow(ctx, xs.drop_front(2), ws.drop_front(2));
  if (failed(win))
    return failure();
  SmallVector<int64_t> outShape = {xs[0], ws[0]};
  for (int i = 0; i < 2; ++i) {
    int64_t span = win->dilations[i] * (ws[2 + i] - 1) + 1;
    int64_t padded = xs[2 + i] + win->padBegin[i] + win->padEnd[i];
    if (padded < span)
      return ctx.fail("the kernel is larger than the padded input");
    outShape.push_back((padded - span) / win->strides[i] + 1);
  }
  auto vec = [&](Value v) -> Value {
    if (!v)
      return v;
    int64_t count = cast<RankedTensorType>(v.getType()).getNumElements();
    return emitReshape(ctx.b, ctx.loc, v, {count});
  };
  auto scalar = [&](Value v) -> Value {
    return v ? emitReshape(ctx.b, ctx.loc, v, {}) : v;
  };
  for (Value v : {xZero, xScale})
    if (v && cast<RankedTensorType>(v.getType()).getNumElements() != 1)
      return ctx.fail("x's scale and zero point must be scalars");
  for (Value v : {wZero, wScale})
    if (v) {
      int64_t count = cast<RankedTensorType>(v.getType()).getNumElements();
      if (count != 1 && count != ws[0])
        return ctx.fail("w's scale and zero point must be scalars or hold "
                         "one value per output channel");
    }
  auto resultType = RankedTensorType::get(
      outShape, f32 ? Type(ctx.b.getF32Type()) : Type(ctx.b.getI32Type()));
  return Conv2DOp::create(
             ctx.b, ctx.loc, resultType, ctx.value(ix), ctx.value(iw),
             f32 ? vec(wScale) : Value(), vec(wZero),
             f32 ? scalar(xScale) : Value(), scalar(xZero),
             ArrayRef<int64_t>(win->strides),
             ArrayRef<int64_t>{win->padBegin[0], win->padBegin[1],
                               win->padEnd[0], win->padEnd[1]},
             ArrayRef<int64_t>(win->dilations),
             uint64_t(group), ctx.dtype(ix) == DType::U8, ctx.dtype(iw) == DType::U8)
      .getResult();
}

LogicalResult convertConvInteger(NodeContext &ctx) {
  FailureOr<Value> r =
      emitQuantizedConv(ctx, 0, 1, optionalInput(ctx, 2), optionalInput(ctx, 3),
                        Value(), Value(), /*f32=*/false);
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, DType::I32);
  return success();
}

LogicalResult convertQLinearConv(NodeContext &ctx) {
  FailureOr<Value> r =
      emitQuantizedConv(ctx, 0, 3, ctx.value(2), ctx.value(5), ctx.value(1),
                        ctx.value(4), /*f32=*/true);
  if (failed(r))
    return failure();
  Value y = *r;
  if (ctx.hasInput(8)) {
    // The int32 bias is in units of x_scale * w_scale: add it in float.
    if (ctx.dtype(8) != DType::I32 || ctx.rank(8) != 1)
      return ctx.fail("the bias must be 1-D int32");
    auto yt = cast<RankedTensorType>(y.getType());
    int64_t f = yt.getDimSize(1);
    Value bias = emitReshape(ctx.b, ctx.loc, ctx.value(8), {1, f, 1, 1});
    Value xs = emitReshape(ctx.b, ctx.loc, ctx.value(1), {1, 1, 1, 1});
    int64_t wCount = shapeProduct(ctx.shape(4));
    Value ws = emitReshape(ctx.b, ctx.loc, ctx.value(4),
                           {1, wCount, 1, 1});
    y = emitElementwise(ctx.b, ctx.loc, {y, bias, xs, ws}, yt.getShape(),
                        ctx.b.getF32Type(),
                        [](OpBuilder &b, Location l, ValueRange a) -> Value {
                          Value bf = arith::SIToFPOp::create(
                              b, l, b.getF32Type(), a[1]);
                          Value s = arith::MulFOp::create(b, l, a[2], a[3]);
                          Value db = arith::MulFOp::create(b, l, bf, s);
                          return arith::AddFOp::create(b, l, a[0], db);
                        });
  }
  DType out = ctx.dtype(7);
  if (!isQuantizedCode(out))
    return ctx.fail("the output must be uint8 or int8");
  ctx.setOutput(0, requantize(ctx, y, 6, 7, out), out);
  return success();
}

/// com.microsoft MatMulNBits: A [..., K] x B^T with B stored as N rows of
/// K/block_size blocks of `bits`-bit codes, low bits first, block scales and
/// (packed) zero points; without zero points codes are offset by
/// 2^(bits-1). This is qopt's packed layout but for the last block, which
/// ONNX pads to block_size codes and qopt stores unpadded: the rows are cut
/// to their k codes.
LogicalResult convertMatMulNBits(NodeContext &ctx) {
  int64_t k = ctx.attrInt("K", 0), n = ctx.attrInt("N", 0);
  int64_t bits = ctx.attrInt("bits", 4), block = ctx.attrInt("block_size", 0);
  if (k <= 0 || n <= 0 || block < 16 || (block & (block - 1)))
    return ctx.fail("K and N must be positive and block_size a power of two "
                    ">= 16");
  if (bits != 2 && bits != 4 && bits != 8)
    return ctx.fail(std::to_string(bits) +
                    " bits are not supported (2, 4 and 8 are)");
  if (ctx.dtype(0) != DType::F32)
    return ctx.fail("input A must be float32");
  if (ctx.hasInput(4))
    return ctx.fail("g_idx (act-order) is not supported");
  if (ctx.rank(0) < 2 || ctx.shape(0).back() != k)
    return ctx.fail("A must have rank >= 2 and K = " + std::to_string(k) +
                    " columns, got " + shapeToString(ctx.shape(0)));
  int64_t blocks = (k + block - 1) / block;
  int64_t rowBytes = blocks * block * bits / 8;
  if (shapeProduct(ctx.shape(1)) != n * rowBytes)
    return ctx.fail("B has " + std::to_string(shapeProduct(ctx.shape(1))) +
                    " bytes, expected N * blocks * block_size * bits / 8 = " +
                    std::to_string(n * rowBytes));
  if (ctx.dtype(2) != DType::F32 || shapeProduct(ctx.shape(2)) != n * blocks)
    return ctx.fail("scales must be " + std::to_string(n * blocks) +
                    " float32 values");
  OpBuilder &b = ctx.b;
  Value w = emitReshape(b, ctx.loc, ctx.value(1), {n, rowBytes});
  int64_t codeBytes = quant::packedRowBytes(k, unsigned(bits));
  if (codeBytes < rowBytes && ctx.host(1)) {
    // A constant B (the usual case) is cut here, so it stays a constant.
    const HostTensor *full = ctx.host(1);
    HostTensor cut(DType::U8, {n, codeBytes});
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < codeBytes; ++j)
        cut.setI(r * codeBytes + j, full->getI(r * rowBytes + j));
    w = emitConstant(b, ctx.loc, cut, 1024);
  } else if (codeBytes < rowBytes)
    w = tensor::ExtractSliceOp::create(
        b, ctx.loc, w,
        ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(n), b.getIndexAttr(codeBytes)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
  Value scales = emitReshape(b, ctx.loc, ctx.value(2), {n, blocks});
  Value zeros;
  if (ctx.hasInput(3) && ctx.dtype(3) == DType::F32) {
    // HQQ-style float zero points, one per block.
    if (shapeProduct(ctx.shape(3)) != n * blocks)
      return ctx.fail("float zero points must hold " +
                      std::to_string(n * blocks) + " values");
    zeros = emitReshape(b, ctx.loc, ctx.value(3), {n, blocks});
  } else if (ctx.hasInput(3)) {
    const HostTensor *zp = ctx.host(3);
    if (ctx.dtype(3) != DType::U8)
      return ctx.fail("zero points must be uint8 or float32");
    if (!zp)
      return ctx.fail("zero points must be constant");
    int64_t zpRowBytes = (blocks * bits + 7) / 8;
    if (zp->numElements() != n * zpRowBytes)
      return ctx.fail("zero points must hold " + std::to_string(n * zpRowBytes) +
                      " bytes");
    HostTensor unpacked(DType::U8, {n, blocks});
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < blocks; ++j) {
        int64_t bit = j * bits;
        int64_t byte = zp->getI(r * zpRowBytes + bit / 8);
        unpacked.setI(r * blocks + j, (byte >> (bit % 8)) & ((1 << bits) - 1));
      }
    zeros = emitConstant(b, ctx.loc, unpacked, 1024);
  } else {
    zeros = emitSplat(b, ctx.loc, {n, blocks}, b.getI8Type(),
                      double(1 << (bits - 1)));
  }
  auto scheme = SchemeAttr::get(ctx.ctx(), QuantKind::Int, bits,
                                /*isUnsigned=*/true, Granularity::Group, block,
                                /*symmetric=*/false);
  SmallVector<int64_t> outShape(ctx.shape(0));
  outShape.back() = n;
  Value y = MatMulOp::create(b, ctx.loc,
                             RankedTensorType::get(outShape, b.getF32Type()),
                             ctx.value(0), w, scales, zeros, Value(), Value(),
                             scheme, uint64_t(k), /*input_unsigned=*/false,
                             PrecisionAttr())
                .getResult();
  if (ctx.hasInput(5)) {
    if (ctx.dtype(5) != DType::F32 || shapeProduct(ctx.shape(5)) != n)
      return ctx.fail("bias must hold N float32 values");
    Value bias = emitReshape(b, ctx.loc, ctx.value(5), {n});
    y = emitElementwise(b, ctx.loc, {y, bias}, outShape, b.getF32Type(),
                        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          return arith::AddFOp::create(nb, l, a[0], a[1]);
                        });
  }
  ctx.setOutput(0, y, DType::F32);
  return success();
}

} // namespace

void appendQuantizationConverters(std::vector<ConverterEntry> &t) {
  t.push_back({"", "QuantizeLinear", 10, convertQuantizeLinear});
  t.push_back({"", "DequantizeLinear", 10, convertDequantizeLinear});
  t.push_back({"", "DynamicQuantizeLinear", 11, convertDynamicQuantizeLinear});
  t.push_back({"", "MatMulInteger", 10, convertMatMulInteger});
  t.push_back({"", "QLinearMatMul", 10, convertQLinearMatMul});
  t.push_back({"", "ConvInteger", 10, convertConvInteger});
  t.push_back({"", "QLinearConv", 10, convertQLinearConv});
  t.push_back({"com.microsoft", "MatMulNBits", 1, convertMatMulNBits});
}

} // namespace qopt::onnx_frontend
