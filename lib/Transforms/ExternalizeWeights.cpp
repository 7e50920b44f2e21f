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
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

namespace qopt {
#define GEN_PASS_DEF_EXTERNALIZEWEIGHTSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {

/// The bytes of a dense or dense_resource constant of `type` without a copy
/// where they are stored whole; a splat is expanded into `scratch`.
static FailureOr<ArrayRef<char>> constantData(Attribute value, ShapedType type,
                                              std::vector<char> &scratch) {
  Type elem = type.getElementType();
  if (!elem.isIntOrFloat() || elem.getIntOrFloatBitWidth() % 8)
    return failure();
  int64_t width = elem.getIntOrFloatBitWidth() / 8;
  int64_t bytes = type.getNumElements() * width;
  if (auto res = dyn_cast_or_null<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = res.getRawHandle().getBlob();
    if (!blob || (int64_t)blob->getData().size() != bytes)
      return failure();
    return blob->getData();
  }
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(value)) {
    ArrayRef<char> raw = dense.getRawData();
    if (dense.isSplat()) {
      scratch.resize(bytes);
      for (int64_t i = 0; i < bytes; i += width)
        std::memcpy(scratch.data() + i, raw.data(), width);
      return ArrayRef<char>(scratch);
    }
    if ((int64_t)raw.size() != bytes)
      return failure();
    return raw;
  }
  return failure();
}

FailureOr<std::vector<char>> constantBytes(Attribute value, ShapedType type) {
  std::vector<char> scratch;
  FailureOr<ArrayRef<char>> data = constantData(value, type, scratch);
  if (failed(data))
    return failure();
  if (data->data() == scratch.data())
    return scratch;
  return std::vector<char>(data->begin(), data->end());
}

int64_t releaseUnreferencedBlobs(ModuleOp module) {
  llvm::SmallPtrSet<const void *, 32> used;
  auto noteAll = [&](Attribute attr) {
    attr.walk([&](DenseResourceElementsAttr r) {
      used.insert(r.getRawHandle().getResource());
    });
  };
  module->walk([&](Operation *op) { noteAll(op->getAttrDictionary()); });
  DialectResourceBlobManager &manager =
      DenseResourceElementsHandle::getManagerInterface(module.getContext())
          .getBlobManager();
  std::vector<std::string> dead;
  manager.getBlobMap(
      [&](const llvm::StringMap<DialectResourceBlobManager::BlobEntry> &map) {
        for (const auto &entry : map) {
          const AsmResourceBlob *blob = entry.getValue().getBlob();
          if (blob && !blob->getData().empty() &&
              !used.count(&entry.getValue()))
            dead.push_back(entry.getKey().str());
        }
      });
  int64_t freed = 0;
  for (const std::string &name : dead) {
    DialectResourceBlobManager::BlobEntry *entry = manager.lookup(name);
    freed += entry->getBlob()->getData().size();
    entry->setBlob(AsmResourceBlob());
  }
  return freed;
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

  // Offsets first, then one allocation of the whole blob: the weights are
  // copied once, straight from their constants (a growing vector would
  // hold them twice while it reallocates).
  llvm::StringMap<int64_t> offsets;
  SmallVector<memref::GlobalOp> moved;
  std::vector<char> scratch;
  int64_t end = (int64_t)blob.size();
  auto aligned = [&](int64_t v) {
    return (v + alignment - 1) / alignment * alignment;
  };
  for (auto global : module.getOps<memref::GlobalOp>()) {
    if (!global.getConstant() || global.isExternal())
      continue;
    auto type = global.getType();
    if (!type.hasStaticShape() || !type.getLayout().isIdentity())
      continue;
    FailureOr<ArrayRef<char>> data =
        constantData(global.getInitialValueAttr(), type, scratch);
    if (failed(data) || (int64_t)data->size() < threshold)
      continue;
    int64_t offset = aligned(end);
    end = offset + (int64_t)data->size();
    offsets[global.getSymName()] = offset;
    entries.push_back(
        {global.getSymName().str(), offset, (int64_t)data->size()});
    moved.push_back(global);
  }
  if (moved.empty())
    return success();
  size_t first = entries.size() - moved.size();
  blob.resize(aligned(end), 0);
  for (auto [k, global] : llvm::enumerate(moved)) {
    FailureOr<ArrayRef<char>> data =
        constantData(global.getInitialValueAttr(), global.getType(), scratch);
    std::memcpy(blob.data() + entries[first + k].offset, data->data(),
                data->size());
  }

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
