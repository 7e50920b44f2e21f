//===- GPUPipeline.cpp - From reference-lowered linalg to GPU kernels
//------===//
//
// The mapping is upstream's parallel-loop route: each linalg op becomes one
// `scf.parallel` over its parallel dimensions (reductions stay `scf.for`
// inside), qopt-gpu-map-to-workgroups tiles it to the strategy's workgroup
// size and marks which tile dimension goes to which workgroup/invocation id,
// `convert-parallel-loops-to-gpu` turns the marked nest into `gpu.launch`,
// and `gpu-kernel-outlining` makes each launch a kernel. One linalg op (or
// one fused elementwise chain) is one kernel.
//
//===----------------------------------------------------------------------===//

#include "qopt/Target/GPU/GPUPipeline.h"
#include "qopt/Conversion/Passes.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/TosaToArith/TosaToArith.h"
#include "mlir/Conversion/TosaToLinalg/TosaToLinalg.h"
#include "mlir/Conversion/TosaToTensor/TosaToTensor.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "qopt/QOptDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/MathExtras.h"

#define DEBUG_TYPE "qopt-gpu"

using namespace mlir;

namespace qopt::gpu {

namespace {

/// The constant trip count of dimension `d` of `loop`, if static.
std::optional<int64_t> tripCount(scf::ParallelOp loop, unsigned d) {
  auto lb = getConstantIntValue(loop.getLowerBound()[d]);
  auto ub = getConstantIntValue(loop.getUpperBound()[d]);
  auto step = getConstantIntValue(loop.getStep()[d]);
  if (!lb || !ub || !step || *step <= 0)
    return std::nullopt;
  return llvm::divideCeil(*ub - *lb, *step);
}

/// Workgroup extents per loop dimension: the innermost dimensions (the
/// contiguous ones of a row-major buffer) take the invocations first, each
/// a power of two no larger than its trip count rounded up.
SmallVector<int64_t> chooseTileSizes(scf::ParallelOp loop,
                                     const GPUStrategy &strategy) {
  unsigned rank = loop.getNumLoops();
  SmallVector<int64_t> tiles(rank, 1);
  int64_t budget = std::max<int64_t>(1, strategy.workgroupSize);
  for (int d = rank - 1; d >= 0 && d >= (int)rank - 3 && budget > 1; --d) {
    std::optional<int64_t> trips = tripCount(loop, d);
    if (!trips)
      continue;
    int64_t tile = std::min<int64_t>(
        {(int64_t)llvm::PowerOf2Ceil(std::max<int64_t>(1, *trips)), budget,
         strategy.maxWorkgroupDim});
    tile = (int64_t)llvm::bit_floor((uint64_t)tile);
    tiles[d] = tile;
    budget /= tile;
  }
  return tiles;
}

/// Innermost dimension to x, then y, then z; the rest run sequentially.
void setMapping(scf::ParallelOp loop, bool workgroups) {
  Builder b(loop.getContext());
  unsigned rank = loop.getNumLoops();
  SmallVector<mlir::gpu::ParallelLoopDimMappingAttr> mapping;
  for (unsigned d = 0; d < rank; ++d) {
    unsigned fromInner = rank - 1 - d;
    mlir::gpu::Processor p = mlir::gpu::Processor::Sequential;
    if (fromInner < 3)
      p = static_cast<mlir::gpu::Processor>(
          (workgroups ? (unsigned)mlir::gpu::Processor::BlockX
                      : (unsigned)mlir::gpu::Processor::ThreadX) +
          fromInner);
    mapping.push_back(b.getAttr<mlir::gpu::ParallelLoopDimMappingAttr>(
        p, b.getDimIdentityMap(), b.getDimIdentityMap()));
  }
  (void)mlir::gpu::setMappingAttr(loop, mapping);
}

void setSequential(scf::ParallelOp loop) {
  Builder b(loop.getContext());
  SmallVector<mlir::gpu::ParallelLoopDimMappingAttr> mapping(
      loop.getNumLoops(), b.getAttr<mlir::gpu::ParallelLoopDimMappingAttr>(
                              mlir::gpu::Processor::Sequential,
                              b.getDimIdentityMap(), b.getDimIdentityMap()));
  (void)mlir::gpu::setMappingAttr(loop, mapping);
}

/// Whether `op` may stay in the host function: what a dispatch list can
/// describe (buffer views, constants, kernels) rather than computation.
bool staysOnHost(Operation *op) {
  return isa<arith::ConstantOp, memref::ViewOp, memref::SubViewOp,
             memref::CollapseShapeOp, memref::ExpandShapeOp, memref::CastOp,
             memref::ReinterpretCastOp, memref::AllocOp, memref::DeallocOp,
             scf::ParallelOp>(op) ||
         op->hasTrait<OpTrait::IsTerminator>();
}

/// Wraps each run of computation left at the top level of `func` (the loops
/// of an op without parallel dimensions, such as a reduction to a scalar)
/// in a one-iteration scf.parallel: a kernel of one invocation. A run whose
/// values are used after it stays (the backend names it).
void wrapSerialRuns(func::FuncOp func) {
  if (func.isExternal())
    return;
  SmallVector<SmallVector<Operation *>> runs(1);
  for (Operation &op : func.getBody().front()) {
    if (staysOnHost(&op)) {
      if (!runs.back().empty())
        runs.emplace_back();
      continue;
    }
    runs.back().push_back(&op);
  }
  for (ArrayRef<Operation *> run : runs) {
    if (run.empty())
      continue;
    llvm::SmallPtrSet<Operation *, 8> inRun(run.begin(), run.end());
    bool escapes = llvm::any_of(run, [&](Operation *op) {
      return llvm::any_of(op->getUsers(), [&](Operation *user) {
        Operation *top = func.getBody().front().findAncestorOpInBlock(*user);
        return !top || !inRun.contains(top);
      });
    });
    if (escapes)
      continue;
    OpBuilder b(run.front());
    Location loc = run.front()->getLoc();
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    auto loop = scf::ParallelOp::create(b, loc, ValueRange{zero},
                                        ValueRange{one}, ValueRange{one});
    Operation *yield = loop.getBody()->getTerminator();
    for (Operation *op : run)
      op->moveBefore(yield);
  }
}

struct MapToWorkgroupsPass
    : PassWrapper<MapToWorkgroupsPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MapToWorkgroupsPass)

  MapToWorkgroupsPass() = default;
  MapToWorkgroupsPass(const MapToWorkgroupsPass &other) : PassWrapper(other) {}
  explicit MapToWorkgroupsPass(const GPUStrategy &strategy) {
    workgroupSize = strategy.workgroupSize;
    maxWorkgroupDim = strategy.maxWorkgroupDim;
  }

  StringRef getArgument() const override {
    return "qopt-gpu-map-to-workgroups";
  }
  StringRef getDescription() const override {
    return "Tile each outermost scf.parallel to one workgroup per tile and "
           "map its dimensions to workgroup and invocation ids";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<mlir::gpu::GPUDialect, scf::SCFDialect, arith::ArithDialect,
                    affine::AffineDialect>();
  }

  void runOnOperation() override {
    GPUStrategy strategy;
    strategy.workgroupSize = workgroupSize;
    strategy.maxWorkgroupDim = maxWorkgroupDim;
    wrapSerialRuns(getOperation());
    SmallVector<scf::ParallelOp> outermost;
    getOperation().walk([&](scf::ParallelOp loop) {
      if (!loop->getParentOfType<scf::ParallelOp>())
        outermost.push_back(loop);
    });
    for (scf::ParallelOp loop : outermost) {
      SmallVector<int64_t> tiles = chooseTileSizes(loop, strategy);
      LLVM_DEBUG(llvm::dbgs() << "qopt-gpu: tiles " << llvm::interleaved(tiles)
                              << " for " << loop.getLoc() << "\n");
      auto [outer, inner] =
          scf::tileParallelLoop(loop, tiles, /*noMinMaxBounds=*/true);
      setMapping(outer, /*workgroups=*/true);
      setMapping(inner, /*workgroups=*/false);
      inner.getBody()->walk(
          [](scf::ParallelOp nested) { setSequential(nested); });
    }
  }

  Option<int64_t> workgroupSize{*this, "workgroup-size",
                                llvm::cl::desc("Invocations per workgroup"),
                                llvm::cl::init(64)};
  Option<int64_t> maxWorkgroupDim{
      *this, "max-workgroup-dim",
      llvm::cl::desc("Largest workgroup extent in one dimension"),
      llvm::cl::init(1024)};
};

/// The weight-decoding generic (qopt.dequantize_weights: packed codes,
/// scales and zero points to float or i8 codes) feeding operand `operand`,
/// if any.
linalg::GenericOp dequantizingProducer(OpOperand &operand) {
  auto producer = operand.get().getDefiningOp<linalg::GenericOp>();
  if (!producer || !producer->hasAttr(QOptDialect::kDequantizeWeightsAttrName))
    return {};
  return producer;
}

struct FuseDequantizationPass
    : PassWrapper<FuseDequantizationPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(FuseDequantizationPass)

  StringRef getArgument() const override {
    return "qopt-gpu-fuse-dequantization";
  }
  StringRef getDescription() const override {
    return "Fuse each weight-decoding generic into the contraction reading "
           "it, so kernels read the packed weights and no decoded weight "
           "tensor exists";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<linalg::LinalgDialect, arith::ArithDialect>();
  }

  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> consumers;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (op->hasAttr(QOptDialect::kDequantizeWeightsAttrName))
        return;
      if (llvm::any_of(op.getDpsInputOperands(), [](OpOperand *o) {
            return bool(dequantizingProducer(*o));
          }))
        consumers.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : consumers) {
      auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
      if (!generic) {
        rewriter.setInsertionPoint(op);
        FailureOr<linalg::GenericOp> g = linalg::generalizeNamedOp(rewriter, op);
        if (failed(g)) {
          op->emitError("cannot generalize the contraction reading packed "
                        "weights for the GPU");
          return signalPassFailure();
        }
        generic = *g;
      }
      bool fused = true;
      while (fused) {
        fused = false;
        for (OpOperand *operand : generic.getDpsInputOperands()) {
          linalg::GenericOp producer = dequantizingProducer(*operand);
          if (!producer || !linalg::areElementwiseOpsFusable(operand))
            continue;
          rewriter.setInsertionPoint(generic);
          FailureOr<linalg::ElementwiseOpFusionResult> result =
              linalg::fuseElementwiseOps(rewriter, operand);
          if (failed(result))
            continue;
          for (auto [orig, replacement] : result->replacements)
            rewriter.replaceUsesWithIf(orig, replacement, [&](OpOperand &use) {
              return use.getOwner() != producer.getOperation();
            });
          rewriter.eraseOp(generic);
          if (producer->use_empty())
            rewriter.eraseOp(producer);
          generic = cast<linalg::GenericOp>(result->fusedOp);
          fused = true;
          break;
        }
      }
    }
  }
};

/// The value of `map`'s results at loop indices `ivs` (a projected
/// permutation: each result one loop dimension).
SmallVector<Value> indicesAt(AffineMap map, ArrayRef<Value> ivs) {
  SmallVector<Value> out;
  for (AffineExpr e : map.getResults())
    out.push_back(ivs[cast<AffineDimExpr>(e).getPosition()]);
  return out;
}

/// An int8 x int8 -> i32 contraction (rows m, columns n, reduction k)
/// accumulated into a zero fill and read by exactly one elementwise
/// generic (the rescale): what FuseIntegerMatMulPass rewrites.
struct IntegerMatMul {
  linalg::MatmulOp matmul;
  linalg::FillOp fill;
  linalg::GenericOp rescale;
  OpOperand *rescaleInput;
};

std::optional<IntegerMatMul> matchIntegerMatMul(linalg::MatmulOp mm) {
  if (!mm.hasPureTensorSemantics() || mm.getCast() != linalg::TypeFn::cast_signed)
    return std::nullopt;
  auto elem = [](Value v) {
    return cast<ShapedType>(v.getType()).getElementType();
  };
  Value a = mm.getDpsInputOperand(0)->get(), b = mm.getDpsInputOperand(1)->get();
  Value c = mm.getDpsInitOperand(0)->get();
  if (!elem(a).isInteger(8) || !elem(b).isInteger(8) || !elem(c).isInteger(32))
    return std::nullopt;
  if (!cast<ShapedType>(a.getType()).hasStaticShape() ||
      !cast<ShapedType>(b.getType()).hasStaticShape())
    return std::nullopt;
  auto fill = c.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return std::nullopt;
  Value result = mm->getResult(0);
  if (!result.hasOneUse())
    return std::nullopt;
  OpOperand &use = *result.getUses().begin();
  auto rescale = dyn_cast<linalg::GenericOp>(use.getOwner());
  if (!rescale || !rescale.hasPureTensorSemantics() ||
      rescale.getNumLoops() != 2 ||
      rescale.getNumParallelLoops() != rescale.getNumLoops() ||
      rescale.getNumDpsInits() != 1 || !rescale.isDpsInput(&use) ||
      !rescale.getMatchingIndexingMap(&use).isIdentity())
    return std::nullopt;
  for (AffineMap m : mm.getIndexingMapsArray())
    if (!m.isProjectedPermutation())
      return std::nullopt;
  return IntegerMatMul{mm, fill, rescale, &use};
}

/// Rewrites fill + int8 matmul + rescale into one all-parallel generic over
/// the output whose body runs the K loop itself, accumulating in a
/// register: 4 codes at a time as `vector.reduction <add>` of the product of
/// sign-extended vector<4xi8> (which SPIR-V with integer dot product turns
/// into OpSDot), the K mod 4 rest one at a time; then the rescale's own body
/// on the i32 sum. The i32 sums are exact, so the result is the reference's
/// bit for bit.
void fuseIntegerMatMul(IRRewriter &rewriter, IntegerMatMul match) {
  linalg::MatmulOp mm = match.matmul;
  linalg::GenericOp rescale = match.rescale;
  Location loc = mm.getLoc();
  Value a = mm.getDpsInputOperand(0)->get(), b = mm.getDpsInputOperand(1)->get();
  SmallVector<AffineMap> mmMaps = mm.getIndexingMapsArray();
  // The reduction dimension and its extent.
  SmallVector<int64_t> ranges = mm.getStaticLoopRanges();
  unsigned kDim = 2;
  for (unsigned d = 0; d < mm.getNumLoops(); ++d)
    if (mm.getIteratorTypesArray()[d] == utils::IteratorType::reduction)
      kDim = d;
  int64_t k = ranges[kDim];
  // Output dims of the matmul in loop order (its output map is (m, n)).
  AffineMap outMap = mmMaps[2];

  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *in : rescale.getDpsInputOperands()) {
    if (in == match.rescaleInput)
      continue;
    inputs.push_back(in->get());
    maps.push_back(rescale.getMatchingIndexingMap(in));
  }
  OpOperand *init = rescale.getDpsInitOperand(0);
  maps.push_back(rescale.getMatchingIndexingMap(init));
  Value fillValue = match.fill.getDpsInputOperand(0)->get();

  rewriter.setInsertionPoint(rescale);
  auto fused = linalg::GenericOp::create(
      rewriter, loc, rescale->getResultTypes(), inputs, ValueRange{init->get()},
      maps, rescale.getIteratorTypesArray(),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Type i32 = nb.getI32Type(), i8 = nb.getI8Type();
        // Loop indices of the matmul: its output dims from the generic's.
        SmallVector<Value> ivs(mm.getNumLoops());
        for (auto [i, e] : llvm::enumerate(outMap.getResults()))
          ivs[cast<AffineDimExpr>(e).getPosition()] =
              linalg::IndexOp::create(nb, l, i);
        auto load = [&](OpBuilder &ib, Location il, Value t, AffineMap m,
                        Value kv) {
          SmallVector<Value> at = ivs;
          at[kDim] = kv;
          return tensor::ExtractOp::create(ib, il, t, indicesAt(m, at))
              .getResult();
        };
        Value acc = fillValue;
        int64_t k4 = k / 4 * 4;
        Value c0 = arith::ConstantIndexOp::create(nb, l, 0);
        Value c1 = arith::ConstantIndexOp::create(nb, l, 1);
        Value c4 = arith::ConstantIndexOp::create(nb, l, 4);
        if (k4 > 0) {
          Value end = arith::ConstantIndexOp::create(nb, l, k4);
          auto loop = scf::ForOp::create(
              nb, l, c0, end, c4, ValueRange{acc},
              [&](OpBuilder &ib, Location il, Value kv, ValueRange iter) {
                SmallVector<Value> av, bv;
                for (int64_t j = 0; j < 4; ++j) {
                  Value kj = arith::AddIOp::create(
                      ib, il, kv, arith::ConstantIndexOp::create(ib, il, j));
                  av.push_back(load(ib, il, a, mmMaps[0], kj));
                  bv.push_back(load(ib, il, b, mmMaps[1], kj));
                }
                auto v4i8 = VectorType::get({4}, i8);
                auto v4i32 = VectorType::get({4}, i32);
                Value va = vector::FromElementsOp::create(ib, il, v4i8, av);
                Value vb = vector::FromElementsOp::create(ib, il, v4i8, bv);
                Value p = arith::MulIOp::create(
                    ib, il, arith::ExtSIOp::create(ib, il, v4i32, va),
                    arith::ExtSIOp::create(ib, il, v4i32, vb));
                Value dot = vector::ReductionOp::create(
                    ib, il, vector::CombiningKind::ADD, p);
                scf::YieldOp::create(
                    ib, il,
                    arith::AddIOp::create(ib, il, iter[0], dot).getResult());
              });
          acc = loop.getResult(0);
        }
        if (k4 < k) {
          Value begin = arith::ConstantIndexOp::create(nb, l, k4);
          Value end = arith::ConstantIndexOp::create(nb, l, k);
          auto loop = scf::ForOp::create(
              nb, l, begin, end, c1, ValueRange{acc},
              [&](OpBuilder &ib, Location il, Value kv, ValueRange iter) {
                Value x = arith::ExtSIOp::create(
                    ib, il, i32, load(ib, il, a, mmMaps[0], kv));
                Value y = arith::ExtSIOp::create(
                    ib, il, i32, load(ib, il, b, mmMaps[1], kv));
                Value p = arith::MulIOp::create(ib, il, x, y);
                scf::YieldOp::create(
                    ib, il,
                    arith::AddIOp::create(ib, il, iter[0], p).getResult());
              });
          acc = loop.getResult(0);
        }
        // The rescale's body on the sum.
        IRMapping mapping;
        Block &body = *rescale.getBlock();
        unsigned next = 0;
        for (OpOperand *in : rescale.getDpsInputOperands()) {
          BlockArgument arg = body.getArgument(in->getOperandNumber());
          mapping.map(arg, in == match.rescaleInput ? acc : args[next++]);
        }
        mapping.map(body.getArgument(init->getOperandNumber()), args.back());
        for (Operation &op : body.without_terminator())
          nb.clone(op, mapping);
        auto yield = cast<linalg::YieldOp>(body.getTerminator());
        SmallVector<Value> results;
        for (Value v : yield.getValues())
          results.push_back(mapping.lookupOrDefault(v));
        linalg::YieldOp::create(nb, l, results);
      });
  rewriter.replaceOp(rescale, fused->getResults());
  rewriter.eraseOp(mm);
  if (match.fill->use_empty())
    rewriter.eraseOp(match.fill);
}

struct FuseIntegerMatMulPass
    : PassWrapper<FuseIntegerMatMulPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(FuseIntegerMatMulPass)

  StringRef getArgument() const override {
    return "qopt-gpu-fuse-integer-matmul";
  }
  StringRef getDescription() const override {
    return "Fuse an int8 x int8 -> i32 matmul, its zero fill and its "
           "rescale into one output-parallel generic that accumulates K in "
           "a register, four codes at a time";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<linalg::LinalgDialect, arith::ArithDialect,
                    scf::SCFDialect, tensor::TensorDialect,
                    vector::VectorDialect>();
  }

  void runOnOperation() override {
    SmallVector<IntegerMatMul> matches;
    getOperation().walk([&](linalg::MatmulOp mm) {
      if (std::optional<IntegerMatMul> m = matchIntegerMatMul(mm))
        matches.push_back(*m);
    });
    IRRewriter rewriter(&getContext());
    for (IntegerMatMul &m : matches)
      fuseIntegerMatMul(rewriter, m);
  }
};

/// Rewrites a linalg op with reduction loops into an all-parallel generic
/// over its parallel loops whose body runs the reduction loops itself
/// (scf.for, in the op's loop order, which is the order the parallel-loop
/// lowering would run them in) with the accumulator in a register: the
/// output element is read once and written once instead of on every step.
/// The operands are read with tensor.extract at their maps' indices.
/// Returns false (and changes nothing) for ops it does not handle.
bool accumulateInRegisters(IRRewriter &rewriter, linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() == 0 || op.getNumParallelLoops() == 0 ||
      op->getNumResults() != 1)
    return false;
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return false;
  OpOperand *init = op.getDpsInitOperand(0);
  AffineMap outMap = op.getMatchingIndexingMap(init);
  // The output is indexed by parallel loops only, each once.
  SmallVector<unsigned> parallelDims, reductionDims;
  for (unsigned d = 0; d < iters.size(); ++d)
    (iters[d] == utils::IteratorType::parallel ? parallelDims : reductionDims)
        .push_back(d);
  if (!outMap.isProjectedPermutation() ||
      outMap.getNumResults() != parallelDims.size())
    return false;
  for (AffineExpr e : outMap.getResults())
    if (iters[cast<AffineDimExpr>(e).getPosition()] !=
        utils::IteratorType::parallel)
      return false;
  if (!op->getRegion(0).hasOneBlock())
    return false;
  // Block arguments other than the inputs and the accumulator, or ops
  // that cannot move into loops, are left alone.
  Block &body = op->getRegion(0).front();
  bool simple = llvm::all_of(body.without_terminator(), [](Operation &o) {
    return o.getNumRegions() == 0 && isPure(&o) || isa<linalg::IndexOp>(o) ||
           isa<tensor::ExtractOp>(o);
  });
  if (!simple)
    return false;
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  // The new generic's loops: the parallel ones, renumbered.
  DenseMap<unsigned, unsigned> newDim;
  for (auto [i, d] : llvm::enumerate(parallelDims))
    newDim[d] = i;
  SmallVector<AffineExpr> outExprs;
  for (AffineExpr e : outMap.getResults())
    outExprs.push_back(
        getAffineDimExpr(newDim[cast<AffineDimExpr>(e).getPosition()], ctx));
  AffineMap newOutMap = AffineMap::get(parallelDims.size(), 0, outExprs, ctx);
  // A zero fill as the accumulator's start: its value, and the fill's own
  // destination as the output (one kernel less).
  Value initTensor = init->get();
  Value start;
  if (auto fill = initTensor.getDefiningOp<linalg::FillOp>()) {
    start = fill.getDpsInputOperand(0)->get();
    initTensor = fill.getDpsInitOperand(0)->get();
  }
  SmallVector<Value> inputs;
  for (OpOperand *in : op.getDpsInputOperands())
    inputs.push_back(in->get());
  SmallVector<AffineMap> inMaps;
  for (OpOperand *in : op.getDpsInputOperands())
    inMaps.push_back(op.getMatchingIndexingMap(in));

  rewriter.setInsertionPoint(op);
  SmallVector<utils::IteratorType> newIters(parallelDims.size(),
                                            utils::IteratorType::parallel);
  auto fused = linalg::GenericOp::create(
      rewriter, loc, op->getResultTypes(), ValueRange{},
      ValueRange{initTensor}, ArrayRef<AffineMap>{newOutMap}, newIters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        SmallVector<Value> ivs(iters.size());
        for (auto [i, d] : llvm::enumerate(parallelDims))
          ivs[d] = linalg::IndexOp::create(nb, l, i);
        Value acc0 = start ? start : args[0];
        // Nested reduction loops, outermost first.
        std::function<Value(OpBuilder &, unsigned, Value)> emit =
            [&](OpBuilder &b, unsigned level, Value acc) -> Value {
          if (level == reductionDims.size()) {
            IRMapping mapping;
            for (auto [i, in] : llvm::enumerate(inputs)) {
              SmallVector<Value> at;
              for (AffineExpr e : inMaps[i].getResults()) {
                if (auto de = dyn_cast<AffineDimExpr>(e)) {
                  at.push_back(ivs[de.getPosition()]);
                  continue;
                }
                at.push_back(affine::AffineApplyOp::create(
                    b, l, AffineMap::get(iters.size(), 0, e, ctx), ivs));
              }
              Value v = tensor::ExtractOp::create(b, l, in, at);
              mapping.map(body.getArgument(i), v);
            }
            mapping.map(body.getArgument(inputs.size()), acc);
            for (Operation &o : body.without_terminator()) {
              if (auto index = dyn_cast<linalg::IndexOp>(o)) {
                mapping.map(index.getResult(), ivs[index.getDim()]);
                continue;
              }
              b.clone(o, mapping);
            }
            return mapping.lookupOrDefault(
                cast<linalg::YieldOp>(body.getTerminator()).getValues()[0]);
          }
          unsigned d = reductionDims[level];
          Value lb = arith::ConstantIndexOp::create(b, l, 0);
          Value ub = arith::ConstantIndexOp::create(b, l, ranges[d]);
          Value one = arith::ConstantIndexOp::create(b, l, 1);
          auto loop = scf::ForOp::create(
              b, l, lb, ub, one, ValueRange{acc},
              [&](OpBuilder &ib, Location il, Value iv, ValueRange iter) {
                ivs[d] = iv;
                Value next = emit(ib, level + 1, iter[0]);
                scf::YieldOp::create(ib, il, next);
              });
          return loop.getResult(0);
        };
        Value result = emit(nb, 0, acc0);
        linalg::YieldOp::create(nb, l, result);
      });
  rewriter.replaceOp(op, fused->getResults());
  return true;
}

struct AccumulateInRegistersPass
    : PassWrapper<AccumulateInRegistersPass, OperationPass<func::FuncOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(AccumulateInRegistersPass)

  StringRef getArgument() const override {
    return "qopt-gpu-accumulate-in-registers";
  }
  StringRef getDescription() const override {
    return "Run each linalg reduction inside an output-parallel generic "
           "with the accumulator in a register";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<linalg::LinalgDialect, arith::ArithDialect,
                    scf::SCFDialect, tensor::TensorDialect,
                    affine::AffineDialect>();
  }
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (op.getNumReductionLoops() > 0)
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : ops) {
      linalg::LinalgOp target = op;
      if (!isa<linalg::GenericOp>(op.getOperation())) {
        rewriter.setInsertionPoint(op);
        FailureOr<linalg::GenericOp> g = linalg::generalizeNamedOp(rewriter, op);
        if (failed(g))
          continue;
        target = *g;
      }
      (void)accumulateInRegisters(rewriter, target);
    }
  }
};

} // namespace

std::unique_ptr<Pass> createAccumulateInRegistersPass() {
  return std::make_unique<AccumulateInRegistersPass>();
}

std::unique_ptr<Pass> createFuseIntegerMatMulPass() {
  return std::make_unique<FuseIntegerMatMulPass>();
}

std::unique_ptr<Pass> createFuseDequantizationPass() {
  return std::make_unique<FuseDequantizationPass>();
}

std::unique_ptr<Pass> createMapToWorkgroupsPass(const GPUStrategy &strategy) {
  return std::make_unique<MapToWorkgroupsPass>(strategy);
}

void buildGPUTensorPipeline(OpPassManager &pm) {
  pm.addPass(createLowerToLinalgPass());
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  fpm.addPass(tosa::createTosaToLinalgNamed());
  fpm.addPass(tosa::createTosaToLinalg());
  fpm.addPass(createTosaToArithPass());
  fpm.addPass(createTosaToTensorPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createFuseElementwisePass());
  // Packed weights stay packed: each contraction decodes its weights as it
  // reads them.
  pm.nest<func::FuncOp>().addPass(createFuseDequantizationPass());
  // int8 x int8 -> i32 products keep their sums in registers and end in
  // their rescale: one kernel, no i32 buffer.
  pm.nest<func::FuncOp>().addPass(createFuseIntegerMatMulPass());
  // Every other reduction keeps its accumulator in a register too.
  pm.nest<func::FuncOp>().addPass(createAccumulateInRegistersPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void buildGPUBufferPipeline(OpPassManager &pm, const GPUStrategy &strategy) {
  pm.addPass(createAssignArgRolesPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.allowReturnAllocsFromLoops = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  pm.addPass(createCanonicalizerPass());
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  pm.addPass(createConvertBufferizationToMemRefPass());
  // Copies between buffers become kernels like any other linalg op.
  pm.addPass(createLowerMemRefCopyPass());
  PlanMemoryPassOptions plan;
  plan.alignment = strategy.bufferAlignment;
  pm.addPass(createPlanMemoryPass(plan));
}

void buildGPUMappingPipeline(OpPassManager &pm, const GPUStrategy &strategy) {
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  fpm.addPass(createConvertLinalgToParallelLoopsPass());
  // The x86 target's polynomials for exp, tanh, erf, log, ...: the same
  // numerics on every target (a quantized model rounds what they produce),
  // and math.erf, which SPIR-V lacks.
  fpm.addPass(createMathApproximationPass());
  fpm.addPass(createMapToWorkgroupsPass(strategy));
  fpm.addPass(createConvertParallelLoopToGpuPass());
  pm.addPass(createCanonicalizerPass());
  // Constants and index arithmetic move into the launch bodies, so the
  // kernels take only buffers.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

static void registerGPUPipelinesOnce() {
  PassRegistration<MapToWorkgroupsPass>();
  PassRegistration<FuseDequantizationPass>();
  PassRegistration<FuseIntegerMatMulPass>();
  PassRegistration<AccumulateInRegistersPass>();
  PassPipelineRegistration<>(
      "qopt-gpu-tensor-pipeline",
      "GPU stage 1: the reference lowering to linalg and elementwise fusion",
      buildGPUTensorPipeline);
  PassPipelineRegistration<>(
      "qopt-gpu-buffer-pipeline",
      "GPU stage 2: bufferization, out-parameters and the workspace plan",
      [](OpPassManager &pm) { buildGPUBufferPipeline(pm, GPUStrategy()); });
  PassPipelineRegistration<>(
      "qopt-gpu-mapping-pipeline",
      "GPU stage 3: linalg to workgroups and outlined gpu kernels",
      [](OpPassManager &pm) { buildGPUMappingPipeline(pm, GPUStrategy()); });
}

void registerGPUPipelines() {
  // Every GPU backend calls this; MLIR's registry takes each name once.
  static const bool registered = [] {
    registerGPUPipelinesOnce();
    return true;
  }();
  (void)registered;
}

void addGPUPrecisions(TargetCapabilities &caps) {
  caps.nativePrecisions = {"f32"};
  caps.emulatedPrecisions = {"f16",   "w8a16", "w4a16", "w3a16",
                             "w2a16", "nf4",   "fp8"};
  for (const char *p : {"w8a8", "w8a8-static", "w4a8"})
    (caps.int8DotProduct ? caps.nativePrecisions : caps.emulatedPrecisions)
        .push_back(p);
}

quant::MachinePeaks publishedPeaks(const PartFigures &figures,
                                   llvm::StringRef without,
                                   bool int8DotProduct) {
  return quant::publishedPeaks(
      ("published figures of the " + llvm::Twine(figures.part) + ", without " +
       without)
          .str(),
      figures.fp32TFlops, figures.fp16TFlops, figures.int8TOps,
      figures.bandwidthGBs, int8DotProduct, /*fp16Native=*/true);
}

} // namespace qopt::gpu
