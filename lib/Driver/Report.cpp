//===- Report.cpp - Measuring what quantization cost ----------------------===//

#include "InstrumentedModel.h"
#include "qopt/Calibration/Calibrate.h"
#include "qopt/Driver/Driver.h"
#include "qopt/Driver/Report.h"
#include "qopt/Quant/Quant.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"

#include <cmath>
#include <cstring>

using namespace mlir;

namespace qopt {
namespace {

struct Comparison {
  quant::ErrorAccumulator error;
  size_t rows = 0, agreeing = 0;
  /// Language-model logits: the summed KL(float || quantized) of the
  /// next-token distributions over `rows`.
  double kl = 0;
};

/// KL(softmax(r) || softmax(q)) of one row of `n` logits.
double rowKL(const float *r, const float *q, int64_t n) {
  double mr = -INFINITY, mq = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    mr = std::max(mr, double(r[i]));
    mq = std::max(mq, double(q[i]));
  }
  double sr = 0, sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    sr += std::exp(double(r[i]) - mr);
    sq += std::exp(double(q[i]) - mq);
  }
  double lr = mr + std::log(sr), lq = mq + std::log(sq), kl = 0;
  for (int64_t i = 0; i < n; ++i) {
    double pr = double(r[i]) - lr;
    kl += std::exp(pr) * (pr - (double(q[i]) - lq));
  }
  return std::max(0.0, kl);
}

} // namespace

LogicalResult measureQuality(ModuleOp floatModule, ModuleOp quantizedModule,
                             const CalibrationOptions &data,
                             size_t reportSamples,
                             const SerializeOptions &codegen,
                             QualityReport &report,
                             InstrumentedModel *compiledFloat) {
  Location loc = UnknownLoc::get(floatModule.getContext());
  InstrumentedModel built, quant;
  if ((!compiledFloat && failed(built.build(floatModule, codegen, "float"))) ||
      failed(quant.build(quantizedModule, codegen, "quantized")))
    return failure();
  InstrumentedModel &ref = compiledFloat ? *compiledFloat : built;
  std::vector<calib::InputSpec> inputs = calib::modelInputs(ref.model);

  // Held-out samples follow the calibration samples; with too little data
  // the calibration samples themselves are used (and the report says so).
  size_t first = data.firstSample + data.samples;
  auto samples = calib::openSamples(data.data, data.offsets, inputs, first,
                                    reportSamples);
  report.heldOut = bool(samples);
  if (!samples) {
    llvm::consumeError(samples.takeError());
    first = data.firstSample;
    samples = calib::openSamples(data.data, data.offsets, inputs, first,
                                 reportSamples);
    if (!samples)
      return emitError(loc) << llvm::toString(samples.takeError());
  }
  size_t count = (*samples)->size();
  report.samples = count;
  report.samplesDescription =
      (data.offsets.empty()
           ? std::to_string(count) + " samples from '" + data.data + "'"
           : std::to_string(count) + " stories (" + std::to_string(first) +
                 "-" + std::to_string(first + count - 1) + ")");

  // Outputs pair up by name: the quantized model may hold probes the float
  // one lacks (SmoothQuant's probes on the inputs it smoothed).
  llvm::StringMap<size_t> quantOutput;
  for (auto [o, info] : llvm::enumerate(quant.outs->infos))
    quantOutput[info.name] = o;
  std::vector<std::optional<size_t>> pairedOutput;
  for (const qrt_tensor_info &info : ref.outs->infos) {
    auto it = quantOutput.find(info.name);
    bool paired =
        it != quantOutput.end() &&
        quant.outs->infos[it->second].num_elements == info.num_elements;
    if (!paired &&
        !StringRef(info.name).starts_with(calib::kObserverOutputPrefix))
      return emitError(loc) << "float and quantized models differ in output '"
                            << info.name << "'";
    pairedOutput.push_back(paired ? std::optional<size_t>(it->second)
                                  : std::nullopt);
  }
  int64_t seq = inputs.size() == 1 && inputs[0].shape.size() == 2
                    ? inputs[0].shape[1]
                    : -1;
  llvm::StringMap<Comparison> byName;
  std::vector<std::string> order;
  for (size_t i = 0; i < count; ++i) {
    auto sample = (*samples)->get(i);
    if (!sample)
      return emitError(loc) << llvm::toString(sample.takeError());
    std::vector<const void *> in;
    for (const io::Tensor &t : sample->inputs)
      in.push_back(t.data.data());
    if (qrt_run(ref.model, in.data(), ref.outs->pointers.data()) != 0 ||
        qrt_run(quant.model, in.data(), quant.outs->pointers.data()) != 0)
      return emitError(loc) << "a report model failed on " << sample->source;
    for (size_t o = 0; o < ref.outs->infos.size(); ++o) {
      const qrt_tensor_info &info = ref.outs->infos[o];
      if (StringRef(info.dtype) != "float32" || !pairedOutput[o])
        continue;
      // Padding positions do not count.
      calib::TokenRows t = calib::tokenRows(info, seq, sample->validTokens);
      int64_t cols = t.channels;
      std::string name = info.name;
      auto [it, inserted] = byName.try_emplace(name);
      if (inserted)
        order.push_back(name);
      Comparison &c = it->second;
      for (int64_t s = 0; s < t.slices; ++s) {
        int64_t offset = s * t.rowsPerSlice * cols;
        const float *r = ref.outs->asFloats(o) + offset,
                    *q = quant.outs->asFloats(*pairedOutput[o]) + offset;
        c.error.add(r, q, size_t(t.validRows * cols));
        for (int64_t row = 0; cols > 1 && row < t.validRows; ++row) {
          const float *rr = r + row * cols, *qr = q + row * cols;
          c.agreeing += std::max_element(rr, rr + cols) - rr ==
                        std::max_element(qr, qr + cols) - qr;
          if (seq > 0 && info.rank == 3)
            c.kl += rowKL(rr, qr, cols);
          ++c.rows;
        }
      }
    }
  }

  // Per-layer results come from the ":out" probes.
  for (LayerQuality &l : report.layers) {
    auto it = byName.find(std::string(calib::kObserverOutputPrefix) +
                          l.layer.node + ":out");
    if (it == byName.end())
      continue;
    l.sqnrDb = it->second.error.sqnrDb();
    l.cosine = it->second.error.cosine();
  }
  for (const std::string &name : order) {
    if (StringRef(name).starts_with(calib::kObserverOutputPrefix))
      continue;
    const Comparison &c = byName[name];
    OutputQuality q;
    q.name = name;
    q.sqnrDb = c.error.sqnrDb();
    q.cosine = c.error.cosine();
    q.maxAbsError = c.error.maxAbsError();
    if (c.rows)
      q.top1 = double(c.agreeing) / double(c.rows);
    if (c.rows && seq > 0)
      q.kl = c.kl / double(c.rows);
    report.outputs.push_back(q);
  }
  return success();
}

} // namespace qopt
