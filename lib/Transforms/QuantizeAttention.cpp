//===- QuantizeAttention.cpp - Int8 products of two activations -----------===//
//
// Attention's score products, Q·Kᵀ and softmax(P)·V, multiply two
// activations: neither side exists before run time, so both are quantized
// where they are computed, multiplied exactly in int32 and rescaled once.
// The product stays a tosa.matmul (TOSA's i8 x i8 -> i32 form), which the
// x86 pipeline lowers to linalg.batch_matmul and vectorizes into i8
// contractions with i32 accumulators, like the float one.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "llvm/Support/Regex.h"

using namespace mlir;

namespace qopt {

bool isActivationProduct(tosa::MatMulOp op, const llvm::Regex *exclude) {
  auto at = cast<RankedTensorType>(op.getA().getType());
  auto bt = cast<RankedTensorType>(op.getB().getType());
  if (!at.getElementType().isF32() || !bt.getElementType().isF32() ||
      !at.hasStaticShape() || !bt.hasStaticShape())
    return false;
  if (isConstantBehindReshapes(op.getA()) ||
      isConstantBehindReshapes(op.getB()))
    return false;
  return !exclude || !exclude->match(onnxNodeName(op.getLoc()));
}

std::optional<AttentionScales> parseAttentionScales(StringRef name) {
  if (name == "dynamic")
    return AttentionScales::Dynamic;
  if (name == "static")
    return AttentionScales::Static;
  return std::nullopt;
}

namespace {

/// One operand as int8 codes, with the scales that multiply them back and
/// how the product's (batch, m, n) loop indexes those scales.
struct QuantizedOperand {
  Value codes, scale;
  AffineMap scaleMap;
};

/// The calibrated range of `v`, from the probe in front of it.
std::optional<float> calibratedRange(Value v) {
  auto probe = v.getDefiningOp<ObserveOp>();
  if (!probe || !probe.getAbsmax())
    return std::nullopt;
  return probe.getAbsmax()->convertToFloat();
}

/// Codes of `v` with one scale for the whole tensor: absmax / 127, as for
/// the inputs of linear layers (an all-zero range takes scale 1).
QuantizedOperand quantizeWhole(OpBuilder &b, Location loc, Value v,
                               float absmax) {
  auto st = RankedTensorType::get({}, b.getF32Type());
  Value scale = arith::ConstantOp::create(
      b, loc, st,
      DenseElementsAttr::get(st, absmax > 0 ? absmax / 127.f : 1.f));
  auto type = cast<RankedTensorType>(v.getType());
  Value codes = QuantizeOp::create(
      b, loc, RankedTensorType::get(type.getShape(), b.getI8Type()), v, scale,
      Value(), IntegerAttr(), /*is_unsigned=*/false);
  return {codes, scale, AffineMap::get(3, 0, {}, b.getContext())};
}

/// Codes of the rows of `v` ([batch, rows, k]), one run-time scale per row.
std::pair<Value, Value> quantizeRows(OpBuilder &b, Location loc, Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> rowShape(type.getShape());
  rowShape.back() = 1;
  auto dq = DynamicQuantizeOp::create(
      b, loc, RankedTensorType::get(type.getShape(), b.getI8Type()),
      RankedTensorType::get(rowShape, b.getF32Type()),
      RankedTensorType::get(rowShape, b.getI8Type()), v, Granularity::PerToken,
      /*is_unsigned=*/false);
  return {dq.getResult(), dq.getScale()};
}

Value transposeLast2(OpBuilder &b, Location loc, Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(type.getShape());
  std::swap(shape[1], shape[2]);
  return tosa::TransposeOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), v,
      b.getDenseI32ArrayAttr({0, 2, 1}));
}

/// y = float(acc) * (s_a * s_b), the order qopt.matmul's integer form uses.
Value rescale(OpBuilder &b, Location loc, Value acc, const QuantizedOperand &a,
              const QuantizedOperand &bq) {
  auto type = cast<RankedTensorType>(acc.getType());
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, ctx);
  Value init = tensor::EmptyOp::create(b, loc, type.getShape(), b.getF32Type());
  SmallVector<utils::IteratorType> parallel(3, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()},
             ValueRange{acc, a.scale, bq.scale}, ValueRange{init},
             ArrayRef<AffineMap>{id, a.scaleMap, bq.scaleMap, id}, parallel,
             [](OpBuilder &nb, Location nl, ValueRange args) {
               Value f =
                   arith::SIToFPOp::create(nb, nl, nb.getF32Type(), args[0]);
               Value s = arith::MulFOp::create(nb, nl, args[1], args[2]);
               linalg::YieldOp::create(
                   nb, nl, arith::MulFOp::create(nb, nl, f, s).getResult());
             })
      .getResult(0);
}

} // namespace

LogicalResult quantizeActivationProduct(tosa::MatMulOp op,
                                        AttentionScales scales,
                                        StringRef precisionName) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  AffineExpr batch = getAffineDimExpr(0, ctx), m = getAffineDimExpr(1, ctx),
             n = getAffineDimExpr(2, ctx), zero = getAffineConstantExpr(0, ctx);
  bool dynamic = scales == AttentionScales::Dynamic;
  QuantizedOperand qa, qb;
  if (dynamic) {
    // Per row of A and per column of B: both scales factor out of the sum
    // over k. B's columns become rows for the per-token quantizer, and its
    // codes go back to [batch, k, n] for the product.
    auto [aCodes, aScale] = quantizeRows(b, loc, op.getA());
    qa = {aCodes, aScale, AffineMap::get(3, 0, {batch, m, zero}, ctx)};
    auto [btCodes, bScale] =
        quantizeRows(b, loc, transposeLast2(b, loc, op.getB()));
    qb = {transposeLast2(b, loc, btCodes), bScale,
          AffineMap::get(3, 0, {batch, n, zero}, ctx)};
  } else {
    std::optional<float> aRange = calibratedRange(op.getA());
    std::optional<float> bRange = calibratedRange(op.getB());
    if (!aRange || !bRange)
      return op.emitError()
             << "static attention scales need a calibrated range for both "
                "operands of this activation product: compile with --calib";
    qa = quantizeWhole(b, loc, op.getA(), *aRange);
    qb = quantizeWhole(b, loc, op.getB(), *bRange);
  }

  auto resultType = cast<RankedTensorType>(op.getResult().getType());
  Value zp = *tosa::createZeroPointTensor(b, loc, b.getI8Type(), 0);
  auto product = tosa::MatMulOp::create(
      b, loc, RankedTensorType::get(resultType.getShape(), b.getI32Type()),
      qa.codes, qb.codes, zp, zp);
  SchemeAttr aScheme = SchemeAttr::get(
      ctx, QuantKind::Int, 8, false,
      dynamic ? Granularity::PerToken : Granularity::PerTensor, 0, true);
  SchemeAttr bScheme = SchemeAttr::get(
      ctx, QuantKind::Int, 8, false,
      dynamic ? Granularity::PerChannel : Granularity::PerTensor, 0, true);
  product->setAttr(
      QOptDialect::kPrecisionAttrName,
      PrecisionAttr::get(ctx, precisionName, bScheme, aScheme, dynamic, ""));
  op.getResult().replaceAllUsesWith(
      rescale(b, loc, product.getResult(), qa, qb));
  op.erase();
  return success();
}

} // namespace qopt
