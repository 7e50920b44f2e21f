//===- PlanMemory.cpp - Static workspace for intermediate buffers ----------===//
//
// Lifetimes are intervals in the entry block's program order; offsets are
// assigned greedily, largest buffer first, at the lowest aligned offset that
// does not overlap a buffer whose interval intersects.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Passes.h"
#include "qopt/QOptDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace qopt {
#define GEN_PASS_DEF_PLANMEMORYPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

struct Buffer {
  memref::AllocOp alloc;
  SmallVector<memref::DeallocOp> deallocs;
  int64_t begin = 0, end = 0, bytes = 0, offset = 0;
};

/// Byte size of a static, identity-layout memref of byte-sized elements.
std::optional<int64_t> staticBytes(MemRefType type) {
  if (!type.hasStaticShape() || !type.getLayout().isIdentity() ||
      type.getMemorySpace())
    return std::nullopt;
  Type elem = type.getElementType();
  if (!elem.isIntOrFloat() || elem.getIntOrFloatBitWidth() % 8)
    return std::nullopt;
  return type.getNumElements() * (elem.getIntOrFloatBitWidth() / 8);
}

struct PlanMemoryPass : impl::PlanMemoryPassBase<PlanMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto fn : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (fn.isPublic() && !fn.isExternal())
        plan(fn);
  }

  void plan(func::FuncOp fn) {
    Block &block = fn.getBody().front();
    llvm::DenseMap<Operation *, int64_t> position;
    int64_t index = 0;
    for (Operation &op : block)
      position[&op] = index++;
    int64_t blockEnd = index;

    std::vector<Buffer> buffers;
    for (Operation &op : block) {
      auto alloc = dyn_cast<memref::AllocOp>(&op);
      if (!alloc)
        continue;
      auto bytes = staticBytes(alloc.getType());
      if (!bytes)
        continue;
      Buffer buf;
      buf.alloc = alloc;
      buf.bytes = std::max<int64_t>(*bytes, 1);
      buf.begin = position[&op];
      buf.end = blockEnd;
      bool planable = true;
      for (Operation *user : alloc->getUsers()) {
        if (auto dealloc = dyn_cast<memref::DeallocOp>(user)) {
          // Only an unconditional dealloc in the entry block bounds the
          // lifetime; one inside a region keeps the buffer on the heap.
          if (dealloc->getBlock() != &block) {
            planable = false;
            break;
          }
          buf.deallocs.push_back(dealloc);
          buf.end = std::min(buf.end, position[dealloc]);
        }
        // Aliases (views, casts, reshapes) are used before the root's
        // dealloc, which the deallocation pipeline places after the last
        // use of any alias.
      }
      if (planable)
        buffers.push_back(buf);
    }
    if (buffers.empty())
      return;

    // Largest first; each at the lowest offset clear of overlapping buffers.
    std::vector<Buffer *> order;
    for (Buffer &b : buffers)
      order.push_back(&b);
    llvm::stable_sort(order, [](Buffer *a, Buffer *b) { return a->bytes > b->bytes; });
    std::vector<Buffer *> placed;
    int64_t total = 0;
    for (Buffer *b : order) {
      std::vector<std::pair<int64_t, int64_t>> busy;
      for (Buffer *p : placed)
        if (p->begin <= b->end && b->begin <= p->end)
          busy.push_back({p->offset, p->offset + p->bytes});
      llvm::sort(busy);
      int64_t offset = 0;
      for (auto [lo, hi] : busy) {
        if (offset + b->bytes <= lo)
          break;
        offset = std::max(offset, (hi + alignment - 1) / alignment * alignment);
      }
      b->offset = offset;
      total = std::max(total, offset + b->bytes);
      placed.push_back(b);
    }
    total = (total + alignment - 1) / alignment * alignment;
    // The importer caps every tensor at kMaxBufferBytes; the buffers alive
    // at once can still add up to more.
    if (total > kMaxBufferBytes) {
      emitError(fn.getLoc()) << "the model needs " << total
                     << " bytes of workspace for the tensors it keeps alive "
                        "at once, more than any machine can hold (2^47 "
                        "bytes): give smaller input shapes";
      return signalPassFailure();
    }

    MLIRContext *ctx = fn.getContext();
    auto wsType = MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 8));
    // After the weights argument when there is one.
    unsigned argIndex = 0;
    auto role = fn.getNumArguments()
                    ? fn.getArgAttrOfType<ArgRoleAttr>(0, QOptDialect::kArgRoleAttrName)
                    : ArgRoleAttr();
    if (role && role.getValue() == ArgRole::Weights)
      argIndex = 1;
    if (failed(fn.insertArgument(argIndex, wsType, {}, fn.getLoc()))) {
      fn.emitError() << "cannot add the workspace argument";
      return signalPassFailure();
    }
    fn.setArgAttr(argIndex, QOptDialect::kArgRoleAttrName,
                  ArgRoleAttr::get(ctx, ArgRole::Workspace));
    Value ws = fn.getArgument(argIndex);
    for (Buffer &b : buffers) {
      OpBuilder builder(b.alloc);
      Value off = arith::ConstantIndexOp::create(builder, b.alloc.getLoc(), b.offset);
      Value view = memref::ViewOp::create(builder, b.alloc.getLoc(),
                                          b.alloc.getType(), ws, off, ValueRange{});
      for (memref::DeallocOp d : b.deallocs)
        d.erase();
      b.alloc.replaceAllUsesWith(view);
      b.alloc.erase();
    }
    fn->getParentOfType<ModuleOp>()->setAttr(
        QOptDialect::kWorkspaceBytesAttrName, IntegerAttr::get(IntegerType::get(ctx, 64), total));
  }
};

} // namespace
} // namespace qopt
