//===- Calibrate.cpp - Running compiled models on data --------------------===//

#include "qopt/Calibration/Calibrate.h"
#include "qopt/Calibration/Progress.h"
#include "qopt/Runtime/qrt.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <cstring>

using namespace llvm;

namespace qopt::calib {

TokenRows tokenRows(const qrt_tensor_info &info, int64_t seq,
                    int64_t validTokens) {
  TokenRows t;
  t.channels = info.rank ? info.shape[info.rank - 1] : 1;
  t.rowsPerSlice = t.channels ? int64_t(info.num_elements) / t.channels : 0;
  t.validRows = t.rowsPerSlice;
  if (validTokens >= 0 && info.rank >= 2 && info.shape[info.rank - 2] == seq &&
      seq > 0) {
    t.slices = t.rowsPerSlice / seq;
    t.rowsPerSlice = seq;
    t.validRows = std::min(validTokens, seq);
  }
  return t;
}

std::vector<InputSpec> modelInputs(qrt_model *model) {
  std::vector<InputSpec> inputs;
  for (size_t i = 0; i < qrt_num_inputs(model); ++i) {
    qrt_tensor_info info;
    qrt_input_info(model, i, &info);
    inputs.push_back({info.name, info.dtype,
                      std::vector<int64_t>(info.shape, info.shape + info.rank)});
  }
  return inputs;
}

OutputBuffers::OutputBuffers(qrt_model *model) {
  for (size_t o = 0; o < qrt_num_outputs(model); ++o) {
    qrt_tensor_info info;
    qrt_output_info(model, o, &info);
    infos.push_back(info);
    buffers.emplace_back(info.num_elements * info.element_size);
  }
  for (auto &b : buffers)
    pointers.push_back(b.data());
}

Expected<std::pair<size_t, size_t>> parseStoryRange(StringRef spec,
                                                    size_t numStories) {
  size_t first = 0, end = numStories;
  if (!spec.empty()) {
    auto [a, b] = spec.split(':');
    if (a.getAsInteger(10, first) || b.getAsInteger(10, end) || first >= end ||
        end > numStories)
      return createStringError("bad story range '" + spec +
                               "' (FIRST:END within the " + Twine(numStories) +
                               " stories)");
  }
  return std::make_pair(first, end);
}

void printPerplexity(raw_ostream &os, const PerplexityResult &r, size_t first,
                     size_t end) {
  os << format("perplexity %.4f  mean NLL %.5f nats  predicted tokens %zu"
               "  stories %zu-%zu  (%zu truncated to %lld tokens)\n",
               r.perplexity, r.meanNLL, r.predictedTokens, first, end - 1,
               r.truncatedStories, (long long)r.seq);
}

Error calibrate(qrt_model *model, SampleSource &samples,
                CalibrationTable &table, bool showProgress) {
  OutputBuffers outs(model);
  std::vector<size_t> observed;
  for (size_t o = 0; o < outs.infos.size(); ++o)
    if (StringRef(outs.infos[o].name).starts_with(kObserverOutputPrefix) &&
        StringRef(outs.infos[o].dtype) == "float32")
      observed.push_back(o);
  std::vector<InputSpec> inputs = modelInputs(model);
  int64_t seq = inputs.size() == 1 && inputs[0].shape.size() == 2
                    ? inputs[0].shape[1]
                    : -1;
  std::optional<ProgressBar> bar;
  if (showProgress)
    bar.emplace("calibrating", samples.size(), "samples");
  for (size_t i = 0; i < samples.size(); ++i) {
    Expected<Sample> sample = samples.get(i);
    if (!sample)
      return sample.takeError();
    std::vector<const void *> in;
    for (const io::Tensor &t : sample->inputs)
      in.push_back(t.data.data());
    if (qrt_run(model, in.data(), outs.pointers.data()) != 0)
      return createStringError("the instrumented model failed on " +
                               sample->source + ": " + qrt_last_error(model));
    for (size_t o : observed) {
      const qrt_tensor_info &info = outs.infos[o];
      // Token-major activations: only real tokens count.
      TokenRows t = tokenRows(info, seq, sample->validTokens);
      int64_t channels = t.channels;
      StringRef id = StringRef(info.name).drop_front(
          strlen(kObserverOutputPrefix));
      for (int64_t s = 0; s < t.slices; ++s) {
        const float *data = outs.asFloats(o) + s * t.rowsPerSlice * channels;
        for (int64_t e = 0, n = t.validRows * channels; e < n; ++e)
          if (!std::isfinite(data[e]))
            return createStringError("calibration sample '" + sample->source +
                                     "': the tensor observed at '" + id +
                                     "' holds NaN or Inf (row " +
                                     Twine(s * t.rowsPerSlice + e / channels) +
                                     ", channel " + Twine(e % channels) +
                                     "); its statistics would be meaningless");
        table.tensors[id.str()].add(data, t.validRows, channels);
      }
    }
    ++table.samples;
    if (bar)
      bar->update(i + 1);
  }
  if (bar)
    bar->finish();
  return Error::success();
}

/// -log softmax(row)[target], in double precision.
static double tokenNLL(const float *row, int64_t vocab, int64_t target) {
  double m = -INFINITY;
  for (int64_t v = 0; v < vocab; ++v)
    m = std::max(m, double(row[v]));
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v)
    sum += std::exp(double(row[v]) - m);
  return -(double(row[target]) - m - std::log(sum));
}

Expected<PerplexityResult> evaluatePerplexity(qrt_model *model,
                                              const TokenStories &stories,
                                              size_t first, size_t end,
                                              bool showProgress) {
  std::vector<InputSpec> inputs = modelInputs(model);
  if (inputs.size() != 1 || inputs[0].shape.size() != 2 ||
      inputs[0].shape[0] != 1 ||
      (inputs[0].dtype != "int64" && inputs[0].dtype != "int32"))
    return createStringError("perplexity needs a model with one [1, seq] "
                             "integer input (token ids)");
  OutputBuffers outs(model);
  if (outs.infos.empty())
    return createStringError("perplexity needs float32 logits [1, seq, vocab] "
                             "as the first output; the model has no outputs");
  const qrt_tensor_info &logitsInfo = outs.infos[0];
  if (logitsInfo.rank != 3 || StringRef(logitsInfo.dtype) != "float32")
    return createStringError("perplexity needs float32 logits [1, seq, vocab] "
                             "as the first output");
  if (first >= end || end > stories.numStories())
    return createStringError("story range " + Twine(first) + ":" + Twine(end) +
                             " is outside the " +
                             Twine(stories.numStories()) + " stories");
  PerplexityResult result;
  int64_t seq = inputs[0].shape[1], vocab = logitsInfo.shape[2];
  result.seq = seq;
  bool wide = inputs[0].dtype == "int64";
  std::vector<int64_t> t64(seq);
  std::vector<int32_t> t32(seq);
  const float *logits = outs.asFloats(0);
  double nll = 0;
  std::optional<ProgressBar> bar;
  if (showProgress)
    bar.emplace("evaluating", end - first, "stories");
  for (size_t s = first; s < end; ++s) {
    int64_t b = stories.offsets[s], e = stories.offsets[s + 1];
    int64_t len = std::min<int64_t>(e - b, seq);
    result.truncatedStories += (e - b) > seq;
    for (int64_t t = 0; t < seq; ++t) {
      int64_t tok = t < len ? stories.ids[b + t] : 0;
      if (tok < 0 || tok >= vocab)
        return createStringError("token id " + Twine(tok) + " in story " +
                                 Twine(s) + " is outside the vocabulary of " +
                                 Twine(vocab));
      t64[t] = tok;
      t32[t] = int32_t(tok);
    }
    const void *in = wide ? (const void *)t64.data() : (const void *)t32.data();
    if (qrt_run(model, &in, outs.pointers.data()) != 0)
      return createStringError("model run failed on story " + Twine(s) + ": " +
                               qrt_last_error(model));
    for (int64_t t = 0; t + 1 < len; ++t) {
      nll += tokenNLL(logits + t * vocab, vocab, t64[t + 1]);
      ++result.predictedTokens;
    }
    if (bar)
      bar->update(s - first + 1);
  }
  if (bar)
    bar->finish();
  result.meanNLL = nll / std::max<size_t>(result.predictedTokens, 1);
  result.perplexity = std::exp(result.meanNLL);
  return result;
}

Expected<KVCacheLayout> readKVCacheLayout(StringRef artifactDir) {
  SmallString<256> path(artifactDir);
  sys::path::append(path, "manifest.json");
  auto buffer = MemoryBuffer::getFile(path);
  if (!buffer)
    return createStringError("cannot read " + path + ": " +
                             buffer.getError().message());
  Expected<json::Value> manifest = json::parse((*buffer)->getBuffer());
  if (!manifest)
    return createStringError("bad " + path + ": " +
                             toString(manifest.takeError()));
  const json::Object *root = manifest->getAsObject();
  const json::Object *kv = root ? root->getObject("kv_cache") : nullptr;
  if (!kv)
    return createStringError(
        "decode mode needs an artifact compiled with --kv-cache; " + path +
        " has no \"kv_cache\" entry");
  KVCacheLayout layout;
  auto bad = [&](const Twine &what) {
    return createStringError("bad \"kv_cache\" entry in " + path + ": " +
                             what);
  };
  std::optional<int64_t> capacity = kv->getInteger("capacity");
  std::optional<StringRef> dtype = kv->getString("dtype");
  std::optional<StringRef> position = kv->getString("position");
  const json::Array *caches = kv->getArray("caches");
  if (!capacity || *capacity <= 0 || !dtype || !position || !caches)
    return bad("expected capacity, dtype, position and caches");
  layout.capacity = *capacity;
  layout.dtype = dtype->str();
  layout.position = position->str();
  for (const json::Value &c : *caches) {
    const json::Object *entry = c.getAsObject();
    if (!entry || !entry->getString("past") || !entry->getString("present"))
      return bad("each cache needs \"past\" and \"present\"");
    layout.feedback.emplace_back(entry->getString("past")->str(),
                                 entry->getString("present")->str());
    std::optional<StringRef> pastScale = entry->getString("past_scale");
    std::optional<StringRef> presentScale = entry->getString("present_scale");
    if (pastScale.has_value() != presentScale.has_value())
      return bad("a cache has only one of \"past_scale\" and "
                 "\"present_scale\"");
    if (pastScale)
      layout.feedback.emplace_back(pastScale->str(), presentScale->str());
  }
  return layout;
}

Expected<PerplexityResult>
evaluateDecodePerplexity(qrt_model *model, const KVCacheLayout &layout,
                         const TokenStories &stories, size_t first, size_t end,
                         bool showProgress) {
  std::vector<InputSpec> inputs = modelInputs(model);
  OutputBuffers outs(model);
  auto findInput = [&](StringRef name) -> int {
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].name == name)
        return int(i);
    return -1;
  };
  auto findOutput = [&](StringRef name) -> int {
    for (size_t o = 0; o < outs.infos.size(); ++o)
      if (name == outs.infos[o].name)
        return int(o);
    return -1;
  };
  auto isInteger = [](StringRef dtype) {
    return dtype == "int64" || dtype == "int32";
  };
  auto numElements = [](const std::vector<int64_t> &shape) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  };

  // Which input each present output feeds next step.
  std::vector<std::pair<int, int>> feedback;
  std::vector<bool> fedBack(inputs.size());
  for (const auto &[past, present] : layout.feedback) {
    int i = findInput(past), o = findOutput(present);
    if (i < 0 || o < 0)
      return createStringError("the manifest's KV cache names '" + past +
                               "' -> '" + present +
                               "', which the model does not have");
    const qrt_tensor_info &info = outs.infos[o];
    if (inputs[i].dtype != info.dtype ||
        numElements(inputs[i].shape) != int64_t(info.num_elements))
      return createStringError("present '" + present +
                               "' does not match the shape and type of past '" +
                               past + "'");
    feedback.emplace_back(i, o);
    fedBack[i] = true;
  }
  int positionIndex = findInput(layout.position);
  if (positionIndex < 0 || numElements(inputs[positionIndex].shape) != 1 ||
      !isInteger(inputs[positionIndex].dtype))
    return createStringError("the position input '" + layout.position +
                             "' is missing or not one integer");
  fedBack[positionIndex] = true;
  int tokenIndex = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (fedBack[i])
      continue;
    if (tokenIndex >= 0 || numElements(inputs[i].shape) != 1 ||
        !isInteger(inputs[i].dtype))
      return createStringError(
          "decode mode needs one [1, 1] integer token input besides the "
          "position and the caches; input '" + inputs[i].name + "' is not it");
    tokenIndex = int(i);
  }
  if (tokenIndex < 0)
    return createStringError("the model has no token-id input");
  if (outs.infos.empty())
    return createStringError("decode mode needs float32 logits [1, 1, vocab] "
                             "as the first output; the model has no outputs");
  const qrt_tensor_info &logitsInfo = outs.infos[0];
  if (logitsInfo.rank != 3 || StringRef(logitsInfo.dtype) != "float32" ||
      logitsInfo.shape[0] != 1 || logitsInfo.shape[1] != 1)
    return createStringError("decode mode needs float32 logits [1, 1, vocab] "
                             "as the first output");
  if (first >= end || end > stories.numStories())
    return createStringError("story range " + Twine(first) + ":" + Twine(end) +
                             " is outside the " +
                             Twine(stories.numStories()) + " stories");

  std::vector<std::vector<char>> inBuffers;
  std::vector<void *> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    qrt_tensor_info info;
    qrt_input_info(model, i, &info);
    inBuffers.emplace_back(info.num_elements * info.element_size);
  }
  for (auto &b : inBuffers)
    in.push_back(b.data());
  std::vector<void *> out = outs.pointers;
  auto setInteger = [&](int index, int64_t value) {
    if (inputs[index].dtype == "int64")
      *static_cast<int64_t *>(in[index]) = value;
    else
      *static_cast<int32_t *>(in[index]) = int32_t(value);
  };

  PerplexityResult result;
  result.seq = layout.capacity;
  int64_t vocab = logitsInfo.shape[2];
  const float *logits = outs.asFloats(0);
  double nll = 0;
  std::optional<ProgressBar> bar;
  if (showProgress)
    bar.emplace("decoding", end - first, "stories");
  for (size_t s = first; s < end; ++s) {
    int64_t b = stories.offsets[s], e = stories.offsets[s + 1];
    int64_t len = std::min<int64_t>(e - b, layout.capacity);
    result.truncatedStories += (e - b) > layout.capacity;
    for (int64_t t = 0; t < len; ++t)
      if (stories.ids[b + t] < 0 || stories.ids[b + t] >= vocab)
        return createStringError("token id " + Twine(stories.ids[b + t]) +
                                 " in story " + Twine(s) +
                                 " is outside the vocabulary of " +
                                 Twine(vocab));
    for (auto [i, o] : feedback)
      std::memset(in[i], 0, inBuffers[i].size());
    // The last token predicts nothing: no step for it.
    for (int64_t t = 0; t + 1 < len; ++t) {
      setInteger(tokenIndex, stories.ids[b + t]);
      setInteger(positionIndex, t);
      if (qrt_run(model, in.data(), out.data()) != 0)
        return createStringError("model run failed on story " + Twine(s) +
                                 " at position " + Twine(t));
      nll += tokenNLL(logits, vocab, stories.ids[b + t + 1]);
      ++result.predictedTokens;
      // This step's presents are the next step's pasts: swap the buffers.
      for (auto [i, o] : feedback)
        std::swap(in[i], out[o]);
    }
    if (bar)
      bar->update(s - first + 1);
  }
  if (bar)
    bar->finish();
  result.meanNLL = nll / std::max<size_t>(result.predictedTokens, 1);
  result.perplexity = std::exp(result.meanNLL);
  return result;
}

} // namespace qopt::calib
