//===- HostEval.cpp - Import-time evaluation of known subgraphs ------------===//
//
// Exported models compute shapes at run time: Shape → Gather → Unsqueeze →
// Concat → Reshape, Range → Trilu masks, and so on. With static input shapes
// every such value is known while importing; this file evaluates those
// nodes on HostTensors so no shape arithmetic reaches the IR. Each folder
// is the `fold` field of its op's converter-table entry.
//
//===----------------------------------------------------------------------===//

#include "ImportContext.h"

#include <cmath>
#include <functional>

using namespace mlir;

namespace qopt::onnx_frontend {

/// Largest folded result; bigger results are left to the compiled code.
static constexpr int64_t kMaxFoldElements = 1 << 20;

/// True when a result of `shape` is too large to fold (checked before it is
/// allocated; shapeProduct saturates, so overflowing shapes count too).
static bool tooLargeToFold(ArrayRef<int64_t> shape) {
  return shapeProduct(shape) > kMaxFoldElements;
}

namespace {

/// Offsets of the element of an input broadcast into an output iteration.
class BroadcastIndexer {
public:
  BroadcastIndexer(ArrayRef<int64_t> in, ArrayRef<int64_t> out)
      : outShape(out.begin(), out.end()) {
    size_t offset = out.size() - in.size();
    SmallVector<int64_t> inStrides = rowMajorStrides(in);
    strides.assign(out.size(), 0);
    for (size_t d = 0; d < in.size(); ++d)
      strides[offset + d] = in[d] == 1 ? 0 : inStrides[d];
  }
  int64_t operator()(int64_t linear) const {
    int64_t off = 0;
    for (int d = (int)outShape.size() - 1; d >= 0; --d) {
      int64_t idx = linear % outShape[d];
      linear /= outShape[d];
      off += idx * strides[d];
    }
    return off;
  }

private:
  SmallVector<int64_t> outShape, strides;
};

} // namespace

static std::vector<int64_t> toInts(const HostTensor &t) {
  std::vector<int64_t> v;
  for (int64_t k = 0; k < t.numElements(); ++k)
    v.push_back(t.getI(k));
  return v;
}

/// Elementwise op over any number of broadcast inputs.
static FailureOr<HostTensor>
foldElementwise(NodeContext &ctx, ArrayRef<const HostTensor *> ins, DType outT,
                const std::function<void(HostTensor &, int64_t,
                                         ArrayRef<int64_t>)> &fn) {
  SmallVector<int64_t> shape(ins[0]->shape);
  for (const HostTensor *t : ins.drop_front()) {
    SmallVector<int64_t> next;
    if (!broadcastShapes(shape, t->shape, next)) {
      (void)ctx.fail("input shapes " + shapeToString(shape) + " and " +
                     shapeToString(t->shape) + " do not broadcast");
      return failure();
    }
    shape = next;
  }
  // Too large to fold: the shape alone, no data; setFolded leaves the node
  // to the compiled code.
  if (tooLargeToFold(shape)) {
    HostTensor out;
    out.dtype = outT;
    out.shape = shape;
    return out;
  }
  HostTensor out(outT, shape);
  SmallVector<BroadcastIndexer> idx;
  for (const HostTensor *t : ins)
    idx.emplace_back(t->shape, shape);
  SmallVector<int64_t> offs(ins.size());
  for (int64_t k = 0; k < out.numElements(); ++k) {
    for (size_t j = 0; j < ins.size(); ++j)
      offs[j] = idx[j](k);
    fn(out, k, offs);
  }
  return out;
}

static FailureOr<HostTensor> foldBinaryArith(NodeContext &ctx,
                                             const HostTensor &a,
                                             const HostTensor &b) {
  StringRef op = ctx.opType();
  bool isFloat = a.isFloat();
  bool isUnsigned = isUnsignedDType(a.dtype);
  if (!isFloat && op == "Div") {
    // Integer division by zero is undefined in ONNX: leave it to run time.
    for (int64_t k = 0; k < b.numElements(); ++k)
      if (b.getI(k) == 0)
        return failure();
  }
  return foldElementwise(
      ctx, {&a, &b}, a.dtype,
      [&](HostTensor &out, int64_t k, ArrayRef<int64_t> o) {
        if (isFloat || op == "Pow") {
          double x = a.getF(o[0]), y = b.getF(o[1]);
          double r = op == "Add"   ? x + y
                     : op == "Sub" ? x - y
                     : op == "Mul" ? x * y
                     : op == "Div" ? x / y
                                   : std::pow(x, y);
          out.setF(k, r);
          return;
        }
        int64_t x = a.getI(o[0]), y = b.getI(o[1]);
        int64_t r;
        if (op == "Add")
          r = (int64_t)((uint64_t)x + (uint64_t)y);
        else if (op == "Sub")
          r = (int64_t)((uint64_t)x - (uint64_t)y);
        else if (op == "Mul")
          r = (int64_t)((uint64_t)x * (uint64_t)y);
        else
          r = isUnsigned ? (int64_t)((uint64_t)x / (uint64_t)y) : x / y;
        out.setI(k, r);
      });
}

static FailureOr<HostTensor> foldCompare(NodeContext &ctx, const HostTensor &a,
                                         const HostTensor &b) {
  StringRef op = ctx.opType();
  return foldElementwise(
      ctx, {&a, &b}, DType::Bool,
      [&](HostTensor &out, int64_t k, ArrayRef<int64_t> o) {
        bool r;
        if (a.isFloat()) {
          double x = a.getF(o[0]), y = b.getF(o[1]);
          r = op == "Equal"            ? x == y
              : op == "Less"           ? x < y
              : op == "Greater"        ? x > y
              : op == "LessOrEqual"    ? x <= y
                                       : x >= y;
        } else {
          int64_t x = a.getI(o[0]), y = b.getI(o[1]);
          r = op == "Equal"            ? x == y
              : op == "Less"           ? x < y
              : op == "Greater"        ? x > y
              : op == "LessOrEqual"    ? x <= y
                                       : x >= y;
        }
        out.setI(k, r);
      });
}

static HostTensor foldTranspose(const HostTensor &in, ArrayRef<int64_t> perm) {
  SmallVector<int64_t> outShape;
  for (int64_t p : perm)
    outShape.push_back(in.shape[p]);
  HostTensor out(in.dtype, outShape);
  SmallVector<int64_t> inStrides = rowMajorStrides(in.shape);
  int64_t n = out.numElements();
  for (int64_t k = 0; k < n; ++k) {
    int64_t rem = k, src = 0;
    for (int d = (int)outShape.size() - 1; d >= 0; --d) {
      int64_t idx = rem % outShape[d];
      rem /= outShape[d];
      src += idx * inStrides[perm[d]];
    }
    if (in.isFloat())
      out.f[k] = in.f[src];
    else
      out.i[k] = in.i[src];
  }
  return out;
}

/// Copies element `src` of `in` to element `dst` of `out` (same dtype).
static inline void copyElem(HostTensor &out, int64_t dst, const HostTensor &in,
                            int64_t src) {
  if (in.isFloat())
    out.f[dst] = in.f[src];
  else
    out.i[dst] = in.i[src];
}

/// The host values of every present input, in order (null for omitted
/// optional inputs), when all of them and the first are known.
static std::optional<SmallVector<const HostTensor *>>
knownInputs(NodeContext &ctx) {
  SmallVector<const HostTensor *> ins;
  for (unsigned k = 0; k < ctx.numInputs(); ++k) {
    if (!ctx.hasInput(k)) {
      ins.push_back(nullptr);
      continue;
    }
    const HostTensor *t = ctx.host(k);
    if (!t)
      return std::nullopt;
    ins.push_back(t);
  }
  if (ins.empty() || !ins[0])
    return std::nullopt;
  return ins;
}

/// Makes `result` the node's first output unless it is too large to keep
/// on the host.
static FailureOr<bool> setFolded(NodeContext &ctx,
                                 FailureOr<HostTensor> result) {
  if (failed(result))
    return failure();
  if (result->numElements() > kMaxFoldElements)
    return false;
  ctx.setHostOutput(0, std::move(*result));
  return true;
}

/// Shape (with start/end): needs only the static shape.
FailureOr<bool> foldShape(NodeContext &ctx) {
  ArrayRef<int64_t> shape = ctx.shape(0);
  int64_t rank = shape.size();
  int64_t start = ctx.attrInt("start", 0), end = ctx.attrInt("end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  HostTensor out(DType::I64, {end - start});
  for (int64_t d = start; d < end; ++d)
    out.i[d - start] = shape[d];
  ctx.setHostOutput(0, std::move(out));
  return true;
}

/// Size: needs only the static shape.
FailureOr<bool> foldSize(NodeContext &ctx) {
  HostTensor out(DType::I64, {});
  out.i[0] = shapeProduct(ctx.shape(0));
  ctx.setHostOutput(0, std::move(out));
  return true;
}

/// Constant, from any of its value attributes.
FailureOr<bool> foldConstant(NodeContext &ctx) {
  HostTensor out;
  if (const onnx::TensorProto *t = ctx.attrTensor("value")) {
    std::string error;
    if (failed(readTensorProto(*t, "", out, error)))
      return failure(ctx.fail("bad 'value' tensor: " + error).failed());
  } else if (ctx.hasAttr("value_float")) {
    out = HostTensor(DType::F32, {});
    out.setF(0, ctx.attrFloat("value_float", 0));
  } else if (auto fs = ctx.attrFloats("value_floats")) {
    out = HostTensor(DType::F32, {(int64_t)fs->size()});
    for (size_t k = 0; k < fs->size(); ++k)
      out.setF(k, (*fs)[k]);
  } else if (ctx.hasAttr("value_int")) {
    out = HostTensor(DType::I64, {});
    out.i[0] = ctx.attrInt("value_int", 0);
  } else if (auto is = ctx.attrInts("value_ints")) {
    out = HostTensor(DType::I64, {(int64_t)is->size()});
    for (size_t k = 0; k < is->size(); ++k)
      out.i[k] = (*is)[k];
  } else {
    (void)ctx.fail("only 'value', 'value_float(s)' and 'value_int(s)' "
                   "constants are supported (sparse and string constants "
                   "are not)");
    return failure();
  }
  ctx.setHostOutput(0, std::move(out));
  return true;
}

/// Identity and inference-mode Dropout: the input itself.
FailureOr<bool> foldIdentity(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  return setFolded(ctx, HostTensor(*known->front()));
}

/// Cast to the `to` dtype.
FailureOr<bool> foldCast(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  return setFolded(ctx, known->front()->castTo((DType)ctx.attrInt("to", 1)));
}

/// CastLike: needs only the input, not `like`'s contents.
FailureOr<bool> foldCastLike(NodeContext &ctx) {
  const HostTensor *x = ctx.host(0);
  if (!x)
    return false;
  return setFolded(ctx, x->castTo(ctx.declaredDType(1)));
}

/// Add, Sub, Mul, Div and Pow with broadcasting.
FailureOr<bool> foldArith(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  if (!ins[1])
    return false;
  result = foldBinaryArith(ctx, a, *ins[1]);
  if (failed(result))
    return false;
  return setFolded(ctx, std::move(result));
}

/// Equal, Less, Greater, LessOrEqual, GreaterOrEqual.
FailureOr<bool> foldCompareOp(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  result = foldCompare(ctx, a, *ins[1]);
  return setFolded(ctx, std::move(result));
}

/// Not of a bool tensor.
FailureOr<bool> foldNot(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  if (a.dtype != DType::Bool)
    return false;
  HostTensor out(DType::Bool, a.shape);
  for (int64_t k = 0; k < a.numElements(); ++k)
    out.i[k] = !a.i[k];
  result = out;
  return setFolded(ctx, std::move(result));
}

/// Neg, Abs, Sqrt, Floor, Ceil, Reciprocal and Relu.
FailureOr<bool> foldUnaryMath(NodeContext &ctx) {
  StringRef op = ctx.opType();
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  HostTensor out(a.dtype, a.shape);
  for (int64_t k = 0; k < a.numElements(); ++k) {
    if (a.isFloat()) {
      double x = a.f[k];
      out.setF(k, op == "Neg"     ? -x
                  : op == "Abs"   ? std::fabs(x)
                  : op == "Sqrt"  ? std::sqrt(x)
                  : op == "Floor" ? std::floor(x)
                  : op == "Ceil"  ? std::ceil(x)
                  : op == "Relu"  ? (x < 0 ? 0.0 : x)
                                  : 1.0 / x);
    } else {
      if (op == "Sqrt" || op == "Reciprocal")
        return false;
      int64_t x = a.i[k];
      out.setI(k, op == "Neg"    ? -x
                  : op == "Abs"  ? std::llabs(x)
                  : op == "Relu" ? std::max<int64_t>(x, 0)
                                 : x);
    }
  }
  result = out;
  return setFolded(ctx, std::move(result));
}

/// Where(cond, x, y) with broadcasting.
FailureOr<bool> foldWhere(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  if (ins.size() < 3 || !ins[1] || !ins[2] || ins[1]->dtype != ins[2]->dtype ||
      a.dtype != DType::Bool)
    return false; // The converter reports mismatched operands.
  const HostTensor &x = *ins[1], &y = *ins[2];
  result = foldElementwise(
      ctx, {&a, &x, &y}, x.dtype,
      [&](HostTensor &out, int64_t k, ArrayRef<int64_t> o) {
        const HostTensor &src = a.i[o[0]] ? x : y;
        int64_t off = a.i[o[0]] ? o[1] : o[2];
        copyElem(out, k, src, off);
      });
  return setFolded(ctx, std::move(result));
}

/// Variadic Min and Max.
FailureOr<bool> foldMinMax(NodeContext &ctx) {
  StringRef op = ctx.opType();
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  HostTensor acc = a;
  for (size_t j = 1; j < ins.size(); ++j) {
    const HostTensor &b = *ins[j];
    bool isMax = op == "Max";
    auto next = foldElementwise(
        ctx, {&acc, &b}, a.dtype,
        [&](HostTensor &out, int64_t k, ArrayRef<int64_t> o) {
          if (a.isFloat()) {
            double x = acc.getF(o[0]), y = b.getF(o[1]);
            out.setF(k, isMax ? std::max(x, y) : std::min(x, y));
          } else {
            int64_t x = acc.getI(o[0]), y = b.getI(o[1]);
            out.setI(k, isMax ? std::max(x, y) : std::min(x, y));
          }
        });
    if (failed(next))
      return failure();
    if (tooLargeToFold(next->shape))
      return false;
    acc = *next;
  }
  result = acc;
  return setFolded(ctx, std::move(result));
}

/// Reshape, Flatten, Squeeze and Unsqueeze: the data with a new shape.
FailureOr<bool> foldReshapeLike(NodeContext &ctx) {
  StringRef op = ctx.opType();
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  // Pure reshapes: reuse the IR converter's shape logic by recomputing.
  SmallVector<int64_t> shape(a.shape);
  int64_t rank = shape.size();
  if (op == "Reshape") {
    std::vector<int64_t> target = toInts(*ins[1]);
    bool allowZero = ctx.attrInt("allowzero", 0);
    int64_t known = 1, inferIdx = -1;
    SmallVector<int64_t> out;
    for (size_t d = 0; d < target.size(); ++d) {
      int64_t v = target[d];
      if (v == 0 && !allowZero)
        v = d < (size_t)rank ? shape[d] : 0;
      if (v == -1) {
        inferIdx = d;
        out.push_back(1);
        continue;
      }
      out.push_back(v);
      known *= v;
    }
    if (inferIdx >= 0)
      out[inferIdx] = known ? a.numElements() / known : 0;
    if (shapeProduct(out) != a.numElements())
      return failure(ctx.fail("cannot reshape " + shapeToString(a.shape) +
                              " to " + shapeToString(out))
                         .failed());
    shape = out;
  } else if (op == "Flatten") {
    int64_t axis = ctx.attrInt("axis", 1);
    if (axis < 0)
      axis += rank;
    if (axis < 0 || axis > rank)
      return false; // The converter reports the bad axis.
    int64_t outer = shapeProduct(ArrayRef<int64_t>(shape).take_front(axis));
    shape = {outer, a.numElements() / std::max<int64_t>(outer, 1)};
  } else {
    auto axesOr = ctx.intsFromAttrOrInput("axes", 1);
    if (failed(axesOr))
      return failure();
    std::vector<int64_t> axes = axesOr->value_or(std::vector<int64_t>{});
    if (op == "Unsqueeze") {
      int64_t outRank = rank + axes.size();
      for (int64_t &ax : axes) {
        if (ax < 0)
          ax += outRank;
        if (ax < 0 || ax >= outRank)
          return false; // The converter reports the bad axis.
      }
      std::sort(axes.begin(), axes.end());
      if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
        return false;
      for (int64_t ax : axes)
        shape.insert(shape.begin() + ax, 1);
    } else {
      SmallVector<int64_t> out;
      for (int64_t d = 0; d < rank; ++d) {
        bool drop = axes.empty() ? shape[d] == 1
                                 : llvm::is_contained(axes, d) ||
                                       llvm::is_contained(axes, d - rank);
        if (!drop)
          out.push_back(shape[d]);
      }
      shape = out;
    }
  }
  HostTensor out = a;
  out.shape = shape;
  result = out;
  return setFolded(ctx, std::move(result));
}

/// Concat along `axis`.
FailureOr<bool> foldConcat(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  FailureOr<int64_t> axis =
      ctx.normalizeAxis(ctx.attrInt("axis", 0), a.shape.size());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(a.shape);
  shape[*axis] = 0;
  for (const HostTensor *t : ins) {
    if (!t || t->dtype != a.dtype || t->shape.size() != a.shape.size())
      return false; // The converter reports the mismatch.
    for (size_t d = 0; d < a.shape.size(); ++d)
      if ((int64_t)d != *axis && t->shape[d] != a.shape[d])
        return false;
    shape[*axis] += t->shape[*axis];
  }
  if (tooLargeToFold(shape))
    return false;
  HostTensor out(a.dtype, shape);
  int64_t outer = shapeProduct(ArrayRef<int64_t>(shape).take_front(*axis));
  int64_t pos = 0;
  int64_t innerOut = out.numElements() / std::max<int64_t>(outer, 1);
  for (const HostTensor *t : ins) {
    int64_t inner = t->numElements() / std::max<int64_t>(outer, 1);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < inner; ++k)
        copyElem(out, o * innerOut + pos + k, *t, o * inner + k);
    pos += inner;
  }
  result = out;
  return setFolded(ctx, std::move(result));
}

/// Gather along `axis` (negative indices count from the end).
FailureOr<bool> foldGather(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  const HostTensor &indices = *ins[1];
  FailureOr<int64_t> axis =
      ctx.normalizeAxis(ctx.attrInt("axis", 0), a.shape.size());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(a.shape.begin(), a.shape.begin() + *axis);
  shape.append(indices.shape.begin(), indices.shape.end());
  shape.append(a.shape.begin() + *axis + 1, a.shape.end());
  if (tooLargeToFold(shape))
    return false;
  HostTensor out(a.dtype, shape);
  int64_t outer = shapeProduct(ArrayRef<int64_t>(a.shape).take_front(*axis));
  int64_t dim = a.shape[*axis];
  int64_t inner =
      shapeProduct(ArrayRef<int64_t>(a.shape).drop_front(*axis + 1));
  int64_t nIdx = indices.numElements();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < nIdx; ++j) {
      int64_t idx = indices.getI(j);
      if (idx < 0)
        idx += dim;
      if (idx < 0 || idx >= dim)
        return failure(ctx.fail("index " + std::to_string(indices.getI(j)) +
                                " is out of range for a dimension of " +
                                std::to_string(dim))
                           .failed());
      for (int64_t k = 0; k < inner; ++k)
        copyElem(out, (o * nIdx + j) * inner + k, a,
                 (o * dim + idx) * inner + k);
    }
  result = out;
  return setFolded(ctx, std::move(result));
}

/// Slice (attribute or input form).
FailureOr<bool> foldSlice(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  int64_t rank = a.shape.size();
  auto spec = resolveSlice(ctx);
  if (failed(spec))
    return failure();
  ArrayRef<int64_t> off = spec->offsets, size = spec->sizes,
                    stride = spec->strides;
  if (tooLargeToFold(size))
    return false;
  HostTensor out(a.dtype, size);
  SmallVector<int64_t> inStrides = rowMajorStrides(a.shape);
  for (int64_t k = 0; k < out.numElements(); ++k) {
    int64_t rem = k, src = 0;
    for (int d = rank - 1; d >= 0; --d) {
      int64_t idx = rem % size[d];
      rem /= size[d];
      src += (off[d] + idx * stride[d]) * inStrides[d];
    }
    copyElem(out, k, a, src);
  }
  result = out;
  return setFolded(ctx, std::move(result));
}

/// Range(start, limit, delta).
FailureOr<bool> foldRange(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  if (ins.size() < 3 || !ins[1] || !ins[2])
    return false;
  double start = a.getF(0), limit = ins[1]->getF(0), delta = ins[2]->getF(0);
  if (delta == 0)
    return failure(ctx.fail("Range delta is 0").failed());
  double count = std::ceil((limit - start) / delta);
  if (!(count <= (double)kMaxFoldElements))
    return false; // Too many elements to fold (or NaN).
  int64_t n = std::max<int64_t>((int64_t)count, 0);
  HostTensor out(a.dtype, {n});
  for (int64_t k = 0; k < n; ++k) {
    if (a.isFloat())
      out.setF(k, start + k * delta);
    else
      out.setI(k, a.getI(0) + k * ins[2]->getI(0));
  }
  result = out;
  return setFolded(ctx, std::move(result));
}

/// ConstantOfShape filled with `value` (0.0f by default).
FailureOr<bool> foldConstantOfShape(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  std::vector<int64_t> shape = toInts(a);
  if (!isValidShape(shape))
    return failure(ctx.fail("negative dimension in shape " +
                            shapeToString(shape))
                       .failed());
  if (shapeProduct(shape) > kMaxFoldElements)
    return false;
  HostTensor fill(DType::F32, {1});
  if (const onnx::TensorProto *t = ctx.attrTensor("value")) {
    std::string error;
    if (failed(readTensorProto(*t, "", fill, error)))
      return failure(ctx.fail("bad 'value' tensor: " + error).failed());
  }
  if (fill.numElements() != 1)
    return failure(ctx.fail("'value' must hold exactly one element").failed());
  if (tooLargeToFold(shape))
    return false;
  HostTensor out(fill.dtype, shape);
  for (int64_t k = 0; k < out.numElements(); ++k)
    copyElem(out, k, fill, 0);
  result = out;
  return setFolded(ctx, std::move(result));
}

/// Expand to a broadcast shape.
FailureOr<bool> foldExpand(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  std::vector<int64_t> target = toInts(*ins[1]);
  SmallVector<int64_t> shape;
  if (!isValidShape(target) || !broadcastShapes(a.shape, target, shape))
    return failure(ctx.fail("cannot expand " + shapeToString(a.shape) +
                            " to " + shapeToString(target))
                       .failed());
  if (tooLargeToFold(shape))
    return false;
  HostTensor out(a.dtype, shape);
  BroadcastIndexer idx(a.shape, shape);
  for (int64_t k = 0; k < out.numElements(); ++k)
    copyElem(out, k, a, idx(k));
  result = out;
  return setFolded(ctx, std::move(result));
}

/// Transpose by `perm` (reversed dims by default).
FailureOr<bool> foldTranspose(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  SmallVector<int64_t> perm;
  if (auto p = ctx.attrInts("perm"))
    perm.assign(p->begin(), p->end());
  else
    for (int64_t d = a.shape.size() - 1; d >= 0; --d)
      perm.push_back(d);
  if (!isPermutation(perm, a.shape.size()))
    return false; // The converter reports the bad permutation.
  result = foldTranspose(a, perm);
  return setFolded(ctx, std::move(result));
}

/// Trilu: the upper or lower triangle of the last two dims.
FailureOr<bool> foldTrilu(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  ArrayRef<const HostTensor *> ins = *known;
  const HostTensor &a = *ins[0];
  FailureOr<HostTensor> result = failure();
  int64_t rank = a.shape.size();
  if (rank < 2)
    return false;
  int64_t k0 = ins.size() > 1 && ins[1] ? ins[1]->getI(0) : 0;
  bool upper = ctx.attrInt("upper", 1);
  int64_t rows = a.shape[rank - 2], cols = a.shape[rank - 1];
  HostTensor out = a;
  for (int64_t k = 0; k < a.numElements(); ++k) {
    int64_t c = k % cols, r = (k / cols) % rows;
    bool keep = upper ? c - r >= k0 : c - r <= k0;
    if (!keep)
      out.setI(k, 0);
  }
  result = out;
  return setFolded(ctx, std::move(result));
}

/// NonZero: the coordinates of the nonzero elements, [rank, count] in
/// row-major order (a scalar counts as a 1-element vector).
FailureOr<bool> foldNonZero(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  const HostTensor &a = *known->front();
  SmallVector<int64_t> shape(a.shape);
  if (shape.empty())
    shape.push_back(1);
  int64_t rank = shape.size(), n = a.numElements();
  std::vector<int64_t> hits;
  for (int64_t k = 0; k < n; ++k)
    if (a.isFloat() ? a.f[k] != 0 : a.i[k] != 0)
      hits.push_back(k);
  int64_t count = hits.size();
  HostTensor out(DType::I64, {rank, count});
  SmallVector<int64_t> strides = rowMajorStrides(shape);
  for (int64_t c = 0; c < count; ++c)
    for (int64_t d = 0; d < rank; ++d)
      out.i[d * count + c] = (hits[c] / strides[d]) % shape[d];
  return setFolded(ctx, std::move(out));
}

/// Unique: the distinct elements (or slices along `axis`), sorted or in the
/// order of their first occurrence, with the first occurrences, the inverse
/// mapping and the counts.
FailureOr<bool> foldUnique(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known)
    return false;
  const HostTensor &x = *known->front();
  if (x.numElements() > kMaxFoldElements)
    return false;
  bool sorted = ctx.attrInt("sorted", 1);
  // The input as [outer, dim, inner]: slice s is x[:, s, :].
  int64_t outer = 1, dim = x.numElements(), inner = 1, axis = -1;
  if (ctx.hasAttr("axis")) {
    FailureOr<int64_t> ax =
        ctx.normalizeAxis(ctx.attrInt("axis", 0), x.shape.size());
    if (failed(ax))
      return failure();
    axis = *ax;
    ArrayRef<int64_t> s = x.shape;
    outer = shapeProduct(s.take_front(axis));
    dim = s[axis];
    inner = shapeProduct(s.drop_front(axis + 1));
  }
  auto elem = [&](int64_t slice, int64_t o, int64_t k) {
    return (o * dim + slice) * inner + k;
  };
  // -1, 0 or 1 as slice a is below, equal to or above slice b.
  auto compare = [&](int64_t a, int64_t b) {
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < inner; ++k) {
        int64_t ea = elem(a, o, k), eb = elem(b, o, k);
        if (x.isFloat() ? x.f[ea] < x.f[eb] : x.i[ea] < x.i[eb])
          return -1;
        if (x.isFloat() ? x.f[eb] < x.f[ea] : x.i[eb] < x.i[ea])
          return 1;
      }
    return 0;
  };
  std::vector<int64_t> order(dim);
  for (int64_t s = 0; s < dim; ++s)
    order[s] = s;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    int c = compare(a, b);
    return c != 0 ? c < 0 : a < b;
  });
  // Groups of equal slices in sorted order; each starts with its first
  // occurrence (equal slices are sorted by position).
  std::vector<std::vector<int64_t>> groups;
  for (int64_t s : order) {
    if (groups.empty() || compare(groups.back().front(), s) != 0)
      groups.emplace_back();
    groups.back().push_back(s);
  }
  if (!sorted)
    std::sort(groups.begin(), groups.end(),
              [](const std::vector<int64_t> &a, const std::vector<int64_t> &b) {
                return a.front() < b.front();
              });
  int64_t u = groups.size();
  SmallVector<int64_t> yShape =
      axis < 0 ? SmallVector<int64_t>{u} : SmallVector<int64_t>(x.shape);
  if (axis >= 0)
    yShape[axis] = u;
  HostTensor y(x.dtype, yShape), first(DType::I64, {u}),
      inverse(DType::I64, {dim}), counts(DType::I64, {u});
  for (int64_t g = 0; g < u; ++g) {
    int64_t s = groups[g].front();
    first.i[g] = s;
    counts.i[g] = groups[g].size();
    for (int64_t m : groups[g])
      inverse.i[m] = g;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < inner; ++k)
        copyElem(y, (o * u + g) * inner + k, x, elem(s, o, k));
  }
  ctx.setHostOutput(0, std::move(y));
  if (ctx.hasOutput(1))
    ctx.setHostOutput(1, std::move(first));
  if (ctx.hasOutput(2))
    ctx.setHostOutput(2, std::move(inverse));
  if (ctx.hasOutput(3))
    ctx.setHostOutput(3, std::move(counts));
  return true;
}

/// The wrapped index `idx` into an axis of `dim` elements, or -1 when out
/// of range.
static int64_t wrapHostIndex(int64_t idx, int64_t dim) {
  if (idx < 0)
    idx += dim;
  return idx >= 0 && idx < dim ? idx : -1;
}

/// Combines element `dst` of `out` with `upd`'s element `src` by a
/// scatter's `reduction` (bools add as or and multiply as and).
static void scatterCombine(HostTensor &out, int64_t dst, const HostTensor &upd,
                           int64_t src, StringRef reduction) {
  if (reduction == "none") {
    copyElem(out, dst, upd, src);
    return;
  }
  bool isBool = out.dtype == DType::Bool;
  StringRef r = reduction;
  if (isBool)
    r = r == "add" || r == "max" ? "max" : "min";
  if (out.isFloat()) {
    double a = out.f[dst], b = upd.f[src];
    out.setF(dst, r == "add"   ? a + b
                  : r == "mul" ? a * b
                  : r == "max" ? std::max(a, b)
                               : std::min(a, b));
    return;
  }
  int64_t a = out.i[dst], b = upd.i[src];
  bool u = isUnsignedDType(out.dtype);
  int64_t m;
  if (r == "max")
    m = u ? (int64_t)std::max((uint64_t)a, (uint64_t)b) : std::max(a, b);
  else if (r == "min")
    m = u ? (int64_t)std::min((uint64_t)a, (uint64_t)b) : std::min(a, b);
  else if (r == "add")
    m = (int64_t)((uint64_t)a + (uint64_t)b);
  else
    m = (int64_t)((uint64_t)a * (uint64_t)b);
  out.setI(dst, m);
}

/// ScatterND and ScatterElements (and Scatter) on known inputs: the updates
/// applied in order. Malformed or out-of-range operands are left to the
/// converter, which reports or clamps them.
FailureOr<bool> foldScatter(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known || known->size() < 3 || !(*known)[1] || !(*known)[2])
    return false;
  const HostTensor &data = *(*known)[0], &idx = *(*known)[1],
                   &upd = *(*known)[2];
  std::string reduction = ctx.attrString("reduction", "none");
  if ((reduction != "none" && reduction != "add" && reduction != "mul" &&
       reduction != "max" && reduction != "min") ||
      upd.dtype != data.dtype || idx.isFloat() || idx.dtype == DType::Bool)
    return false;
  ArrayRef<int64_t> dShape = data.shape, iShape = idx.shape, uShape = upd.shape;
  int64_t rank = dShape.size();
  SmallVector<int64_t> dStrides = rowMajorStrides(dShape);
  HostTensor out = data;
  if (ctx.opType() == "ScatterND") {
    int64_t q = iShape.size();
    if (q < 1)
      return false;
    int64_t k = iShape.back();
    SmallVector<int64_t> want(iShape.drop_back());
    want.append(dShape.begin() + std::clamp<int64_t>(k, 0, rank), dShape.end());
    if (k < 1 || k > rank || ArrayRef<int64_t>(want) != uShape)
      return false;
    int64_t slice = shapeProduct(dShape.drop_front(k));
    int64_t tuples = shapeProduct(iShape.drop_back());
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t base = 0;
      for (int64_t j = 0; j < k; ++j) {
        int64_t i = wrapHostIndex(idx.i[t * k + j], dShape[j]);
        if (i < 0)
          return false;
        base += i * dStrides[j];
      }
      for (int64_t e = 0; e < slice; ++e)
        scatterCombine(out, base + e, upd, t * slice + e, reduction);
    }
    return setFolded(ctx, std::move(out));
  }
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  if ((int64_t)iShape.size() != rank || iShape != uShape)
    return false;
  for (int64_t d = 0; d < rank; ++d)
    if (d != *axis && iShape[d] > dShape[d])
      return false;
  for (int64_t e = 0; e < idx.numElements(); ++e) {
    int64_t rem = e, dst = 0;
    for (int64_t d = rank - 1; d >= 0; --d) {
      int64_t c = rem % iShape[d];
      rem /= iShape[d];
      if (d == *axis) {
        c = wrapHostIndex(idx.i[e], dShape[d]);
        if (c < 0)
          return false;
      }
      dst += c * dStrides[d];
    }
    scatterCombine(out, dst, upd, e, reduction);
  }
  return setFolded(ctx, std::move(out));
}

/// GatherND (with batch_dims) on known inputs.
FailureOr<bool> foldGatherND(NodeContext &ctx) {
  std::optional<SmallVector<const HostTensor *>> known = knownInputs(ctx);
  if (!known || known->size() < 2 || !(*known)[1])
    return false;
  const HostTensor &data = *(*known)[0], &idx = *(*known)[1];
  if (idx.isFloat() || idx.dtype == DType::Bool)
    return false;
  ArrayRef<int64_t> dShape = data.shape, iShape = idx.shape;
  int64_t rank = dShape.size(), q = iShape.size();
  int64_t bd = ctx.attrInt("batch_dims", 0);
  if (q < 1 || bd < 0 || bd >= std::min(rank, q) ||
      dShape.take_front(bd) != iShape.take_front(bd))
    return false;
  int64_t k = iShape.back();
  if (k < 1 || bd + k > rank)
    return false;
  SmallVector<int64_t> outShape(iShape.drop_back());
  outShape.append(dShape.begin() + bd + k, dShape.end());
  if (tooLargeToFold(outShape))
    return false;
  HostTensor out(data.dtype, outShape);
  SmallVector<int64_t> dStrides = rowMajorStrides(dShape);
  int64_t slice = shapeProduct(dShape.drop_front(bd + k));
  int64_t batches = shapeProduct(iShape.take_front(bd));
  int64_t perBatch = shapeProduct(iShape.drop_front(bd).drop_back());
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t t = 0; t < perBatch; ++t) {
      int64_t tuple = b * perBatch + t;
      int64_t base = b * (bd > 0 ? dStrides[bd - 1] : 0);
      for (int64_t j = 0; j < k; ++j) {
        int64_t i = wrapHostIndex(idx.i[tuple * k + j], dShape[bd + j]);
        if (i < 0)
          return false;
        base += i * dStrides[bd + j];
      }
      for (int64_t e = 0; e < slice; ++e)
        copyElem(out, tuple * slice + e, data, base + e);
    }
  return setFolded(ctx, std::move(out));
}

} // namespace qopt::onnx_frontend
