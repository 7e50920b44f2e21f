//===- ExternalizeWeights.cpp - Move constants into a weights blob --------===//
//
// Large constants are memory-mapped from weights.bin at run time instead of
// living in the object file: the compiled code reads them through views of
// one `memref<?xi8>` argument.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Passes.h"
#include "mlir/IR/AsmState.h"
#include "qopt/QOptDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

namespace qopt {
#define GEN_PASS_DEF_EXTERNALIZEWEIGHTSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {

FailureOr<std::vector<char>> constantBytes(Attribute value, ShapedType type) {
  Type elem = type.getElementType();
  if (!elem.isIntOrFloat() || elem.getIntOrFloatBitWidth() % 8)
    return failure();
  int64_t width = elem.getIntOrFloatBitWidth() / 8;
  int64_t bytes = type.getNumElements() * width;
  if (auto res = dyn_cast_or_null<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = res.getRawHandle().getBlob();
    if (!blob || (int64_t)blob->getData().size() != bytes)
      return failure();
    ArrayRef<char> data = blob->getData();
    return std::vector<char>(data.begin(), data.end());
  }
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(value)) {
    ArrayRef<char> raw = dense.getRawData();
    if (dense.isSplat()) {
      std::vector<char> out(bytes);
      for (int64_t i = 0; i < bytes; i += width)
        std::memcpy(out.data() + i, raw.data(), width);
      return out;
    }
    if ((int64_t)raw.size() != bytes)
      return failure();
    return std::vector<char>(raw.begin(), raw.end());
  }
  return failure();
}

/// The raw bytes of a constant global's value, or failure for layouts this
/// pass keeps embedded (bool tensors, unknown attributes).
static FailureOr<std::vector<char>> globalBytes(memref::GlobalOp global) {
  return constantBytes(global.getInitialValueAttr(), global.getType());
}

LogicalResult externalizeWeights(ModuleOp module, StringRef entryFunction,
                                 int64_t threshold, int64_t alignment,
                                 std::vector<char> &blob,
                                 std::vector<WeightEntry> &entries) {
  func::FuncOp entry;
  if (entryFunction.empty()) {
    FailureOr<func::FuncOp> found = lookupEntryFunction(module);
    if (failed(found))
      return failure();
    entry = *found;
  } else {
    entry = module.lookupSymbol<func::FuncOp>(entryFunction);
  }
  if (!entry || entry.isExternal())
    return module.emitError() << "no entry function '" << entryFunction << "'";

  llvm::StringMap<int64_t> offsets;
  SmallVector<memref::GlobalOp> moved;
  for (auto global : module.getOps<memref::GlobalOp>()) {
    if (!global.getConstant() || global.isExternal())
      continue;
    auto type = global.getType();
    if (!type.hasStaticShape() || !type.getLayout().isIdentity())
      continue;
    auto bytes = globalBytes(global);
    if (failed(bytes) || (int64_t)bytes->size() < threshold)
      continue;
    int64_t offset = (blob.size() + alignment - 1) / alignment * alignment;
    blob.resize(offset, 0);
    blob.insert(blob.end(), bytes->begin(), bytes->end());
    offsets[global.getSymName()] = offset;
    entries.push_back({global.getSymName().str(), offset,
                       (int64_t)bytes->size()});
    moved.push_back(global);
  }
  if (moved.empty())
    return success();
  blob.resize((blob.size() + alignment - 1) / alignment * alignment, 0);

  // The blob argument comes first.
  MLIRContext *ctx = module.getContext();
  auto blobType = MemRefType::get({ShapedType::kDynamic},
                                  IntegerType::get(ctx, 8));
  if (failed(entry.insertArgument(0, blobType, {}, entry.getLoc())))
    return failure();
  entry.setArgAttr(0, QOptDialect::kArgRoleAttrName,
                   ArgRoleAttr::get(ctx, ArgRole::Weights));
  Value weights = entry.getArgument(0);

  SmallVector<memref::GetGlobalOp> uses;
  module.walk([&](memref::GetGlobalOp op) {
    if (offsets.count(op.getName()))
      uses.push_back(op);
  });
  for (memref::GetGlobalOp op : uses) {
    if (op->getParentOfType<func::FuncOp>() != entry)
      return op.emitError() << "weights used outside the entry function";
    OpBuilder b(op);
    Value off = arith::ConstantIndexOp::create(b, op.getLoc(),
                                               offsets[op.getName()]);
    Value view = memref::ViewOp::create(b, op.getLoc(), op.getType(), weights,
                                        off, ValueRange{});
    op.replaceAllUsesWith(view);
    op.erase();
  }
  for (memref::GlobalOp global : moved)
    global.erase();
  return success();
}

namespace {

struct ExternalizeWeightsPass
    : impl::ExternalizeWeightsPassBase<ExternalizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    std::vector<char> blob;
    std::vector<WeightEntry> entries;
    ModuleOp module = getOperation();
    if (failed(externalizeWeights(module, entryFunction, threshold, alignment,
                                  blob, entries)))
      return signalPassFailure();
    if (attachBlob && !blob.empty()) {
      MLIRContext *ctx = &getContext();
      auto type = RankedTensorType::get({(int64_t)blob.size()},
                                        IntegerType::get(ctx, 8));
      module->setAttr(QOptDialect::kWeightsBlobAttrName,
                      DenseResourceElementsAttr::get(
                          type, "qopt_weights",
                          HeapAsmResourceBlob::allocateAndCopyInferAlign(
                              ArrayRef<char>(blob))));
      SmallVector<Attribute> layout;
      for (const WeightEntry &e : entries) {
        NamedAttrList fields;
        fields.set("global", StringAttr::get(ctx, e.name));
        fields.set("offset", IntegerAttr::get(IntegerType::get(ctx, 64), e.offset));
        fields.set("bytes", IntegerAttr::get(IntegerType::get(ctx, 64), e.bytes));
        layout.push_back(fields.getDictionary(ctx));
      }
      module->setAttr(QOptDialect::kWeightsLayoutAttrName,
                      ArrayAttr::get(ctx, layout));
    }
    if (weightsFile.empty())
      return;
    std::error_code ec;
    llvm::raw_fd_ostream os(weightsFile, ec);
    if (ec) {
      getOperation().emitError() << "cannot write '" << weightsFile
                                 << "': " << ec.message();
      return signalPassFailure();
    }
    os.write(blob.data(), blob.size());
  }
};

} // namespace
} // namespace qopt
