//===- MathApproximation.cpp - Polynomial math for vector code -------------===//

#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace qopt {
#define GEN_PASS_DEF_MATHAPPROXIMATIONPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

struct MathApproximationPass
    : impl::MathApproximationPassBase<MathApproximationPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // Functions with an f32 polynomial in MLIR; f16/bf16 are computed in f32.
    auto approximated = [](StringRef name) {
      return llvm::is_contained(
          {"math.atan", "math.atan2", "math.tanh", "math.log", "math.log2",
           "math.log1p", "math.erf", "math.asin", "math.acos", "math.exp",
           "math.expm1", "math.cbrt", "math.sin", "math.cos"},
          name);
    };
    populateMathF32ExpansionPatterns(patterns, approximated);
    populateMathPolynomialApproximationPatterns(patterns, approximated);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace qopt
