//===- SmoothQuant.cpp - Migrating activation outliers into weights -------===//

#include "qopt/Quant/SmoothQuant.h"

#include <algorithm>
#include <cmath>

namespace qopt::quant {
namespace {

int32_t roundClamp(double v, int32_t lo, int32_t hi) {
  double r = std::nearbyint(v);
  return int32_t(std::min(double(hi), std::max(double(lo), r)));
}

/// One layer's weights scaled per input channel and quantized per output
/// channel (int8, absmax / 127): codes [rows, k] and one scale per row.
struct Int8Rows {
  std::vector<int8_t> codes;
  std::vector<double> scales;
};

Int8Rows quantizeRows(const float *w, int64_t rows, int64_t k, const float *s) {
  Int8Rows q;
  q.codes.resize(rows * k);
  q.scales.resize(rows);
  std::vector<double> scaled(k);
  for (int64_t r = 0; r < rows; ++r) {
    double amax = 0;
    for (int64_t j = 0; j < k; ++j) {
      scaled[j] = double(w[r * k + j]) * (s ? s[j] : 1.0);
      amax = std::max(amax, std::fabs(scaled[j]));
    }
    double scale = amax > 0 ? amax / 127 : 1;
    q.scales[r] = scale;
    for (int64_t j = 0; j < k; ++j)
      q.codes[r * k + j] = int8_t(roundClamp(scaled[j] / scale, -127, 127));
  }
  return q;
}

} // namespace

double smoothedProductError(const std::vector<const float *> &weights,
                            const std::vector<int64_t> &rows, int64_t k,
                            const float *samples, int64_t numSamples,
                            const float *s, float activationAbsMax,
                            bool perTokenActivations) {
  // The activations, divided by s and quantized: codes and one scale per
  // row (the same scale for every row when static).
  std::vector<int8_t> xq(numSamples * k);
  std::vector<double> xs(numSamples);
  double staticScale = activationAbsMax > 0 ? activationAbsMax / 127.0 : 1.0;
  std::vector<double> x(k);
  for (int64_t r = 0; r < numSamples; ++r) {
    double amax = 0;
    for (int64_t j = 0; j < k; ++j) {
      x[j] = double(samples[r * k + j]) / (s ? s[j] : 1.0);
      amax = std::max(amax, std::fabs(x[j]));
    }
    double scale =
        perTokenActivations ? (amax > 0 ? amax / 127 : 1.0) : staticScale;
    xs[r] = scale;
    int32_t lo = perTokenActivations ? -127 : -128;
    for (int64_t j = 0; j < k; ++j)
      xq[r * k + j] = int8_t(roundClamp(x[j] / scale, lo, 127));
  }
  double error = 0;
  for (size_t l = 0; l < weights.size(); ++l) {
    const float *w = weights[l];
    Int8Rows wq = quantizeRows(w, rows[l], k, s);
    for (int64_t r = 0; r < numSamples; ++r) {
      const float *xr = samples + r * k;
      const int8_t *qr = &xq[r * k];
      for (int64_t n = 0; n < rows[l]; ++n) {
        const float *wn = w + n * k;
        const int8_t *cn = &wq.codes[n * k];
        double ref = 0;
        int32_t acc = 0;
        for (int64_t j = 0; j < k; ++j) {
          ref += double(xr[j]) * double(wn[j]);
          acc += int32_t(qr[j]) * int32_t(cn[j]);
        }
        double got = double(acc) * xs[r] * wq.scales[n];
        error += (got - ref) * (got - ref);
      }
    }
  }
  return error;
}

bool searchSmoothQuant(const std::vector<const float *> &weights,
                       const std::vector<int64_t> &rows, int64_t k,
                       const float *channelAbsMax, const float *samples,
                       int64_t numSamples, const SmoothQuantOptions &options,
                       SmoothQuantResult &result, std::string &error) {
  if (numSamples <= 0 || k <= 0 || weights.empty()) {
    error = "no calibration rows to measure smoothing on";
    return false;
  }
  for (int64_t i = 0; i < numSamples * k; ++i)
    if (!std::isfinite(samples[i])) {
      error = "a calibration row holds NaN or Inf";
      return false;
    }
  // max |W_j| over every output channel of every layer sharing the input.
  std::vector<double> wmax(k, 0.0);
  for (size_t l = 0; l < weights.size(); ++l)
    for (int64_t n = 0; n < rows[l]; ++n)
      for (int64_t j = 0; j < k; ++j) {
        float v = weights[l][n * k + j];
        if (!std::isfinite(v)) {
          error = "the weights hold NaN or Inf";
          return false;
        }
        wmax[j] = std::max(wmax[j], double(std::fabs(v)));
      }
  float plainAbsMax = 0;
  for (int64_t j = 0; j < k; ++j)
    plainAbsMax = std::max(plainAbsMax, channelAbsMax[j]);

  result = SmoothQuantResult();
  float baselineRange = options.baselineRange >= 0
                            ? float(options.baselineRange)
                            : plainAbsMax;
  result.baselineError =
      smoothedProductError(weights, rows, k, samples, numSamples, nullptr,
                           baselineRange, options.perTokenActivations);
  result.error = result.baselineError;
  result.scales.assign(k, 1.f);
  result.smoothedAbsMax = baselineRange;

  auto scalesFor = [&](double alpha) {
    std::vector<float> s(k);
    for (int64_t j = 0; j < k; ++j) {
      double a = channelAbsMax[j], w = wmax[j];
      // A channel that is never active or has no weight keeps s = 1.
      double v = a > 0 && w > 0 ? std::pow(a, alpha) / std::pow(w, 1 - alpha)
                                : 1.0;
      s[j] = float(std::clamp(v, 1e-5, 1e5));
    }
    return s;
  };
  std::vector<double> alphas;
  if (options.fixedAlpha >= 0) {
    alphas.push_back(options.fixedAlpha);
  } else {
    for (int i = 0; i <= options.alphaGrid; ++i)
      alphas.push_back(double(i) / options.alphaGrid);
  }
  bool fixed = options.fixedAlpha >= 0;
  for (double alpha : alphas) {
    std::vector<float> s = scalesFor(alpha);
    float range = 0;
    for (int64_t j = 0; j < k; ++j)
      range = std::max(range, channelAbsMax[j] / s[j]);
    double e = smoothedProductError(weights, rows, k, samples, numSamples,
                                    s.data(), range,
                                    options.perTokenActivations);
    // A fixed α is applied as asked; a searched one must beat the rest,
    // including no smoothing at all.
    if (fixed || e < result.error) {
      result.error = e;
      result.alpha = alpha;
      result.scales = std::move(s);
      result.smoothedAbsMax = range;
    }
  }
  return true;
}

} // namespace qopt::quant
