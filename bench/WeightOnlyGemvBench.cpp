//===- WeightOnlyGemvBench.cpp - 4-bit GEMV against the DRAM bandwidth ----===//
//
// For M x N x K = 1 x 4096 x 4096 and 1 x 4096 x 11008 with 4-bit symmetric
// weights in groups of 32 and 128 (the decode step of a W4A16 model), times
// the qopt.matmul that qopt compiles (through the whole x86 pipeline and
// qrt: the weight-only kernel dequantizing in registers) with the weights
// out of the caches: before every timed run, a buffer larger than the
// last-level cache is written, so the weights come from DRAM. Prints the
// single-thread DRAM read bandwidth measured first, each run's effective
// bandwidth (packed weight and scale bytes / time) and its ratio to it.
// The result of every shape is checked against a plain evaluation.
//
//   qopt-bench-w4-gemv [runs]     (run pinned to one core)
//
//===----------------------------------------------------------------------===//

#include "BenchCommon.h"
#include "qopt/Driver/Driver.h"
#include "qopt/Quant/Quant.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Target/Target.h"
#include "qopt/Target/X86/HostPeaks.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

/// Larger than any last-level cache these machines have (480 MiB seen).
constexpr size_t kEvictBytes = size_t(1) << 30;

/// Reads the eviction buffer, so that nothing else stays cached. Reads, not
/// writes: written lines would be dirty, and their write-backs would share
/// the DRAM bandwidth with the timed run that evicts them.
void evictCaches(std::vector<char> &buffer) {
  volatile char sink = 0;
  char sum = 0;
  for (size_t i = 0; i < buffer.size(); i += 64)
    sum += buffer[i];
  sink = sum;
  (void)sink;
}

/// Single-thread read bandwidth (GB/s) of a buffer larger than the caches:
/// the best of three passes.
double dramReadGBs(const std::vector<char> &buffer) {
  return qopt::x86::measureReadBandwidth(buffer.data(), buffer.size(), 3) / 1e9;
}

/// Compiles y = x W^T for one shape with `q` as the model's constant
/// weights; returns the loaded model (null on failure).
qrt_model *compileGemv(int64_t n, int64_t k, const qopt::quant::QuantizedMatrix &q,
                       int64_t group, std::string &dir) {
  int64_t rowBytes = q.scheme.packedRowBytes(k), groups = q.scheme.numGroups(k);
  std::string text = llvm::formatv(
      "func.func @main(%x: tensor<1x{1}xf32> {{qopt.name = \"x\", "
      "qopt.dtype = \"float32\"}, %w: tensor<{0}x{2}xi8>, %s: "
      "tensor<{0}x{3}xf32>) -> (tensor<1x{0}xf32> {{qopt.name = \"y\", "
      "qopt.dtype = \"float32\"}) {\n"
      "  %0 = qopt.matmul %x, %w scales(%s) {{k = {1} : i64, scheme = "
      "#qopt.scheme<int4, group {4}, sym>} : (tensor<1x{1}xf32>, "
      "tensor<{0}x{2}xi8>, tensor<{0}x{3}xf32>) -> tensor<1x{0}xf32>\n"
      "  return %0 : tensor<1x{0}xf32>\n}\n",
      n, k, rowBytes, groups, group);
  mlir::DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (!module)
    return nullptr;
  // The weight and scale arguments become constants.
  auto fn = *module->getOps<mlir::func::FuncOp>().begin();
  mlir::OpBuilder b = mlir::OpBuilder::atBlockBegin(&fn.getBody().front());
  auto wType = mlir::cast<mlir::RankedTensorType>(fn.getArgument(1).getType());
  auto sType = mlir::cast<mlir::RankedTensorType>(fn.getArgument(2).getType());
  fn.getArgument(1).replaceAllUsesWith(qopt::bench::resourceConstant(
      b, fn.getLoc(), wType, "w", q.packed.data(), q.packed.size()));
  fn.getArgument(2).replaceAllUsesWith(qopt::bench::resourceConstant(
      b, fn.getLoc(), sType, "s", q.scales.data(), q.scales.size() * 4));
  llvm::BitVector erase(3);
  erase.set(1);
  erase.set(2);
  if (mlir::failed(fn.eraseArguments(erase)))
    return nullptr;
  return qopt::bench::compileAndLoad(*module, "", dir);
}

} // namespace

int main(int argc, char **argv) {
  // --bandwidth: only the header line (ISA level and the measured DRAM
  // bandwidth), for scripts that time their own peers.
  bool bandwidthOnly = argc > 1 && llvm::StringRef(argv[1]) == "--bandwidth";
  int runs = argc > 1 && !bandwidthOnly ? std::atoi(argv[1]) : 20;
  if (runs < 1) {
    llvm::errs() << "usage: qopt-bench-w4-gemv [runs | --bandwidth]\n";
    return 2;
  }
  mlir::DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  qopt::registerBuiltinTargets();
  std::string error;
  llvm::FailureOr<qopt::TargetAttr> host = qopt::hostTarget(&context, error);
  if (mlir::failed(host)) {
    llvm::errs() << "qopt-bench: " << error << "\n";
    return 1;
  }
  std::vector<char> evict(kEvictBytes, 1);
  double dram = dramReadGBs(evict);
  llvm::outs() << llvm::formatv(
      "ISA level: {0}; measured DRAM read bandwidth (one core): {1:f1} GB/s\n",
      host->hasFeature("avx512f") ? "AVX-512 (zmm kernel)"
      : host->hasFeature("avx2")  ? "AVX2 (ymm kernel)"
                                  : "below AVX2 (generic lowering)",
      dram);
  if (bandwidthOnly)
    return 0;
  llvm::outs() << llvm::formatv("{0,-22} {1,10} {2,10} {3,12} {4,12}\n",
                                "M x N x K, group", "weight MB", "qopt ms",
                                "qopt GB/s", "of DRAM");
  struct Shape {
    int64_t n, k, group;
  } shapes[] = {{4096, 4096, 32},
                {4096, 4096, 128},
                {4096, 11008, 32},
                {4096, 11008, 128}};
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (Shape s : shapes) {
    qopt::quant::WeightScheme scheme;
    scheme.kind = qopt::quant::WeightKind::Int;
    scheme.bits = 4;
    scheme.groupSize = s.group;
    scheme.symmetric = true;
    std::vector<float> w(s.n * s.k);
    for (float &v : w)
      v = normal(rng);
    qopt::quant::QuantizedMatrix q =
        qopt::quant::quantizeRTN(w.data(), s.n, s.k, scheme);
    std::vector<float> x(s.k), y(s.n);
    for (float &v : x)
      v = normal(rng);
    std::string dir;
    qrt_model *model = compileGemv(s.n, s.k, q, s.group, dir);
    if (!model) {
      llvm::errs() << "qopt-bench: compiling the GEMV failed\n";
      return 1;
    }
    const void *ins[] = {x.data()};
    void *outs[] = {y.data()};
    qrt_run(model, ins, outs); // warm up (page faults of weights.bin)
    std::vector<double> t;
    for (int i = 0; i < runs; ++i) {
      evictCaches(evict);
      auto start = Clock::now();
      qrt_run(model, ins, outs);
      t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    qrt_free(model);
    llvm::sys::fs::remove_directories(dir);
    std::sort(t.begin(), t.end());
    double secs = t[t.size() / 2];
    // Check against a plain evaluation of the dequantized weights.
    for (int64_t j = 0; j < s.n; j += 97) {
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < s.k; ++i) {
        ref += double(x[i]) * q.value(j, i);
        mag += std::fabs(double(x[i]) * q.value(j, i));
      }
      if (std::fabs(y[j] - ref) > 1e-5 * mag + 1e-6) {
        llvm::errs() << "qopt-bench: wrong result at column " << j << "\n";
        return 1;
      }
    }
    double bytes = double(q.packed.size()) + q.scales.size() * 4.0;
    double gbs = bytes / secs / 1e9;
    llvm::outs() << llvm::formatv(
        "{0,-22} {1,10:f2} {2,10:f3} {3,12:f1} {4,11:f1}%\n",
        llvm::formatv("1x{0}x{1}, g{2}", s.n, s.k, s.group).str(), bytes / 1e6,
        secs * 1e3, gbs, 100 * gbs / dram);
  }
  return 0;
}
