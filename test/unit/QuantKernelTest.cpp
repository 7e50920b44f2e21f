//===- QuantKernelTest.cpp - Compiled qopt ops against C++ references -----===//
//
// Each test writes a function of qopt ops with random shapes (seed logged),
// compiles it through the whole x86 pipeline (qopt-lower-to-linalg first),
// runs it through qrt, and compares with a plain C++ implementation of the
// same arithmetic: bit for bit for integer results and dequantized weights;
// float accumulations within a bound, since summation order differs.
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/Quant/Quant.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Target/Target.h"
#include "qopt/Target/X86/X86Target.h"
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
using namespace qopt::quant;

namespace {

/// One function argument or result: its MLIR type and qrt dtype.
struct Port {
  std::string name, type, dtype;
};

std::string signature(const std::vector<Port> &ins, const std::vector<Port> &outs) {
  std::string s = "func.func @main(";
  for (size_t i = 0; i < ins.size(); ++i)
    s += llvm::formatv("{0}%{1}: {2} {{qopt.name = \"{1}\", qopt.dtype = \"{3}\"}",
                       i ? ", " : "", ins[i].name, ins[i].type, ins[i].dtype)
             .str();
  s += ") -> (";
  for (size_t i = 0; i < outs.size(); ++i)
    s += llvm::formatv("{0}{1} {{qopt.name = \"{2}\", qopt.dtype = \"{3}\"}",
                       i ? ", " : "", outs[i].type, outs[i].name, outs[i].dtype)
             .str();
  return s + ") {\n";
}

/// Compiles `text` (after the passes `prepare` adds, if any) and keeps the
/// loaded model; frees everything at the end.
class CompiledFunction {
public:
  /// `extraFeatures` ("-avx512f,...") are appended to the host's target
  /// features, to compile for a lower ISA level than the host's.
  explicit CompiledFunction(
      const std::string &text,
      const std::function<void(mlir::PassManager &)> &prepare = {},
      const std::string &extraFeatures = "") {
    llvm::SmallString<128> p;
    llvm::sys::fs::createUniqueDirectory("qopt-kernel-test", p);
    dir = std::string(p);
    mlir::DialectRegistry registry;
    registerQOptDialects(registry);
    mlir::MLIRContext context(registry);
    context.loadAllAvailableDialects();
    context.getDiagEngine().registerHandler([&](mlir::Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return mlir::success();
    });
    auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    if (!module)
      return;
    if (prepare) {
      mlir::PassManager pm(&context);
      prepare(pm);
      if (mlir::failed(pm.run(*module)))
        return;
    }
    registerBuiltinTargets();
    if (mlir::failed(attachHostTarget(*module)))
      return;
    if (!extraFeatures.empty()) {
      auto host = (*module)->getAttrOfType<TargetAttr>(
          QOptDialect::kTargetAttrName);
      (*module)->setAttr(
          QOptDialect::kTargetAttrName,
          TargetAttr::get(&context, host.getBackend(), host.getTriple(),
                          host.getCpu(),
                          (host.getFeatures() + "," + extraFeatures).str()));
    }
    if (mlir::failed(compileArtifact(*module, SerializeOptions(), dir + "/a",
                                     /*force=*/false)))
      return;
    char err[512];
    model = qrt_load((dir + "/a").c_str(), err, sizeof err);
    if (!model)
      diagnostics += err;
  }
  ~CompiledFunction() {
    if (model)
      qrt_free(model);
    llvm::sys::fs::remove_directories(dir);
  }
  bool run(std::vector<const void *> ins, std::vector<void *> outs) {
    return qrt_run(model, ins.data(), outs.data()) == 0;
  }
  qrt_model *model = nullptr;
  std::string diagnostics, dir;
};

std::string shape(std::initializer_list<int64_t> dims, const char *elem) {
  std::string s = "tensor<";
  for (int64_t d : dims)
    s += std::to_string(d) + "x";
  return s + elem + ">";
}

std::string schemeText(const WeightScheme &s) {
  if (s.kind == WeightKind::F16)
    return "#qopt.scheme<f16, per_tensor>";
  if (s.kind == WeightKind::FP8E4M3)
    return "#qopt.scheme<fp8_e4m3, per_channel, sym>";
  std::string kind = s.kind == WeightKind::NF4 ? "nf4"
                     : s.symmetric ? "int" + std::to_string(s.bits)
                                   : "uint" + std::to_string(s.bits);
  std::string gran = s.groupSize ? "group " + std::to_string(s.groupSize)
                                 : "per_channel";
  return "#qopt.scheme<" + kind + ", " + gran + ", " +
         (s.symmetric ? "sym" : "asym") + ">";
}

struct WeightOnlyCase {
  WeightKind kind;
  unsigned bits;
  int64_t group;
  bool symmetric;
  /// Scales stored as f16 (qopt-quantize weight-scales=f16).
  bool halfScales = false;
};

/// Parameters: the scheme, and whether the weights are constants of the
/// function (as in a compiled model: the x86 target's weight-only kernel
/// repacks them at compile time) rather than arguments (the generic
/// lowering).
class WeightOnlyMatMul
    : public ::testing::TestWithParam<std::tuple<WeightOnlyCase, bool>> {};

/// `bytes` as an MLIR dense hex literal of `type`.
std::string hexConstant(const void *bytes, size_t size,
                        const std::string &type) {
  static const char *digits = "0123456789ABCDEF";
  std::string hex = "dense<\"0x";
  for (size_t i = 0; i < size; ++i) {
    auto b = static_cast<const uint8_t *>(bytes)[i];
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex + "\"> : " + type;
}

/// f32 lanes of the host's widest vector register.
int64_t hostLanes() {
  mlir::DialectRegistry registry;
  registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  registerBuiltinTargets();
  std::string error;
  llvm::FailureOr<TargetAttr> host = hostTarget(&context, error);
  return mlir::succeeded(host) && host->hasFeature("avx512f") ? 16 : 8;
}

} // namespace

// Identity activations make the output the dequantized weights themselves,
// which must equal the C++ dequantization bit for bit; random activations
// check the product within a float-summation bound.
TEST_P(WeightOnlyMatMul, MatchesReference) {
  auto [c, constantWeights] = GetParam();
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  WeightScheme s;
  s.kind = c.kind;
  s.bits = c.bits;
  s.groupSize = c.group;
  s.symmetric = c.symmetric;
  s.halfScales = c.halfScales;
  // n up to 150: whole super-blocks of the x86 kernel (64 columns on zmm,
  // 16 on ymm) and a narrower one of the columns left over; k not a
  // multiple of the group: a short last group, stored without padding.
  int64_t k = 16 + rng() % 120, n = 1 + rng() % 150;
  // M = K rows of unit activations show every dequantized weight; in one
  // case of two, fewer rows (1 to 7, a decode step: the x86 kernel's 4 x 4
  // and one-row blocks rather than its 8-row ones) show those of as many
  // reduction steps picked at random.
  bool fewRows = rng() % 2;
  int64_t m = fewRows ? 1 + int64_t(rng() % 7) : k;
  std::vector<int64_t> unitAt(m);
  for (int64_t i = 0; i < m; ++i)
    unitAt[i] = fewRows ? int64_t(rng() % k) : i;
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> w(n * k);
  for (float &v : w)
    v = normal(rng);
  QuantizedMatrix q = quantizeRTN(w.data(), n, k, s);
  int64_t groups = s.numGroups(k), rowBytes = s.packedRowBytes(k);
  // The scales as stored: halves (every one chosen as a half) or floats.
  std::vector<uint16_t> halfScales;
  for (float v : q.scales) {
    if (c.halfScales)
      ASSERT_EQ(halfToFloat(floatToHalf(v)), v) << "a scale that is no half";
    halfScales.push_back(floatToHalf(v));
  }
  const void *scaleData = c.halfScales ? (const void *)halfScales.data()
                                       : (const void *)q.scales.data();
  size_t scaleBytes = q.scales.size() * (c.halfScales ? 2 : 4);

  std::vector<Port> ins = {{"a", shape({m, k}, "f32"), "float32"}};
  std::string operands = "%a, %w";
  std::vector<Port> params;
  if (c.kind == WeightKind::F16) {
    params.push_back({"w", shape({n, k}, "f16"), "float16"});
  } else {
    params.push_back({"w", shape({n, rowBytes}, "i8"), "int8"});
    params.push_back({"s", shape({n, groups}, c.halfScales ? "f16" : "f32"),
                      c.halfScales ? "float16" : "float32"});
    operands += " scales(%s)";
    if (!c.symmetric) {
      params.push_back({"z", shape({n, groups}, "i8"), "uint8"});
      operands += " zero_points(%z)";
    }
  }
  std::string types = ins[0].type, body;
  for (const Port &p : params) {
    types += ", " + p.type;
    if (!constantWeights) {
      ins.push_back(p);
      continue;
    }
    const void *data = p.name == "w"   ? (c.kind == WeightKind::F16
                                              ? (const void *)q.half.data()
                                              : (const void *)q.packed.data())
                       : p.name == "s" ? scaleData
                                       : (const void *)q.zeroPoints.data();
    size_t bytes =
        p.name == "w"
            ? (c.kind == WeightKind::F16 ? q.half.size() * 2 : q.packed.size())
        : p.name == "s" ? scaleBytes
                        : q.zeroPoints.size();
    body += "  %" + p.name + " = arith.constant " +
            hexConstant(data, bytes, p.type) + "\n";
  }
  std::string out = shape({m, n}, "f32");
  std::string text =
      signature(ins, {{"y", out, "float32"}}) + body +
      llvm::formatv("  %0 = qopt.matmul {0} {{k = {1} : i64, scheme = {2}} : "
                    "({3}) -> {4}\n  return %0 : {4}\n}\n",
                    operands, k, schemeText(s), types, out)
          .str();
  // Constant 2-, 3-, 4- and 8-bit integer, NF4 and FP8 weights take the x86
  // kernel that dequantizes in registers: make sure they do, at the host's
  // vector width and, on an AVX-512 host, also at AVX2's (ymm: compiled for
  // the host's features without AVX-512, and run).
  bool kernel = constantWeights && c.kind != WeightKind::F16;
  std::vector<int64_t> widths = {hostLanes()};
  if (constantWeights && widths[0] == 16)
    widths.push_back(8);
  for (int64_t lanes : widths) {
    SCOPED_TRACE("vector width " + std::to_string(lanes));
    if (kernel) {
      mlir::DialectRegistry registry;
      registerQOptDialects(registry);
      mlir::MLIRContext context(registry);
      context.loadAllAvailableDialects();
      auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
      ASSERT_TRUE(module) << text;
      mlir::PassManager pm(&context);
      pm.addPass(x86::createWeightOnlyMatMulPass(lanes));
      ASSERT_TRUE(mlir::succeeded(pm.run(*module)));
      bool left = false;
      module->walk([&](MatMulOp) { left = true; });
      ASSERT_FALSE(left) << "the weight-only kernel did not apply";
    }
    CompiledFunction f(text, {},
                       lanes == 8 && widths[0] == 16
                           ? "-avx512f,-avx512bw,-avx512vl,-avx512vnni"
                           : "");
    ASSERT_NE(f.model, nullptr) << f.diagnostics << "\n" << text;

    std::vector<float> a(m * k, 0.f), y(m * n);
    for (int64_t i = 0; i < m; ++i)
      a[i * k + unitAt[i]] = 1.f;
    std::vector<const void *> args = {a.data()};
    if (constantWeights) {
    } else if (c.kind == WeightKind::F16) {
      args.push_back(q.half.data());
    } else {
      args.push_back(q.packed.data());
      args.push_back(scaleData);
      if (!c.symmetric)
        args.push_back(q.zeroPoints.data());
    }
    ASSERT_TRUE(f.run(args, {y.data()}));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        ASSERT_EQ(y[i * n + j], q.value(j, unitAt[i]))
            << "dequantized weight (" << j << ", " << unitAt[i] << ") k=" << k
            << " n=" << n << " m=" << m;

    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    for (float &v : a)
      v = uni(rng);
    ASSERT_TRUE(f.run(args, {y.data()}));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double ref = 0, mag = 0;
        for (int64_t t = 0; t < k; ++t) {
          ref += double(a[i * k + t]) * q.value(j, t);
          mag += std::fabs(double(a[i * k + t]) * q.value(j, t));
        }
        ASSERT_NEAR(y[i * n + j], ref, 1e-6 * mag + 1e-7) << i << "," << j;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Schemes, WeightOnlyMatMul,
    ::testing::Combine(
        ::testing::Values(WeightOnlyCase{WeightKind::Int, 8, 0, true},
                          WeightOnlyCase{WeightKind::Int, 8, 32, false},
                          WeightOnlyCase{WeightKind::Int, 4, 32, true},
                          WeightOnlyCase{WeightKind::Int, 4, 64, false},
                          WeightOnlyCase{WeightKind::Int, 3, 32, true},
                          WeightOnlyCase{WeightKind::Int, 3, 128, false},
                          WeightOnlyCase{WeightKind::Int, 2, 32, true},
                          WeightOnlyCase{WeightKind::Int, 2, 64, false},
                          WeightOnlyCase{WeightKind::NF4, 4, 32, true},
                          WeightOnlyCase{WeightKind::F16, 16, 0, true},
                          WeightOnlyCase{WeightKind::FP8E4M3, 8, 0, true},
                          WeightOnlyCase{WeightKind::Int, 8, 0, true, true},
                          WeightOnlyCase{WeightKind::Int, 4, 32, true, true},
                          WeightOnlyCase{WeightKind::Int, 4, 64, false, true},
                          WeightOnlyCase{WeightKind::Int, 3, 32, true, true},
                          WeightOnlyCase{WeightKind::NF4, 4, 32, true, true},
                          WeightOnlyCase{WeightKind::FP8E4M3, 8, 0, true,
                                         true}),
        ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<WeightOnlyCase, bool>> &info) {
      const WeightOnlyCase &c = std::get<0>(info.param);
      std::string kind = c.kind == WeightKind::NF4       ? "nf4"
                         : c.kind == WeightKind::F16     ? "f16"
                         : c.kind == WeightKind::FP8E4M3 ? "fp8"
                                                     : "int" + std::to_string(c.bits);
      return kind + "_g" + std::to_string(c.group) +
             (c.symmetric ? "_sym" : "_asym") +
             (c.halfScales ? "_halfscales" : "") +
             (std::get<1>(info.param) ? "_constant" : "_argument");
    });

// W8A8 with dynamic per-token activations: the integer accumulation and the
// float rescale follow the reference lowering's order, so results are
// bit-identical.
TEST(QuantKernels, DynamicW8A8MatchesReferenceBitForBit) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t m = 1 + rng() % 24, k = 8 + rng() % 200, n = 1 + rng() % 48;
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> w(n * k), a(m * k), y(m * n);
  for (float &v : w)
    v = normal(rng);
  for (float &v : a)
    v = normal(rng) * 3.f;
  for (int64_t t = 0; t < k; ++t) // an all-zero row takes scale 1
    a[t] = 0.f;
  WeightScheme s; // int8 per-channel symmetric
  QuantizedMatrix q = quantizeRTN(w.data(), n, k, s);
  std::string at = shape({m, k}, "f32"), ct = shape({m, k}, "i8"),
              st = shape({m, 1}, "f32"), zt = shape({m, 1}, "i8"),
              wt = shape({n, k}, "i8"), swt = shape({n, 1}, "f32"),
              out = shape({m, n}, "f32");
  std::string text =
      signature({{"a", at, "float32"}, {"w", wt, "int8"}, {"s", swt, "float32"}},
                {{"y", out, "float32"}}) +
      llvm::formatv(
          "  %q, %sa, %za = qopt.dynamic_quantize %a per_token : {0} -> {1}, "
          "{2}, {3}\n"
          "  %0 = qopt.matmul %q, %w scales(%s) input_scale(%sa) {{k = {4} : "
          "i64, scheme = #qopt.scheme<int8, per_channel, sym>} : ({1}, {5}, "
          "{6}, {2}) -> {7}\n  return %0 : {7}\n}\n",
          at, ct, st, zt, k, wt, swt, out)
          .str();
  CompiledFunction f(text);
  ASSERT_NE(f.model, nullptr) << f.diagnostics << "\n" << text;
  ASSERT_TRUE(f.run({a.data(), q.packed.data(), q.scales.data()}, {y.data()}));
  for (int64_t i = 0; i < m; ++i) {
    float amax = 0;
    for (int64_t t = 0; t < k; ++t)
      amax = std::max(amax, std::fabs(a[i * k + t]));
    float sa = amax == 0.f ? 1.f : amax / 127.f;
    std::vector<int32_t> codes(k);
    for (int64_t t = 0; t < k; ++t) {
      float r = std::nearbyint(a[i * k + t] / sa);
      codes[t] = int32_t(std::min(127.f, std::max(-127.f, r)));
    }
    for (int64_t j = 0; j < n; ++j) {
      int32_t acc = 0;
      for (int64_t t = 0; t < k; ++t)
        acc += codes[t] * q.code(j, t);
      float scale = sa * q.scales[j];
      float ref = float(acc) * scale;
      ASSERT_EQ(y[i * n + j], ref) << i << "," << j << " acc " << acc;
    }
  }
}

namespace {

/// Parameter: static (true) or dynamic per-token activations.
class KeepFloatW8A8 : public ::testing::TestWithParam<bool> {};

} // namespace

// LLM.int8 decomposition (--outliers=keep-float): the activation quantizer
// skips the outlier channels (they take no part in the scale and get code
// 0), the int8 product runs over weights whose outlier columns are zero,
// and the float outlier product is added one channel at a time,
// acc = fma(x[m, c_j], Wo[j, n], acc) from the integer part's result, as
// qopt.matmul defines it. The C++ below follows that order: bit-identical.
TEST_P(KeepFloatW8A8, MatchesReferenceBitForBit) {
  bool staticActivations = GetParam();
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t m = 1 + rng() % 24, k = 8 + rng() % 200, n = 1 + rng() % 48;
  std::vector<int64_t> outliers;
  for (int64_t c = 0; c < k; ++c)
    if (rng() % k < 3)
      outliers.push_back(c);
  if (outliers.empty())
    outliers.push_back(rng() % k);
  int64_t count = outliers.size();
  std::vector<bool> isOutlier(k, false);
  for (int64_t c : outliers)
    isOutlier[c] = true;

  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> w(n * k), a(m * k), y(m * n);
  for (float &v : w)
    v = normal(rng);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t t = 0; t < k; ++t)
      a[i * k + t] = normal(rng) * (isOutlier[t] ? 60.f : 1.f);
  for (int64_t t = 0; t < k; ++t) // ordinary channels all zero: scale 1
    if (!isOutlier[t])
      a[t] = 0.f;
  // The split: outlier columns leave the int8 weights for a float [C, N].
  std::vector<float> wo(count * n);
  for (int64_t j = 0; j < count; ++j)
    for (int64_t r = 0; r < n; ++r) {
      wo[j * n + r] = w[r * k + outliers[j]];
      w[r * k + outliers[j]] = 0.f;
    }
  WeightScheme s; // int8 per-channel symmetric
  QuantizedMatrix q = quantizeRTN(w.data(), n, k, s);
  float staticScale = 0.01f + float(rng() % 100) / 2000.f;

  std::string list;
  for (int64_t c : outliers)
    list += (list.empty() ? "" : ", ") + std::to_string(c);
  std::string at = shape({m, k}, "f32"), ct = shape({m, k}, "i8"),
              wt = shape({n, k}, "i8"), swt = shape({n, 1}, "f32"),
              wot = shape({count, n}, "f32"), out = shape({m, n}, "f32");
  std::vector<Port> ins = {{"a", at, "float32"},
                           {"w", wt, "int8"},
                           {"s", swt, "float32"},
                           {"wo", wot, "float32"}};
  std::string quantize, saType;
  if (staticActivations) {
    ins.push_back({"sa", "tensor<f32>", "float32"});
    saType = "tensor<f32>";
    quantize = llvm::formatv("  %q = qopt.quantize %a, %sa {{exclude_channels "
                             "= array<i64: {0}>} : ({1}, {2}) -> {3}\n",
                             list, at, saType, ct);
  } else {
    saType = shape({m, 1}, "f32");
    quantize = llvm::formatv("  %q, %sa, %za = qopt.dynamic_quantize %a "
                             "per_token {{exclude_channels = array<i64: {0}>} "
                             ": {1} -> {2}, {3}, {4}\n",
                             list, at, ct, saType, shape({m, 1}, "i8"));
  }
  std::string text =
      signature(ins, {{"y", out, "float32"}}) + quantize +
      llvm::formatv(
          "  %0 = qopt.matmul %q, %w scales(%s) input_scale(%sa) outliers(%a, "
          "%wo) {{k = {0} : i64, outlier_channels = array<i64: {1}>, scheme = "
          "#qopt.scheme<int8, per_channel, sym>} : ({2}, {3}, {4}, {5}, {6}, "
          "{7}) -> {8}\n  return %0 : {8}\n}\n",
          k, list, ct, wt, swt, saType, at, wot, out)
          .str();
  CompiledFunction f(text);
  ASSERT_NE(f.model, nullptr) << f.diagnostics << "\n" << text;
  std::vector<const void *> args = {a.data(), q.packed.data(), q.scales.data(),
                                    wo.data()};
  if (staticActivations)
    args.push_back(&staticScale);
  ASSERT_TRUE(f.run(args, {y.data()}));

  for (int64_t i = 0; i < m; ++i) {
    float sa = staticScale;
    float lo = -128.f;
    if (!staticActivations) {
      float amax = 0;
      for (int64_t t = 0; t < k; ++t)
        if (!isOutlier[t])
          amax = std::max(amax, std::fabs(a[i * k + t]));
      sa = amax == 0.f ? 1.f : amax / 127.f;
      lo = -127.f;
    }
    std::vector<int32_t> codes(k, 0);
    for (int64_t t = 0; t < k; ++t) {
      if (isOutlier[t])
        continue;
      float r = std::nearbyint(a[i * k + t] / sa);
      codes[t] = int32_t(std::min(127.f, std::max(lo, r)));
    }
    for (int64_t j = 0; j < n; ++j) {
      int32_t acc = 0;
      for (int64_t t = 0; t < k; ++t)
        acc += codes[t] * q.code(j, t);
      float ref = float(acc) * (sa * q.scales[j]);
      for (int64_t c = 0; c < count; ++c)
        ref = std::fma(a[i * k + outliers[c]], wo[c * n + j], ref);
      ASSERT_EQ(y[i * n + j], ref) << i << "," << j << " k=" << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, KeepFloatW8A8, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool> &info) {
                           return std::string(info.param ? "static"
                                                         : "dynamic");
                         });

namespace {

struct W4A8Case {
  int64_t group;
  bool symmetric;
  bool staticActivations;
  int64_t k;         // 0: random
  unsigned bits = 4; // the same kernel takes 2- to 8-bit groups
};

class W4A8MatMul : public ::testing::TestWithParam<W4A8Case> {};

} // namespace

// W4A8: int8 activations (dynamic per token, or one static scale) times
// group-wise RTN int4 (also 3- and 8-bit) weights, computed as the op
// defines it: an exact i32 partial sum per group, Σ a·(w − z), then in f32
// acc = fma(s_w[n, g], float(P), acc) for g = 0, 1, ... and y = s_a · acc.
// The C++ below follows that order, so results are bit-identical.
TEST_P(W4A8MatMul, MatchesReferenceBitForBit) {
  W4A8Case c = GetParam();
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t m = 1 + rng() % 24, n = 1 + rng() % 48;
  int64_t k = c.k ? c.k : 8 + rng() % 300;
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> w(n * k), a(m * k), y(m * n);
  for (float &v : w)
    v = normal(rng);
  for (float &v : a)
    v = normal(rng) * 3.f;
  for (int64_t t = 0; t < k; ++t) // an all-zero row takes scale 1
    a[t] = 0.f;
  WeightScheme s;
  s.bits = c.bits;
  s.groupSize = c.group;
  s.symmetric = c.symmetric;
  QuantizedMatrix q = quantizeRTN(w.data(), n, k, s);
  int64_t groups = s.numGroups(k);
  float staticScale = 0.02f + float(rng() % 100) / 1000.f;

  std::string at = shape({m, k}, "f32"), ct = shape({m, k}, "i8"),
              wt = shape({n, s.packedRowBytes(k)}, "i8"),
              pt = shape({n, groups}, "f32"), zt = shape({n, groups}, "i8"),
              out = shape({m, n}, "f32");
  std::vector<Port> ins = {
      {"a", at, "float32"}, {"w", wt, "int8"}, {"s", pt, "float32"}};
  std::string weights = "%w scales(%s)", weightTypes = wt + ", " + pt;
  if (!c.symmetric) {
    ins.push_back({"z", zt, "uint8"});
    weights += " zero_points(%z)";
    weightTypes += ", " + zt;
  }
  std::string quantize, saType;
  if (c.staticActivations) {
    ins.push_back({"sa", "tensor<f32>", "float32"});
    saType = "tensor<f32>";
    quantize = llvm::formatv("  %q = qopt.quantize %a, %sa : ({0}, {1}) -> "
                             "{2}\n",
                             at, saType, ct);
  } else {
    saType = shape({m, 1}, "f32");
    quantize = llvm::formatv("  %q, %sa, %za = qopt.dynamic_quantize %a "
                             "per_token : {0} -> {1}, {2}, {3}\n",
                             at, ct, saType, shape({m, 1}, "i8"));
  }
  std::string text =
      signature(ins, {{"y", out, "float32"}}) + quantize +
      llvm::formatv("  %0 = qopt.matmul %q, {0} input_scale(%sa) {{k = {1} : "
                    "i64, scheme = {2}} : ({3}, {4}, {5}) -> {6}\n"
                    "  return %0 : {6}\n}\n",
                    weights, k, schemeText(s), ct, weightTypes, saType, out)
          .str();
  CompiledFunction f(text);
  ASSERT_NE(f.model, nullptr) << f.diagnostics << "\n" << text;
  std::vector<const void *> args = {a.data(), q.packed.data(), q.scales.data()};
  if (!c.symmetric)
    args.push_back(q.zeroPoints.data());
  if (c.staticActivations)
    args.push_back(&staticScale);
  ASSERT_TRUE(f.run(args, {y.data()}));

  for (int64_t i = 0; i < m; ++i) {
    float sa = staticScale;
    int32_t lo = -128;
    if (!c.staticActivations) {
      float amax = 0;
      for (int64_t t = 0; t < k; ++t)
        amax = std::max(amax, std::fabs(a[i * k + t]));
      sa = amax == 0.f ? 1.f : amax / 127.f;
      lo = -127;
    }
    std::vector<int32_t> codes(k);
    for (int64_t t = 0; t < k; ++t) {
      float r = std::nearbyint(a[i * k + t] / sa);
      codes[t] = int32_t(std::min(127.f, std::max(float(lo), r)));
    }
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.f;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t zero = c.symmetric ? 0 : q.zeroPoints[j * groups + g];
        int32_t partial = 0;
        for (int64_t t = g * c.group; t < std::min(k, (g + 1) * c.group); ++t)
          partial += codes[t] * (q.code(j, t) - zero);
        acc = std::fma(q.scales[j * groups + g], float(partial), acc);
      }
      float ref = sa * acc;
      ASSERT_EQ(y[i * n + j], ref) << i << "," << j << " k=" << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Schemes, W4A8MatMul,
    ::testing::Values(
        W4A8Case{32, true, false, 0}, W4A8Case{32, false, false, 172},
        W4A8Case{64, true, false, 172}, W4A8Case{64, false, false, 0},
        W4A8Case{128, false, false, 0}, W4A8Case{32, true, true, 0},
        W4A8Case{32, false, true, 172}, W4A8Case{32, false, false, 0, 3},
        W4A8Case{64, true, false, 0, 8}, W4A8Case{32, false, false, 172, 8}),
    [](const ::testing::TestParamInfo<W4A8Case> &info) {
      const W4A8Case &c = info.param;
      return std::string(c.staticActivations ? "static" : "dynamic") + "_int" +
             std::to_string(c.bits) + "_g" + std::to_string(c.group) +
             (c.symmetric ? "_sym" : "_asym") +
             (c.k ? "_k" + std::to_string(c.k) : "");
    });

// Static per-axis quantize then dequantize (ONNX QuantizeLinear /
// DequantizeLinear arithmetic, uint8 with zero points).
TEST(QuantKernels, StaticQuantizeDequantizeBitForBit) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t r = 1 + rng() % 16, c = 1 + rng() % 70;
  std::normal_distribution<float> normal(0.f, 2.f);
  std::vector<float> x(r * c), scale(c), y(r * c);
  std::vector<uint8_t> zero(c), codes(r * c);
  for (float &v : x)
    v = normal(rng);
  for (int64_t j = 0; j < c; ++j) {
    scale[j] = 0.005f + 0.05f * float(rng() % 100) / 100.f;
    zero[j] = uint8_t(rng() % 256);
  }
  std::string xt = shape({r, c}, "f32"), qt = shape({r, c}, "i8"),
              st = shape({c}, "f32"), zt = shape({c}, "i8");
  std::string text =
      signature({{"x", xt, "float32"}, {"s", st, "float32"}, {"z", zt, "uint8"}},
                {{"q", qt, "uint8"}, {"y", xt, "float32"}}) +
      llvm::formatv(
          "  %q = qopt.quantize %x, %s, %z {{axis = 1 : i64, is_unsigned} : "
          "({0}, {1}, {2}) -> {3}\n"
          "  %y = qopt.dequantize %q, %s, %z {{axis = 1 : i64, is_unsigned} : "
          "({3}, {1}, {2}) -> {0}\n  return %q, %y : {3}, {0}\n}\n",
          xt, st, zt, qt)
          .str();
  CompiledFunction f(text);
  ASSERT_NE(f.model, nullptr) << f.diagnostics << "\n" << text;
  ASSERT_TRUE(f.run({x.data(), scale.data(), zero.data()},
                    {codes.data(), y.data()}));
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) {
      float v = std::nearbyint(x[i * c + j] / scale[j]) + float(zero[j]);
      int32_t want = int32_t(std::min(255.f, std::max(0.f, v)));
      ASSERT_EQ(int32_t(codes[i * c + j]), want) << i << "," << j;
      float back = float(want - int32_t(zero[j])) * scale[j];
      ASSERT_EQ(y[i * c + j], back) << i << "," << j;
    }
}

// Integer convolution with zero points, padding, stride and groups (the
// x86 target computes group 1 as an im2col product on the integer matmul,
// two groups by the reference loops).
class IntegerConv : public ::testing::TestWithParam<int64_t> {};

TEST_P(IntegerConv, MatchesReferenceBitForBit) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t g = GetParam(), cg = 1 + rng() % 3, fg = 1 + rng() % 3;
  int64_t c = g * cg, f = g * fg, h = 4 + rng() % 6, wd = 4 + rng() % 6;
  int64_t kh = 1 + rng() % 3, kw = 1 + rng() % 3, stride = 1 + rng() % 2;
  int64_t pad = rng() % 2;
  int64_t oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
  std::vector<uint8_t> x(c * h * wd);
  std::vector<int8_t> w(f * cg * kh * kw), zw(f);
  for (uint8_t &v : x) v = uint8_t(rng() % 256);
  for (int8_t &v : w) v = int8_t(int(rng() % 256) - 128);
  for (int8_t &v : zw) v = int8_t(int(rng() % 7) - 3);
  uint8_t zx = uint8_t(rng() % 256);
  std::vector<int32_t> y(f * oh * ow);
  std::string xt = shape({1, c, h, wd}, "i8"), wt = shape({f, cg, kh, kw}, "i8"),
              zwt = shape({f}, "i8"), zxt = "tensor<i8>",
              yt = shape({1, f, oh, ow}, "i32");
  std::string text =
      signature({{"x", xt, "uint8"}, {"w", wt, "int8"}, {"zw", zwt, "int8"},
                 {"zx", zxt, "uint8"}},
                {{"y", yt, "int32"}}) +
      llvm::formatv(
          "  %y = qopt.conv2d %x, %w zero_points(%zw) input_zero_point(%zx) "
          "{{strides = array<i64: {0}, {0}>, pads = array<i64: {1}, {1}, {1}, "
          "{1}>, dilations = array<i64: 1, 1>, group = {2} : i64, "
          "input_unsigned} : ({3}, {4}, {5}, {6}) -> {7}\n  return %y : {7}\n}\n",
          stride, pad, g, xt, wt, zwt, zxt, yt)
          .str();
  CompiledFunction fn(text);
  ASSERT_NE(fn.model, nullptr) << fn.diagnostics << "\n" << text;
  ASSERT_TRUE(fn.run({x.data(), w.data(), zw.data(), &zx}, {y.data()}));
  for (int64_t o = 0; o < f; ++o)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        int32_t acc = 0;
        int64_t grp = o / fg;
        for (int64_t ci = 0; ci < cg; ++ci)
          for (int64_t a = 0; a < kh; ++a)
            for (int64_t b = 0; b < kw; ++b) {
              int64_t yy = i * stride + a - pad, xx = j * stride + b - pad;
              int32_t xv = 0; // padding holds the zero point: contributes 0
              if (yy >= 0 && yy < h && xx >= 0 && xx < wd)
                xv = int32_t(x[((grp * cg + ci) * h + yy) * wd + xx]) - zx;
              int32_t wv = int32_t(w[((o * cg + ci) * kh + a) * kw + b]) - zw[o];
              acc += xv * wv;
            }
        ASSERT_EQ(y[(o * oh + i) * ow + j], acc) << o << "," << i << "," << j;
      }
}

INSTANTIATE_TEST_SUITE_P(QuantKernels, IntegerConv, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int64_t> &info) {
                           return "Groups" + std::to_string(info.param);
                         });

namespace {

/// Parameter: the float convolution qopt-quantize starts from.
enum class ConvForm {
  Dense,     // group 1, linalg.conv_2d_nchw_fchw
  Depthwise, // one filter per channel, linalg.depthwise_conv_2d_nchw_chw
  Grouped,   // linalg.conv_2d_ngchw_gfchw over reshapes
};
class QuantizedConvW8A8 : public ::testing::TestWithParam<ConvForm> {};

std::string floatList(const std::vector<float> &v) {
  std::string s;
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.9g", i ? ", " : "", v[i]);
    s += buf;
  }
  return s;
}

} // namespace

// qopt-quantize's W8A8 form of a float convolution of any group count
// (per-tensor dynamic uint8 codes of the input, RTN int8 weights per output
// channel, i32 accumulation, float(acc) * (s_x * s_w)) compiled for the host
// equals a C++ evaluation of that arithmetic bit for bit, padding included.
TEST_P(QuantizedConvW8A8, MatchesReferenceBitForBit) {
  ConvForm form = GetParam();
  bool depthwise = form == ConvForm::Depthwise, dense = form == ConvForm::Dense;
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t g = depthwise ? 1 + rng() % 24 : dense ? 1 : 2 + rng() % 3;
  int64_t cg = depthwise ? 1 : dense ? 1 + rng() % 9 : 1 + rng() % 3,
          fg = depthwise ? 1 : dense ? 1 + rng() % 9 : 1 + rng() % 3;
  int64_t n = 1 + rng() % 2, c = g * cg, f = g * fg;
  int64_t h = 5 + rng() % 8, wd = 5 + rng() % 8;
  int64_t kh = 1 + rng() % 3, kw = 1 + rng() % 3;
  int64_t sh = 1 + rng() % 2, sw = 1 + rng() % 2, dh = 1 + rng() % 2,
          dw = 1 + rng() % 2;
  int64_t pt = rng() % 2, pl = rng() % 2, pb = rng() % 3, pr = rng() % 3;
  int64_t hp = h + pt + pb, wp = wd + pl + pr;
  int64_t oh = (hp - (kh - 1) * dh - 1) / sh + 1,
          ow = (wp - (kw - 1) * dw - 1) / sw + 1;
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(n * c * h * wd), w(f * cg * kh * kw), y(n * f * oh * ow);
  for (float &v : x)
    v = normal(rng) * 2.f + 0.5f;
  for (float &v : w)
    v = normal(rng);

  std::string xt = shape({n, c, h, wd}, "f32"),
              xpt = shape({n, c, hp, wp}, "f32");
  std::string wt = shape({f, cg, kh, kw}, "f32"),
              yt = shape({n, f, oh, ow}, "f32");
  std::string convIn, convW;
  std::string text =
      signature({{"x", xt, "float32"}}, {{"y", yt, "float32"}}) +
      llvm::formatv("  %w = arith.constant dense<[{0}]> : tensor<{1}xf32>\n",
                    floatList(w), w.size())
          .str() +
      llvm::formatv("  %z = arith.constant 0.0 : f32\n"
                    "  %xp = tensor.pad %x low[0, 0, {0}, {1}] high[0, 0, {2}, "
                    "{3}] {{\n  ^bb0(%a: index, %b: index, %c: index, %d: "
                    "index):\n    tensor.yield %z : f32\n  } : {4} to {5}\n",
                    pt, pl, pb, pr, xt, xpt)
          .str();
  auto reshape = [&](const std::string &name, const std::string &from,
                     const std::string &fromType, std::vector<int64_t> dims,
                     std::string &type) {
    type = "tensor<";
    std::string list;
    for (size_t i = 0; i < dims.size(); ++i) {
      type += std::to_string(dims[i]) + "x";
      list += (i ? ", " : "") + std::to_string(dims[i]);
    }
    type += "f32>";
    text +=
        llvm::formatv("  %{0}s = tosa.const_shape {{values = dense<[{1}]> : "
                      "tensor<{2}xindex>} : () -> !tosa.shape<{2}>\n"
                      "  %{0} = tosa.reshape %{3}, %{0}s : ({4}, "
                      "!tosa.shape<{2}>) -> {5}\n",
                      name, list, dims.size(), from, fromType, type)
            .str();
  };
  std::string flatW = llvm::formatv("tensor<{0}xf32>", w.size()).str();
  std::string op, resultType;
  if (dense) {
    reshape("wv", "w", flatW, {f, c, kh, kw}, convW);
    convIn = xpt;
    resultType = yt;
    op = "linalg.conv_2d_nchw_fchw";
  } else if (depthwise) {
    reshape("wv", "w", flatW, {c, kh, kw}, convW);
    convIn = xpt;
    resultType = yt;
    op = "linalg.depthwise_conv_2d_nchw_chw";
  } else {
    reshape("wv", "w", flatW, {g, fg, cg, kh, kw}, convW);
    reshape("xv", "xp", xpt, {n, g, cg, hp, wp}, convIn);
    resultType = shape({n, g, fg, oh, ow}, "f32");
    op = "linalg.conv_2d_ngchw_gfchw";
  }
  text += llvm::formatv(
              "  %e = tensor.empty() : {0}\n"
              "  %f = linalg.fill ins(%z : f32) outs(%e : {0}) -> {0}\n"
              "  %r = {1} {{dilations = dense<[{2}, {3}]> : tensor<2xi64>, "
              "strides = dense<[{4}, {5}]> : tensor<2xi64>} ins(%{8}, %wv : "
              "{6}, {7}) outs(%f : {0}) -> {0}\n",
              resultType, op, dh, dw, sh, sw, convIn, convW,
              depthwise || dense ? "xp" : "xv")
              .str();
  if (depthwise || dense) {
    text += "  return %r : " + yt + "\n}\n";
  } else {
    std::string back;
    reshape("y", "r", resultType, {n, f, oh, ow}, back);
    text += "  return %y : " + yt + "\n}\n";
  }
  CompiledFunction fn(text, [](mlir::PassManager &pm) {
    QuantizePassOptions options;
    options.precision = "w8a8";
    pm.addPass(createQuantizePass(options));
  });
  ASSERT_NE(fn.model, nullptr) << fn.diagnostics << "\n" << text;
  ASSERT_TRUE(fn.run({x.data()}, {y.data()}));

  // DynamicQuantizeLinear of the whole input: the range includes 0.
  float lo = 0.f, hi = 0.f;
  for (float v : x) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  float sx = (hi - lo) / 255.f;
  float zf = std::min(255.f, std::max(0.f, std::nearbyint(-lo / sx)));
  int32_t zx = int32_t(zf);
  std::vector<int32_t> codes(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    codes[i] =
        int32_t(std::min(255.f, std::max(0.f, std::nearbyint(x[i] / sx) + zf)));
  WeightScheme scheme; // int8 per-channel symmetric
  QuantizedMatrix q = quantizeRTN(w.data(), f, cg * kh * kw, scheme);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < f; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          int32_t acc = 0;
          int64_t grp = o / fg;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t a = 0; a < kh; ++a)
              for (int64_t t = 0; t < kw; ++t) {
                int64_t yy = i * sh + a * dh - pt, xx = j * sw + t * dw - pl;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd)
                  continue; // padding holds the zero point
                int32_t xv =
                    codes[((b * c + grp * cg + ci) * h + yy) * wd + xx] - zx;
                acc += xv * q.code(o, (ci * kh + a) * kw + t);
              }
          float ref = float(acc) * (sx * q.scales[o]);
          ASSERT_EQ(y[((b * f + o) * oh + i) * ow + j], ref)
              << b << "," << o << "," << i << "," << j << "\n"
              << text;
        }
}

INSTANTIATE_TEST_SUITE_P(
    Convolutions, QuantizedConvW8A8,
    ::testing::Values(ConvForm::Dense, ConvForm::Depthwise, ConvForm::Grouped),
    [](const ::testing::TestParamInfo<ConvForm> &info) {
      return info.param == ConvForm::Dense       ? "Dense"
             : info.param == ConvForm::Depthwise ? "Depthwise"
                                                 : "Grouped";
    });

// Quantized embedding rows equal the C++ dequantization exactly; ids out of
// range are clamped.
TEST(QuantKernels, EmbeddingGatherBitForBit) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t vocab = 2 + rng() % 60, dim = 8 + rng() % 90, t = 1 + rng() % 12;
  WeightScheme s;
  s.bits = 4;
  s.groupSize = 32;
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> table(vocab * dim);
  for (float &v : table)
    v = normal(rng);
  QuantizedMatrix q = quantizeRTN(table.data(), vocab, dim, s);
  std::vector<int32_t> ids(t);
  for (int32_t &id : ids)
    id = int32_t(rng() % (vocab + 4)) - 2;
  std::vector<float> y(t * dim);
  std::string tt = shape({vocab, s.packedRowBytes(dim)}, "i8"),
              it = shape({1, t}, "i32"), st = shape({vocab, s.numGroups(dim)}, "f32"),
              yt = shape({1, t, dim}, "f32");
  std::string text =
      signature({{"t", tt, "int8"}, {"ids", it, "int32"}, {"s", st, "float32"}},
                {{"y", yt, "float32"}}) +
      llvm::formatv("  %y = qopt.embedding %t[%ids] scales(%s) {{dim = {0} : "
                    "i64, scheme = #qopt.scheme<int4, group 32, sym>} : ({1}, "
                    "{2}, {3}) -> {4}\n  return %y : {4}\n}\n",
                    dim, tt, it, st, yt)
          .str();
  CompiledFunction f(text);
  ASSERT_NE(f.model, nullptr) << f.diagnostics << "\n" << text;
  ASSERT_TRUE(f.run({q.packed.data(), ids.data(), q.scales.data()}, {y.data()}));
  for (int64_t i = 0; i < t; ++i) {
    int64_t row = std::min<int64_t>(vocab - 1, std::max<int64_t>(0, ids[i]));
    for (int64_t d = 0; d < dim; ++d)
      ASSERT_EQ(y[i * dim + d], q.value(row, d)) << "id " << ids[i] << " d " << d;
  }
}

namespace {

struct ActivationProductCase {
  /// Run-time scales (else calibrated ones).
  bool dynamic;
  /// The left operand holds probabilities (softmax rows, as in P·V)
  /// instead of signed scores.
  bool probabilities;
};

class ActivationProduct
    : public ::testing::TestWithParam<ActivationProductCase> {};

/// The codes of `x` under `scale`: roundeven(x / scale) clamped to
/// [lo, 127], in the order qopt.quantize and qopt.dynamic_quantize compute.
int32_t code(float x, float scale, float lo) {
  return int32_t(std::min(127.f, std::max(lo, std::nearbyint(x / scale))));
}

} // namespace

// A float product of two activations (attention's Q·Kᵀ, P·V) quantized by
// qopt-quantize's quantize-attention and compiled through the x86 pipeline:
// codes of both sides (static scales: one calibrated scale each, codes
// clamped to [-128, 127]; dynamic: one scale per row of A and per column of
// B, max|x| / 127, codes in [-127, 127]), an exact i32 product and
// y = float(acc) * (s_a * s_b). The C++ below computes the same, so the
// results are bit-identical.
TEST_P(ActivationProduct, MatchesReferenceBitForBit) {
  ActivationProductCase c = GetParam();
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int64_t batch = 1 + rng() % 4, m = 1 + rng() % 24, k = 1 + rng() % 70,
          n = 1 + rng() % 40;
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> a(batch * m * k), b(batch * k * n), y(batch * m * n);
  for (float &v : a)
    v = normal(rng) * 2.f;
  if (c.probabilities) {
    for (int64_t r = 0; r < batch * m; ++r) {
      float sum = 0;
      for (int64_t t = 0; t < k; ++t)
        sum += a[r * k + t] = std::exp(a[r * k + t]);
      for (int64_t t = 0; t < k; ++t)
        a[r * k + t] /= sum;
    }
  }
  for (float &v : b)
    v = normal(rng) * 0.5f;
  // Calibrated ranges a little inside the data, so some codes saturate.
  auto absMax = [](const std::vector<float> &v) {
    float x = 0;
    for (float e : v)
      x = std::max(x, std::fabs(e));
    return x;
  };
  float rangeA = absMax(a) * 0.9f, rangeB = absMax(b) * 0.8f;
  std::string at = shape({batch, m, k}, "f32"),
              bt = shape({batch, k, n}, "f32"),
              out = shape({batch, m, n}, "f32");
  std::string text =
      signature({{"a", at, "float32"}, {"b", bt, "float32"}},
                {{"y", out, "float32"}}) +
      llvm::formatv(
          "  %z = \"tosa.const\"() <{{values = dense<0.0> : tensor<1xf32>}> : "
          "() -> tensor<1xf32>\n"
          "  %oa = qopt.observe %a {{id = \"p:a\", absmax = {0:e9} : f32} : "
          "{1}\n"
          "  %ob = qopt.observe %b {{id = \"p:b\", absmax = {2:e9} : f32} : "
          "{3}\n"
          "  %y = tosa.matmul %oa, %ob, %z, %z : ({1}, {3}, tensor<1xf32>, "
          "tensor<1xf32>) -> {4}\n  return %y : {4}\n}\n",
          double(rangeA), at, double(rangeB), bt, out)
          .str();
  QuantizePassOptions quantize;
  quantize.precision = "w8a8-static";
  quantize.quantizeAttention = true;
  quantize.attentionScales = c.dynamic ? "dynamic" : "static";
  CompiledFunction f(text, [&](mlir::PassManager &pm) {
    pm.addPass(createQuantizePass(quantize));
  });
  ASSERT_NE(f.model, nullptr) << f.diagnostics << "\n" << text;
  ASSERT_TRUE(f.run({a.data(), b.data()}, {y.data()}));

  for (int64_t p = 0; p < batch; ++p) {
    const float *ap = a.data() + p * m * k, *bp = b.data() + p * k * n;
    std::vector<float> sa(m, rangeA / 127.f), sb(n, rangeB / 127.f);
    float lo = -128.f;
    if (c.dynamic) {
      lo = -127.f;
      for (int64_t i = 0; i < m; ++i) {
        float x = 0;
        for (int64_t t = 0; t < k; ++t)
          x = std::max(x, std::fabs(ap[i * k + t]));
        sa[i] = x == 0.f ? 1.f : x / 127.f;
      }
      for (int64_t j = 0; j < n; ++j) {
        float x = 0;
        for (int64_t t = 0; t < k; ++t)
          x = std::max(x, std::fabs(bp[t * n + j]));
        sb[j] = x == 0.f ? 1.f : x / 127.f;
      }
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int32_t acc = 0;
        for (int64_t t = 0; t < k; ++t)
          acc +=
              code(ap[i * k + t], sa[i], lo) * code(bp[t * n + j], sb[j], lo);
        float ref = float(acc) * (sa[i] * sb[j]);
        ASSERT_EQ(y[(p * m + i) * n + j], ref)
            << "batch " << p << " (" << i << ", " << j << ") acc " << acc;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Scales, ActivationProduct,
    ::testing::Values(ActivationProductCase{false, false},
                      ActivationProductCase{false, true},
                      ActivationProductCase{true, false},
                      ActivationProductCase{true, true}),
    [](const ::testing::TestParamInfo<ActivationProductCase> &info) {
      return std::string(info.param.dynamic ? "dynamic" : "static") +
             (info.param.probabilities ? "_probabilities" : "_scores");
    });

namespace {

/// One ISA level of qopt-x86-int8-matmul: its kernel, the features the
/// host must have to run it, and the features that lower a host's target
/// to it.
struct Int8Level {
  x86::Int8Kernel kernel;
  std::vector<const char *> needs;
  std::string lower;
};

const Int8Level &int8Level(x86::Int8Kernel kernel) {
  static const Int8Level levels[] = {
      {x86::Int8Kernel::Avx512Vnni, {"avx512f", "avx512bw", "avx512vnni"}, ""},
      {x86::Int8Kernel::AvxVnni,
       {"avx2", "avxvnni"},
       "-avx512f,-avx512bw,-avx512vl,-avx512vnni"},
      {x86::Int8Kernel::Avx2,
       {"avx2"},
       "-avx512f,-avx512bw,-avx512vl,-avx512vnni,-avxvnni"},
  };
  for (const Int8Level &level : levels)
    if (level.kernel == kernel)
      return level;
  llvm_unreachable("no such level");
}

/// Whether this machine runs `level`'s kernel (and the reason when it does
/// not).
bool hostRuns(const Int8Level &level, std::string &why) {
  mlir::DialectRegistry registry;
  registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  registerBuiltinTargets();
  std::string error;
  llvm::FailureOr<TargetAttr> host = hostTarget(&context, error);
  if (mlir::failed(host)) {
    why = error;
    return false;
  }
  for (const char *feature : level.needs)
    if (!host->hasFeature(feature)) {
      why = std::string("this machine lacks ") + feature;
      return false;
    }
  return true;
}

/// Whether qopt-x86-int8-matmul at `kernel` replaces every qopt.matmul of
/// `text` (so a test of the kernel cannot pass on the generic lowering).
bool kernelApplies(const std::string &text, x86::Int8Kernel kernel) {
  mlir::DialectRegistry registry;
  registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  mlir::PassManager pm(&context);
  pm.addPass(x86::createInt8MatMulPass(kernel));
  if (!module || mlir::failed(pm.run(*module)))
    return false;
  bool left = false;
  module->walk([&](MatMulOp) { left = true; });
  return !left;
}

/// Parameters: the ISA level, input codes unsigned with a zero point (else
/// signed without one), and an f32 result (else the raw i32 accumulator).
class Int8MatMul : public ::testing::TestWithParam<
                       std::tuple<x86::Int8Kernel, bool, bool>> {};

std::string intList(const std::vector<int> &v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}

} // namespace

// The x86 target's int8 kernels (qopt-x86-int8-matmul: weights packed at
// compile time; the codes shifted to the signedness the dot instruction
// reads and compensated through column sums, an input zero point the same
// way) equal a C++ evaluation of qopt.matmul's integer arithmetic bit for
// bit, on shapes the register blocks and the groups of 4 reduction steps do
// not divide. Each level compiles for its own features (lowered from the
// host's) and runs where the host has them.
TEST_P(Int8MatMul, MatchesReferenceBitForBit) {
  auto [kernel, inputUnsigned, floatResult] = GetParam();
  const Int8Level &level = int8Level(kernel);
  std::string why;
  if (!hostRuns(level, why))
    GTEST_SKIP() << "the " << x86::int8KernelName(kernel).str()
                 << " kernel cannot run here: " << why;
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  // One in three has a reduction long enough for several K chunks (16 KiB
  // of a column block's packed weights: 256 steps on zmm, 1024 on ymm),
  // with more rows than one register block, so the partial sums go through
  // the output between chunks.
  bool longK = rng() % 3 == 0;
  int64_t batch = 1 + rng() % 2, m = (longK ? 7 : 1) + rng() % 37,
          n = 1 + rng() % 150,
          k = longK ? 1025 + rng() % 1200 : 1 + rng() % 300;
  bool perTensor = rng() % 4 == 0;
  // AVX2's sign trick cannot take -128 weights (they keep the generic
  // lowering): its weights span [-127, 127], as symmetric RTN's do.
  int lowest = kernel == x86::Int8Kernel::Avx2 ? -127 : -128;
  std::vector<int> w(n * k);
  for (int &v : w)
    v = lowest + int(rng() % unsigned(128 - lowest));
  std::vector<int8_t> a(batch * m * k);
  for (int8_t &v : a)
    v = int8_t(int(rng() % 256) - 128);
  // The extremes, where a saturating i16 pair sum would show: row 0 of
  // the codes all -128 (0x80; 128 unsigned) and the last all -1 (255
  // unsigned), column 0 of the weights all `lowest` and the last all 127.
  std::fill(a.begin(), a.begin() + k, int8_t(-128));
  std::fill(a.end() - k, a.end(), int8_t(-1));
  std::fill(w.begin(), w.begin() + k, lowest);
  std::fill(w.end() - k, w.end(), 127);
  int64_t rows = batch * m;
  std::vector<float> sa(rows), sw(perTensor ? 1 : n);
  for (float &v : sa)
    v = 0.001f + float(rng() % 1000) / 7919.f;
  for (float &v : sw)
    v = 0.001f + float(rng() % 1000) / 6007.f;
  std::vector<uint8_t> za(rows);
  for (uint8_t &v : za)
    v = uint8_t(rng() % 256);
  std::string at = shape({batch, m, k}, "i8"), wt = shape({n, k}, "i8"),
              swt = perTensor ? shape({1, 1}, "f32") : shape({n, 1}, "f32"),
              st = shape({batch, m, 1}, "f32"), zt = shape({batch, m, 1}, "i8"),
              yt = shape({batch, m, n}, floatResult ? "f32" : "i32");
  std::vector<Port> ins = {{"a", at, inputUnsigned ? "uint8" : "int8"}};
  std::string operands = "%a, %w", types = at + ", " + wt, clauses;
  if (floatResult) {
    ins.push_back({"sw", swt, "float32"});
    ins.push_back({"sa", st, "float32"});
    clauses += " scales(%sw) input_scale(%sa)";
    types += ", " + swt + ", " + st;
  }
  if (inputUnsigned) {
    ins.push_back({"za", zt, "uint8"});
    clauses += " input_zero_point(%za)";
    types += ", " + zt;
  }
  std::string text =
      signature(ins, {{"y", yt, floatResult ? "float32" : "int32"}});
  std::string rowsText;
  for (int64_t r = 0; r < n; ++r) {
    std::vector<int> row(w.begin() + r * k, w.begin() + (r + 1) * k);
    rowsText += (r ? ", [" : "[") + intList(row) + "]";
  }
  text += "  %w = arith.constant dense<[" + rowsText + "]> : " + wt + "\n";
  text += llvm::formatv("  %y = qopt.matmul {0}{1} {{{2}k = {3} : i64, scheme = "
                        "#qopt.scheme<int8, {4}, sym>} : ({5}) -> {6}\n"
                        "  return %y : {6}\n}\n",
                        operands, clauses,
                        inputUnsigned ? "input_unsigned, " : "", k,
                        perTensor ? "per_tensor" : "per_channel", types, yt)
              .str();
  ASSERT_TRUE(kernelApplies(text, kernel)) << text;
  CompiledFunction fn(text, {}, level.lower);
  ASSERT_NE(fn.model, nullptr) << fn.diagnostics << "\n" << text;
  std::vector<int32_t> yi(rows * n);
  std::vector<float> yf(rows * n);
  std::vector<const void *> inputs = {a.data()};
  if (floatResult) {
    inputs.push_back(sw.data());
    inputs.push_back(sa.data());
  }
  if (inputUnsigned)
    inputs.push_back(za.data());
  ASSERT_TRUE(fn.run(inputs, {floatResult ? (void *)yf.data()
                                          : (void *)yi.data()}));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < n; ++c) {
      int32_t acc = 0;
      for (int64_t t = 0; t < k; ++t) {
        int32_t x = inputUnsigned ? int32_t(uint8_t(a[r * k + t])) - za[r]
                                  : int32_t(a[r * k + t]);
        acc += x * w[c * k + t];
      }
      if (floatResult) {
        float ref = float(acc) * (sa[r] * sw[perTensor ? 0 : c]);
        ASSERT_EQ(yf[r * n + c], ref) << r << "," << c;
      } else {
        ASSERT_EQ(yi[r * n + c], acc) << r << "," << c;
      }
    }
}

INSTANTIATE_TEST_SUITE_P(
    QuantKernels, Int8MatMul,
    ::testing::Combine(::testing::Values(x86::Int8Kernel::Avx512Vnni,
                                         x86::Int8Kernel::AvxVnni,
                                         x86::Int8Kernel::Avx2),
                       ::testing::Bool(), ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<x86::Int8Kernel, bool, bool>>
           &info) {
      return x86::int8KernelName(std::get<0>(info.param)).str() + "_" +
             (std::get<1>(info.param) ? "UnsignedZeroPoint" : "Signed") +
             (std::get<2>(info.param) ? "F32" : "I32");
    });

namespace {

/// Parameters: the ISA level, the group size, and asymmetric weights (with
/// zero points; else symmetric signed codes).
class GroupedInt8MatMul : public ::testing::TestWithParam<
                              std::tuple<x86::Int8Kernel, int64_t, bool>> {};

} // namespace

// qopt-x86-int8-matmul's W4A8 kernel (4-bit codes packed at compile time,
// unpacked in registers; per group an exact i32 partial sum, then
// acc = fma(s_w, float(P), acc) in ascending group order and y = s_a * acc)
// equals a C++ evaluation of that arithmetic bit for bit. Shapes the
// register blocks, the groups and the steps of 8 codes do not divide;
// every nibble value appears; one in three cases has a reduction long
// enough for several K chunks with more rows than one register block.
TEST_P(GroupedInt8MatMul, MatchesReferenceBitForBit) {
  auto [kernel, group, asymmetric] = GetParam();
  const Int8Level &level = int8Level(kernel);
  std::string why;
  if (!hostRuns(level, why))
    GTEST_SKIP() << "the " << x86::int8KernelName(kernel).str()
                 << " kernel cannot run here: " << why;
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  bool longK = rng() % 3 == 0;
  int64_t batch = 1 + rng() % 2, m = (longK ? 5 : 1) + rng() % 30,
          n = 1 + rng() % 150,
          k = longK ? 1100 + rng() % 1400 : 1 + rng() % 300;
  int64_t rows = batch * m, groups = (k + group - 1) / group,
          rowBytes = (k + 1) / 2;
  // Codes: signed [-8, 7] or unsigned [0, 15]; column 0 all at the lowest
  // and the last column all at the highest code.
  int lowest = asymmetric ? 0 : -8;
  std::vector<int> w(n * k);
  for (int &v : w)
    v = lowest + int(rng() % 16);
  std::fill(w.begin(), w.begin() + k, lowest);
  std::fill(w.end() - k, w.end(), lowest + 15);
  std::vector<uint8_t> packed(n * rowBytes, 0);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t t = 0; t < k; ++t)
      packed[c * rowBytes + t / 2] |=
          uint8_t((w[c * k + t] & 15) << (4 * (t % 2)));
  // One static input scale (w4a8-static) in one case of three, else one
  // per row (dynamic per-token quantization).
  bool staticScale = rng() % 3 == 0;
  std::vector<float> sw(n * groups), sa(staticScale ? 1 : rows);
  std::vector<uint8_t> zw(n * groups);
  for (float &v : sw)
    v = 0.001f + float(rng() % 1000) / 6007.f;
  for (float &v : sa)
    v = 0.001f + float(rng() % 1000) / 7919.f;
  for (uint8_t &v : zw)
    v = uint8_t(rng() % 16);
  // Activations: row 0 all -128, the last row all 127.
  std::vector<int8_t> a(rows * k);
  for (int8_t &v : a)
    v = int8_t(int(rng() % 256) - 128);
  std::fill(a.begin(), a.begin() + k, int8_t(-128));
  std::fill(a.end() - k, a.end(), int8_t(127));

  std::string at = shape({batch, m, k}, "i8"), wt = shape({n, rowBytes}, "i8"),
              swt = shape({n, groups}, "f32"), zt = shape({n, groups}, "i8"),
              st = staticScale ? std::string("tensor<f32>")
                               : shape({batch, m, 1}, "f32"),
              yt = shape({batch, m, n}, "f32");
  std::string text = signature({{"a", at, "int8"}, {"sa", st, "float32"}},
                               {{"y", yt, "float32"}});
  text += "  %w = arith.constant " +
          hexConstant(packed.data(), packed.size(), wt) + "\n";
  text += "  %sw = arith.constant " +
          hexConstant(sw.data(), sw.size() * 4, swt) + "\n";
  std::string clauses = " scales(%sw)", types = at + ", " + wt + ", " + swt;
  if (asymmetric) {
    text += "  %zw = arith.constant " + hexConstant(zw.data(), zw.size(), zt) +
            "\n";
    clauses += " zero_points(%zw)";
    types += ", " + zt;
  }
  text += llvm::formatv("  %y = qopt.matmul %a, %w{0} input_scale(%sa) {{k = "
                        "{1} : i64, scheme = #qopt.scheme<{2}4, group {3}, "
                        "{4}>} : ({5}, {6}) -> {7}\n"
                        "  return %y : {7}\n}\n",
                        clauses, k, asymmetric ? "uint" : "int", group,
                        asymmetric ? "asym" : "sym", types, st, yt)
              .str();
  ASSERT_TRUE(kernelApplies(text, kernel)) << text;
  CompiledFunction fn(text, {}, level.lower);
  ASSERT_NE(fn.model, nullptr) << fn.diagnostics << "\n" << text;
  std::vector<float> y(rows * n);
  ASSERT_TRUE(fn.run({a.data(), sa.data()}, {y.data()}));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < n; ++c) {
      float acc = 0.f;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t z = asymmetric ? zw[c * groups + g] : 0, partial = 0;
        for (int64_t t = g * group; t < std::min(k, (g + 1) * group); ++t)
          partial += int32_t(a[r * k + t]) * (w[c * k + t] - z);
        acc = std::fma(sw[c * groups + g], float(partial), acc);
      }
      ASSERT_EQ(y[r * n + c], sa[staticScale ? 0 : r] * acc)
          << r << "," << c << " m=" << m << " n=" << n << " k=" << k;
    }
}

INSTANTIATE_TEST_SUITE_P(
    QuantKernels, GroupedInt8MatMul,
    ::testing::Combine(
        ::testing::Values(x86::Int8Kernel::Avx512Vnni, x86::Int8Kernel::AvxVnni,
                          x86::Int8Kernel::Avx2),
        ::testing::Values(int64_t(32), int64_t(64), int64_t(128)),
        ::testing::Bool()),
    [](const ::testing::TestParamInfo<
        std::tuple<x86::Int8Kernel, int64_t, bool>> &info) {
      return x86::int8KernelName(std::get<0>(info.param)).str() + "_g" +
             std::to_string(std::get<1>(info.param)) +
             (std::get<2>(info.param) ? "_asym" : "_sym");
    });
