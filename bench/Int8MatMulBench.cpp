//===- Int8MatMulBench.cpp - int8 GEMM: qopt vs oneDNN vs the VNNI peak ---===//
//
// For each M x N x K, times the i8 x i8 -> i32 product that qopt compiles for
// qopt.matmul (the W8A8 kernel, through the whole x86 pipeline and qrt) and
// oneDNN's u8 x s8 -> s32 matmul, on the calling thread, and prints both as
// GOPS and as a fraction of this core's int8 peak at the same ISA level,
// measured first (independent chains of that level's dot instruction).
//
//   qopt-bench-int8-matmul [runs] [--isa=avx512vnni|avxvnni|avx2]
//                          [--dnnl-any-isa]
//
// --isa compiles qopt's kernel for a lower level than the host's (default:
// the host's widest); oneDNN is capped at the same level (its AVX-512 and
// AMX kernels excluded accordingly) unless --dnnl-any-isa. Run with
// OMP_NUM_THREADS=1, pinned to one core.
//
//===----------------------------------------------------------------------===//

#include "BenchCommon.h"
#include "qopt/Driver/Driver.h"
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

#include <oneapi/dnnl/dnnl.hpp>

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

/// An ISA level: qopt's kernel, what the host needs, the target features
/// that lower the host's description to it, oneDNN's cap and the peak.
struct Level {
  const char *name, *label;
  std::vector<const char *> needs;
  const char *lower;
  dnnl::cpu_isa dnnlCap;
  qopt::x86::Int8PeakLevel peak;
};

const Level kLevels[] = {
    {"avx512vnni",
     "AVX-512 VNNI (vpdpbusd zmm)",
     {"avx512f", "avx512bw", "avx512vnni"},
     "",
     dnnl::cpu_isa::avx512_core_vnni,
     qopt::x86::Int8PeakLevel::Avx512Vnni},
    {"avxvnni",
     "AVX-VNNI (vpdpbusd ymm)",
     {"avx2", "avxvnni"},
     "-avx512f,-avx512bw,-avx512vl,-avx512vnni",
     dnnl::cpu_isa::avx2_vnni,
     qopt::x86::Int8PeakLevel::AvxVnni},
    {"avx2",
     "AVX2 (vpmaddubsw + vpmaddwd)",
     {"avx2"},
     "-avx512f,-avx512bw,-avx512vl,-avx512vnni,-avxvnni",
     dnnl::cpu_isa::avx2,
     qopt::x86::Int8PeakLevel::Avx2},
};

/// Compiles `qopt.matmul` i8 x i8 -> i32 for one shape through the x86
/// pipeline, with `w` as the model's constant weights (as in a compiled
/// model: the target may repack them at compile time); returns the loaded
/// model (null on failure).
qrt_model *compileQOpt(int64_t m, int64_t n, int64_t k,
                       const std::vector<int8_t> &w, const Level &level,
                       std::string &dir) {
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
  arg.replaceAllUsesWith(qopt::bench::resourceConstant(
      b, fn.getLoc(), type, "w", w.data(), w.size()));
  if (mlir::failed(fn.eraseArgument(1)))
    return nullptr;
  return qopt::bench::compileAndLoad(*module, level.lower, dir);
}

} // namespace

int main(int argc, char **argv) {
  int runs = 10;
  std::string isa;
  bool dnnlAnyIsa = false;
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef arg(argv[i]);
    if (arg.consume_front("--isa="))
      isa = arg.str();
    else if (arg == "--dnnl-any-isa")
      dnnlAnyIsa = true;
    else if (arg.getAsInteger(10, runs) || runs < 1) {
      llvm::errs() << "usage: qopt-bench-int8-matmul [runs] "
                      "[--isa=avx512vnni|avxvnni|avx2] [--dnnl-any-isa]\n";
      return 2;
    }
  }
  // The widest level the host runs (or the one asked for, if it runs it):
  // no instruction the host lacks is ever executed.
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
  auto runsHere = [&](const Level &l) {
    for (const char *f : l.needs)
      if (!host->hasFeature(f))
        return false;
    return true;
  };
  const Level *level = nullptr;
  for (const Level &l : kLevels) {
    if (!isa.empty() && isa != l.name)
      continue;
    if (runsHere(l)) {
      level = &l;
      break;
    }
    if (!isa.empty()) {
      llvm::errs() << "qopt-bench: this machine cannot run the " << l.name
                   << " kernel\n";
      return 1;
    }
  }
  if (!level) {
    llvm::errs() << (isa.empty() ? "qopt-bench: this machine is below AVX2: no "
                                   "int8 kernel to measure\n"
                                 : "qopt-bench: unknown --isa " + isa + "\n");
    return 1;
  }
  if (!dnnlAnyIsa)
    dnnl::set_max_cpu_isa(level->dnnlCap);
  // 12 chains of 20 M steps of the level's dot instruction.
  double peak = qopt::x86::measureInt8Peak(level->peak, 20'000'000) / 1e9;
  llvm::outs() << llvm::formatv(
      "ISA level: {0}; measured int8 peak at this level (one core): {1:f0} "
      "GOPS\n",
      level->label, peak);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  llvm::outs() << "oneDNN: " << dnnl::version()->major << "."
               << dnnl::version()->minor << ", "
               << (dnnlAnyIsa ? "any ISA" : "capped at this level")
               << ", implementation per shape in the last column\n";
  llvm::outs() << llvm::formatv(
      "{0,-18} {1,10} {2,8} {3,11} {4,8} {5,11}  {6}\n", "M x N x K",
      "qopt GOPS", "of peak", "oneDNN GOPS", "of peak", "qopt/oneDNN",
      "oneDNN kernel");
  struct Shape {
    int64_t m, n, k;
  } shapes[] = {{1, 4096, 4096}, {16, 4096, 4096}, {128, 4096, 4096},
                {512, 512, 512}, {1024, 1024, 1024}};
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
    qrt_model *model = compileQOpt(s.m, s.n, s.k, w, *level, dir);
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
    // qopt's first row against a plain evaluation (exact), and oneDNN's
    // (its u8 operand is a + 128): oneDNN's AVX2 path adds vpmaddubsw's
    // pairs into saturating i16 lanes, so it may differ there.
    bool dnnlExact = true;
    for (int64_t j = 0; j < std::min<int64_t>(s.n, 8); ++j) {
      int64_t ref = 0, corr = 0;
      for (int64_t c = 0; c < s.k; ++c) {
        ref += int64_t(a[c]) * w[j * s.k + c];
        corr += 128 * int64_t(w[j * s.k + c]);
      }
      if (y[j] != ref) {
        llvm::errs() << "qopt-bench: qopt's product is wrong at column " << j
                     << "\n";
        return 1;
      }
      dnnlExact &= int64_t(yd[j]) - corr == ref;
    }
    if (!dnnlExact)
      llvm::outs() << "(oneDNN's result differs from the exact product for "
                   << llvm::formatv("{0}x{1}x{2}", s.m, s.n, s.k).str()
                   << ": its i16 pair sums saturate at this ISA level)\n";
    double gq = ops / tq / 1e9, gd = ops / td / 1e9;
    llvm::outs() << llvm::formatv(
        "{0,-18} {1,10:f1} {2,7:f1}% {3,11:f1} {4,7:f1}% {5,11:f3}  {6}\n",
        llvm::formatv("{0}x{1}x{2}", s.m, s.n, s.k).str(), gq,
        100 * gq / peak, gd, 100 * gd / peak, gq / gd, pd.impl_info_str());
  }
  return 0;
}
