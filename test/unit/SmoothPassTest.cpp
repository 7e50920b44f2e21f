//===- SmoothPassTest.cpp - qopt-smooth keeps the float function ----------===//
//
// SmoothQuant rewrites x Wᵀ as (x / s)(W · diag(s))ᵀ: before quantization
// the compiled model must compute the same function. Each case compiles a
// graph with and without qopt-smooth through the x86 pipeline and compares
// the outputs on random inputs (seed logged) within 1e-5 relative.
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Target/Target.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

using namespace qopt;

namespace {

/// Runs qopt-smooth on `text` when `smooth` is set (with `alpha`; negative:
/// searched), compiles it, and runs it once on `x`; returns the output, or
/// an empty vector with `error` set.
std::vector<float> compileAndRun(const std::string &text, bool smooth,
                                 double alpha,
                                 const std::vector<float> &x, size_t outputs,
                                 std::string &error, std::string *ir = nullptr) {
  llvm::SmallString<128> p;
  llvm::sys::fs::createUniqueDirectory("qopt-smooth-test", p);
  std::string dir(p);
  mlir::DialectRegistry registry;
  registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.getDiagEngine().registerHandler([&](mlir::Diagnostic &d) {
    error += d.str() + "\n";
    return mlir::success();
  });
  std::vector<float> y;
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (!module)
    return y;
  if (smooth) {
    mlir::PassManager pm(&context);
    SmoothPassOptions options;
    options.alpha = alpha;
    pm.addPass(createSmoothPass(options));
    if (mlir::failed(pm.run(*module)))
      return y;
    if (ir) {
      llvm::raw_string_ostream os(*ir);
      module->print(os);
    }
  }
  registerBuiltinTargets();
  if (mlir::failed(attachHostTarget(*module)) ||
      mlir::failed(compileArtifact(*module, SerializeOptions(), dir + "/a",
                                   /*force=*/false)))
    return y;
  char err[512];
  qrt_model *model = qrt_load((dir + "/a").c_str(), err, sizeof err);
  if (!model) {
    error += err;
    return y;
  }
  y.resize(outputs);
  const void *ins[] = {x.data()};
  void *outs[] = {y.data()};
  if (qrt_run(model, ins, outs) != 0)
    error += "run failed";
  qrt_free(model);
  llvm::sys::fs::remove_directories(dir);
  return y;
}

/// A dense literal of `v` as nested lists of `shape`.
std::string dense(const std::vector<float> &v, std::vector<int64_t> shape) {
  std::string s;
  size_t at = 0;
  std::function<void(size_t)> emit = [&](size_t dim) {
    s += "[";
    for (int64_t i = 0; i < shape[dim]; ++i) {
      if (i)
        s += ", ";
      if (dim + 1 == shape.size())
        s += llvm::formatv("{0:e}", v[at++]).str();
      else
        emit(dim + 1);
    }
    s += "]";
  };
  emit(0);
  return "dense<" + s + ">";
}

/// x [1, rows, k] -> optional RMSNorm-style product with a constant gamma
/// -> probe -> two matmuls with constant weights [k, n1], [k, n2] -> sum of
/// their first n columns. Channel 3 of x is 40x louder than the rest.
struct Graph {
  int64_t rows = 16, k = 12, n = 6;
  std::vector<float> gamma, w1, w2, absMax, samples;
  std::mt19937 rng;

  explicit Graph(unsigned seed) : rng(seed) {
    std::normal_distribution<float> normal(0.f, 1.f);
    for (int64_t j = 0; j < k; ++j)
      gamma.push_back(1.f + 0.1f * normal(rng));
    for (int64_t i = 0; i < k * n; ++i) {
      w1.push_back(0.2f * normal(rng));
      w2.push_back(0.2f * normal(rng));
    }
    std::vector<float> x = input();
    absMax.assign(k, 0.f);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < k; ++j)
        absMax[j] = std::max(absMax[j], std::fabs(x[r * k + j] * gamma[j]));
    samples.assign(x.begin(), x.begin() + 8 * k);
  }
  std::vector<float> input() {
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(rows * k);
    for (int64_t i = 0; i < rows * k; ++i)
      x[i] = normal(rng) * (i % k == 3 ? 40.f : 1.f);
    return x;
  }
  std::string text(bool withNorm) const {
    std::string t = llvm::formatv(R"(
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#last = affine_map<(d0, d1, d2) -> (d2)>
func.func @main(%x: tensor<1x{0}x{1}xf32> {{qopt.name = "x", qopt.dtype = "float32"})
    -> (tensor<1x{0}x{2}xf32> {{qopt.name = "y", qopt.dtype = "float32"}) {{
  %z = "tosa.const"() <{{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
)", rows, k, n).str();
    std::string in = "%x";
    if (withNorm) {
      t += llvm::formatv(R"(  %g = arith.constant {2} : tensor<{1}xf32>
  %e = tensor.empty() : tensor<1x{0}x{1}xf32>
  %n = linalg.generic {{indexing_maps = [#id, #last, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %g : tensor<1x{0}x{1}xf32>, tensor<{1}xf32>) outs(%e : tensor<1x{0}x{1}xf32>) {{
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x{0}x{1}xf32>
)", rows, k, dense(gamma, {k})).str();
      in = "%n";
    }
    t += llvm::formatv(R"(  %p = qopt.observe {3} {{id = "wq:in", channel_absmax = {4} : tensor<{1}xf32>,
                        sample_rows = {5} : tensor<8x{1}xf32>} : tensor<1x{0}x{1}xf32>
  %w1 = arith.constant {6} : tensor<1x{1}x{2}xf32>
  %w2 = arith.constant {7} : tensor<1x{1}x{2}xf32>
  %y1 = tosa.matmul %p, %w1, %z, %z : (tensor<1x{0}x{1}xf32>, tensor<1x{1}x{2}xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x{0}x{2}xf32>
  %y2 = tosa.matmul %p, %w2, %z, %z : (tensor<1x{0}x{1}xf32>, tensor<1x{1}x{2}xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x{0}x{2}xf32>
  %s = tosa.add %y1, %y2 : (tensor<1x{0}x{2}xf32>, tensor<1x{0}x{2}xf32>) -> tensor<1x{0}x{2}xf32>
  return %s : tensor<1x{0}x{2}xf32>
}
)", rows, k, n, in, dense(absMax, {k}), dense(samples, {8, k}),
                       dense(w1, {1, k, n}), dense(w2, {1, k, n}))
             .str();
    return t;
  }
};

} // namespace

TEST(SmoothPass, SmoothedFloatModelComputesTheSameFunction) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (bool withNorm : {true, false}) {
    for (double alpha : {0.5, -1.0}) {
      SCOPED_TRACE(std::string(withNorm ? "folded into the norm" : "own op") +
                   ", alpha " + std::to_string(alpha));
      Graph g(seed);
      std::vector<float> x = g.input();
      std::string error, ir;
      size_t outputs = g.rows * g.n;
      std::vector<float> plain =
          compileAndRun(g.text(withNorm), false, 0, x, outputs, error);
      ASSERT_EQ(plain.size(), outputs) << error;
      std::vector<float> smoothed =
          compileAndRun(g.text(withNorm), true, alpha, x, outputs, error, &ir);
      ASSERT_EQ(smoothed.size(), outputs) << error;
      // The rewrite happened: weights scaled (new constants), and the
      // division either folded into gamma or an op of its own.
      EXPECT_NE(ir.find("absmax"), std::string::npos) << ir;
      size_t generics = 0;
      for (size_t at = ir.find("linalg.generic"); at != std::string::npos;
           at = ir.find("linalg.generic", at + 1))
        ++generics;
      EXPECT_EQ(generics, 1u) << ir;
      float scale = 0;
      for (float v : plain)
        scale = std::max(scale, std::fabs(v));
      for (size_t i = 0; i < outputs; ++i)
        EXPECT_NEAR(smoothed[i], plain[i], 1e-5f * scale) << "output " << i;
    }
  }
}
