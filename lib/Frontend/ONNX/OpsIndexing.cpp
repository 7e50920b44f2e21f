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

bool isIndexDType(DType t) { return t == DType::I32 || t == DType::I64; }

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
  i = arith::MinSIOp::create(b, l, i,
                             emitScalar(b, l, i64, std::max<int64_t>(dim - 1, 0)));
  return arith::IndexCastOp::create(b, l, b.getIndexType(), i);
}

/// The row-major coordinates of element `linear` (an index) of `shape`.
SmallVector<Value> delinearize(OpBuilder &b, Location l, Value linear,
                               ArrayRef<int64_t> shape) {
  SmallVector<Value> coords(shape.size());
  for (int d = (int)shape.size() - 1; d >= 0; --d) {
    Value dim = arith::ConstantIndexOp::create(b, l, shape[d]);
    coords[d] = d == 0 ? linear : (Value)arith::RemUIOp::create(b, l, linear, dim);
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
  return combineScalars(b, l, k, cur, upd, isUnsignedDType(t) || t == DType::Bool);
}

/// The coordinates in the output that update element `coords` (of the
/// updates tensor) writes to.
using TargetFn = std::function<SmallVector<Value>(OpBuilder &, Location,
                                                  ArrayRef<Value>)>;

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
  Value r = emitScatterLoop(
      ctx, ctx.value(0), ctx.value(2), *kind, ctx.dtype(0),
      [&](OpBuilder &b, Location l, ArrayRef<Value> coords) {
        SmallVector<Value> dst(coords);
        Value i = tensor::ExtractOp::create(b, l, indices, coords);
        dst[ax] = wrapIndex(b, l, i, idxT, dim);
        return dst;
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

/// ScatterND: indices [I..., k] address slices data[i_0, ..., i_{k-1}, ...];
/// updates are [I..., data.shape[k:]...].
LogicalResult convertScatterND(NodeContext &ctx) {
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
  Value r = emitScatterLoop(
      ctx, ctx.value(0), ctx.value(2), *kind, ctx.dtype(0),
      [&](OpBuilder &b, Location l, ArrayRef<Value> coords) {
        SmallVector<Value> at(coords.take_front(q - 1));
        at.push_back(Value());
        SmallVector<Value> dst;
        for (int64_t j = 0; j < k; ++j) {
          at.back() = arith::ConstantIndexOp::create(b, l, j);
          Value i = tensor::ExtractOp::create(b, l, indices, at);
          dst.push_back(wrapIndex(b, l, i, idxT, dataShape[j]));
        }
        dst.append(coords.begin() + (q - 1), coords.end());
        return dst;
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

} // namespace

void appendIndexingConverters(std::vector<ConverterEntry> &t) {
  auto add = [&](const char *op, ConvertFn fn, int since,
                 FoldFn fold = nullptr) {
    t.push_back({"", op, since, fn, fold});
  };
  add("Scatter", convertScatterElements, 9);
  add("ScatterElements", convertScatterElements, 11);
  add("ScatterND", convertScatterND, 11);
}

} // namespace qopt::onnx_frontend
