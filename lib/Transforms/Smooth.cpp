//===- Smooth.cpp - SmoothQuant over calibrated float matmuls -------------===//
//
// Rewrites x Wᵀ as (x / s)(W · diag(s))ᵀ for the matmuls that share one
// calibrated input, with s searched by lib/Quant's SmoothQuant. The float
// function is unchanged up to rounding; what changes is which side carries
// the outlier channels' range when both sides are quantized next.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Quant/SmoothQuant.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "qopt-smooth"

namespace qopt {
#define GEN_PASS_DEF_SMOOTHPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

/// If `x` is made by an elementwise generic whose result is a product with
/// a constant per-channel vector that nothing else reads, that vector's
/// operand index.
std::optional<unsigned> foldableChannelVector(Value x) {
  auto generic = x.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !x.hasOneUse())
    return std::nullopt;
  auto yield = cast<linalg::YieldOp>(generic.getBody()->getTerminator());
  auto mul = yield.getOperand(0).getDefiningOp<arith::MulFOp>();
  if (!mul)
    return std::nullopt;
  unsigned rank = generic.getNumLoops();
  for (Value factor : {mul.getLhs(), mul.getRhs()}) {
    auto arg = dyn_cast<BlockArgument>(factor);
    if (!arg || arg.getOwner() != generic.getBody() ||
        arg.getArgNumber() >= generic.getNumDpsInputs() || !arg.hasOneUse())
      continue;
    OpOperand *operand = generic.getDpsInputOperand(arg.getArgNumber());
    auto constant = operand->get().getDefiningOp<arith::ConstantOp>();
    AffineMap map = generic.getMatchingIndexingMap(operand);
    if (!constant || !operand->get().hasOneUse() || map.getNumResults() != 1 ||
        map.getResult(0) != getAffineDimExpr(rank - 1, x.getContext()))
      continue;
    auto type = cast<RankedTensorType>(operand->get().getType());
    if (type.getRank() != 1 || !type.getElementType().isF32())
      continue;
    return operand->getOperandNumber();
  }
  return std::nullopt;
}

/// Folds `x * factors` (along the last dim) into the producer of `x` when
/// foldableChannelVector finds its constant: the vector is multiplied by
/// `factors` in place. Returns false, changing nothing, otherwise.
bool foldIntoChannelVector(Value x, ArrayRef<float> factors) {
  std::optional<unsigned> index = foldableChannelVector(x);
  if (!index)
    return false;
  auto generic = x.getDefiningOp<linalg::GenericOp>();
  OpOperand &operand = generic->getOpOperand(*index);
  auto constant = operand.get().getDefiningOp<arith::ConstantOp>();
  auto k = int64_t(factors.size());
  std::optional<std::vector<float>> vector =
      readFloats(cast<ElementsAttr>(constant.getValue()), k);
  if (!vector)
    return false;
  for (int64_t j = 0; j < k; ++j)
    (*vector)[j] *= factors[j];
  OpBuilder b(constant);
  auto attr = cast<TypedAttr>(floatTensorAttr(x.getContext(), {k}, *vector));
  operand.set(arith::ConstantOp::create(b, constant.getLoc(), attr));
  constant.erase();
  return true;
}

/// Rewrites the statistics of `probe` for an input that is now x * factors:
/// per-channel abs-max and mean |x| scaled by the factors, the Gram matrix
/// by their outer product, the abs-max set to `absmax`; sampled rows are
/// dropped.
void scaleProbeStatistics(ObserveOp probe, ArrayRef<float> factors,
                          float absmax) {
  MLIRContext *ctx = probe.getContext();
  auto k = int64_t(factors.size());
  if (auto channelMax = readFloats(probe.getChannelAbsmaxAttr(), k)) {
    for (int64_t j = 0; j < k; ++j)
      (*channelMax)[j] *= factors[j];
    probe.setChannelAbsmaxAttr(floatTensorAttr(ctx, {k}, *channelMax));
  }
  probe.setAbsmaxAttr(FloatAttr::get(Float32Type::get(ctx), absmax));
  if (auto mean = readFloats(probe.getChannelMeanAbsAttr(), k)) {
    for (int64_t j = 0; j < k; ++j)
      (*mean)[j] *= factors[j];
    probe.setChannelMeanAbsAttr(floatTensorAttr(ctx, {k}, *mean));
  }
  if (auto gram = readDoubles(probe.getGramAttr(), k * k)) {
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        (*gram)[i * k + j] *= double(factors[i]) * double(factors[j]);
    probe.setGramAttr(doubleTensorAttr(ctx, {k, k}, *gram));
  }
  probe.removeSampleRowsAttr();
}

struct SmoothPass : impl::SmoothPassBase<SmoothPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<ObserveOp> probes;
    getOperation().walk([&](ObserveOp op) {
      if (op.getSampleRowsAttr() && op.getChannelAbsmaxAttr())
        probes.push_back(op);
    });
    for (ObserveOp probe : probes)
      if (failed(smooth(probe)))
        return signalPassFailure();
  }

  LogicalResult smooth(ObserveOp probe) {
    auto type = cast<RankedTensorType>(probe.getInput().getType());
    int64_t k = type.getDimSize(type.getRank() - 1);
    SmallVector<QuantizableMatMul> group;
    std::vector<std::vector<float>> weights;
    for (Operation *user : probe->getUsers()) {
      auto mm = dyn_cast<tosa::MatMulOp>(user);
      std::optional<QuantizableMatMul> m =
          mm ? analyzeMatMul(mm) : std::nullopt;
      if (!m || m->weightOnLeft || m->k != k)
        continue;
      std::optional<std::vector<float>> w = weightRows(*m);
      if (!w)
        continue;
      group.push_back(*m);
      weights.push_back(std::move(*w));
    }
    if (group.empty())
      return success();
    Operation *anchor = group.front().op;
    auto absMax = readFloats(probe.getChannelAbsmaxAttr(), k);
    auto rowsType = cast<ShapedType>(probe.getSampleRowsAttr().getType());
    int64_t numRows = rowsType.getDimSize(0);
    auto samples = readFloats(probe.getSampleRowsAttr(), numRows * k);
    if (!absMax || !samples)
      return anchor->emitError("smooth: unreadable calibration statistics on "
                               "this matmul's input");
    std::vector<const float *> ws;
    std::vector<int64_t> rows;
    for (auto [m, w] : llvm::zip(group, weights)) {
      ws.push_back(w.data());
      rows.push_back(m.n);
    }
    quant::SmoothQuantOptions options;
    options.fixedAlpha = alpha;
    options.perTokenActivations = perToken;
    if (auto range = probe.getAbsmax())
      options.baselineRange = range->convertToDouble();
    quant::SmoothQuantResult result;
    std::string error;
    if (!quant::searchSmoothQuant(ws, rows, k, absMax->data(), samples->data(),
                                  numRows, options, result, error))
      return anchor->emitError("smooth: ") << error;
    LLVM_DEBUG(llvm::dbgs() << onnxNodeName(anchor->getLoc()) << ": alpha "
                            << result.alpha << " error " << result.error
                            << " (unsmoothed " << result.baselineError
                            << ")\n");
    if (result.alpha < 0) {
      anchor->emitRemark("smooth: no migration strength beats the unsmoothed "
                         "layer; left as is");
      return success();
    }
    ++numSmoothed;
    const std::vector<float> &s = result.scales;
    MLIRContext *ctx = &getContext();

    // Weights: W · diag(s), written back as [1, K, N] constants; each
    // product keeps s for the ONNX export.
    auto sAttr = DenseElementsAttr::get(
        RankedTensorType::get({k}, Float32Type::get(ctx)), ArrayRef<float>(s));
    for (auto [m, w] : llvm::zip(group, weights)) {
      m.op->setAttr(QOptDialect::kSmoothScalesAttrName, sAttr);
      std::vector<float> kn(k * m.n);
      for (int64_t n = 0; n < m.n; ++n)
        for (int64_t j = 0; j < k; ++j)
          kn[j * m.n + n] = w[n * k + j] * s[j];
      OpBuilder b(m.op);
      auto bt = cast<RankedTensorType>(m.op.getB().getType());
      auto attr = cast<TypedAttr>(floatTensorAttr(ctx, bt.getShape(), kn));
      m.op.getBMutable().assign(
          arith::ConstantOp::create(b, m.op.getLoc(), attr));
    }

    // The input divided by s: folded into its producer's channel vector, or
    // a generic of its own.
    std::vector<float> inverse(k);
    for (int64_t j = 0; j < k; ++j)
      inverse[j] = 1.f / s[j];
    ObserveOp smoothedProbe;
    bool onlyGroup = llvm::all_of(probe->getUsers(), [&](Operation *u) {
      return llvm::any_of(group, [&](const QuantizableMatMul &m) {
        return tosa::MatMulOp(m.op).getOperation() == u;
      });
    });
    if (onlyGroup && foldIntoChannelVector(probe.getInput(), inverse))
      smoothedProbe = probe;
    if (!smoothedProbe) {
      Value scaled = multiplyLastDim(probe.getResult(), inverse);
      OpBuilder b(ctx);
      b.setInsertionPointAfterValue(scaled);
      smoothedProbe = ObserveOp::create(b, probe.getLoc(), scaled,
                                        (probe.getId() + ":smoothed").str());
      for (QuantizableMatMul &m : group)
        m.op.getAMutable().assign(smoothedProbe.getResult());
      // The new probe starts from the original's statistics.
      if (auto attr = probe.getAbsmaxAttr())
        smoothedProbe.setAbsmaxAttr(attr);
      if (auto attr = probe.getChannelAbsmaxAttr())
        smoothedProbe.setChannelAbsmaxAttr(attr);
      if (auto attr = probe.getChannelMeanAbsAttr())
        smoothedProbe.setChannelMeanAbsAttr(attr);
      if (auto attr = probe.getGramAttr())
        smoothedProbe.setGramAttr(attr);
    }

    // What the smoothed input's probe must say: its range and statistics
    // are those of x / s.
    scaleProbeStatistics(smoothedProbe, inverse, result.smoothedAbsMax);
    if (smoothedProbe != probe)
      probe.removeSampleRowsAttr();
    return success();
  }
};

} // namespace
} // namespace qopt
