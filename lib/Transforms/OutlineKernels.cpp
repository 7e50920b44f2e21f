//===- OutlineKernels.cpp - One function per linalg op ---------------------===//

#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace qopt {
#define GEN_PASS_DEF_OUTLINEKERNELSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

/// A C-identifier-safe version of the op's ONNX node name, if it has one.
std::string nodeSuffix(Operation *op) {
  std::string name;
  op->getLoc()->walk([&](Location l) {
    if (auto n = dyn_cast<NameLoc>(l)) {
      name = n.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  std::string out;
  for (char c : name)
    out.push_back(isalnum((unsigned char)c) ? c : '_');
  if (out.size() > 48)
    out.resize(48);
  return out;
}

/// Makes every memref iter_arg of `loop` (and of the loops inside it) that
/// the body yields back unchanged, or yields its initial value for, a plain
/// use of the initial value: uses of the iter_arg and of the result become
/// the init, and the canonicalizer then drops the iter_arg.
void forwardBufferIterArgs(scf::ForOp loop) {
  SmallVector<scf::ForOp> inner;
  loop.getBody()->walk([&](scf::ForOp l) { inner.push_back(l); });
  // walk is post-order: inner loops come first.
  inner.push_back(loop);
  for (scf::ForOp l : inner) {
    auto yield = cast<scf::YieldOp>(l.getBody()->getTerminator());
    for (unsigned i = 0; i < l.getNumRegionIterArgs(); ++i) {
      Value arg = l.getRegionIterArgs()[i];
      Value init = l.getInitArgs()[i];
      if (!isa<MemRefType>(arg.getType()) || arg.getType() != init.getType())
        continue;
      Value yielded = yield.getOperand(i);
      if (yielded != arg && yielded != init)
        continue;
      arg.replaceAllUsesWith(init);
      l.getResult(i).replaceAllUsesWith(init);
    }
  }
}

struct OutlineKernelsPass : impl::OutlineKernelsPassBase<OutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> entries;
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isExternal())
        entries.push_back(fn);
    for (func::FuncOp fn : entries) {
      // Loops built on tensors (the x86 int8 kernels) carry their output
      // buffer through iter_args after bufferization; it is the same
      // buffer all along, so the loops can drop it and be outlined.
      for (Operation &op : fn.getBody().getOps())
        if (auto loop = dyn_cast<scf::ForOp>(&op))
          forwardBufferIterArgs(loop);
      {
        RewritePatternSet patterns(&getContext());
        scf::ForOp::getCanonicalizationPatterns(patterns, &getContext());
        (void)applyPatternsGreedily(fn, std::move(patterns));
      }
      // Linalg ops on buffers and the loop nests of already tiled and
      // vectorized ops.
      SmallVector<Operation *> ops;
      for (Operation &op : fn.getBody().getOps()) {
        if (auto l = dyn_cast<linalg::LinalgOp>(&op)) {
          if (l.hasPureBufferSemantics())
            ops.push_back(&op);
        } else if (isa<scf::ForOp, scf::ForallOp>(&op) && op.use_empty()) {
          ops.push_back(&op);
        }
      }
      unsigned counter = 0;
      for (Operation *op : ops)
        outline(fn, op, counter++, symbols);
    }
  }

  void outline(func::FuncOp parent, Operation *op, unsigned index,
               SymbolTable &symbols) {
    // Operands, then values the body uses from above. Constants are cloned
    // into the kernel so LLVM sees them.
    llvm::SetVector<Value> captured;
    SmallVector<Operation *> constants;
    for (Value v : op->getOperands()) {
      Operation *def = v.getDefiningOp();
      if (def && def->hasTrait<OpTrait::ConstantLike>())
        constants.push_back(def);
      else
        captured.insert(v);
    }
    SetVector<Value> above;
    getUsedValuesDefinedAbove(op->getRegions(), above);
    for (Value v : above) {
      Operation *def = v.getDefiningOp();
      if (def && def->hasTrait<OpTrait::ConstantLike>()) {
        if (!llvm::is_contained(constants, def))
          constants.push_back(def);
      } else {
        captured.insert(v);
      }
    }
    SmallVector<Type> argTypes;
    for (Value v : captured)
      argTypes.push_back(v.getType());
    std::string suffix = nodeSuffix(op);
    std::string name = (parent.getSymName() + "_k" + Twine(index) +
                        (suffix.empty() ? "" : "_" + suffix))
                           .str();
    OpBuilder b(parent);
    b.setInsertionPointAfter(parent);
    auto kernel = func::FuncOp::create(b, op->getLoc(), name,
                                       b.getFunctionType(argTypes, {}));
    kernel.setPrivate();
    kernel->setAttr("no_inline", b.getUnitAttr());
    // func-to-llvm drops `no_inline`; LLVM's inliner would then fold every
    // kernel (each has one call) back into one huge entry function, which is
    // slow to compile and profiles as one symbol. The passthrough attribute
    // becomes LLVM's `noinline`, and internal linkage keeps the kernels out
    // of the object's exported symbols.
    kernel->setAttr("passthrough",
                    b.getArrayAttr({b.getStringAttr("noinline")}));
    kernel->setAttr(
        "llvm.linkage",
        LLVM::LinkageAttr::get(b.getContext(), LLVM::Linkage::Internal));
    symbols.insert(kernel);
    Block *body = kernel.addEntryBlock();
    OpBuilder kb = OpBuilder::atBlockBegin(body);
    IRMapping map;
    for (auto [v, arg] : llvm::zip(captured, body->getArguments()))
      map.map(v, arg);
    for (Operation *c : constants)
      kb.clone(*c, map);
    kb.clone(*op, map);
    func::ReturnOp::create(kb, op->getLoc());
    OpBuilder cb(op);
    func::CallOp::create(cb, op->getLoc(), kernel, captured.getArrayRef());
    op->erase();
  }
};

} // namespace
} // namespace qopt
