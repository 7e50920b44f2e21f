//===- RTN.cpp - Round-to-nearest weight quantization ---------------------===//

#include "qopt/Quant/Quant.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace qopt::quant {

const float kNF4Levels[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f};

int64_t WeightScheme::paddedLength(int64_t k) const {
  if (!groupSize)
    return k;
  return (k + groupSize - 1) / groupSize * groupSize;
}

int64_t WeightScheme::packedRowBytes(int64_t k) const {
  return quant::packedRowBytes(paddedLength(k), bits);
}

int32_t WeightScheme::qmin() const {
  return signedCodes() ? -(1 << (bits - 1)) : 0;
}

int32_t WeightScheme::qmax() const {
  return signedCodes() ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
}

int32_t QuantizedMatrix::code(int64_t row, int64_t i) const {
  return unpackCode(&packed[row * scheme.packedRowBytes(k)], i, scheme.bits,
                    scheme.signedCodes());
}

float QuantizedMatrix::value(int64_t row, int64_t i) const {
  if (scheme.kind == WeightKind::F16)
    return halfToFloat(half[row * k + i]);
  int64_t g = row * scheme.numGroups(k) + i / scheme.groupLength(k);
  int32_t c = code(row, i);
  if (scheme.kind == WeightKind::NF4)
    return kNF4Levels[c] * scales[g];
  if (scheme.kind == WeightKind::FP8E4M3)
    return fp8E4M3ToFloat(uint8_t(c)) * scales[g];
  int32_t z = scheme.symmetric ? 0 : int32_t(zeroPoints[g]);
  return float(c - z) * scales[g];
}

size_t QuantizedMatrix::storageBytes() const {
  return packed.size() + scales.size() * 4 + zeroPoints.size() +
         half.size() * 2;
}

namespace {

/// clamp(roundeven(v) + zero, lo, hi): the order ONNX QuantizeLinear uses.
int32_t roundClamp(float v, int32_t zero, int32_t lo, int32_t hi) {
  float r = std::nearbyint(v) + float(zero);
  return int32_t(std::min(float(hi), std::max(float(lo), r)));
}

int32_t nearestNF4(float v) {
  int32_t best = 0;
  float bestErr = std::fabs(v - kNF4Levels[0]);
  for (int32_t i = 1; i < 16; ++i) {
    float err = std::fabs(v - kNF4Levels[i]);
    if (err < bestErr)
      best = i, bestErr = err;
  }
  return best;
}

} // namespace

QuantizedMatrix quantizeRTN(const float *w, int64_t rows, int64_t k,
                            const WeightScheme &scheme) {
  QuantizedMatrix q;
  q.rows = rows;
  q.k = k;
  q.scheme = scheme;
  if (scheme.kind == WeightKind::F16) {
    q.half.resize(rows * k);
    for (int64_t i = 0; i < rows * k; ++i)
      q.half[i] = floatToHalf(w[i]);
    return q;
  }
  int64_t g = scheme.groupLength(k), groups = scheme.numGroups(k);
  int64_t kp = scheme.paddedLength(k), rowBytes = scheme.packedRowBytes(k);
  q.packed.assign(rows * rowBytes, 0);
  q.scales.assign(rows * groups, 0.f);
  if (!scheme.symmetric)
    q.zeroPoints.assign(rows * groups, 0);
  std::vector<int32_t> codes(kp);
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = w + r * k;
    for (int64_t gi = 0; gi < groups; ++gi) {
      int64_t begin = gi * g, end = std::min(k, begin + g);
      float lo = 0, hi = 0, amax = 0, extreme = 0;
      for (int64_t i = begin; i < end; ++i) {
        lo = std::min(lo, row[i]);
        hi = std::max(hi, row[i]);
        if (std::fabs(row[i]) > amax)
          amax = std::fabs(row[i]), extreme = row[i];
      }
      float scale = 1.f;
      int32_t zero = 0;
      if (scheme.kind == WeightKind::NF4) {
        scale = amax > 0 ? amax : 1.f;
      } else if (scheme.kind == WeightKind::FP8E4M3) {
        scale = amax > 0 ? amax / 448.f : 1.f;
      } else if (scheme.symmetric) {
        if (scheme.bits == 8)
          scale = amax > 0 ? amax / 127.f : 1.f;
        else
          scale = amax > 0 ? extreme / float(scheme.qmin()) : 1.f;
      } else {
        scale = hi > lo ? (hi - lo) / float(scheme.qmax()) : 1.f;
        zero = roundClamp(-lo / scale, 0, 0, scheme.qmax());
      }
      q.scales[r * groups + gi] = scale;
      if (!scheme.symmetric)
        q.zeroPoints[r * groups + gi] = uint8_t(zero);
      for (int64_t i = begin; i < begin + g; ++i) {
        if (i >= k) { // padding dequantizes to exactly 0
          codes[i] = scheme.kind == WeightKind::NF4 ? 7 : zero;
          continue;
        }
        if (scheme.kind == WeightKind::NF4)
          codes[i] = nearestNF4(row[i] / scale);
        else if (scheme.kind == WeightKind::FP8E4M3)
          codes[i] = floatToFP8E4M3(row[i] / scale);
        else
          codes[i] =
              roundClamp(row[i] / scale, zero, scheme.qmin(), scheme.qmax());
      }
    }
    packCodes(codes.data(), kp, scheme.bits, &q.packed[r * rowBytes]);
  }
  return q;
}

} // namespace qopt::quant
