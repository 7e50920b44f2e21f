//===- WeightAlgorithms.cpp - RTN, GPTQ and AWQ for qopt-quantize ---------===//
//
// Chooses the integer weights of the matmuls qopt-quantize rewrites. RTN
// needs nothing but the weights; GPTQ and AWQ read the calibration
// statistics that qopt.observe carries on the matmul's input (the Gram
// matrix XᵀX and the per-channel mean |x|). The numerics live in lib/Quant;
// this file maps IR to spans and reports per node.
//
//===----------------------------------------------------------------------===//

#include "qopt/Calibration/Progress.h"
#include "qopt/QOptDialect.h"
#include "qopt/Quant/AWQ.h"
#include "qopt/Quant/GPTQ.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>

using namespace mlir;

namespace qopt {

std::optional<WeightAlgorithm> parseWeightAlgorithm(StringRef name) {
  if (name == "rtn")
    return WeightAlgorithm::RTN;
  if (name == "gptq")
    return WeightAlgorithm::GPTQ;
  if (name == "awq")
    return WeightAlgorithm::AWQ;
  return std::nullopt;
}

StringRef weightAlgorithmName(WeightAlgorithm algorithm) {
  switch (algorithm) {
  case WeightAlgorithm::RTN:
    return "rtn";
  case WeightAlgorithm::GPTQ:
    return "gptq";
  case WeightAlgorithm::AWQ:
    return "awq";
  }
  return "rtn";
}

namespace {

/// The ops that have a Hessian, grouped by the input they read, in op
/// order: the matmuls of a group share input scales.
llvm::MapVector<Value, SmallVector<size_t>>
groupByInput(ArrayRef<QuantizableMatMul> ops,
             ArrayRef<std::optional<std::vector<double>>> hessians) {
  llvm::MapVector<Value, SmallVector<size_t>> groups;
  for (size_t i = 0; i < ops.size(); ++i)
    if (hessians[i])
      groups[ops[i].activation].push_back(i);
  return groups;
}

/// A progress bar over the layers of a search, when asked for.
class LayerProgress {
public:
  LayerProgress(bool show, const char *label, size_t total) {
    if (show)
      bar.emplace(label, total, "layers");
  }
  /// Called before a group of `n` layers starts.
  void advance(size_t n) {
    if (bar)
      bar->update(done);
    done += n;
  }
  ~LayerProgress() {
    if (bar)
      bar->finish();
  }

private:
  std::optional<calib::ProgressBar> bar;
  size_t done = 0;
};

/// The calibration probe in front of a matmul's activation.
ObserveOp probeOf(const QuantizableMatMul &m) {
  return m.activation.getDefiningOp<ObserveOp>();
}

} // namespace

FailureOr<std::vector<WeightChoice>>
chooseWeights(ArrayRef<QuantizableMatMul> ops,
              ArrayRef<std::vector<float>> weights,
              const quant::WeightScheme &scheme, WeightAlgorithm algorithm,
              const quant::GPTQOptions &gptq, int scaleGrid, bool showProgress,
              ArrayRef<ArrayRef<int64_t>> floatChannels) {
  std::vector<WeightChoice> choices(ops.size());
  bool integer = scheme.kind == quant::WeightKind::Int;
  auto rtn = [&](size_t i) {
    const QuantizableMatMul &m = ops[i];
    choices[i].matrix =
        quant::quantizeRTN(weights[i].data(), m.n, m.k, scheme);
    choices[i].algorithm = WeightAlgorithm::RTN;
  };
  if (algorithm == WeightAlgorithm::RTN || !integer) {
    for (size_t i = 0; i < ops.size(); ++i)
      rtn(i);
    return choices;
  }
  StringRef name = weightAlgorithmName(algorithm);
  bool failedAny = false;
  // The Hessian of every usable op; ops that cannot use one fall back.
  std::vector<std::optional<std::vector<double>>> hessians(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const QuantizableMatMul &m = ops[i];
    if (m.weightOnLeft) {
      tosa::MatMulOp(m.op).emitWarning() << name
                         << " needs the reduction dim last in the activation "
                            "(this matmul has its weights on the left, an "
                            "im2col convolution): quantized with rtn";
      rtn(i);
      continue;
    }
    ObserveOp probe = probeOf(m);
    hessians[i] = probe ? readDoubles(probe.getGramAttr(), m.k * m.k)
                        : std::nullopt;
    if (!hessians[i]) {
      tosa::MatMulOp(m.op).emitError() << name
                       << " needs the Gram matrix of this matmul's input "
                          "from calibration: compile with --calib (or a "
                          "--calib-table made with --algorithm="
                       << name << ")";
      failedAny = true;
    }
  }
  if (failedAny)
    return failure();

  auto floatChannelsOf = [&](size_t i) -> ArrayRef<int64_t> {
    return i < floatChannels.size() ? floatChannels[i] : ArrayRef<int64_t>();
  };
  if (algorithm == WeightAlgorithm::GPTQ) {
    // Matmuls reading one input are quantized together: with scaleGrid > 0
    // they share activation-aware input scales s = mean|x|^alpha (AWQ's
    // family, alpha on the grid, 0 = none), and GPTQ runs on W·diag(s)
    // against H' = diag(1/s) H diag(1/s). The output error is the same in
    // both bases, so the alpha with the least summed GPTQ error wins.
    LayerProgress progress(showProgress, "gptq", ops.size());
    for (auto &[input, members] : groupByInput(ops, hessians)) {
      progress.advance(members.size());
      const QuantizableMatMul &first = ops[members.front()];
      int64_t k = first.k;
      const std::vector<double> &h = *hessians[members.front()];
      std::optional<std::vector<float>> meanAbs =
          scaleGrid > 0
              ? readFloats(probeOf(first).getChannelMeanAbsAttr(), k)
              : std::nullopt;
      int grid = meanAbs ? scaleGrid : 0;
      double bestError = -1;
      std::vector<quant::GPTQResult> best;
      std::vector<float> bestScales;
      for (int step = 0; step <= grid; ++step) {
        double alpha = grid ? double(step) / grid : 0;
        std::vector<float> s(k, 1.f);
        if (alpha > 0) {
          // Geometric mean 1, floors against silent channels.
          float top = *std::max_element(meanAbs->begin(), meanAbs->end());
          double logSum = 0;
          for (int64_t j = 0; j < k; ++j) {
            s[j] = std::pow(std::max((*meanAbs)[j], 1e-4f * top + 1e-30f),
                            float(alpha));
            logSum += std::log(double(s[j]));
          }
          float centre = float(std::exp(logSum / k));
          for (float &v : s)
            v /= centre;
          // Channels that some member computes in float keep s = 1: the
          // float part of the split reads the (shared) scaled input.
          for (size_t i : members)
            for (int64_t c : floatChannelsOf(i))
              s[c] = 1.f;
        }
        std::vector<double> hs(h);
        if (alpha > 0)
          for (int64_t a = 0; a < k; ++a)
            for (int64_t b = 0; b < k; ++b)
              hs[a * k + b] /= double(s[a]) * double(s[b]);
        std::vector<quant::GPTQResult> results(members.size());
        double total = 0;
        bool ok = true;
        for (auto [j, i] : llvm::enumerate(members)) {
          const QuantizableMatMul &m = ops[i];
          std::vector<float> w(weights[i]);
          if (alpha > 0)
            for (int64_t r = 0; r < m.n; ++r)
              for (int64_t c = 0; c < k; ++c)
                w[r * k + c] *= s[c];
          // The integer part never sees its float channels: without them
          // in H, GPTQ neither measures nor compensates through them (they
          // count as dead channels, whose zero weights stay zero).
          ArrayRef<int64_t> split = floatChannelsOf(i);
          std::vector<double> hSplit;
          if (!split.empty()) {
            hSplit = hs;
            for (int64_t c : split)
              for (int64_t t = 0; t < k; ++t)
                hSplit[c * k + t] = hSplit[t * k + c] = 0;
          }
          std::string error;
          if (!quant::quantizeGPTQ(w.data(), m.n, k, scheme,
                                   split.empty() ? hs.data() : hSplit.data(),
                                   gptq, results[j], error)) {
            if (alpha == 0) {
              tosa::MatMulOp(m.op).emitError() << "gptq: " << error;
              failedAny = true;
            }
            ok = false;
            break;
          }
          total += results[j].error;
        }
        if (!ok) {
          if (alpha == 0)
            break;
          continue;
        }
        if (bestError < 0 || total < bestError) {
          bestError = total;
          best = std::move(results);
          bestScales = std::move(s);
        }
      }
      if (best.empty())
        continue;
      bool scaled = llvm::any_of(bestScales, [](float v) { return v != 1.f; });
      auto shared =
          scaled ? std::make_shared<std::vector<float>>(std::move(bestScales))
                 : nullptr;
      for (auto [j, i] : llvm::enumerate(members)) {
        quant::GPTQResult &result = best[j];
        const QuantizableMatMul &m = ops[i];
        int64_t dead = result.deadChannels - int64_t(floatChannelsOf(i).size());
        if (dead > 0)
          tosa::MatMulOp(m.op).emitRemark()
              << "gptq: " << dead
              << " input channels were never active during calibration "
                 "(their weights are irrelevant to the output there)";
        choices[i].matrix = std::move(result.matrix);
        choices[i].algorithm = WeightAlgorithm::GPTQ;
        choices[i].inputScales = shared;
        choices[i].error = result.error;
        choices[i].rtnError = result.rtnError;
      }
    }
    if (failedAny)
      return failure();
    return choices;
  }

  // AWQ: matmuls reading the same input share one set of scales.
  LayerProgress progress(showProgress, "awq", ops.size());
  for (auto &[input, members] : groupByInput(ops, hessians)) {
    progress.advance(members.size());
    const QuantizableMatMul &first = ops[members.front()];
    int64_t k = first.k;
    std::optional<std::vector<float>> meanAbs =
        readFloats(probeOf(first).getChannelMeanAbsAttr(), k);
    if (!meanAbs) {
      tosa::MatMulOp(first.op).emitError() << "awq needs the mean |x| per channel of this "
                              "matmul's input from calibration";
      failedAny = true;
      continue;
    }
    std::vector<const float *> ws;
    std::vector<int64_t> rows;
    for (size_t i : members) {
      ws.push_back(weights[i].data());
      rows.push_back(ops[i].n);
    }
    quant::AWQResult result;
    std::string error;
    if (!quant::searchAWQ(ws, rows, k, scheme, hessians[members.front()]->data(),
                          meanAbs->data(), quant::AWQOptions(), result,
                          error)) {
      tosa::MatMulOp(first.op).emitError() << "awq: " << error;
      failedAny = true;
      continue;
    }
    auto scales =
        std::make_shared<std::vector<float>>(std::move(result.inputScales));
    for (auto [j, i] : llvm::enumerate(members)) {
      choices[i].matrix = std::move(result.matrices[j]);
      choices[i].algorithm = WeightAlgorithm::AWQ;
      choices[i].inputScales = scales;
      choices[i].awqAlpha = result.alpha;
    }
    // The group's errors are summed over its members: record them once.
    choices[members.front()].error = result.error;
    choices[members.front()].rtnError = result.rtnError;
  }
  if (failedAny)
    return failure();
  return choices;
}

} // namespace qopt
