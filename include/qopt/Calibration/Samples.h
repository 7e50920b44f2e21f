//===- Samples.h - Calibration and evaluation inputs ------------*- C++ -*-===//
//
// Where calibration samples come from: a folder of .npy/.npz files (one
// sample per file), a folder of ONNX test_data_set_* folders, or a language
// model's token ids + story offsets (.npy), one story per sample. Every
// sample is checked against the model's inputs (names, dtypes, shapes).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CALIBRATION_SAMPLES_H
#define QOPT_CALIBRATION_SAMPLES_H

#include "qopt/Runtime/TensorFile.h"

#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace qopt::calib {

/// A model input as calibration sees it.
struct InputSpec {
  std::string name, dtype;
  std::vector<int64_t> shape;
};

/// One run's inputs, in model order. `validTokens` (language models) is the
/// story length: positions beyond it are padding and take no part in
/// statistics; -1 when every position counts.
struct Sample {
  std::vector<io::Tensor> inputs;
  int64_t validTokens = -1;
  std::string source; // file or story, for messages
};

class SampleSource {
public:
  virtual ~SampleSource() = default;
  virtual size_t size() const = 0;
  virtual llvm::Expected<Sample> get(size_t index) = 0;
};

/// Token ids and story offsets, read once and shared by calibration and
/// perplexity evaluation.
struct TokenStories {
  std::vector<int64_t> ids;
  std::vector<int64_t> offsets; // stories + 1 boundaries
  size_t numStories() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  static llvm::Expected<TokenStories> load(llvm::StringRef idsPath,
                                           llvm::StringRef offsetsPath);
  /// Checks that `offsets` are at least two increasing boundaries within
  /// `ids`; `idsName` and `offsetsName` name them in errors.
  static llvm::Expected<TokenStories> fromArrays(std::vector<int64_t> ids,
                                                 std::vector<int64_t> offsets,
                                                 llvm::StringRef idsName,
                                                 llvm::StringRef offsetsName);
};

/// Opens `path` for a model with `inputs`. With `offsetsPath`, `path` is a
/// token-id .npy and stories [firstStory, firstStory + maxSamples) become
/// samples (the model must take one [1, seq] integer input). Otherwise
/// `path` is a folder whose entries, in name order, from index `firstStory`
/// are the samples. At most `maxSamples` samples are used.
llvm::Expected<std::unique_ptr<SampleSource>>
openSamples(llvm::StringRef path, llvm::StringRef offsetsPath,
            const std::vector<InputSpec> &inputs, size_t firstStory,
            size_t maxSamples);

} // namespace qopt::calib

#endif // QOPT_CALIBRATION_SAMPLES_H
