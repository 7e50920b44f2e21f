//===- Report.h - The quantization quality report ---------------*- C++ -*-===//
//
// What quantization cost, measured: the float and the quantized model are
// compiled with every quantized op's output observed, run on held-out
// samples, and compared op by op and at the model outputs. Written with the
// artifact as report.json and report.html, and printed as a table.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DRIVER_REPORT_H
#define QOPT_DRIVER_REPORT_H

#include "qopt/Transforms/Quantization.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>
#include <vector>

namespace qopt {

struct LayerQuality {
  QuantizedLayer layer;
  std::optional<double> sqnrDb, cosine; // absent without data
  /// Under the per-layer search: the measured sensitivity of the layer at
  /// its chosen precision (the search's loss metric).
  std::optional<double> sensitivity;
  /// Stored bits per weight (codes, scales and zero points).
  double bitsPerWeight() const {
    return layer.floatBytes
               ? 32.0 * double(layer.quantizedBytes) / double(layer.floatBytes)
               : 0;
  }
};

struct OutputQuality {
  std::string name;
  double sqnrDb = 0, cosine = 0, maxAbsError = 0;
  std::optional<double> top1; // argmax agreement over the last dim
  /// Language-model logits: mean KL(float || quantized) per token (nats).
  std::optional<double> kl;
};

struct QualityReport {
  std::string model, precision;
  /// The weight algorithm (rtn, gptq, awq) and how it was chosen.
  std::string algorithm, algorithmChoice;
  std::string samplesDescription; // what the metrics were measured on
  size_t samples = 0;
  bool heldOut = false;
  std::vector<LayerQuality> layers;
  std::vector<OutputQuality> outputs;
  int64_t floatWeightBytes = 0, quantizedWeightBytes = 0;
  /// A per-layer search's predicted loss (its metric's unit), to set
  /// beside the measured one.
  std::optional<double> predictedLoss;
  std::string lossMetric;
  /// The outlier criterion qopt-detect-outliers used.
  double outlierThreshold = 6.0, outlierRatio = 8.0;

  llvm::json::Value toJSON() const;
  std::string toHTML() const;
  /// The terminal table.
  void print(llvm::raw_ostream &os) const;
  /// The outlier section of the terminal table.
  void printOutliers(llvm::raw_ostream &os) const;
};

} // namespace qopt

#endif // QOPT_DRIVER_REPORT_H
