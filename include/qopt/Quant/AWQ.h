//===- AWQ.h - Activation-aware weight quantization -------------*- C++ -*-===//
//
// AWQ (Lin et al., "AWQ: Activation-aware Weight Quantization for LLM
// Compression and Acceleration"): scales up the weight columns of the input
// channels with large activations before round-to-nearest, so that their
// weights get relatively finer steps, and divides the activations by the
// same scales. The scales are searched, and then a clip ratio per group,
// against the layer's output error on H = XᵀX, so no raw activations are
// needed. The quantized matrices are in RTN's layout.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_QUANT_AWQ_H
#define QOPT_QUANT_AWQ_H

#include "qopt/Quant/Quant.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qopt::quant {

struct AWQOptions {
  /// The exponent alpha of the scales takes the values 0, 1 / alphaGrid,
  /// ..., 1; 0 (no scaling, plain RTN) is always tried.
  int alphaGrid = 20;
  /// Clip ratios 1, 1 - maxShrink / clipGrid, ..., 1 - maxShrink.
  int clipGrid = 20;
  double maxShrink = 0.5;
  bool searchClip = true;
};

struct AWQResult {
  /// One scale s_j per input channel; the layers compute
  /// (x / s) · (W · diag(s))ᵀ, i.e. the kernels multiply x / s with the
  /// quantized matrices below.
  std::vector<float> inputScales;
  /// The chosen exponent: s_j ∝ meanAbs_j ^ alpha.
  double alpha = 0;
  /// Q(W_l · diag(s)), with the chosen clip ratios, one per layer.
  std::vector<QuantizedMatrix> matrices;
  /// layerOutputError summed over the layers, of the result (effective
  /// weights Q / s, against W in the original basis) and of plain RTN.
  double error = 0, rtnError = 0;
};

/// Searches one set of input-channel scales for several layers that read
/// the same input (q/k/v projections, FFN gate/up), each a row-major
/// [rows[l], k] matrix, given their input's H (k x k, row-major) and mean
/// |x| per channel. `channelMeanAbs` may be null: sqrt(diag H), which is
/// proportional to each channel's RMS, stands in for it. Never worse than
/// RTN on H's error: alpha = 0 and clip ratio 1 are among the candidates,
/// and a layer keeps its clip ratios only when they lower its whole error.
/// Returns false and sets `error` to a sentence for an unsupported scheme
/// or options, mismatched shapes, or NaN/Inf in the inputs.
bool searchAWQ(const std::vector<const float *> &weights,
               const std::vector<int64_t> &rows, int64_t k,
               const WeightScheme &scheme, const double *hessian,
               const float *channelMeanAbs, const AWQOptions &options,
               AWQResult &result, std::string &error);

} // namespace qopt::quant

#endif // QOPT_QUANT_AWQ_H
