//===- TileAndVectorize.cpp - Tile linalg ops and vectorize the tiles -----===//
//
// The x86 pipeline's codegen strategy on tensors: per-op static tile sizes
// that divide the loop ranges, scf.for tiling through TilingInterface, and
// the upstream linalg vectorizer on every tile.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "qopt-tile-and-vectorize"

namespace qopt {
#define GEN_PASS_DEF_TILEANDVECTORIZEPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

/// The largest divisor of `n` that is at most `limit`.
int64_t largestDivisorAtMost(int64_t n, int64_t limit) {
  for (int64_t d = std::min(n, limit); d > 1; --d)
    if (n % d == 0)
      return d;
  return 1;
}

struct TileAndVectorizePass
    : impl::TileAndVectorizePassBase<TileAndVectorizePass> {
  using Base::Base;

  /// Tile sizes for `op` (0 = not tiled), or failure to leave it scalar.
  FailureOr<SmallVector<int64_t>> chooseTileSizes(linalg::LinalgOp op) {
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (ranges.empty() || llvm::any_of(ranges, ShapedType::isDynamic))
      return failure();
    if (isa<linalg::ConvolutionOpInterface>(op.getOperation()))
      return failure();
    SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
    SmallVector<int64_t> sizes(ranges.size(), 1);

    if (linalg::isaContractionOpInterface(op)) {
      auto dims = linalg::inferContractionDims(op);
      if (succeeded(dims) && !dims->m.empty() && !dims->n.empty() &&
          !dims->k.empty()) {
        for (unsigned d : dims->m)
          sizes[d] = 1;
        for (unsigned d : dims->n)
          sizes[d] = 1;
        for (unsigned d : dims->k)
          sizes[d] = 1;
        unsigned m = dims->m.back(), n = dims->n.back(), k = dims->k.back();
        sizes[m] = largestDivisorAtMost(ranges[m], mTile);
        sizes[n] = largestDivisorAtMost(ranges[n], nTile);
        sizes[k] = largestDivisorAtMost(ranges[k], kTile);
        return sizes;
      }
    }

    // Elementwise / reduction: whole reduction dims, unit outer parallel
    // dims, a vector-wide innermost parallel dim.
    int64_t elements = 1;
    for (size_t d = 0; d < ranges.size(); ++d) {
      if (iters[d] == utils::IteratorType::reduction) {
        sizes[d] = 0;
        elements *= ranges[d];
      }
    }
    int64_t inner = ranges.size() - 1;
    if (iters[inner] == utils::IteratorType::parallel) {
      sizes[inner] = largestDivisorAtMost(ranges[inner], vectorWidth);
      elements *= sizes[inner];
    }
    if (elements > maxVectorElements)
      return failure();
    return sizes;
  }

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    MLIRContext *ctx = &getContext();
    SmallVector<linalg::LinalgOp> ops;
    fn.walk([&](linalg::LinalgOp op) {
      if (op.hasPureTensorSemantics() && !op->getParentOfType<scf::ForOp>())
        ops.push_back(op);
    });
    IRRewriter rewriter(ctx);
    for (linalg::LinalgOp op : ops) {
      FailureOr<SmallVector<int64_t>> sizes = chooseTileSizes(op);
      if (failed(sizes))
        continue;
      if (failed(linalg::vectorizeOpPrecondition(op)))
        continue;
      scf::SCFTilingOptions options;
      options.setTileSizes(getAsIndexOpFoldResult(ctx, *sizes));
      rewriter.setInsertionPoint(op);
      FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
          rewriter, cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled)) {
        LLVM_DEBUG(llvm::dbgs() << "tiling failed: " << op << "\n");
        continue;
      }
      rewriter.replaceOp(op, tiled->replacements);
      Operation *tile = tiled->tiledOps.back();
      rewriter.setInsertionPoint(tile);
      // Contractions become vector.contract with matmul maps, so operands
      // are read as plain row-major tiles.
      auto tileOp = dyn_cast<linalg::LinalgOp>(tile);
      bool contraction = tileOp && linalg::isaContractionOpInterface(tileOp);
      FailureOr<linalg::VectorizationResult> vectorized = linalg::vectorize(
          rewriter, tile, /*inputVectorSizes=*/{}, /*scalableDims=*/{},
          /*vectorizeNDExtract=*/false, /*flatten1DDepthwiseConv=*/false,
          /*assumeDynamicDimsMatchVecSizes=*/false,
          /*createNamedContraction=*/contraction);
      if (failed(vectorized)) {
        LLVM_DEBUG(llvm::dbgs() << "vectorization failed: " << *tile << "\n");
        continue;
      }
      rewriter.replaceOp(tile, vectorized->replacements);
    }

    RewritePatternSet patterns(ctx);
    vector::populateVectorReductionToContractPatterns(patterns);
    vector::populateSinkVectorOpsPatterns(patterns);
    tensor::populateFoldTensorSubsetOpPatterns(patterns);
    vector::TransferReadOp::getCanonicalizationPatterns(patterns, ctx);
    vector::TransferWriteOp::getCanonicalizationPatterns(patterns, ctx);
    scf::ForOp::getCanonicalizationPatterns(patterns, ctx);
    if (failed(applyPatternsGreedily(fn, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace qopt
