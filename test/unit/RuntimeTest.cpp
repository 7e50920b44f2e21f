//===- RuntimeTest.cpp - Compile with the driver, run through qrt ----------===//
//
// A small model with random shapes (seed logged) is compiled for this
// machine and run through qrt; results are compared with a plain C++
// evaluation of the same graph. Error paths of qrt_load are checked too.
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/qrt.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace {

std::string tempDir() {
  llvm::SmallString<128> p;
  llvm::sys::fs::createUniqueDirectory("qopt-runtime-test", p);
  return std::string(p);
}

bool compile(const std::string &text, const std::string &dir,
             std::string &diagnostics) {
  std::string modelPath = dir + "/model.onnxtxt";
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(modelPath, ec);
    os << text;
  }
  mlir::DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  context.getDiagEngine().registerHandler([&](mlir::Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return mlir::success();
  });
  qopt::CompileOptions options;
  options.modelPath = modelPath;
  options.outDir = dir + "/artifact";
  return mlir::succeeded(qopt::compileModel(context, options));
}

} // namespace

TEST(Runtime, CompiledMlpMatchesReference) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int m = 1 + rng() % 5, k = 8 + rng() % 40, n = 1 + rng() % 33;
  std::string dims = std::to_string(m) + ", " + std::to_string(k);
  std::string text = "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
                     "mlp (float[" + dims + "] X, float[" + std::to_string(k) +
                     ", " + std::to_string(n) + "] W, float[" +
                     std::to_string(n) + "] B) => (float[" + std::to_string(m) +
                     ", " + std::to_string(n) +
                     "] Y) {\n  P = MatMul(X, W)\n  S = Add(P, B)\n  Y = Relu(S)\n}\n";
  std::string dir = tempDir(), diag;
  ASSERT_TRUE(compile(text, dir, diag)) << diag;
  char err[512];
  qrt_model *model = qrt_load((dir + "/artifact").c_str(), err, sizeof err);
  ASSERT_NE(model, nullptr) << err;
  ASSERT_EQ(qrt_num_inputs(model), 3u);
  ASSERT_EQ(qrt_num_outputs(model), 1u);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> x(m * k), w(k * n), b(n), y(m * n, -7.f);
  for (float &v : x) v = dist(rng);
  for (float &v : w) v = dist(rng);
  for (float &v : b) v = dist(rng);
  const void *ins[] = {x.data(), w.data(), b.data()};
  void *outs[] = {y.data()};
  ASSERT_EQ(qrt_run(model, ins, outs), 0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = b[j];
      for (int t = 0; t < k; ++t)
        acc += (double)x[i * k + t] * w[t * n + j];
      EXPECT_NEAR(y[i * n + j], std::max(acc, 0.0), 1e-4)
          << "at " << i << "," << j << " (m=" << m << " k=" << k << " n=" << n << ")";
    }
  qrt_free(model);
  llvm::sys::fs::remove_directories(dir);
}

TEST(Runtime, FailedCompileLeavesNoArtifact) {
  std::string dir = tempDir(), diag;
  std::string text = "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
                     "bad (float[2, 3] X) => (float[5] Y) {\n"
                     "  S = Constant <value: tensor = int64[1] {5}> ()\n"
                     "  Y = Reshape(X, S)\n}\n";
  EXPECT_FALSE(compile(text, dir, diag));
  EXPECT_NE(diag.find("cannot reshape 2x3 to 5"), std::string::npos) << diag;
  // Nothing but the model: no artifact and no staging folder.
  std::error_code ec;
  std::vector<std::string> left;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec))
    left.push_back(llvm::sys::path::filename(it->path()).str());
  EXPECT_EQ(left, std::vector<std::string>{"model.onnxtxt"});
  llvm::sys::fs::remove_directories(dir);
}

TEST(Runtime, RefusesCodeForMissingCpuFeatures) {
  std::string dir = tempDir(), diag;
  std::string text = "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
                     "relu (float[4] X) => (float[4] Y) {\n  Y = Relu(X)\n}\n";
  ASSERT_TRUE(compile(text, dir, diag)) << diag;
  std::string manifest = dir + "/artifact/manifest.json";
  auto buf = llvm::MemoryBuffer::getFile(manifest);
  ASSERT_TRUE((bool)buf);
  std::string json = (*buf)->getBuffer().str();
  size_t pos = json.find("\"features\": [");
  ASSERT_NE(pos, std::string::npos) << json;
  json.insert(pos + 13, "\"no-such-cpu-feature\", ");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(manifest, ec);
    os << json;
  }
  char err[512];
  EXPECT_EQ(qrt_load((dir + "/artifact").c_str(), err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("lacks: no-such-cpu-feature"), std::string::npos)
      << err;
  llvm::sys::fs::remove_directories(dir);
}

TEST(Runtime, LoadErrorsAreReported) {
  char err[512];
  EXPECT_EQ(qrt_load("/nonexistent/artifact", err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("manifest.json"), std::string::npos);
  std::string dir = tempDir();
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(dir + "/manifest.json", ec);
    os << "{ not json";
  }
  EXPECT_EQ(qrt_load(dir.c_str(), err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("not valid JSON"), std::string::npos) << err;
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(dir + "/manifest.json", ec);
    os << R"({"format": "qopt-artifact", "inputs": [], "outputs": [],
             "weights": {"file": "weights.bin", "bytes": 64},
             "library": "model.so", "entry": "model_run"})";
  }
  EXPECT_EQ(qrt_load(dir.c_str(), err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("weights.bin"), std::string::npos) << err;
  llvm::sys::fs::remove_directories(dir);
}
