//===- OpsReduction.cpp - ONNX reductions and arg-reductions ---------------===//
//
// Every ReduceX becomes one linalg.generic with reduction iterators (and an
// elementwise pre/post step where the op needs one), so multi-axis and
// keepdims variants share a single path. ArgMax/ArgMin carry (value, index)
// pairs through a two-result generic.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

/// Axes of a ReduceX node: attribute before opset 13 (18 for all but
/// ReduceSum), input 1 after. Empty means all axes unless
/// noop_with_empty_axes.
FailureOr<SmallVector<int64_t>> reductionAxes(NodeContext &ctx, bool &noop) {
  noop = false;
  int64_t rank = ctx.rank(0);
  auto axesOr = ctx.intsFromAttrOrInput("axes", 1);
  if (failed(axesOr))
    return failure();
  SmallVector<int64_t> axes;
  if (*axesOr && !(*axesOr)->empty()) {
    for (int64_t a : **axesOr) {
      auto n = ctx.normalizeAxis(a, rank);
      if (failed(n))
        return failure();
      if (!llvm::is_contained(axes, *n))
        axes.push_back(*n);
    }
    llvm::sort(axes);
  } else if (ctx.attrInt("noop_with_empty_axes", 0)) {
    noop = true;
  } else {
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  return axes;
}

LogicalResult convertReduce(NodeContext &ctx) {
  StringRef op = ctx.opType();
  bool noop;
  auto axes = reductionAxes(ctx, noop);
  if (failed(axes))
    return failure();
  DType t = ctx.dtype(0);
  bool isUnsigned = isUnsignedDType(t);
  bool keep = ctx.attrInt("keepdims", 1);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  Value x = ctx.value(0);
  bool isFloat = isFloatDType(t);
  if (noop) {
    ScalarBodyFn pre;
    if (op == "ReduceL1" || op == "ReduceL2" || op == "ReduceSumSquare" ||
        op == "ReduceLogSumExp" || op == "ReduceLogSum") {
      // Applies the element map alone (identity reduction).
    } else {
      ctx.setOutput(0, x, t);
      return success();
    }
  }
  int64_t count = 1;
  for (int64_t a : *axes)
    count *= ctx.shape(0)[a];

  auto mul = [&](OpBuilder &nb, Location l, Value p, Value q) -> Value {
    return isFloat ? (Value)arith::MulFOp::create(nb, l, p, q)
                   : (Value)arith::MulIOp::create(nb, l, p, q);
  };
  ScalarBodyFn square = [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    return mul(nb, l, a[0], a[0]);
  };
  ScalarBodyFn absv = [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    if (isFloat)
      return math::AbsFOp::create(nb, l, a[0]);
    return isUnsigned ? a[0] : (Value)math::AbsIOp::create(nb, l, a[0]);
  };
  Value r;
  if (op == "ReduceLogSum" && !isFloat)
    return ctx.fail("expects a floating-point input");
  if (op == "ReduceSum" || op == "ReduceMean" || op == "ReduceLogSum") {
    r = emitReduce(b, loc, x, *axes, keep, ReduceKind::Sum, isUnsigned);
  } else if (op == "ReduceProd") {
    r = emitReduce(b, loc, x, *axes, keep, ReduceKind::Prod, isUnsigned);
  } else if (op == "ReduceMax") {
    r = emitReduce(b, loc, x, *axes, keep, ReduceKind::Max, isUnsigned);
  } else if (op == "ReduceMin") {
    r = emitReduce(b, loc, x, *axes, keep, ReduceKind::Min, isUnsigned);
  } else if (op == "ReduceSumSquare" || op == "ReduceL2") {
    r = emitReduce(b, loc, x, *axes, keep, ReduceKind::Sum, isUnsigned, square);
  } else if (op == "ReduceL1") {
    r = emitReduce(b, loc, x, *axes, keep, ReduceKind::Sum, isUnsigned, absv);
  } else if (op == "ReduceLogSumExp") {
    if (!isFloat)
      return ctx.fail("expects a floating-point input");
    // max-shifted for stability: m + log(sum(exp(x - m))).
    Value m = emitReduce(b, loc, x, *axes, /*keepDims=*/true, ReduceKind::Max,
                         false);
    auto shape = ctx.shape(0);
    Value shifted = emitElementwise(
        b, loc, ValueRange{x, m}, shape, cast<RankedTensorType>(x.getType()).getElementType(),
        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
          return math::ExpOp::create(nb, l,
                                     arith::SubFOp::create(nb, l, a[0], a[1]));
        });
    Value s = emitReduce(b, loc, shifted, *axes, true, ReduceKind::Sum, false);
    Value lse = emitElementwise(
        b, loc, ValueRange{s, m}, cast<RankedTensorType>(s.getType()).getShape(),
        cast<RankedTensorType>(s.getType()).getElementType(),
        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value lg = math::LogOp::create(nb, l, a[0]);
          // An all -inf slice gives -inf, not NaN.
          Value isInf = arith::CmpFOp::create(
              nb, l, arith::CmpFPredicate::OEQ, a[1],
              arith::ConstantOp::create(
                  nb, l, a[1].getType(),
                  nb.getFloatAttr(a[1].getType(),
                                  -std::numeric_limits<double>::infinity())));
          return arith::SelectOp::create(nb, l, isInf, a[1],
                                         arith::AddFOp::create(nb, l, lg, a[1]));
        });
    r = lse;
    if (!keep) {
      SmallVector<int64_t> outShape;
      for (int64_t d = 0; d < (int64_t)shape.size(); ++d)
        if (!llvm::is_contained(*axes, d))
          outShape.push_back(shape[d]);
      r = emitReshape(b, loc, r, outShape);
    }
    ctx.setOutput(0, r, t);
    return success();
  } else {
    return ctx.fail("unknown reduction");
  }
  auto rt = cast<RankedTensorType>(r.getType());
  if (op == "ReduceMean") {
    r = emitElementwise(b, loc, r, rt.getShape(), rt.getElementType(),
                        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          Value c = emitScalar(nb, l, a[0].getType(), (double)count);
                          if (isFloat)
                            return arith::DivFOp::create(nb, l, a[0], c);
                          return isUnsigned
                                     ? (Value)arith::DivUIOp::create(nb, l, a[0], c)
                                     : (Value)arith::DivSIOp::create(nb, l, a[0], c);
                        });
  } else if (op == "ReduceLogSum") {
    r = emitElementwise(b, loc, r, rt.getShape(), rt.getElementType(),
                        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          return math::LogOp::create(nb, l, a[0]);
                        });
  } else if (op == "ReduceL2") {
    r = emitElementwise(b, loc, r, rt.getShape(), rt.getElementType(),
                        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          if (isFloat)
                            return math::SqrtOp::create(nb, l, a[0]);
                          Value f = castScalar(nb, l, a[0], t, DType::F64);
                          return castScalar(nb, l, math::SqrtOp::create(nb, l, f),
                                            DType::F64, t);
                        });
  }
  ctx.setOutput(0, r, t);
  return success();
}

LogicalResult convertArgMinMax(NodeContext &ctx) {
  bool isMax = ctx.opType() == "ArgMax";
  int64_t rank = ctx.rank(0);
  auto axis = ctx.normalizeAxis(ctx.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  bool keep = ctx.attrInt("keepdims", 1);
  bool last = ctx.attrInt("select_last_index", 0);
  DType t = ctx.dtype(0);
  bool isUnsigned = isUnsignedDType(t);
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  MLIRContext *mctx = ctx.ctx();
  auto shape = ctx.shape(0);
  SmallVector<int64_t> outShape, keptShape;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iters;
  for (int64_t d = 0; d < rank; ++d) {
    bool red = d == *axis;
    iters.push_back(red ? utils::IteratorType::reduction
                        : utils::IteratorType::parallel);
    if (!red) {
      outShape.push_back(shape[d]);
      outExprs.push_back(getAffineDimExpr(d, mctx));
    }
    keptShape.push_back(red ? 1 : shape[d]);
  }
  Type elem = ctx.elemType(t);
  Value vInit = tensor::EmptyOp::create(b, loc, outShape, elem);
  Value iInit = tensor::EmptyOp::create(b, loc, outShape, b.getI64Type());
  Value vFill = linalg::FillOp::create(
                    b, loc,
                    ValueRange{emitReduceInit(b, loc, elem,
                                              isMax ? ReduceKind::Max
                                                    : ReduceKind::Min,
                                              isUnsigned)},
                    ValueRange{vInit})
                    .getResult(0);
  Value iFill =
      linalg::FillOp::create(b, loc,
                             ValueRange{emitScalar(b, loc, b.getI64Type(), -1)},
                             ValueRange{iInit})
          .getResult(0);
  AffineMap outMap = AffineMap::get(rank, 0, outExprs, mctx);
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank), outMap, outMap};
  int64_t ax = *axis;
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{vFill.getType(), iFill.getType()}, ValueRange{ctx.value(0)},
      ValueRange{vFill, iFill}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value x = a[0], best = a[1], bestIdx = a[2];
        Value idx = arith::IndexCastOp::create(nb, l, nb.getI64Type(),
                                               linalg::IndexOp::create(nb, l, ax));
        Value better;
        bool f = isa<FloatType>(elem);
        if (f) {
          auto strict = isMax ? arith::CmpFPredicate::OGT : arith::CmpFPredicate::OLT;
          auto loose = isMax ? arith::CmpFPredicate::OGE : arith::CmpFPredicate::OLE;
          better = arith::CmpFOp::create(nb, l, last ? loose : strict, x, best);
        } else {
          using P = arith::CmpIPredicate;
          P strict = isMax ? (isUnsigned ? P::ugt : P::sgt)
                           : (isUnsigned ? P::ult : P::slt);
          P loose = isMax ? (isUnsigned ? P::uge : P::sge)
                          : (isUnsigned ? P::ule : P::sle);
          better = arith::CmpIOp::create(nb, l, last ? loose : strict, x, best);
        }
        // The first element always wins (handles all -inf / NaN slices).
        Value first = arith::CmpIOp::create(
            nb, l, arith::CmpIPredicate::slt, bestIdx,
            emitScalar(nb, l, nb.getI64Type(), 0));
        Value take = arith::OrIOp::create(nb, l, better, first);
        linalg::YieldOp::create(
            nb, l,
            ValueRange{arith::SelectOp::create(nb, l, take, x, best),
                       arith::SelectOp::create(nb, l, take, idx, bestIdx)});
      });
  Value r = generic.getResult(1);
  if (keep)
    r = emitReshape(b, loc, r, keptShape);
  ctx.setOutput(0, r, DType::I64);
  return success();
}

} // namespace

void appendReductionConverters(std::vector<ConverterEntry> &t) {
  for (const char *op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                         "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                         "ReduceLogSumExp", "ReduceSumSquare"})
    t.push_back({"", op, 1, convertReduce});
  t.push_back({"", "ArgMax", 1, convertArgMinMax});
  t.push_back({"", "ArgMin", 1, convertArgMinMax});
}

} // namespace qopt::onnx_frontend
