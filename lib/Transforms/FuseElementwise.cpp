//===- FuseElementwise.cpp - Elementwise fusion without recomputation -----===//

#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace qopt {
#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

/// True when fusing the producer of `operand` computes each of its elements
/// once: the consumer reads the operand through a permutation of its loops,
/// and no other op reads the producer's result. Upstream's fusion keeps the
/// producer for its other readers, so fusing a shared producer would compute
/// it twice or more (a per-tensor dynamic quantization reads its input three
/// times: min, max and the codes).
bool fusesWithoutRecomputation(OpOperand *operand) {
  auto consumer = dyn_cast<linalg::LinalgOp>(operand->getOwner());
  if (!consumer)
    return false;
  AffineMap map = consumer.getMatchingIndexingMap(operand);
  return map.isPermutation() && operand->get().hasOneUse();
}

struct FuseElementwisePass
    : impl::FuseElementwisePassBase<FuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(patterns,
                                                 fusesWithoutRecomputation);
    linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace qopt
