//===- HostPeaks.h - Measured peaks of the machine qopt runs on -*- C++ -*-===//
//
// Short timed loops that measure one core of this x86-64 machine: fp32 FMA
// throughput, int8 multiply-add throughput at each ISA level qopt has a
// kernel for, and single-thread read bandwidth from memory. The cost model
// uses them when compiling for this machine (--cost-peaks), and the
// benchmarks print them next to their ratios.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_X86_HOSTPEAKS_H
#define QOPT_TARGET_X86_HOSTPEAKS_H

#include "qopt/Quant/CostModel.h"

#include <cstddef>

namespace qopt::x86 {

/// The int8 multiply-add sequences of qopt's kernels, by ISA level.
enum class Int8PeakLevel {
  /// vpdpbusd zmm: 64 u8 x s8 products per instruction.
  Avx512Vnni,
  /// The VEX vpdpbusd ymm: 32 products per instruction.
  AvxVnni,
  /// vpmaddubsw + vpmaddwd + vpaddd on ymm: 32 products per step.
  Avx2,
};

/// Whether this machine executes `level`'s instructions.
bool hostRunsInt8Level(Int8PeakLevel level);
/// Operations per second (2 per multiply-add) of `level` on one core: 12
/// independent chains of `iterations` steps each. The host must run it.
double measureInt8Peak(Int8PeakLevel level, long iterations);
/// fp32 flops per second of FMAs on one core, on zmm registers when
/// `avx512` (the host must have AVX-512F), ymm otherwise (AVX2 + FMA).
double measureFp32Peak(bool avx512, long iterations);
/// Single-thread read bandwidth in bytes per second: the best of `passes`
/// sums of `bytes` bytes at `data` (which should exceed the caches).
double measureReadBandwidth(const char *data, size_t bytes, int passes);

/// This machine's peaks on one core at the widest level it runs, measured
/// once per process (a fraction of a second); none below AVX2 + FMA.
const quant::MachinePeaks *measuredHostPeaks();

} // namespace qopt::x86

#endif // QOPT_TARGET_X86_HOSTPEAKS_H
