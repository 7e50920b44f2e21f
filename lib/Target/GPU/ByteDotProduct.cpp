//===- ByteDotProduct.cpp - int8 dot products to vendor instructions ------===//

#include "qopt/Target/GPU/ByteDotProduct.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace qopt::gpu {

namespace {

/// `arith.muli (arith.extsi a), (arith.extsi b)` with a, b vector<4xi8>:
/// the operands of a signed four-way byte dot product.
std::optional<std::pair<Value, Value>> signedByteProduct(Value product) {
  auto mul = product.getDefiningOp<arith::MulIOp>();
  if (!mul)
    return std::nullopt;
  auto lhs = mul.getLhs().getDefiningOp<arith::ExtSIOp>();
  auto rhs = mul.getRhs().getDefiningOp<arith::ExtSIOp>();
  if (!lhs || !rhs)
    return std::nullopt;
  auto isBytes4 = [](Value v) {
    auto type = dyn_cast<VectorType>(v.getType());
    return type && type.getRank() == 1 && type.getNumElements() == 4 &&
           !type.isScalable() && type.getElementType().isInteger(8);
  };
  auto i32x4 = dyn_cast<VectorType>(mul.getType());
  if (!isBytes4(lhs.getIn()) || !isBytes4(rhs.getIn()) || !i32x4 ||
      !i32x4.getElementType().isInteger(32))
    return std::nullopt;
  return std::make_pair(lhs.getIn(), rhs.getIn());
}

/// The dot product of `reduction` (an add reduction of a signed byte
/// product), accumulated onto `acc`, as one instruction.
std::optional<Value> buildDotProduct(PatternRewriter &rewriter,
                                     vector::ReductionOp reduction, Value acc,
                                     const ByteDotProductBuilder &build) {
  if (reduction.getKind() != vector::CombiningKind::ADD)
    return std::nullopt;
  std::optional<std::pair<Value, Value>> operands =
      signedByteProduct(reduction.getVector());
  if (!operands)
    return std::nullopt;
  Location loc = reduction.getLoc();
  if (Value own = reduction.getAcc())
    acc =
        acc ? arith::AddIOp::create(rewriter, loc, acc, own).getResult() : own;
  if (!acc)
    acc = arith::ConstantIntOp::create(rewriter, loc, 0, 32);
  return build(rewriter, loc, operands->first, operands->second, acc);
}

/// acc + reduce<add>(extsi(a) * extsi(b)) -> dot(a, b, acc): the running
/// sum of the W8A8 kernel's K loop in one instruction.
struct AccumulatedDotProduct : OpRewritePattern<arith::AddIOp> {
  AccumulatedDotProduct(MLIRContext *ctx, ByteDotProductBuilder build)
      : OpRewritePattern(ctx, /*benefit=*/2), build(std::move(build)) {}
  ByteDotProductBuilder build;
  LogicalResult matchAndRewrite(arith::AddIOp add,
                                PatternRewriter &rewriter) const override {
    if (!add.getType().isInteger(32))
      return rewriter.notifyMatchFailure(add, "not an i32 sum");
    for (unsigned i = 0; i < 2; ++i) {
      auto reduction = add->getOperand(i).getDefiningOp<vector::ReductionOp>();
      if (!reduction || !reduction->hasOneUse())
        continue;
      std::optional<Value> dot =
          buildDotProduct(rewriter, reduction, add->getOperand(1 - i), build);
      if (!dot)
        continue;
      rewriter.replaceOp(add, *dot);
      return success();
    }
    return rewriter.notifyMatchFailure(add, "no byte dot product operand");
  }
};

/// reduce<add>(extsi(a) * extsi(b)) alone -> dot(a, b, 0).
struct PlainDotProduct : OpRewritePattern<vector::ReductionOp> {
  PlainDotProduct(MLIRContext *ctx, ByteDotProductBuilder build)
      : OpRewritePattern(ctx, /*benefit=*/1), build(std::move(build)) {}
  ByteDotProductBuilder build;
  LogicalResult matchAndRewrite(vector::ReductionOp reduction,
                                PatternRewriter &rewriter) const override {
    std::optional<Value> dot =
        buildDotProduct(rewriter, reduction, Value(), build);
    if (!dot)
      return rewriter.notifyMatchFailure(reduction, "not a byte dot product");
    rewriter.replaceOp(reduction, *dot);
    return success();
  }
};

} // namespace

void populateByteDotProductPatterns(RewritePatternSet &patterns,
                                    ByteDotProductBuilder build) {
  patterns.add<AccumulatedDotProduct>(patterns.getContext(), build);
  patterns.add<PlainDotProduct>(patterns.getContext(), std::move(build));
}

} // namespace qopt::gpu
