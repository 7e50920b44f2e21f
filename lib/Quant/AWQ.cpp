//===- AWQ.cpp - Activation-aware weight quantization ---------------------===//
//
// Every candidate is scored by the exact output error on H in the original
// input basis: the kernels compute (x / s) · Q(W·diag(s))ᵀ, so the effective
// weight is Q(W·diag(s)) · diag(1/s), and that is what is compared with W.
//
//===----------------------------------------------------------------------===//

#include "qopt/Quant/AWQ.h"
#include "qopt/Quant/GPTQ.h"

#include <algorithm>
#include <cmath>

namespace qopt::quant {

namespace {

template <typename T> bool allFinite(const T *values, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(values[i]))
      return false;
  return true;
}

/// W · diag(s) for a row-major [rows, k] matrix.
std::vector<float> scaleColumns(const float *w, int64_t rows, int64_t k,
                                const std::vector<float> &scales) {
  std::vector<float> scaled(rows * k);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i)
      scaled[r * k + i] = w[r * k + i] * scales[i];
  return scaled;
}

} // namespace

bool searchAWQ(const std::vector<const float *> &weights,
               const std::vector<int64_t> &rows, int64_t k,
               const WeightScheme &scheme, const double *hessian,
               const float *channelMeanAbs, const AWQOptions &options,
               AWQResult &result, std::string &error) {
  error = unsupportedSchemeReason(scheme);
  if (!error.empty())
    return false;
  if (weights.empty() || weights.size() != rows.size() || k < 1) {
    error = "awq needs at least one layer and one row count per layer";
    return false;
  }
  if (options.alphaGrid < 0 ||
      (options.searchClip && (options.clipGrid < 1 || options.maxShrink < 0 ||
                              options.maxShrink >= 1))) {
    error = "the alpha grid must be non-negative, and the clip search needs "
            "a positive grid and a maximum shrink in [0, 1)";
    return false;
  }
  for (size_t l = 0; l < weights.size(); ++l) {
    if (!weights[l] || rows[l] < 1) {
      error = "layer " + std::to_string(l) + " has no weights";
      return false;
    }
    if (!allFinite(weights[l], rows[l] * k)) {
      error =
          "the weights of layer " + std::to_string(l) + " contain NaN or Inf";
      return false;
    }
  }
  if (!allFinite(hessian, k * k)) {
    error = "the Hessian contains NaN or Inf";
    return false;
  }

  std::vector<double> magnitude(k);
  for (int64_t i = 0; i < k; ++i) {
    magnitude[i] = channelMeanAbs
                       ? double(channelMeanAbs[i])
                       : std::sqrt(std::max(0.0, hessian[i * k + i]));
    if (!std::isfinite(magnitude[i]) || magnitude[i] < 0) {
      error = "the mean |x| of input channel " + std::to_string(i) +
              " is not a finite non-negative number";
      return false;
    }
  }
  // Work with logarithms, and floor silent channels at a small fraction of
  // the loudest, so that no scale is 0 or overflows.
  double loudest = *std::max_element(magnitude.begin(), magnitude.end());
  std::vector<double> logMagnitude(k, 0.0);
  if (loudest > 0)
    for (int64_t i = 0; i < k; ++i)
      logMagnitude[i] = std::log(std::max(magnitude[i], 1e-4 * loudest));
  auto [lo, hi] = std::minmax_element(logMagnitude.begin(), logMagnitude.end());
  // sqrt(max(s) · min(s)) = 1 keeps the scaled weights near their range.
  double center = 0.5 * (*lo + *hi);

  size_t layers = weights.size();
  std::vector<float> scales(k);
  std::vector<QuantizedMatrix> candidate(layers);
  std::vector<double> layerError(layers), bestLayerError(layers);
  double bestError = 0;
  for (int t = 0; t <= options.alphaGrid; ++t) {
    double alpha = options.alphaGrid ? double(t) / options.alphaGrid : 0.0;
    // At alpha = 0 every scale is exactly 1: this candidate is plain RTN.
    for (int64_t i = 0; i < k; ++i)
      scales[i] = float(std::exp(alpha * (logMagnitude[i] - center)));
    double total = 0;
    for (size_t l = 0; l < layers; ++l) {
      std::vector<float> scaled = scaleColumns(weights[l], rows[l], k, scales);
      candidate[l] = quantizeRTN(scaled.data(), rows[l], k, scheme);
      layerError[l] =
          layerOutputError(weights[l], candidate[l], hessian, scales.data());
      total += layerError[l];
    }
    if (t == 0)
      result.rtnError = total;
    if (t == 0 || total < bestError) {
      bestError = total;
      result.alpha = alpha;
      result.inputScales = scales;
      result.matrices = candidate;
      bestLayerError = layerError;
    }
  }

  if (options.searchClip) {
    for (size_t l = 0; l < layers; ++l) {
      std::vector<float> scaled =
          scaleColumns(weights[l], rows[l], k, result.inputScales);
      std::vector<float> ratios = searchClipRatios(
          scaled.data(), rows[l], k, scheme, hessian, options.clipGrid,
          options.maxShrink, result.inputScales.data());
      QuantizedMatrix clipped =
          quantizeRTN(scaled.data(), rows[l], k, scheme, ratios.data());
      double clippedError = layerOutputError(weights[l], clipped, hessian,
                                             result.inputScales.data());
      // Each ratio is best for its group's diagonal block of H; the
      // cross-group terms can still make the whole layer worse.
      if (clippedError < bestLayerError[l]) {
        bestLayerError[l] = clippedError;
        result.matrices[l] = std::move(clipped);
      }
    }
  }
  result.error = 0;
  for (double e : bestLayerError)
    result.error += e;
  return true;
}

} // namespace qopt::quant
