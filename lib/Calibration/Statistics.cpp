//===- Statistics.cpp - Streaming activation statistics -------------------===//

#include "qopt/Calibration/Statistics.h"
#include "qopt/Support/Interrupt.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace llvm;

namespace qopt::calib {

std::optional<RangeMethod> parseRangeMethod(StringRef name) {
  if (name == "minmax")
    return RangeMethod::MinMax;
  if (name == "percentile")
    return RangeMethod::Percentile;
  if (name == "entropy")
    return RangeMethod::Entropy;
  if (name == "mse")
    return RangeMethod::MSE;
  return std::nullopt;
}

StringRef rangeMethodName(RangeMethod method) {
  switch (method) {
  case RangeMethod::MinMax:
    return "minmax";
  case RangeMethod::Percentile:
    return "percentile";
  case RangeMethod::Entropy:
    return "entropy";
  case RangeMethod::MSE:
    return "mse";
  }
  return "";
}

//===----------------------------------------------------------------------===//
// AbsHistogram
//===----------------------------------------------------------------------===//

void AbsHistogram::growTo(double absmax) {
  if (range == 0) {
    // Start at a power of two so that doubling keeps ranges comparable
    // between histograms (exact merges).
    range = std::exp2(std::ceil(std::log2(absmax)));
    if (range <= absmax)
      range *= 2;
    return;
  }
  while (range <= absmax) {
    for (int i = 0; i < kBins / 2; ++i)
      counts[i] = counts[2 * i] + counts[2 * i + 1];
    std::fill(counts.begin() + kBins / 2, counts.end(), 0.0);
    range *= 2;
  }
}

void AbsHistogram::add(const float *data, size_t n) {
  float amax = 0;
  for (size_t i = 0; i < n; ++i)
    amax = std::max(amax, std::fabs(data[i]));
  if (!std::isfinite(amax))
    amax = std::numeric_limits<float>::max();
  if (amax > 0 && amax >= range)
    growTo(amax);
  if (range == 0) { // all zeros so far: they land in bin 0 later
    total += n;
    pendingZeros += n;
    return;
  }
  if (pendingZeros) {
    counts[0] += pendingZeros;
    pendingZeros = 0;
  }
  double scale = kBins / range;
  for (size_t i = 0; i < n; ++i) {
    float a = std::fabs(data[i]);
    int bin = std::isfinite(a) ? std::min(kBins - 1, int(a * scale)) : kBins - 1;
    counts[bin] += 1;
  }
  total += n;
}

void AbsHistogram::merge(const AbsHistogram &other) {
  if (other.range == 0) {
    total += other.total;
    pendingZeros += other.pendingZeros;
    return;
  }
  AbsHistogram o = other;
  if (range < o.range)
    growTo(o.range * (1 - 1e-9));
  else
    o.growTo(range * (1 - 1e-9));
  if (range == 0)
    range = o.range;
  for (int i = 0; i < kBins; ++i)
    counts[i] += o.counts[i];
  counts[0] += pendingZeros + o.pendingZeros;
  pendingZeros = 0;
  total += o.total;
}

double AbsHistogram::percentile(double percent) const {
  double want = total * percent / 100.0, acc = pendingZeros;
  for (int i = 0; i < kBins; ++i) {
    acc += counts[i];
    if (acc >= want)
      return (i + 1) * binWidth();
  }
  return range;
}

namespace {

/// Normalizes `d` to a distribution mixed with a little uniform mass (eps
/// per entry), so that KL divergences stay finite where one distribution
/// has mass the other lacks. False if `d` has no mass.
bool smoothDistribution(std::vector<double> &d, double eps = 1e-6) {
  double total = 0;
  for (double v : d)
    total += v;
  if (total == 0)
    return false;
  double norm = 1.0 + eps * double(d.size());
  for (double &v : d)
    v = (v / total + eps) / norm;
  return true;
}

} // namespace

double AbsHistogram::entropyThreshold() const {
  constexpr int levels = 128;
  std::vector<double> hist(counts);
  hist[0] += pendingZeros;
  int last = kBins - 1;
  while (last > 0 && hist[last] == 0)
    --last;
  if (last < levels)
    return (last + 1) * binWidth();
  double bestKL = std::numeric_limits<double>::infinity();
  int bestI = last + 1;
  std::vector<double> p, q;
  for (int i = levels; i <= last + 1; i += 8) {
    // Reference: the first i bins, with everything beyond folded into the
    // last one (those values clip to the threshold).
    p.assign(hist.begin(), hist.begin() + i);
    for (int j = i; j <= last; ++j)
      p[i - 1] += hist[j];
    // Candidate: the unclipped first i bins merged into `levels` buckets,
    // each spread back evenly over the bins where the reference has mass.
    q.assign(i, 0.0);
    for (int l = 0; l < levels; ++l) {
      int b = int(int64_t(l) * i / levels), e = int(int64_t(l + 1) * i / levels);
      double sum = 0;
      int nonzero = 0;
      for (int j = b; j < e; ++j) {
        sum += hist[j];
        nonzero += p[j] != 0;
      }
      for (int j = b; j < e; ++j)
        if (p[j] != 0)
          q[j] = sum / nonzero;
    }
    if (!smoothDistribution(p) || !smoothDistribution(q))
      continue;
    double kl = 0;
    for (int j = 0; j < i; ++j)
      kl += p[j] * std::log(p[j] / q[j]);
    if (kl < bestKL)
      bestKL = kl, bestI = i;
  }
  return bestI * binWidth();
}

double AbsHistogram::mseThreshold() const {
  std::vector<double> hist(counts);
  hist[0] += pendingZeros;
  int last = kBins - 1;
  while (last > 0 && hist[last] == 0)
    --last;
  double w = binWidth(), bestErr = std::numeric_limits<double>::infinity();
  double best = (last + 1) * w;
  for (int i = 8; i <= last + 1; i += 4) {
    double t = i * w, step = t / 127.0, err = 0;
    for (int j = 0; j <= last; ++j) {
      if (hist[j] == 0)
        continue;
      double x = (j + 0.5) * w;
      err += hist[j] * (x <= t ? step * step / 12.0 : (x - t) * (x - t));
    }
    if (err < bestErr)
      bestErr = err, best = t;
  }
  return best;
}

//===----------------------------------------------------------------------===//
// TensorStats
//===----------------------------------------------------------------------===//

/// A fixed bijective mix of a row number (splitmix64's finalizer).
static uint64_t splitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void TensorStats::add(const float *data, int64_t rows, int64_t channels) {
  size_t n = size_t(rows) * channels;
  if (n == 0)
    return;
  if (channelAbsMax.size() != size_t(channels)) {
    channelAbsMax.assign(channels, 0.f);
    channelAbsSum.assign(channels, 0.0);
    if (wantGram)
      gram.assign(size_t(channels) * channels, 0.0);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) {
      float v = data[r * channels + c];
      if (empty) {
        min = max = v;
        empty = false;
      }
      min = std::min(min, v);
      max = std::max(max, v);
      channelAbsMax[c] = std::max(channelAbsMax[c], std::fabs(v));
      channelAbsSum[c] += std::fabs(v);
    }
  if (sampleCapacity > 0) {
    uint64_t seen = count / channels; // rows before this batch
    for (int64_t r = 0; r < rows; ++r, ++seen) {
      const float *row = data + r * channels;
      int64_t kept = numSampleRows();
      if (kept < sampleCapacity) {
        sampleRows.insert(sampleRows.end(), row, row + channels);
        continue;
      }
      // Reservoir sampling: row `seen` replaces a kept one with probability
      // capacity / (seen + 1).
      uint64_t slot = splitMix64(seen) % (seen + 1);
      if (slot < uint64_t(sampleCapacity))
        std::copy(row, row + channels, sampleRows.begin() + slot * channels);
    }
  }
  if (wantGram) {
    // Upper triangle row by row, mirrored once per batch of rows.
    std::vector<double> x(channels);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < channels; ++c)
        x[c] = data[r * channels + c];
      for (int64_t i = 0; i < channels; ++i) {
        double xi = x[i];
        if (xi == 0)
          continue;
        double *g = &gram[size_t(i) * channels];
        for (int64_t j = i; j < channels; ++j)
          g[j] += xi * x[j];
      }
    }
    for (int64_t i = 0; i < channels; ++i)
      for (int64_t j = 0; j < i; ++j)
        gram[size_t(i) * channels + j] = gram[size_t(j) * channels + i];
  }
  histogram.add(data, n);
  count += n;
}

void TensorStats::merge(const TensorStats &o) {
  if (o.empty)
    return;
  if (empty) {
    *this = o;
    return;
  }
  min = std::min(min, o.min);
  max = std::max(max, o.max);
  count += o.count;
  if (channelAbsMax.size() == o.channelAbsMax.size())
    for (size_t c = 0; c < channelAbsMax.size(); ++c) {
      channelAbsMax[c] = std::max(channelAbsMax[c], o.channelAbsMax[c]);
      channelAbsSum[c] += o.channelAbsSum[c];
    }
  // Kept rows: ours first, then the other's up to the capacity.
  for (int64_t r = 0; r < o.numSampleRows() && numSampleRows() < sampleCapacity;
       ++r)
    sampleRows.insert(sampleRows.end(),
                      o.sampleRows.begin() + r * o.channels(),
                      o.sampleRows.begin() + (r + 1) * o.channels());
  if (gram.size() == o.gram.size())
    for (size_t i = 0; i < gram.size(); ++i)
      gram[i] += o.gram[i];
  else
    gram.clear(); // one side lacks it: a partial sum would be wrong
  histogram.merge(o.histogram);
}

std::vector<float> TensorStats::channelMeanAbs() const {
  std::vector<float> mean(channelAbsSum.size(), 0.f);
  double n = double(rows());
  for (size_t c = 0; c < mean.size() && n > 0; ++c)
    mean[c] = float(channelAbsSum[c] / n);
  return mean;
}

double TensorStats::absMax() const {
  return std::max(std::fabs(double(min)), std::fabs(double(max)));
}

double TensorStats::range(RangeMethod method, double percentile) const {
  if (empty || absMax() == 0)
    return 0;
  double r = absMax();
  switch (method) {
  case RangeMethod::MinMax:
    return r;
  case RangeMethod::Percentile:
    return std::min(r, histogram.percentile(percentile));
  case RangeMethod::Entropy:
    return std::min(r, histogram.entropyThreshold());
  case RangeMethod::MSE:
    return std::min(r, histogram.mseThreshold());
  }
  return r;
}

//===----------------------------------------------------------------------===//
// CalibrationTable
//===----------------------------------------------------------------------===//

Error CalibrationTable::save(StringRef path) const {
  json::Object tensorsJson;
  for (const auto &[id, s] : tensors) {
    json::Array hist, channels, absSum, gram;
    for (double c : s.histogram.counts)
      hist.push_back(c);
    for (float c : s.channelAbsMax)
      channels.push_back(double(c));
    for (double c : s.channelAbsSum)
      absSum.push_back(c);
    for (double g : s.gram)
      gram.push_back(g);
    json::Object entry{
        {"min", double(s.min)},
        {"max", double(s.max)},
        {"count", int64_t(s.count)},
        {"histogram_range", s.histogram.range},
        {"histogram_total", s.histogram.total},
        {"histogram_pending_zeros", s.histogram.pendingZeros},
        {"histogram", std::move(hist)},
        {"channel_absmax", std::move(channels)},
        {"channel_abs_sum", std::move(absSum)}};
    if (!gram.empty())
      entry["gram"] = std::move(gram);
    if (!s.sampleRows.empty()) {
      json::Array rows;
      for (float v : s.sampleRows)
        rows.push_back(double(v));
      entry["sample_rows"] = std::move(rows);
      entry["sample_capacity"] = s.sampleCapacity;
    }
    tensorsJson[id] = std::move(entry);
  }
  json::Object root{{"format", "qopt-calibration-table"},
                    {"format_version", 2},
                    {"model", model},
                    {"samples", samples},
                    {"tensors", std::move(tensorsJson)}};
  if (sensitivity)
    root["sensitivity"] = *sensitivity;
  // Write to a temporary name, then rename: never a half-written table.
  std::string tmp = (path + ".partial").str();
  CleanupOnInterrupt guard(tmp);
  {
    std::error_code ec;
    raw_fd_ostream os(tmp, ec);
    if (!ec) {
      os << formatv("{0}", json::Value(std::move(root))) << "\n";
      os.close();
      ec = os.error();
      os.clear_error();
    }
    if (ec) {
      sys::fs::remove(tmp);
      return createStringError("cannot write calibration table '" + path +
                               "': " + ec.message());
    }
  }
  if (std::error_code ec = sys::fs::rename(tmp, path)) {
    sys::fs::remove(tmp);
    return createStringError("cannot write calibration table '" + path +
                             "': " + ec.message());
  }
  return Error::success();
}

Expected<CalibrationTable> CalibrationTable::load(StringRef path) {
  auto buffer = MemoryBuffer::getFile(path);
  if (!buffer)
    return createStringError("cannot read calibration table '" + path +
                             "': " + buffer.getError().message());
  auto bad = [&](const Twine &why) {
    return createStringError("calibration table '" + path + "': " + why);
  };
  Expected<json::Value> root = json::parse((*buffer)->getBuffer());
  if (!root)
    return bad("not JSON: " + toString(root.takeError()));
  json::Object *obj = root->getAsObject();
  if (!obj || obj->getString("format") != "qopt-calibration-table")
    return bad("not a qopt calibration table");
  CalibrationTable table;
  if (auto m = obj->getString("model"))
    table.model = m->str();
  table.samples = obj->getInteger("samples").value_or(0);
  if (const json::Value *cached = obj->get("sensitivity"))
    table.sensitivity = *cached;
  json::Object *tensors = obj->getObject("tensors");
  if (!tensors)
    return bad("no tensors");
  for (auto &[id, value] : *tensors) {
    json::Object *t = value.getAsObject();
    json::Array *hist = t ? t->getArray("histogram") : nullptr;
    json::Array *channels = t ? t->getArray("channel_absmax") : nullptr;
    auto mn = t ? t->getNumber("min") : std::nullopt;
    auto mx = t ? t->getNumber("max") : std::nullopt;
    auto range = t ? t->getNumber("histogram_range") : std::nullopt;
    auto total = t ? t->getNumber("histogram_total") : std::nullopt;
    if (!hist || !channels || !mn || !mx || !range || !total ||
        hist->size() != AbsHistogram::kBins || *mn > *mx || *range < 0)
      return bad("entry '" + id.str() + "' is malformed");
    TensorStats s;
    s.empty = false;
    s.min = float(*mn);
    s.max = float(*mx);
    s.count = t->getInteger("count").value_or(0);
    s.histogram.range = *range;
    s.histogram.total = *total;
    s.histogram.pendingZeros =
        t->getNumber("histogram_pending_zeros").value_or(0);
    for (int i = 0; i < AbsHistogram::kBins; ++i) {
      auto c = (*hist)[i].getAsNumber();
      if (!c || *c < 0)
        return bad("entry '" + id.str() + "' has a bad histogram count");
      s.histogram.counts[i] = *c;
    }
    for (const json::Value &c : *channels) {
      auto v = c.getAsNumber();
      if (!v)
        return bad("entry '" + id.str() + "' has a bad channel abs-max");
      s.channelAbsMax.push_back(float(*v));
    }
    auto readDoubles = [&](StringRef key, std::vector<double> &out,
                           size_t want) -> bool {
      json::Array *a = t->getArray(key);
      if (!a)
        return true; // optional (tables of format 1 lack them)
      if (a->size() != want)
        return false;
      for (const json::Value &c : *a) {
        auto v = c.getAsNumber();
        if (!v || !std::isfinite(*v))
          return false;
        out.push_back(*v);
      }
      return true;
    };
    size_t ch = s.channelAbsMax.size();
    if (!readDoubles("channel_abs_sum", s.channelAbsSum, ch))
      return bad("entry '" + id.str() + "' has a bad channel_abs_sum");
    if (s.channelAbsSum.empty())
      s.channelAbsSum.assign(ch, 0.0);
    if (!readDoubles("gram", s.gram, ch * ch))
      return bad("entry '" + id.str() + "' has a bad gram matrix (expected " +
                 Twine(ch * ch) + " finite numbers)");
    s.wantGram = !s.gram.empty();
    s.sampleCapacity = t->getInteger("sample_capacity").value_or(0);
    if (json::Array *rows = t->getArray("sample_rows")) {
      if (ch == 0 || rows->size() % ch ||
          int64_t(rows->size() / ch) > s.sampleCapacity)
        return bad("entry '" + id.str() + "' has malformed sample_rows");
      for (const json::Value &v : *rows) {
        auto x = v.getAsNumber();
        if (!x || !std::isfinite(*x))
          return bad("entry '" + id.str() + "' has a bad sample row value");
        s.sampleRows.push_back(float(*x));
      }
    }
    table.tensors[id.str()] = std::move(s);
  }
  return table;
}

} // namespace qopt::calib
