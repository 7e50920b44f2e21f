//===- Int8MatMulBench.cpp - int8 GEMM: qopt vs oneDNN vs the VNNI peak ---===//
//
// For each M x N x K, times the i8 x i8 -> i32 product that qopt compiles for
// qopt.matmul (the W8A8 kernel, through the whole x86 pipeline and qrt) and
// oneDNN's u8 x s8 -> s32 matmul, on the calling thread, and prints both as
// GOPS and as a fraction of this core's measured AVX-512 VNNI peak.
//
//   qopt-bench-int8-matmul [runs]     (run with OMP_NUM_THREADS=1, pinned)
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Target/Target.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double medianSeconds(int runs, F &&f) {
  f(); // warm up
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto s = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - s).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

/// Measured peak: independent chains of vpdpbusd zmm (64 u8 x s8 products,
/// 128 ops, per instruction), enough of them to hide the latency.
__attribute__((target("avx512f,avx512vnni"))) double vnniPeakGops() {
  __m512i acc[12];
  for (__m512i &a : acc)
    a = _mm512_setzero_si512();
  __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2);
  const long iters = 20'000'000;
  auto start = Clock::now();
  for (long i = 0; i < iters; ++i)
    for (__m512i &a : acc)
      a = _mm512_dpbusd_epi32(a, x, y);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  __m512i sum = acc[0];
  for (int i = 1; i < 12; ++i)
    sum = _mm512_add_epi32(sum, acc[i]);
  volatile int sink = _mm512_reduce_add_epi32(sum);
  (void)sink;
  return iters * 12.0 * 128.0 / secs / 1e9;
}

/// Compiles `qopt.matmul` i8 x i8 -> i32 for one shape through the x86
/// pipeline, with `w` as the model's constant weights (as in a compiled
/// model: the target may repack them at compile time); returns the loaded
/// model (null on failure).
qrt_model *compileQOpt(int64_t m, int64_t n, int64_t k,
                       const std::vector<int8_t> &w, std::string &dir) {
  llvm::SmallString<128> p;
  llvm::sys::fs::createUniqueDirectory("qopt-bench", p);
  dir = std::string(p);
  std::string text = llvm::formatv(
      "func.func @main(%a: tensor<{0}x{2}xi8> {{qopt.name = \"a\", "
      "qopt.dtype = \"int8\"}, %w: tensor<{1}x{2}xi8>) -> "
      "(tensor<{0}x{1}xi32> {{qopt.name = \"y\", qopt.dtype = \"int32\"}) {\n"
      "  %0 = qopt.matmul %a, %w {{k = {2} : i64, scheme = "
      "#qopt.scheme<int8, per_tensor, sym>} : (tensor<{0}x{2}xi8>, "
      "tensor<{1}x{2}xi8>) -> tensor<{0}x{1}xi32>\n"
      "  return %0 : tensor<{0}x{1}xi32>\n}\n",
      m, n, k);
  mlir::DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (!module)
    return nullptr;
  // The weight argument becomes a constant holding `w`.
  auto fn = *module->getOps<mlir::func::FuncOp>().begin();
  mlir::BlockArgument arg = fn.getArgument(1);
  mlir::OpBuilder b = mlir::OpBuilder::atBlockBegin(&fn.getBody().front());
  auto type = mlir::cast<mlir::RankedTensorType>(arg.getType());
  auto blob = mlir::HeapAsmResourceBlob::allocateAndCopyWithAlign(
      llvm::ArrayRef<char>(reinterpret_cast<const char *>(w.data()), w.size()),
      64, /*dataIsMutable=*/false);
  mlir::Value weights = mlir::arith::ConstantOp::create(
      b, fn.getLoc(), type,
      mlir::DenseResourceElementsAttr::get(type, "w", std::move(blob)));
  arg.replaceAllUsesWith(weights);
  if (mlir::failed(fn.eraseArgument(1)))
    return nullptr;
  qopt::registerBuiltinTargets();
  if (mlir::failed(qopt::attachHostTarget(*module)) ||
      mlir::failed(qopt::compileArtifact(*module, qopt::SerializeOptions(),
                                         dir + "/a", /*force=*/false)))
    return nullptr;
  char err[512];
  return qrt_load((dir + "/a").c_str(), err, sizeof err);
}

} // namespace

int main(int argc, char **argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 10;
  // The peak loop is VNNI code: on AVX2-only cores (Zen 3) it would die of
  // SIGILL, so there the ratios are against oneDNN only.
  bool vnni = __builtin_cpu_supports("avx512vnni");
  double peak = vnni ? vnniPeakGops() : 0;
  if (vnni)
    llvm::outs() << llvm::formatv("ISA level: AVX-512 VNNI; measured VNNI peak "
                                  "(one core): {0:f0} GOPS\n",
                                  peak);
  else
    llvm::outs() << "ISA level: "
                 << (__builtin_cpu_supports("avx2") ? "AVX2" : "below AVX2")
                 << " (no AVX-512 VNNI): no peak measured, 'of peak' is 0\n";
  llvm::outs() << llvm::formatv("{0,-18} {1,10} {2,8} {3,11} {4,8} {5,10}\n",
                                "M x N x K", "qopt GOPS", "of peak",
                                "oneDNN GOPS", "of peak", "qopt/oneDNN");
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  struct Shape {
    int64_t m, n, k;
  } shapes[] = {{1, 4096, 4096}, {16, 4096, 4096}, {128, 4096, 4096},
                {512, 512, 512}};
  std::mt19937 rng(1);
  for (Shape s : shapes) {
    std::vector<int8_t> a(s.m * s.k), w(s.n * s.k), wkn(s.k * s.n);
    std::vector<uint8_t> au(s.m * s.k);
    std::vector<int32_t> y(s.m * s.n), yd(s.m * s.n);
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = int8_t(rng() % 255 - 127);
      au[i] = uint8_t(a[i] + 128);
    }
    for (size_t i = 0; i < w.size(); ++i)
      w[i] = int8_t(rng() % 255 - 127);
    for (int64_t r = 0; r < s.n; ++r)
      for (int64_t c = 0; c < s.k; ++c)
        wkn[c * s.n + r] = w[r * s.k + c];
    double ops = 2.0 * s.m * s.n * s.k;

    std::string dir;
    qrt_model *model = compileQOpt(s.m, s.n, s.k, w, dir);
    if (!model) {
      llvm::errs() << "qopt-bench: compiling the qopt kernel failed\n";
      return 1;
    }
    const void *ins[] = {a.data()};
    void *outs[] = {y.data()};
    double tq = medianSeconds(runs, [&] { qrt_run(model, ins, outs); });
    qrt_free(model);
    llvm::sys::fs::remove_directories(dir);

    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    dnnl::memory::desc ad({s.m, s.k}, dt::u8, tag::ab);
    dnnl::memory::desc wd({s.k, s.n}, dt::s8, tag::ab);
    dnnl::memory::desc yd_({s.m, s.n}, dt::s32, tag::ab);
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(ad, wd, yd_), engine);
    dnnl::matmul prim(pd);
    dnnl::memory am(ad, engine, au.data()), wm(wd, engine, wkn.data()),
        ym(yd_, engine, yd.data());
    double td = medianSeconds(runs, [&] {
      prim.execute(stream, {{DNNL_ARG_SRC, am},
                            {DNNL_ARG_WEIGHTS, wm},
                            {DNNL_ARG_DST, ym}});
      stream.wait();
    });
    // Same integers: oneDNN's u8 operand is a + 128.
    for (int64_t j = 0; j < std::min<int64_t>(s.n, 8); ++j) {
      int64_t corr = 0;
      for (int64_t c = 0; c < s.k; ++c)
        corr += 128 * int64_t(w[j * s.k + c]);
      if (int64_t(yd[j]) - corr != y[j]) {
        llvm::errs() << "qopt-bench: qopt and oneDNN disagree at column " << j
                     << "\n";
        return 1;
      }
    }
    double gq = ops / tq / 1e9, gd = ops / td / 1e9;
    llvm::outs() << llvm::formatv(
        "{0,-18} {1,10:f1} {2,7:f1}% {3,11:f1} {4,7:f1}% {5,10:f3}\n",
        llvm::formatv("{0}x{1}x{2}", s.m, s.n, s.k).str(), gq,
        peak ? 100 * gq / peak : 0.0, gd, peak ? 100 * gd / peak : 0.0,
        gq / gd);
  }
  return 0;
}
