//===- Sensitivity.h - Per-layer quantization sensitivity -------*- C++ -*-===//
//
// How much the model's output moves when one layer alone takes a candidate
// precision, measured with the real kernels: for each candidate, one model
// holds every layer both float and quantized, blended by a gate input
// (y = f + g_l * (q - f)), so one compile per candidate serves every layer:
// the gate picks which layer runs quantized on each run. In context, the
// other branch is a base precision instead of float (y = b + g_l (q - b)):
// each layer's move from the base is measured with every other layer at
// the base, which is what a search near the base needs (errors of
// quantized layers do not add up as their isolated losses do). Language models
// are compared by the KL divergence of their next-token distributions
// (nats per token), other models by the output's noise-to-signal ratio.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DRIVER_SENSITIVITY_H
#define QOPT_DRIVER_SENSITIVITY_H

#include "qopt/Driver/Driver.h"
#include "qopt/Quant/CostModel.h"

#include "llvm/Support/JSON.h"

#include <optional>
#include <string>
#include <vector>

namespace qopt {

/// One candidate of the search: a precision and the weight algorithm it is
/// quantized with.
struct SensitivityCandidate {
  std::string precision;
  std::string algorithm;
};

struct SensitivityTable {
  /// "kl" (language models: mean KL of the next-token distributions, nats
  /// per token) or "nsr" (output noise energy over signal energy).
  std::string metric;
  size_t samples = 0;
  std::vector<SensitivityCandidate> candidates;
  /// The layers (ONNX node names, in program order) and, per layer and
  /// candidate, the loss with only that layer at that candidate.
  std::vector<std::string> layers;
  std::vector<std::vector<double>> loss;
  /// The standard error of each loss over the samples (in context: of the
  /// change from the base, measured on the same samples), as `loss` and
  /// `floatLoss`.
  std::vector<std::vector<double>> lossError;
  std::vector<double> floatLossError;
  /// In context: the base every other layer stays at, the loss of the
  /// base configuration, and per layer the loss with that layer float.
  /// Each loss is then (loss with the layer moved - base loss) + base loss
  /// / layers, so that a configuration's sum is its predicted loss.
  std::optional<SensitivityCandidate> base;
  std::optional<double> baseLoss;
  std::vector<double> floatLoss;
  /// Per layer: weights [N, K] of its matmul, for the byte counts.
  std::vector<std::pair<int64_t, int64_t>> shapes;
  /// Seconds spent, for the report.
  double seconds = 0;
  /// Language models: the float model's mean NLL of the true next token on
  /// the same samples (a perplexity budget becomes a KL budget through it:
  /// for small changes the mean NLL grows by about the mean KL).
  std::optional<double> floatNLL;
  /// The same over every calibration sample (what a perplexity budget is
  /// converted with: a few samples estimate the perplexity badly).
  std::optional<double> calibrationNLL;

  llvm::json::Object toJSON() const;
  /// Everything above, for the cache in a calibration table, and back
  /// (none when `cache` is malformed).
  llvm::json::Object toCacheJSON() const;
  static std::optional<SensitivityTable>
  fromCacheJSON(const llvm::json::Object &cache);
};

/// What a measured SensitivityTable depends on, hashed: the measured
/// layers (names, activation types, weight values) and the options that
/// change a measurement (candidates, base, data and its range, sample
/// count, scale storage, clipping and GPTQ settings). A table cached in a
/// calibration table is reused only under the same key.
std::string
sensitivityCacheKey(mlir::ModuleOp module, const QuantizeOptions &quantize,
                    const CalibrationOptions &data,
                    llvm::ArrayRef<SensitivityCandidate> candidates);

/// Measures the sensitivity of every weight matmul of `module` that carries
/// a `qopt.assign` (graph IR after calibration, whose probes hold the
/// statistics the candidates' algorithms need) to each of `candidates`, on
/// up to `samples` samples held out from calibration. With `base`, in
/// context of every other layer at `base` (see SensitivityTable::base).
mlir::LogicalResult measureSensitivity(
    mlir::ModuleOp module, llvm::ArrayRef<SensitivityCandidate> candidates,
    const QuantizeOptions &quantize, const CalibrationOptions &data,
    size_t samples, SensitivityTable &table,
    const SensitivityCandidate *base = nullptr);

/// The ops measureSensitivity measures, in its order: tosa.matmul ops with
/// a qopt.assign other than float and a constant weight.
std::vector<mlir::Operation *> sensitivityLayers(mlir::ModuleOp module);

/// Stored bytes of an [n, k] weight matrix at `precision` (packed codes,
/// scales and zero points, as qopt-quantize stores them; float: 4 n k).
int64_t weightBytesAt(llvm::StringRef precision, int64_t n, int64_t k,
                      bool halfScales);

struct LayerAssignment;
struct TargetCapabilities;

/// The peaks the cost model uses for `target` under `mode` (auto, nominal
/// or measured; QuantizeOptions::costPeaks): the target description's
/// nominal figures (caps.peaks), or this machine's measured ones when the
/// target is this machine; none where the target has no figures. A
/// measured mode on another machine's description is an error.
mlir::FailureOr<std::optional<quant::MachinePeaks>>
targetPeaks(TargetAttr target, const TargetCapabilities &caps,
            llvm::StringRef mode);

/// The cost model's view of `precision` on an [n, k] weight stored in
/// `storedBytes` (weightBytesAt when 0): bits per weight, and whether the
/// product runs on integer activations or dequantizes the weights.
quant::PrecisionCost precisionCost(llvm::StringRef precision, int64_t n,
                                   int64_t k, bool halfScales,
                                   int64_t storedBytes = 0);

/// The precisions a budget search picks from by default: the integer-
/// activation family when `base` quantizes activations (w8a8, w4a8 at
/// groups 32 and 128), else the weight-only family (w8a16, w4a16 and w3a16
/// at several group sizes, w2a16-g32); those the target cannot run are
/// left out. Float is always a candidate (loss 0).
std::vector<std::string> defaultCandidates(const PrecisionSpec &base,
                                           const TargetCapabilities &caps);

/// The per-layer precision search (issue: --avg-bits, --max-weight-bytes,
/// --max-loss, --objective): measures every candidate's sensitivity on the
/// layers of `module` that no recipe rule fixed, solves the
/// multiple-choice knapsack, and writes the choice into each layer's
/// qopt.assign and into `assignments`. The search's inputs and result go
/// to `summary["search"]`; an unmeetable budget is an error that names the
/// closest configuration found. `table` is measured when empty and reused
/// otherwise; `lossCorrection` multiplies the summed sensitivities (the
/// measured loss of a configuration over its prediction, from an earlier
/// attempt: layers' errors do not add exactly).
mlir::LogicalResult
searchPrecisions(mlir::ModuleOp module, const QuantizeOptions &quantize,
                 const CalibrationOptions &data, TargetAttr target,
                 const TargetCapabilities &caps,
                 llvm::ArrayRef<SensitivityCandidate> candidates,
                 std::vector<LayerAssignment> &assignments,
                 llvm::json::Object &summary, SensitivityTable &table,
                 double lossCorrection = 1.0);

} // namespace qopt

#endif // QOPT_DRIVER_SENSITIVITY_H
