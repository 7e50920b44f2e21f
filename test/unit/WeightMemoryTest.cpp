//===- WeightMemoryTest.cpp - Weights leave memory once replaced ----------===//
//
// MLIR keeps a dense_resource blob until its context dies, so a model's
// float weights would outlive their quantization. releaseUnreferencedBlobs
// frees exactly the blobs no attribute of the module refers to, and
// externalizeWeights lays the constants out at aligned offsets with their
// bytes intact.
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <numeric>

using namespace mlir;

namespace {

DenseResourceElementsAttr resource(MLIRContext &ctx, StringRef name, int64_t n,
                                   float first) {
  std::vector<float> values(n);
  std::iota(values.begin(), values.end(), first);
  auto type = RankedTensorType::get({n}, Float32Type::get(&ctx));
  return DenseResourceElementsAttr::get(
      type, name,
      HeapAsmResourceBlob::allocateAndCopyWithAlign(
          ArrayRef<char>((const char *)values.data(), n * sizeof(float)), 64,
          false));
}

TEST(WeightMemory, ReleasesOnlyBlobsTheModuleNoLongerUses) {
  DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  OpBuilder b(&ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(b.getUnknownLoc());
  b.setInsertionPointToEnd(module->getBody());
  auto fn = func::FuncOp::create(b, b.getUnknownLoc(), "f",
                                 b.getFunctionType({}, {}));
  b.setInsertionPointToStart(fn.addEntryBlock());
  DenseResourceElementsAttr kept = resource(ctx, "kept", 1000, 0);
  DenseResourceElementsAttr replaced = resource(ctx, "replaced", 3000, 7);
  // Referenced from a nested attribute only: still in use.
  DenseResourceElementsAttr nested = resource(ctx, "nested", 500, 1);
  arith::ConstantOp::create(b, b.getUnknownLoc(), kept);
  Operation *dead = arith::ConstantOp::create(b, b.getUnknownLoc(), replaced);
  func::ReturnOp::create(b, b.getUnknownLoc());
  fn->setAttr("holder", b.getArrayAttr({nested}));

  // Both in use: nothing is freed.
  EXPECT_EQ(qopt::releaseUnreferencedBlobs(*module), 0);
  dead->erase();
  EXPECT_EQ(qopt::releaseUnreferencedBlobs(*module), 3000 * 4);
  ASSERT_NE(kept.getRawHandle().getBlob(), nullptr);
  ArrayRef<float> data = kept.getRawHandle().getBlob()->getDataAs<float>();
  ASSERT_EQ(data.size(), 1000u);
  EXPECT_EQ(data[999], 999.f);
  EXPECT_EQ(nested.getRawHandle().getBlob()->getData().size(), 500u * 4);
  EXPECT_TRUE(replaced.getRawHandle().getBlob()->getData().empty());
  // A second call finds nothing more.
  EXPECT_EQ(qopt::releaseUnreferencedBlobs(*module), 0);
}

TEST(WeightMemory, ExternalizedBlobHoldsEachConstantAtItsOffset) {
  DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  const char *text = R"mlir(
    memref.global "private" constant @a : memref<300xf32> = dense<2.5>
    memref.global "private" constant @tiny : memref<2xf32> = dense<[1.0, 2.0]>
    memref.global "private" constant @b : memref<17xi32> = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]>
    func.func @main(%out: memref<300xf32>) {
      %a = memref.get_global @a : memref<300xf32>
      %b = memref.get_global @b : memref<17xi32>
      %t = memref.get_global @tiny : memref<2xf32>
      memref.copy %a, %out : memref<300xf32> to memref<300xf32>
      return
    })mlir";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &ctx);
  ASSERT_TRUE(module);
  std::vector<char> blob;
  std::vector<qopt::WeightEntry> entries;
  ASSERT_TRUE(succeeded(
      qopt::externalizeWeights(*module, "main", 64, 64, blob, entries)));
  ASSERT_EQ(entries.size(), 2u); // @tiny stays in the code
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_EQ(entries[0].offset, 0);
  EXPECT_EQ(entries[0].bytes, 1200);
  EXPECT_EQ(entries[1].name, "b");
  EXPECT_EQ(entries[1].offset, 1216); // 1200 rounded up to 64
  EXPECT_EQ(entries[1].bytes, 68);
  EXPECT_EQ(blob.size(), 1344u); // 1284 rounded up to 64
  const float *a = (const float *)blob.data();
  EXPECT_EQ(a[0], 2.5f);
  EXPECT_EQ(a[299], 2.5f);
  const int32_t *bv = (const int32_t *)(blob.data() + 1216);
  for (int i = 0; i < 17; ++i)
    EXPECT_EQ(bv[i], i);
  EXPECT_TRUE(module->lookupSymbol("tiny"));
  EXPECT_FALSE(module->lookupSymbol("a"));
}

} // namespace
