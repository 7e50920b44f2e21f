//===- GPTQ.cpp - Hessian-aware integer weight quantization ---------------===//
//
// The linear algebra runs in doubles: H of a real layer is badly
// conditioned, and the error feedback accumulates over thousands of
// columns. Codes and scales are produced by the same helpers RTN uses
// (chooseGroupParams, quantizeCode), so the packed result is bit-compatible
// with the kernels, and GPTQ with H = I reproduces RTN exactly.
//
//===----------------------------------------------------------------------===//

#include "qopt/Quant/GPTQ.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace qopt::quant {

namespace {

/// Lowers (w - q) H (w - q)ᵀ for one row with its group structure kept:
/// single-code steps of ±1 (exact change 2t (Hδ)_i + t² H_ii for a value
/// step t), then the group scales that minimise the error for the current
/// codes (a groups x groups least-squares system), alternately. Each step
/// only ever lowers the error, so the result is never worse than the
/// sweep's.
template <typename HessianT>
void refineRow(const float *w, int64_t k, const WeightScheme &scheme,
               const HessianT &h, int rounds, int32_t *codes,
               GroupParams *params) {
  int64_t g = scheme.groupLength(k), groups = scheme.numGroups(k);
  auto value = [&](int64_t i, int32_t c) {
    return double(dequantizeCode(c, params[i / g], scheme));
  };
  Eigen::VectorXd delta(k), target(k);
  for (int64_t i = 0; i < k; ++i) {
    target[i] = w[i];
    delta[i] = value(i, codes[i]) - target[i];
  }
  Eigen::VectorXd grad = h * delta; // Hδ
  for (int round = 0; round < rounds; ++round) {
    bool changed = false;
    for (int64_t i = 0; i < k; ++i) {
      double hii = h(i, i);
      if (hii <= 0)
        continue;
      int32_t best = codes[i];
      double bestGain = 0, bestStep = 0;
      for (int32_t c : {codes[i] - 1, codes[i] + 1}) {
        if (c < scheme.qmin() || c > scheme.qmax())
          continue;
        double t = value(i, c) - value(i, codes[i]);
        double change = 2 * t * grad[i] + t * t * hii;
        if (change < bestGain - 1e-12 * std::fabs(grad[i] * t))
          best = c, bestGain = change, bestStep = t;
      }
      if (best == codes[i])
        continue;
      codes[i] = best;
      delta[i] += bestStep;
      grad.noalias() += bestStep * h.col(i);
      changed = true;
    }
    // Scales: δ = Σ_g s_g a_g - w with a_g = (code - zero) on group g.
    Eigen::MatrixXd a = Eigen::MatrixXd::Zero(k, groups);
    for (int64_t i = 0; i < k; ++i)
      a(i, i / g) = double(codes[i] - params[i / g].zero);
    Eigen::MatrixXd ha = h * a;
    Eigen::MatrixXd normal = a.transpose() * ha;
    Eigen::VectorXd rhs = ha.transpose() * target;
    Eigen::VectorXd fitted = normal.ldlt().solve(rhs);
    bool finite = fitted.allFinite();
    for (int64_t gi = 0; gi < groups && finite; ++gi)
      finite = float(fitted[gi]) != 0 && std::isfinite(float(fitted[gi]));
    if (finite) {
      // Measured with the float scales the kernels will use; kept only if
      // the error went down.
      double before = delta.dot(grad);
      std::vector<float> old(groups);
      for (int64_t gi = 0; gi < groups; ++gi) {
        old[gi] = params[gi].scale;
        params[gi].scale = scheme.storedScale(float(fitted[gi]));
      }
      Eigen::VectorXd newDelta(k);
      for (int64_t i = 0; i < k; ++i)
        newDelta[i] = value(i, codes[i]) - target[i];
      Eigen::VectorXd newGrad = h * newDelta;
      if (newDelta.dot(newGrad) < before) {
        delta = std::move(newDelta);
        grad = std::move(newGrad);
        changed = true;
      } else {
        for (int64_t gi = 0; gi < groups; ++gi)
          params[gi].scale = old[gi];
      }
    }
    if (!changed)
      break;
  }
}


using RowMajorMatrix =
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <typename T> bool allFinite(const T *values, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(values[i]))
      return false;
  return true;
}

/// The upper-triangular U with H⁻¹ = UᵀU, or false when H is not
/// numerically positive definite. With J the reversal permutation,
/// J H J = L Lᵀ gives H⁻¹ = (J L⁻¹ J)ᵀ (J L⁻¹ J), and J L⁻¹ J is upper
/// triangular: one factorisation and one triangular inverse instead of
/// inverting H and factorising again.
bool upperCholeskyOfInverse(const Eigen::MatrixXd &h, Eigen::MatrixXd &u) {
  Eigen::LLT<Eigen::MatrixXd> llt(h.reverse());
  if (llt.info() != Eigen::Success)
    return false;
  Eigen::MatrixXd lowerInverse = Eigen::MatrixXd::Identity(h.rows(), h.cols());
  llt.matrixL().solveInPlace(lowerInverse);
  u = lowerInverse.reverse();
  return u.allFinite();
}

} // namespace

double layerOutputError(const float *w, const QuantizedMatrix &q,
                        const double *hessian, const float *inputScales) {
  int64_t rows = q.rows, k = q.k;
  Eigen::Map<const RowMajorMatrix> h(hessian, k, k);
  // A slab of rows at a time keeps the difference matrix small for wide
  // layers while still handing Eigen a matrix product.
  const int64_t slab = 64;
  double total = 0;
  RowMajorMatrix diff;
  for (int64_t r0 = 0; r0 < rows; r0 += slab) {
    int64_t n = std::min(slab, rows - r0);
    diff.resize(n, k);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t i = 0; i < k; ++i) {
        double value = q.value(r0 + r, i);
        if (inputScales)
          value /= double(inputScales[i]);
        diff(r, i) = double(w[(r0 + r) * k + i]) - value;
      }
    }
    total += (diff * h).cwiseProduct(diff).sum();
  }
  return total;
}

std::string unsupportedSchemeReason(const WeightScheme &scheme) {
  if (scheme.kind != WeightKind::Int)
    return "only integer weights can be quantized with a Hessian (nf4, fp8 "
           "and f16 use round-to-nearest)";
  if (scheme.bits < 2 || scheme.bits > 8)
    return "integer weights need 2 to 8 bits, not " +
           std::to_string(scheme.bits);
  if (scheme.groupSize < 0)
    return "the group size must be positive, or 0 for one group per row";
  return "";
}

std::vector<float> searchClipRatios(const float *w, int64_t rows, int64_t k,
                                    const WeightScheme &scheme,
                                    const double *hessian, int grid,
                                    double maxShrink,
                                    const float *inputScales) {
  int64_t g = scheme.groupLength(k), groups = scheme.numGroups(k);
  std::vector<float> ratios(rows * groups, 1.f);
  assert(maxShrink < 1 && "a clip ratio of 0 leaves no range");
  if (grid < 1 || maxShrink <= 0)
    return ratios;
  Eigen::Map<const RowMajorMatrix> h(hessian, k, k);
  Eigen::VectorXd diff(g);
  for (int64_t gi = 0; gi < groups; ++gi) {
    int64_t begin = gi * g, n = std::min(k, begin + g) - begin;
    auto block = h.block(begin, begin, n, n);
    for (int64_t r = 0; r < rows; ++r) {
      const float *values = w + r * k + begin;
      double best = 0;
      for (int t = 0; t <= grid; ++t) {
        float ratio = float(1.0 - maxShrink * t / grid);
        GroupParams p = chooseGroupParams(values, n, scheme, ratio);
        for (int64_t i = 0; i < n; ++i) {
          float q =
              dequantizeCode(quantizeCode(values[i], p, scheme), p, scheme);
          double d = double(values[i]) - double(q);
          diff[i] = inputScales ? d / double(inputScales[begin + i]) : d;
        }
        double err = diff.head(n).dot(block * diff.head(n));
        // Strictly better only: ties keep the wider range, and t = 0 is
        // plain RTN, so the search never loses to it on this block.
        if (t == 0 || err < best) {
          best = err;
          ratios[r * groups + gi] = ratio;
        }
      }
    }
  }
  return ratios;
}

bool quantizeGPTQ(const float *w, int64_t rows, int64_t k,
                  const WeightScheme &scheme, const double *hessian,
                  const GPTQOptions &options, GPTQResult &result,
                  std::string &error) {
  error = unsupportedSchemeReason(scheme);
  if (!error.empty())
    return false;
  if (rows < 1 || k < 1) {
    error = "the weight matrix is empty";
    return false;
  }
  if (options.actOrder && !options.staticGroups) {
    error = "act-order needs static groups: in descending-activation order "
            "a group's columns are not visited together";
    return false;
  }
  if (options.blockSize < 1 || !(options.dampening >= 0) ||
      !std::isfinite(options.dampening)) {
    error = "the block size must be positive and the dampening a finite "
            "non-negative fraction";
    return false;
  }
  if (options.searchClip && (options.clipGrid < 1 || options.maxShrink < 0 ||
                             options.maxShrink >= 1)) {
    error = "the clip search needs a positive grid and a maximum shrink in "
            "[0, 1)";
    return false;
  }
  if (!allFinite(w, rows * k)) {
    error = "the weights contain NaN or Inf";
    return false;
  }
  if (!allFinite(hessian, k * k)) {
    error = "the Hessian contains NaN or Inf";
    return false;
  }

  // Symmetrise: accumulated Gram matrices are only symmetric up to
  // rounding, and the factorisation reads one triangle.
  Eigen::Map<const RowMajorMatrix> given(hessian, k, k);
  Eigen::MatrixXd h = 0.5 * (given + given.transpose());
  Eigen::MatrixXd weights =
      Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic,
                                     Eigen::RowMajor>>(w, rows, k)
          .cast<double>();

  // An input that was never active contributes nothing to H; a unit
  // diagonal keeps H invertible and a zero weight keeps its (irrelevant)
  // column from feeding error into the others.
  result.deadChannels = 0;
  for (int64_t i = 0; i < k; ++i) {
    if (h(i, i) == 0) {
      h(i, i) = 1;
      weights.col(i).setZero();
      ++result.deadChannels;
    }
  }

  // Parameters and clip ratios from the (dead-zeroed) original weights, in
  // the original column order, exactly as RTN would choose them.
  int64_t g = scheme.groupLength(k), groups = scheme.numGroups(k);
  std::vector<float> original(rows * k);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i)
      original[r * k + i] = float(weights(r, i));
  std::vector<float> clip(rows * groups, 1.f);
  if (options.searchClip)
    clip = searchClipRatios(original.data(), rows, k, scheme, hessian,
                            options.clipGrid, options.maxShrink);
  std::vector<GroupParams> params(rows * groups);
  if (options.staticGroups) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t gi = 0; gi < groups; ++gi) {
        int64_t begin = gi * g, end = std::min(k, begin + g);
        params[r * groups + gi] =
            chooseGroupParams(&original[r * k + begin], end - begin, scheme,
                              clip[r * groups + gi]);
      }
    }
  }

  // Sweep position j quantizes original column order[j].
  std::vector<int64_t> order(k);
  std::iota(order.begin(), order.end(), 0);
  if (options.actOrder) {
    Eigen::VectorXd diag = h.diagonal();
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return diag[a] > diag[b]; });
    Eigen::MatrixXd permutedH(k, k), permutedW(rows, k);
    for (int64_t j = 0; j < k; ++j) {
      permutedW.col(j) = weights.col(order[j]);
      for (int64_t i = 0; i < k; ++i)
        permutedH(i, j) = h(order[i], order[j]);
    }
    h = std::move(permutedH);
    weights = std::move(permutedW);
  }

  double meanDiag = h.diagonal().mean();
  Eigen::MatrixXd u;
  bool factored = false;
  double damp = options.dampening;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Eigen::MatrixXd damped = h;
    damped.diagonal().array() += damp * meanDiag;
    if ((factored = upperCholeskyOfInverse(damped, u)))
      break;
    // Tenfold per retry; an undamped H that fails gets GPTQ's usual 0.01.
    if (attempt < 2)
      damp = damp > 0 ? damp * 10 : 0.01;
  }
  result.dampeningUsed = factored ? damp : 0;
  if (!factored) {
    char last[32];
    std::snprintf(last, sizeof(last), "%g", damp);
    error = std::string("the Hessian is not positive definite even with a "
                        "dampening of ") +
            last + " of its mean diagonal";
    return false;
  }

  // Without static groups a group's parameters come from its weights as
  // updated so far; aligning batches to groups makes the whole group
  // up to date when the sweep reaches its first column.
  int64_t blockSize = options.blockSize;
  if (!options.staticGroups && scheme.groupSize)
    blockSize = (blockSize + g - 1) / g * g;
  std::vector<int32_t> codes(rows * k);
  std::vector<float> groupValues(g);
  Eigen::MatrixXd blockError;
  for (int64_t b0 = 0; b0 < k; b0 += blockSize) {
    int64_t b1 = std::min(k, b0 + blockSize), width = b1 - b0;
    blockError.setZero(rows, width);
    for (int64_t j = b0; j < b1; ++j) {
      int64_t column = order[j], group = column / g;
      if (!options.staticGroups && column % g == 0) {
        int64_t n = std::min(k, column + g) - column;
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t i = 0; i < n; ++i)
            groupValues[i] = float(weights(r, j + i));
          params[r * groups + group] = chooseGroupParams(
              groupValues.data(), n, scheme, clip[r * groups + group]);
        }
      }
      double pivot = u(j, j);
      for (int64_t r = 0; r < rows; ++r) {
        const GroupParams &p = params[r * groups + group];
        int32_t c = quantizeCode(float(weights(r, j)), p, scheme);
        codes[r * k + column] = c;
        double q = dequantizeCode(c, p, scheme);
        blockError(r, j - b0) = (weights(r, j) - q) / pivot;
      }
      // Compensate within the batch now; the columns after it wait for one
      // matrix product per batch.
      int64_t rest = b1 - j - 1;
      if (rest > 0)
        weights.middleCols(j + 1, rest).noalias() -=
            blockError.col(j - b0) * u.row(j).segment(j + 1, rest);
    }
    if (b1 < k)
      weights.rightCols(k - b1).noalias() -=
          blockError * u.block(b0, b1, width, k - b1);
  }

  if (options.refineRounds > 0) {
    Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic,
                                   Eigen::RowMajor>>
        exact(hessian, k, k);
    for (int64_t r = 0; r < rows; ++r)
      refineRow(w + r * k, k, scheme, exact, options.refineRounds,
                &codes[r * k], &params[r * groups]);
  }
  result.matrix = makeQuantizedMatrix(rows, k, scheme);
  for (int64_t r = 0; r < rows; ++r)
    storeQuantizedRow(result.matrix, r, &codes[r * k], &params[r * groups]);
  result.error = layerOutputError(w, result.matrix, hessian);
  result.rtnError =
      layerOutputError(w, quantizeRTN(w, rows, k, scheme), hessian);
  return true;
}

} // namespace qopt::quant
