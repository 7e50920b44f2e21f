//===- GPTQTest.cpp - GPTQ, AWQ and the H-based error in lib/Quant --------===//
//
// H = XᵀX of synthetic inputs stands in for calibration statistics. The
// property tests draw their seed at random and log it; a failing seed
// belongs in a fixed regression case.
//
//===----------------------------------------------------------------------===//

#include "qopt/Quant/GPTQ.h"
#include "qopt/Quant/AWQ.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>

using namespace qopt::quant;

namespace {

WeightScheme intScheme(unsigned bits, int64_t group, bool symmetric) {
  WeightScheme s;
  s.bits = bits;
  s.groupSize = group;
  s.symmetric = symmetric;
  return s;
}

std::string describe(const WeightScheme &s, int64_t k) {
  return std::to_string(s.bits) + "-bit " +
         (s.groupSize ? "g" + std::to_string(s.groupSize) : "per-channel") +
         (s.symmetric ? " sym" : " asym") + " k=" + std::to_string(k);
}

std::vector<float> normalMatrix(std::mt19937 &rng, int64_t rows, int64_t k) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> m(rows * k);
  for (float &v : m)
    v = normal(rng);
  return m;
}

/// [n, k] inputs with the structure real activations have and that makes
/// the rounding errors of different columns interact: a shared low-rank
/// component, a few near-duplicate columns and a few loud ones.
std::vector<double> correlatedInputs(std::mt19937 &rng, int64_t n, int64_t k) {
  std::normal_distribution<double> normal(0.0, 1.0);
  const int64_t factors = 4;
  std::vector<double> loading(factors * k);
  for (double &v : loading)
    v = normal(rng);
  std::vector<double> x(n * k);
  for (int64_t t = 0; t < n; ++t) {
    double f[factors];
    for (double &v : f)
      v = normal(rng);
    for (int64_t j = 0; j < k; ++j) {
      double v = normal(rng);
      for (int64_t a = 0; a < factors; ++a)
        v += 0.7 * f[a] * loading[a * k + j];
      x[t * k + j] = v;
    }
    for (int64_t j = 3; j < k; j += 29) // near-duplicates of a neighbour
      x[t * k + j] = x[t * k + j - 1] + 0.05 * normal(rng);
    for (int64_t j = 7; j < k; j += 37) // loud channels
      x[t * k + j] *= 8;
  }
  return x;
}

std::vector<double> gram(const std::vector<double> &x, int64_t n, int64_t k) {
  std::vector<double> h(k * k, 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        h[i * k + j] += x[t * k + i] * x[t * k + j];
  return h;
}

/// ||X Wᵀ - X Q_effᵀ||², with Q_eff(r, i) = q.value(r, i) / s_i.
double directOutputError(const std::vector<double> &x, int64_t n,
                         const float *w, const QuantizedMatrix &q,
                         const float *scales = nullptr) {
  double total = 0;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < q.rows; ++r) {
      double d = 0;
      for (int64_t i = 0; i < q.k; ++i) {
        double qv = q.value(r, i);
        if (scales)
          qv /= scales[i];
        d += x[t * q.k + i] * (double(w[r * q.k + i]) - qv);
      }
      total += d * d;
    }
  }
  return total;
}

void expectSameMatrix(const QuantizedMatrix &a, const QuantizedMatrix &b) {
  EXPECT_EQ(a.packed, b.packed);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.zeroPoints, b.zeroPoints);
}

/// Codes in range, rows of exactly k codes (a short last group stores no
/// padding) with nothing in their spare bits: what the kernels need.
void expectKernelReady(const QuantizedMatrix &q) {
  const WeightScheme &s = q.scheme;
  ASSERT_EQ(int64_t(q.packed.size()), q.rows * s.packedRowBytes(q.k));
  ASSERT_EQ(int64_t(q.scales.size()), q.rows * s.numGroups(q.k));
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t i = 0; i < q.k; ++i) {
      ASSERT_GE(q.code(r, i), s.qmin());
      ASSERT_LE(q.code(r, i), s.qmax());
    }
    ASSERT_EQ(s.packedRowBytes(q.k), packedRowBytes(q.k, s.bits));
    const uint8_t *row = &q.packed[r * s.packedRowBytes(q.k)];
    for (int64_t i = q.k; (i + 1) * s.bits <= 8 * s.packedRowBytes(q.k); ++i)
      ASSERT_EQ(unpackCode(row, i, s.bits, false), 0)
          << "spare bits of row " << r;
  }
}

const WeightScheme kSchemes[] = {
    intScheme(4, 32, true), intScheme(3, 32, false), intScheme(2, 0, false)};

} // namespace

TEST(GPTQHelpers, UnclippedParamsAreRTNs) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t rows = 5, k = 172;
  std::vector<float> w = normalMatrix(rng, rows, k);
  for (const WeightScheme &s :
       {intScheme(4, 32, true), intScheme(3, 64, false), intScheme(8, 0, true),
        intScheme(2, 128, false)}) {
    SCOPED_TRACE(describe(s, k));
    std::vector<float> ones(rows * s.numGroups(k), 1.f);
    expectSameMatrix(quantizeRTN(w.data(), rows, k, s, ones.data()),
                     quantizeRTN(w.data(), rows, k, s));
  }
}

TEST(GPTQHelpers, ClipRatioShrinksTheRange) {
  float v[4] = {0.8f, -0.4f, 0.1f, 0.f};
  WeightScheme s = intScheme(4, 4, true);
  // Symmetric 4-bit: scale = extreme * ratio / -8.
  EXPECT_FLOAT_EQ(chooseGroupParams(v, 4, s).scale, 0.8f / -8.f);
  EXPECT_FLOAT_EQ(chooseGroupParams(v, 4, s, 0.5f).scale, 0.4f / -8.f);
  GroupParams half = chooseGroupParams(v, 4, s, 0.5f);
  EXPECT_EQ(quantizeCode(0.8f, half, s), -8) << "clipped to the end code";
  // Asymmetric 2-bit: range [-0.4, 0.8] * 0.5 over 3 steps.
  WeightScheme a = intScheme(2, 4, false);
  GroupParams p = chooseGroupParams(v, 4, a, 0.5f);
  EXPECT_FLOAT_EQ(p.scale, 0.6f / 3.f);
  EXPECT_EQ(p.zero, 1);
  EXPECT_EQ(quantizeCode(0.8f, p, a), 3);
  EXPECT_FLOAT_EQ(dequantizeCode(3, p, a), 2 * 0.2f);
}

TEST(GPTQ, IdentityHessianReproducesRTN) {
  // With H = I the columns do not interact: the inverse's factor is
  // diagonal, no error is fed forward and every code is RTN's.
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (int64_t k : {172, 64}) {
    std::vector<double> h(k * k, 0.0);
    for (int64_t i = 0; i < k; ++i)
      h[i * k + i] = 1;
    int64_t rows = 7;
    std::vector<float> w = normalMatrix(rng, rows, k);
    for (const WeightScheme &s :
         {intScheme(4, 32, true), intScheme(3, 32, false),
          intScheme(2, 0, false), intScheme(8, 0, true),
          intScheme(4, 128, true)}) {
      for (bool staticGroups : {true, false}) {
        SCOPED_TRACE(describe(s, k) + (staticGroups ? " static" : " dynamic"));
        GPTQOptions options;
        options.actOrder = false;
        options.staticGroups = staticGroups;
        options.blockSize = 48; // batches that do not align with k
        options.refineRounds = 0; // the sweep alone; refinement is below
        GPTQResult result;
        std::string error;
        ASSERT_TRUE(quantizeGPTQ(w.data(), rows, k, s, h.data(), options,
                                 result, error))
            << error;
        expectSameMatrix(result.matrix, quantizeRTN(w.data(), rows, k, s));
        EXPECT_EQ(result.error, result.rtnError);
      }
    }
  }
}

TEST(GPTQ, HandComputedThreeColumns) {
  // w = [0.3, 0.55, 1.0], 4-bit symmetric per-channel: scale = 1.0 / -8 =
  // -0.125. H couples columns 0 and 1:
  //   H = [[1, .5, 0], [.5, 1, 0], [0, 0, 1]],
  //   H⁻¹ = [[4/3, -2/3, 0], [-2/3, 4/3, 0], [0, 0, 1]],
  //   U (H⁻¹ = UᵀU): U00 = sqrt(4/3), U01 = (-2/3) / sqrt(4/3), U11 = 1.
  // Column 0: 0.3 / -0.125 = -2.4 -> code -2, q = 0.25, err = 0.05 / U00;
  //   w1 -= err * U01 = 0.05 * (-2/3) / (4/3) = -0.025  ->  w1 = 0.575.
  // Column 1: 0.575 / -0.125 = -4.6 -> code -5 (RTN: -4.4 -> -4).
  // Column 2: -8 in both (U02 = U12 = 0: nothing reaches it).
  // Errors d H dᵀ: GPTQ d = [0.05, -0.075, 0]:
  //   0.0025 + 0.005625 + 2 * 0.5 * 0.05 * -0.075 = 0.004375;
  //   RTN d = [0.05, 0.05, 0]: 0.0025 + 0.0025 + 0.0025 = 0.0075.
  float w[3] = {0.3f, 0.55f, 1.0f};
  double h[9] = {1, 0.5, 0, 0.5, 1, 0, 0, 0, 1};
  GPTQOptions options;
  options.dampening = 0;
  options.actOrder = false;
  options.refineRounds = 0; // the hand computation is of the sweep
  GPTQResult result;
  std::string error;
  ASSERT_TRUE(
      quantizeGPTQ(w, 1, 3, intScheme(4, 0, true), h, options, result, error))
      << error;
  EXPECT_EQ(result.matrix.code(0, 0), -2);
  EXPECT_EQ(result.matrix.code(0, 1), -5);
  EXPECT_EQ(result.matrix.code(0, 2), -8);
  EXPECT_FLOAT_EQ(result.matrix.scales[0], -0.125f);
  EXPECT_NEAR(result.error, 0.004375, 1e-7);
  EXPECT_NEAR(result.rtnError, 0.0075, 1e-7);
  EXPECT_EQ(result.dampeningUsed, 0);
}

TEST(GPTQ, BeatsRTNOnCorrelatedInputs) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t n = 384, rows = 24;
  for (int64_t k : {172, 64}) {
    std::vector<double> x = correlatedInputs(rng, n, k);
    std::vector<double> h = gram(x, n, k);
    std::vector<float> w = normalMatrix(rng, rows, k);
    for (const WeightScheme &s : kSchemes) {
      struct Variant {
        const char *name;
        bool actOrder, staticGroups, searchClip;
      } variants[] = {{"act-order", true, true, false},
                      {"static", false, true, false},
                      {"dynamic", false, false, false},
                      {"act-order+clip", true, true, true}};
      for (const Variant &v : variants) {
        SCOPED_TRACE(describe(s, k) + " " + v.name);
        GPTQOptions options;
        options.actOrder = v.actOrder;
        options.staticGroups = v.staticGroups;
        options.searchClip = v.searchClip;
        options.blockSize = 40;
        GPTQResult result;
        std::string error;
        ASSERT_TRUE(quantizeGPTQ(w.data(), rows, k, s, h.data(), options,
                                 result, error))
            << error;
        expectKernelReady(result.matrix);
        EXPECT_LT(result.error, result.rtnError);
        EXPECT_DOUBLE_EQ(result.rtnError,
                         layerOutputError(w.data(),
                                          quantizeRTN(w.data(), rows, k, s),
                                          h.data()));
        std::printf("[ GPTQ     ] %-26s %-15s error / rtn = %.3f\n",
                    describe(s, k).c_str(), v.name,
                    result.error / result.rtnError);
      }
    }
  }
}

// With half scales every scale GPTQ keeps (RTN's, the clip search's and
// the refits') is a half, and GPTQ still beats RTN at the same storage.
TEST(GPTQ, HalfScalesStayHalves) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t n = 384, rows = 16, k = 64;
  std::vector<double> x = correlatedInputs(rng, n, k);
  std::vector<double> h = gram(x, n, k);
  std::vector<float> w = normalMatrix(rng, rows, k);
  for (WeightScheme s : kSchemes) {
    s.halfScales = true;
    for (bool clip : {false, true}) {
      SCOPED_TRACE(describe(s, k) + (clip ? " clip" : ""));
      GPTQOptions options;
      options.searchClip = clip;
      GPTQResult result;
      std::string error;
      ASSERT_TRUE(
          quantizeGPTQ(w.data(), rows, k, s, h.data(), options, result, error))
          << error;
      for (float scale : result.matrix.scales)
        ASSERT_EQ(halfToFloat(floatToHalf(scale)), scale);
      EXPECT_LT(result.error, result.rtnError);
    }
  }
}

TEST(GPTQ, DeadChannelsAreQuantizedToZero) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t n = 256, k = 64, rows = 8;
  std::vector<double> x = correlatedInputs(rng, n, k);
  for (int64_t t = 0; t < n; ++t)
    x[t * k + 5] = x[t * k + 40] = 0; // never active
  std::vector<double> h = gram(x, n, k);
  std::vector<float> w = normalMatrix(rng, rows, k);
  for (const WeightScheme &s : kSchemes) {
    SCOPED_TRACE(describe(s, k));
    GPTQResult result;
    std::string error;
    ASSERT_TRUE(quantizeGPTQ(w.data(), rows, k, s, h.data(), GPTQOptions(),
                             result, error))
        << error;
    EXPECT_EQ(result.deadChannels, 2);
    EXPECT_LT(result.error, result.rtnError);
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_EQ(result.matrix.value(r, 5), 0.f);
      EXPECT_EQ(result.matrix.value(r, 40), 0.f);
    }
  }
}

TEST(GPTQ, RejectsWhatItCannotRun) {
  float w[4] = {0.1f, -0.2f, 0.3f, 0.4f};
  double h[4] = {2, 0.5, 0.5, 1};
  WeightScheme s = intScheme(4, 0, true);
  GPTQResult result;
  std::string error;
  ASSERT_TRUE(quantizeGPTQ(w, 2, 2, s, h, GPTQOptions(), result, error))
      << error;

  double nan[4] = {2, std::numeric_limits<double>::quiet_NaN(), 0.5, 1};
  EXPECT_FALSE(quantizeGPTQ(w, 2, 2, s, nan, GPTQOptions(), result, error));
  EXPECT_NE(error.find("NaN"), std::string::npos) << error;

  float inf[4] = {0.1f, std::numeric_limits<float>::infinity(), 0.3f, 0.4f};
  error.clear();
  EXPECT_FALSE(quantizeGPTQ(inf, 2, 2, s, h, GPTQOptions(), result, error));
  EXPECT_FALSE(error.empty());

  // Eigenvalues 6 and -4: not positive definite with any dampening up to 1.
  double indefinite[4] = {1, -5, -5, 1};
  error.clear();
  EXPECT_FALSE(
      quantizeGPTQ(w, 2, 2, s, indefinite, GPTQOptions(), result, error));
  EXPECT_NE(error.find("positive definite"), std::string::npos) << error;

  WeightScheme nf4 = s;
  nf4.kind = WeightKind::NF4;
  error.clear();
  EXPECT_FALSE(quantizeGPTQ(w, 2, 2, nf4, h, GPTQOptions(), result, error));
  EXPECT_FALSE(error.empty());

  GPTQOptions dynamicActOrder;
  dynamicActOrder.staticGroups = false;
  error.clear();
  EXPECT_FALSE(quantizeGPTQ(w, 2, 2, s, h, dynamicActOrder, result, error));
  EXPECT_FALSE(error.empty());
}

TEST(GPTQ, RaisesTheDampeningUntilHIsPositiveDefinite) {
  // Eigenvalues 2.05 and -0.05: 0.01 of the mean diagonal is not enough,
  // 0.1 is.
  float w[2] = {0.3f, -0.7f};
  double h[4] = {1, 1.05, 1.05, 1};
  GPTQResult result;
  std::string error;
  ASSERT_TRUE(quantizeGPTQ(w, 1, 2, intScheme(4, 0, true), h, GPTQOptions(),
                           result, error))
      << error;
  EXPECT_DOUBLE_EQ(result.dampeningUsed, 0.1);

  // A singular H without dampening gets GPTQ's usual 0.01.
  double singular[4] = {1, 1, 1, 1};
  GPTQOptions undamped;
  undamped.dampening = 0;
  ASSERT_TRUE(quantizeGPTQ(w, 1, 2, intScheme(4, 0, true), singular, undamped,
                           result, error))
      << error;
  EXPECT_DOUBLE_EQ(result.dampeningUsed, 0.01);
}

TEST(GPTQ, LayerOutputErrorIsTheOutputError) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t n = 50, k = 45, rows = 6;
  std::vector<double> x = correlatedInputs(rng, n, k);
  std::vector<double> h = gram(x, n, k);
  std::vector<float> w = normalMatrix(rng, rows, k);
  QuantizedMatrix q = quantizeRTN(w.data(), rows, k, intScheme(3, 32, false));
  double direct = directOutputError(x, n, w.data(), q);
  EXPECT_NEAR(layerOutputError(w.data(), q, h.data()), direct, 1e-9 * direct);

  // With AWQ's input scales the effective weight is q / s.
  std::uniform_real_distribution<float> scale(0.5f, 2.f);
  std::vector<float> s(k);
  for (float &v : s)
    v = scale(rng);
  direct = directOutputError(x, n, w.data(), q, s.data());
  EXPECT_NEAR(layerOutputError(w.data(), q, h.data(), s.data()), direct,
              1e-9 * direct);
}

namespace {

/// Inputs whose channels in `salient` are `loudness` times louder than the
/// rest, as in the activation outliers AWQ is built for.
std::vector<double> inputsWithSalientChannels(std::mt19937 &rng, int64_t n,
                                              int64_t k, double loudness) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> x(n * k);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < k; ++j)
      x[t * k + j] = normal(rng) * (j % 31 == 2 ? loudness : 1.0);
  return x;
}

std::vector<float> meanAbs(const std::vector<double> &x, int64_t n, int64_t k) {
  std::vector<float> m(k, 0.f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < k; ++j)
      m[j] += float(std::fabs(x[t * k + j]) / n);
  return m;
}

} // namespace

TEST(AWQ, NeverWorseThanRTN) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t n = 200;
  for (int64_t k : {172, 64}) {
    std::vector<double> x = correlatedInputs(rng, n, k);
    std::vector<double> h = gram(x, n, k);
    std::vector<float> m = meanAbs(x, n, k);
    std::vector<float> a = normalMatrix(rng, 8, k), b = normalMatrix(rng, 5, k);
    for (const WeightScheme &s : kSchemes) {
      SCOPED_TRACE(describe(s, k));
      AWQResult result;
      std::string error;
      ASSERT_TRUE(searchAWQ({a.data(), b.data()}, {8, 5}, k, s, h.data(),
                            m.data(), AWQOptions(), result, error))
          << error;
      double rtn =
          layerOutputError(a.data(), quantizeRTN(a.data(), 8, k, s), h.data()) +
          layerOutputError(b.data(), quantizeRTN(b.data(), 5, k, s), h.data());
      EXPECT_DOUBLE_EQ(result.rtnError, rtn);
      EXPECT_LE(result.error, result.rtnError);
      ASSERT_EQ(result.matrices.size(), 2u);
      expectKernelReady(result.matrices[0]);
      expectKernelReady(result.matrices[1]);
      double recomputed =
          layerOutputError(a.data(), result.matrices[0], h.data(),
                           result.inputScales.data()) +
          layerOutputError(b.data(), result.matrices[1], h.data(),
                           result.inputScales.data());
      EXPECT_NEAR(result.error, recomputed, 1e-9 * recomputed);
    }
  }
}

TEST(AWQ, ProtectsSalientChannels) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t n = 256, k = 172;
  std::vector<double> x = inputsWithSalientChannels(rng, n, k, 20);
  std::vector<double> h = gram(x, n, k);
  std::vector<float> m = meanAbs(x, n, k);
  // q/k/v-like: three layers reading the same input.
  std::vector<int64_t> rows = {16, 8, 8};
  std::vector<std::vector<float>> ws;
  std::vector<const float *> ptrs;
  for (int64_t r : rows) {
    ws.push_back(normalMatrix(rng, r, k));
    ptrs.push_back(ws.back().data());
  }
  for (const WeightScheme &s : kSchemes) {
    for (bool withMeanAbs : {true, false}) {
      SCOPED_TRACE(describe(s, k) + (withMeanAbs ? "" : " from diag H"));
      AWQResult result;
      std::string error;
      ASSERT_TRUE(searchAWQ(ptrs, rows, k, s, h.data(),
                            withMeanAbs ? m.data() : nullptr, AWQOptions(),
                            result, error))
          << error;
      EXPECT_LT(result.error, result.rtnError);
      EXPECT_GT(result.alpha, 0);
      ASSERT_EQ(int64_t(result.inputScales.size()), k);
      for (float v : result.inputScales) {
        EXPECT_TRUE(std::isfinite(v));
        EXPECT_GT(v, 0.f);
      }
      // The effective weights Q / s stay close to W. The scales move
      // precision from quiet to loud channels, so the plain (unweighted)
      // error grows over RTN's, by up to ~1.8x here; the bounds are about
      // 1.5x the largest relative error seen over 1000 seeds.
      double bound = s.bits == 4 ? 0.25 : s.bits == 3 ? 0.45 : 0.95;
      for (size_t l = 0; l < rows.size(); ++l) {
        double diff = 0, norm = 0;
        for (int64_t r = 0; r < rows[l]; ++r) {
          for (int64_t i = 0; i < k; ++i) {
            double wv = ws[l][r * k + i];
            double qv = result.matrices[l].value(r, i) / result.inputScales[i];
            diff += (wv - qv) * (wv - qv);
            norm += wv * wv;
          }
        }
        EXPECT_LT(std::sqrt(diff / norm), bound) << "layer " << l;
      }
      if (withMeanAbs)
        std::printf("[ AWQ      ] %-26s alpha %.2f  error / rtn = %.3f\n",
                    describe(s, k).c_str(), result.alpha,
                    result.error / result.rtnError);
    }
  }
}

TEST(AWQ, RejectsWhatItCannotRun) {
  float w[4] = {0.1f, -0.2f, 0.3f, 0.4f};
  double h[4] = {2, 0.5, 0.5, 1};
  float m[2] = {1.f, 0.5f};
  WeightScheme s = intScheme(4, 0, true);
  AWQResult result;
  std::string error;
  ASSERT_TRUE(searchAWQ({w}, {2}, 2, s, h, m, AWQOptions(), result, error))
      << error;
  double nan[4] = {2, std::numeric_limits<double>::quiet_NaN(), 0.5, 1};
  EXPECT_FALSE(searchAWQ({w}, {2}, 2, s, nan, m, AWQOptions(), result, error));
  EXPECT_NE(error.find("NaN"), std::string::npos) << error;
  error.clear();
  EXPECT_FALSE(searchAWQ({w}, {2, 2}, 2, s, h, m, AWQOptions(), result, error));
  EXPECT_FALSE(error.empty());
  WeightScheme f16 = s;
  f16.kind = WeightKind::F16;
  error.clear();
  EXPECT_FALSE(searchAWQ({w}, {2}, 2, f16, h, m, AWQOptions(), result, error));
  EXPECT_FALSE(error.empty());
}

TEST(GPTQ, RefinementOnlyLowersTheError) {
  // Code steps and scale refits after the sweep never raise the output
  // error, and on correlated inputs they lower it.
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t rows = 24, k = 64, samples = 400;
  std::vector<float> w(rows * k), x(samples * k);
  for (float &v : w)
    v = normal(rng);
  for (int64_t r = 0; r < samples; ++r) {
    float shared = normal(rng);
    for (int64_t j = 0; j < k; ++j)
      x[r * k + j] = normal(rng) * (j % 7 == 0 ? 4.f : 1.f) + 0.8f * shared;
  }
  std::vector<double> h(k * k, 0.0);
  for (int64_t r = 0; r < samples; ++r)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        h[i * k + j] += double(x[r * k + i]) * x[r * k + j];
  for (WeightScheme scheme : {WeightScheme{WeightKind::Int, 4, 32, true},
                              WeightScheme{WeightKind::Int, 3, 32, false},
                              WeightScheme{WeightKind::Int, 2, 0, false}}) {
    SCOPED_TRACE(std::to_string(scheme.bits) + "-bit");
    GPTQOptions plain;
    plain.refineRounds = 0;
    GPTQOptions refined;
    GPTQResult a, b;
    std::string error;
    ASSERT_TRUE(quantizeGPTQ(w.data(), rows, k, scheme, h.data(), plain, a,
                             error))
        << error;
    ASSERT_TRUE(quantizeGPTQ(w.data(), rows, k, scheme, h.data(), refined, b,
                             error))
        << error;
    EXPECT_LT(b.error, a.error);
    EXPECT_DOUBLE_EQ(b.error, layerOutputError(w.data(), b.matrix, h.data()));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < k; ++i) {
        int32_t c = b.matrix.code(r, i);
        EXPECT_GE(c, scheme.qmin());
        EXPECT_LE(c, scheme.qmax());
      }
  }
}
