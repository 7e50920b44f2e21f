//===- PrecisionSearch.cpp - Per-layer precisions under budgets -----------===//
//
// The budget search: measured per-layer sensitivities become the losses of
// a multiple-choice knapsack (lib/Quant/Budget), stored bytes its weights,
// the roofline cost model (lib/Quant/CostModel) its times; the solution is
// written back as each layer's qopt.assign.
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Sensitivity.h"
#include "qopt/QOptDialect.h"
#include "qopt/Quant/Budget.h"
#include "qopt/Quant/CostModel.h"
#include "qopt/Target/Target.h"
#include "qopt/Transforms/Quantization.h"
#include "qopt/Transforms/Recipe.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace mlir;

namespace qopt {

std::vector<std::string> defaultCandidates(const PrecisionSpec &base,
                                           const TargetCapabilities &caps) {
  std::vector<std::string> family;
  if (base.activations == ActivationMode::Static)
    family = {"w8a8-static", "w4a8-static-g32", "w4a8-static-g128"};
  else if (base.activations == ActivationMode::Dynamic)
    family = {"w8a8", "w4a8-g32", "w4a8-g128"};
  else
    family = {"w8a16",     "w4a16-g32", "w4a16-g64", "w4a16-g128",
              "w3a16-g32", "w3a16-g64", "w2a16-g32"};
  std::vector<std::string> out;
  for (const std::string &p : family)
    if (precisionSupport(p, caps) != Support::None)
      out.push_back(p);
  return out;
}

FailureOr<std::optional<quant::MachinePeaks>>
targetPeaks(TargetAttr target, const TargetCapabilities &caps, StringRef mode) {
  MLIRContext *ctx = target.getContext();
  if (mode != "auto" && mode != "nominal" && mode != "measured")
    return emitError(UnknownLoc::get(ctx))
           << "--cost-peaks must be auto, nominal or measured, not '" << mode
           << "'";
  if (mode == "nominal")
    return caps.peaks;
  std::string error;
  FailureOr<TargetAttr> host = hostTarget(ctx, error);
  const TargetBackend *backend = lookupTargetByName(target.getBackend());
  bool isHost = succeeded(host) && *host == target && backend;
  if (isHost)
    if (const quant::MachinePeaks *measured = backend->measuredHostPeaks())
      return std::optional<quant::MachinePeaks>(*measured);
  if (mode == "measured") {
    InFlightDiagnostic diag = emitError(UnknownLoc::get(ctx));
    if (isHost)
      diag << "--cost-peaks=measured: this machine has no loops qopt can "
              "time (x86 needs AVX2 and FMA)";
    else
      diag << "--cost-peaks=measured times this machine, but the target ("
           << target.getTriple() << ", " << target.getCpu()
           << ") is not this machine; --cost-peaks=nominal uses its "
              "description's figures";
    return diag;
  }
  return caps.peaks;
}

quant::PrecisionCost precisionCost(StringRef precision, int64_t n, int64_t k,
                                   bool halfScales, int64_t storedBytes) {
  quant::PrecisionCost p;
  if (!storedBytes)
    storedBytes = weightBytesAt(precision, n, k, halfScales);
  p.weightBitsPerValue = 8.0 * double(storedBytes) / double(n * k);
  std::string error;
  std::optional<PrecisionSpec> spec = parsePrecision(precision, error);
  if (precision == "float" || !spec)
    return p;
  p.integerActivations = spec->activations != ActivationMode::Float;
  p.weightOnly = !p.integerActivations;
  return p;
}

namespace {

/// The base of an in-context measurement (Sensitivity.h), or none for an
/// isolated one. `auto` measures in context when the search minimises the
/// loss under a size budget: its answer lies near a uniform configuration
/// at the base precision, where isolated losses, measured against float,
/// misjudge what moving one layer changes. A budget on the loss alone
/// keeps isolated losses (its answer lies near float).
LogicalResult chooseSensitivityBase(MLIRContext *ctx,
                                    const QuantizeOptions &quantize,
                                    ArrayRef<SensitivityCandidate> candidates,
                                    ArrayRef<LayerAssignment> assignments,
                                    std::optional<SensitivityCandidate> &base) {
  Location loc = UnknownLoc::get(ctx);
  std::string mode =
      quantize.sensitivity.empty() ? "auto" : quantize.sensitivity;
  if (mode != "auto" && mode != "isolated" && mode != "in-context")
    return emitError(loc) << "unknown --sensitivity '" << mode
                          << "' (expected auto, isolated or in-context)";
  if (mode == "isolated" ||
      (mode == "auto" && (quantize.objective != "quality" ||
                          (!quantize.avgBits && !quantize.maxWeightBytes))))
    return success();
  const SensitivityCandidate *found = nullptr;
  for (const SensitivityCandidate &c : candidates)
    if (c.precision == quantize.precision)
      found = &c;
  // Layers a rule fixed would sit at the base in the measurement, not at
  // their own precision.
  bool fixed = llvm::any_of(assignments, [](const LayerAssignment &a) {
    return a.fixedByRule && a.precision != "float";
  });
  if (!found || fixed) {
    if (mode == "auto")
      return success();
    return emitError(loc)
           << "--sensitivity=in-context measures around every layer at "
           << quantize.precision << ": "
           << (fixed ? "recipe rules fix some layers' precisions"
                     : "that precision is not among the candidates");
  }
  base = *found;
  return success();
}

} // namespace

LogicalResult searchPrecisions(ModuleOp module, const QuantizeOptions &quantize,
                               const CalibrationOptions &data,
                               TargetAttr target,
                               const TargetCapabilities &caps,
                               ArrayRef<SensitivityCandidate> candidates,
                               std::vector<LayerAssignment> &assignments,
                               llvm::json::Object &summary,
                               SensitivityTable &table, double lossCorrection) {
  MLIRContext *ctx = module.getContext();
  Location loc = UnknownLoc::get(ctx);
  // Layers a recipe rule set keep their precision: measured only when it
  // is one of the candidates.
  if (table.layers.empty()) {
    std::optional<SensitivityCandidate> base;
    if (failed(chooseSensitivityBase(ctx, quantize, candidates, assignments,
                                     base)))
      return failure();
    if (failed(measureSensitivity(module, candidates, quantize, data,
                                  quantize.sensitivitySamples, table,
                                  base ? &*base : nullptr)))
      return failure();
  }
  std::vector<Operation *> ops = sensitivityLayers(module);
  if (ops.empty())
    return emitError(loc) << "the precision search found no weight matmul "
                             "to choose a precision for";
  FailureOr<std::optional<quant::MachinePeaks>> resolvedPeaks =
      targetPeaks(target, caps, quantize.costPeaks);
  if (failed(resolvedPeaks))
    return failure();
  std::optional<quant::MachinePeaks> peaks = *resolvedPeaks;
  bool halfScales = quantize.weightScales == "f16";
  if (quantize.objective == "speed" && !peaks)
    return emitError(loc) << "--objective=speed needs the cost model's peaks, "
                             "which the "
                          << target.getBackend() << " target has "
                          << caps.noPeaksReason;

  auto findAssignment = [&](StringRef node) -> LayerAssignment * {
    for (LayerAssignment &a : assignments)
      if (a.node == node)
        return &a;
    return nullptr;
  };
  std::vector<quant::LayerChoices> layers;
  std::vector<std::vector<std::pair<std::string, std::string>>> options;
  std::vector<std::vector<quant::LayerCost>> costs;
  // Per layer and option, the measured loss (what the solver sees adds the
  // margin under the quality objective).
  std::vector<std::vector<double>> measuredLoss;
  const double margin =
      quantize.objective == "quality" ? quantize.sensitivityMargin : 0.0;
  for (size_t l = 0; l < ops.size(); ++l) {
    auto [n, k] = table.shapes[l];
    QuantizableMatMul m = *analyzeMatMul(cast<tosa::MatMulOp>(ops[l]));
    auto at = cast<RankedTensorType>(m.activation.getType());
    quant::MatMulShape shape;
    shape.batch = at.getDimSize(0);
    shape.m = m.weightOnLeft ? at.getDimSize(2) : at.getDimSize(1);
    shape.n = n;
    shape.k = k;
    quant::LayerChoices choices;
    choices.layer = table.layers[l];
    std::vector<std::pair<std::string, std::string>> names;
    std::vector<quant::LayerCost> layerCosts;
    std::vector<double> layerLoss;
    auto add = [&](const std::string &precision, const std::string &algorithm,
                   double loss, double error) {
      quant::LayerCandidate c;
      c.precision = precision;
      c.weightBytes = double(weightBytesAt(precision, n, k, halfScales));
      c.weightCount = double(n * k);
      // The solver sees the pessimistic loss; the prediction stays the
      // measured one.
      c.loss = loss + margin * error;
      layerLoss.push_back(loss);
      quant::LayerCost cost;
      if (peaks)
        cost = quant::estimateMatMul(
            shape, precisionCost(precision, n, k, halfScales), *peaks);
      c.seconds = cost.seconds;
      choices.candidates.push_back(c);
      names.push_back({precision, algorithm});
      layerCosts.push_back(cost);
    };
    LayerAssignment *a = findAssignment(table.layers[l]);
    auto assigned =
        ops[l]->getAttrOfType<AssignmentAttr>(QOptDialect::kAssignAttrName);
    if (a && a->fixedByRule) {
      double loss = 0;
      for (auto [c, candidate] : llvm::enumerate(candidates))
        if (candidate.precision == a->precision)
          loss = table.loss[l][c];
      add(a->precision, assigned.getAlgorithm().str(), loss, 0);
      choices.fixed = 0;
    } else {
      for (auto [c, candidate] : llvm::enumerate(candidates))
        add(candidate.precision, candidate.algorithm, table.loss[l][c],
            table.lossError[l][c]);
      // Isolated, float adds no loss; in context it removes the layer's
      // share of the base's loss.
      add("float", "", table.floatLoss.empty() ? 0 : table.floatLoss[l],
          table.floatLossError.empty() ? 0 : table.floatLossError[l]);
    }
    layers.push_back(std::move(choices));
    measuredLoss.push_back(std::move(layerLoss));
    options.push_back(std::move(names));
    costs.push_back(std::move(layerCosts));
  }

  quant::BudgetConstraints constraints;
  constraints.avgBits = quantize.avgBits;
  constraints.maxWeightBytes = quantize.maxWeightBytes;
  std::string lossUnit = table.metric == "kl" ? "mean KL (nats/token)"
                                              : "output noise/signal";
  if (quantize.maxLoss) {
    if (quantize.maxLossIsPerplexity) {
      if (!table.floatNLL)
        return emitError(loc) << "--max-loss=ppl:" << *quantize.maxLoss
                              << " needs a language model (token ids in, "
                                 "logits out); give a plain number ("
                              << lossUnit << ")";
      // For small changes the mean NLL grows by about the mean KL, so a
      // perplexity increase D allows KL log(1 + D / ppl).
      double ppl = std::exp(table.calibrationNLL.value_or(*table.floatNLL));
      constraints.maxLoss = std::log1p(*quantize.maxLoss / ppl);
    } else {
      constraints.maxLoss = quantize.maxLoss;
    }
    // The solver sums predicted losses; a measured correction > 1 means
    // they add up to more than the sum, so less of the budget is usable.
    *constraints.maxLoss /= lossCorrection;
  }
  quant::Objective objective = quantize.objective == "size"
                                   ? quant::Objective::Size
                               : quantize.objective == "speed"
                                   ? quant::Objective::Speed
                                   : quant::Objective::Quality;
  quant::BudgetSolution solution =
      quant::solveBudget(layers, constraints, objective);
  std::string budgets;
  if (quantize.avgBits)
    budgets += llvm::formatv(" --avg-bits={0}", *quantize.avgBits).str();
  if (quantize.maxWeightBytes)
    budgets +=
        llvm::formatv(" --max-weight-bytes={0:F0}", *quantize.maxWeightBytes)
            .str();
  if (quantize.maxLoss)
    budgets += llvm::formatv(" --max-loss={0}{1}",
                             quantize.maxLossIsPerplexity ? "ppl:" : "",
                             *quantize.maxLoss)
                   .str();
  if (!solution.feasible)
    return emitError(loc) << "no configuration meets" << budgets << ": "
                          << solution.explanation;

  // Each layer's rank by sensitivity at its chosen candidate, for the
  // reason.
  llvm::json::Array layerJson;
  for (size_t l = 0; l < ops.size(); ++l) {
    int choice = solution.choice[l];
    const quant::LayerCandidate &c = layers[l].candidates[choice];
    const auto &[precision, algorithm] = options[l][choice];
    std::string reason =
        layers[l].fixed >= 0
            ? "fixed by the recipe"
            : llvm::formatv("budget search ({0},{1}): predicted loss {2:e2}",
                            quantize.objective, budgets,
                            measuredLoss[l][choice])
                  .str();
    if (LayerAssignment *a = findAssignment(table.layers[l])) {
      if (layers[l].fixed < 0) {
        a->precision = precision;
        a->algorithm = algorithm;
        a->reason = reason;
        Support support = precisionSupport(precision, caps);
        a->emulated = support == Support::Emulated;
      }
    }
    if (layers[l].fixed < 0)
      ops[l]->setAttr(QOptDialect::kAssignAttrName,
                      AssignmentAttr::get(ctx, precision, algorithm, reason));
    const quant::LayerCost &cost = costs[l][choice];
    llvm::json::Object entry{{"node", table.layers[l]},
                             {"precision", precision},
                             {"algorithm", algorithm},
                             {"weight_bytes", c.weightBytes},
                             {"predicted_loss", measuredLoss[l][choice]},
                             {"fixed", layers[l].fixed >= 0}};
    if (peaks) {
      entry["bytes_moved"] = cost.bytes;
      entry["ops"] = cost.ops;
      entry["intensity"] = cost.intensity;
      entry["estimated_seconds"] = cost.seconds;
      entry["bound"] = cost.memoryBound ? "memory" : "compute";
      entry["why"] = cost.why;
    }
    layerJson.push_back(std::move(entry));
  }
  double predicted = 0;
  for (size_t l = 0; l < ops.size(); ++l)
    predicted += measuredLoss[l][solution.choice[l]];
  llvm::json::Object search{{"objective", quantize.objective},
                            {"method", solution.method},
                            {"metric", table.metric},
                            {"loss_unit", lossUnit},
                            {"predicted_loss", predicted},
                            {"sensitivity_margin", margin},
                            {"average_bits", solution.avgBits},
                            {"weight_bytes", solution.weightBytes},
                            {"sensitivity", table.toJSON()},
                            {"layers", std::move(layerJson)}};
  if (peaks) {
    search["estimated_seconds"] = solution.seconds;
    search["peaks"] = llvm::json::Object{{"fp32_flops", peaks->fp32Flops},
                                         {"int8_ops", peaks->int8Ops},
                                         {"bandwidth", peaks->bandwidth},
                                         {"source", peaks->source}};
  }
  if (constraints.avgBits)
    search["avg_bits_budget"] = *constraints.avgBits;
  if (constraints.maxWeightBytes)
    search["weight_bytes_budget"] = *constraints.maxWeightBytes;
  if (constraints.maxLoss)
    search["loss_budget"] = *constraints.maxLoss * lossCorrection;
  if (lossCorrection != 1.0)
    search["loss_correction"] = lossCorrection;
  if (table.floatNLL)
    search["float_nll"] = *table.floatNLL;
  if (table.calibrationNLL)
    search["float_nll_calibration"] = *table.calibrationNLL;
  summary["search"] = std::move(search);
  if (data.showProgress)
    llvm::errs() << llvm::formatv(
        "qopt: precision search: {0} layers, {1:F3} bits/weight, predicted "
        "{2} {3:e3} ({4}; sensitivity {5:F1} s on {6} samples)\n",
        ops.size(), solution.avgBits, lossUnit, predicted, solution.method,
        table.seconds, table.samples);
  return success();
}

} // namespace qopt
