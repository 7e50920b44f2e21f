//===- QOptToLinalg.cpp - Reference lowering of the qopt dialect ----------===//
//
// Every qopt op becomes linalg/arith/math/tensor on tensors. This lowering
// is the definition of what qopt ops compute: targets and the C++ reference
// in the unit tests follow the same operation order, so integer results are
// bit-exact and float results differ only by summation order.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "qopt/Conversion/Passes.h"
#include "qopt/QOptDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace qopt {
#define GEN_PASS_DEF_LOWERTOLINALGPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

struct LowerToLinalgPass : impl::LowerToLinalgPassBase<LowerToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalDialect<QOptDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateQOptToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void populateQOptToLinalgPatterns(RewritePatternSet &patterns) {
  lowering::populateQuantizeLoweringPatterns(patterns);
  lowering::populateComputeLoweringPatterns(patterns);
}

} // namespace qopt
