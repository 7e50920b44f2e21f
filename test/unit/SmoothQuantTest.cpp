//===- SmoothQuantTest.cpp - SmoothQuant scale search ---------------------===//

#include "qopt/Quant/SmoothQuant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace qopt::quant;

namespace {

/// Activations [rows, k] with a few channels 60x louder than the rest, and
/// two layers' weights [n, k] reading them.
struct OutlierLayer {
  int64_t rows = 256, k = 48;
  std::vector<float> x, absMax;
  std::vector<std::vector<float>> w;
  std::vector<int64_t> n = {16, 24};

  explicit OutlierLayer(unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    x.resize(rows * k);
    absMax.assign(k, 0.f);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < k; ++j) {
        float v = normal(rng) * (j % 16 == 3 ? 60.f : 1.f);
        x[r * k + j] = v;
        absMax[j] = std::max(absMax[j], std::fabs(v));
      }
    for (int64_t rowsOut : n) {
      std::vector<float> m(rowsOut * k);
      for (float &v : m)
        v = normal(rng) * 0.1f;
      w.push_back(std::move(m));
    }
  }
  std::vector<const float *> weights() const {
    return {w[0].data(), w[1].data()};
  }
};

} // namespace

TEST(SmoothQuant, SearchBeatsUnsmoothedOnOutliers) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  OutlierLayer layer(seed);
  for (bool perToken : {false, true}) {
    SmoothQuantOptions options;
    options.perTokenActivations = perToken;
    SmoothQuantResult result;
    std::string error;
    ASSERT_TRUE(searchSmoothQuant(layer.weights(), layer.n, layer.k,
                                  layer.absMax.data(), layer.x.data(),
                                  layer.rows, options, result, error))
        << error;
    EXPECT_GT(result.alpha, 0.0);
    EXPECT_LE(result.alpha, 1.0);
    // Outliers ruin a per-tensor scale: smoothing must cut the error a lot.
    EXPECT_LT(result.error, 0.5 * result.baselineError)
        << "per-token " << perToken;
    ASSERT_EQ(result.scales.size(), size_t(layer.k));
    float range = 0;
    for (int64_t j = 0; j < layer.k; ++j) {
      EXPECT_GT(result.scales[j], 0.f);
      EXPECT_TRUE(std::isfinite(result.scales[j]));
      range = std::max(range, layer.absMax[j] / result.scales[j]);
    }
    EXPECT_FLOAT_EQ(result.smoothedAbsMax, range);
    // The reported error is what smoothedProductError measures.
    EXPECT_DOUBLE_EQ(result.error,
                     smoothedProductError(layer.weights(), layer.n, layer.k,
                                          layer.x.data(), layer.rows,
                                          result.scales.data(), range,
                                          perToken));
  }
}

TEST(SmoothQuant, FixedAlphaFollowsTheFormula) {
  OutlierLayer layer(7);
  SmoothQuantOptions options;
  options.fixedAlpha = 0.5;
  SmoothQuantResult result;
  std::string error;
  ASSERT_TRUE(searchSmoothQuant(layer.weights(), layer.n, layer.k,
                                layer.absMax.data(), layer.x.data(),
                                layer.rows, options, result, error));
  EXPECT_EQ(result.alpha, 0.5);
  for (int64_t j = 0; j < layer.k; ++j) {
    float wmax = 0;
    for (size_t l = 0; l < layer.w.size(); ++l)
      for (int64_t r = 0; r < layer.n[l]; ++r)
        wmax = std::max(wmax, std::fabs(layer.w[l][r * layer.k + j]));
    EXPECT_NEAR(result.scales[j], std::sqrt(layer.absMax[j] / wmax),
                1e-4 * result.scales[j]);
  }
}

TEST(SmoothQuant, WellBehavedInputsStayUnsmoothedOrImprove) {
  // Without outliers a searched alpha may only be taken when it helps.
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 1.f);
  int64_t rows = 128, k = 32, n = 8;
  std::vector<float> x(rows * k), w(n * k), absMax(k, 0.f);
  for (int64_t i = 0; i < rows * k; ++i) {
    x[i] = normal(rng);
    absMax[i % k] = std::max(absMax[i % k], std::fabs(x[i]));
  }
  for (float &v : w)
    v = normal(rng);
  SmoothQuantResult result;
  std::string error;
  ASSERT_TRUE(searchSmoothQuant({w.data()}, {n}, k, absMax.data(), x.data(),
                                rows, SmoothQuantOptions(), result, error));
  EXPECT_LE(result.error, result.baselineError);
  if (result.alpha < 0)
    for (float s : result.scales)
      EXPECT_EQ(s, 1.f);
}

TEST(SmoothQuant, RejectsBadRows) {
  OutlierLayer layer(3);
  layer.x[5] = std::nanf("");
  SmoothQuantResult result;
  std::string error;
  EXPECT_FALSE(searchSmoothQuant(layer.weights(), layer.n, layer.k,
                                 layer.absMax.data(), layer.x.data(),
                                 layer.rows, SmoothQuantOptions(), result,
                                 error));
  EXPECT_NE(error.find("NaN"), std::string::npos);
  EXPECT_FALSE(searchSmoothQuant(layer.weights(), layer.n, layer.k,
                                 layer.absMax.data(), layer.x.data(), 0,
                                 SmoothQuantOptions(), result, error));
}
