//===- ParallelizeKernels.cpp - The entry function on N threads ------------===//
//
// The entry becomes an SPMD function: every thread calls it with its own
// %tid. Kernels whose loop nest has a loop of independent iterations run
// their share of it; every other op that touches memory runs on thread 0,
// with barriers wherever one thread could see another's unfinished work.
//
// Independence is proved, not assumed: for the chosen loop with induction
// variable %i and step s, every buffer the loop body writes is reached only
// through accesses whose index along one dimension d is %i itself, covering
// at most s elements there (or through a subview whose offset along d is %i
// and whose size there is at most s). Buffers the body only reads are
// unconstrained. Any op in the body with memory effects this pass cannot
// read (calls, linalg ops, masked or gathered accesses to written buffers)
// keeps the kernel on thread 0.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseSet.h"

namespace qopt {
#define GEN_PASS_DEF_PARALLELIZEKERNELSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

constexpr const char *kBarrierName = "qopt_barrier";
constexpr llvm::StringLiteral kThreadsAttr = QOptDialect::kThreadsAttrName;

/// The x86 kernels' instructions (vpdpbusd, ...): arithmetic on registers.
bool isX86Intrinsic(Operation *op) {
  auto intr = dyn_cast<LLVM::CallIntrinsicOp>(op);
  return intr && intr.getIntrin().starts_with("llvm.x86.");
}

/// Whether anything writes through `v` or a view of it.
bool writtenThrough(Value v) {
  for (Operation *user : v.getUsers()) {
    if (auto view = dyn_cast<ViewLikeOpInterface>(user))
      if (view.getViewSource() == v && writtenThrough(view->getResult(0)))
        return true;
    auto effects = dyn_cast<MemoryEffectOpInterface>(user);
    if (!effects)
      return true;
    if (effects.getEffectOnValue<MemoryEffects::Write>(v))
      return true;
  }
  return false;
}

/// One access to a memref: the indices it uses and how many elements it
/// covers along each of the memref's dimensions.
struct Access {
  Value memref;
  SmallVector<Value> indices;
  SmallVector<int64_t> extents;
  bool write = false;
};

/// The static trip count of an scf.for, if its bounds are constants.
std::optional<int64_t> tripCount(scf::ForOp loop) {
  auto lb = getConstantIntValue(loop.getLowerBound());
  auto ub = getConstantIntValue(loop.getUpperBound());
  auto step = getConstantIntValue(loop.getStep());
  if (!lb || !ub || !step || *step <= 0)
    return std::nullopt;
  return *ub <= *lb ? 0 : (*ub - *lb + *step - 1) / *step;
}

/// Describes `op` as an access, if it is one this pass reads.
std::optional<Access> describeAccess(Operation *op) {
  Access a;
  auto fromTransfer = [&](VectorTransferOpInterface t) {
    auto type = cast<MemRefType>(t.getShapedType());
    a.memref = t.getBase();
    a.indices.assign(t.getIndices().begin(), t.getIndices().end());
    a.extents.assign(type.getRank(), 1);
    AffineMap map = t.getPermutationMap();
    for (auto [r, expr] : llvm::enumerate(map.getResults()))
      if (auto dim = dyn_cast<AffineDimExpr>(expr))
        a.extents[dim.getPosition()] = t.getVectorType().getDimSize(r);
  };
  auto fromVector = [&](Value memref, ValueRange indices, VectorType vec) {
    auto type = cast<MemRefType>(memref.getType());
    a.memref = memref;
    a.indices.assign(indices.begin(), indices.end());
    a.extents.assign(type.getRank(), 1);
    int64_t lead = type.getRank() - vec.getRank();
    for (int64_t r = 0; r < vec.getRank(); ++r)
      if (lead + r >= 0)
        a.extents[lead + r] = vec.getDimSize(r);
  };
  if (auto r = dyn_cast<vector::TransferReadOp>(op)) {
    if (!isa<MemRefType>(r.getShapedType()))
      return std::nullopt;
    fromTransfer(r);
  } else if (auto w = dyn_cast<vector::TransferWriteOp>(op)) {
    if (!isa<MemRefType>(w.getShapedType()))
      return std::nullopt;
    fromTransfer(w);
    a.write = true;
  } else if (auto l = dyn_cast<vector::LoadOp>(op)) {
    fromVector(l.getBase(), l.getIndices(), l.getVectorType());
  } else if (auto s = dyn_cast<vector::StoreOp>(op)) {
    fromVector(s.getBase(), s.getIndices(), s.getVectorType());
    a.write = true;
  } else if (auto l = dyn_cast<memref::LoadOp>(op)) {
    a.memref = l.getMemref();
    a.indices.assign(l.getIndices().begin(), l.getIndices().end());
    a.extents.assign(a.indices.size(), 1);
  } else if (auto s = dyn_cast<memref::StoreOp>(op)) {
    a.memref = s.getMemref();
    a.indices.assign(s.getIndices().begin(), s.getIndices().end());
    a.extents.assign(a.indices.size(), 1);
    a.write = true;
  } else {
    return std::nullopt;
  }
  return a;
}

/// The memref a kernel-level view chain starts from (a kernel argument, a
/// global, or an allocation).
Value viewRoot(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      break;
    v = view.getViewSource();
  }
  return v;
}

/// Whether the iterations of `loop` touch disjoint memory (see the file
/// comment). Allocas made inside the loop are private to an iteration.
bool iterationsIndependent(scf::ForOp loop) {
  Value iv = loop.getInductionVar();
  auto step = getConstantIntValue(loop.getStep());
  if (!step || *step <= 0)
    return false;
  bool ok = true;
  // Accesses grouped by the SSA memref they go through, and the roots of
  // the buffers written.
  llvm::MapVector<Value, SmallVector<Access>> accesses;
  llvm::DenseSet<Value> writtenRoots;
  // Subviews of outside buffers made in the body, each an access of its
  // source covering its size.
  loop.getBody()->walk([&](Operation *op) {
    if (!ok)
      return WalkResult::interrupt();
    if (auto sub = dyn_cast<memref::SubViewOp>(op)) {
      if (sub.getSource().getParentBlock() &&
          loop->isAncestor(sub.getSource().getParentBlock()->getParentOp()))
        return WalkResult::advance();
      Access a;
      a.memref = sub.getSource();
      for (OpFoldResult o : sub.getMixedOffsets()) {
        if (auto v = dyn_cast<Value>(o))
          a.indices.push_back(v);
        else
          a.indices.push_back(Value());
      }
      for (OpFoldResult s : sub.getMixedSizes()) {
        auto c = getConstantIntValue(s);
        a.extents.push_back(c ? *c : ShapedType::kDynamic);
      }
      a.write = writtenThrough(sub.getResult());
      accesses[a.memref].push_back(a);
      if (a.write)
        writtenRoots.insert(viewRoot(a.memref));
      return WalkResult::advance();
    }
    if (auto access = describeAccess(op)) {
      Value root = viewRoot(access->memref);
      // Through a subview made in the body: covered by the subview's own
      // access above.
      if (root != access->memref) {
        Operation *def = access->memref.getDefiningOp();
        if (isa<memref::SubViewOp>(def) && loop->isAncestor(def))
          return WalkResult::advance();
      }
      if (auto alloca = root.getDefiningOp<memref::AllocaOp>())
        if (loop->isAncestor(alloca))
          return WalkResult::advance();
      accesses[access->memref].push_back(*access);
      if (access->write)
        writtenRoots.insert(root);
      return WalkResult::advance();
    }
    if (isPure(op) || isa<memref::AllocaOp, memref::SubViewOp>(op) ||
        op->hasTrait<OpTrait::IsTerminator>())
      return WalkResult::advance();
    if (isX86Intrinsic(op))
      return WalkResult::advance();
    if (auto effects = dyn_cast<MemoryEffectOpInterface>(op)) {
      SmallVector<MemoryEffects::EffectInstance> list;
      effects.getEffects(list);
      for (auto &e : list) {
        if (isa<MemoryEffects::Read>(e.getEffect()) && e.getValue()) {
          // A read of some buffer: checked below against the writes.
          Access a;
          a.memref = e.getValue();
          accesses[a.memref].push_back(a);
          continue;
        }
        ok = false;
      }
      return ok ? WalkResult::advance() : WalkResult::interrupt();
    }
    if (op->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
      return WalkResult::advance();
    ok = false;
    return WalkResult::interrupt();
  });
  if (!ok || writtenRoots.empty())
    return false;

  // A written buffer is reached through one memref value only, and every
  // access to it pins one dimension to the induction variable.
  llvm::DenseMap<Value, Value> familyValue;
  for (auto &[memref, list] : accesses) {
    Value root = viewRoot(memref);
    // Subviews made in the body of a subview made in the body are covered
    // by the outer one.
    if (Operation *def = memref.getDefiningOp())
      if (loop->isAncestor(def))
        return false;
    if (!writtenRoots.contains(root)) {
      // Read through a view whose root is written elsewhere in the body is
      // a different value of a written family: caught below.
      continue;
    }
    auto [it, inserted] = familyValue.try_emplace(root, memref);
    if (!inserted && it->second != memref)
      return false;
  }
  // Reads through views of written roots that did not register above.
  for (auto &[memref, list] : accesses) {
    Value root = viewRoot(memref);
    if (!writtenRoots.contains(root))
      continue;
    auto rank = cast<MemRefType>(memref.getType()).getRank();
    bool pinned = false;
    for (int64_t d = 0; d < rank && !pinned; ++d) {
      pinned = llvm::all_of(list, [&](const Access &a) {
        return (int64_t)a.indices.size() == rank && a.indices[d] == iv &&
               a.extents[d] != ShapedType::kDynamic && a.extents[d] <= *step;
      });
    }
    if (!pinned)
      return false;
  }
  return true;
}

/// The loop of `kernel`'s nest that its threads share, if any: along the
/// chain of loops whose bodies hold only the next loop and pure ops.
scf::ForOp chooseLoop(func::FuncOp kernel) {
  Block &body = kernel.getBody().front();
  auto single = [](Block &block) -> scf::ForOp {
    scf::ForOp found;
    for (Operation &op : block) {
      if (auto loop = dyn_cast<scf::ForOp>(&op)) {
        if (found)
          return nullptr;
        found = loop;
      } else if (!isPure(&op) && !op.hasTrait<OpTrait::IsTerminator>()) {
        return nullptr;
      }
    }
    return found;
  };
  scf::ForOp best;
  int64_t bestTrip = 1;
  for (scf::ForOp loop = single(body); loop;
       loop = single(*loop.getBody())) {
    if (loop.getNumResults())
      break;
    auto trip = tripCount(loop);
    if (!trip || *trip < 2)
      continue;
    if (!iterationsIndependent(loop))
      continue;
    if (*trip >= 16)
      return loop;
    if (*trip > bestTrip)
      best = loop, bestTrip = *trip;
  }
  return best;
}

/// Restricts `loop` to thread `tid`'s share of its iterations.
void partition(scf::ForOp loop, Value tid, Value nthreads) {
  OpBuilder b(loop);
  Location loc = loop.getLoc();
  Value lb = loop.getLowerBound(), ub = loop.getUpperBound(),
        step = loop.getStep();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value span = arith::SubIOp::create(b, loc, ub, lb);
  span = arith::MaxSIOp::create(b, loc, span, zero);
  Value trips = arith::CeilDivSIOp::create(b, loc, span, step);
  Value chunk = arith::CeilDivSIOp::create(b, loc, trips, nthreads);
  Value first = arith::MulIOp::create(b, loc, tid, chunk);
  first = arith::MinSIOp::create(b, loc, first, trips);
  Value last = arith::AddIOp::create(b, loc, first, chunk);
  last = arith::MinSIOp::create(b, loc, last, trips);
  Value newLb = arith::AddIOp::create(
      b, loc, lb, arith::MulIOp::create(b, loc, first, step));
  Value newUb = arith::AddIOp::create(
      b, loc, lb, arith::MulIOp::create(b, loc, last, step));
  newUb = arith::MinSIOp::create(b, loc, newUb, ub);
  loop.getLowerBoundMutable().assign(newLb);
  loop.getUpperBoundMutable().assign(newUb);
}

/// The root of an entry-level operand, and the bytes of it the operand may
/// reach (the whole root where unknown).
struct Extent {
  Value root;
  int64_t begin = 0, end = INT64_MAX;
};

Extent entryExtent(Value v) {
  Extent e;
  while (Operation *def = v.getDefiningOp()) {
    if (auto view = dyn_cast<memref::ViewOp>(def)) {
      auto offset = getConstantIntValue(view.getByteShift());
      auto type = view.getType();
      if (offset && type.hasStaticShape() &&
          type.getElementType().isIntOrFloat()) {
        int64_t bits = type.getElementType().getIntOrFloatBitWidth();
        e.begin = *offset;
        e.end = *offset + (type.getNumElements() * bits + 7) / 8;
      } else {
        e.begin = 0, e.end = INT64_MAX;
      }
      v = view.getSource();
      continue;
    }
    if (auto viewLike = dyn_cast<ViewLikeOpInterface>(def)) {
      v = viewLike.getViewSource();
      continue;
    }
    break;
  }
  e.root = v;
  return e;
}

/// Whether no written operand of `call` may overlap another operand.
bool operandsDisjoint(func::CallOp call, func::FuncOp kernel) {
  // Which kernel arguments the kernel writes (through any view).
  llvm::DenseSet<unsigned> written;
  kernel.walk([&](Operation *op) {
    auto effects = dyn_cast<MemoryEffectOpInterface>(op);
    if (!effects)
      return;
    SmallVector<MemoryEffects::EffectInstance> list;
    effects.getEffects(list);
    for (auto &e : list)
      if (isa<MemoryEffects::Write>(e.getEffect()) && e.getValue())
        if (auto arg = dyn_cast<BlockArgument>(viewRoot(e.getValue())))
          if (arg.getOwner()->getParentOp() == kernel)
            written.insert(arg.getArgNumber());
  });
  SmallVector<Extent> extents;
  for (Value v : call.getOperands())
    extents.push_back(isa<MemRefType>(v.getType()) ? entryExtent(v)
                                                   : Extent());
  for (unsigned w : written) {
    if (w >= extents.size())
      return false;
    for (unsigned o = 0; o < extents.size(); ++o) {
      if (o == w || !extents[o].root)
        continue;
      if (extents[o].root == extents[w].root &&
          extents[o].begin < extents[w].end &&
          extents[w].begin < extents[o].end)
        return false;
    }
  }
  return true;
}

/// `@qopt_barrier(%sync: memref<2xi64>, %nthreads: index)`: sync[0] counts
/// arrivals, sync[1] is the generation the last arrival advances.
func::FuncOp buildBarrier(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());
  Location loc = module.getLoc();
  auto yieldFn = func::FuncOp::create(
      b, loc, "sched_yield", b.getFunctionType({}, {b.getI32Type()}));
  yieldFn.setPrivate();
  auto syncType = MemRefType::get({2}, b.getI64Type());
  auto fn = func::FuncOp::create(
      b, loc, kBarrierName,
      b.getFunctionType({syncType, b.getIndexType()}, {}));
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value sync = entry->getArgument(0), nthreads = entry->getArgument(1);
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value zero = arith::ConstantIntOp::create(b, loc, 0, 64);
  Value one = arith::ConstantIntOp::create(b, loc, 1, 64);
  Value shared = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                       nthreads, c1);
  auto ifShared = scf::IfOp::create(b, loc, shared, /*withElse=*/false);
  b.setInsertionPointToStart(ifShared.thenBlock());
  auto rmw = [&](arith::AtomicRMWKind kind, Value v, Value index) {
    return memref::AtomicRMWOp::create(b, loc, kind, v, sync, index)
        .getResult();
  };
  Value generation = rmw(arith::AtomicRMWKind::addi, zero, c1);
  Value arrived = arith::AddIOp::create(
      b, loc, rmw(arith::AtomicRMWKind::addi, one, c0), one);
  Value n64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), nthreads);
  Value last =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, arrived, n64);
  auto ifLast = scf::IfOp::create(b, loc, last, /*withElse=*/true);
  b.setInsertionPointToStart(ifLast.thenBlock());
  rmw(arith::AtomicRMWKind::assign, zero, c0);
  rmw(arith::AtomicRMWKind::addi, one, c1);
  b.setInsertionPointToStart(ifLast.elseBlock());
  // Spin with `pause`; every 256 turns give the core away (sched_yield,
  // libc), which matters when there are more threads than free cores.
  Type i64 = b.getI64Type();
  auto spin = scf::WhileOp::create(b, loc, TypeRange{i64}, ValueRange{zero});
  {
    Block *before = b.createBlock(&spin.getBefore(), {}, {i64}, {loc});
    b.setInsertionPointToStart(before);
    Value now = rmw(arith::AtomicRMWKind::addi, zero, c1);
    Value same =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, now,
                              generation);
    scf::ConditionOp::create(b, loc, same, before->getArgument(0));
    Block *after = b.createBlock(&spin.getAfter(), {}, {i64}, {loc});
    b.setInsertionPointToStart(after);
    Value turn = after->getArgument(0);
    // `pause`: the spinning core yields its pipeline to its sibling.
    LLVM::CallIntrinsicOp::create(
        b, loc, TypeRange{}, b.getStringAttr("llvm.x86.sse2.pause"),
        ValueRange{},
        LLVM::FastmathFlagsAttr::get(ctx, LLVM::FastmathFlags::none));
    Value mask = arith::ConstantIntOp::create(b, loc, 255, 64);
    Value low = arith::AndIOp::create(b, loc, turn, mask);
    Value yieldNow =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, low, mask);
    auto ifYield = scf::IfOp::create(b, loc, yieldNow, /*withElse=*/false);
    b.setInsertionPointToStart(ifYield.thenBlock());
    func::CallOp::create(b, loc, yieldFn, ValueRange{});
    b.setInsertionPointAfter(ifYield);
    scf::YieldOp::create(b, loc,
                         ValueRange{arith::AddIOp::create(b, loc, turn, one)});
  }
  b.setInsertionPointToEnd(entry);
  func::ReturnOp::create(b, loc);
  return fn;
}

/// Whether `op` may read or write memory (its regions included).
bool touchesMemory(Operation *op) {
  if (isPure(op) || isX86Intrinsic(op))
    return false;
  if (auto effects = dyn_cast<MemoryEffectOpInterface>(op)) {
    if (!op->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
      return !effects.hasNoEffect();
  }
  if (op->hasTrait<OpTrait::HasRecursiveMemoryEffects>()) {
    bool any = false;
    for (Region &r : op->getRegions())
      r.walk([&](Operation *inner) {
        if (inner != op && !isPure(inner) && !isX86Intrinsic(inner) &&
            !inner->hasTrait<OpTrait::HasRecursiveMemoryEffects>() &&
            !inner->hasTrait<OpTrait::IsTerminator>())
          any = true;
      });
    return any;
  }
  return true;
}

/// Whether `op` at most reads memory; for a region op (a loop that
/// reduces a tensor to scalars, say), every op inside it too.
bool onlyReads(Operation *op) {
  if (isPure(op) || isX86Intrinsic(op) || op->hasTrait<OpTrait::IsTerminator>())
    return true;
  if (op->hasTrait<OpTrait::HasRecursiveMemoryEffects>()) {
    for (Region &r : op->getRegions())
      for (Block &b : r)
        for (Operation &inner : b)
          if (!onlyReads(&inner))
            return false;
    return true;
  }
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (!effects)
    return false;
  SmallVector<MemoryEffects::EffectInstance> list;
  effects.getEffects(list);
  return llvm::all_of(list, [](const MemoryEffects::EffectInstance &e) {
    return isa<MemoryEffects::Read>(e.getEffect());
  });
}

struct ParallelizeKernelsPass
    : impl::ParallelizeKernelsPassBase<ParallelizeKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> entries;
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isExternal())
        entries.push_back(fn);
    if (entries.size() != 1)
      return;
    func::FuncOp entry = entries.front();
    MLIRContext *ctx = module.getContext();
    Builder builder(ctx);
    auto syncType = MemRefType::get({2}, builder.getI64Type());
    Block &block = entry.getBody().front();
    Location loc = entry.getLoc();
    unsigned first = entry.getNumArguments();
    if (failed(entry.insertArguments(
            {first, first, first},
            {builder.getIndexType(), builder.getIndexType(), syncType},
            {DictionaryAttr(), DictionaryAttr(), DictionaryAttr()},
            {loc, loc, loc})))
      return signalPassFailure();
    Value tid = block.getArgument(first), nthreads = block.getArgument(first + 1),
          sync = block.getArgument(first + 2);

    // Shared only if every op can be given to one thread, split, or done
    // by all of them (a read whose result they all need).
    bool shareable = true;
    for (Operation &op : block) {
      if (isa<memref::AllocOp, memref::AllocaOp>(&op) ||
          (op.getNumResults() && touchesMemory(&op) && !onlyReads(&op))) {
        shareable = false;
      }
    }
    if (!shareable) {
      // One thread runs the function as it is: the backend exports no
      // entry for the others.
      module->setAttr(kThreadsAttr, builder.getI64IntegerAttr(0));
      return;
    }

    SymbolTable symbols(module);
    // Kernels called once, from the entry block.
    llvm::DenseMap<func::FuncOp, unsigned> calls;
    module.walk([&](func::CallOp call) {
      if (auto callee = symbols.lookup<func::FuncOp>(call.getCallee()))
        calls[callee] += call->getBlock() == &block ? 1 : 100;
    });

    func::FuncOp barrier = buildBarrier(module);
    int64_t split = 0;
    enum class Touched { None, Reads, Thread0, All } touched = Touched::None;
    OpBuilder b(ctx);
    auto emitBarrier = [&](Operation *before) {
      b.setInsertionPoint(before);
      func::CallOp::create(b, loc, barrier, ValueRange{sync, nthreads});
      touched = Touched::None;
    };
    Value isZero;
    {
      b.setInsertionPointToStart(&block);
      Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
      isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid,
                                     c0);
    }
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (op.hasTrait<OpTrait::IsTerminator>() || !touchesMemory(&op))
        continue;
      // A kernel that splits.
      if (auto call = dyn_cast<func::CallOp>(&op)) {
        auto kernel = symbols.lookup<func::FuncOp>(call.getCallee());
        if (kernel && !kernel.isExternal() && calls[kernel] == 1 &&
            operandsDisjoint(call, kernel)) {
          if (scf::ForOp loop = chooseLoop(kernel)) {
            unsigned n = kernel.getNumArguments();
            Location kloc = kernel.getLoc();
            if (succeeded(kernel.insertArguments(
                    {n, n}, {builder.getIndexType(), builder.getIndexType()},
                    {DictionaryAttr(), DictionaryAttr()}, {kloc, kloc}))) {
              partition(loop, kernel.getArgument(n), kernel.getArgument(n + 1));
              call->insertOperands(call->getNumOperands(),
                                   ValueRange{tid, nthreads});
              if (touched != Touched::None)
                emitBarrier(&op);
              touched = Touched::All;
              ++split;
              continue;
            }
          }
        }
      }
      // A read every thread does (its result may be needed by all).
      if (op.getNumResults()) {
        if (touched != Touched::None && touched != Touched::Reads)
          emitBarrier(&op);
        touched = Touched::Reads;
        continue;
      }
      // Anything else: thread 0 alone.
      if (touched == Touched::All || touched == Touched::Reads)
        emitBarrier(&op);
      b.setInsertionPoint(&op);
      auto guard = scf::IfOp::create(b, op.getLoc(), isZero, false);
      op.moveBefore(guard.thenBlock()->getTerminator());
      touched = Touched::Thread0;
    }
    module->setAttr(kThreadsAttr, builder.getI64IntegerAttr(split));
  }
};

} // namespace
} // namespace qopt
