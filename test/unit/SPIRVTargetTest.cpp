//===- SPIRVTargetTest.cpp - SPIR-V kernels on Vulkan against x86
//----------===//
//
// Compiles small ONNX models of random shapes for the SPIR-V target and for
// x86, runs both through qrt (the SPIR-V artifact on a Vulkan device,
// lavapipe in CI) on the same random inputs and compares the outputs:
// |vulkan - x86| <= 1e-5 + 1e-4 |x86| element by element (float32; the two
// sum products in different orders). Each test logs its seed
// (QOPT_TEST_SEED replays one). Without a Vulkan device the tests that run
// kernels skip, saying why.
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Target/Target.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>

using namespace mlir;
using namespace qopt;

namespace {

constexpr double kAbsTol = 1e-5, kRelTol = 1e-4;

/// The Vulkan devices qrt sees, or why there are none.
std::string vulkanUnavailableReason() {
  char text[4096];
  qrt_list_devices(text, sizeof text);
  std::string s = text;
  if (s.find("\nvulkan:") != std::string::npos)
    return "";
  size_t at = s.find("# vulkan: ");
  return at == std::string::npos
             ? "no Vulkan device"
             : s.substr(at + 10, s.find('\n', at) - at - 10);
}

unsigned testSeed() {
  if (const char *env = std::getenv("QOPT_TEST_SEED"))
    return (unsigned)std::strtoul(env, nullptr, 10);
  return std::random_device()();
}

/// A float tensor constant in ONNX text form.
std::string constant(const std::string &name, const std::vector<int64_t> &shape,
                     std::mt19937 &rng) {
  std::uniform_real_distribution<float> dist(-1, 1);
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::ostringstream os;
  os.precision(9);
  os << "  " << name << " = Constant <value: tensor = float[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "] {";
  for (int64_t i = 0; i < n; ++i)
    os << (i ? ", " : "") << dist(rng);
  os << "}> ()\n";
  return os.str();
}

std::string dims(const std::vector<int64_t> &shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s;
}

class SPIRVTarget : public ::testing::Test {
protected:
  static void SetUpTestSuite() { registerBuiltinTargets(); }

  void SetUp() override {
    llvm::SmallString<128> p;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("qopt-spirv-target", p));
    dir = std::string(p);
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  /// Compiles `model` (ONNX text) for `triple` into `dir/<out>`; returns
  /// the diagnostics ("" on success).
  std::string compile(const std::string &model, const std::string &triple,
                      const std::string &out,
                      const std::string &precision = "",
                      const std::string &features = "") {
    {
      std::error_code ec;
      llvm::raw_fd_ostream os(dir + "/model.onnxtxt", ec);
      os << model;
    }
    DialectRegistry registry;
    registerQOptDialects(registry);
    MLIRContext context(registry);
    std::string diagnostics;
    context.getDiagEngine().registerHandler([&](Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return success();
    });
    CompileOptions options;
    options.modelPath = dir + "/model.onnxtxt";
    options.outDir = dir + "/" + out;
    options.force = true;
    options.target.triple = triple;
    options.quantize.precision = precision;
    // The same weights on both targets: x86 would store half scales by
    // default, which the SPIR-V target does not read yet.
    options.quantize.weightScales = "f32";
    options.target.features = features;
    options.quantize.quantizeClassifier = !precision.empty();
    if (failed(compileModel(context, options)) && diagnostics.empty())
      diagnostics = "failed";
    return diagnostics;
  }

  /// Runs the artifact `out` on `device` with `inputs`; returns its outputs.
  std::vector<std::vector<float>>
  run(const std::string &out, const char *device,
      const std::vector<std::vector<float>> &inputs) {
    char err[1024];
    qrt_model *model =
        qrt_load_on_device((dir + "/" + out).c_str(), device, err, sizeof err);
    EXPECT_NE(model, nullptr) << err;
    if (!model)
      return {};
    std::vector<const void *> in;
    for (const auto &v : inputs)
      in.push_back(v.data());
    std::vector<std::vector<float>> results(qrt_num_outputs(model));
    std::vector<void *> outPtrs;
    for (size_t o = 0; o < results.size(); ++o) {
      qrt_tensor_info info;
      qrt_output_info(model, o, &info);
      results[o].assign(info.num_elements, NAN);
      outPtrs.push_back(results[o].data());
    }
    EXPECT_EQ(qrt_run(model, in.data(), outPtrs.data()), 0);
    qrt_free(model);
    return results;
  }

  /// Compiles `model` for both targets, runs both on random inputs of
  /// `inputShapes` and compares.
  void expectSameAsX86(const std::string &model,
                       const std::vector<std::vector<int64_t>> &inputShapes,
                       std::mt19937 &rng, const std::string &precision = "",
                       double absTol = kAbsTol, double relTol = kRelTol,
                       const std::string &spirvFeatures = "") {
    ASSERT_EQ(compile(model, "x86_64-unknown-linux-gnu", "x86", precision), "")
        << model;
    ASSERT_EQ(compile(model, "spirv64-unknown-vulkan1.3", "spirv", precision,
                      spirvFeatures),
              "")
        << model;
    std::uniform_real_distribution<float> dist(-1, 1);
    std::vector<std::vector<float>> inputs;
    for (const auto &shape : inputShapes) {
      int64_t n = 1;
      for (int64_t d : shape)
        n *= d;
      inputs.emplace_back(n);
      for (float &x : inputs.back())
        x = dist(rng);
    }
    auto want = run("x86", "cpu", inputs);
    auto got = run("spirv", "vulkan", inputs);
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < want.size(); ++o) {
      ASSERT_EQ(got[o].size(), want[o].size());
      double maxAbs = 0;
      size_t bad = 0;
      for (size_t i = 0; i < want[o].size(); ++i) {
        double d = std::fabs((double)got[o][i] - want[o][i]);
        maxAbs = std::max(maxAbs, d);
        if (!(d <= absTol + relTol * std::fabs(want[o][i])))
          ++bad;
      }
      EXPECT_EQ(bad, 0u) << "output " << o << ": " << bad << " of "
                         << want[o].size()
                         << " elements outside tolerance, max abs err "
                         << maxAbs << "\n"
                         << model;
    }
  }

  std::string dir;
};

#define REQUIRE_VULKAN()                                                       \
  do {                                                                         \
    std::string why = vulkanUnavailableReason();                               \
    if (!why.empty())                                                          \
      GTEST_SKIP() << "no Vulkan device to run SPIR-V kernels on: " << why;    \
  } while (0)

TEST_F(SPIRVTarget, RandomMatMulsMatchX86) {
  REQUIRE_VULKAN();
  unsigned seed = testSeed();
  std::cout << "[ seed     ] QOPT_TEST_SEED=" << seed << "\n";
  SCOPED_TRACE("QOPT_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> size(1, 70);
  for (int round = 0; round < 3; ++round) {
    int64_t m = size(rng), k = size(rng), n = size(rng);
    std::string model =
        "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
        "g (float[" +
        dims({m, k}) + "] X) => (float[" + dims({m, n}) + "] Y) {\n" +
        constant("W", {k, n}, rng) + constant("B", {n}, rng) +
        "  P = MatMul(X, W)\n  Y = Add(P, B)\n}\n";
    SCOPED_TRACE("matmul " + std::to_string(m) + "x" + std::to_string(k) + "x" +
                 std::to_string(n));
    expectSameAsX86(model, {{m, k}}, rng);
  }
}

/// A [m, k] x [k, n] MatMul with a random weight constant.
std::string matmulModel(int64_t m, int64_t k, int64_t n, std::mt19937 &rng) {
  return "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
         "g (float[" +
         dims({m, k}) + "] X) => (float[" + dims({m, n}) + "] Y) {\n" +
         constant("W", {k, n}, rng) + "  Y = MatMul(X, W)\n}\n";
}

// Weight-only quantized matmuls: the kernel reads the packed codes, scales
// and zero points and decodes each weight where it multiplies it (no
// decoded weight buffer: test/Target/SPIRV/quantized-matmul.test). Float
// sums in a different order than x86's: the float tolerance.
TEST_F(SPIRVTarget, RandomWeightOnlyQuantizedMatMulsMatchX86) {
  REQUIRE_VULKAN();
  unsigned seed = testSeed();
  std::cout << "[ seed     ] QOPT_TEST_SEED=" << seed << "\n";
  SCOPED_TRACE("QOPT_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> rows(1, 9), size(1, 100);
  for (const char *precision :
       {"w8a16", "w4a16-g32", "w4a16-g32-asym", "w3a16-g64", "w2a16-g32",
        "nf4-g64", "fp8"}) {
    int64_t m = rows(rng), k = size(rng), n = size(rng);
    SCOPED_TRACE(std::string(precision) + " matmul " + std::to_string(m) +
                 "x" + std::to_string(k) + "x" + std::to_string(n));
    expectSameAsX86(matmulModel(m, k, n, rng), {{m, k}}, rng, precision);
  }
}

// W8A8 (int8 activations quantized at run time, int8 weights): the i32
// products are exact and the quantizer and rescale are the same float
// operations, so the outputs must be bit for bit x86's.
TEST_F(SPIRVTarget, RandomW8A8MatMulsMatchX86Exactly) {
  REQUIRE_VULKAN();
  unsigned seed = testSeed();
  std::cout << "[ seed     ] QOPT_TEST_SEED=" << seed << "\n";
  SCOPED_TRACE("QOPT_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> rows(1, 9), size(1, 100);
  for (int round = 0; round < 3; ++round) {
    int64_t m = rows(rng), k = size(rng), n = size(rng);
    SCOPED_TRACE("w8a8 matmul " + std::to_string(m) + "x" + std::to_string(k) +
                 "x" + std::to_string(n));
    // OpSDot (the default, +dotprod), then plain i32 arithmetic.
    std::string model = matmulModel(m, k, n, rng);
    expectSameAsX86(model, {{m, k}}, rng, "w8a8", 0, 0);
    expectSameAsX86(model, {{m, k}}, rng, "w8a8", 0, 0, "-dotprod");
  }
}

TEST_F(SPIRVTarget, RandomBatchedMatMulOfTwoInputsMatchesX86) {
  REQUIRE_VULKAN();
  unsigned seed = testSeed();
  std::cout << "[ seed     ] QOPT_TEST_SEED=" << seed << "\n";
  SCOPED_TRACE("QOPT_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> size(1, 24);
  int64_t b = size(rng) % 4 + 1, m = size(rng), k = size(rng), n = size(rng);
  std::string model = "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
                      "g (float[" +
                      dims({b, m, k}) + "] A, float[" + dims({b, k, n}) +
                      "] C) => (float[" + dims({b, m, n}) +
                      "] Y) {\n  Y = MatMul(A, C)\n}\n";
  expectSameAsX86(model, {{b, m, k}, {b, k, n}}, rng);
}

TEST_F(SPIRVTarget, RandomElementwiseChainsMatchX86) {
  REQUIRE_VULKAN();
  unsigned seed = testSeed();
  std::cout << "[ seed     ] QOPT_TEST_SEED=" << seed << "\n";
  SCOPED_TRACE("QOPT_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> rankDist(1, 4), dimDist(1, 17);
  for (int round = 0; round < 3; ++round) {
    std::vector<int64_t> shape(rankDist(rng));
    for (int64_t &d : shape)
      d = dimDist(rng);
    // A bias broadcast along the last dimension, then a fused chain.
    std::string model =
        "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
        "g (float[" +
        dims(shape) + "] X, float[" + dims(shape) + "] Z) => (float[" +
        dims(shape) + "] Y) {\n" + constant("B", {shape.back()}, rng) +
        "  M = Mul(X, Z)\n  A = Add(M, B)\n  R = Relu(A)\n"
        "  S = Sigmoid(X)\n  T = Tanh(R)\n  E = Exp(S)\n"
        "  D = Sub(T, E)\n  Y = Div(D, E)\n}\n";
    SCOPED_TRACE("shape [" + dims(shape) + "]");
    expectSameAsX86(model, {shape, shape}, rng);
  }
}

TEST_F(SPIRVTarget, MLPMatchesX86) {
  REQUIRE_VULKAN();
  unsigned seed = testSeed();
  std::cout << "[ seed     ] QOPT_TEST_SEED=" << seed << "\n";
  SCOPED_TRACE("QOPT_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::string model =
      "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
      "g (float[3, 20] X) => (float[3, 5] Y) {\n" +
      constant("W1", {20, 33}, rng) + constant("B1", {33}, rng) +
      constant("W2", {33, 5}, rng) +
      "  H = MatMul(X, W1)\n  A = Add(H, B1)\n  R = Relu(A)\n"
      "  O = MatMul(R, W2)\n  Y = Softmax <axis: int = -1> (O)\n}\n";
  expectSameAsX86(model, {{3, 20}}, rng);
}

TEST_F(SPIRVTarget, WrongDeviceIsRefused) {
  std::string model = "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
                      "g (float[4] X) => (float[4] Y) {\n  Y = Relu(X)\n}\n";
  ASSERT_EQ(compile(model, "spirv64-unknown-vulkan1.3", "spirv"), "");
  char err[1024];
  EXPECT_EQ(
      qrt_load_on_device((dir + "/spirv").c_str(), "cpu", err, sizeof err),
      nullptr);
  EXPECT_NE(std::string(err).find("runs on vulkan, not on the requested "
                                  "device 'cpu'"),
            std::string::npos)
      << err;
  EXPECT_EQ(
      qrt_load_on_device((dir + "/spirv").c_str(), "tpu", err, sizeof err),
      nullptr);
  EXPECT_NE(std::string(err).find("unknown device 'tpu'"), std::string::npos)
      << err;
}

TEST_F(SPIRVTarget, UnknownDeviceNameIsAClearError) {
  REQUIRE_VULKAN();
  std::string model = "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
                      "g (float[4] X) => (float[4] Y) {\n  Y = Relu(X)\n}\n";
  ASSERT_EQ(compile(model, "spirv64-unknown-vulkan1.3", "spirv"), "");
  setenv("QRT_VULKAN_DEVICE", "no-such-gpu", 1);
  char err[1024];
  qrt_model *m =
      qrt_load_on_device((dir + "/spirv").c_str(), "vulkan", err, sizeof err);
  unsetenv("QRT_VULKAN_DEVICE");
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(err).find("QRT_VULKAN_DEVICE=no-such-gpu matches no "
                                  "device (0: "),
            std::string::npos)
      << err;
}

TEST_F(SPIRVTarget, ScalarReductionsAndErfMatchX86) {
  REQUIRE_VULKAN();
  unsigned seed = testSeed();
  std::cout << "[ seed     ] QOPT_TEST_SEED=" << seed << "\n";
  SCOPED_TRACE("QOPT_TEST_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> size(1, 40);
  int64_t m = size(rng), n = size(rng);
  // No parallel dimension (a one-invocation kernel), a mean, and Erf
  // through the shared polynomial approximation.
  std::string model = "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
                      "g (float[" +
                      dims({m, n}) + "] X) => (float S, float[" + dims({m, 1}) +
                      "] A, float[" + dims({m, n}) +
                      "] E) {\n"
                      "  S = ReduceSum <keepdims: int = 0> (X)\n"
                      "  A = ReduceMean <axes: ints = [1]> (X)\n"
                      "  E = Erf(X)\n}\n";
  expectSameAsX86(model, {{m, n}}, rng);
}

TEST_F(SPIRVTarget, BufferNeedingAMissingFeatureIsNamedAndWritesNothing) {
  std::string model = "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
                      "g (float[4] X) => (double[4] Y) {\n"
                      "  Y = Cast <to: int = 11> (X)\n}\n";
  std::string d = compile(model, "spirv64-unknown-vulkan1.3", "spirv");
  EXPECT_NE(d.find("a buffer of 'f64' needs the 'float64' feature"),
            std::string::npos)
      << d;
  EXPECT_FALSE(llvm::sys::fs::exists(dir + "/spirv"));
}

} // namespace
