//===- OpsIndexing.cpp - ONNX scatter, gather-like and selection ops ------===//
//
// Scatter (ScatterND, ScatterElements and the deprecated Scatter) becomes an
// scf.for over the update elements that carries the output tensor: each
// iteration reads its target coordinates from the indices with
// tensor.extract, combines the update with the current value (reduction
// none/add/mul/max/min) and writes it back with tensor.insert, so duplicate
// indices are applied in order as ONNX defines. Indices are wrapped when
// negative and clamped, so a bad index never writes outside the tensor.
//
// GatherND, OneHot, ReverseSequence and Compress are linalg.generic ops
// over their outputs that read their sources with tensor.extract. TopK
// ranks every element against the others on its axis and picks the
// elements of places 0..K-1. Ops whose output shape depends on input
// values need those values at compile time: Compress's condition, TopK's K
// and OneHot's depth; NonZero and Unique are evaluated on the host
// (HostEval.cpp) and are otherwise an error naming the node. GridSample,
// RoiAlign and NonMaxSuppression are in OpsSampling.cpp.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <functional>

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

/// An ONNX index as `index`: negative values count from the end of a
/// `dim`-element axis; out-of-range values are clamped into the axis.
Value wrapIndex(OpBuilder &b, Location l, Value i, DType idxT, int64_t dim) {
  i = castScalar(b, l, i, idxT, DType::I64);
  Type i64 = i.getType();
  Value zero = emitScalar(b, l, i64, 0);
  Value neg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, i, zero);
  Value wrapped = arith::AddIOp::create(b, l, i, emitScalar(b, l, i64, dim));
  i = arith::SelectOp::create(b, l, neg, wrapped, i);
  i = arith::MaxSIOp::create(b, l, i, zero);
  i = arith::MinSIOp::create(
      b, l, i, emitScalar(b, l, i64, std::max<int64_t>(dim - 1, 0)));
  return arith::IndexCastOp::create(b, l, b.getIndexType(), i);
}

/// The row-major coordinates of element `linear` (an index) of `shape`.
SmallVector<Value> delinearize(OpBuilder &b, Location l, Value linear,
                               ArrayRef<int64_t> shape) {
  SmallVector<Value> coords(shape.size());
  for (int d = (int)shape.size() - 1; d >= 0; --d) {
    Value dim = arith::ConstantIndexOp::create(b, l, shape[d]);
    coords[d] =
        d == 0 ? linear : (Value)arith::RemUIOp::create(b, l, linear, dim);
    if (d > 0)
      linear = arith::DivUIOp::create(b, l, linear, dim);
  }
  return coords;
}

/// The `reduction` attribute of a scatter: none (std::nullopt) or a
/// combiner.
FailureOr<std::optional<ReduceKind>> scatterReduction(NodeContext &ctx) {
  std::string r = ctx.attrString("reduction", "none");
  if (r == "none")
    return std::optional<ReduceKind>();
  if (r == "add")
    return std::optional<ReduceKind>(ReduceKind::Sum);
  if (r == "mul")
    return std::optional<ReduceKind>(ReduceKind::Prod);
  if (r == "max")
    return std::optional<ReduceKind>(ReduceKind::Max);
  if (r == "min")
    return std::optional<ReduceKind>(ReduceKind::Min);
  (void)ctx.fail("unknown reduction '" + r +
                 "' (expected none, add, mul, max or min)");
  return failure();
}

/// Combines the current value with an update; bools add as `or` and
/// multiply as `and`.
Value combineUpdate(OpBuilder &b, Location l, std::optional<ReduceKind> kind,
                    Value cur, Value upd, DType t) {
  if (!kind)
    return upd;
  ReduceKind k = *kind;
  if (t == DType::Bool)
    k = k == ReduceKind::Sum || k == ReduceKind::Max ? ReduceKind::Max
                                                     : ReduceKind::Min;
  return combineScalars(b, l, k, cur, upd,
                        isUnsignedDType(t) || t == DType::Bool);
}

/// The coordinates in the output that update element `coords` (of the
/// updates tensor) writes to.
using TargetFn =
    std::function<SmallVector<Value>(OpBuilder &, Location, ArrayRef<Value>)>;

/// out = data; then for every element of `updates` in row-major order:
/// out[target] = combine(out[target], update).
Value emitScatterLoop(NodeContext &ctx, Value data, Value updates,
                      std::optional<ReduceKind> kind, DType t,
                      const TargetFn &target) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  ArrayRef<int64_t> updShape =
      cast<RankedTensorType>(updates.getType()).getShape();
  int64_t total = shapeProduct(updShape);
  if (total == 0)
    return data;
  Value lb = arith::ConstantIndexOp::create(b, loc, 0);
  Value ub = arith::ConstantIndexOp::create(b, loc, total);
  Value step = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(
      b, loc, lb, ub, step, ValueRange{data},
      [&](OpBuilder &nb, Location l, Value iv, ValueRange carried) {
        SmallVector<Value> coords = delinearize(nb, l, iv, updShape);
        SmallVector<Value> dst = target(nb, l, coords);
        Value acc = carried[0];
        Value upd = tensor::ExtractOp::create(nb, l, updates, coords);
        Value v = upd;
        if (kind) {
          Value cur = tensor::ExtractOp::create(nb, l, acc, dst);
          v = combineUpdate(nb, l, kind, cur, upd, t);
        }
        Value next = tensor::InsertOp::create(nb, l, v, acc, dst);
        scf::YieldOp::create(nb, l, next);
      });
  return loop.getResult(0);
}

/// Checks the operands every scatter shares: updates of the data's type and
/// integer indices.
LogicalResult checkScatterOperands(NodeContext &ctx) {
  if (!isIndexDType(ctx.dtype(1)))
    return ctx.fail(Twine("indices must be int32 or int64, not ") +
                    dtypeName(ctx.dtype(1)));
  if (ctx.dtype(2) != ctx.dtype(0))
    return ctx.fail(Twine("updates are ") + dtypeName(ctx.dtype(2)) +
                    " but the data is " + dtypeName(ctx.dtype(0)));
  return success();
}

/// ScatterElements (and Scatter, its opset 9-10 name): updates[i][j][k]
/// goes to out[indices[i][j][k]][j][k] for axis 0, and so on.
LogicalResult convertScatterElements(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 3)))
    return failure();
  if (failed(checkScatterOperands(ctx)))
    return failure();
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  auto kind = scatterReduction(ctx);
  if (failed(kind))
    return failure();
  ArrayRef<int64_t> data = ctx.shape(0), idx = ctx.shape(1);
  if (ctx.rank(1) != rank || ctx.shape(2) != idx)
    return ctx.fail("indices (" + shapeToString(idx) + ") and updates (" +
                    shapeToString(ctx.shape(2)) +
                    ") must have one shape, of the data's rank " +
                    std::to_string(rank));
  for (int64_t d = 0; d < rank; ++d)
    if (d != *axis && idx[d] > data[d])
      return ctx.fail("indices " + shapeToString(idx) +
                      " are larger than the data " + shapeToString(data) +
                      " in dimension " + std::to_string(d));
  Value indices = ctx.value(1);
  DType idxT = ctx.dtype(1);
  int64_t dim = data[*axis], ax = *axis;
  if (dim == 0 && shapeProduct(idx) > 0)
    return ctx.fail("indices address axis " + std::to_string(ax) +
                    ", which is empty");
  Value r =
      emitScatterLoop(ctx, ctx.value(0), ctx.value(2), *kind, ctx.dtype(0),
                      [&](OpBuilder &b, Location l, ArrayRef<Value> coords) {
                        SmallVector<Value> dst(coords);
                        Value i =
                            tensor::ExtractOp::create(b, l, indices, coords);
                        dst[ax] = wrapIndex(b, l, i, idxT, dim);
                        return dst;
                      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

/// ScatterND: indices [I..., k] address slices data[i_0, ..., i_{k-1}, ...];
/// updates are [I..., data.shape[k:]...].
LogicalResult convertScatterND(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 3)))
    return failure();
  if (failed(checkScatterOperands(ctx)))
    return failure();
  auto kind = scatterReduction(ctx);
  if (failed(kind))
    return failure();
  ArrayRef<int64_t> data = ctx.shape(0), idx = ctx.shape(1);
  int64_t rank = data.size(), q = idx.size();
  if (q < 1)
    return ctx.fail("indices must have rank >= 1");
  int64_t k = idx.back();
  if (k < 1 || k > rank)
    return ctx.fail("the last dimension of indices (" + std::to_string(k) +
                    ") must be between 1 and the data's rank " +
                    std::to_string(rank));
  SmallVector<int64_t> want(idx.drop_back());
  want.append(data.begin() + k, data.end());
  if (ctx.shape(2) != ArrayRef<int64_t>(want))
    return ctx.fail("updates have shape " + shapeToString(ctx.shape(2)) +
                    ", expected " + shapeToString(want) + " for indices " +
                    shapeToString(idx) + " into data " + shapeToString(data));
  Value indices = ctx.value(1);
  DType idxT = ctx.dtype(1);
  SmallVector<int64_t> dataShape(data);
  for (int64_t j = 0; j < k; ++j)
    if (dataShape[j] == 0 && shapeProduct(ctx.shape(2)) > 0)
      return ctx.fail("indices address dimension " + std::to_string(j) +
                      " of the data, which is empty");
  Value r =
      emitScatterLoop(ctx, ctx.value(0), ctx.value(2), *kind, ctx.dtype(0),
                      [&](OpBuilder &b, Location l, ArrayRef<Value> coords) {
                        SmallVector<Value> at(coords.take_front(q - 1));
                        at.push_back(Value());
                        SmallVector<Value> dst;
                        for (int64_t j = 0; j < k; ++j) {
                          at.back() = arith::ConstantIndexOp::create(b, l, j);
                          Value i =
                              tensor::ExtractOp::create(b, l, indices, at);
                          dst.push_back(wrapIndex(b, l, i, idxT, dataShape[j]));
                        }
                        dst.append(coords.begin() + (q - 1), coords.end());
                        return dst;
                      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

/// GatherND with `batch_dims` b: indices [B..., I..., k] pick slices
/// data[B..., i_0, ..., i_{k-1}, ...]; the output is [B..., I...,
/// data.shape[b + k:]...].
LogicalResult convertGatherND(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 2)))
    return failure();
  if (!isIndexDType(ctx.dtype(1)))
    return ctx.fail(Twine("indices must be int32 or int64, not ") +
                    dtypeName(ctx.dtype(1)));
  ArrayRef<int64_t> data = ctx.shape(0), idx = ctx.shape(1);
  int64_t rank = data.size(), q = idx.size();
  int64_t bd = ctx.attrInt("batch_dims", 0);
  if (q < 1)
    return ctx.fail("indices must have rank >= 1");
  if (bd < 0 || bd >= std::min(rank, q))
    return ctx.fail("batch_dims " + std::to_string(bd) +
                    " must be below the ranks of data and indices");
  for (int64_t d = 0; d < bd; ++d)
    if (data[d] != idx[d])
      return ctx.fail("the batch dimensions of data " + shapeToString(data) +
                      " and indices " + shapeToString(idx) + " differ");
  int64_t k = idx.back();
  if (k < 1 || bd + k > rank)
    return ctx.fail("the last dimension of indices (" + std::to_string(k) +
                    ") must be between 1 and the data's rank less batch_dims");
  SmallVector<int64_t> outShape(idx.drop_back());
  outShape.append(data.begin() + bd + k, data.end());
  Value table = ctx.value(0), indices = ctx.value(1);
  DType idxT = ctx.dtype(1);
  SmallVector<int64_t> dataShape(data);
  for (int64_t j = 0; j < k; ++j)
    if (dataShape[bd + j] == 0 && shapeProduct(outShape) > 0)
      return ctx.fail("indices address dimension " + std::to_string(bd + j) +
                      " of the data, which is empty");
  Value r = emitElementwise(
      ctx.b, ctx.loc, ValueRange{}, outShape, ctx.elemType(ctx.dtype(0)),
      [&](OpBuilder &b, Location l, ValueRange) -> Value {
        SmallVector<Value> out;
        for (size_t d = 0; d < outShape.size(); ++d)
          out.push_back(linalg::IndexOp::create(b, l, d));
        SmallVector<Value> at(ArrayRef<Value>(out).take_front(q - 1));
        at.push_back(Value());
        SmallVector<Value> src(ArrayRef<Value>(out).take_front(bd));
        for (int64_t j = 0; j < k; ++j) {
          at.back() = arith::ConstantIndexOp::create(b, l, j);
          Value i = tensor::ExtractOp::create(b, l, indices, at);
          src.push_back(wrapIndex(b, l, i, idxT, dataShape[bd + j]));
        }
        src.append(out.begin() + (q - 1), out.end());
        return tensor::ExtractOp::create(b, l, table, src);
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

/// OneHot(indices, depth, values): out[..., j, ...] = values[1] where
/// indices[...] (negative counting from depth) is j, else values[0]. The
/// depth decides the output shape, so it must be known at compile time.
LogicalResult convertOneHot(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 3)))
    return failure();
  const HostTensor *depthT = ctx.host(1);
  if (!depthT)
    return ctx.fail("depth must be known at compile time (it decides the "
                    "output shape)");
  if (depthT->numElements() != 1)
    return ctx.fail("depth must hold one value");
  int64_t depth = (int64_t)depthT->getF(0);
  if (depth < 1)
    return ctx.fail("depth must be positive, not " + std::to_string(depth));
  if (ctx.shape(2) != ArrayRef<int64_t>{2})
    return ctx.fail("values must hold two elements [off, on], not " +
                    shapeToString(ctx.shape(2)));
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", -1), rank + 1);
  if (failed(axis))
    return failure();
  DType idxT = ctx.dtype(0), valT = ctx.dtype(2);
  if (idxT == DType::Bool)
    return ctx.fail("indices must be numeric");
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value values = ctx.value(2);
  Value off = tensor::ExtractOp::create(
      b, loc, values, ValueRange{arith::ConstantIndexOp::create(b, loc, 0)});
  Value on = tensor::ExtractOp::create(
      b, loc, values, ValueRange{arith::ConstantIndexOp::create(b, loc, 1)});
  SmallVector<int64_t> outShape(ctx.shape(0));
  outShape.insert(outShape.begin() + *axis, depth);
  int64_t outRank = outShape.size(), ax = *axis;
  MLIRContext *mctx = ctx.ctx();
  SmallVector<AffineExpr> inExprs;
  for (int64_t d = 0; d < outRank; ++d)
    if (d != ax)
      inExprs.push_back(getAffineDimExpr(d, mctx));
  SmallVector<AffineMap> maps = {AffineMap::get(outRank, 0, inExprs, mctx),
                                 b.getMultiDimIdentityMap(outRank)};
  SmallVector<utils::IteratorType> iters(outRank,
                                         utils::IteratorType::parallel);
  Value init = tensor::EmptyOp::create(b, loc, outShape, ctx.elemType(valT));
  Value r =
      linalg::GenericOp::create(
          b, loc, TypeRange{init.getType()}, ValueRange{ctx.value(0)},
          ValueRange{init}, maps, iters,
          [&](OpBuilder &nb, Location l, ValueRange a) {
            Value i = castScalar(nb, l, a[0], idxT, DType::I64);
            Type i64 = i.getType();
            Value zero = emitScalar(nb, l, i64, 0);
            Value neg = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt,
                                              i, zero);
            i = arith::SelectOp::create(
                nb, l, neg,
                arith::AddIOp::create(nb, l, i, emitScalar(nb, l, i64, depth)),
                i);
            Value j = arith::IndexCastOp::create(
                nb, l, i64, linalg::IndexOp::create(nb, l, ax));
            Value hit =
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, i, j);
            linalg::YieldOp::create(
                nb, l,
                arith::SelectOp::create(nb, l, hit, on, off).getResult());
          })
          .getResult(0);
  ctx.setOutput(0, r, valT);
  return success();
}

/// ReverseSequence: along time_axis, the first sequence_lens[b] entries of
/// each batch entry b are reversed; the rest are copied.
LogicalResult convertReverseSequence(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 2)))
    return failure();
  int64_t rank = ctx.rank(0);
  if (rank < 2)
    return ctx.fail("input must have rank >= 2");
  int64_t timeAxis = ctx.attrInt("time_axis", 0),
          batchAxis = ctx.attrInt("batch_axis", 1);
  if ((timeAxis != 0 && timeAxis != 1) || (batchAxis != 0 && batchAxis != 1) ||
      timeAxis == batchAxis)
    return ctx.fail("time_axis and batch_axis must be 0 and 1 in either "
                    "order, not " +
                    std::to_string(timeAxis) + " and " +
                    std::to_string(batchAxis));
  ArrayRef<int64_t> in = ctx.shape(0);
  if (!isIndexDType(ctx.dtype(1)) ||
      ctx.shape(1) != ArrayRef<int64_t>{in[batchAxis]})
    return ctx.fail("sequence_lens must be an int32 or int64 vector of the "
                    "batch size " +
                    std::to_string(in[batchAxis]));
  Value x = ctx.value(0), lens = ctx.value(1);
  DType lenT = ctx.dtype(1);
  int64_t steps = in[timeAxis];
  Value r = emitElementwise(
      ctx.b, ctx.loc, ValueRange{}, in, ctx.elemType(ctx.dtype(0)),
      [&](OpBuilder &b, Location l, ValueRange) -> Value {
        SmallVector<Value> coords;
        for (int64_t d = 0; d < rank; ++d)
          coords.push_back(linalg::IndexOp::create(b, l, d));
        Value n = tensor::ExtractOp::create(b, l, lens, coords[batchAxis]);
        n = castScalar(b, l, n, lenT, DType::I64);
        Type i64 = n.getType();
        n = arith::MaxSIOp::create(b, l, n, emitScalar(b, l, i64, 0));
        n = arith::MinSIOp::create(b, l, n, emitScalar(b, l, i64, steps));
        Value t = arith::IndexCastOp::create(b, l, i64, coords[timeAxis]);
        Value inside =
            arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, t, n);
        Value rev = arith::SubIOp::create(
            b, l, arith::SubIOp::create(b, l, n, emitScalar(b, l, i64, 1)), t);
        Value src = arith::SelectOp::create(b, l, inside, rev, t);
        coords[timeAxis] =
            arith::IndexCastOp::create(b, l, b.getIndexType(), src);
        return tensor::ExtractOp::create(b, l, x, coords);
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

/// Compress with a condition known at compile time (it decides the output
/// shape): the entries along `axis` (of the flattened input without one)
/// whose condition is true, gathered with a constant index table.
LogicalResult convertCompress(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 2)))
    return failure();
  const HostTensor *cond = ctx.host(1);
  if (!cond)
    return ctx.fail("condition must be known at compile time (it decides "
                    "the output shape)");
  if (cond->shape.size() != 1)
    return ctx.fail("condition must be 1-D, not " + shapeToString(cond->shape));
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  SmallVector<int64_t> in(ctx.shape(0));
  int64_t axis = 0;
  if (ctx.hasAttr("axis")) {
    auto a = ctx.normalizeAxis(ctx.attrInt("axis", 0), in.size());
    if (failed(a))
      return failure();
    axis = *a;
  } else {
    in = {shapeProduct(in)};
    x = emitReshape(b, loc, x, in);
  }
  int64_t dim = in[axis];
  std::vector<int64_t> picked;
  for (int64_t k = 0; k < cond->numElements(); ++k) {
    bool on = cond->isFloat() ? cond->getF(k) != 0 : cond->getI(k) != 0;
    if (!on)
      continue;
    if (k >= dim)
      return ctx.fail("condition selects entry " + std::to_string(k) +
                      " of an axis of " + std::to_string(dim));
    picked.push_back(k);
  }
  SmallVector<int64_t> outShape(in);
  outShape[axis] = picked.size();
  HostTensor table(DType::I64, {(int64_t)picked.size()});
  table.i = picked;
  Value tableV = emitConstant(b, loc, table, SIZE_MAX);
  int64_t rank = in.size();
  Value r = emitElementwise(
      b, loc, ValueRange{}, outShape, ctx.elemType(ctx.dtype(0)),
      [&](OpBuilder &nb, Location l, ValueRange) -> Value {
        SmallVector<Value> coords;
        for (int64_t d = 0; d < rank; ++d)
          coords.push_back(linalg::IndexOp::create(nb, l, d));
        Value src = tensor::ExtractOp::create(nb, l, tableV, coords[axis]);
        coords[axis] =
            arith::IndexCastOp::create(nb, l, nb.getIndexType(), src);
        return tensor::ExtractOp::create(nb, l, x, coords);
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

/// `x` comes before `y` in TopK's order (largest or smallest first). NaN
/// counts as larger than any number, so the order is total and the places
/// below are a permutation whatever the input holds.
Value topKBefore(OpBuilder &b, Location l, Value x, Value y, bool largest,
                 DType t) {
  if (isFloatDType(t)) {
    auto cmp = [&](arith::CmpFPredicate p, Value u, Value v) -> Value {
      return arith::CmpFOp::create(b, l, p, u, v);
    };
    Value xNaN = cmp(arith::CmpFPredicate::UNO, x, x);
    Value yNaN = cmp(arith::CmpFPredicate::UNO, y, y);
    Value big = largest ? x : y, small = largest ? y : x;
    Value bigNaN = largest ? xNaN : yNaN, smallNaN = largest ? yNaN : xNaN;
    Value nanFirst = arith::AndIOp::create(
        b, l, bigNaN,
        arith::XOrIOp::create(b, l, smallNaN,
                              arith::ConstantIntOp::create(b, l, 1, 1)));
    return arith::OrIOp::create(
        b, l, cmp(arith::CmpFPredicate::OGT, big, small), nanFirst);
  }
  bool u = isUnsignedDType(t) || t == DType::Bool;
  arith::CmpIPredicate p =
      largest ? (u ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt)
              : (u ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt);
  return arith::CmpIOp::create(b, l, p, x, y);
}

/// `x` and `y` tie in TopK's order (two NaNs tie).
Value topKTie(OpBuilder &b, Location l, Value x, Value y) {
  if (isa<FloatType>(x.getType())) {
    Value eq = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, x, y);
    Value bothNaN = arith::AndIOp::create(
        b, l, arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, x, x),
        arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, y, y));
    return arith::OrIOp::create(b, l, eq, bothNaN);
  }
  return arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, x, y);
}

/// TopK with K known at compile time. Each element's place in the order is
/// the number of elements before it (ties: the lower index first); output j
/// along the axis is the element whose place is j. Both steps are
/// reductions over the axis (O(n^2) per row), so values and indices are
/// sorted whatever `sorted` says.
LogicalResult convertTopK(NodeContext &ctx) {
  int64_t k;
  if (ctx.opset < 10) {
    if (!ctx.hasAttr("k"))
      return ctx.fail("missing attribute 'k'");
    k = ctx.attrInt("k", 0);
  } else {
    if (failed(requireInputs(ctx, 2)))
      return failure();
    const HostTensor *kt = ctx.host(1);
    if (!kt)
      return ctx.fail("K must be known at compile time (it decides the "
                      "output shape)");
    if (kt->numElements() != 1)
      return ctx.fail("K must hold one value");
    k = kt->getI(0);
  }
  if (failed(requireInputs(ctx, 1)))
    return failure();
  int64_t rank = ctx.rank(0);
  if (rank < 1)
    return ctx.fail("input must have rank >= 1");
  auto axisOr = ctx.normalizeAxis(ctx.attrInt("axis", -1), rank);
  if (failed(axisOr))
    return failure();
  int64_t axis = *axisOr;
  ArrayRef<int64_t> in = ctx.shape(0);
  int64_t n = in[axis];
  if (k < 0 || k > n)
    return ctx.fail("K = " + std::to_string(k) + " is outside 0.." +
                    std::to_string(n) + " (the axis size)");
  bool largest = ctx.attrInt("largest", 1);
  DType t = ctx.dtype(0);
  if (t == DType::Bool)
    return ctx.fail("bool input is not supported");
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  MLIRContext *mctx = ctx.ctx();
  Type i64 = b.getI64Type();
  Value x = ctx.value(0);
  // Dims 0..rank-1 are the output's (or the ranked element's), dim `rank`
  // runs over the axis.
  SmallVector<AffineExpr> own, other;
  for (int64_t d = 0; d < rank; ++d) {
    own.push_back(getAffineDimExpr(d, mctx));
    other.push_back(getAffineDimExpr(d == axis ? rank : d, mctx));
  }
  AffineMap ownMap = AffineMap::get(rank + 1, 0, own, mctx);
  AffineMap otherMap = AffineMap::get(rank + 1, 0, other, mctx);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  iters.push_back(utils::IteratorType::reduction);
  auto filled = [&](ArrayRef<int64_t> shape, Type elem) -> Value {
    Value init = tensor::EmptyOp::create(b, loc, shape, elem);
    return linalg::FillOp::create(b, loc,
                                  ValueRange{emitScalar(b, loc, elem, 0)},
                                  ValueRange{init})
        .getResult(0);
  };
  // place[i] = #{m : x[m] before x[i], or x[m] == x[i] and m < i}.
  Value placeInit = filled(in, i64);
  Value place =
      linalg::GenericOp::create(
          b, loc, TypeRange{placeInit.getType()}, ValueRange{x, x},
          ValueRange{placeInit}, {ownMap, otherMap, ownMap}, iters,
          [&](OpBuilder &nb, Location l, ValueRange a) {
            Value i = linalg::IndexOp::create(nb, l, axis);
            Value m = linalg::IndexOp::create(nb, l, rank);
            Value lower =
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult, m, i);
            Value tie =
                arith::AndIOp::create(nb, l, lower, topKTie(nb, l, a[1], a[0]));
            Value before = arith::OrIOp::create(
                nb, l, topKBefore(nb, l, a[1], a[0], largest, t), tie);
            Value one = arith::ExtUIOp::create(nb, l, i64, before);
            linalg::YieldOp::create(
                nb, l, arith::AddIOp::create(nb, l, a[2], one).getResult());
          })
          .getResult(0);
  // out[j] = sum over m of (place[m] == j ? x[m] : 0); exactly one m
  // matches.
  SmallVector<int64_t> outShape(in);
  outShape[axis] = k;
  Type elem = ctx.elemType(t);
  Value valInit = filled(outShape, elem), idxInit = filled(outShape, i64);
  auto pick = linalg::GenericOp::create(
      b, loc, TypeRange{valInit.getType(), idxInit.getType()},
      ValueRange{x, place}, ValueRange{valInit, idxInit},
      {otherMap, otherMap, ownMap, ownMap}, iters,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value j = arith::IndexCastOp::create(
            nb, l, i64, linalg::IndexOp::create(nb, l, axis));
        Value m = arith::IndexCastOp::create(
            nb, l, i64, linalg::IndexOp::create(nb, l, rank));
        Value hit =
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, a[1], j);
        Value v = arith::SelectOp::create(nb, l, hit, a[0],
                                          emitScalar(nb, l, elem, 0));
        Value mi =
            arith::SelectOp::create(nb, l, hit, m, emitScalar(nb, l, i64, 0));
        Value sum = combineScalars(nb, l, ReduceKind::Sum, a[2], v, false);
        linalg::YieldOp::create(
            nb, l,
            ValueRange{sum,
                       arith::AddIOp::create(nb, l, a[3], mi).getResult()});
      });
  ctx.setOutput(0, pick.getResult(0), t);
  if (ctx.hasOutput(1))
    ctx.setOutput(1, pick.getResult(1), DType::I64);
  return success();
}

LogicalResult convertDataDependent(NodeContext &ctx) {
  if (failed(requireInputs(ctx, 1)))
    return failure();
  if (ctx.host(0))
    return ctx.fail("the input is known at compile time but too large to "
                    "evaluate there (" +
                    shapeToString(ctx.shape(0)) + ")");
  return ctx.fail("the output shape depends on the input values, so the "
                  "input must be known at compile time (a constant or "
                  "computed from constants and shapes)");
}

} // namespace

void appendIndexingConverters(std::vector<ConverterEntry> &t) {
  auto add = [&](const char *op, ConvertFn fn, int since,
                 FoldFn fold = nullptr) {
    t.push_back({"", op, since, fn, fold});
  };
  add("Scatter", convertScatterElements, 9, foldScatter);
  add("ScatterElements", convertScatterElements, 11, foldScatter);
  add("ScatterND", convertScatterND, 11, foldScatter);
  add("GatherND", convertGatherND, 11, foldGatherND);
  add("OneHot", convertOneHot, 9);
  add("ReverseSequence", convertReverseSequence, 10);
  add("Compress", convertCompress, 9);
  add("TopK", convertTopK, 1);
  add("NonZero", convertDataDependent, 9, foldNonZero);
  add("Unique", convertDataDependent, 11, foldUnique);
}

} // namespace qopt::onnx_frontend
