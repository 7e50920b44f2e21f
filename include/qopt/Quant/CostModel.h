//===- CostModel.h - Roofline time estimates per layer ----------*- C++ -*-===//
//
// A roofline model of one matrix product at one precision: the bytes it
// moves, the operations it performs, and the larger of the two times the
// machine's bandwidth and compute peak allow. It says whether the layer is
// memory- or compute-bound, and so whether fewer weight bits make it faster.
// Plain C++ without MLIR; the peaks come from the target description.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_QUANT_COSTMODEL_H
#define QOPT_QUANT_COSTMODEL_H

#include <cstdint>
#include <string>

namespace qopt::quant {

/// A target's throughput: operations per second and bytes per second.
struct MachinePeaks {
  double fp32Flops = 0, fp16Flops = 0, int8Ops = 0, bandwidth = 0;
  /// Whether int8 dot products and fp16 arithmetic run in hardware; when
  /// not, they are emulated at the fp32 peak.
  bool int8Native = false, fp16Native = false;
  /// Where the figures come from, e.g. "nominal ..." or "measured".
  std::string source;
};

/// [batch] x [m, k] activations times a [k, n] weight shared by the batch.
struct MatMulShape {
  int64_t m = 1, n = 0, k = 0;
  int64_t batch = 1;
};

struct PrecisionCost {
  /// Stored bits per weight, scales and zero points included (32 for
  /// float, 4.5 for 4-bit groups of 32 with a float scale each).
  double weightBitsPerValue = 32;
  /// int8 activations into an integer dot product (W8A8, W4A8).
  bool integerActivations = false;
  /// Weights dequantized to float in the kernel, float arithmetic.
  bool weightOnly = false;
};

struct LayerCost {
  /// Weight plus activation bytes moved, the products' 2·m·n·k·batch
  /// operations, and their ratio in operations per byte.
  double bytes = 0, ops = 0, intensity = 0;
  /// Dequantization and activation quantization work, in fp32 operations,
  /// charged at the fp32 peak on top of `ops`.
  double overheadOps = 0;
  /// max(memory time, compute time).
  double seconds = 0, memorySeconds = 0, computeSeconds = 0;
  bool memoryBound = false;
  /// The integer arithmetic is emulated at the fp32 peak.
  bool emulated = false;
  /// One sentence: which bound holds and what fewer weight bits would do.
  std::string why;
};

/// fp32 operations per weight that a weight-only kernel spends
/// dequantizing it (unpack, convert, scale), and per activation value that
/// an integer kernel spends quantizing it (scale, round, convert), and per
/// output value rescaling the int32 sums.
constexpr double kDequantOpsPerWeight = 2;
constexpr double kQuantizeOpsPerActivation = 3;
constexpr double kRescaleOpsPerOutput = 2;

/// The roofline estimate of `shape` at precision `p` on `peaks`:
///  - bytes: n·k weights at p's bits, activations in (float32, or int8 with
///    integer activations) and out (float32);
///  - compute: the int8 peak for integer activations where int8 is native,
///    the fp32 peak otherwise, plus the overhead operations at fp32;
///    weight-only dequantizes every weight once per batch item;
///  - memory-bound when the memory time exceeds the compute time.
LayerCost estimateMatMul(const MatMulShape &shape, const PrecisionCost &p,
                         const MachinePeaks &peaks);

/// Nominal peaks of one x86-64 core at `ghz` with `bandwidthGBs` of memory
/// bandwidth (GB/s, 1e9 bytes), from the vector units' widths alone (no
/// measurement; achievable figures are lower):
///  - avx512 (modelled on Zen 4, whose 512-bit instructions run on 256-bit
///    datapaths): fp32 32 flops/cycle (one 512-bit FMA per cycle, or two
///    256-bit); int8 with VNNI 128 ops/cycle (vpdpbusd: 64 u8·s8
///    multiply-adds per cycle), without VNNI 64 ops/cycle;
///  - AVX2 (modelled on Zen 3: two 256-bit FMA pipes): fp32 32 flops/cycle;
///    int8 through vpmaddubsw + vpmaddwd + vpaddd, three instructions per 32
///    multiply-adds with both multiply pipes busy, 64 ops/cycle; with
///    AVX-VNNI (256-bit vpdpbusd on two ports) 128 ops/cycle.
/// With `fullWidth512` (cores whose two FMA pipes are 512 bits wide: Zen 5,
/// measured here at 63 flops and 256 int8 ops per cycle; Intel server cores
/// with two 512-bit FMA units) the avx512 figures double.
/// int8 is native in every case (the AVX2 path is integer SIMD too); fp16
/// arithmetic is not (F16C only converts), so fp16Flops is the fp32 peak.
MachinePeaks x86NominalPeaks(bool avx512, bool vnni, double ghz,
                             double bandwidthGBs, bool fullWidth512 = false);

/// Peaks from one part's published figures (TFLOPS, TOPS, GB/s) for the
/// units qopt's kernels use on it; `source` names the part and says so.
MachinePeaks publishedPeaks(std::string source, double fp32TFlops,
                            double fp16TFlops, double int8TOps,
                            double bandwidthGBs, bool int8Native,
                            bool fp16Native);

} // namespace qopt::quant

#endif // QOPT_QUANT_COSTMODEL_H
