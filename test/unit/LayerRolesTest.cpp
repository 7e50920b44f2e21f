//===- LayerRolesTest.cpp - The layer-role API recipes build on -----------===//
//
// Recipes name roles by string and read them from classifyLayerRoles
// without running the pass: the names round-trip, unknown names are
// refused, and the analysis leaves the module untouched.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/LayerRoles.h"
#include "qopt/Driver/Driver.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace qopt;

namespace {

TEST(LayerRoles, NamesRoundTrip) {
  for (uint32_t i = 0; i <= getMaxEnumValForLayerRole(); ++i) {
    auto role = static_cast<LayerRole>(i);
    EXPECT_EQ(parseLayerRole(layerRoleName(role)), role) << i;
  }
  EXPECT_EQ(layerRoleName(LayerRole::FFNDown), "ffn_down");
  EXPECT_EQ(parseLayerRole("attention_qkv"), LayerRole::AttentionQKV);
  EXPECT_FALSE(parseLayerRole("ffn"));
  EXPECT_FALSE(parseLayerRole("FFN_DOWN"));
  EXPECT_FALSE(parseLayerRole(""));
}

TEST(LayerRoles, ClassifiesWithoutRewriting) {
  const char *text = R"mlir(
func.func @main(%x: tensor<1x4x8xf32>) -> tensor<1x4x4xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %wq = "tosa.const"() <{values = dense<0.1> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %wk = "tosa.const"() <{values = dense<0.2> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %q = tosa.matmul %x, %wq, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  %k = tosa.matmul %x, %wk, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  %kt = tosa.transpose %k {perms = array<i32: 0, 2, 1>} : (tensor<1x4x8xf32>) -> tensor<1x8x4xf32>
  %s = tosa.matmul %q, %kt, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4xf32>
  return %s : tensor<1x4x4xf32>
})mlir";
  mlir::DialectRegistry registry;
  registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  ASSERT_TRUE(module);
  llvm::DenseMap<mlir::Operation *, LayerRole> roles =
      classifyLayerRoles(*module);
  std::vector<LayerRole> products;
  module->walk([&](mlir::tosa::MatMulOp op) {
    auto it = roles.find(op);
    ASSERT_NE(it, roles.end());
    products.push_back(it->second);
    EXPECT_FALSE(op->hasAttr(QOptDialect::kRoleAttrName));
  });
  EXPECT_EQ(roles.size(), 3u);
  EXPECT_EQ(products, (std::vector<LayerRole>{LayerRole::AttentionQKV,
                                              LayerRole::AttentionQKV,
                                              LayerRole::AttentionScores}));
}

} // namespace
