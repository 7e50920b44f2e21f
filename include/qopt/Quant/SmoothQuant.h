//===- SmoothQuant.h - Migrating activation outliers into weights -*- C++ -*-===//
//
// SmoothQuant (Xiao et al.): a matmul y = x Wᵀ equals (x / s)(W · diag(s))ᵀ
// for any positive per-input-channel s. Choosing s_j = max|x_j|^α /
// max|W_j|^(1-α) moves the range of outlier activation channels into the
// weights, where per-channel scales absorb it, so both sides quantize to
// int8 with little loss. α is searched per layer on rows of x kept during
// calibration, measuring the int8 product against the float one.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_QUANT_SMOOTHQUANT_H
#define QOPT_QUANT_SMOOTHQUANT_H

#include <cstdint>
#include <string>
#include <vector>

namespace qopt::quant {

struct SmoothQuantOptions {
  /// α takes the values 0, 1 / alphaGrid, ..., 1 when searched.
  int alphaGrid = 20;
  /// A fixed α in [0, 1] instead of the search (negative: search).
  double fixedAlpha = -1;
  /// How the activations are quantized: dynamic per-token scales, or one
  /// static per-tensor scale covering max_j max|x_j| / s_j.
  bool perTokenActivations = false;
  /// The static range the unsmoothed layer would use (its calibrated range,
  /// possibly clipped); negative: max_j channelAbsMax_j.
  double baselineRange = -1;
};

struct SmoothQuantResult {
  /// s_j, one per input channel (all 1 when smoothing does not help).
  std::vector<float> scales;
  /// The chosen α, or -1 when no α beat the unsmoothed layer.
  double alpha = -1;
  /// Squared error of the int8 product against the float product on the
  /// sample rows, summed over the layers: with the chosen scales and
  /// without smoothing.
  double error = 0, baselineError = 0;
  /// max_j channelAbsMax_j / s_j: the static range of the smoothed input.
  float smoothedAbsMax = 0;
};

/// Searches SmoothQuant scales for the layers in `weights` (each row-major
/// [rows[l], k], rows = output channels), which share one input whose
/// per-channel abs-max is `channelAbsMax` [k] and of which `samples` holds
/// `numSamples` rows [numSamples, k]. Weights are quantized per output
/// channel (int8, absmax / 127). Returns false with `error` set when the
/// inputs cannot be used (no samples, non-finite values).
bool searchSmoothQuant(const std::vector<const float *> &weights,
                       const std::vector<int64_t> &rows, int64_t k,
                       const float *channelAbsMax, const float *samples,
                       int64_t numSamples, const SmoothQuantOptions &options,
                       SmoothQuantResult &result, std::string &error);

/// The int8 x int8 product's squared error against the float product on
/// `samples`, for the layers' weights scaled by `s` and the samples divided
/// by it (s = nullptr: unsmoothed). `activationAbsMax` is the static
/// per-tensor range (ignored with per-token activations).
double smoothedProductError(const std::vector<const float *> &weights,
                            const std::vector<int64_t> &rows, int64_t k,
                            const float *samples, int64_t numSamples,
                            const float *s, float activationAbsMax,
                            bool perTokenActivations);

} // namespace qopt::quant

#endif // QOPT_QUANT_SMOOTHQUANT_H
