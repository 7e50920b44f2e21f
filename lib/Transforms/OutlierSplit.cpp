//===- OutlierSplit.cpp - LLM.int8-style decomposition of matmul weights --===//
//
// The host-side numerics of `qopt-quantize outliers=keep-float`: which
// weight columns leave the integer product, and how far the integer part's
// static activation range reaches once the outlier channels are gone.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Quantization.h"

#include <algorithm>

using namespace mlir;

namespace qopt {

std::optional<OutlierHandling> parseOutlierHandling(StringRef name) {
  if (name == "none")
    return OutlierHandling::None;
  if (name == "clip")
    return OutlierHandling::Clip;
  if (name == "keep-float")
    return OutlierHandling::KeepFloat;
  return std::nullopt;
}

OutlierSplit splitOutlierColumns(std::vector<float> &rows, int64_t n, int64_t k,
                                 ArrayRef<int64_t> channels) {
  OutlierSplit split;
  split.channels.assign(channels.begin(), channels.end());
  split.weights.resize(channels.size() * n);
  for (auto [j, c] : llvm::enumerate(channels)) {
    assert(c >= 0 && c < k && "outlier channel outside the reduction dim");
    for (int64_t r = 0; r < n; ++r) {
      split.weights[j * n + r] = rows[r * k + c];
      rows[r * k + c] = 0.f;
    }
  }
  return split;
}

float integerPartRange(float absmax, ArrayRef<float> channelAbsMax,
                       ArrayRef<int64_t> channels) {
  if (channelAbsMax.empty())
    return absmax;
  float ordinary = 0.f;
  size_t next = 0;
  for (auto [c, v] : llvm::enumerate(channelAbsMax)) {
    if (next < channels.size() && channels[next] == int64_t(c)) {
      ++next;
      continue;
    }
    ordinary = std::max(ordinary, v);
  }
  return std::min(absmax, ordinary);
}

} // namespace qopt
