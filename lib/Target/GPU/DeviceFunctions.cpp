//===- DeviceFunctions.cpp - Vendor math library calls to intrinsics ------===//

#include "qopt/Target/GPU/DeviceFunctions.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace qopt::gpu {

LogicalResult resolveDeviceFunctionCalls(Operation *root, StringRef prefix,
                                         ArrayRef<DeviceFunction> table,
                                         StringRef targetName,
                                         StringRef library) {
  llvm::StringMap<StringRef> intrinsicOf;
  for (auto [function, intrinsic] : table)
    intrinsicOf[function] = intrinsic;
  SmallVector<LLVM::CallOp> calls;
  root->walk([&](LLVM::CallOp call) { calls.push_back(call); });
  bool failedAny = false;
  for (LLVM::CallOp call : calls) {
    std::optional<StringRef> callee = call.getCallee();
    if (!callee || !callee->starts_with(prefix))
      continue;
    auto it = intrinsicOf.find(*callee);
    if (it == intrinsicOf.end() || call.getNumResults() != 1) {
      call.emitError() << "the " << targetName
                       << " target has no lowering for '" << *callee << "' (a "
                       << library << " function, which qopt does not link)";
      failedAny = true;
      continue;
    }
    OpBuilder builder(call);
    Location loc = call.getLoc();
    Value result;
    if (it->second.empty()) {
      // 1 / sqrt(x) rounds like the other targets' rsqrt.
      Value x = call.getArgOperands().front();
      Value one = LLVM::ConstantOp::create(
          builder, loc, x.getType(), builder.getFloatAttr(x.getType(), 1.0));
      result = LLVM::FDivOp::create(builder, loc, one,
                                    LLVM::SqrtOp::create(builder, loc, x));
    } else {
      OperationState state(loc, it->second);
      state.addOperands(call.getArgOperands());
      state.addTypes(call.getResultTypes());
      result = builder.create(state)->getResult(0);
    }
    call.getResult().replaceAllUsesWith(result);
    call.erase();
  }
  if (failedAny)
    return failure();
  // The declarations nothing calls any more.
  root->walk([&](LLVM::LLVMFuncOp func) {
    if (func.isExternal() && func.getName().starts_with(prefix) &&
        SymbolTable::symbolKnownUseEmpty(func, root))
      func.erase();
  });
  return success();
}

} // namespace qopt::gpu
