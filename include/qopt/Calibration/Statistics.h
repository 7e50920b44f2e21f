//===- Statistics.h - Streaming activation statistics -----------*- C++ -*-===//
//
// What calibration keeps per observed tensor: min/max, a histogram of |x|
// whose range doubles as larger values arrive (so it streams in bounded
// memory and merges exactly), and per-channel abs-max. Ranges for static
// int8 scales are chosen from these by min/max, percentile, entropy (KL, as
// TensorRT does) or MSE.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CALIBRATION_STATISTICS_H
#define QOPT_CALIBRATION_STATISTICS_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qopt::calib {

enum class RangeMethod { MinMax, Percentile, Entropy, MSE };

std::optional<RangeMethod> parseRangeMethod(llvm::StringRef name);
llvm::StringRef rangeMethodName(RangeMethod method);

/// Histogram of |x| over [0, range) in kBins equal bins. When a value at or
/// above `range` arrives, the range doubles and pairs of bins merge, so two
/// histograms always merge exactly.
class AbsHistogram {
public:
  static constexpr int kBins = 2048;
  AbsHistogram() : counts(kBins, 0.0) {}
  void add(const float *data, size_t n);
  void merge(const AbsHistogram &other);
  double binWidth() const { return range / kBins; }

  /// Smallest bin edge below which `percent` % of the values lie.
  double percentile(double percent) const;
  /// The clipping threshold whose int8 (127 levels) quantization of the
  /// distribution loses least information (minimal KL divergence).
  double entropyThreshold() const;
  /// The clipping threshold minimizing the expected squared error of
  /// symmetric int8 quantization (rounding noise + clipping error).
  double mseThreshold() const;

  double range = 0; // 0 until the first non-zero value
  double total = 0;
  /// Zeros seen before the first non-zero value fixed the range.
  double pendingZeros = 0;
  std::vector<double> counts;

private:
  void growTo(double absmax);
};

/// Streaming statistics of one observed tensor.
struct TensorStats {
  float min = 0, max = 0;
  bool empty = true;
  uint64_t count = 0;
  AbsHistogram histogram;
  std::vector<float> channelAbsMax; // over the last dim
  /// Sum of |x| per channel over every row (mean |x| = sum / rows()).
  std::vector<double> channelAbsSum;
  /// Gram matrix XᵀX of the rows seen ([channels, channels] row-major), kept
  /// only when `wantGram` is set before the first add: GPTQ's Hessian and
  /// the output-error metric of AWQ. It merges by addition.
  std::vector<double> gram;
  bool wantGram = false;
  /// Up to `sampleCapacity` rows kept by reservoir sampling (a fixed-seed
  /// hash decides, so runs repeat): where SmoothQuant measures the
  /// quantized output error of candidate scales. Row-major [n, channels].
  std::vector<float> sampleRows;
  int64_t sampleCapacity = 0;

  /// Adds `rows` rows of `channels` values.
  void add(const float *data, int64_t rows, int64_t channels);
  int64_t channels() const { return int64_t(channelAbsMax.size()); }
  uint64_t rows() const { return channels() ? count / channels() : 0; }
  /// mean |x| per channel.
  std::vector<float> channelMeanAbs() const;
  int64_t numSampleRows() const {
    return channels() ? int64_t(sampleRows.size()) / channels() : 0;
  }
  void merge(const TensorStats &other);
  double absMax() const;
  /// The |x| range a static symmetric scale should cover.
  double range(RangeMethod method, double percentile) const;
};

/// Statistics of every observed tensor, by observer id, and how they were
/// gathered. Saved as JSON (`--calib-table`) and reusable across compiles.
struct CalibrationTable {
  std::string model;
  int64_t samples = 0;
  std::map<std::string, TensorStats> tensors;
  /// The per-layer search's measured sensitivities, kept with the
  /// statistics they were measured beside (the driver's cache; opaque here).
  std::optional<llvm::json::Value> sensitivity;

  llvm::Error save(llvm::StringRef path) const;
  static llvm::Expected<CalibrationTable> load(llvm::StringRef path);
};

} // namespace qopt::calib

#endif // QOPT_CALIBRATION_STATISTICS_H
