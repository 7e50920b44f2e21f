//===- Quant.h - Quantization numerics without MLIR -------------*- C++ -*-===//
//
// Weight quantization (RTN, NF4, f16), bit packing, and error metrics over
// plain buffers, so they are unit-testable and shared by passes, the
// calibration runtime and the quality report.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_QUANT_QUANT_H
#define QOPT_QUANT_QUANT_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qopt::quant {

enum class WeightKind { Int, NF4, F16, FP8E4M3 };

/// How a [rows, k] weight matrix is quantized. Groups run along k; a group
/// size of 0 means one group per row (per-channel).
struct WeightScheme {
  WeightKind kind = WeightKind::Int;
  unsigned bits = 8;
  int64_t groupSize = 0;
  /// Symmetric: signed codes, no zero point. Asymmetric: unsigned codes and
  /// one zero point per scale.
  bool symmetric = true;
  /// Scales stored as float16 (weight-only products on targets that read
  /// half scales): every scale chosen is rounded to a half, so the codes are
  /// picked against the value the kernels will multiply by.
  bool halfScales = false;

  int64_t groupLength(int64_t k) const { return groupSize ? groupSize : k; }
  /// `k` rounded up to whole groups (the parameters cover this many values;
  /// the packed codes only k).
  int64_t paddedLength(int64_t k) const;
  int64_t numGroups(int64_t k) const {
    return paddedLength(k) / groupLength(k);
  }
  /// Bytes of one packed row of k codes (int and nf4 kinds): a last group
  /// shorter than `groupSize` is stored without padding.
  int64_t packedRowBytes(int64_t k) const;
  bool signedCodes() const { return kind == WeightKind::Int && symmetric; }
  /// `scale` as it is stored: rounded to the nearest half with halfScales.
  float storedScale(float scale) const;
  /// Bytes of one stored scale.
  int64_t scaleBytes() const { return halfScales ? 2 : 4; }
  int32_t qmin() const;
  int32_t qmax() const;
};

/// Bytes of a packed row of `codes` codes of `bits` bits. Widths that do
/// not divide 8 get one spare byte so that two-byte reads stay in bounds.
int64_t packedRowBytes(int64_t codes, unsigned bits);

/// A quantized [rows, k] matrix in qopt's packed layout.
struct QuantizedMatrix {
  int64_t rows = 0, k = 0;
  WeightScheme scheme;
  std::vector<uint8_t> packed;     // rows x packedRowBytes (int, nf4)
  std::vector<float> scales;       // rows x numGroups
  std::vector<uint8_t> zeroPoints; // rows x numGroups (asymmetric)
  std::vector<uint16_t> half;      // rows x k (f16)

  /// The code of element (row, i), sign-extended for signed schemes.
  int32_t code(int64_t row, int64_t i) const;
  /// The dequantized value of element (row, i), computed exactly as the
  /// compiled code does: float(code - zero_point) * scale.
  float value(int64_t row, int64_t i) const;
  size_t storageBytes() const;
};

/// The parameters of one quantization group: values dequantize to
/// float(code - zero) * scale (int), kNF4Levels[code] * scale (nf4) or
/// e4m3(code) * scale (fp8).
struct GroupParams {
  float scale = 1.f;
  /// The zero point (asymmetric int); 0 otherwise.
  int32_t zero = 0;
};

/// The parameters RTN picks for a group of `n` values (see quantizeRTN).
/// `clipRatio` in (0, 1] shrinks the covered range before the scale is
/// derived, trading clipped outliers for finer steps; 1 is plain RTN.
GroupParams chooseGroupParams(const float *values, int64_t n,
                              const WeightScheme &scheme,
                              float clipRatio = 1.f);
/// The nearest code of `v` under `params`, clamped to the scheme's range
/// (the same rounding RTN uses; not for f16).
int32_t quantizeCode(float v, const GroupParams &params,
                     const WeightScheme &scheme);
/// The value `code` stands for, computed exactly as the compiled code does.
float dequantizeCode(int32_t code, const GroupParams &params,
                     const WeightScheme &scheme);

/// A zero-filled [rows, k] matrix with every buffer sized for `scheme`
/// (not f16), to be filled with storeQuantizedRow.
QuantizedMatrix makeQuantizedMatrix(int64_t rows, int64_t k,
                                    const WeightScheme &scheme);
/// Stores row `row` of `q` from its `k` codes and its numGroups(k)
/// parameters.
void storeQuantizedRow(QuantizedMatrix &q, int64_t row, const int32_t *codes,
                       const GroupParams *params);

/// Round-to-nearest quantization of a row-major [rows, k] float matrix.
///  - int, symmetric, 8 bits: scale = max|w| / 127, codes in [-127, 127].
///  - int, symmetric, fewer bits: the largest-magnitude value w* of each
///    group maps exactly to the most negative code: scale = w* / qmin
///    (may be negative), which uses all 2^bits levels.
///  - int, asymmetric: range [min(w, 0), max(w, 0)] over 2^bits - 1 steps,
///    zero point round(-min / scale).
///  - nf4: scale = max|w| of the group, code = nearest NF4 level.
///  - fp8 (e4m3): scale = max|w| / 448 per group, code = the e4m3 byte.
///  - f16: round to nearest half.
/// `clipRatios`, when given, holds one ratio per (row, group), row-major
/// [rows, numGroups(k)], passed to chooseGroupParams (ignored for f16).
QuantizedMatrix quantizeRTN(const float *w, int64_t rows, int64_t k,
                            const WeightScheme &scheme,
                            const float *clipRatios = nullptr);

/// Writes `codes[i] & mask` at bit `i * bits` of `row` (little-endian bit
/// stream). `row` must be zero-initialized.
void packCodes(const int32_t *codes, int64_t count, unsigned bits,
               uint8_t *row);
/// Reads code `i` of a packed row; sign-extends when `isSigned`.
int32_t unpackCode(const uint8_t *row, int64_t i, unsigned bits,
                   bool isSigned);

/// QLoRA's NormalFloat-4 levels, ascending; index 7 is exactly 0.
extern const float kNF4Levels[16];

uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);

/// FP8 E4M3 (the "FN" variant: no infinities, max 448): round to nearest
/// even, saturating at +-448; and back.
uint8_t floatToFP8E4M3(float f);
float fp8E4M3ToFloat(uint8_t b);

/// Signal-to-quantization-noise ratio of `got` against `ref`, in dB
/// (capped at 200 dB for identical tensors).
double sqnrDb(const float *ref, const float *got, size_t n);
/// Cosine similarity (1 for two all-zero tensors).
double cosineSimilarity(const float *ref, const float *got, size_t n);

/// Streams (reference, quantized) pairs and reports SQNR, cosine and the
/// largest absolute error over everything seen.
class ErrorAccumulator {
public:
  void add(const float *ref, const float *got, size_t n);
  double sqnrDb() const;
  double cosine() const;
  double maxAbsError() const { return maxAbs; }
  size_t count() const { return n; }

private:
  double signal = 0, noise = 0, dot = 0, gotSq = 0, maxAbs = 0;
  size_t n = 0;
};

} // namespace qopt::quant

#endif // QOPT_QUANT_QUANT_H
