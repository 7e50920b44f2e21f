//===- ExternalDataTest.cpp - Initializers stored outside the model -------===//
//
// Models over 2 GB keep initializers in side files (location/offset/length).
// The test writes such a model with libonnx's protobuf classes, compiles it
// and checks the result, then checks the errors for a missing, short or
// escaping external file.
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/qrt.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

namespace {

/// Y = X[2x4] @ W[4x3], W external in `location` at byte 16.
void writeModel(const std::string &dir, const std::string &location,
                int64_t length) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(14);
  onnx::GraphProto *g = model.mutable_graph();
  g->set_name("external");
  auto addValue = [](onnx::ValueInfoProto *v, const char *name,
                     std::initializer_list<int64_t> dims) {
    v->set_name(name);
    auto *tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims)
      tt->mutable_shape()->add_dim()->set_dim_value(d);
  };
  addValue(g->add_input(), "X", {2, 4});
  addValue(g->add_output(), "Y", {2, 3});
  onnx::TensorProto *w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(4);
  w->add_dims(3);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto kv = [&](const char *k, const std::string &v) {
    auto *e = w->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  kv("location", location);
  kv("offset", "16");
  kv("length", std::to_string(length));
  onnx::NodeProto *n = g->add_node();
  n->set_op_type("MatMul");
  n->set_name("matmul");
  n->add_input("X");
  n->add_input("W");
  n->add_output("Y");
  std::ofstream out(dir + "/model.onnx", std::ios::binary);
  model.SerializeToOstream(&out);
}

std::string compile(const std::string &dir) {
  mlir::DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  std::string diagnostics;
  context.getDiagEngine().registerHandler([&](mlir::Diagnostic &d) {
    diagnostics += d.str();
    return mlir::success();
  });
  qopt::CompileOptions options;
  options.modelPath = dir + "/model.onnx";
  options.outDir = dir + "/artifact";
  if (mlir::failed(qopt::compileModel(context, options)))
    return diagnostics.empty() ? "failed" : diagnostics;
  return "";
}

} // namespace

TEST(ExternalData, InitializerFromSideFile) {
  llvm::SmallString<128> dir;
  llvm::sys::fs::createUniqueDirectory("qopt-external", dir);
  std::string d(dir);
  float w[12];
  for (int i = 0; i < 12; ++i)
    w[i] = 0.25f * i - 1.0f;
  {
    std::ofstream f(d + "/weights.data", std::ios::binary);
    f.write("0123456789abcdef", 16); // data starts at offset 16
    f.write(reinterpret_cast<const char *>(w), sizeof w);
  }
  writeModel(d, "weights.data", sizeof w);
  ASSERT_EQ(compile(d), "");
  char err[512];
  qrt_model *m = qrt_load((d + "/artifact").c_str(), err, sizeof err);
  ASSERT_NE(m, nullptr) << err;
  float x[8] = {1, 2, 3, 4, -1, 0.5f, 0, 2}, y[6];
  const void *ins[] = {x};
  void *outs[] = {y};
  ASSERT_EQ(qrt_run(m, ins, outs), 0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      float ref = 0;
      for (int k = 0; k < 4; ++k)
        ref += x[i * 4 + k] * w[k * 3 + j];
      EXPECT_NEAR(y[i * 3 + j], ref, 1e-5);
    }
  qrt_free(m);
  llvm::sys::fs::remove_directories(d);
}

TEST(ExternalData, BadSideFilesAreErrors) {
  llvm::SmallString<128> dir;
  llvm::sys::fs::createUniqueDirectory("qopt-external", dir);
  std::string d(dir);
  writeModel(d, "missing.data", 48);
  std::string diag = compile(d);
  EXPECT_NE(diag.find("cannot read external data"), std::string::npos) << diag;
  {
    std::ofstream f(d + "/short.data", std::ios::binary);
    f.write("0123456789abcdef0123", 20);
  }
  writeModel(d, "short.data", 48);
  diag = compile(d);
  EXPECT_NE(diag.find("initializer 'W'"), std::string::npos) << diag;
  writeModel(d, "../escape.data", 48);
  diag = compile(d);
  EXPECT_NE(diag.find("must be a relative path inside the model's folder"),
            std::string::npos)
      << diag;
  EXPECT_FALSE(llvm::sys::fs::exists(d + "/artifact"));
  llvm::sys::fs::remove_directories(d);
}
