//===- Calibrate.cpp - Running compiled models on data --------------------===//

#include "qopt/Calibration/Calibrate.h"
#include "qopt/Calibration/Progress.h"
#include "qopt/Runtime/qrt.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Format.h"

#include <cmath>
#include <cstring>

using namespace llvm;

namespace qopt::calib {

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
                               sample->source);
    for (size_t o : observed) {
      const qrt_tensor_info &info = outs.infos[o];
      int64_t channels = info.rank ? info.shape[info.rank - 1] : 1;
      int64_t rows = channels ? int64_t(info.num_elements) / channels : 0;
      // Token-major activations: only real tokens count.
      if (sample->validTokens >= 0 && rows == seq)
        rows = sample->validTokens;
      StringRef id = StringRef(info.name).drop_front(
          strlen(kObserverOutputPrefix));
      table.tensors[id.str()].add(
          outs.asFloats(o), rows,
          channels);
    }
    ++table.samples;
    if (bar)
      bar->update(i + 1);
  }
  if (bar)
    bar->finish();
  return Error::success();
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
      return createStringError("model run failed on story " + Twine(s));
    for (int64_t t = 0; t + 1 < len; ++t) {
      const float *row = logits + t * vocab;
      double m = -INFINITY;
      for (int64_t v = 0; v < vocab; ++v)
        m = std::max(m, double(row[v]));
      double sum = 0;
      for (int64_t v = 0; v < vocab; ++v)
        sum += std::exp(double(row[v]) - m);
      nll -= double(row[t64[t + 1]]) - m - std::log(sum);
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

} // namespace qopt::calib
