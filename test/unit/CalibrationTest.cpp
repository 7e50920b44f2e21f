//===- CalibrationTest.cpp - Streaming statistics and tables --------------===//

#include "qopt/Calibration/Calibrate.h"
#include "qopt/Calibration/Statistics.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace qopt::calib;

TEST(Calibration, HistogramMergesExactly) {
  // Statistics gathered in two halves and merged equal one pass over all.
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> a(5000), b(5000);
  for (float &v : a)
    v = normal(rng);
  for (float &v : b)
    v = normal(rng) * 7.f; // a wider range forces the merge to regrid
  TensorStats whole, left, right;
  std::vector<float> all(a);
  all.insert(all.end(), b.begin(), b.end());
  whole.add(all.data(), 100, 100);
  left.add(a.data(), 50, 100);
  right.add(b.data(), 50, 100);
  left.merge(right);
  EXPECT_EQ(left.count, whole.count);
  EXPECT_EQ(left.min, whole.min);
  EXPECT_EQ(left.max, whole.max);
  EXPECT_EQ(left.histogram.range, whole.histogram.range);
  EXPECT_EQ(left.histogram.counts, whole.histogram.counts);
  EXPECT_EQ(left.channelAbsMax, whole.channelAbsMax);
}

TEST(Calibration, RangesOnAKnownDistribution) {
  // 10000 values uniform in [-1, 1] plus one outlier at 100.
  std::vector<float> x;
  for (int i = 0; i < 10000; ++i)
    x.push_back(-1.f + 2.f * (i + 0.5f) / 10000.f);
  x.push_back(100.f);
  TensorStats s;
  s.add(x.data(), 1, x.size());
  EXPECT_FLOAT_EQ(s.absMax(), 100.f);
  EXPECT_DOUBLE_EQ(s.range(RangeMethod::MinMax, 99.99), 100.0);
  // 99.9% of |x| lie below 1: the percentile range ignores the outlier
  // (within one histogram bin: 128 / 2048).
  double p = s.range(RangeMethod::Percentile, 99.9);
  EXPECT_GE(p, 1.0);
  EXPECT_LE(p, 1.0 + 128.0 / 2048);
  // Entropy (KL) clips an outlier that sits far from a shaped
  // distribution: a normal bulk loses its shape when 128 levels must also
  // reach the outlier.
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> g(100000);
  for (float &v : g)
    v = normal(rng);
  g.push_back(100.f);
  TensorStats sg;
  sg.add(g.data(), 1, g.size());
  double e = sg.range(RangeMethod::Entropy, 99.99);
  EXPECT_GE(e, 2.0);
  EXPECT_LT(e, 10.0);
  // MSE keeps it: clipping 100 to ~1 costs 99^2, more than the rounding
  // noise of 10000 values at a 100/127 step (about 516).
  EXPECT_GT(s.range(RangeMethod::MSE, 99.99), 90.0);

  // Without an outlier, MSE and entropy stay near the real range.
  std::vector<float> u(x.begin(), x.end() - 1);
  TensorStats su;
  su.add(u.data(), 1, u.size());
  for (RangeMethod m : {RangeMethod::Entropy, RangeMethod::MSE}) {
    double r = su.range(m, 99.99);
    EXPECT_GT(r, 0.5) << rangeMethodName(m).str();
    EXPECT_LE(r, 1.0) << rangeMethodName(m).str();
  }
}

TEST(Calibration, PerChannelAbsMaxAndZeros) {
  float rows[2][3] = {{0.f, -5.f, 1.f}, {0.f, 2.f, -3.f}};
  TensorStats s;
  s.add(&rows[0][0], 2, 3);
  ASSERT_EQ(s.channelAbsMax.size(), 3u);
  EXPECT_EQ(s.channelAbsMax[0], 0.f);
  EXPECT_EQ(s.channelAbsMax[1], 5.f);
  EXPECT_EQ(s.channelAbsMax[2], 3.f);
  // All-zero data: every range is 0 (the scale falls back to 1).
  float zeros[4] = {0, 0, 0, 0};
  TensorStats z;
  z.add(zeros, 1, 4);
  EXPECT_EQ(z.range(RangeMethod::Entropy, 99.99), 0.0);
  EXPECT_EQ(z.histogram.total, 4.0);
}

TEST(Calibration, TableRoundTripsAndRejectsGarbage) {
  TensorStats s;
  float v[6] = {1, -2, 3, -4, 5, 0.25f};
  s.add(v, 2, 3);
  CalibrationTable t;
  t.model = "m.onnx";
  t.samples = 7;
  t.tensors["a:in"] = s;
  llvm::SmallString<128> path;
  llvm::sys::fs::createTemporaryFile("qopt-calib", "json", path);
  ASSERT_FALSE(bool(t.save(path)));
  auto back = CalibrationTable::load(path);
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  EXPECT_EQ(back->samples, 7);
  EXPECT_EQ(back->model, "m.onnx");
  const TensorStats &r = back->tensors.at("a:in");
  EXPECT_EQ(r.min, s.min);
  EXPECT_EQ(r.max, s.max);
  EXPECT_EQ(r.histogram.counts, s.histogram.counts);
  EXPECT_EQ(r.channelAbsMax, s.channelAbsMax);
  EXPECT_EQ(r.range(RangeMethod::Percentile, 99.0),
            s.range(RangeMethod::Percentile, 99.0));

  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << "{\"format\": \"something else\"}";
  }
  auto bad = CalibrationTable::load(path);
  ASSERT_FALSE(bool(bad));
  EXPECT_NE(llvm::toString(bad.takeError()).find("not a qopt calibration table"),
            std::string::npos);
  llvm::sys::fs::remove(path);
}

TEST(Calibration, GramMatrixStreamsAndMerges) {
  // XᵀX accumulated in two batches and merged equals the direct product,
  // and mean |x| per channel is exact.
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t rows = 37, channels = 5;
  std::vector<float> x(rows * channels);
  for (float &v : x)
    v = normal(rng);
  TensorStats left, right;
  left.wantGram = right.wantGram = true;
  left.add(x.data(), 20, channels);
  right.add(x.data() + 20 * channels, rows - 20, channels);
  left.merge(right);
  ASSERT_EQ(left.gram.size(), size_t(channels * channels));
  for (int64_t i = 0; i < channels; ++i) {
    double absSum = 0;
    for (int64_t r = 0; r < rows; ++r)
      absSum += std::fabs(x[r * channels + i]);
    EXPECT_NEAR(left.channelMeanAbs()[i], absSum / rows, 1e-5);
    for (int64_t j = 0; j < channels; ++j) {
      double want = 0;
      for (int64_t r = 0; r < rows; ++r)
        want += double(x[r * channels + i]) * x[r * channels + j];
      EXPECT_NEAR(left.gram[i * channels + j], want, 1e-9 * rows);
    }
  }
  // Without wantGram nothing is kept, and a partial merge drops the sum.
  TensorStats plain;
  plain.add(x.data(), rows, channels);
  EXPECT_TRUE(plain.gram.empty());
  left.merge(plain);
  EXPECT_TRUE(left.gram.empty());
}

TEST(Calibration, SampleRowsAreARepeatableReservoir) {
  const int64_t channels = 3, capacity = 8;
  std::vector<float> x(1000 * channels);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(i / channels); // each row holds its index
  TensorStats a, b;
  a.sampleCapacity = b.sampleCapacity = capacity;
  for (int batch = 0; batch < 10; ++batch) {
    a.add(x.data() + batch * 100 * channels, 100, channels);
    b.add(x.data() + batch * 100 * channels, 100, channels);
  }
  ASSERT_EQ(a.numSampleRows(), capacity);
  EXPECT_EQ(a.sampleRows, b.sampleRows); // the same rows every run
  // The kept rows are whole rows from across the stream, not just the first.
  int64_t late = 0;
  for (int64_t r = 0; r < capacity; ++r) {
    EXPECT_EQ(a.sampleRows[r * channels], a.sampleRows[r * channels + 2]);
    late += a.sampleRows[r * channels] >= 100;
  }
  EXPECT_GT(late, 0);
}

TEST(Calibration, TableKeepsGramAndSampleRows) {
  TensorStats s;
  s.wantGram = true;
  s.sampleCapacity = 4;
  std::vector<float> x = {1, 2, -3, 4, 0.5f, -6};
  s.add(x.data(), 3, 2);
  CalibrationTable table;
  table.samples = 1;
  table.tensors["w2:in"] = s;
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("table", "json", path));
  ASSERT_FALSE(llvm::errorToBool(table.save(path)));
  auto loaded = CalibrationTable::load(path);
  ASSERT_TRUE(bool(loaded)) << llvm::toString(loaded.takeError());
  const TensorStats &t = loaded->tensors.at("w2:in");
  EXPECT_EQ(t.gram, s.gram);
  EXPECT_EQ(t.sampleRows, s.sampleRows);
  EXPECT_EQ(t.channelAbsSum, s.channelAbsSum);
  // A Gram matrix of the wrong size is refused with the entry's name.
  llvm::sys::fs::remove(path);
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << R"({"format": "qopt-calibration-table", "tensors": {"a": {"min": 0,
      "max": 1, "histogram_range": 0, "histogram_total": 0,
      "histogram": [)";
    for (int i = 0; i < AbsHistogram::kBins; ++i)
      os << (i ? ", 0" : "0");
    os << R"(], "channel_absmax": [1, 1], "gram": [1, 2, 3]}}})";
  }
  auto bad = CalibrationTable::load(path);
  ASSERT_FALSE(bool(bad));
  EXPECT_NE(llvm::toString(bad.takeError()).find("bad gram matrix"),
            std::string::npos);
  llvm::sys::fs::remove(path);
}

// Padding positions of a token-id sample drop out of activations [1, seq, C]
// and of attention's per-head [heads, seq, C] alike; tensors whose
// second-to-last dim is not the position keep every row.
TEST(Calibration, TokenRowsOfBatchedActivations) {
  auto rows = [](std::vector<int64_t> shape, int64_t valid) {
    qrt_tensor_info info{"t", "float32", int(shape.size()), shape.data(), 4, 1};
    for (int64_t d : shape)
      info.num_elements *= d;
    return tokenRows(info, /*seq=*/512, valid);
  };
  TokenRows a = rows({1, 512, 64}, 100);
  EXPECT_EQ(a.slices, 1);
  EXPECT_EQ(a.validRows, 100);
  EXPECT_EQ(a.channels, 64);
  TokenRows heads = rows({8, 512, 8}, 100);
  EXPECT_EQ(heads.slices, 8);
  EXPECT_EQ(heads.rowsPerSlice, 512);
  EXPECT_EQ(heads.validRows, 100);
  TokenRows keys = rows({8, 8, 512}, 100); // positions in the last dim
  EXPECT_EQ(keys.slices, 1);
  EXPECT_EQ(keys.validRows, 64);
  TokenRows unpadded = rows({8, 512, 8}, -1); // not token-id data
  EXPECT_EQ(unpadded.slices, 1);
  EXPECT_EQ(unpadded.validRows, 4096);
}
