//===- Metrics.cpp - Quantization error metrics ---------------------------===//

#include "qopt/Quant/Quant.h"

#include <algorithm>
#include <cmath>

namespace qopt::quant {

double sqnrDb(const float *ref, const float *got, size_t n) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = double(ref[i]) - double(got[i]);
    signal += double(ref[i]) * ref[i];
    noise += d * d;
  }
  if (noise == 0)
    return 200.0;
  if (signal == 0)
    return -200.0;
  return std::min(200.0, 10.0 * std::log10(signal / noise));
}

double cosineSimilarity(const float *ref, const float *got, size_t n) {
  double dot = 0, a = 0, b = 0;
  for (size_t i = 0; i < n; ++i) {
    dot += double(ref[i]) * got[i];
    a += double(ref[i]) * ref[i];
    b += double(got[i]) * got[i];
  }
  if (a == 0 && b == 0)
    return 1.0;
  if (a == 0 || b == 0)
    return 0.0;
  return dot / std::sqrt(a * b);
}

} // namespace qopt::quant
