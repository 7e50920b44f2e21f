//===- QuantNumericsTest.cpp - Packing, RTN and metrics in lib/Quant ------===//

#include "qopt/Quant/Quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

using namespace qopt::quant;

TEST(QuantPacking, KnownBitLayouts) {
  // Little-endian bit stream: value i at bit i * bits.
  int32_t four[] = {1, 2, 15, 0};
  uint8_t row4[2] = {0, 0};
  packCodes(four, 4, 4, row4);
  EXPECT_EQ(row4[0], 0x21);
  EXPECT_EQ(row4[1], 0x0f);

  int32_t two[] = {3, 0, 1, 2};
  uint8_t row2[1] = {0};
  packCodes(two, 4, 2, row2);
  EXPECT_EQ(row2[0], 0b10010011);

  // 3-bit: 8 values fill 3 bytes; values 2 and 5 straddle bytes.
  int32_t three[] = {1, 2, 3, 4, 5, 6, 7, 0};
  uint8_t row3[4] = {0, 0, 0, 0};
  packCodes(three, 8, 3, row3);
  uint32_t word = row3[0] | (row3[1] << 8) | (row3[2] << 16);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ((word >> (3 * i)) & 7, uint32_t(three[i])) << i;
  EXPECT_EQ(row3[3], 0) << "spare byte stays zero";

  // Signed codes keep two's complement low bits and sign-extend back.
  int32_t neg[] = {-8, 7, -1, 0};
  uint8_t rowN[2] = {0, 0};
  packCodes(neg, 4, 4, rowN);
  EXPECT_EQ(rowN[0], 0x78);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(unpackCode(rowN, i, 4, /*isSigned=*/true), neg[i]);
}

TEST(QuantPacking, RoundTripRandomCodes) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (unsigned bits = 2; bits <= 8; ++bits) {
    for (bool isSigned : {false, true}) {
      int64_t count = 1 + rng() % 300;
      int32_t lo = isSigned ? -(1 << (bits - 1)) : 0;
      int32_t hi = isSigned ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
      std::uniform_int_distribution<int32_t> dist(lo, hi);
      std::vector<int32_t> codes(count);
      for (int32_t &c : codes)
        c = dist(rng);
      std::vector<uint8_t> row(packedRowBytes(count, bits), 0);
      packCodes(codes.data(), count, bits, row.data());
      for (int64_t i = 0; i < count; ++i)
        ASSERT_EQ(unpackCode(row.data(), i, bits, isSigned), codes[i])
            << "bits " << bits << " index " << i;
    }
  }
}

TEST(QuantRTN, CodesAndErrorBounds) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  struct Case {
    WeightKind kind;
    unsigned bits;
    int64_t group;
    bool symmetric;
  } cases[] = {{WeightKind::Int, 8, 0, true},   {WeightKind::Int, 4, 32, true},
               {WeightKind::Int, 4, 32, false}, {WeightKind::Int, 3, 64, true},
               {WeightKind::Int, 2, 32, false}, {WeightKind::Int, 4, 128, true},
               {WeightKind::NF4, 4, 64, true}};
  for (const Case &c : cases) {
    WeightScheme s;
    s.kind = c.kind;
    s.bits = c.bits;
    s.groupSize = c.group;
    s.symmetric = c.symmetric;
    int64_t rows = 1 + rng() % 9, k = 20 + rng() % 200;
    std::vector<float> w(rows * k);
    for (float &v : w)
      v = normal(rng);
    QuantizedMatrix q = quantizeRTN(w.data(), rows, k, s);
    ASSERT_EQ(int64_t(q.packed.size()), rows * s.packedRowBytes(k));
    ASSERT_EQ(int64_t(q.scales.size()), rows * s.numGroups(k));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < k; ++i) {
        int32_t code = q.code(r, i);
        if (c.kind == WeightKind::NF4) {
          ASSERT_GE(code, 0);
          ASSERT_LE(code, 15);
          continue;
        }
        ASSERT_GE(code, s.qmin());
        ASSERT_LE(code, s.qmax());
        float scale = std::fabs(q.scales[r * s.numGroups(k) + i / s.groupLength(k)]);
        // Round to nearest: at most half a step off (with float slack).
        // Symmetric sub-byte codes map the largest magnitude onto qmin, so
        // the other side stops at qmax and can be up to one step off.
        bool clamped = s.signedCodes() && s.bits < 8 &&
                       (code == s.qmax() || code == s.qmin());
        EXPECT_LE(std::fabs(q.value(r, i) - w[r * k + i]),
                  (clamped ? 1.f : 0.5f) * scale * 1.0001f)
            << "bits " << c.bits << " row " << r << " col " << i;
      }
      // The row holds k codes: a short last group stores no padding, and
      // the spare bits of the last byte are zero.
      EXPECT_EQ(s.packedRowBytes(k), packedRowBytes(k, s.bits));
      const uint8_t *row = &q.packed[r * s.packedRowBytes(k)];
      for (int64_t i = k; (i + 1) * s.bits <= 8 * s.packedRowBytes(k); ++i)
        EXPECT_EQ(unpackCode(row, i, s.bits, false), 0);
    }
  }
}

TEST(QuantRTN, SymmetricInt4UsesTheNegativeEnd) {
  // The largest magnitude maps exactly onto code -8, whatever its sign.
  float w[4] = {0.5f, -0.1f, 0.2f, 0.0f};
  WeightScheme s;
  s.bits = 4;
  s.groupSize = 4;
  QuantizedMatrix q = quantizeRTN(w, 1, 4, s);
  EXPECT_EQ(q.code(0, 0), -8);
  EXPECT_FLOAT_EQ(q.value(0, 0), 0.5f);
  EXPECT_FLOAT_EQ(q.scales[0], 0.5f / -8.f);
}

TEST(QuantRTN, NF4LevelsAreExact) {
  float w[16];
  for (int i = 0; i < 16; ++i)
    w[i] = kNF4Levels[i] * 3.f;
  WeightScheme s;
  s.kind = WeightKind::NF4;
  s.bits = 4;
  s.groupSize = 16;
  QuantizedMatrix q = quantizeRTN(w, 1, 16, s);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(q.code(0, i), i);
    EXPECT_FLOAT_EQ(q.value(0, i), w[i]);
  }
}

TEST(QuantHalf, RoundTripAndRounding) {
  for (float f : {0.f, 1.f, -2.5f, 65504.f, 6.1035156e-05f, 5.9604645e-08f})
    EXPECT_EQ(halfToFloat(floatToHalf(f)), f) << f;
  EXPECT_TRUE(std::isinf(halfToFloat(floatToHalf(1e6f))));
  // 1 + 2^-11 is halfway between 1 and the next half: ties to even (1).
  EXPECT_EQ(halfToFloat(floatToHalf(1.f + std::ldexp(1.f, -11))), 1.f);
  EXPECT_EQ(halfToFloat(floatToHalf(1.f + 3 * std::ldexp(1.f, -11))),
            1.f + std::ldexp(1.f, -9));
}

TEST(QuantMetrics, SqnrAndCosine) {
  float ref[4] = {1, 2, 3, 4}, same[4] = {1, 2, 3, 4};
  float noisy[4] = {1.1f, 2, 3, 4};
  EXPECT_EQ(sqnrDb(ref, same, 4), 200.0);
  EXPECT_NEAR(sqnrDb(ref, noisy, 4), 10 * std::log10(30 / 0.01), 1e-3);
  EXPECT_NEAR(cosineSimilarity(ref, same, 4), 1.0, 1e-12);
  float opposite[4] = {-1, -2, -3, -4};
  EXPECT_NEAR(cosineSimilarity(ref, opposite, 4), -1.0, 1e-12);
}

TEST(QuantFP8, EveryFiniteCodeRoundTrips) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) // NaN encodings
      continue;
    float v = fp8E4M3ToFloat(uint8_t(c));
    EXPECT_EQ(floatToFP8E4M3(v), c == 0x80 ? 0x80 : c) << "code " << c;
  }
  EXPECT_EQ(fp8E4M3ToFloat(0x7e), 448.f);
  EXPECT_EQ(fp8E4M3ToFloat(0x01), std::ldexp(1.f, -9));
  EXPECT_EQ(fp8E4M3ToFloat(0x08), std::ldexp(1.f, -6));
  EXPECT_EQ(floatToFP8E4M3(1000.f), 0x7e) << "saturates";
  EXPECT_EQ(floatToFP8E4M3(-1000.f), 0xfe);
  // 1 + 1/16 is halfway between 1 and 1.125: ties to even (1).
  EXPECT_EQ(fp8E4M3ToFloat(floatToFP8E4M3(1.0625f)), 1.f);
  EXPECT_EQ(fp8E4M3ToFloat(floatToFP8E4M3(1.1875f)), 1.25f);
}

TEST(QuantFP8, RoundsToTheNearestCode) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-460.f, 460.f);
  for (int i = 0; i < 20000; ++i) {
    float x = dist(rng) * (i % 3 == 0 ? 0.001f : 1.f);
    float got = fp8E4M3ToFloat(floatToFP8E4M3(x));
    float best = 1e30f;
    for (int c = 0; c < 256; ++c)
      if ((c & 0x7f) != 0x7f)
        best = std::min(best, std::fabs(fp8E4M3ToFloat(uint8_t(c)) - x));
    ASSERT_EQ(std::fabs(got - x), best) << "x = " << x;
  }
}

// Half scales: every scale RTN chooses is a half, the codes are picked
// against it, and scales past the half range stay nonzero and finite.
TEST(QuantRTN, HalfScalesAreChosenAsHalves) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 0.02f);
  int64_t rows = 7, k = 96;
  std::vector<float> w(rows * k);
  for (float &v : w)
    v = normal(rng);
  for (WeightScheme s : {WeightScheme{WeightKind::Int, 4, 32, true},
                         WeightScheme{WeightKind::Int, 4, 32, false},
                         WeightScheme{WeightKind::Int, 8, 0, true},
                         WeightScheme{WeightKind::NF4, 4, 64, true}}) {
    s.halfScales = true;
    QuantizedMatrix q = quantizeRTN(w.data(), rows, k, s);
    EXPECT_EQ(q.storageBytes(),
              q.packed.size() + q.scales.size() * 2 + q.zeroPoints.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < s.numGroups(k); ++g) {
        float scale = q.scales[r * s.numGroups(k) + g];
        ASSERT_EQ(halfToFloat(floatToHalf(scale)), scale);
        // The codes are RTN's against the stored scale.
        int64_t begin = g * s.groupLength(k),
                end = std::min(k, begin + s.groupLength(k));
        GroupParams p = chooseGroupParams(&w[r * k + begin], end - begin, s);
        EXPECT_EQ(p.scale, scale);
        for (int64_t i = begin; i < end; ++i)
          ASSERT_EQ(q.code(r, i), quantizeCode(w[r * k + i], p, s));
      }
  }
  // 0.1 / -8 = -0.0125 is no half: the nearest one is -0.01249695.
  WeightScheme s{WeightKind::Int, 4, 32, true};
  s.halfScales = true;
  float group[2] = {0.1f, 0.05f};
  GroupParams p = chooseGroupParams(group, 2, s);
  EXPECT_EQ(p.scale, halfToFloat(floatToHalf(-0.0125f)));
  EXPECT_NE(p.scale, -0.0125f);
  EXPECT_EQ(quantizeCode(0.1f, p, s), -8);
  // Below the smallest half and above the largest.
  float tiny[2] = {1e-9f, -2e-9f}, huge[2] = {1e6f, 3e6f};
  GroupParams t = chooseGroupParams(tiny, 2, s),
              h = chooseGroupParams(huge, 2, s);
  EXPECT_NE(t.scale, 0.f);
  EXPECT_TRUE(std::isfinite(h.scale));
  EXPECT_EQ(h.scale, -65504.f);
}
