//===- AssignArgRoles.cpp - Declare the entry function's calling convention ===//
//
// The compiled entry takes [weights], [workspace], inputs, outputs. This
// pass declares inputs and outputs on the graph-level entry; the passes
// that add weights and workspace declare theirs; the artifact writer reads
// roles rather than counting positions.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/DenseSet.h"

namespace qopt {
#define GEN_PASS_DEF_ASSIGNARGROLESPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

struct AssignArgRolesPass : impl::AssignArgRolesPassBase<AssignArgRolesPass> {
  using Base::Base;

  void runOnOperation() override {
    FailureOr<func::FuncOp> found = lookupEntryFunction(getOperation());
    if (failed(found))
      return signalPassFailure();
    func::FuncOp entry = *found;
    MLIRContext *ctx = &getContext();
    // On tensors: arguments are inputs, results outputs (result attributes
    // move to the out-parameters when results become arguments).
    for (unsigned i = 0; i < entry.getNumArguments(); ++i)
      if (!entry.getArgAttr(i, QOptDialect::kArgRoleAttrName))
        entry.setArgAttr(i, QOptDialect::kArgRoleAttrName,
                         ArgRoleAttr::get(ctx, ArgRole::Input));
    for (unsigned i = 0; i < entry.getNumResults(); ++i)
      entry.setResultAttr(i, QOptDialect::kArgRoleAttrName,
                          ArgRoleAttr::get(ctx, ArgRole::Output));
    // Out-parameters are distinct buffers: a tensor returned twice is
    // copied for its second and later results.
    entry.walk([&](func::ReturnOp ret) {
      llvm::DenseSet<Value> seen;
      for (OpOperand &operand : ret->getOpOperands()) {
        Value v = operand.get();
        auto type = dyn_cast<RankedTensorType>(v.getType());
        if (!type || seen.insert(v).second)
          continue;
        OpBuilder b(ret);
        Value empty = tensor::EmptyOp::create(b, ret.getLoc(), type.getShape(),
                                              type.getElementType());
        operand.set(linalg::CopyOp::create(b, ret.getLoc(), ValueRange{v},
                                           ValueRange{empty})
                        .getResult(0));
      }
    });
    if (entry.getNumResults())
      return;
    // Run again on a bufferized entry, it checks the order.
    ArgRole previous = ArgRole::Weights;
    for (unsigned i = 0; i < entry.getNumArguments(); ++i) {
      ArgRole role =
          entry.getArgAttrOfType<ArgRoleAttr>(i, QOptDialect::kArgRoleAttrName)
              .getValue();
      bool repeatsSingle = role == previous && i > 0 &&
                           (role == ArgRole::Weights ||
                            role == ArgRole::Workspace);
      if (role < previous || repeatsSingle) {
        entry.emitError() << "argument " << i << " is "
                          << stringifyArgRole(role) << " after "
                          << stringifyArgRole(previous)
                          << ": expected weights, workspace, inputs, outputs";
        return signalPassFailure();
      }
      previous = role;
    }
  }
};

} // namespace
} // namespace qopt
