//===- TileStrategy.cpp - Choose tile sizes and vector shapes per op -------===//
//
// The deciding half of the x86 codegen strategy on tensors: per-op static
// tile sizes that divide the loop ranges, recorded as #qopt.lowering_config
// for qopt-tile-and-vectorize. Shapes its decisions need are prepared here:
// dequantization fused into weight blocks, splits into vector multiples.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "qopt-tile-strategy"

namespace qopt {
#define GEN_PASS_DEF_TILESTRATEGYPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

/// A tile size for a dim of `n` elements: `limit` or a smaller power of two
/// down to `floor` if it divides `n` (whole vector registers), else the
/// largest divisor of `n` not above `limit`.
int64_t chooseTile(int64_t n, int64_t limit, int64_t floor) {
  for (int64_t p = limit; p >= floor; p /= 2)
    if (n % p == 0)
      return p;
  for (int64_t d = std::min(n, limit); d > 1; --d)
    if (n % d == 0)
      return d;
  return 1;
}

/// A block of a dim of `n` elements for blocked weight dequantization: the
/// largest proper divisor of `n` that is a multiple of `align` and not above
/// max(limit, align), preferring multiples of `vector` (whole vectors), down
/// to half a vector; `n` itself when there is none.
int64_t chooseBlock(int64_t n, int64_t limit, int64_t vector,
                    int64_t align = 1) {
  int64_t top = std::min(n - 1, std::max(limit, align));
  for (int64_t d = top; d >= vector; --d)
    if (n % d == 0 && d % align == 0 && d % vector == 0)
      return d;
  for (int64_t d = top; d >= std::max<int64_t>(vector / 2, align); --d)
    if (n % d == 0 && d % align == 0)
      return d;
  return n;
}

/// The weight-dequantization generic (from qopt-lower-to-linalg) feeding a
/// contraction's right operand, if any.
linalg::GenericOp dequantizedWeights(linalg::LinalgOp op) {
  if (op.getNumDpsInputs() != 2)
    return {};
  auto producer = op.getDpsInputs()[1].getDefiningOp<linalg::GenericOp>();
  if (producer && producer->hasAttr(QOptDialect::kDequantizeWeightsAttrName))
    return producer;
  return {};
}

/// Whether `op` accumulates into its one output as `math.fma(a, b, acc)`
/// over its reduction loops, with a parallel innermost loop: an ordered fma
/// chain (the rescale of the grouped integer product), which has no vector
/// reduction kind but vectorizes as elementwise fmas across the innermost
/// loop once its reduction loops are tiled by 1, keeping the order.
bool isFmaChain(linalg::LinalgOp op) {
  auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
  if (!generic || generic.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() == 0 ||
      op.getIteratorTypesArray().back() != utils::IteratorType::parallel)
    return false;
  BlockArgument acc = generic.getRegionOutputArgs()[0];
  auto yield = cast<linalg::YieldOp>(generic.getBody()->getTerminator());
  auto fma = yield.getValues()[0].getDefiningOp<math::FmaOp>();
  return fma && fma.getC() == acc && acc.hasOneUse();
}

struct TileStrategyPass : impl::TileStrategyPassBase<TileStrategyPass> {
  using Base::Base;

  /// Tiles a matmul over dequantized weights into blocks of N and K with
  /// the dequantization fused into the block loop: weights stay packed in
  /// memory and each block is dequantized once, right before the block
  /// product (M is not tiled here, so no block is dequantized twice).
  /// Returns the block product for the regular tiling, or null.
  linalg::LinalgOp fuseDequantization(RewriterBase &rewriter,
                                      linalg::LinalgOp op) {
    linalg::GenericOp dequant = dequantizedWeights(op);
    if (!dequant || !linalg::isaContractionOpInterface(op))
      return {};
    auto dims = linalg::inferContractionDims(op);
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (failed(dims) || dims->n.size() != 1 || dims->k.size() != 1 ||
        llvm::any_of(ranges, ShapedType::isDynamic))
      return {};
    SmallVector<int64_t> sizes(ranges.size(), 0);
    unsigned n = dims->n[0], k = dims->k[0];
    int64_t align = 1;
    if (auto a = dequant->getAttrOfType<IntegerAttr>(QOptDialect::kDequantizeWeightsAttrName))
      align = a.getInt();
    sizes[n] = chooseBlock(ranges[n], dequantBlock, vectorWidth);
    sizes[k] = chooseBlock(ranges[k], dequantBlock, vectorWidth, align);
    scf::SCFTileAndFuseOptions options;
    options.tilingOptions.setTileSizes(
        getAsIndexOpFoldResult(rewriter.getContext(), sizes));
    options.setFusionControlFn(
        [&](tensor::ExtractSliceOp, OpResult producer, bool isDestination)
            -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
          if (isDestination || producer.getOwner() != dequant.getOperation())
            return std::nullopt;
          return scf::SCFTileAndFuseOptions::ControlFnResult{};
        });
    rewriter.setInsertionPoint(op);
    FailureOr<scf::SCFTileAndFuseResult> fused =
        scf::tileConsumerAndFuseProducersUsingSCF(
            rewriter, cast<TilingInterface>(op.getOperation()), options);
    if (failed(fused)) {
      LLVM_DEBUG(llvm::dbgs() << "dequantization fusion failed: " << op << "\n");
      return {};
    }
    for (OpResult r : op->getResults())
      if (Value v = fused->replacements.lookup(r))
        rewriter.replaceAllUsesWith(r, v);
    rewriter.eraseOp(op);
    if (dequant->use_empty())
      rewriter.eraseOp(dequant);
    return dyn_cast<linalg::LinalgOp>(fused->tiledAndFusedOps.front());
  }

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
        sizes[m] = chooseTile(ranges[m], mTile, vectorWidth / 2);
        sizes[n] = chooseTile(ranges[n], nTile, vectorWidth / 2);
        sizes[k] = chooseTile(ranges[k], kTile, vectorWidth / 2);
        return sizes;
      }
    }

    // Elementwise / reduction: whole reduction dims, unit outer parallel
    // dims, a vector-wide innermost parallel dim (the innermost one longer
    // than 1: trailing unit dims, as in a 1x1 convolution's im2col view,
    // would leave the op scalar).
    int64_t elements = 1;
    for (size_t d = 0; d < ranges.size(); ++d) {
      if (iters[d] == utils::IteratorType::reduction) {
        sizes[d] = 0;
        elements *= ranges[d];
      }
    }
    int64_t inner = ranges.size() - 1;
    while (inner > 0 && ranges[inner] == 1)
      --inner;
    if (iters[inner] == utils::IteratorType::parallel) {
      sizes[inner] = chooseTile(ranges[inner], vectorWidth, vectorWidth / 2);
      elements *= sizes[inner];
      // A transposing read (an input whose innermost non-unit dim is
      // another parallel loop) gets that loop vector-wide too: the tile is
      // then read as contiguous rows and transposed in registers, instead
      // of one strided element at a time.
      for (OpOperand *in : op.getDpsInputOperands()) {
        AffineMap map = op.getMatchingIndexingMap(in);
        auto type = dyn_cast<ShapedType>(in->get().getType());
        if (!type || !map.isProjectedPermutation())
          continue;
        for (int64_t r = int64_t(map.getNumResults()) - 1; r >= 0; --r) {
          if (type.getDimSize(r) == 1)
            continue;
          unsigned d = map.getDimPosition(r);
          if (int64_t(d) != inner &&
              iters[d] == utils::IteratorType::parallel && sizes[d] == 1) {
            sizes[d] = chooseTile(ranges[d], vectorWidth, vectorWidth / 2);
            elements *= sizes[d];
          }
          break;
        }
      }
    }
    if (elements > maxVectorElements)
      return failure();
    return sizes;
  }

  /// Tiles of an fma chain (see isFmaChain): one step of every reduction
  /// loop, unit outer parallel loops, a vector-wide innermost loop.
  FailureOr<SmallVector<int64_t>> chooseFmaChainTileSizes(linalg::LinalgOp op) {
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (ranges.empty() || llvm::any_of(ranges, ShapedType::isDynamic))
      return failure();
    SmallVector<int64_t> sizes(ranges.size(), 1);
    sizes.back() = chooseTile(ranges.back(), vectorWidth, vectorWidth / 2);
    return sizes;
  }

  /// The (dim, split point) that makes a contraction's N (or M) or an
  /// elementwise op's innermost dim a multiple of whole vectors, if any.
  std::optional<std::pair<unsigned, int64_t>> chooseSplit(linalg::LinalgOp op) {
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (ranges.empty() || llvm::any_of(ranges, ShapedType::isDynamic) ||
        isa<linalg::ConvolutionOpInterface>(op.getOperation()))
      return std::nullopt;
    auto splitAt = [&](unsigned dim, int64_t unit)
        -> std::optional<std::pair<unsigned, int64_t>> {
      int64_t n = ranges[dim];
      if (n > unit && n % unit != 0)
        return std::make_pair(dim, n / unit * unit);
      return std::nullopt;
    };
    if (linalg::isaContractionOpInterface(op)) {
      auto dims = linalg::inferContractionDims(op);
      if (succeeded(dims) && !dims->m.empty() && !dims->n.empty()) {
        if (auto s = splitAt(dims->n.back(), vectorWidth))
          return s;
        return splitAt(dims->m.back(), mTile);
      }
      return std::nullopt;
    }
    unsigned inner = ranges.size() - 1;
    if (op.getIteratorTypesArray()[inner] != utils::IteratorType::parallel)
      return std::nullopt;
    return splitAt(inner, vectorWidth);
  }

  void leftScalar(Operation *op, StringRef why) {
    reportLeftScalar(op, why, reportScalar);
  }

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    MLIRContext *ctx = &getContext();
    SmallVector<linalg::LinalgOp> ops;
    fn.walk([&](linalg::LinalgOp op) {
      // Weight dequantization is fused into its consumer below (its packed
      // reads are not plain vector loads).
      // Ops inside loops are already tiled (kernels built by other passes),
      // except in loops marked for tiling (a convolution's row loop).
      auto loop = op->getParentOfType<scf::ForOp>();
      if (op.hasPureTensorSemantics() &&
          (!loop || loop->hasAttr(QOptDialect::kTileInLoopAttrName)) &&
          !op->hasAttr(QOptDialect::kDequantizeWeightsAttrName))
        ops.push_back(op);
    });
    IRRewriter rewriter(ctx);
    for (linalg::LinalgOp &op : ops)
      if (linalg::LinalgOp block = fuseDequantization(rewriter, op))
        op = block;
    SmallVector<linalg::LinalgOp> worklist(ops.rbegin(), ops.rend());
    while (!worklist.empty()) {
      linalg::LinalgOp op = worklist.pop_back_val();
      // A parallel dim that whole vectors do not divide is split into a
      // vector-multiple part and a remainder, each configured on its own,
      // instead of using an odd tile (6625 columns: 6624 + 1, not 25-wide
      // tiles).
      if (auto split = chooseSplit(op)) {
        rewriter.setInsertionPoint(op);
        auto [main, rest] = linalg::splitOp(
            rewriter, cast<TilingInterface>(op.getOperation()), split->first,
            rewriter.getIndexAttr(split->second));
        for (TilingInterface part : {rest, main})
          if (auto l = dyn_cast_or_null<linalg::LinalgOp>(part.getOperation()))
            worklist.push_back(l);
        continue;
      }
      bool fmaChain = isFmaChain(op);
      FailureOr<SmallVector<int64_t>> sizes =
          fmaChain ? chooseFmaChainTileSizes(op) : chooseTileSizes(op);
      if (failed(sizes)) {
        leftScalar(op, "no static tile sizes fit its loops");
        continue;
      }
      if (!fmaChain && failed(linalg::vectorizeOpPrecondition(op))) {
        leftScalar(op, "the linalg vectorizer does not handle it");
        continue;
      }
      op->setAttr(QOptDialect::kLoweringConfigAttrName,
                  LoweringConfigAttr::get(
                      ctx, DenseI64ArrayAttr::get(ctx, *sizes), fmaChain));
    }
  }
};

} // namespace

void reportLeftScalar(Operation *op, StringRef why, bool asRemark) {
  LLVM_DEBUG(llvm::dbgs() << "left scalar (" << why << "): " << *op << "\n");
  if (asRemark)
    op->emitRemark() << "left scalar: " << why;
}

} // namespace qopt
