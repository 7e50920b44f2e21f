//===- DeviceFunctions.cpp - Vendor math library calls to intrinsics ------===//

#include "qopt/Target/GPU/DeviceFunctions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace qopt::gpu {

namespace {

struct SimplifyMathPass
    : PassWrapper<SimplifyMathPass, OperationPass<mlir::gpu::GPUModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SimplifyMathPass)
  StringRef getArgument() const override { return "qopt-gpu-simplify-math"; }
  StringRef getDescription() const override {
    return "math.powf with a constant exponent as multiplications, sqrt and "
           "divisions (no library pow needed)";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, math::MathDialect>();
  }
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathAlgebraicSimplificationPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

std::unique_ptr<Pass> createSimplifyMathPass() {
  return std::make_unique<SimplifyMathPass>();
}

void registerSimplifyMathPass() {
  static const bool registered = [] {
    PassRegistration<SimplifyMathPass>();
    return true;
  }();
  (void)registered;
}

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
