//===- HostPeaks.cpp - Measured peaks of the machine qopt runs on ---------===//
//
// Each loop is its own function with a target attribute, so the rest of
// qopt keeps its baseline ISA, and is only called where the host has the
// instructions (__builtin_cpu_supports).
//
//===----------------------------------------------------------------------===//

#include "qopt/Target/X86/HostPeaks.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qopt::x86 {

#if defined(__x86_64__)

namespace {

using Clock = std::chrono::steady_clock;

/// 12 independent chains of STEP (an expression of accumulator `a`) on
/// accumulators of type V started at INIT, timed; evaluates to operations
/// per second at OPS per step. A macro, not a template: each loop needs its
/// function's target attribute, which a template or lambda would not
/// inherit. 12 chains cover a 4-5 cycle latency on two ports.
#define QOPT_CHAINS_PER_SECOND(V, INIT, STEP, OPS)                             \
  V acc[12];                                                                   \
  for (V & a : acc)                                                            \
    a = INIT;                                                                  \
  auto start = Clock::now();                                                   \
  for (long i = 0; i < iterations; ++i)                                        \
    for (V & a : acc)                                                          \
      a = STEP;                                                                \
  double secs = std::chrono::duration<double>(Clock::now() - start).count();   \
  volatile char sink = 0;                                                      \
  for (V & a : acc)                                                            \
    sink = sink + reinterpret_cast<const char *>(&a)[0];                       \
  return double(iterations) * 12.0 * (OPS) / secs;

__attribute__((target("avx512f,avx512bw,avx512vnni"))) double
avx512VnniLoop(long iterations) {
  __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2);
  QOPT_CHAINS_PER_SECOND(__m512i, _mm512_setzero_si512(),
                         _mm512_dpbusd_epi32(a, x, y), 128.0)
}

__attribute__((target("avx2,avxvnni"))) double avxVnniLoop(long iterations) {
  __m256i x = _mm256_set1_epi8(1), y = _mm256_set1_epi8(2);
  QOPT_CHAINS_PER_SECOND(__m256i, _mm256_setzero_si256(),
                         _mm256_dpbusd_avx_epi32(a, x, y), 64.0)
}

/// The products read the accumulator's bytes, or the compiler would hoist
/// them out of the loop; the two multiplies per step share the vector
/// multiply ports, so 12 chains still reach the throughput bound.
__attribute__((target("avx2"))) double avx2Int8Loop(long iterations) {
  __m256i y = _mm256_set1_epi8(2), ones = _mm256_set1_epi16(1);
  QOPT_CHAINS_PER_SECOND(
      __m256i, _mm256_set1_epi32(1),
      _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(a, y), ones)),
      64.0)
}

__attribute__((target("avx512f"))) double fp32Loop512(long iterations) {
  __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-7f);
  QOPT_CHAINS_PER_SECOND(__m512, _mm512_set1_ps(1.f), _mm512_fmadd_ps(a, x, y),
                         32.0)
}

__attribute__((target("avx2,fma"))) double fp32Loop256(long iterations) {
  __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-7f);
  QOPT_CHAINS_PER_SECOND(__m256, _mm256_set1_ps(1.f), _mm256_fmadd_ps(a, x, y),
                         16.0)
}

#undef QOPT_CHAINS_PER_SECOND

/// The best of three runs (the first also warms the core's clock up).
template <typename F> double bestOfThree(F run) {
  double best = 0;
  for (int i = 0; i < 3; ++i)
    best = std::max(best, run());
  return best;
}

} // namespace

bool hostRunsInt8Level(Int8PeakLevel level) {
  __builtin_cpu_init();
  switch (level) {
  case Int8PeakLevel::Avx512Vnni:
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
  case Int8PeakLevel::AvxVnni:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avxvnni");
  case Int8PeakLevel::Avx2:
    return __builtin_cpu_supports("avx2");
  }
  return false;
}

double measureInt8Peak(Int8PeakLevel level, long iterations) {
  switch (level) {
  case Int8PeakLevel::Avx512Vnni:
    return avx512VnniLoop(iterations);
  case Int8PeakLevel::AvxVnni:
    return avxVnniLoop(iterations);
  case Int8PeakLevel::Avx2:
    return avx2Int8Loop(iterations);
  }
  return 0;
}

double measureFp32Peak(bool avx512, long iterations) {
  return avx512 ? fp32Loop512(iterations) : fp32Loop256(iterations);
}

double measureReadBandwidth(const char *data, size_t bytes, int passes) {
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto *p = reinterpret_cast<const uint64_t *>(data);
    size_t words = bytes / 8;
    auto start = Clock::now();
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= words; i += 4) {
      s0 += p[i];
      s1 += p[i + 1];
      s2 += p[i + 2];
      s3 += p[i + 3];
    }
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    volatile uint64_t sink = s0 + s1 + s2 + s3;
    (void)sink;
    best = std::max(best, double(bytes) / secs);
  }
  return best;
}

const quant::MachinePeaks *measuredHostPeaks() {
  static std::once_flag once;
  static std::optional<quant::MachinePeaks> peaks;
  std::call_once(once, [] {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
      return;
    bool avx512 = __builtin_cpu_supports("avx512f");
    const char *label = "AVX2";
    Int8PeakLevel level = Int8PeakLevel::Avx2;
    for (auto [l, name] : {std::pair{Int8PeakLevel::Avx512Vnni, "AVX-512 VNNI"},
                           std::pair{Int8PeakLevel::AvxVnni, "AVX-VNNI"}})
      if (hostRunsInt8Level(l)) {
        level = l;
        label = name;
        break;
      }
    if (avx512 && level == Int8PeakLevel::Avx2)
      label = "AVX-512";
    // About 5 ms per loop at 2 instructions per cycle.
    constexpr long kIterations = 1'000'000;
    quant::MachinePeaks p;
    p.fp32Flops =
        bestOfThree([&] { return measureFp32Peak(avx512, kIterations); });
    p.fp16Flops = p.fp32Flops;
    p.int8Ops =
        bestOfThree([&] { return measureInt8Peak(level, kIterations); });
    // Four times the last-level cache, at least 256 MiB and at most 1 GiB:
    // streamed from memory, not from the caches.
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    size_t bytes = std::clamp<size_t>(l3 > 0 ? 4 * size_t(l3) : 0,
                                      size_t(256) << 20, size_t(1) << 30);
    std::unique_ptr<char[]> buffer(new char[bytes]);
    for (size_t i = 0; i < bytes; i += 4096)
      buffer[i] = char(i >> 12);
    p.bandwidth = measureReadBandwidth(buffer.get(), bytes, 2);
    p.int8Native = true;
    p.fp16Native = false;
    char source[200];
    std::snprintf(source, sizeof(source),
                  "measured on this machine (one core, %s): fp32 %.0f GFLOPS, "
                  "int8 %.0f GOPS, %.1f GB/s",
                  label, p.fp32Flops / 1e9, p.int8Ops / 1e9, p.bandwidth / 1e9);
    p.source = source;
    peaks = std::move(p);
  });
  return peaks ? &*peaks : nullptr;
}

#else

bool hostRunsInt8Level(Int8PeakLevel) { return false; }
double measureInt8Peak(Int8PeakLevel, long) { return 0; }
double measureFp32Peak(bool, long) { return 0; }
double measureReadBandwidth(const char *, size_t, int) { return 0; }
const quant::MachinePeaks *measuredHostPeaks() { return nullptr; }

#endif

} // namespace qopt::x86
