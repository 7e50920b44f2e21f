//===- PackGemvWeights.cpp - Column panels for one-row float products ----===//
//
// A float product of one row (a decode step's X[1, K] · W[K, N]) with
// constant weights streams W once. Tiled into `panel`-column blocks over
// a row-major W, each block reads `panel` floats from each of K rows N·4
// bytes apart: every K step lands on another page, and the hardware
// prefetchers, which follow sequential lines within a page, give up. For a
// 2048 x 32000 classifier that is 2.5x slower than the DRAM bandwidth.
//
// This pass stores such weights as panels, W'[N/panel][K][panel] (a
// compile-time transform of the constant), and computes the product as a
// contraction over the panels whose result, [.., N/panel, panel], is the
// row-major [.., N] the graph wants (a collapse_shape, no copy). Each
// panel's K x panel block is then one contiguous stream. The summation
// order of every output element is the matmul's own: the results are the
// same.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

namespace qopt {
#define GEN_PASS_DEF_PACKGEMVWEIGHTSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

/// The row-major f32 contents of `v` if it is a constant, possibly through
/// reshapes (which keep the linear order), with `count` elements.
std::optional<ArrayRef<float>> constantFloats(Value v, int64_t count) {
  while (Operation *def = v.getDefiningOp()) {
    if (auto e = dyn_cast<tensor::ExpandShapeOp>(def)) {
      v = e.getSrc();
      continue;
    }
    if (auto c = dyn_cast<tensor::CollapseShapeOp>(def)) {
      v = c.getSrc();
      continue;
    }
    break;
  }
  auto cst = v.getDefiningOp<arith::ConstantOp>();
  if (!cst)
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(cst.getType());
  if (!type || !type.getElementType().isF32() || type.getNumElements() != count)
    return std::nullopt;
  ArrayRef<char> raw;
  if (auto res = dyn_cast<DenseResourceElementsAttr>(cst.getValue())) {
    AsmResourceBlob *blob = res.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    raw = blob->getData();
  } else if (auto dense = dyn_cast<DenseElementsAttr>(cst.getValue())) {
    if (dense.isSplat())
      return std::nullopt; // Nothing to stream.
    raw = dense.getRawData();
  } else {
    return std::nullopt;
  }
  if ((int64_t)raw.size() != count * 4)
    return std::nullopt;
  return ArrayRef<float>(reinterpret_cast<const float *>(raw.data()), count);
}

struct PackGemvWeightsPass
    : impl::PackGemvWeightsPassBase<PackGemvWeightsPass> {
  using Base::Base;

  /// Rewrites `op` (a matmul or a batch matmul of one batch) if it is a
  /// one-row product over constant weights that panels divide.
  void pack(linalg::LinalgOp op) {
    bool batched = isa<linalg::BatchMatmulOp>(op.getOperation());
    Value a = op.getDpsInputs()[0], w = op.getDpsInputs()[1];
    Value init = op.getDpsInits()[0];
    auto aType = dyn_cast<RankedTensorType>(a.getType());
    auto wType = dyn_cast<RankedTensorType>(w.getType());
    auto cType = dyn_cast<RankedTensorType>(init.getType());
    if (!aType || !wType || !cType || !aType.hasStaticShape() ||
        !wType.hasStaticShape() || !cType.hasStaticShape() ||
        !aType.getElementType().isF32() || !cType.getElementType().isF32() ||
        !op.hasPureTensorSemantics())
      return;
    unsigned lead = batched ? 1 : 0;
    if (batched && (aType.getDimSize(0) != 1 || wType.getDimSize(0) != 1))
      return;
    int64_t m = aType.getDimSize(lead), k = aType.getDimSize(lead + 1);
    int64_t n = wType.getDimSize(lead + 1);
    // Only one-row products, and only where there is more than one panel.
    if (m != 1 || n % panel != 0 || n / panel < 2)
      return;
    // Named matmuls in their default form: C += A · B, no transposes.
    {
      MLIRContext *ctx = op.getContext();
      unsigned r = batched ? 4 : 3;
      auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
      unsigned bm = lead, bn = lead + 1, bk = lead + 2;
      SmallVector<AffineExpr> ea, eb, ec;
      if (batched) {
        ea.push_back(d(0));
        eb.push_back(d(0));
        ec.push_back(d(0));
      }
      ea.append({d(bm), d(bk)});
      eb.append({d(bk), d(bn)});
      ec.append({d(bm), d(bn)});
      SmallVector<AffineMap> expected{AffineMap::get(r, 0, ea, ctx),
                                      AffineMap::get(r, 0, eb, ctx),
                                      AffineMap::get(r, 0, ec, ctx)};
      if (op.getIndexingMapsArray() != expected)
        return;
    }
    std::optional<ArrayRef<float>> weights = constantFloats(w, k * n);
    if (!weights)
      return;

    MLIRContext *ctx = op.getContext();
    OpBuilder b(op);
    Location loc = op.getLoc();
    int64_t panels = n / panel;
    auto packedType =
        RankedTensorType::get({panels, k, panel}, Float32Type::get(ctx));
    AsmResourceBlob blob = HeapAsmResourceBlob::allocate(
        size_t(k * n) * sizeof(float), /*align=*/64);
    float *out = reinterpret_cast<float *>(blob.getMutableData().data());
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t r = 0; r < k; ++r)
        std::memcpy(out + (p * k + r) * panel,
                    weights->data() + r * n + p * panel, panel * sizeof(float));
    Value packed = arith::ConstantOp::create(
        b, loc, packedType,
        DenseResourceElementsAttr::get(packedType, "qopt_panels",
                                       std::move(blob)));

    // One row: every leading dim of X and C is 1, so X is [1, K] and C,
    // as [N/panel, 1, panel], keeps its linear order. The product is then
    // a batch matmul over the panels with X broadcast: the strategy tiles
    // it like any matmul (one panel's columns, K in steps), and each
    // panel's K x panel block is one contiguous stream.
    auto flat = [&](Value v, RankedTensorType type) -> Value {
      SmallVector<ReassociationIndices> all(1);
      for (int64_t d = 0; d < type.getRank(); ++d)
        all[0].push_back(d);
      return tensor::CollapseShapeOp::create(b, loc, v, all);
    };
    auto x2Type = RankedTensorType::get({1, k}, aType.getElementType());
    Value x2 = a;
    if (aType.getRank() != 2) {
      SmallVector<ReassociationIndices> toRow(2);
      for (int64_t d = 0; d + 1 < aType.getRank(); ++d)
        toRow[0].push_back(d);
      toRow[1].push_back(aType.getRank() - 1);
      x2 = tensor::CollapseShapeOp::create(b, loc, x2Type, a, toRow);
    }
    auto c3Type =
        RankedTensorType::get({panels, 1, panel}, cType.getElementType());
    SmallVector<ReassociationIndices> three{{0, 1, 2}};
    Value c3 =
        tensor::ExpandShapeOp::create(b, loc, c3Type, flat(init, cType), three);
    auto dim = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    // (panel, row, column, k)
    SmallVector<AffineMap> maps{
        AffineMap::get(4, 0, {dim(1), dim(3)}, ctx),
        AffineMap::get(4, 0, {dim(0), dim(3), dim(2)}, ctx),
        AffineMap::get(4, 0, {dim(0), dim(1), dim(2)}, ctx)};
    auto product = linalg::BatchMatmulOp::create(
        b, loc, TypeRange{c3Type}, ValueRange{x2, packed}, ValueRange{c3});
    product.setIndexingMapsAttr(b.getAffineMapArrayAttr(maps));
    Value result = flat(product.getResult(0), c3Type);
    SmallVector<ReassociationIndices> back(1);
    for (int64_t d = 0; d < cType.getRank(); ++d)
      back[0].push_back(d);
    result = tensor::ExpandShapeOp::create(b, loc, cType, result, back);
    op->getResult(0).replaceAllUsesWith(result);
    op->erase();
    ++packedProducts;
  }

  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates;
    getOperation().walk([&](Operation *op) {
      if (isa<linalg::MatmulOp, linalg::BatchMatmulOp>(op))
        candidates.push_back(cast<linalg::LinalgOp>(op));
    });
    for (linalg::LinalgOp op : candidates)
      pack(op);
  }
};

} // namespace
} // namespace qopt
