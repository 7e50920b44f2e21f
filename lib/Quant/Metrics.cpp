//===- Metrics.cpp - Quantization error metrics ---------------------------===//

#include "qopt/Quant/Quant.h"

#include <algorithm>
#include <cmath>

namespace qopt::quant {

double sqnrDb(const float *ref, const float *got, size_t n) {
  ErrorAccumulator acc;
  acc.add(ref, got, n);
  return acc.sqnrDb();
}

double cosineSimilarity(const float *ref, const float *got, size_t n) {
  ErrorAccumulator acc;
  acc.add(ref, got, n);
  return acc.cosine();
}

void ErrorAccumulator::add(const float *ref, const float *got, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    double r = ref[i], g = got[i], d = r - g;
    signal += r * r;
    noise += d * d;
    dot += r * g;
    gotSq += g * g;
    maxAbs = std::max(maxAbs, std::fabs(d));
  }
  n += count;
}

double ErrorAccumulator::sqnrDb() const {
  if (noise == 0)
    return 200.0;
  if (signal == 0)
    return -200.0;
  return std::min(200.0, 10.0 * std::log10(signal / noise));
}

double ErrorAccumulator::cosine() const {
  if (signal == 0 && gotSq == 0)
    return 1.0;
  if (signal == 0 || gotSq == 0)
    return 0.0;
  return dot / std::sqrt(signal * gotSq);
}

} // namespace qopt::quant
