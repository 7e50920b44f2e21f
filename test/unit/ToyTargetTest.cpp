//===- ToyTargetTest.cpp - A second target, added as docs/targets.md says --===//
//
// The steps of "Adding a target" carried out in a test: a backend whose
// "binary" is the module after qopt's reference lowering, printed as MLIR.
// It declares its triples, CPUs and capabilities, builds its pipeline from
// the module's #qopt.target, writes its code through the shared artifact
// writer, and is reached through the registry like the x86 backend.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Passes.h"
#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Target/Artifact.h"
#include "qopt/Target/Target.h"

#include "mlir/Conversion/TosaToLinalg/TosaToLinalg.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace qopt;

namespace {

/// Step 1: the backend. Its code file is the reference-lowered module.
class ToyBackend final : public TargetBackend {
public:
  StringRef name() const override { return "toy"; }
  StringRef description() const override {
    return "reference-lowered MLIR as the binary (a test target)";
  }
  std::vector<std::string> exampleTriples() const override {
    return {"toy-unknown-none"};
  }
  bool acceptsTriple(StringRef triple) const override {
    return triple.starts_with("toy-");
  }
  std::vector<std::string> processorNames() const override {
    return {"toy1", "toy2"};
  }
  FailureOr<TargetAttr> resolve(MLIRContext *context, StringRef triple,
                                StringRef cpu, StringRef features,
                                std::string &error) const override {
    if (cpu.empty() || cpu == "native")
      cpu = "toy1"; // A cross target: "native" means its default part.
    if (cpu != "toy1" && cpu != "toy2") {
      error = "unknown toy CPU '" + cpu.str() + "' (known: toy1, toy2)";
      return failure();
    }
    // toy2 implies wide vectors: spelled out like any implied feature.
    std::string all = cpu == "toy2" ? "+wide" : "";
    if (!features.empty())
      all += (all.empty() ? "" : ",") + features.str();
    return TargetAttr::get(context, name(), triple, cpu, all);
  }
  TargetCapabilities capabilities(TargetAttr target) const override {
    TargetCapabilities caps;
    caps.vectorBits = target.hasFeature("wide") ? 256 : 128;
    caps.nativePrecisions = {"f32"};
    caps.emulatedPrecisions = {"w8a16"};
    return caps;
  }
  // Step 2: the pipeline, built from the target description.
  void buildPipeline(OpPassManager &pm, TargetAttr) const override {
    pm.addPass(createLowerToLinalgPass());
    pm.addNestedPass<func::FuncOp>(tosa::createTosaToLinalgNamed());
    pm.addNestedPass<func::FuncOp>(tosa::createTosaToLinalg());
  }
  // Step 3: the serializer adds the code files and its manifest entries.
  LogicalResult serialize(ModuleOp module, const SerializeOptions &options,
                          ArtifactWriter &writer) const override {
    auto target =
        module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
    PassManager pm(module.getContext());
    buildPipeline(pm, target);
    if (failed(pm.run(module)))
      return failure();
    std::string text;
    llvm::raw_string_ostream os(text);
    module.print(os);
    if (llvm::Error e = writer.addFile(options.name + ".mlir", text, "code"))
      return module.emitError() << llvm::toString(std::move(e));
    writer.manifest()["target"] = llvm::json::Object{
        {"backend", name().str()},
        {"triple", target.getTriple().str()},
        {"cpu", target.getCpu().str()},
        {"capabilities", capabilities(target).toJSON()}};
    return success();
  }
};

std::string readFile(const std::string &path) {
  auto buf = llvm::MemoryBuffer::getFile(path);
  return buf ? (*buf)->getBuffer().str() : "";
}

class ToyTarget : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    // Step 4: one registration line.
    registerBuiltinTargets();
    registerTargetBackend(std::make_unique<ToyBackend>());
  }
  void SetUp() override {
    llvm::SmallString<128> p;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("qopt-toy-target", p));
    dir = std::string(p);
    std::error_code ec;
    llvm::raw_fd_ostream os(dir + "/model.onnxtxt", ec);
    os << "<\n  ir_version: 8,\n  opset_import: [ \"\" : 14 ]\n>\n"
          "g (float[2, 4] X) => (float[2, 3] Y) {\n"
          "  W = Constant <value: tensor = float[4, 3] "
          "{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}> ()\n"
          "  V = Constant <value: tensor = float[3, 3] "
          "{1, 0, 0, 0, 1, 0, 0, 0, 1}> ()\n"
          "  Z = MatMul(X, W)\n  R = Relu(Z)\n  Y = MatMul(R, V)\n}\n";
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  /// Compiles the model through the driver; returns the diagnostics.
  std::string compile(const std::string &triple, const std::string &cpu,
                      const std::string &precision = "") {
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
    options.outDir = dir + "/artifact";
    options.target.triple = triple;
    options.target.cpu = cpu;
    options.quantize.precision = precision;
    if (failed(compileModel(context, options)) && diagnostics.empty())
      diagnostics = "failed";
    return diagnostics;
  }

  std::string dir;
};

TEST_F(ToyTarget, IsListedBesideX86) {
  std::vector<std::string> names;
  for (const TargetBackend *b : registeredTargets())
    names.push_back(b->name().str());
  EXPECT_NE(std::find(names.begin(), names.end(), "x86"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "toy"), names.end());
  std::string error;
  EXPECT_EQ(lookupTargetByTriple("riscv64-unknown-linux-gnu", error), nullptr);
  EXPECT_NE(error.find("toy: toy-unknown-none"), std::string::npos) << error;
  EXPECT_NE(error.find("x86: x86_64-unknown-linux-gnu"), std::string::npos)
      << error;
}

TEST_F(ToyTarget, CompilesThroughTheDriverAndTheSharedWriter) {
  ASSERT_EQ(compile("toy-unknown-none", "toy2"), "");
  std::string code = readFile(dir + "/artifact/model.mlir");
  EXPECT_NE(code.find("linalg.batch_matmul"), std::string::npos) << code;
  EXPECT_NE(code.find("#qopt.target<backend = \"toy\""), std::string::npos);
  EXPECT_FALSE(llvm::sys::fs::exists(dir + "/artifact/model.so"));
  std::string manifest = readFile(dir + "/artifact/manifest.json");
  EXPECT_NE(manifest.find("\"backend\": \"toy\""), std::string::npos);
  EXPECT_NE(manifest.find("\"vector_bits\": 256"), std::string::npos);
  EXPECT_NE(manifest.find("\"name\": \"model.mlir\""), std::string::npos);
  EXPECT_NE(manifest.find("\"name\": \"Y\""), std::string::npos);
  // The x86 runtime refuses it cleanly.
  char err[512];
  EXPECT_EQ(qrt_load((dir + "/artifact").c_str(), err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("compiled for the 'toy' target"),
            std::string::npos)
      << err;
}

TEST_F(ToyTarget, QuantizedOpsReachItInReferenceForm) {
  ASSERT_EQ(compile("toy-unknown-none", "native", "w8a16"), "");
  std::string code = readFile(dir + "/artifact/model.mlir");
  // qopt.matmul became its reference lowering: i8 weights widened in linalg.
  EXPECT_EQ(code.find("qopt.matmul"), std::string::npos) << code;
  EXPECT_NE(code.find("arith.sitofp"), std::string::npos) << code;
}

TEST_F(ToyTarget, UnknownCpuIsOneClearError) {
  std::string d = compile("toy-unknown-none", "toy9");
  EXPECT_NE(d.find("unknown toy CPU 'toy9' (known: toy1, toy2)"),
            std::string::npos)
      << d;
  EXPECT_FALSE(llvm::sys::fs::exists(dir + "/artifact"));
}

} // namespace
