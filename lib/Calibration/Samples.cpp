//===- Samples.cpp - Calibration and evaluation inputs --------------------===//

#include "qopt/Calibration/Samples.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cstring>

using namespace llvm;

namespace qopt::calib {
namespace {

std::string shapeText(const std::vector<int64_t> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

Error checkAgainst(const io::Tensor &t, const InputSpec &in,
                   StringRef source) {
  if (t.dtype != in.dtype)
    return createStringError("calibration sample '" + source + "': input '" +
                             in.name + "' has dtype " + t.dtype +
                             ", the model expects " + in.dtype);
  if (t.shape != in.shape)
    return createStringError("calibration sample '" + source + "': input '" +
                             in.name + "' has shape " + shapeText(t.shape) +
                             ", the model expects " + shapeText(in.shape));
  return Error::success();
}

/// One sample per .npy/.npz file or per test_data_set_* folder.
class FolderSource : public SampleSource {
public:
  FolderSource(std::vector<std::string> entries, std::vector<InputSpec> inputs)
      : entries(std::move(entries)), inputs(std::move(inputs)) {}
  size_t size() const override { return entries.size(); }

  Expected<Sample> get(size_t index) override {
    const std::string &path = entries[index];
    Sample sample;
    sample.source = path;
    std::vector<io::Tensor> tensors;
    if (sys::fs::is_directory(path)) {
      auto t = io::readNumberedTensors(path, "input_");
      if (!t)
        return t.takeError();
      tensors = std::move(*t);
      if (tensors.size() != inputs.size())
        return createStringError("calibration sample '" + path + "' holds " +
                                 Twine(tensors.size()) +
                                 " inputs, the model has " +
                                 Twine(inputs.size()));
      sample.inputs = std::move(tensors);
    } else {
      auto t = io::readTensorFile(path);
      if (!t)
        return t.takeError();
      tensors = std::move(*t);
      if (StringRef(path).ends_with(".npy")) {
        if (inputs.size() != 1)
          return createStringError(
              "calibration sample '" + path +
              "' is one .npy tensor but the model has " +
              Twine(inputs.size()) +
              " inputs: use .npz files with one member per input name");
        sample.inputs = std::move(tensors);
      } else {
        // .npz: members named after the inputs.
        for (const InputSpec &in : inputs) {
          auto it = llvm::find_if(tensors, [&](const io::Tensor &x) {
            return StringRef(x.name).ends_with(".npy")
                       ? StringRef(x.name).drop_back(4) == in.name
                       : x.name == in.name;
          });
          if (it == tensors.end())
            return createStringError("calibration sample '" + path +
                                     "' has no member for input '" + in.name +
                                     "'");
          sample.inputs.push_back(std::move(*it));
        }
      }
    }
    for (size_t i = 0; i < inputs.size(); ++i)
      if (Error e = checkAgainst(sample.inputs[i], inputs[i], path))
        return std::move(e);
    return sample;
  }

private:
  std::vector<std::string> entries;
  std::vector<InputSpec> inputs;
};

/// One story per sample, padded with token 0 after its end.
class StorySource : public SampleSource {
public:
  StorySource(TokenStories stories, InputSpec input, size_t first,
              size_t count)
      : stories(std::move(stories)), input(std::move(input)), first(first),
        count(count) {}
  size_t size() const override { return count; }

  Expected<Sample> get(size_t index) override {
    size_t s = first + index;
    int64_t seq = input.shape[1];
    int64_t b = stories.offsets[s], e = stories.offsets[s + 1];
    int64_t len = std::min<int64_t>(e - b, seq);
    Sample sample;
    sample.source = "story " + std::to_string(s);
    sample.validTokens = len;
    io::Tensor t;
    t.name = input.name;
    t.dtype = input.dtype;
    t.shape = input.shape;
    t.data.assign(seq * t.elementSize(), 0);
    for (int64_t i = 0; i < len; ++i) {
      int64_t tok = stories.ids[b + i];
      if (input.dtype == "int64")
        std::memcpy(t.data.data() + i * 8, &tok, 8);
      else {
        int32_t v = int32_t(tok);
        std::memcpy(t.data.data() + i * 4, &v, 4);
      }
    }
    sample.inputs.push_back(std::move(t));
    return sample;
  }

private:
  TokenStories stories;
  InputSpec input;
  size_t first, count;
};

Expected<std::vector<int64_t>> readIntegers(StringRef path, StringRef what) {
  auto t = io::readTensorFile(path);
  if (!t)
    return t.takeError();
  if (t->size() != 1 || (*t)[0].shape.size() != 1 ||
      ((*t)[0].dtype != "int32" && (*t)[0].dtype != "int64"))
    return createStringError(what + " '" + path +
                             "' must be one 1-D int32 or int64 array");
  std::vector<int64_t> out;
  const io::Tensor &x = (*t)[0];
  for (size_t i = 0; i < x.numElements(); ++i) {
    if (x.dtype == "int64") {
      int64_t v;
      std::memcpy(&v, x.data.data() + i * 8, 8);
      out.push_back(v);
    } else {
      int32_t v;
      std::memcpy(&v, x.data.data() + i * 4, 4);
      out.push_back(v);
    }
  }
  return out;
}

} // namespace

Expected<TokenStories> TokenStories::load(StringRef idsPath,
                                          StringRef offsetsPath) {
  auto ids = readIntegers(idsPath, "token ids");
  if (!ids)
    return ids.takeError();
  auto offsets = readIntegers(offsetsPath, "story offsets");
  if (!offsets)
    return offsets.takeError();
  return fromArrays(std::move(*ids), std::move(*offsets),
                    "'" + idsPath.str() + "'", "'" + offsetsPath.str() + "'");
}

Expected<TokenStories> TokenStories::fromArrays(std::vector<int64_t> ids,
                                                std::vector<int64_t> offsets,
                                                StringRef idsName,
                                                StringRef offsetsName) {
  TokenStories s;
  s.ids = std::move(ids);
  s.offsets = std::move(offsets);
  if (s.offsets.size() < 2)
    return createStringError("story offsets " + offsetsName +
                             " must hold at least two boundaries");
  for (size_t i = 0; i + 1 < s.offsets.size(); ++i)
    if (s.offsets[i] < 0 || s.offsets[i] >= s.offsets[i + 1])
      return createStringError("story offsets " + offsetsName +
                               " are not increasing at index " + Twine(i));
  if (s.offsets.back() > int64_t(s.ids.size()))
    return createStringError("story offsets " + offsetsName + " end at " +
                             Twine(s.offsets.back()) + " but " + idsName +
                             " holds " + Twine(s.ids.size()) + " tokens");
  return s;
}

Expected<std::unique_ptr<SampleSource>>
openSamples(StringRef path, StringRef offsetsPath,
            const std::vector<InputSpec> &inputs, size_t firstStory,
            size_t maxSamples) {
  if (!offsetsPath.empty()) {
    if (inputs.size() != 1 || inputs[0].shape.size() != 2 ||
        inputs[0].shape[0] != 1 ||
        (inputs[0].dtype != "int64" && inputs[0].dtype != "int32"))
      return createStringError(
          "token-id calibration needs a model with one [1, seq] integer "
          "input (compile with --input-shape NAME=1xSEQ)");
    auto stories = TokenStories::load(path, offsetsPath);
    if (!stories)
      return stories.takeError();
    if (firstStory >= stories->numStories())
      return createStringError("calibration starts at story " +
                               Twine(firstStory) + " but '" + offsetsPath +
                               "' has " + Twine(stories->numStories()));
    size_t count =
        std::min(maxSamples, stories->numStories() - firstStory);
    return std::make_unique<StorySource>(std::move(*stories), inputs[0],
                                         firstStory, count);
  }
  if (!sys::fs::is_directory(path))
    return createStringError(
        "calibration data '" + path +
        "' is not a folder (for token ids, also give --calib-offsets)");
  std::vector<std::string> entries;
  std::error_code ec;
  for (sys::fs::directory_iterator it(path, ec), end; it != end && !ec;
       it.increment(ec)) {
    StringRef p = it->path();
    StringRef name = sys::path::filename(p);
    if (name.ends_with(".npy") || name.ends_with(".npz") ||
        (name.starts_with("test_data_set") && sys::fs::is_directory(p)))
      entries.push_back(p.str());
  }
  if (ec)
    return createStringError("cannot list calibration folder '" + path +
                             "': " + ec.message());
  if (entries.empty())
    return createStringError("calibration folder '" + path +
                             "' holds no .npy, .npz or test_data_set_* "
                             "samples");
  llvm::sort(entries);
  if (firstStory >= entries.size())
    return createStringError("calibration folder '" + path + "' holds " +
                             Twine(entries.size()) + " samples; none from "
                             "index " + Twine(firstStory));
  entries.erase(entries.begin(),
                entries.begin() + std::min(firstStory, entries.size()));
  if (entries.size() > maxSamples)
    entries.resize(maxSamples);
  return std::make_unique<FolderSource>(std::move(entries), inputs);
}

} // namespace qopt::calib
