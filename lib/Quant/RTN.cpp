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
  // The codes of the k values only: a last group shorter than the others
  // stores no padding (its parameters are those of a whole group).
  return quant::packedRowBytes(k, bits);
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
  GroupParams params;
  params.scale = scales[g];
  if (scheme.kind == WeightKind::Int && !scheme.symmetric)
    params.zero = zeroPoints[g];
  return dequantizeCode(code(row, i), params, scheme);
}

float WeightScheme::storedScale(float scale) const {
  if (!halfScales || scale == 0 || !std::isfinite(scale))
    return scale;
  float half = halfToFloat(floatToHalf(scale));
  // Out of the half range: the nearest nonzero, finite half, so that no
  // group divides by zero or multiplies by infinity.
  if (half == 0)
    return std::copysign(halfToFloat(0x0001), scale);
  if (!std::isfinite(half))
    return std::copysign(halfToFloat(0x7bff), scale);
  return half;
}

size_t QuantizedMatrix::storageBytes() const {
  return packed.size() + scales.size() * scheme.scaleBytes() +
         zeroPoints.size() + half.size() * 2;
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

GroupParams chooseGroupParams(const float *values, int64_t n,
                              const WeightScheme &scheme, float clipRatio) {
  assert(clipRatio > 0 && clipRatio <= 1 && "clip ratio out of (0, 1]");
  float lo = 0, hi = 0, amax = 0, extreme = 0;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, values[i]);
    hi = std::max(hi, values[i]);
    if (std::fabs(values[i]) > amax)
      amax = std::fabs(values[i]), extreme = values[i];
  }
  // Multiplying by a ratio of exactly 1 is exact, so unclipped parameters
  // are bit-identical to the ones RTN always chose.
  lo *= clipRatio, hi *= clipRatio, amax *= clipRatio, extreme *= clipRatio;
  GroupParams p;
  if (scheme.kind == WeightKind::NF4)
    p.scale = amax > 0 ? amax : 1.f;
  else if (scheme.kind == WeightKind::FP8E4M3)
    p.scale = amax > 0 ? amax / 448.f : 1.f;
  else if (scheme.symmetric && scheme.bits == 8)
    p.scale = amax > 0 ? amax / 127.f : 1.f;
  else if (scheme.symmetric)
    p.scale = amax > 0 ? extreme / float(scheme.qmin()) : 1.f;
  else
    p.scale = hi > lo ? (hi - lo) / float(scheme.qmax()) : 1.f;
  // The zero point follows the scale as stored.
  p.scale = scheme.storedScale(p.scale);
  if (scheme.kind == WeightKind::Int && !scheme.symmetric)
    p.zero = roundClamp(-lo / p.scale, 0, 0, scheme.qmax());
  return p;
}

int32_t quantizeCode(float v, const GroupParams &params,
                     const WeightScheme &scheme) {
  if (scheme.kind == WeightKind::NF4)
    return nearestNF4(v / params.scale);
  if (scheme.kind == WeightKind::FP8E4M3)
    return floatToFP8E4M3(v / params.scale);
  return roundClamp(v / params.scale, params.zero, scheme.qmin(),
                    scheme.qmax());
}

float dequantizeCode(int32_t code, const GroupParams &params,
                     const WeightScheme &scheme) {
  if (scheme.kind == WeightKind::NF4)
    return kNF4Levels[code] * params.scale;
  if (scheme.kind == WeightKind::FP8E4M3)
    return fp8E4M3ToFloat(uint8_t(code)) * params.scale;
  return float(code - params.zero) * params.scale;
}

QuantizedMatrix makeQuantizedMatrix(int64_t rows, int64_t k,
                                    const WeightScheme &scheme) {
  assert(scheme.kind != WeightKind::F16 && "f16 has no packed layout");
  QuantizedMatrix q;
  q.rows = rows;
  q.k = k;
  q.scheme = scheme;
  q.packed.assign(rows * scheme.packedRowBytes(k), 0);
  q.scales.assign(rows * scheme.numGroups(k), 0.f);
  if (!scheme.symmetric)
    q.zeroPoints.assign(rows * scheme.numGroups(k), 0);
  return q;
}

void storeQuantizedRow(QuantizedMatrix &q, int64_t row, const int32_t *codes,
                       const GroupParams *params) {
  const WeightScheme &scheme = q.scheme;
  int64_t k = q.k, groups = scheme.numGroups(k);
  int64_t rowBytes = scheme.packedRowBytes(k);
  for (int64_t gi = 0; gi < groups; ++gi) {
    assert(scheme.storedScale(params[gi].scale) == params[gi].scale &&
           "a scale not representable in its storage type");
    q.scales[row * groups + gi] = params[gi].scale;
    if (!scheme.symmetric)
      q.zeroPoints[row * groups + gi] = uint8_t(params[gi].zero);
  }
  uint8_t *out = &q.packed[row * rowBytes];
  std::fill(out, out + rowBytes, uint8_t(0));
  packCodes(codes, k, scheme.bits, out);
}

QuantizedMatrix quantizeRTN(const float *w, int64_t rows, int64_t k,
                            const WeightScheme &scheme,
                            const float *clipRatios) {
  if (scheme.kind == WeightKind::F16) {
    QuantizedMatrix q;
    q.rows = rows;
    q.k = k;
    q.scheme = scheme;
    q.half.resize(rows * k);
    for (int64_t i = 0; i < rows * k; ++i)
      q.half[i] = floatToHalf(w[i]);
    return q;
  }
  QuantizedMatrix q = makeQuantizedMatrix(rows, k, scheme);
  int64_t g = scheme.groupLength(k), groups = scheme.numGroups(k);
  std::vector<int32_t> codes(k);
  std::vector<GroupParams> params(groups);
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = w + r * k;
    for (int64_t gi = 0; gi < groups; ++gi) {
      int64_t begin = gi * g, end = std::min(k, begin + g);
      float clip = clipRatios ? clipRatios[r * groups + gi] : 1.f;
      params[gi] = chooseGroupParams(row + begin, end - begin, scheme, clip);
      for (int64_t i = begin; i < end; ++i)
        codes[i] = quantizeCode(row[i], params[gi], scheme);
    }
    storeQuantizedRow(q, r, codes.data(), params.data());
  }
  return q;
}

} // namespace qopt::quant
