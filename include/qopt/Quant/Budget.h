//===- Budget.h - Per-layer precision choice under budgets ------*- C++ -*-===//
//
// A multiple-choice knapsack over per-layer precision candidates: every
// layer takes exactly one candidate, and the sums of the candidates' bytes
// and predicted losses stay within the user's budgets while the chosen
// objective (loss, bytes or estimated time) is minimised. The loss model is
// additive: each candidate's loss is measured with only that layer
// quantized. Plain C++ without MLIR, so the driver and the tests share it.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_QUANT_BUDGET_H
#define QOPT_QUANT_BUDGET_H

#include <optional>
#include <string>
#include <vector>

namespace qopt::quant {

/// One precision a layer may take, with what it costs there.
struct LayerCandidate {
  /// The precision's name, e.g. "w4a16-g32" or "float".
  std::string precision;
  /// Stored bytes of the layer's weights at this precision, scales and zero
  /// points included.
  double weightBytes = 0;
  /// Number of weights of the layer (the same for all its candidates).
  double weightCount = 0;
  /// Predicted model-output loss when only this layer takes this candidate.
  double loss = 0;
  /// Estimated time of the layer at this precision (the cost model's).
  double seconds = 0;
};

struct LayerChoices {
  /// The ONNX node name.
  std::string layer;
  /// At least one.
  std::vector<LayerCandidate> candidates;
  /// The index a recipe rule forces, or -1 when the solver chooses.
  int fixed = -1;
};

/// What the search minimises: Quality the summed loss, Size the summed
/// weight bytes, Speed the summed estimated seconds.
enum class Objective { Size, Speed, Quality };

/// Budgets; an unset one does not constrain.
struct BudgetConstraints {
  /// Average bits per weight over all layers: 8 * Σ bytes / Σ weights.
  std::optional<double> avgBits;
  /// Σ weightBytes.
  std::optional<double> maxWeightBytes;
  /// Σ loss.
  std::optional<double> maxLoss;
};

struct BudgetSolution {
  /// One candidate index per layer.
  std::vector<int> choice;
  /// Totals of the chosen configuration.
  double weightBytes = 0, loss = 0, seconds = 0, avgBits = 0;
  /// Whether every budget is met.
  bool feasible = false;
  /// When infeasible: which budget cannot be met and what the closest
  /// configuration found reaches. Empty when feasible.
  std::string explanation;
  /// Which algorithm produced the choice, with its resolution, e.g. "exact
  /// DP over 32768 buckets of 12.5 bytes" or "Lagrangian greedy".
  std::string method;
};

/// Chooses one candidate per layer (fixed layers keep theirs) that meets
/// `constraints` and minimises `objective`:
///  - Quality: least Σ loss within the byte (and bits) budget; maxLoss is
///    only checked;
///  - Size: least Σ bytes within maxLoss (and the byte budget);
///  - Speed: least Σ seconds within both.
/// With one budgeted quantity besides the objective the search is a dynamic
/// program over that quantity discretised into at most kMaxBuckets buckets
/// (exact when the quantity is integral and spans fewer buckets, as bytes of
/// small instances do; otherwise within the rounding of one bucket per
/// layer, and every answer is checked against the exact totals). Speed with
/// both a byte and a loss budget relaxes the loss budget with a Lagrange
/// multiplier over that program. When the table would exceed kMaxTableCells
/// (about 32 M, i.e. more than ~1000 layers at full resolution), or a layer
/// has more than 256 candidates, a Lagrangian greedy replaces the dynamic
/// program. Ties go to fewer bytes, then less loss, then less time, then
/// lower candidate indices. An infeasible budget returns the closest
/// configuration found (for a byte budget below the minimum, the smallest
/// one) with `feasible` false and an explanation.
BudgetSolution solveBudget(const std::vector<LayerChoices> &layers,
                           const BudgetConstraints &constraints,
                           Objective objective);

/// 8 * Σ weightBytes / Σ weightCount of `choice` (one index per layer), or 0
/// without weights.
double averageBits(const std::vector<LayerChoices> &layers,
                   const std::vector<int> &choice);

/// The resolution limits of solveBudget's dynamic program.
constexpr int kMaxBuckets = 1 << 15;
constexpr long kMaxTableCells = 1L << 25;

} // namespace qopt::quant

#endif // QOPT_QUANT_BUDGET_H
