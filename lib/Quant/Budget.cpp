//===- Budget.cpp - Per-layer precision choice under budgets --------------===//
//
// Two constrained quantities (bytes, loss) and three objectives reduce to one
// shape: minimise a per-candidate cost summed over layers while one summed
// quantity (the "axis") stays under a cap. The dynamic program discretises
// the axis above each layer's minimum, so its range is the slack the budget
// leaves rather than the model's size, and keeps for every bucket of the
// summed axis the configuration of least cost. Every reachable bucket is then
// backtracked and judged on its exact totals, so rounding to buckets can cost
// optimality by at most the rounding of the last few layers but never lets an
// over-budget configuration through as feasible.
//
//===----------------------------------------------------------------------===//

#include "qopt/Quant/Budget.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>

namespace qopt::quant {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string format(const char *fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  return buf;
}

struct Totals {
  double bytes = 0, loss = 0, seconds = 0;
};

enum class Quantity { Bytes, Loss, Seconds };

double quantityOf(const LayerCandidate &c, Quantity q) {
  switch (q) {
  case Quantity::Bytes:
    return c.weightBytes;
  case Quantity::Loss:
    return c.loss;
  case Quantity::Seconds:
    return c.seconds;
  }
  return 0;
}

/// Whether `value` is within `cap`, allowing for the rounding of sums of
/// doubles (an avg-bits cap is itself a product).
bool within(double value, double cap) {
  return value <= cap + 1e-9 * std::max(1.0, std::fabs(cap));
}

using CostFn = std::function<double(const LayerCandidate &)>;
using Visitor = std::function<void(const std::vector<int> &)>;

/// The layers, the budgets as caps, and the order in which configurations
/// are preferred.
class BudgetProblem {
public:
  BudgetProblem(const std::vector<LayerChoices> &layers,
                std::optional<double> byteCap, std::optional<double> lossCap,
                Objective objective)
      : layers(layers), byteCap(byteCap), lossCap(lossCap),
        objective(objective) {
    allowed.resize(layers.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      if (layers[i].fixed >= 0) {
        allowed[i] = {layers[i].fixed};
        continue;
      }
      for (int c = 0; c < int(layers[i].candidates.size()); ++c)
        allowed[i].push_back(c);
    }
  }

  const LayerCandidate &candidate(size_t layer, int c) const {
    return layers[layer].candidates[c];
  }

  Totals totals(const std::vector<int> &choice) const {
    Totals t;
    for (size_t i = 0; i < layers.size(); ++i) {
      const LayerCandidate &c = candidate(i, choice[i]);
      t.bytes += c.weightBytes;
      t.loss += c.loss;
      t.seconds += c.seconds;
    }
    return t;
  }

  /// Summed relative overshoot of the budgets; 0 when all are met.
  double violation(const Totals &t) const {
    double v = 0;
    if (byteCap && !within(t.bytes, *byteCap))
      v += (t.bytes - *byteCap) / std::max(std::fabs(*byteCap), 1.0);
    if (lossCap && !within(t.loss, *lossCap))
      v += (t.loss - *lossCap) / std::max(std::fabs(*lossCap), 1e-30);
    return v;
  }

  double objectiveValue(const Totals &t) const {
    switch (objective) {
    case Objective::Size:
      return t.bytes;
    case Objective::Speed:
      return t.seconds;
    case Objective::Quality:
      return t.loss;
    }
    return 0;
  }

  /// Feasible before infeasible (then the smaller overshoot), then the
  /// objective, then fewer bytes, less loss, less time.
  bool better(const Totals &a, const Totals &b) const {
    double va = violation(a), vb = violation(b);
    if (va != vb)
      return va < vb;
    double oa = objectiveValue(a), ob = objectiveValue(b);
    if (oa != ob)
      return oa < ob;
    if (a.bytes != b.bytes)
      return a.bytes < b.bytes;
    if (a.loss != b.loss)
      return a.loss < b.loss;
    return a.seconds < b.seconds;
  }

  /// Each free layer's candidate of least `cost`, ties by fewer bytes, less
  /// loss, less time, lower index.
  std::vector<int> perLayerMinimum(const CostFn &cost) const {
    std::vector<int> choice(layers.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      int best = allowed[i].front();
      for (int c : allowed[i]) {
        const LayerCandidate &x = candidate(i, c), &y = candidate(i, best);
        double cx = cost(x), cy = cost(y);
        if (cx < cy ||
            (cx == cy && std::make_tuple(x.weightBytes, x.loss, x.seconds) <
                             std::make_tuple(y.weightBytes, y.loss, y.seconds)))
          best = c;
      }
      choice[i] = best;
    }
    return choice;
  }

  const std::vector<LayerChoices> &layers;
  std::optional<double> byteCap, lossCap;
  Objective objective;
  /// The candidates each layer may take, ascending.
  std::vector<std::vector<int>> allowed;
};

/// Keeps the best configuration it is shown.
class Selection {
public:
  explicit Selection(const BudgetProblem &problem) : problem(problem) {}

  void consider(const std::vector<int> &choice) {
    Totals t = problem.totals(choice);
    if (!best.empty() && !problem.better(t, bestTotals))
      return;
    best = choice;
    bestTotals = t;
  }
  Visitor visitor() {
    return [this](const std::vector<int> &c) { consider(c); };
  }
  bool feasible() const {
    return !best.empty() && problem.violation(bestTotals) == 0;
  }

  const BudgetProblem &problem;
  std::vector<int> best;
  Totals bestTotals;
};

/// The axis of one layer relative to its least value among its allowed
/// candidates.
struct AxisSpread {
  std::vector<std::vector<double>> excess; // per layer, per allowed
  double sumMinimum = 0, sumMaxExcess = 0;
};

AxisSpread spreadOf(const BudgetProblem &p, Quantity axis) {
  AxisSpread s;
  s.excess.resize(p.layers.size());
  for (size_t i = 0; i < p.layers.size(); ++i) {
    double lo = kInf, hi = -kInf;
    for (int c : p.allowed[i]) {
      lo = std::min(lo, quantityOf(p.candidate(i, c), axis));
      hi = std::max(hi, quantityOf(p.candidate(i, c), axis));
    }
    for (int c : p.allowed[i])
      s.excess[i].push_back(quantityOf(p.candidate(i, c), axis) - lo);
    s.sumMinimum += lo;
    s.sumMaxExcess += hi - lo;
  }
  return s;
}

/// Multiple-choice knapsack by dynamic programming: for every bucket of the
/// summed axis (above the layers' minima, up to `cap`), the configuration of
/// least summed `cost`; each is passed to `visit`. Returns false, visiting
/// nothing, when the table would be too large for the resolution wanted.
bool knapsackByDP(const BudgetProblem &p, Quantity axis,
                  std::optional<double> cap, const CostFn &cost,
                  const Visitor &visit, std::string &method) {
  size_t n = p.layers.size();
  for (const std::vector<int> &a : p.allowed)
    if (a.size() > 256)
      return false;
  AxisSpread spread = spreadOf(p, axis);
  double range = spread.sumMaxExcess;
  if (cap)
    range = std::max(0.0, std::min(range, *cap - spread.sumMinimum));

  // Integral excesses over a range that fits the table are solved exactly
  // with one unit per bucket; anything else is rounded to the nearest of
  // `buckets` buckets, and the rounding of up to half a bucket per layer is
  // absorbed by `slack` extra columns whose configurations the exact check
  // accepts or rejects.
  bool integral = true;
  for (const std::vector<double> &e : spread.excess)
    for (double v : e)
      integral = integral && v == std::floor(v);
  long perLayer = kMaxTableCells / long(std::max<size_t>(n, 1));
  long width, buckets;
  double quantum;
  bool exact = integral && range <= double(std::min<long>(kMaxBuckets,
                                                           perLayer - 1));
  if (exact) {
    buckets = long(std::floor(range));
    quantum = 1;
    width = buckets;
  } else {
    long slack = long(n + 1) / 2 + 1;
    buckets = std::min<long>(kMaxBuckets, perLayer - 1 - slack);
    if (buckets < 64)
      return false;
    quantum = range > 0 ? range / double(buckets) : 1;
    width = buckets + slack;
  }

  std::vector<std::vector<long>> step(n);
  for (size_t i = 0; i < n; ++i)
    for (double e : spread.excess[i])
      step[i].push_back(std::lround(e / quantum));

  size_t columns = size_t(width) + 1;
  std::vector<uint8_t> pick(n * columns);
  std::vector<double> cur(columns, kInf), next(columns);
  cur[0] = 0;
  for (size_t i = 0; i < n; ++i) {
    std::fill(next.begin(), next.end(), kInf);
    std::vector<double> costs;
    for (int c : p.allowed[i])
      costs.push_back(cost(p.candidate(i, c)));
    uint8_t *row = &pick[i * columns];
    for (size_t j = 0; j < columns; ++j) {
      if (cur[j] == kInf)
        continue;
      for (size_t a = 0; a < costs.size(); ++a) {
        size_t to = j + size_t(step[i][a]);
        if (to >= columns)
          continue;
        double v = cur[j] + costs[a];
        if (v < next[to]) {
          next[to] = v;
          row[to] = uint8_t(a);
        }
      }
    }
    cur.swap(next);
  }

  std::vector<int> choice(n);
  for (size_t end = 0; end < columns; ++end) {
    if (cur[end] == kInf)
      continue;
    size_t j = end;
    for (size_t i = n; i-- > 0;) {
      uint8_t a = pick[i * columns + j];
      choice[i] = p.allowed[i][a];
      j -= size_t(step[i][a]);
    }
    visit(choice);
  }
  method = exact ? format("exact DP over %ld buckets of 1 unit", buckets)
                 : format("DP over %ld buckets of %.6g (nearest bucket, totals "
                          "checked exactly)",
                          buckets, quantum);
  return true;
}

/// The fallback for tables too large: minimise cost + mu * axis per layer,
/// with the least mu that fits the cap found by bisection, then spend the
/// remaining room on the upgrades that save the most cost per unit of axis.
void knapsackByLagrangian(const BudgetProblem &p, Quantity axis,
                          std::optional<double> cap, const CostFn &cost,
                          const Visitor &visit, std::string &method) {
  method = "Lagrangian greedy";
  size_t n = p.layers.size();
  AxisSpread spread = spreadOf(p, axis);
  auto relaxed = [&](double mu) {
    return p.perLayerMinimum([&](const LayerCandidate &c) {
      return cost(c) + mu * quantityOf(c, axis);
    });
  };
  auto axisSum = [&](const std::vector<int> &choice) {
    double s = 0;
    for (size_t i = 0; i < n; ++i)
      s += quantityOf(p.candidate(i, choice[i]), axis);
    return s;
  };
  std::vector<int> choice = relaxed(0);
  if (!cap || within(axisSum(choice), *cap)) {
    visit(choice);
    return;
  }
  double costSpread = 0, minStep = kInf;
  for (size_t i = 0; i < n; ++i) {
    double lo = kInf, hi = -kInf;
    for (size_t a = 0; a < p.allowed[i].size(); ++a) {
      double c = cost(p.candidate(i, p.allowed[i][a]));
      lo = std::min(lo, c), hi = std::max(hi, c);
      if (spread.excess[i][a] > 0)
        minStep = std::min(minStep, spread.excess[i][a]);
    }
    costSpread += hi - lo;
  }
  // Above costSpread / minStep every layer takes its least axis value.
  double hi = (costSpread + 1) / minStep * 2, lo = 0;
  for (int it = 0; it < 100; ++it) {
    double mid = 0.5 * (lo + hi);
    (within(axisSum(relaxed(mid)), *cap) ? hi : lo) = mid;
  }
  choice = relaxed(hi);
  visit(choice);

  std::vector<size_t> at(n);
  for (size_t i = 0; i < n; ++i)
    at[i] = std::find(p.allowed[i].begin(), p.allowed[i].end(), choice[i]) -
            p.allowed[i].begin();
  double room = *cap - axisSum(choice);
  for (;;) {
    double bestRatio = 0;
    size_t bestLayer = n, bestAt = 0;
    for (size_t i = 0; i < n; ++i) {
      double c0 = cost(p.candidate(i, choice[i]));
      for (size_t a = 0; a < p.allowed[i].size(); ++a) {
        double more = spread.excess[i][a] - spread.excess[i][at[i]];
        double saved = c0 - cost(p.candidate(i, p.allowed[i][a]));
        if (more <= 0 || saved <= 0 || !within(more, room))
          continue;
        if (saved / more > bestRatio)
          bestRatio = saved / more, bestLayer = i, bestAt = a;
      }
    }
    if (bestLayer == n)
      break;
    room -= spread.excess[bestLayer][bestAt] - spread.excess[bestLayer][at[bestLayer]];
    at[bestLayer] = bestAt;
    choice[bestLayer] = p.allowed[bestLayer][bestAt];
  }
  visit(choice);
}

/// The best configuration, under `p`'s order, among those the knapsack over
/// `axis` (capped by `cap`) with per-candidate `cost` reaches.
std::vector<int> searchKnapsack(const BudgetProblem &p, Quantity axis,
                                std::optional<double> cap, const CostFn &cost,
                                std::string &method) {
  Selection s(p);
  if (!knapsackByDP(p, axis, cap, cost, s.visitor(), method))
    knapsackByLagrangian(p, axis, cap, cost, s.visitor(), method);
  return s.best;
}

double lossOf(const LayerCandidate &c) { return c.loss; }
double bytesOf(const LayerCandidate &c) { return c.weightBytes; }
double secondsOf(const LayerCandidate &c) { return c.seconds; }

/// Speed under both a byte and a loss budget: the byte budget stays the
/// knapsack's axis and the loss budget moves into the cost as
/// seconds + lambda * loss, lambda bisected (on a log scale) to the least
/// that meets it. `fallback` is a configuration known to meet both.
std::vector<int> searchSpeedUnderBoth(const BudgetProblem &p,
                                      const std::vector<int> &fallback,
                                      std::string &method) {
  Selection overall(p);
  overall.consider(fallback);
  auto attempt = [&](double lambda) {
    Selection s(p);
    std::string m;
    CostFn cost = [lambda](const LayerCandidate &c) {
      return c.seconds + lambda * c.loss;
    };
    if (!knapsackByDP(p, Quantity::Bytes, p.byteCap, cost, s.visitor(), m))
      knapsackByLagrangian(p, Quantity::Bytes, p.byteCap, cost, s.visitor(),
                           m);
    method = m;
    overall.consider(s.best);
    return s.feasible();
  };
  if (attempt(0)) {
    method += ", loss budget not binding";
    return overall.best;
  }
  double secondsSpread = 0, lossSpread = 0;
  for (size_t i = 0; i < p.layers.size(); ++i) {
    double sLo = kInf, sHi = -kInf, lLo = kInf, lHi = -kInf;
    for (int c : p.allowed[i]) {
      const LayerCandidate &x = p.candidate(i, c);
      sLo = std::min(sLo, x.seconds), sHi = std::max(sHi, x.seconds);
      lLo = std::min(lLo, x.loss), lHi = std::max(lHi, x.loss);
    }
    secondsSpread += sHi - sLo, lossSpread += lHi - lLo;
  }
  double lo = 0,
         hi = lossSpread > 0 ? std::max(secondsSpread, 1e-30) / lossSpread : 1;
  bool found = false;
  for (int it = 0; it < 12 && !found; ++it) {
    found = attempt(hi);
    if (!found)
      lo = hi, hi *= 8;
  }
  if (found)
    for (int it = 0; it < 12; ++it) {
      double mid = lo > 0 ? std::sqrt(lo * hi) : hi / 8;
      (attempt(mid) ? hi : lo) = mid;
    }
  method += format(", loss budget as a Lagrange multiplier (%.3g)", hi);
  return overall.best;
}

} // namespace

double averageBits(const std::vector<LayerChoices> &layers,
                   const std::vector<int> &choice) {
  double bytes = 0, weights = 0;
  for (size_t i = 0; i < layers.size() && i < choice.size(); ++i) {
    bytes += layers[i].candidates[choice[i]].weightBytes;
    weights += layers[i].candidates[choice[i]].weightCount;
  }
  return weights > 0 ? 8 * bytes / weights : 0;
}

BudgetSolution solveBudget(const std::vector<LayerChoices> &layers,
                           const BudgetConstraints &constraints,
                           Objective objective) {
  BudgetSolution solution;
  for (const LayerChoices &l : layers) {
    if (l.candidates.empty()) {
      solution.explanation = "layer '" + l.layer + "' has no candidate";
      return solution;
    }
    if (l.fixed >= int(l.candidates.size())) {
      solution.explanation = format(
          "layer '%s' is fixed to candidate %d of %zu", l.layer.c_str(),
          l.fixed, l.candidates.size());
      return solution;
    }
  }

  double weights = 0;
  for (const LayerChoices &l : layers)
    weights += l.candidates.front().weightCount;
  std::optional<double> byteCap = constraints.maxWeightBytes;
  if (constraints.avgBits) {
    double fromBits = *constraints.avgBits * weights / 8;
    byteCap = byteCap ? std::min(*byteCap, fromBits) : fromBits;
  }
  std::optional<double> lossCap = constraints.maxLoss;
  BudgetProblem p(layers, byteCap, lossCap, objective);

  auto finish = [&](std::vector<int> choice) {
    Totals t = p.totals(choice);
    solution.choice = std::move(choice);
    solution.weightBytes = t.bytes;
    solution.loss = t.loss;
    solution.seconds = t.seconds;
    solution.avgBits = averageBits(layers, solution.choice);
    solution.feasible = p.violation(t) == 0;
    return solution;
  };
  auto bytesBudget = [&] {
    std::string s = format("%.6g bytes", *byteCap);
    if (constraints.avgBits)
      s += format(" (%.4g bits per weight)", 8 * *byteCap / weights);
    return s;
  };

  std::vector<int> smallest = p.perLayerMinimum(bytesOf);
  Totals tSmallest = p.totals(smallest);
  if (byteCap && !within(tSmallest.bytes, *byteCap)) {
    solution.method = "every free layer at its fewest bytes";
    finish(smallest);
    solution.explanation = format(
        "the byte budget of %s cannot be met: the smallest configuration "
        "needs at least %.6g bytes (%.4g bits per weight)",
        bytesBudget().c_str(), tSmallest.bytes, solution.avgBits);
    return solution;
  }
  std::vector<int> leastLoss = p.perLayerMinimum(lossOf);
  Totals tLeastLoss = p.totals(leastLoss);
  if (lossCap && !within(tLeastLoss.loss, *lossCap)) {
    solution.method = "every free layer at its least loss";
    finish(leastLoss);
    solution.explanation = format(
        "the loss budget of %.6g cannot be met: the least loss reachable is "
        "%.6g (every free layer at its least-loss candidate)",
        *lossCap, tLeastLoss.loss);
    return solution;
  }

  std::vector<int> choice;
  std::string &method = solution.method;
  switch (objective) {
  case Objective::Quality:
    if (!byteCap) {
      method = "every free layer at its least loss";
      choice = leastLoss;
    } else {
      choice = searchKnapsack(p, Quantity::Bytes, byteCap, lossOf, method);
    }
    break;
  case Objective::Size:
    if (!lossCap) {
      method = "every free layer at its fewest bytes";
      choice = smallest;
    } else {
      choice = searchKnapsack(p, Quantity::Bytes, byteCap, lossOf, method);
    }
    break;
  case Objective::Speed:
    if (!byteCap && !lossCap) {
      method = "every free layer at its least time";
      choice = p.perLayerMinimum(secondsOf);
    } else if (!lossCap) {
      choice = searchKnapsack(p, Quantity::Bytes, byteCap, secondsOf, method);
    } else if (!byteCap) {
      choice = searchKnapsack(p, Quantity::Loss, lossCap, secondsOf, method);
    } else {
      BudgetProblem quality(layers, byteCap, lossCap, Objective::Quality);
      std::vector<int> safe =
          searchKnapsack(quality, Quantity::Bytes, byteCap, lossOf, method);
      choice = quality.violation(quality.totals(safe)) == 0
                   ? searchSpeedUnderBoth(p, safe, method)
                   : safe;
    }
    break;
  }
  finish(choice);
  // With one budget, its own extreme meets it; a search that lost every
  // feasible configuration to rounding falls back to that.
  if (!solution.feasible && !(byteCap && lossCap)) {
    solution.method += "; nothing feasible at this resolution, so " +
                       std::string(byteCap ? "the smallest" : "least loss");
    finish(byteCap ? smallest : leastLoss);
  }
  if (solution.feasible || !byteCap || !lossCap)
    return solution;

  // Each budget alone can be met, both together cannot (or not within the
  // search's resolution): report what each one leaves for the other.
  BudgetProblem quality(layers, byteCap, std::nullopt, Objective::Quality);
  std::string m;
  Totals withinBytes = quality.totals(
      searchKnapsack(quality, Quantity::Bytes, byteCap, lossOf, m));
  BudgetProblem size(layers, std::nullopt, lossCap, Objective::Size);
  Totals withinLoss = size.totals(
      searchKnapsack(size, Quantity::Bytes, std::nullopt, lossOf, m));
  solution.explanation = format(
      "the byte budget of %s and the loss budget of %.6g cannot both be met: "
      "within the byte budget the least loss found is %.6g, and meeting the "
      "loss budget needs at least %.6g bytes",
      bytesBudget().c_str(), *lossCap, withinBytes.loss, withinLoss.bytes);
  return solution;
}

} // namespace qopt::quant
