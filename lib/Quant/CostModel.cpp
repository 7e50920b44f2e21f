//===- CostModel.cpp - Roofline time estimates per layer ------------------===//
//
// The model charges every byte once (weights are read once per call, the
// batch shares them) and every operation at the peak of the unit that runs
// it, so it is an optimistic bound: what it is for is the ratio between two
// precisions of one layer, and the side of the ridge a layer is on. The
// dequantization charge (kDequantOpsPerWeight) matches the 4-bit GEMV of
// bench/README: with it, 1 x 4096 x 4096 g32 on one core stays bound by the
// 11.8 GB/s it measured, as the kernel is (98.5% of DRAM bandwidth).
//
//===----------------------------------------------------------------------===//

#include "qopt/Quant/CostModel.h"

#include <algorithm>
#include <cstdio>

namespace qopt::quant {

LayerCost estimateMatMul(const MatMulShape &shape, const PrecisionCost &p,
                         const MachinePeaks &peaks) {
  LayerCost cost;
  double m = double(shape.m), n = double(shape.n), k = double(shape.k),
         batch = double(shape.batch);
  double weights = n * k;
  double inputs = batch * m * k, outputs = batch * m * n;
  double weightBytes = weights * p.weightBitsPerValue / 8;
  double inputBytes = inputs * (p.integerActivations ? 1 : 4);
  cost.bytes = weightBytes + inputBytes + outputs * 4;
  cost.ops = 2 * m * n * k * batch;
  cost.intensity = cost.bytes > 0 ? cost.ops / cost.bytes : 0;

  double peak = peaks.fp32Flops;
  if (p.integerActivations) {
    if (peaks.int8Native)
      peak = peaks.int8Ops;
    else
      cost.emulated = true;
    cost.overheadOps = inputs * kQuantizeOpsPerActivation +
                       outputs * kRescaleOpsPerOutput;
  }
  if (p.weightOnly)
    cost.overheadOps += weights * batch * kDequantOpsPerWeight;

  cost.memorySeconds = peaks.bandwidth > 0 ? cost.bytes / peaks.bandwidth : 0;
  cost.computeSeconds =
      (peak > 0 ? cost.ops / peak : 0) +
      (peaks.fp32Flops > 0 ? cost.overheadOps / peaks.fp32Flops : 0);
  cost.seconds = std::max(cost.memorySeconds, cost.computeSeconds);
  cost.memoryBound = cost.memorySeconds > cost.computeSeconds;

  // The balance the layer is compared with is the one of its own compute
  // path, overhead included: ops per second over bytes per second.
  double effectivePeak =
      cost.computeSeconds > 0 ? cost.ops / cost.computeSeconds : peak;
  double balance = peaks.bandwidth > 0 ? effectivePeak / peaks.bandwidth : 0;
  double weightShare = cost.bytes > 0 ? weightBytes / cost.bytes : 0;
  char buf[320];
  if (cost.memoryBound && weightShare >= 0.5)
    std::snprintf(buf, sizeof(buf),
                  "memory-bound (%.3g ops/byte < machine balance %.3g): "
                  "fewer weight bits are faster",
                  cost.intensity, balance);
  else if (cost.memoryBound)
    std::snprintf(buf, sizeof(buf),
                  "memory-bound (%.3g ops/byte < machine balance %.3g) on "
                  "activations (weights are %.0f%% of the bytes): fewer "
                  "weight bits help little",
                  cost.intensity, balance, 100 * weightShare);
  else
    std::snprintf(buf, sizeof(buf),
                  "compute-bound (%.3g ops/byte >= machine balance %.3g): "
                  "fewer weight bits are not faster%s",
                  cost.intensity, balance,
                  p.integerActivations
                      ? (cost.emulated ? "; int8 arithmetic is emulated at "
                                         "the fp32 peak here"
                                       : "")
                      : (peaks.int8Native && peaks.int8Ops > peaks.fp32Flops
                             ? "; int8 activations would use the faster "
                               "int8 peak"
                             : ""));
  cost.why = buf;
  return cost;
}

MachinePeaks x86NominalPeaks(bool avx512, bool vnni, double ghz,
                             double bandwidthGBs, bool fullWidth512) {
  double hz = ghz * 1e9;
  // Both ISA levels get 32 fp32 flops per cycle: Zen 4 runs a 512-bit FMA
  // as two halves on the same two 256-bit pipes Zen 3 has; full-width
  // 512-bit pipes do twice that.
  bool full = avx512 && fullWidth512;
  double fp32PerCycle = full ? 64 : 32;
  double int8PerCycle = (vnni ? 128 : 64) * (full ? 2 : 1);
  MachinePeaks peaks;
  peaks.fp32Flops = fp32PerCycle * hz;
  peaks.fp16Flops = peaks.fp32Flops;
  peaks.int8Ops = int8PerCycle * hz;
  peaks.bandwidth = bandwidthGBs * 1e9;
  peaks.int8Native = true;
  peaks.fp16Native = false;
  char buf[160];
  std::snprintf(buf, sizeof(buf), "nominal %s core at %.3g GHz, %.3g GB/s",
                full ? (vnni ? "AVX-512 VNNI (Zen 5-class, 512-bit datapaths)"
                             : "AVX-512 (512-bit datapaths)")
                : avx512
                    ? (vnni ? "AVX-512 VNNI (Zen 4-class, 256-bit datapaths)"
                            : "AVX-512 (256-bit datapaths)")
                    : (vnni ? "AVX2 + AVX-VNNI" : "AVX2 (Zen 3-class)"),
                ghz, bandwidthGBs);
  peaks.source = buf;
  return peaks;
}

MachinePeaks publishedPeaks(std::string source, double fp32TFlops,
                            double fp16TFlops, double int8TOps,
                            double bandwidthGBs, bool int8Native,
                            bool fp16Native) {
  MachinePeaks peaks;
  peaks.fp32Flops = fp32TFlops * 1e12;
  peaks.fp16Flops = fp16Native ? fp16TFlops * 1e12 : peaks.fp32Flops;
  peaks.int8Ops = int8Native ? int8TOps * 1e12 : peaks.fp32Flops;
  peaks.bandwidth = bandwidthGBs * 1e9;
  peaks.int8Native = int8Native;
  peaks.fp16Native = fp16Native;
  peaks.source = std::move(source);
  return peaks;
}

} // namespace qopt::quant
