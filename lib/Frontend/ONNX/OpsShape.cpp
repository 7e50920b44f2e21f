//===- OpsShape.cpp - ONNX data movement and shape ops ---------------------===//
//
// Reshape-like ops become tosa.reshape, Transpose tosa.transpose, Concat
// tosa.concat, Slice tensor.extract_slice, Gather tosa.gather (over a
// [1, K, C] view) and the rest linalg.generic with index arithmetic.
// Shape-valued inputs (Reshape's shape, Slice's starts ...) must be known at
// import time; the host folder has already computed them.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"

#include <cmath>

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

FailureOr<std::vector<int64_t>> knownInts(NodeContext &ctx, unsigned i,
                                          StringRef what) {
  const HostTensor *t = ctx.host(i);
  if (!t) {
    (void)ctx.fail(what + Twine(" must be known at compile time (it is "
                                "computed from run-time values)"));
    return failure();
  }
  std::vector<int64_t> v;
  for (int64_t k = 0; k < t->numElements(); ++k)
    v.push_back(t->getI(k));
  return v;
}

LogicalResult setReshaped(NodeContext &ctx, ArrayRef<int64_t> shape) {
  if (shapeProduct(shape) != shapeProduct(ctx.shape(0)))
    return ctx.fail("cannot reshape " + shapeToString(ctx.shape(0)) + " to " +
                    shapeToString(shape));
  ctx.setOutput(0, emitReshape(ctx.b, ctx.loc, ctx.value(0), shape),
                ctx.dtype(0));
  return success();
}

LogicalResult convertReshape(NodeContext &ctx) {
  std::vector<int64_t> target;
  if (ctx.opset < 5) {
    target = ctx.attrInts("shape").value_or(std::vector<int64_t>{});
  } else {
    auto t = knownInts(ctx, 1, "the target shape");
    if (failed(t))
      return failure();
    target = *t;
  }
  auto in = ctx.shape(0);
  bool allowZero = ctx.attrInt("allowzero", 0);
  SmallVector<int64_t> out;
  int64_t known = 1, infer = -1;
  for (size_t d = 0; d < target.size(); ++d) {
    int64_t v = target[d];
    if (v == 0 && !allowZero) {
      if (d >= in.size())
        return ctx.fail("shape entry 0 at position " + std::to_string(d) +
                        " has no input dimension to copy");
      v = in[d];
    }
    if (v == -1) {
      if (infer >= 0)
        return ctx.fail("more than one -1 in the target shape");
      infer = d;
      out.push_back(1);
      continue;
    }
    if (v < 0)
      return ctx.fail("invalid target dimension " + std::to_string(v));
    out.push_back(v);
    known *= v;
  }
  if (infer >= 0) {
    if (known == 0 || shapeProduct(in) % known)
      return ctx.fail("cannot infer -1 when reshaping " + shapeToString(in) +
                      " to " + shapeToString(target));
    out[infer] = shapeProduct(in) / known;
  }
  return setReshaped(ctx, out);
}

LogicalResult convertFlatten(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  int64_t axis = ctx.attrInt("axis", 1);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis > rank)
    return ctx.fail("axis out of range");
  int64_t outer = shapeProduct(ctx.shape(0).take_front(axis));
  return setReshaped(ctx, {outer, shapeProduct(ctx.shape(0)) / outer});
}

LogicalResult convertSqueeze(NodeContext &ctx) {
  auto axesOr = ctx.intsFromAttrOrInput("axes", 1);
  if (failed(axesOr))
    return failure();
  int64_t rank = ctx.rank(0);
  SmallVector<int64_t> axes;
  for (int64_t a : axesOr->value_or(std::vector<int64_t>{})) {
    auto n = ctx.normalizeAxis(a, rank);
    if (failed(n))
      return failure();
    if (ctx.shape(0)[*n] != 1)
      return ctx.fail("cannot squeeze axis " + std::to_string(a) +
                      " of size " + std::to_string(ctx.shape(0)[*n]));
    axes.push_back(*n);
  }
  SmallVector<int64_t> out;
  for (int64_t d = 0; d < rank; ++d) {
    bool drop = axes.empty() ? ctx.shape(0)[d] == 1 : llvm::is_contained(axes, d);
    if (!drop)
      out.push_back(ctx.shape(0)[d]);
  }
  return setReshaped(ctx, out);
}

LogicalResult convertUnsqueeze(NodeContext &ctx) {
  auto axesOr = ctx.intsFromAttrOrInput("axes", 1);
  if (failed(axesOr) || !*axesOr)
    return failed(axesOr) ? failure() : ctx.fail("missing axes");
  std::vector<int64_t> axes = **axesOr;
  int64_t outRank = ctx.rank(0) + axes.size();
  for (int64_t &a : axes) {
    auto n = ctx.normalizeAxis(a, outRank);
    if (failed(n))
      return failure();
    a = *n;
  }
  std::sort(axes.begin(), axes.end());
  SmallVector<int64_t> out(ctx.shape(0));
  for (int64_t a : axes)
    out.insert(out.begin() + a, 1);
  return setReshaped(ctx, out);
}

LogicalResult convertTranspose(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  SmallVector<int64_t> perm;
  if (auto p = ctx.attrInts("perm"))
    perm.assign(p->begin(), p->end());
  else
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  if (!isPermutation(perm, rank))
    return ctx.fail("perm " + shapeToString(perm) +
                    " is not a permutation of rank " + std::to_string(rank));
  ctx.setOutput(0, emitTranspose(ctx.b, ctx.loc, ctx.value(0), perm),
                ctx.dtype(0));
  return success();
}

LogicalResult convertConcat(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  SmallVector<Value> ins;
  SmallVector<int64_t> shape(ctx.shape(0));
  shape[*axis] = 0;
  for (unsigned i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i))
      continue;
    if (ctx.rank(i) != rank)
      return ctx.fail("inputs have different ranks");
    for (int64_t d = 0; d < rank; ++d)
      if (d != *axis && ctx.shape(i)[d] != ctx.shape(0)[d])
        return ctx.fail("input " + std::to_string(i) + " has shape " +
                        shapeToString(ctx.shape(i)) +
                        ", incompatible with " + shapeToString(ctx.shape(0)));
    shape[*axis] += ctx.shape(i)[*axis];
    if (ctx.shape(i)[*axis] > 0)
      ins.push_back(ctx.value(i));
  }
  Value r;
  if (ins.size() == 1) {
    r = ins[0];
  } else {
    r = tensor::ConcatOp::create(ctx.b, ctx.loc, *axis, ins);
  }
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

} // namespace

FailureOr<SliceSpec> resolveSlice(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset < 10) {
    starts = ctx.attrInts("starts").value_or(std::vector<int64_t>{});
    ends = ctx.attrInts("ends").value_or(std::vector<int64_t>{});
    axes = ctx.attrInts("axes").value_or(std::vector<int64_t>{});
  } else {
    auto s = knownInts(ctx, 1, "starts"), e = knownInts(ctx, 2, "ends");
    if (failed(s) || failed(e))
      return failure();
    starts = *s;
    ends = *e;
    if (ctx.hasInput(3)) {
      auto a = knownInts(ctx, 3, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
    if (ctx.hasInput(4)) {
      auto st = knownInts(ctx, 4, "steps");
      if (failed(st))
        return failure();
      steps = *st;
    }
  }
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k)
      axes.push_back(k);
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    (void)ctx.fail("starts, ends, axes and steps differ in length");
    return failure();
  }
  SmallVector<SliceRange> ranges;
  for (int64_t d = 0; d < rank; ++d)
    ranges.push_back({0, ctx.shape(0)[d], 1});
  for (size_t k = 0; k < axes.size(); ++k) {
    auto ax = ctx.normalizeAxis(axes[k], rank);
    if (failed(ax))
      return failure();
    if (steps[k] == 0) {
      (void)ctx.fail("step is 0");
      return failure();
    }
    ranges[*ax] =
        normalizeSliceRange(starts[k], ends[k], steps[k], ctx.shape(0)[*ax]);
  }
  SliceSpec spec;
  for (const SliceRange &r : ranges) {
    spec.offsets.push_back(r.offset);
    spec.sizes.push_back(r.size);
    spec.strides.push_back(r.stride);
  }
  return spec;
}

namespace {

LogicalResult convertSlice(NodeContext &ctx) {
  auto spec = resolveSlice(ctx);
  if (failed(spec))
    return failure();
  ctx.setOutput(0,
                emitSlice(ctx.b, ctx.loc, ctx.value(0), spec->offsets,
                          spec->sizes, spec->strides),
                ctx.dtype(0));
  return success();
}

LogicalResult convertSplit(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  int64_t dim = ctx.shape(0)[*axis];
  std::vector<int64_t> sizes;
  auto splitOr = ctx.intsFromAttrOrInput("split", 1);
  if (failed(splitOr))
    return failure();
  unsigned n = ctx.numOutputs();
  if (*splitOr) {
    sizes = **splitOr;
  } else {
    int64_t parts = ctx.attrInt("num_outputs", n);
    // Checked before dividing by it (a fuzzed num_outputs of 0).
    if (parts != (int64_t)n)
      return ctx.fail("num_outputs is " + std::to_string(parts) +
                      " but the node has " + std::to_string(n) + " outputs");
    int64_t chunk = (dim + parts - 1) / parts;
    for (int64_t p = 0; p < parts; ++p)
      sizes.push_back(std::min(chunk, dim - p * chunk));
  }
  if (sizes.size() != n)
    return ctx.fail("split has " + std::to_string(sizes.size()) +
                    " parts but the node has " + std::to_string(n) +
                    " outputs");
  if (!isValidShape(sizes))
    return ctx.fail("split sizes must be non-negative");
  int64_t total = 0;
  for (int64_t s : sizes)
    total += s;
  if (total != dim)
    return ctx.fail("split sizes add up to " + std::to_string(total) +
                    ", not the axis size " + std::to_string(dim));
  Value in = ctx.value(0);
  int64_t pos = 0;
  for (unsigned o = 0; o < n; ++o) {
    SmallVector<int64_t> off(rank, 0), size(ctx.shape(0)), stride(rank, 1);
    off[*axis] = pos;
    size[*axis] = sizes[o];
    ctx.setOutput(o, emitSlice(ctx.b, ctx.loc, in, off, size, stride),
                  ctx.dtype(0));
    pos += sizes[o];
  }
  return success();
}

/// An ONNX gather index as `index`: negative values count from the end of a
/// `dim`-element axis; out-of-range values are clamped so a bad index can
/// never read outside the tensor.
Value emitGatherIndex(OpBuilder &b, Location l, Value i, DType idxT,
                      int64_t dim) {
  i = castScalar(b, l, i, idxT, DType::I64);
  Value zero = emitScalar(b, l, i.getType(), 0);
  Value neg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, i, zero);
  Value wrapped =
      arith::AddIOp::create(b, l, i, emitScalar(b, l, i.getType(), (double)dim));
  i = arith::SelectOp::create(b, l, neg, wrapped, i);
  i = arith::MaxSIOp::create(b, l, i, zero);
  i = arith::MinSIOp::create(b, l, i,
                             emitScalar(b, l, i.getType(), (double)dim - 1));
  return arith::IndexCastOp::create(b, l, b.getIndexType(), i);
}

/// Gather along `axis` with run-time indices: a generic whose body reads the
/// data tensor with tensor.extract at the (wrapped) index.
LogicalResult convertGather(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  ArrayRef<int64_t> data = ctx.shape(0), idxShape = ctx.shape(1);
  int64_t dim = data[*axis];
  ctx.noteIndexOperand(1, dim);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value table = ctx.value(0);
  // Embedding lookups (axis 0, 2-D table) use tosa.gather.
  if (*axis == 0 && rank == 2 && ctx.dtype(0) == DType::F32 &&
      !idxShape.empty()) {
    int64_t n = shapeProduct(idxShape), c = data[1];
    Value idx = ctx.value(1);
    // Wrapped and clamped like the generic path, then i32 for TOSA.
    DType idxT = ctx.dtype(1);
    Value idx32 = emitElementwise(
        b, loc, idx, idxShape, b.getI32Type(),
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          return arith::IndexCastOp::create(
              nb, l, nb.getI32Type(), emitGatherIndex(nb, l, a[0], idxT, dim));
        });
    Value values = emitReshape(b, loc, table, {1, dim, c});
    Value indices = emitReshape(b, loc, idx32, {1, n});
    auto outType = RankedTensorType::get({1, n, c}, b.getF32Type());
    Value g = tosa::GatherOp::create(b, loc, outType, values, indices);
    SmallVector<int64_t> outShape(idxShape);
    outShape.push_back(c);
    ctx.setOutput(0, emitReshape(b, loc, g, outShape), ctx.dtype(0));
    return success();
  }
  SmallVector<int64_t> outShape(data.begin(), data.begin() + *axis);
  outShape.append(idxShape.begin(), idxShape.end());
  outShape.append(data.begin() + *axis + 1, data.end());
  int64_t outRank = outShape.size(), idxRank = idxShape.size();
  MLIRContext *mctx = ctx.ctx();
  SmallVector<AffineExpr> idxExprs;
  for (int64_t d = 0; d < idxRank; ++d)
    idxExprs.push_back(getAffineDimExpr(*axis + d, mctx));
  SmallVector<AffineMap> maps = {AffineMap::get(outRank, 0, idxExprs, mctx),
                                 b.getMultiDimIdentityMap(outRank)};
  SmallVector<utils::IteratorType> iters(outRank, utils::IteratorType::parallel);
  Value init = tensor::EmptyOp::create(b, loc, outShape, ctx.elemType(ctx.dtype(0)));
  DType idxT = ctx.dtype(1);
  Value r = linalg::GenericOp::create(
                b, loc, TypeRange{init.getType()}, ValueRange{ctx.value(1)},
                ValueRange{init}, maps, iters,
                [&](OpBuilder &nb, Location l, ValueRange a) {
                  Value iIdx = emitGatherIndex(nb, l, a[0], idxT, dim);
                  SmallVector<Value> coords;
                  for (int64_t d = 0; d < *axis; ++d)
                    coords.push_back(linalg::IndexOp::create(nb, l, d));
                  coords.push_back(iIdx);
                  for (int64_t d = *axis + 1; d < rank; ++d)
                    coords.push_back(
                        linalg::IndexOp::create(nb, l, d - 1 + idxRank));
                  Value v = tensor::ExtractOp::create(nb, l, table, coords);
                  linalg::YieldOp::create(nb, l, v);
                })
                .getResult(0);
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult convertGatherElements(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  if (ctx.rank(1) != rank)
    return ctx.fail("indices must have the rank of the data");
  int64_t dim = ctx.shape(0)[*axis];
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value table = ctx.value(0);
  DType idxT = ctx.dtype(1);
  ArrayRef<int64_t> outShape = ctx.shape(1);
  Value r = emitElementwise(
      b, loc, ctx.value(1), outShape, ctx.elemType(ctx.dtype(0)),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value iIdx = emitGatherIndex(nb, l, a[0], idxT, dim);
        SmallVector<Value> coords;
        for (int64_t d = 0; d < rank; ++d)
          coords.push_back(d == *axis ? iIdx
                                      : (Value)linalg::IndexOp::create(nb, l, d));
        return tensor::ExtractOp::create(nb, l, table, coords);
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult convertExpand(NodeContext &ctx) {
  auto target = knownInts(ctx, 1, "the target shape");
  if (failed(target))
    return failure();
  SmallVector<int64_t> shape;
  if (!isValidShape(*target) || !broadcastShapes(ctx.shape(0), *target, shape))
    return ctx.fail("cannot expand " + shapeToString(ctx.shape(0)) + " to " +
                    shapeToString(*target));
  Value in = ctx.value(0);
  ctx.setOutput(0, emitBroadcastTo(ctx.b, ctx.loc, in, shape), ctx.dtype(0));
  return success();
}

LogicalResult convertTile(NodeContext &ctx) {
  auto reps = knownInts(ctx, 1, "repeats");
  if (failed(reps))
    return failure();
  int64_t rank = ctx.rank(0);
  if ((int64_t)reps->size() != rank)
    return ctx.fail("repeats has " + std::to_string(reps->size()) +
                    " entries for rank " + std::to_string(rank));
  if (!isValidShape(*reps))
    return ctx.fail("repeats must be non-negative");
  SmallVector<int64_t> outShape;
  for (int64_t d = 0; d < rank; ++d)
    outShape.push_back(ctx.shape(0)[d] * (*reps)[d]);
  MLIRContext *mctx = ctx.ctx();
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d)
    exprs.push_back(getAffineDimExpr(d, mctx) % ctx.shape(0)[d]);
  OpBuilder &b = ctx.b;
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, exprs, mctx),
                                 b.getMultiDimIdentityMap(rank)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  Value init = tensor::EmptyOp::create(b, ctx.loc, outShape,
                                       ctx.elemType(ctx.dtype(0)));
  Value r = linalg::GenericOp::create(
                b, ctx.loc, TypeRange{init.getType()}, ValueRange{ctx.value(0)},
                ValueRange{init}, maps, iters,
                [](OpBuilder &nb, Location l, ValueRange a) {
                  linalg::YieldOp::create(nb, l, a[0]);
                })
                .getResult(0);
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult convertPad(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  std::string mode = ctx.attrString("mode", "constant");
  std::vector<int64_t> pads;
  double padValue = 0.0;
  Value padScalar;
  if (ctx.opset < 11) {
    pads = ctx.attrInts("pads").value_or(std::vector<int64_t>{});
    padValue = ctx.attrFloat("value", 0.0f);
  } else {
    auto p = knownInts(ctx, 1, "pads");
    if (failed(p))
      return failure();
    pads = *p;
    if (ctx.hasInput(2)) {
      const HostTensor *v = ctx.host(2);
      if (!v)
        return ctx.fail("constant_value must be known at compile time");
      padValue = v->getF(0);
    }
  }
  std::vector<int64_t> axes;
  if (ctx.hasInput(3)) {
    auto a = knownInts(ctx, 3, "axes");
    if (failed(a))
      return failure();
    axes = *a;
  } else {
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  if (pads.size() != 2 * axes.size())
    return ctx.fail("pads has " + std::to_string(pads.size()) +
                    " entries, expected " + std::to_string(2 * axes.size()));
  SmallVector<int64_t> lo(rank, 0), hi(rank, 0);
  for (size_t k = 0; k < axes.size(); ++k) {
    auto ax = ctx.normalizeAxis(axes[k], rank);
    if (failed(ax))
      return failure();
    lo[*ax] = pads[k];
    hi[*ax] = pads[k + axes.size()];
  }
  ArrayRef<int64_t> in = ctx.shape(0);
  SmallVector<int64_t> outShape;
  for (int64_t d = 0; d < rank; ++d)
    outShape.push_back(in[d] + lo[d] + hi[d]);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value src = ctx.value(0);
  // Negative pads crop first.
  SmallVector<int64_t> cropOff(rank, 0), cropSize(in), ones(rank, 1);
  bool crop = false;
  for (int64_t d = 0; d < rank; ++d) {
    if (lo[d] < 0) {
      cropOff[d] = -lo[d];
      cropSize[d] += lo[d];
      lo[d] = 0;
      crop = true;
    }
    if (hi[d] < 0) {
      cropSize[d] += hi[d];
      hi[d] = 0;
      crop = true;
    }
  }
  if (!isValidShape(cropSize) || !isValidShape(outShape))
    return ctx.fail("pads remove more than the input holds");
  if (crop) {
    src = emitSlice(b, loc, src, cropOff, cropSize, ones);
    in = cast<RankedTensorType>(src.getType()).getShape();
  }
  Type elem = ctx.elemType(ctx.dtype(0));
  if (mode == "constant") {
    Value r = emitPad(b, loc, src, lo, hi, padValue);
    ctx.setOutput(0, r, ctx.dtype(0));
    return success();
  }
  if (mode != "reflect" && mode != "edge" && mode != "wrap")
    return ctx.fail("unsupported pad mode '" + mode + "'");
  // reflect / edge / wrap: gather from the source with mirrored indices.
  SmallVector<int64_t> srcShape(in);
  Value r = emitElementwise(
      b, loc, ValueRange{}, outShape, elem,
      [&](OpBuilder &nb, Location l, ValueRange) -> Value {
        SmallVector<Value> coords;
        for (int64_t d = 0; d < rank; ++d) {
          Value i = linalg::IndexOp::create(nb, l, d);
          Value iv = arith::IndexCastOp::create(nb, l, nb.getI64Type(), i);
          Value n = emitScalar(nb, l, nb.getI64Type(), (double)srcShape[d]);
          Value p = arith::SubIOp::create(
              nb, l, iv, emitScalar(nb, l, nb.getI64Type(), (double)lo[d]));
          Value zero = emitScalar(nb, l, nb.getI64Type(), 0);
          Value nm1 = emitScalar(nb, l, nb.getI64Type(), (double)srcShape[d] - 1);
          Value idx;
          if (mode == "edge") {
            idx = arith::MinSIOp::create(nb, l,
                                         arith::MaxSIOp::create(nb, l, p, zero),
                                         nm1);
          } else if (mode == "wrap") {
            Value m = arith::RemSIOp::create(nb, l, p, n);
            Value neg = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt,
                                              m, zero);
            idx = arith::SelectOp::create(
                nb, l, neg, arith::AddIOp::create(nb, l, m, n), m);
          } else {
            // reflect: period 2(n-1), then fold.
            Value period = emitScalar(nb, l, nb.getI64Type(),
                                      std::max<double>(2.0 * (srcShape[d] - 1), 1));
            Value m = arith::RemSIOp::create(nb, l, p, period);
            Value neg = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt,
                                              m, zero);
            m = arith::SelectOp::create(
                nb, l, neg, arith::AddIOp::create(nb, l, m, period), m);
            Value over = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sgt,
                                               m, nm1);
            idx = arith::SelectOp::create(
                nb, l, over, arith::SubIOp::create(nb, l, period, m), m);
            idx = arith::MinSIOp::create(nb, l, idx, nm1);
          }
          coords.push_back(
              arith::IndexCastOp::create(nb, l, nb.getIndexType(), idx));
        }
        return tensor::ExtractOp::create(nb, l, src, coords);
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

/// DepthToSpace / SpaceToDepth as reshape → transpose → reshape.
LogicalResult convertDepthSpace(NodeContext &ctx) {
  if (ctx.rank(0) != 4)
    return ctx.fail("expects a 4-D NCHW input");
  int64_t bs = ctx.attrInt("blocksize", 0);
  if (bs <= 0)
    return ctx.fail("blocksize must be positive");
  auto s = ctx.shape(0);
  int64_t n = s[0], c = s[1], h = s[2], w = s[3];
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  Value r;
  if (ctx.opType() == "DepthToSpace") {
    if (c % (bs * bs))
      return ctx.fail("channels not divisible by blocksize^2");
    bool crd = ctx.attrString("mode", "DCR") == "CRD";
    int64_t oc = c / (bs * bs);
    if (crd) {
      x = emitReshape(b, loc, x, {n, oc, bs, bs, h, w});
      x = emitTranspose(b, loc, x, {0, 1, 4, 2, 5, 3});
    } else {
      x = emitReshape(b, loc, x, {n, bs, bs, oc, h, w});
      x = emitTranspose(b, loc, x, {0, 3, 4, 1, 5, 2});
    }
    r = emitReshape(b, loc, x, {n, oc, h * bs, w * bs});
  } else {
    if (h % bs || w % bs)
      return ctx.fail("spatial size not divisible by blocksize");
    x = emitReshape(b, loc, x, {n, c, h / bs, bs, w / bs, bs});
    x = emitTranspose(b, loc, x, {0, 3, 5, 1, 2, 4});
    r = emitReshape(b, loc, x, {n, c * bs * bs, h / bs, w / bs});
  }
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

LogicalResult convertTrilu(NodeContext &ctx) {
  int64_t rank = ctx.rank(0);
  if (rank < 2)
    return ctx.fail("input must have rank >= 2");
  int64_t k = 0;
  if (ctx.hasInput(1)) {
    const HostTensor *kt = ctx.host(1);
    if (!kt)
      return ctx.fail("k must be known at compile time");
    k = kt->getI(0);
  }
  bool upper = ctx.attrInt("upper", 1);
  Type elem = ctx.elemType(ctx.dtype(0));
  Value r = emitElementwise(
      ctx.b, ctx.loc, ctx.value(0), ctx.shape(0), elem,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value row = arith::IndexCastOp::create(
            nb, l, nb.getI64Type(), linalg::IndexOp::create(nb, l, rank - 2));
        Value col = arith::IndexCastOp::create(
            nb, l, nb.getI64Type(), linalg::IndexOp::create(nb, l, rank - 1));
        Value diff = arith::SubIOp::create(nb, l, col, row);
        Value kv = emitScalar(nb, l, nb.getI64Type(), (double)k);
        Value keep = arith::CmpIOp::create(
            nb, l, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle,
            diff, kv);
        return arith::SelectOp::create(nb, l, keep, a[0],
                                       emitScalar(nb, l, elem, 0.0));
      });
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

/// ConstantOfShape whose result is too large to fold: a splat constant.
LogicalResult convertConstantOfShape(NodeContext &ctx) {
  auto shape = knownInts(ctx, 0, "the shape");
  if (failed(shape))
    return failure();
  if (!isValidShape(*shape))
    return ctx.fail("negative dimension in shape " + shapeToString(*shape));
  HostTensor fill(DType::F32, {1});
  if (const onnx::TensorProto *t = ctx.attrTensor("value")) {
    std::string error;
    if (failed(readTensorProto(*t, "", fill, error)))
      return ctx.fail("bad 'value' tensor: " + error);
  }
  ctx.setOutput(0, emitSplat(ctx.b, ctx.loc, *shape, ctx.elemType(fill.dtype),
                             fill.getF(0)),
                fill.dtype);
  return success();
}

/// Range whose result is too large to fold: start + i * delta per element.
LogicalResult convertRange(NodeContext &ctx) {
  const HostTensor *start = ctx.host(0), *limit = ctx.host(1),
                   *delta = ctx.host(2);
  if (!start || !limit || !delta)
    return ctx.fail("start, limit and delta must be known at compile time "
                    "(the output length decides a static shape)");
  double d = delta->getF(0);
  if (d == 0)
    return ctx.fail("delta is 0");
  int64_t n = std::max<int64_t>(
      (int64_t)std::ceil((limit->getF(0) - start->getF(0)) / d), 0);
  DType t = ctx.dtype(0);
  Type elem = ctx.elemType(t);
  Value r = emitElementwise(
      ctx.b, ctx.loc, ValueRange{}, {n}, elem,
      [&](OpBuilder &b, Location l, ValueRange) -> Value {
        Value i = arith::IndexCastOp::create(b, l, b.getI64Type(),
                                             linalg::IndexOp::create(b, l, 0));
        if (isa<FloatType>(elem)) {
          Value f = castScalar(b, l, i, DType::I64, t);
          return arith::AddFOp::create(
              b, l, emitScalar(b, l, elem, start->getF(0)),
              arith::MulFOp::create(b, l, f, emitScalar(b, l, elem, d)));
        }
        Value v = arith::AddIOp::create(
            b, l, emitScalar(b, l, b.getI64Type(), (double)start->getI(0)),
            arith::MulIOp::create(
                b, l, i, emitScalar(b, l, b.getI64Type(), (double)delta->getI(0))));
        return castScalar(b, l, v, DType::I64, t);
      });
  ctx.setOutput(0, r, t);
  return success();
}

LogicalResult convertMustFold(NodeContext &ctx) {
  return ctx.fail("inputs must be known at compile time (they are computed "
                  "from run-time values)");
}

LogicalResult convertCumSum(NodeContext &ctx) {
  const HostTensor *axisT = ctx.host(1);
  if (!axisT)
    return ctx.fail("axis must be known at compile time");
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(axisT->getI(0), rank);
  if (failed(axis))
    return failure();
  bool exclusive = ctx.attrInt("exclusive", 0), reverse = ctx.attrInt("reverse", 0);
  int64_t n = ctx.shape(0)[*axis];
  // out[.., i, ..] = sum_j in[.., j, ..] * [j < i or j <= i] (reversed if
  // asked): an O(n^2) masked reduction, fine for the sizes CumSum sees.
  MLIRContext *mctx = ctx.ctx();
  OpBuilder &b = ctx.b;
  SmallVector<AffineExpr> inExprs, outExprs;
  for (int64_t d = 0; d < rank; ++d) {
    inExprs.push_back(getAffineDimExpr(d == *axis ? rank : d, mctx));
    outExprs.push_back(getAffineDimExpr(d, mctx));
  }
  SmallVector<AffineMap> maps = {AffineMap::get(rank + 1, 0, inExprs, mctx),
                                 AffineMap::get(rank + 1, 0, outExprs, mctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  iters.push_back(utils::IteratorType::reduction);
  Type elem = ctx.elemType(ctx.dtype(0));
  Value init = tensor::EmptyOp::create(b, ctx.loc, ctx.shape(0), elem);
  Value zero = emitScalar(b, ctx.loc, elem, 0.0);
  Value filled =
      linalg::FillOp::create(b, ctx.loc, ValueRange{zero}, ValueRange{init})
          .getResult(0);
  int64_t axisDim = *axis;
  Value r = linalg::GenericOp::create(
                b, ctx.loc, TypeRange{filled.getType()},
                ValueRange{ctx.value(0)}, ValueRange{filled}, maps, iters,
                [&](OpBuilder &nb, Location l, ValueRange a) {
                  Value i = linalg::IndexOp::create(nb, l, axisDim);
                  Value j = linalg::IndexOp::create(nb, l, rank);
                  if (reverse) {
                    Value last = arith::ConstantIndexOp::create(nb, l, n - 1);
                    i = arith::SubIOp::create(nb, l, last, i);
                    j = arith::SubIOp::create(nb, l, last, j);
                  }
                  Value take = arith::CmpIOp::create(
                      nb, l,
                      exclusive ? arith::CmpIPredicate::ult
                                : arith::CmpIPredicate::ule,
                      j, i);
                  Value x = arith::SelectOp::create(
                      nb, l, take, a[0], emitScalar(nb, l, elem, 0.0));
                  Value s = isa<FloatType>(elem)
                                ? (Value)arith::AddFOp::create(nb, l, a[1], x)
                                : (Value)arith::AddIOp::create(nb, l, a[1], x);
                  linalg::YieldOp::create(nb, l, s);
                })
                .getResult(0);
  ctx.setOutput(0, r, ctx.dtype(0));
  return success();
}

} // namespace

void appendShapeConverters(std::vector<ConverterEntry> &t) {
  auto add = [&](const char *op, ConvertFn fn, int since = 1,
                 FoldFn fold = nullptr) {
    t.push_back({"", op, since, fn, fold});
  };
  add("Reshape", convertReshape, 1, foldReshapeLike);
  add("Flatten", convertFlatten, 1, foldReshapeLike);
  add("Squeeze", convertSqueeze, 1, foldReshapeLike);
  add("Unsqueeze", convertUnsqueeze, 1, foldReshapeLike);
  add("Transpose", convertTranspose, 1, foldTranspose);
  add("Concat", convertConcat, 1, foldConcat);
  add("Slice", convertSlice, 1, foldSlice);
  add("Split", convertSplit);
  add("Gather", convertGather, 1, foldGather);
  add("GatherElements", convertGatherElements, 11);
  add("Expand", convertExpand, 8, foldExpand);
  add("Tile", convertTile);
  add("Pad", convertPad);
  add("DepthToSpace", convertDepthSpace);
  add("SpaceToDepth", convertDepthSpace);
  add("Trilu", convertTrilu, 14, foldTrilu);
  add("CumSum", convertCumSum, 11);
  // Always folded on the host (they need no input values).
  add("Shape", convertMustFold, 1, foldShape);
  add("Size", convertMustFold, 1, foldSize);
  add("Constant", convertMustFold, 1, foldConstant);
  add("ConstantOfShape", convertConstantOfShape, 9, foldConstantOfShape);
  add("Range", convertRange, 11, foldRange);
}

} // namespace qopt::onnx_frontend
