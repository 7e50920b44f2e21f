//===- TileAndVectorize.cpp - Tile and vectorize as configured -------------===//
//
// The mechanical half of the x86 codegen strategy on tensors: each op that
// qopt-tile-strategy gave a #qopt.lowering_config is tiled with scf.for
// through TilingInterface at those sizes, and the upstream linalg
// vectorizer turns every tile into vector ops.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Passes.h"
#include "qopt/QOptDialect.h"

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

/// The tile loop order of a contraction whose right operand (K x N) is
/// larger than its left one (M x K): N's loop outside M's, so each block of
/// N columns of the right operand stays in cache while every M tile passes
/// over it, and the larger operand is read once (an im2col product's
/// columns, [C*KH*KW, pixels], are tens of MB beside a small weight
/// matrix). Empty (dim order: M outside N) otherwise.
SmallVector<int64_t> contractionLoopOrder(linalg::LinalgOp op) {
  if (!linalg::isaContractionOpInterface(op))
    return {};
  auto dims = linalg::inferContractionDims(op);
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      llvm::any_of(ranges, ShapedType::isDynamic))
    return {};
  unsigned m = dims->m[0], n = dims->n[0];
  if (ranges[n] <= ranges[m])
    return {};
  SmallVector<int64_t> order(ranges.size());
  for (unsigned i = 0; i < order.size(); ++i)
    order[i] = i;
  std::swap(order[m], order[n]);
  return order;
}

struct TileAndVectorizePass
    : impl::TileAndVectorizePassBase<TileAndVectorizePass> {
  using Base::Base;

  void leftScalar(Operation *op, StringRef why) {
    reportLeftScalar(op, why, reportScalar);
  }

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    MLIRContext *ctx = &getContext();
    // Ops the strategy configured, in IR order.
    SmallVector<std::pair<linalg::LinalgOp, LoweringConfigAttr>> ops;
    fn.walk([&](linalg::LinalgOp op) {
      if (auto config = op->getAttrOfType<LoweringConfigAttr>(
              QOptDialect::kLoweringConfigAttrName))
        ops.push_back({op, config});
    });
    IRRewriter rewriter(ctx);
    for (auto [op, config] : ops) {
      op->removeAttr(QOptDialect::kLoweringConfigAttrName);
      bool fmaChain = config.getFmaChain();
      scf::SCFTilingOptions options;
      options.setTileSizes(
          getAsIndexOpFoldResult(ctx, config.getTileSizes().asArrayRef()));
      if (SmallVector<int64_t> order = contractionLoopOrder(op); !order.empty())
        options.setInterchange(order);
      rewriter.setInsertionPoint(op);
      FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
          rewriter, cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled)) {
        leftScalar(op, "tiling failed");
        continue;
      }
      rewriter.replaceOp(op, tiled->replacements);
      Operation *tile = tiled->tiledOps.back();
      if (fmaChain) {
        // The tile's reduction loops have one step: without its unit dims
        // it is an elementwise op over the innermost loop.
        rewriter.setInsertionPoint(tile);
        FailureOr<linalg::DropUnitDimsResult> dropped =
            linalg::dropUnitDims(rewriter, cast<linalg::GenericOp>(tile),
                                 linalg::ControlDropUnitDims());
        if (failed(dropped)) {
          leftScalar(tile, "its unit dims could not be dropped");
          continue;
        }
        rewriter.replaceOp(tile, dropped->replacements);
        tile = dropped->resultOp;
        // A one-column tile (a remainder, or N = 1) is 0-d now, and the
        // vectorizer reads a tensor.extract into a 0-d vector as a gather
        // with scalar indices, which does not verify: such tiles of the
        // outlier product stay scalar.
        auto scalarTile = cast<linalg::LinalgOp>(tile);
        if (scalarTile.getNumLoops() == 0 &&
            !scalarTile.getBlock()->getOps<tensor::ExtractOp>().empty()) {
          leftScalar(tile, "a one-column tile with a gather");
          continue;
        }
      }
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
        leftScalar(tile, "vectorization failed");
        continue;
      }
      rewriter.replaceOp(tile, vectorized->replacements);
    }

    RewritePatternSet patterns(ctx);
    vector::populateVectorReductionToContractPatterns(patterns);
    vector::populateSinkVectorOpsPatterns(patterns);
    tensor::populateFoldTensorSubsetOpPatterns(patterns);
    // Slices of tensor.empty (the dequantized weight blocks) become small
    // tensor.empty ops, so no buffer of the whole float matrix remains.
    tensor::populateFoldTensorEmptyPatterns(patterns);
    vector::TransferReadOp::getCanonicalizationPatterns(patterns, ctx);
    vector::TransferWriteOp::getCanonicalizationPatterns(patterns, ctx);
    scf::ForOp::getCanonicalizationPatterns(patterns, ctx);
    if (failed(applyPatternsGreedily(fn, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace qopt
