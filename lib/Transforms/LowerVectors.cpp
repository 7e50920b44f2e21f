//===- LowerVectors.cpp - n-D vector ops to 1-D vector ops -----------------===//

#include "qopt/Transforms/Passes.h"

#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace qopt {
#define GEN_PASS_DEF_LOWERVECTORSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

struct LowerVectorsPass : impl::LowerVectorsPassBase<LowerVectorsPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    Operation *root = getOperation();
    auto apply = [&](auto populate) {
      RewritePatternSet patterns(ctx);
      populate(patterns);
      vector::populateVectorToVectorCanonicalizationPatterns(patterns);
      return applyPatternsGreedily(root, std::move(patterns));
    };
    // 1. Drop unit dims and turn reductions of products into contractions.
    if (failed(apply([](RewritePatternSet &p) {
          vector::populateCastAwayVectorLeadingOneDimPatterns(p);
          vector::populateVectorTransferDropUnitDimsPatterns(p);
          vector::populateDropUnitDimWithShapeCastPatterns(p);
          vector::populateVectorReductionToContractPatterns(p);
        })))
      return signalPassFailure();
    // 2. Contractions, transposes, multi-reductions, broadcasts, masks.
    if (failed(apply([](RewritePatternSet &p) {
          vector::populateVectorContractLoweringPatterns(
              p, vector::VectorContractLowering::OuterProduct);
          vector::populateVectorTransposeLoweringPatterns(
              p, vector::VectorTransposeLowering::Shuffle1D);
          vector::populateVectorMultiReductionLoweringPatterns(
              p, vector::VectorMultiReductionLowering::InnerReduction);
          vector::populateVectorBroadcastLoweringPatterns(p);
          vector::populateVectorMaskOpLoweringPatterns(p);
          vector::populateVectorShapeCastLoweringPatterns(p);
          vector::populateVectorTransferPermutationMapLoweringPatterns(p);
          vector::populateVectorGatherLoweringPatterns(p);
        })))
      return signalPassFailure();
    // 3. Outer products to FMAs, n-D transfers to 1-D loads and stores.
    if (failed(apply([](RewritePatternSet &p) {
          vector::populateVectorOuterProductLoweringPatterns(p);
          vector::populateVectorTransferLoweringPatterns(p,
                                                         /*maxRank=*/1);
          populateVectorToSCFConversionPatterns(
              p, VectorTransferToSCFOptions().enableFullUnroll());
          vector::populateVectorShapeCastLoweringPatterns(p);
          vector::populateVectorBroadcastLoweringPatterns(p);
          vector::populateVectorInsertExtractStridedSliceTransforms(p);
        })))
      return signalPassFailure();
  }
};

} // namespace
} // namespace qopt
