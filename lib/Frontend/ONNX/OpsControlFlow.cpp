//===- OpsControlFlow.cpp - ONNX If, Loop and Scan ------------------------===//
//
// With static input shapes most If conditions are known at import time
// (exporters test a shape, a rank or a constant flag): the taken branch is
// imported in place of the node and the other one is never looked at. A
// condition computed at run time becomes an scf.if holding both branches,
// which then have to produce the same types.
//
// Loops follow the same idea. A Loop whose trip count and condition are
// known at import time, and a Scan (whose length is a static dimension),
// are unrolled: the body is imported once per iteration with the iteration
// number and the carried values bound, so shape arithmetic keeps folding
// through the iterations. Past kMaxUnrolledIterations the body is imported
// once into an scf.for, which needs carried values of loop-invariant types.
// A Loop whose condition is computed at run time becomes an scf.while; it
// cannot have scan outputs, whose length would only be known at run time.
// Opset 8's batched Scan runs one such Scan per batch entry.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <functional>

using namespace mlir;

namespace qopt::onnx_frontend {

static std::string describeType(const TensorRef &ref) {
  return std::string(dtypeName(ref.dtype)) + "[" + shapeToString(ref.shape) +
         "]";
}

/// Imports one branch of a run-time If into `block`, before its terminator,
/// and yields its outputs there.
static FailureOr<SmallVector<TensorRef>>
importBranchInto(NodeContext &ctx, Block *block,
                 const onnx::GraphProto &branch) {
  OpBuilder::InsertionGuard guard(ctx.b);
  Operation *terminator = block->getTerminator();
  ctx.b.setInsertionPoint(terminator);
  FailureOr<SmallVector<TensorRef>> outputs = importSubgraph(ctx, branch);
  if (failed(outputs))
    return failure();
  SmallVector<Value> values;
  for (TensorRef &ref : *outputs)
    values.push_back(ctx.materialize(ref));
  scf::YieldOp::create(ctx.b, ctx.loc, values);
  terminator->erase();
  return outputs;
}

static LogicalResult convertRuntimeIf(NodeContext &ctx,
                                      const onnx::GraphProto &thenBranch,
                                      const onnx::GraphProto &elseBranch) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<Value> zeros;
  if (ctx.rank(0))
    zeros.assign(ctx.rank(0), arith::ConstantIndexOp::create(b, loc, 0));
  Value scalar = tensor::ExtractOp::create(b, loc, ctx.value(0), zeros);
  Value flag = scalarTruth(b, loc, scalar);

  // The result types are known once both branches are imported: build them
  // in a result-less scf.if, then move its regions into the final one.
  auto staging = scf::IfOp::create(b, loc, flag, /*withElseRegion=*/true);
  FailureOr<SmallVector<TensorRef>> thenOutputs =
      importBranchInto(ctx, staging.thenBlock(), thenBranch);
  if (failed(thenOutputs))
    return failure();
  FailureOr<SmallVector<TensorRef>> elseOutputs =
      importBranchInto(ctx, staging.elseBlock(), elseBranch);
  if (failed(elseOutputs))
    return failure();

  SmallVector<Type> resultTypes;
  for (unsigned i = 0; i < thenOutputs->size(); ++i) {
    const TensorRef &t = (*thenOutputs)[i], &e = (*elseOutputs)[i];
    if (t.dtype != e.dtype || t.shape != e.shape)
      return ctx.fail("output " + std::to_string(i) + " is " + describeType(t) +
                      " in then_branch but " + describeType(e) +
                      " in else_branch; a condition computed at run time "
                      "needs both branches to produce the same type");
    resultTypes.push_back(t.value.getType());
  }
  auto ifOp = scf::IfOp::create(b, loc, resultTypes, flag,
                                /*addThenBlock=*/false, /*addElseBlock=*/false);
  ifOp.getThenRegion().takeBody(staging.getThenRegion());
  ifOp.getElseRegion().takeBody(staging.getElseRegion());
  staging.erase();
  for (unsigned i = 0; i < resultTypes.size(); ++i)
    ctx.setOutput(i, ifOp.getResult(i), (*thenOutputs)[i].dtype);
  return success();
}

static LogicalResult convertIf(NodeContext &ctx) {
  const onnx::GraphProto *thenBranch = ctx.attrGraph("then_branch");
  const onnx::GraphProto *elseBranch = ctx.attrGraph("else_branch");
  if (!thenBranch || !elseBranch)
    return ctx.fail("needs both a then_branch and an else_branch subgraph");
  if (!ctx.hasInput(0))
    return ctx.fail("has no condition input");
  if (shapeProduct(ctx.shape(0)) != 1)
    return ctx.fail("the condition must hold one element; it has shape " +
                    shapeToString(ctx.shape(0)));
  for (auto [attr, branch] : {std::pair{"then_branch", thenBranch},
                              std::pair{"else_branch", elseBranch}}) {
    if (branch->input_size())
      return ctx.fail(std::string(attr) + " declares inputs; If branches "
                                          "take none");
    if ((unsigned)branch->output_size() != ctx.numOutputs())
      return ctx.fail(
          std::string(attr) + " has " + std::to_string(branch->output_size()) +
          " outputs but the node has " + std::to_string(ctx.numOutputs()));
  }

  const HostTensor *cond = ctx.host(0);
  if (!cond)
    return convertRuntimeIf(ctx, *thenBranch, *elseBranch);
  FailureOr<SmallVector<TensorRef>> outputs =
      importSubgraph(ctx, cond->getF(0) != 0 ? *thenBranch : *elseBranch);
  if (failed(outputs))
    return failure();
  for (unsigned i = 0; i < outputs->size(); ++i)
    ctx.setOutputRef(i, std::move((*outputs)[i]));
  return success();
}

//===----------------------------------------------------------------------===//
// Loop and Scan
//===----------------------------------------------------------------------===//

/// Loops with more iterations than this are not unrolled.
static constexpr int64_t kMaxUnrolledIterations = 256;

static TensorRef hostRef(HostTensor t) {
  TensorRef ref;
  ref.dtype = t.dtype;
  ref.shape = t.shape;
  ref.host = std::move(t);
  return ref;
}

static TensorRef valueRef(Value v, DType dtype) {
  TensorRef ref;
  ref.value = v;
  ref.dtype = dtype;
  auto type = cast<RankedTensorType>(v.getType());
  ref.shape.assign(type.getShape().begin(), type.getShape().end());
  return ref;
}

static TensorRef hostScalar(DType dtype, int64_t v) {
  HostTensor t(dtype, {});
  t.setI(0, v);
  return hostRef(std::move(t));
}

/// `t` with dimension `axis` removed, at position `index` of that axis.
static HostTensor hostTake(const HostTensor &t, int64_t axis, int64_t index) {
  SmallVector<int64_t> shape(t.shape);
  int64_t dim = shape[axis];
  shape.erase(shape.begin() + axis);
  int64_t outer = shapeProduct(ArrayRef<int64_t>(t.shape).take_front(axis));
  int64_t inner = shapeProduct(ArrayRef<int64_t>(t.shape).drop_front(axis + 1));
  HostTensor out(t.dtype, shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < inner; ++k) {
      int64_t src = (o * dim + index) * inner + k, dst = o * inner + k;
      if (t.isFloat())
        out.f[dst] = t.f[src];
      else
        out.i[dst] = t.i[src];
    }
  return out;
}

/// Stacks tensors of one shape along a new dimension `axis`.
static HostTensor hostStack(ArrayRef<const HostTensor *> parts, int64_t axis) {
  SmallVector<int64_t> shape(parts[0]->shape);
  int64_t outer = shapeProduct(ArrayRef<int64_t>(shape).take_front(axis));
  int64_t inner = shapeProduct(ArrayRef<int64_t>(shape).drop_front(axis));
  int64_t n = parts.size();
  shape.insert(shape.begin() + axis, n);
  HostTensor out(parts[0]->dtype, shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t l = 0; l < n; ++l)
      for (int64_t k = 0; k < inner; ++k) {
        int64_t src = o * inner + k, dst = (o * n + l) * inner + k;
        if (out.isFloat())
          out.f[dst] = parts[l]->f[src];
        else
          out.i[dst] = parts[l]->i[src];
      }
  return out;
}

/// Offsets, sizes and strides of the slice at `index` of dimension `axis` of
/// a tensor of `shape` (the full range elsewhere).
static void axisSlice(OpBuilder &b, ArrayRef<int64_t> shape, int64_t axis,
                      OpFoldResult index,
                      SmallVectorImpl<OpFoldResult> &offsets,
                      SmallVectorImpl<OpFoldResult> &sizes,
                      SmallVectorImpl<OpFoldResult> &strides) {
  for (int64_t d = 0; d < (int64_t)shape.size(); ++d) {
    offsets.push_back(d == axis ? index : b.getIndexAttr(0));
    sizes.push_back(b.getIndexAttr(d == axis ? 1 : shape[d]));
    strides.push_back(b.getIndexAttr(1));
  }
}

/// The slice of `v` at `index` of dimension `axis`, without that dimension.
static Value emitTake(OpBuilder &b, Location loc, Value v, int64_t axis,
                      OpFoldResult index) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(type.getShape());
  SmallVector<OpFoldResult> offsets, sizes, strides;
  axisSlice(b, shape, axis, index, offsets, sizes, strides);
  shape.erase(shape.begin() + axis);
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, resultType, v, offsets, sizes,
                                        strides);
}

/// Writes `part` into `dest` at `index` of dimension `axis`, which `part`
/// does not have.
static Value emitPut(OpBuilder &b, Location loc, Value part, Value dest,
                     int64_t axis, OpFoldResult index) {
  auto type = cast<RankedTensorType>(dest.getType());
  SmallVector<OpFoldResult> offsets, sizes, strides;
  axisSlice(b, type.getShape(), axis, index, offsets, sizes, strides);
  return tensor::InsertSliceOp::create(b, loc, part, dest, offsets, sizes,
                                       strides);
}

/// The shape of `n` tensors of `shape` stacked along a new dimension `axis`.
static SmallVector<int64_t> stackedShape(ArrayRef<int64_t> shape, int64_t axis,
                                         int64_t n) {
  SmallVector<int64_t> out(shape);
  out.insert(out.begin() + axis, n);
  return out;
}

/// Stacks the values scan output `k` took in successive iterations along a
/// new dimension `axis`, on the host when all of them are known.
static FailureOr<TensorRef> stackParts(NodeContext &ctx,
                                       MutableArrayRef<TensorRef> parts,
                                       int64_t axis, unsigned k) {
  for (unsigned l = 1; l < parts.size(); ++l)
    if (parts[l].dtype != parts[0].dtype || parts[l].shape != parts[0].shape)
      return ctx.fail("scan output " + std::to_string(k) + " is " +
                      describeType(parts[0]) + " in the first iteration but " +
                      describeType(parts[l]) + " in iteration " +
                      std::to_string(l) +
                      "; scan outputs need one type in every iteration");
  if (llvm::all_of(parts, [](const TensorRef &p) { return p.host; })) {
    SmallVector<const HostTensor *> hosts;
    for (const TensorRef &p : parts)
      hosts.push_back(&*p.host);
    return hostRef(hostStack(hosts, axis));
  }
  SmallVector<int64_t> shape =
      stackedShape(parts[0].shape, axis, (int64_t)parts.size());
  Value acc = tensor::EmptyOp::create(ctx.b, ctx.loc, shape,
                                      ctx.elemType(parts[0].dtype));
  for (unsigned l = 0; l < parts.size(); ++l)
    acc = emitPut(ctx.b, ctx.loc, ctx.materialize(parts[l]), acc, axis,
                  ctx.b.getIndexAttr(l));
  return valueRef(acc, parts[0].dtype);
}

/// The scalar held by a one-element tensor value.
static Value extractScalar(NodeContext &ctx, unsigned input) {
  SmallVector<Value> zeros(ctx.rank(input),
                           arith::ConstantIndexOp::create(ctx.b, ctx.loc, 0));
  return tensor::ExtractOp::create(ctx.b, ctx.loc, ctx.value(input), zeros);
}

static Value extractScalar(OpBuilder &b, Location loc, Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<Value> zeros(type.getRank(),
                           arith::ConstantIndexOp::create(b, loc, 0));
  return tensor::ExtractOp::create(b, loc, v, zeros);
}

/// A rank-0 tensor holding scalar `v`.
static Value scalarTensor(OpBuilder &b, Location loc, Value v) {
  return tensor::FromElementsOp::create(
      b, loc, RankedTensorType::get({}, v.getType()), ValueRange{v});
}

/// `iterations - 1 - iv`: the position iteration `iv` reads or writes when
/// scanning backwards.
static Value reversedIndex(OpBuilder &b, Location loc, Value iv,
                           int64_t iterations) {
  return arith::SubIOp::create(
      b, loc, arith::ConstantIndexOp::create(b, loc, iterations - 1), iv);
}

/// Fails unless the values a body yields for the carried values have the
/// types they had on entry, as a loop that is not unrolled needs.
static LogicalResult checkInvariantTypes(NodeContext &ctx,
                                         ArrayRef<TensorRef> initial,
                                         ArrayRef<TensorRef> yielded,
                                         const Twine &why) {
  for (unsigned k = 0; k < initial.size(); ++k)
    if (initial[k].dtype != yielded[k].dtype ||
        initial[k].shape != yielded[k].shape)
      return ctx.fail("carried value " + std::to_string(k) + " is " +
                      describeType(initial[k]) + " on entry but " +
                      describeType(yielded[k]) + " after an iteration; " + why);
  return success();
}

/// Where a body's outputs go: `numCond` condition outputs (1 for Loop),
/// then the carried values, then the scan outputs.
struct BodyLayout {
  unsigned numCond;
  unsigned numCarried;
  SmallVector<int64_t> scanAxes;
  SmallVector<bool> scanReverse;
  unsigned numScans() const { return scanAxes.size(); }
};

/// Body inputs for one iteration of an scf.for: its induction variable and
/// the carried values.
using ForInputsFn = std::function<SmallVector<TensorRef>(
    Value iv, ArrayRef<TensorRef> carried)>;

/// The outcome of importing a body into an scf.for.
struct ForLoopResult {
  /// The Loop's condition output was not known to be true; nothing was
  /// emitted.
  bool conditionAtRunTime = false;
  SmallVector<TensorRef> outputs;
};

/// Emits `iterations` iterations of `body` as an scf.for carrying `initial`;
/// scan outputs are written into tensors stacked along their axes. The
/// body's condition output, if the layout has one, must be known to be true.
static FailureOr<ForLoopResult>
emitForLoop(NodeContext &ctx, const onnx::GraphProto &body, int64_t iterations,
            ArrayRef<TensorRef> initial, const BodyLayout &layout,
            const ForInputsFn &bodyInputs) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  SmallVector<Value> inits;
  for (TensorRef ref : initial)
    inits.push_back(ctx.materialize(ref));
  Value lb = arith::ConstantIndexOp::create(b, loc, 0);
  Value ub = arith::ConstantIndexOp::create(b, loc, iterations);
  Value step = arith::ConstantIndexOp::create(b, loc, 1);
  auto noBody = [](OpBuilder &, Location, Value, ValueRange) {};
  auto staging = scf::ForOp::create(b, loc, lb, ub, step, inits, noBody);
  Block *stagingBody = staging.getBody();

  FailureOr<SmallVector<TensorRef>> outputs;
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(stagingBody);
    SmallVector<TensorRef> carried;
    for (auto [k, arg] : llvm::enumerate(staging.getRegionIterArgs()))
      carried.push_back(valueRef(arg, initial[k].dtype));
    outputs = importSubgraph(ctx, body,
                             bodyInputs(staging.getInductionVar(), carried));
  }
  if (failed(outputs)) {
    staging.erase();
    return failure();
  }
  ForLoopResult result;
  if (layout.numCond) {
    const TensorRef &cond = (*outputs)[0];
    if (!cond.host || cond.host->getI(0) == 0) {
      staging.erase();
      for (Value bound : {step, ub, lb})
        bound.getDefiningOp()->erase();
      result.conditionAtRunTime = true;
      return result;
    }
  }
  ArrayRef<TensorRef> yielded =
      ArrayRef<TensorRef>(*outputs).slice(layout.numCond, layout.numCarried);
  if (failed(checkInvariantTypes(ctx, initial, yielded,
                                 "a loop of " + std::to_string(iterations) +
                                     " iterations is not unrolled (more than " +
                                     std::to_string(kMaxUnrolledIterations) +
                                     ") and needs loop-invariant types"))) {
    staging.erase();
    return failure();
  }

  // The scan outputs' types are known now: the final loop also carries one
  // stacked tensor per scan output. The body moves over as it is.
  ArrayRef<TensorRef> scanParts = ArrayRef<TensorRef>(*outputs).drop_front(
      layout.numCond + layout.numCarried);
  for (unsigned k = 0; k < layout.numScans(); ++k)
    inits.push_back(tensor::EmptyOp::create(
        b, loc,
        stackedShape(scanParts[k].shape, layout.scanAxes[k], iterations),
        ctx.elemType(scanParts[k].dtype)));
  auto loop = scf::ForOp::create(b, loc, lb, ub, step, inits, noBody);
  Block *loopBody = loop.getBody();
  for (unsigned k = 0; k < stagingBody->getNumArguments(); ++k)
    stagingBody->getArgument(k).replaceAllUsesWith(loopBody->getArgument(k));
  loopBody->getOperations().splice(loopBody->end(),
                                   stagingBody->getOperations());
  staging.erase();

  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(loopBody);
  SmallVector<Value> yields;
  for (TensorRef ref : yielded)
    yields.push_back(ctx.materialize(ref));
  Value iv = loop.getInductionVar();
  for (unsigned k = 0; k < layout.numScans(); ++k) {
    TensorRef part = scanParts[k];
    Value acc = loop.getRegionIterArgs()[layout.numCarried + k];
    Value index =
        layout.scanReverse[k] ? reversedIndex(b, loc, iv, iterations) : iv;
    yields.push_back(
        emitPut(b, loc, ctx.materialize(part), acc, layout.scanAxes[k], index));
  }
  scf::YieldOp::create(b, loc, yields);
  for (unsigned k = 0; k < layout.numCarried; ++k)
    result.outputs.push_back(valueRef(loop.getResult(k), initial[k].dtype));
  for (unsigned k = 0; k < layout.numScans(); ++k)
    result.outputs.push_back(
        valueRef(loop.getResult(layout.numCarried + k), scanParts[k].dtype));
  return result;
}

/// A Loop whose condition is only known at run time, as an scf.while over
/// (carried values..., iteration number, condition). The tensors come first
/// so that they keep their positions when canonicalization drops the
/// condition from the loop's results, as bufferization wants.
static LogicalResult convertWhileLoop(NodeContext &ctx,
                                      const onnx::GraphProto &body,
                                      ArrayRef<TensorRef> initial) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  if (ctx.numOutputs() > initial.size())
    return ctx.fail(
        "has " + std::to_string(ctx.numOutputs() - initial.size()) +
        " scan output(s) but its condition is computed at run time, so their "
        "length would only be known at run time; the trip count and the "
        "condition must be known at compile time");
  Type i64 = b.getI64Type(), i1 = b.getI1Type();
  Value maxTrip;
  if (ctx.hasInput(0))
    maxTrip = ctx.host(0) ? Value(arith::ConstantIntOp::create(
                                b, loc, i64, ctx.host(0)->getI(0)))
                          : extractScalar(ctx, 0);
  Value cond0;
  if (!ctx.hasInput(1) || ctx.host(1))
    cond0 = arith::ConstantIntOp::create(
        b, loc, i1, !ctx.hasInput(1) || ctx.host(1)->getI(0) != 0);
  else
    cond0 = scalarTruth(b, loc, extractScalar(ctx, 1));
  SmallVector<Value> inits;
  SmallVector<Type> types;
  for (TensorRef ref : initial) {
    inits.push_back(ctx.materialize(ref));
    types.push_back(inits.back().getType());
  }
  unsigned n = initial.size();
  inits.append({arith::ConstantIntOp::create(b, loc, i64, 0), cond0});
  types.append({i64, i1});
  auto noBody = [](OpBuilder &, Location, ValueRange) {};
  auto loop = scf::WhileOp::create(b, loc, types, inits, noBody, noBody);

  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(loop.getBeforeBody());
  ValueRange before = loop.getBeforeArguments();
  Value keepGoing = before[n + 1];
  if (maxTrip)
    keepGoing = arith::AndIOp::create(
        b, loc, keepGoing,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, before[n],
                              maxTrip));
  scf::ConditionOp::create(b, loc, keepGoing, before);

  b.setInsertionPointToEnd(loop.getAfterBody());
  ValueRange after = loop.getAfterArguments();
  SmallVector<TensorRef> inputs = {
      valueRef(scalarTensor(b, loc, after[n]), DType::I64),
      valueRef(scalarTensor(b, loc, boolToByte(b, loc, after[n + 1])),
               DType::Bool)};
  for (unsigned k = 0; k < n; ++k)
    inputs.push_back(valueRef(after[k], initial[k].dtype));
  FailureOr<SmallVector<TensorRef>> outputs = importSubgraph(ctx, body, inputs);
  if (failed(outputs))
    return failure();
  ArrayRef<TensorRef> yielded = ArrayRef<TensorRef>(*outputs).drop_front();
  if (failed(checkInvariantTypes(ctx, initial, yielded,
                                 "a loop whose condition is computed at run "
                                 "time needs loop-invariant types")))
    return failure();
  SmallVector<Value> yields;
  for (TensorRef ref : yielded)
    yields.push_back(ctx.materialize(ref));
  TensorRef &condOut = (*outputs)[0];
  yields.push_back(arith::AddIOp::create(
      b, loc, after[n], arith::ConstantIntOp::create(b, loc, i64, 1)));
  yields.push_back(
      condOut.host
          ? Value(arith::ConstantIntOp::create(b, loc, i1,
                                               condOut.host->getI(0) != 0))
          : scalarTruth(b, loc,
                        extractScalar(b, loc, ctx.materialize(condOut))));
  scf::YieldOp::create(b, loc, yields);
  for (unsigned k = 0; k < n; ++k)
    ctx.setOutput(k, loop.getResult(k), initial[k].dtype);
  return success();
}

/// Imports up to `tripCount` iterations of a Loop body in place, stopping
/// when the body's condition output is false. Returns std::nullopt, having
/// emitted nothing, when that condition is only known at run time.
static FailureOr<std::optional<SmallVector<TensorRef>>>
unrollLoop(NodeContext &ctx, const onnx::GraphProto &body, int64_t tripCount,
           ArrayRef<TensorRef> initial) {
  OpBuilder &b = ctx.b;
  unsigned numCarried = initial.size();
  unsigned numScans = body.output_size() - 1 - numCarried;
  // The iterations go into a region of their own first, so that a
  // condition found to be computed at run time can drop them.
  auto staging = scf::ExecuteRegionOp::create(b, ctx.loc, TypeRange{});
  Block *block = &staging.getRegion().emplaceBlock();
  SmallVector<TensorRef> carried(initial);
  SmallVector<SmallVector<TensorRef>> parts(numScans);
  bool conditionAtRunTime = false;
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(block);
    for (int64_t i = 0; i < tripCount; ++i) {
      SmallVector<TensorRef> inputs = {hostScalar(DType::I64, i),
                                       hostScalar(DType::Bool, 1)};
      inputs.append(carried);
      FailureOr<SmallVector<TensorRef>> outputs =
          importSubgraph(ctx, body, inputs);
      if (failed(outputs)) {
        staging.erase();
        return failure();
      }
      for (unsigned k = 0; k < numCarried; ++k) {
        TensorRef &out = (*outputs)[1 + k];
        if (out.dtype != initial[k].dtype) {
          staging.erase();
          return ctx.fail("carried value " + std::to_string(k) + " is " +
                          describeType(initial[k]) + " on entry but " +
                          describeType(out) + " after iteration " +
                          std::to_string(i) +
                          "; a carried value keeps its element type");
        }
        carried[k] = out;
      }
      for (unsigned k = 0; k < numScans; ++k)
        parts[k].push_back((*outputs)[1 + numCarried + k]);
      const TensorRef &cond = (*outputs)[0];
      if (!cond.host) {
        conditionAtRunTime = true;
        break;
      }
      if (cond.host->getI(0) == 0)
        break;
    }
  }
  if (conditionAtRunTime) {
    staging.erase();
    return std::optional<SmallVector<TensorRef>>();
  }
  Block *parent = staging->getBlock();
  parent->getOperations().splice(Block::iterator(staging),
                                 block->getOperations());
  staging.erase();

  SmallVector<TensorRef> results(carried);
  for (unsigned k = 0; k < numScans; ++k) {
    if (parts[k].empty())
      return ctx.fail("runs no iteration, so the shape of scan output " +
                      std::to_string(k) + " is unknown");
    FailureOr<TensorRef> stacked = stackParts(ctx, parts[k], 0, k);
    if (failed(stacked))
      return failure();
    results.push_back(std::move(*stacked));
  }
  return std::optional<SmallVector<TensorRef>>(std::move(results));
}

static LogicalResult convertLoop(NodeContext &ctx) {
  const onnx::GraphProto *body = ctx.attrGraph("body");
  if (!body)
    return ctx.fail("has no body subgraph");
  if (ctx.numInputs() < 2)
    return ctx.fail("needs the trip count and condition inputs (either may "
                    "be empty)");
  unsigned numCarried = ctx.numInputs() - 2;
  if ((unsigned)body->input_size() != 2 + numCarried)
    return ctx.fail("the body has " + std::to_string(body->input_size()) +
                    " inputs; with " + std::to_string(numCarried) +
                    " carried value(s) it needs " +
                    std::to_string(2 + numCarried));
  if ((unsigned)body->output_size() < 1 + numCarried ||
      (unsigned)body->output_size() != 1 + ctx.numOutputs())
    return ctx.fail("the body has " + std::to_string(body->output_size()) +
                    " outputs; it needs the condition, then one per node "
                    "output (" +
                    std::to_string(ctx.numOutputs()) + ")");
  for (unsigned i : {0u, 1u})
    if (ctx.hasInput(i) && shapeProduct(ctx.shape(i)) != 1)
      return ctx.fail(std::string(i ? "the condition" : "the trip count") +
                      " must hold one element; it has shape " +
                      shapeToString(ctx.shape(i)));
  SmallVector<TensorRef> initial;
  for (unsigned k = 0; k < numCarried; ++k) {
    if (!ctx.hasInput(2 + k))
      return ctx.fail("carried value " + std::to_string(k) + " is empty");
    initial.push_back(ctx.input(2 + k));
  }

  auto setOutputs = [&](SmallVector<TensorRef> &outputs) {
    for (unsigned k = 0; k < outputs.size(); ++k)
      ctx.setOutputRef(k, std::move(outputs[k]));
    return success();
  };
  bool condKnown = !ctx.hasInput(1) || ctx.host(1);
  bool tripKnown = ctx.hasInput(0) && ctx.host(0);
  if (condKnown && tripKnown) {
    int64_t tripCount = ctx.host(0)->getI(0);
    bool cond = !ctx.hasInput(1) || ctx.host(1)->getI(0) != 0;
    if (!cond || tripCount <= 0) {
      if (ctx.numOutputs() > numCarried)
        return ctx.fail("runs no iteration, so the shapes of its scan "
                        "outputs are unknown");
      return setOutputs(initial);
    }
    if (tripCount <= kMaxUnrolledIterations) {
      auto unrolled = unrollLoop(ctx, *body, tripCount, initial);
      if (failed(unrolled))
        return failure();
      if (*unrolled)
        return setOutputs(**unrolled);
    } else {
      BodyLayout layout{
          1, numCarried, SmallVector<int64_t>(ctx.numOutputs() - numCarried, 0),
          SmallVector<bool>(ctx.numOutputs() - numCarried, false)};
      auto bodyInputs = [&](Value iv, ArrayRef<TensorRef> carried) {
        Value i =
            arith::IndexCastOp::create(ctx.b, ctx.loc, ctx.b.getI64Type(), iv);
        SmallVector<TensorRef> inputs = {
            valueRef(scalarTensor(ctx.b, ctx.loc, i), DType::I64),
            hostScalar(DType::Bool, 1)};
        inputs.append(carried.begin(), carried.end());
        return inputs;
      };
      auto loop =
          emitForLoop(ctx, *body, tripCount, initial, layout, bodyInputs);
      if (failed(loop))
        return failure();
      if (!loop->conditionAtRunTime)
        return setOutputs(loop->outputs);
    }
  }
  return convertWhileLoop(ctx, *body, initial);
}

/// `ref`'s slice at `index` of dimension `axis`, without that dimension.
static TensorRef takeRef(NodeContext &ctx, TensorRef ref, int64_t axis,
                         int64_t index) {
  if (ref.host)
    return hostRef(hostTake(*ref.host, axis, index));
  return valueRef(emitTake(ctx.b, ctx.loc, ctx.materialize(ref), axis,
                           ctx.b.getIndexAttr(index)),
                  ref.dtype);
}

/// How a Scan reads its scan inputs and writes its scan outputs (axes of
/// the scan outputs may be negative: they count in the stacked output).
struct ScanSpec {
  SmallVector<int64_t> inAxes, inDirs, outAxes, outDirs;
};

/// Runs a Scan body `length` times over `scanInputs`, carrying `states`.
/// Returns the final states, then the stacked scan outputs.
static FailureOr<SmallVector<TensorRef>>
importScan(NodeContext &ctx, const onnx::GraphProto &body,
           ArrayRef<TensorRef> states, ArrayRef<TensorRef> scanInputs,
           int64_t length, ScanSpec spec) {
  unsigned numState = states.size(), numScanInputs = scanInputs.size();
  unsigned numScanOutputs = spec.outAxes.size();
  if (length == 0 && numScanOutputs) {
    (void)ctx.fail("scans 0 elements, so the shapes of its scan outputs are "
                   "unknown");
    return failure();
  }

  if (length > kMaxUnrolledIterations) {
    // The scan output axes need the body's output ranks, which the declared
    // output types give when present; otherwise they count from the front.
    for (unsigned k = 0; k < numScanOutputs; ++k) {
      if (spec.outAxes[k] >= 0)
        continue;
      const onnx::ValueInfoProto &vi = body.output(numState + k);
      if (!vi.type().tensor_type().has_shape()) {
        (void)ctx.fail("scan_output_axes has a negative axis for scan "
                       "output " +
                       std::to_string(k) +
                       ", whose rank the body does not declare");
        return failure();
      }
      spec.outAxes[k] += vi.type().tensor_type().shape().dim_size() + 1;
    }
    BodyLayout layout{0, numState, spec.outAxes, {}};
    for (int64_t d : spec.outDirs)
      layout.scanReverse.push_back(d != 0);
    auto bodyInputs = [&](Value iv, ArrayRef<TensorRef> carried) {
      SmallVector<TensorRef> inputs(carried.begin(), carried.end());
      for (unsigned j = 0; j < numScanInputs; ++j) {
        Value index =
            spec.inDirs[j] ? reversedIndex(ctx.b, ctx.loc, iv, length) : iv;
        TensorRef input = scanInputs[j];
        inputs.push_back(
            valueRef(emitTake(ctx.b, ctx.loc, ctx.materialize(input),
                              spec.inAxes[j], index),
                     input.dtype));
      }
      return inputs;
    };
    FailureOr<ForLoopResult> loop =
        emitForLoop(ctx, body, length, states, layout, bodyInputs);
    if (failed(loop))
      return failure();
    return std::move(loop->outputs);
  }

  SmallVector<TensorRef> carried(states);
  SmallVector<SmallVector<TensorRef>> parts(numScanOutputs);
  for (int64_t t = 0; t < length; ++t) {
    SmallVector<TensorRef> inputs(carried);
    for (unsigned j = 0; j < numScanInputs; ++j)
      inputs.push_back(takeRef(ctx, scanInputs[j], spec.inAxes[j],
                               spec.inDirs[j] ? length - 1 - t : t));
    FailureOr<SmallVector<TensorRef>> outputs =
        importSubgraph(ctx, body, inputs);
    if (failed(outputs))
      return failure();
    for (unsigned k = 0; k < numState; ++k)
      carried[k] = (*outputs)[k];
    for (unsigned k = 0; k < numScanOutputs; ++k)
      parts[k].push_back((*outputs)[numState + k]);
  }
  SmallVector<TensorRef> results(carried);
  for (unsigned k = 0; k < numScanOutputs; ++k) {
    // Output axes count in the stacked output, one rank more than what the
    // body yields.
    FailureOr<int64_t> axis = ctx.normalizeAxis(
        spec.outAxes[k], (int64_t)parts[k][0].shape.size() + 1);
    if (failed(axis))
      return failure();
    if (spec.outDirs[k])
      std::reverse(parts[k].begin(), parts[k].end());
    FailureOr<TensorRef> stacked = stackParts(ctx, parts[k], *axis, k);
    if (failed(stacked))
      return failure();
    results.push_back(std::move(*stacked));
  }
  return results;
}

/// Reads int list attribute `name` with `n` entries, 0 each by default.
static LogicalResult readScanList(NodeContext &ctx, StringRef name, unsigned n,
                                  SmallVectorImpl<int64_t> &out) {
  std::vector<int64_t> values =
      ctx.attrInts(name).value_or(std::vector<int64_t>(n, 0));
  if (values.size() != n)
    return ctx.fail(name + " has " + std::to_string(values.size()) +
                    " entries; it needs " + std::to_string(n));
  out.assign(values.begin(), values.end());
  return success();
}

/// Checks the parts of a Scan node both opsets share. `firstInput` is
/// where the state variables start (1 past opset 8's sequence_lens).
static LogicalResult checkScanNode(NodeContext &ctx,
                                   const onnx::GraphProto *body,
                                   unsigned firstInput, int64_t numScanInputs,
                                   unsigned &numState) {
  if (!body)
    return ctx.fail("has no body subgraph");
  unsigned numData = ctx.numInputs() - firstInput;
  if (numScanInputs < 1 || numScanInputs > (int64_t)numData)
    return ctx.fail("num_scan_inputs must be between 1 and the number of "
                    "state and scan inputs (" +
                    std::to_string(numData) + ")");
  numState = numData - numScanInputs;
  if (ctx.numOutputs() < numState)
    return ctx.fail("has " + std::to_string(ctx.numOutputs()) +
                    " outputs, fewer than its " + std::to_string(numState) +
                    " state variables");
  if ((unsigned)body->input_size() != numData ||
      (unsigned)body->output_size() != ctx.numOutputs())
    return ctx.fail("the body has " + std::to_string(body->input_size()) +
                    " inputs and " + std::to_string(body->output_size()) +
                    " outputs; it needs " + std::to_string(numData) + " and " +
                    std::to_string(ctx.numOutputs()));
  for (unsigned i = firstInput; i < ctx.numInputs(); ++i)
    if (!ctx.hasInput(i))
      return ctx.fail("input " + std::to_string(i) + " is empty");
  return success();
}

/// The common length of `scanInputs` along their axes.
static FailureOr<int64_t> scanLength(NodeContext &ctx,
                                     ArrayRef<TensorRef> scanInputs,
                                     SmallVectorImpl<int64_t> &axes) {
  int64_t length = -1;
  for (unsigned j = 0; j < scanInputs.size(); ++j) {
    int64_t rank = scanInputs[j].shape.size();
    if (rank == 0) {
      (void)ctx.fail("scan input " + std::to_string(j) + " is a scalar");
      return failure();
    }
    FailureOr<int64_t> axis = ctx.normalizeAxis(axes[j], rank);
    if (failed(axis))
      return failure();
    axes[j] = *axis;
    int64_t dim = scanInputs[j].shape[*axis];
    if (length >= 0 && dim != length) {
      (void)ctx.fail("scan input " + std::to_string(j) + " has " +
                     std::to_string(dim) + " elements along axis " +
                     std::to_string(*axis) + ", scan input 0 has " +
                     std::to_string(length));
      return failure();
    }
    length = dim;
  }
  return length;
}

static LogicalResult convertScan(NodeContext &ctx) {
  const onnx::GraphProto *body = ctx.attrGraph("body");
  int64_t numScanInputs = ctx.attrInt("num_scan_inputs", -1);
  unsigned numState;
  if (failed(checkScanNode(ctx, body, 0, numScanInputs, numState)))
    return failure();
  unsigned numScanOutputs = ctx.numOutputs() - numState;
  ScanSpec spec;
  if (failed(
          readScanList(ctx, "scan_input_axes", numScanInputs, spec.inAxes)) ||
      failed(readScanList(ctx, "scan_input_directions", numScanInputs,
                          spec.inDirs)) ||
      failed(readScanList(ctx, "scan_output_axes", numScanOutputs,
                          spec.outAxes)) ||
      failed(readScanList(ctx, "scan_output_directions", numScanOutputs,
                          spec.outDirs)))
    return failure();
  SmallVector<TensorRef> states, scanInputs;
  for (unsigned k = 0; k < numState; ++k)
    states.push_back(ctx.input(k));
  for (unsigned j = 0; j < numScanInputs; ++j)
    scanInputs.push_back(ctx.input(numState + j));
  FailureOr<int64_t> length = scanLength(ctx, scanInputs, spec.inAxes);
  if (failed(length))
    return failure();
  FailureOr<SmallVector<TensorRef>> outputs =
      importScan(ctx, *body, states, scanInputs, *length, spec);
  if (failed(outputs))
    return failure();
  for (unsigned k = 0; k < outputs->size(); ++k)
    ctx.setOutputRef(k, std::move((*outputs)[k]));
  return success();
}

/// Opset 8's Scan: every input has a leading batch dimension, and each
/// batch entry is scanned along its next one. Each entry is imported as a
/// Scan of its own; the results are stacked along the batch dimension.
static LogicalResult convertBatchedScan(NodeContext &ctx) {
  const onnx::GraphProto *body = ctx.attrGraph("body");
  int64_t numScanInputs = ctx.attrInt("num_scan_inputs", -1);
  unsigned numState;
  if (failed(checkScanNode(ctx, body, 1, numScanInputs, numState)))
    return failure();
  unsigned numScanOutputs = ctx.numOutputs() - numState;
  ScanSpec spec;
  if (failed(readScanList(ctx, "directions", numScanInputs, spec.inDirs)))
    return failure();
  spec.inAxes.assign(numScanInputs, 0);
  spec.outAxes.assign(numScanOutputs, 0);
  spec.outDirs.assign(numScanOutputs, 0);
  int64_t batch = -1;
  for (unsigned i = 1; i < ctx.numInputs(); ++i) {
    if (ctx.rank(i) == 0 || (batch >= 0 && ctx.shape(i)[0] != batch))
      return ctx.fail("input " + std::to_string(i) + " has shape " +
                      shapeToString(ctx.shape(i)) +
                      "; every input needs the same leading batch dimension");
    batch = ctx.shape(i)[0];
  }
  if (batch <= 0)
    return ctx.fail("has an empty batch, so the shapes of its outputs are "
                    "unknown");
  SmallVector<TensorRef> first;
  for (unsigned j = 0; j < numScanInputs; ++j) {
    TensorRef in = ctx.input(1 + numState + j);
    in.shape.erase(in.shape.begin());
    first.push_back(in);
  }
  FailureOr<int64_t> length = scanLength(ctx, first, spec.inAxes);
  if (failed(length))
    return failure();
  if (ctx.hasInput(0)) {
    // Sequences of different lengths would leave parts of the outputs
    // undefined; only the full length is supported.
    const HostTensor *lens = ctx.host(0);
    bool full = lens != nullptr;
    for (int64_t k = 0; full && k < lens->numElements(); ++k)
      full = lens->getI(k) == *length;
    if (!full)
      return ctx.fail("sequence_lens must be known at compile time and equal "
                      "the scan length (" +
                      std::to_string(*length) + ") for every batch entry");
  }
  SmallVector<SmallVector<TensorRef>> perOutput(ctx.numOutputs());
  for (int64_t n = 0; n < batch; ++n) {
    SmallVector<TensorRef> states, scanInputs;
    for (unsigned k = 0; k < numState; ++k)
      states.push_back(takeRef(ctx, ctx.input(1 + k), 0, n));
    for (unsigned j = 0; j < numScanInputs; ++j)
      scanInputs.push_back(takeRef(ctx, ctx.input(1 + numState + j), 0, n));
    FailureOr<SmallVector<TensorRef>> outputs =
        importScan(ctx, *body, states, scanInputs, *length, spec);
    if (failed(outputs))
      return failure();
    for (unsigned k = 0; k < outputs->size(); ++k)
      perOutput[k].push_back((*outputs)[k]);
  }
  for (unsigned k = 0; k < ctx.numOutputs(); ++k) {
    FailureOr<TensorRef> stacked = stackParts(ctx, perOutput[k], 0, k);
    if (failed(stacked))
      return failure();
    ctx.setOutputRef(k, std::move(*stacked));
  }
  return success();
}

void appendControlFlowConverters(std::vector<ConverterEntry> &t) {
  t.push_back({"", "If", 1, convertIf});
  t.push_back({"", "Loop", 1, convertLoop});
  t.push_back({"", "Scan", 8, convertBatchedScan});
  t.push_back({"", "Scan", 9, convertScan});
}

} // namespace qopt::onnx_frontend
