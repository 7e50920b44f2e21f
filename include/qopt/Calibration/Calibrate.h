//===- Calibrate.h - Running compiled models on data ------------*- C++ -*-===//
//
// The runtime side of calibration and evaluation: run an instrumented
// artifact on calibration samples and stream its observed tensors into a
// calibration table; measure a language model's perplexity.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CALIBRATION_CALIBRATE_H
#define QOPT_CALIBRATION_CALIBRATE_H

#include "qopt/Calibration/Samples.h"
#include "qopt/Calibration/Statistics.h"

#include "llvm/Support/Error.h"

typedef struct qrt_model qrt_model;

namespace qopt::calib {

/// Model outputs named with this prefix carry observed tensors.
inline constexpr const char *kObserverOutputPrefix = "qopt.observe:";

/// The inputs of a loaded artifact.
std::vector<InputSpec> modelInputs(qrt_model *model);

/// Runs `model` (compiled with its observers exposed as outputs) on every
/// sample and adds each observed tensor to `table`. For language-model
/// samples only the rows of real tokens count. Memory stays bounded: one
/// sample's tensors at a time.
llvm::Error calibrate(qrt_model *model, SampleSource &samples,
                      CalibrationTable &table, bool showProgress);

struct PerplexityResult {
  double meanNLL = 0;
  double perplexity = 0;
  size_t predictedTokens = 0;
  size_t truncatedStories = 0;
  int64_t seq = 0;
};

/// Mean negative log-likelihood of token t+1 given tokens 0..t over stories
/// [first, end), for a model taking ids [1, seq] and returning logits
/// [1, seq, vocab] as its first output. Stories are padded after their end
/// (a causal model's earlier logits cannot see the padding) and truncated to
/// seq tokens.
llvm::Expected<PerplexityResult>
evaluatePerplexity(qrt_model *model, const TokenStories &stories, size_t first,
                   size_t end, bool showProgress);

} // namespace qopt::calib

#endif // QOPT_CALIBRATION_CALIBRATE_H
