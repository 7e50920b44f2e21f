//===- ImporterArityTest.cpp - Nodes with missing inputs are errors -------===//
//
// A sweep over every operator the importer converts: a node with no inputs,
// with fewer inputs than its ONNX schema requires, or with a required input
// left empty must fail the import with a diagnostic naming the node, never
// crash. Ops libonnx has no schema for (contrib domains, opsets past 17)
// get the same nodes and must fail too when they have no inputs at all.
//
//===----------------------------------------------------------------------===//

#include "qopt/Frontend/ONNX/Importer.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

namespace {

namespace of = qopt::onnx_frontend;

/// A model with one node `domain::opType` reading `inputs` (names; "" for
/// an empty slot), every named input the graph input X (float 2x3).
std::string makeModel(const std::string &domain, const std::string &opType,
                      int opset, const std::vector<std::string> &inputs) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  auto *def = model.add_opset_import();
  def->set_version(domain.empty() ? opset : 17);
  if (!domain.empty()) {
    auto *other = model.add_opset_import();
    other->set_domain(domain);
    other->set_version(opset);
  }
  onnx::GraphProto *g = model.mutable_graph();
  g->set_name("arity");
  auto addValue = [](onnx::ValueInfoProto *v, const char *name) {
    v->set_name(name);
    auto *tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(2);
    tt->mutable_shape()->add_dim()->set_dim_value(3);
  };
  addValue(g->add_input(), "X");
  addValue(g->add_output(), "Y");
  onnx::NodeProto *n = g->add_node();
  n->set_op_type(opType);
  n->set_domain(domain);
  n->set_name("the_node");
  for (const std::string &in : inputs)
    n->add_input(in);
  n->add_output("Y");
  std::string bytes;
  model.SerializeToString(&bytes);
  return bytes;
}

struct ImportResult {
  bool ok;
  std::string diagnostics;
};

ImportResult import(const std::string &bytes) {
  mlir::MLIRContext ctx;
  ImportResult result{false, ""};
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
      llvm::raw_string_ostream(result.diagnostics)
          << d.getLocation() << ": " << d << "\n";
    return mlir::success();
  });
  of::ImportOptions options;
  auto module = of::importONNXBuffer(ctx, bytes, "sweep.onnx", "", options);
  result.ok = bool(module);
  return result;
}

TEST(ImporterArity, EveryOpRejectsMissingInputs) {
  unsigned checked = 0;
  for (const of::SupportedOperator &op : of::supportedOperators()) {
    std::vector<int> opsets;
    if (op.domain.empty()) {
      if (op.firstOpset <= 17)
        opsets.push_back(std::max(op.firstOpset, 13));
      opsets.push_back(22);
    } else {
      opsets.push_back(op.firstOpset);
    }
    for (int opset : opsets) {
      const onnx::OpSchema *schema =
          onnx::OpSchemaRegistry::Schema(op.opType, opset, op.domain);
      int minInputs = schema ? schema->min_input() : 1;
      std::string what =
          op.domain + "::" + op.opType + " opset " + std::to_string(opset);
      for (int k = 0; k < minInputs; ++k) {
        ImportResult r = import(makeModel(op.domain, op.opType, opset,
                                          std::vector<std::string>(k, "X")));
        EXPECT_FALSE(r.ok) << what << " with " << k << " input(s)";
        EXPECT_NE(r.diagnostics.find("the_node"), std::string::npos)
            << what << " with " << k << " input(s): " << r.diagnostics;
        ++checked;
      }
      // The last required input left empty, the slots before it given.
      int required = -1;
      for (int i = 0; schema && i < minInputs; ++i)
        if (schema->inputs()[i].GetOption() == onnx::OpSchema::Single)
          required = i;
      if (required >= 1) {
        std::vector<std::string> inputs(required + 1, "X");
        inputs[required] = "";
        ImportResult r = import(makeModel(op.domain, op.opType, opset, inputs));
        EXPECT_FALSE(r.ok) << what << " with input " << required << " empty";
        EXPECT_NE(r.diagnostics.find("input " + std::to_string(required)),
                  std::string::npos)
            << what << ": " << r.diagnostics;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 150u);
}

TEST(ImporterArity, MessagesNameTheNodeAndInput) {
  ImportResult r = import(makeModel("", "Gather", 13, {"X"}));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.diagnostics.find("Gather (opset 13) needs at least 2 input(s); "
                               "the node has 1"),
            std::string::npos)
      << r.diagnostics;
  r = import(makeModel("", "Gather", 13, {"X", "X", "X"}));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.diagnostics.find("takes at most 2 input(s)"), std::string::npos)
      << r.diagnostics;
  // No schema: the converter's read of input 1 reports it.
  r = import(makeModel("com.microsoft", "FusedMatMul", 1, {"X"}));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.diagnostics.find("FusedMatMul: input 1 is missing"),
            std::string::npos)
      << r.diagnostics;
}

} // namespace
