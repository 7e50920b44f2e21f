//===- DetectOutliers.cpp - Outlier channels of matmul inputs -------------===//
//
// Outlier activation channels are the main way quantization fails: one
// channel a hundred times larger than the rest stretches a per-tensor int8
// range until the ordinary channels round to a handful of levels. This
// pass finds them in the per-channel abs-max of calibration and marks the
// matmuls that read them, for the report and for the passes that act on
// them (SmoothQuant, the mixed-precision decomposition).
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include <algorithm>

namespace qopt {
#define GEN_PASS_DEF_DETECTOUTLIERSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {

OutliersAttr findOutliers(MLIRContext *ctx, ArrayRef<float> channelAbsMax,
                          double threshold, double ratio) {
  if (channelAbsMax.empty())
    return {};
  std::vector<float> sorted(channelAbsMax.begin(), channelAbsMax.end());
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2,
                   sorted.end());
  double median = sorted[sorted.size() / 2];
  SmallVector<int64_t> channels;
  double overall = 0, ordinary = 0;
  for (auto [c, v] : llvm::enumerate(channelAbsMax)) {
    overall = std::max(overall, double(v));
    if (v > threshold && v > ratio * median)
      channels.push_back(c);
    else
      ordinary = std::max(ordinary, double(v));
  }
  double maxRatio = median > 0 ? overall / median : 0;
  double fraction = overall > 0 ? 1 - ordinary / overall : 0;
  return OutliersAttr::get(ctx, DenseI64ArrayAttr::get(ctx, channels),
                           llvm::APFloat(threshold), llvm::APFloat(ratio),
                           llvm::APFloat(median), llvm::APFloat(maxRatio),
                           llvm::APFloat(fraction));
}

namespace {

struct DetectOutliersPass
    : impl::DetectOutliersPassBase<DetectOutliersPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    getOperation().walk([&](ObserveOp probe) {
      auto type = cast<RankedTensorType>(probe.getInput().getType());
      if (type.getRank() == 0)
        return;
      int64_t channels = type.getDimSize(type.getRank() - 1);
      std::optional<std::vector<float>> absMax =
          readFloats(probe.getChannelAbsmaxAttr(), channels);
      if (!absMax)
        return;
      OutliersAttr outliers = findOutliers(ctx, *absMax, threshold, ratio);
      numOutlierChannels += outliers.getChannels().size();
      for (Operation *user : probe->getUsers()) {
        auto mm = dyn_cast<tosa::MatMulOp>(user);
        // Im2col convolutions read their input transposed: the probe's last
        // dim is not their reduction dim.
        std::optional<QuantizableMatMul> m =
            mm ? analyzeMatMul(mm) : std::nullopt;
        if (m && !m->weightOnLeft)
          mm->setAttr(QOptDialect::kOutliersAttrName, outliers);
      }
    });
  }
};

} // namespace
} // namespace qopt
