//===- CostModelTest.cpp - The roofline cost model in lib/Quant -----------===//

#include "qopt/Quant/CostModel.h"

#include <gtest/gtest.h>

using namespace qopt::quant;

namespace {

/// One Zen 4-class core with the single-thread DRAM bandwidth bench/README
/// measured.
MachinePeaks oneCore() { return x86NominalPeaks(true, true, 3.0, 11.8); }

PrecisionCost weightOnly(double bits) { return {bits, false, bits < 32}; }

TEST(CostModel, GemvIsMemoryBoundAndFewerBitsAreFaster) {
  MatMulShape gemv{1, 4096, 4096, 1};
  LayerCost f32 = estimateMatMul(gemv, weightOnly(32), oneCore());
  LayerCost w8 = estimateMatMul(gemv, weightOnly(8 + 32.0 / 4096), oneCore());
  LayerCost w4 = estimateMatMul(gemv, weightOnly(4.5), oneCore());
  for (const LayerCost *c : {&f32, &w8, &w4}) {
    EXPECT_TRUE(c->memoryBound) << c->why;
    EXPECT_NE(c->why.find("fewer weight bits are faster"), std::string::npos)
        << c->why;
    EXPECT_DOUBLE_EQ(c->seconds, std::max(c->memorySeconds, c->computeSeconds));
  }
  EXPECT_LT(w4.seconds, w8.seconds);
  EXPECT_LT(w8.seconds, f32.seconds);
  EXPECT_GT(w4.overheadOps, 0);
  EXPECT_EQ(f32.overheadOps, 0);
}

TEST(CostModel, LargeGemmIsComputeBoundAndBitsBarelyMatter) {
  MatMulShape gemm{2048, 4096, 4096, 1};
  LayerCost f32 = estimateMatMul(gemm, weightOnly(32), oneCore());
  LayerCost w4 = estimateMatMul(gemm, weightOnly(4.5), oneCore());
  EXPECT_FALSE(f32.memoryBound) << f32.why;
  EXPECT_FALSE(w4.memoryBound) << w4.why;
  EXPECT_NE(f32.why.find("compute-bound"), std::string::npos) << f32.why;
  // Within 5%: the dequantization of 16 M weights is small against 68 G
  // operations, and the bytes do not set the time.
  EXPECT_NEAR(w4.seconds / f32.seconds, 1.0, 0.05);
  // Integer activations use the int8 peak, four times the fp32 one here.
  LayerCost w8a8 =
      estimateMatMul(gemm, {8 + 32.0 / 4096, true, false}, oneCore());
  EXPECT_FALSE(w8a8.emulated);
  EXPECT_LT(w8a8.seconds, 0.5 * f32.seconds);
  MachinePeaks noInt8 = oneCore();
  noInt8.int8Native = false;
  LayerCost emulated = estimateMatMul(gemm, {8, true, false}, noInt8);
  EXPECT_TRUE(emulated.emulated);
  EXPECT_GT(emulated.seconds, f32.seconds * 0.99);
}

TEST(CostModel, IntensityOfASmallCaseByHand) {
  MachinePeaks peaks;
  peaks.fp32Flops = 100;
  peaks.int8Ops = 400;
  peaks.int8Native = true;
  peaks.bandwidth = 10;
  // 2 batches of [2, 4] x [4, 3], float: 3·4 weights · 4 B = 48, inputs
  // 2·2·4 · 4 B = 64, outputs 2·2·3 · 4 B = 48: 160 bytes; 2·2·3·4·2 = 96
  // ops.
  LayerCost c = estimateMatMul({2, 3, 4, 2}, {32, false, false}, peaks);
  EXPECT_DOUBLE_EQ(c.bytes, 160);
  EXPECT_DOUBLE_EQ(c.ops, 96);
  EXPECT_DOUBLE_EQ(c.intensity, 96.0 / 160);
  EXPECT_DOUBLE_EQ(c.memorySeconds, 16);
  EXPECT_DOUBLE_EQ(c.computeSeconds, 0.96);
  EXPECT_TRUE(c.memoryBound);
  // int8 activations and 8-bit weights: 12 + 16 + 48 = 76 bytes; the int8
  // products at 400 ops/s plus quantizing 16 inputs (3 each) and rescaling
  // 12 outputs (2 each) at 100.
  LayerCost q = estimateMatMul({2, 3, 4, 2}, {8, true, false}, peaks);
  EXPECT_DOUBLE_EQ(q.bytes, 76);
  EXPECT_DOUBLE_EQ(q.overheadOps, 16 * 3 + 12 * 2);
  EXPECT_DOUBLE_EQ(q.computeSeconds, 96.0 / 400 + 72.0 / 100);
}

TEST(CostModel, NominalX86Peaks) {
  MachinePeaks zen4 = x86NominalPeaks(true, true, 3.0, 50);
  MachinePeaks zen3 = x86NominalPeaks(false, false, 3.0, 50);
  EXPECT_DOUBLE_EQ(zen4.fp32Flops, 32 * 3e9);
  EXPECT_DOUBLE_EQ(zen4.int8Ops, 128 * 3e9);
  EXPECT_DOUBLE_EQ(zen3.int8Ops, 64 * 3e9);
  EXPECT_DOUBLE_EQ(zen3.bandwidth, 50e9);
  EXPECT_FALSE(zen4.fp16Native);
  EXPECT_NE(zen4.source.find("nominal"), std::string::npos);
  // Full-width 512-bit pipes (Zen 5) double the AVX-512 figures only.
  MachinePeaks zen5 = x86NominalPeaks(true, true, 3.0, 50, true);
  EXPECT_DOUBLE_EQ(zen5.fp32Flops, 64 * 3e9);
  EXPECT_DOUBLE_EQ(zen5.int8Ops, 256 * 3e9);
  EXPECT_DOUBLE_EQ(x86NominalPeaks(false, false, 3.0, 50, true).fp32Flops,
                   32 * 3e9);
  EXPECT_NE(zen5.source.find("512-bit datapaths"), std::string::npos);
}

} // namespace
