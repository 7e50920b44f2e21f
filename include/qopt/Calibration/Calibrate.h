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
#include "llvm/Support/raw_ostream.h"

#include "qopt/Runtime/qrt.h"

namespace qopt::calib {

/// Model outputs named with this prefix carry observed tensors.
inline constexpr const char *kObserverOutputPrefix = "qopt.observe:";

/// The inputs of a loaded artifact.
std::vector<InputSpec> modelInputs(qrt_model *model);

/// One buffer per output of a loaded artifact, ready for qrt_run.
struct OutputBuffers {
  std::vector<std::vector<char>> buffers;
  std::vector<void *> pointers;
  std::vector<qrt_tensor_info> infos;
  explicit OutputBuffers(qrt_model *model);
  const float *asFloats(size_t i) const {
    return reinterpret_cast<const float *>(buffers[i].data());
  }
};

/// The rows of an observed tensor that hold real tokens. A token-id sample
/// (`validTokens` >= 0) fills the first `validTokens` of the model's `seq`
/// positions; in a tensor whose second-to-last dim is that position
/// ([1, seq, C] activations, attention's per-head [heads, seq, C]) only
/// those rows of each [seq, C] slice count. Elsewhere every row counts.
struct TokenRows {
  int64_t slices = 1;    // [rowsPerSlice, channels] slices
  int64_t rowsPerSlice = 0;
  int64_t validRows = 0; // leading rows of each slice that count
  int64_t channels = 1;
};
TokenRows tokenRows(const qrt_tensor_info &info, int64_t seq,
                    int64_t validTokens);

/// Runs `model` (compiled with its observers exposed as outputs) on every
/// sample and adds each observed tensor to `table`. For language-model
/// samples only the rows of real tokens count. Memory stays bounded: one
/// sample's tensors at a time. Entries of `table` created beforehand with
/// `wantGram` set also accumulate their Gram matrix. A NaN or Inf in an
/// observed tensor is an error naming the probe.
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

/// How a decode-step artifact feeds its caches back, as the KV cache pass
/// recorded it in the manifest ("kv_cache").
struct KVCacheLayout {
  int64_t capacity = 0;
  /// Element type of the caches: "float32" or "int8".
  std::string dtype;
  /// The input holding the decode position.
  std::string position;
  /// (past input, present output) pairs: each run's present is the next
  /// run's past. Caches and, for int8, their scales.
  std::vector<std::pair<std::string, std::string>> feedback;
};

/// Reads the "kv_cache" entry of `artifactDir`/manifest.json; an error when
/// the artifact was compiled without --kv-cache.
llvm::Expected<KVCacheLayout> readKVCacheLayout(llvm::StringRef artifactDir);

/// The same measure as evaluatePerplexity, in decode mode: a KV-cache
/// artifact (one token id [1, 1], the position, the caches -> logits
/// [1, 1, vocab] first, the present caches) runs token by token from
/// position 0 with zeroed caches, each step's presents fed back as the next
/// step's pasts, and the logits at step t score token t+1. Stories are
/// truncated to the cache capacity.
llvm::Expected<PerplexityResult>
evaluateDecodePerplexity(qrt_model *model, const KVCacheLayout &layout,
                         const TokenStories &stories, size_t first, size_t end,
                         bool showProgress);

/// Parses a half-open story range "FIRST:END" (empty: all stories).
llvm::Expected<std::pair<size_t, size_t>>
parseStoryRange(llvm::StringRef spec, size_t numStories);

/// "perplexity P  mean NLL N nats  predicted tokens T  stories A-B ...".
void printPerplexity(llvm::raw_ostream &os, const PerplexityResult &result,
                     size_t first, size_t end);

} // namespace qopt::calib

#endif // QOPT_CALIBRATION_CALIBRATE_H
