//===- OpsControlFlow.cpp - ONNX If ---------------------------------------===//
//
// With static input shapes most If conditions are known at import time
// (exporters test a shape, a rank or a constant flag): the taken branch is
// imported in place of the node and the other one is never looked at. A
// condition computed at run time becomes an scf.if holding both branches,
// which then have to produce the same types.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

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

void appendControlFlowConverters(std::vector<ConverterEntry> &t) {
  t.push_back({"", "If", 1, convertIf});
}

} // namespace qopt::onnx_frontend
