//===- LoweringUtils.cpp - Shared pieces of the qopt lowering -------------===//

#include "LoweringUtils.h"
#include "qopt/QOptDialect.h"

#include "qopt/Quant/Quant.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AffineExpr.h"

#include <numeric>

using namespace mlir;

namespace qopt::lowering {

using utils::IteratorType;

Value constI32(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
}
Value constF32(OpBuilder &b, Location loc, float v) {
  return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(v));
}

/// Widens an integer code to i32, sign- or zero-extending.
Value extendToI32(OpBuilder &b, Location loc, Value v, bool isUnsigned) {
  if (v.getType().isInteger(32))
    return v;
  if (isUnsigned)
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), v);
  return arith::ExtSIOp::create(b, loc, b.getI32Type(), v);
}

/// An affine map from `numDims` loop dims to a per-tensor or per-axis
/// parameter of shape `paramType`, where `axisDim` is the loop dim of the
/// quantization axis.
AffineMap paramMap(MLIRContext *ctx, unsigned numDims, RankedTensorType paramType,
                   std::optional<unsigned> axisDim) {
  SmallVector<AffineExpr> results;
  for (int64_t i = 0; i < paramType.getRank(); ++i)
    results.push_back(axisDim && paramType.getDimSize(i) != 1
                          ? getAffineDimExpr(*axisDim, ctx)
                          : getAffineConstantExpr(0, ctx));
  return AffineMap::get(numDims, 0, results, ctx);
}

std::optional<unsigned> normalizedAxis(std::optional<int64_t> axis,
                                       int64_t rank) {
  if (!axis)
    return std::nullopt;
  return unsigned(*axis < 0 ? *axis + rank : *axis);
}

/// roundeven(x / scale) + zero_point, clamped to [qmin, qmax], as an integer
/// of `codeType`. The float clamp happens before the conversion so the
/// conversion never overflows.
Value quantizeScalar(OpBuilder &b, Location loc, Value x, Value scale,
                     Value zeroF, int64_t qmin, int64_t qmax,
                     Type codeType) {
  Value q = arith::DivFOp::create(b, loc, x, scale);
  q = math::RoundEvenOp::create(b, loc, q);
  if (zeroF)
    q = arith::AddFOp::create(b, loc, q, zeroF);
  q = arith::MaximumFOp::create(b, loc, q, constF32(b, loc, float(qmin)));
  q = arith::MinimumFOp::create(b, loc, q, constF32(b, loc, float(qmax)));
  Value i = arith::FPToSIOp::create(b, loc, b.getI32Type(), q);
  if (codeType.isInteger(32))
    return i;
  return arith::TruncIOp::create(b, loc, codeType, i);
}

std::pair<int64_t, int64_t> codeRange(Type t, bool isUnsigned) {
  unsigned w = t.getIntOrFloatBitWidth();
  if (isUnsigned)
    return {0, (int64_t(1) << w) - 1};
  return {-(int64_t(1) << (w - 1)), (int64_t(1) << (w - 1)) - 1};
}

Value emptyLike(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                Type elem) {
  return tensor::EmptyOp::create(b, loc, shape, elem);
}

Value zeroFilled(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                 Type elem) {
  Value init = emptyLike(b, loc, shape, elem);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elem));
  return linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{init})
      .getResult(0);
}

/// [d0, ..., dn-2, k] -> [d0 * ... * dn-2, k].
Value collapseRows(OpBuilder &b, Location loc, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() == 2)
    return v;
  ReassociationIndices rows;
  for (int64_t i = 0; i + 1 < t.getRank(); ++i)
    rows.push_back(i);
  SmallVector<ReassociationIndices> re = {rows, {t.getRank() - 1}};
  return tensor::CollapseShapeOp::create(b, loc, v, re);
}

Value expandRows(OpBuilder &b, Location loc, Value v, RankedTensorType to) {
  if (to.getRank() == 2)
    return v;
  ReassociationIndices rows;
  for (int64_t i = 0; i + 1 < to.getRank(); ++i)
    rows.push_back(i);
  SmallVector<ReassociationIndices> re = {rows, {to.getRank() - 1}};
  return tensor::ExpandShapeOp::create(b, loc, to, v, re);
}

SmallVector<IteratorType> parallel(unsigned n) {
  return SmallVector<IteratorType>(n, IteratorType::parallel);
}

//===----------------------------------------------------------------------===//
// Packed weights
//===----------------------------------------------------------------------===//

/// Affine maps that address value `kExpr` of row `rowExpr` of a packed
/// [rows, bytes] tensor: the byte holding its first bit, and the next byte
/// (only read when values straddle bytes).
std::pair<AffineMap, AffineMap> packedByteMaps(MLIRContext *ctx,
                                               unsigned numDims,
                                               AffineExpr rowExpr,
                                               AffineExpr kExpr,
                                               unsigned bits) {
  AffineExpr byte = (kExpr * bits).floorDiv(8);
  return {AffineMap::get(numDims, 0, {rowExpr, byte}, ctx),
          AffineMap::get(numDims, 0, {rowExpr, byte + 1}, ctx)};
}

/// The i32 code of value `k` (an index) from its first (and second) byte.
Value unpackCode(OpBuilder &b, Location loc, Value byte0, Value byte1,
                 Value k, SchemeAttr scheme) {
  unsigned bits = scheme.getBits();
  Value word = arith::ExtUIOp::create(b, loc, b.getI32Type(), byte0);
  if (bits == 8)
    return scheme.getKind() == QuantKind::Int && !scheme.getIsUnsigned()
               ? (Value)arith::ExtSIOp::create(b, loc, b.getI32Type(), byte0)
               : word;
  if (byte1) {
    Value hi = arith::ExtUIOp::create(b, loc, b.getI32Type(), byte1);
    hi = arith::ShLIOp::create(b, loc, hi, constI32(b, loc, 8));
    word = arith::OrIOp::create(b, loc, word, hi);
  }
  // shift = (k * bits) mod 8
  Value kI32 = arith::IndexCastUIOp::create(b, loc, b.getI32Type(), k);
  Value bitPos = arith::MulIOp::create(b, loc, kI32, constI32(b, loc, bits));
  Value shift = arith::AndIOp::create(b, loc, bitPos, constI32(b, loc, 7));
  Value v = arith::ShRUIOp::create(b, loc, word, shift);
  if (scheme.getKind() == QuantKind::Int && !scheme.getIsUnsigned()) {
    // Sign-extend the low `bits` bits.
    Value up = constI32(b, loc, 32 - bits);
    v = arith::ShLIOp::create(b, loc, v, up);
    return arith::ShRSIOp::create(b, loc, v, up);
  }
  return arith::AndIOp::create(b, loc, v, constI32(b, loc, (1 << bits) - 1));
}

/// float(code - zero) * scale, or level[code] * scale for nf4.
Value dequantizeCode(OpBuilder &b, Location loc, Value code, Value zeroCode,
                     Value scale, SchemeAttr scheme, Value nf4Levels) {
  if (scheme.getKind() == QuantKind::NF4) {
    Value idx = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), code);
    Value level = tensor::ExtractOp::create(b, loc, nf4Levels, idx);
    return arith::MulFOp::create(b, loc, level, scale);
  }
  if (zeroCode)
    code = arith::SubIOp::create(b, loc, code, zeroCode);
  Value f = arith::SIToFPOp::create(b, loc, b.getF32Type(), code);
  return arith::MulFOp::create(b, loc, f, scale);
}

Value nf4LevelsConstant(OpBuilder &b, Location loc) {
  auto type = RankedTensorType::get({16}, b.getF32Type());
  return arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(type, ArrayRef<float>(quant::kNF4Levels, 16)));
}

/// Scale / zero-point map for packed parameters of shape [rows|1, groups|1]
/// addressed by row `rowExpr` and value `kExpr`.
AffineMap groupParamMap(MLIRContext *ctx, unsigned numDims, AffineExpr rowExpr,
                        AffineExpr kExpr, SchemeAttr scheme,
                        RankedTensorType paramType, int64_t k) {
  AffineExpr zero = getAffineConstantExpr(0, ctx);
  AffineExpr row = paramType.getDimSize(0) == 1 ? zero : rowExpr;
  AffineExpr group = paramType.getDimSize(1) == 1
                         ? zero
                         : kExpr.floorDiv(scheme.getGroupLength(k));
  return AffineMap::get(numDims, 0, {row, group}, ctx);
}

Value decodeFP8E4M3(OpBuilder &b, Location loc, Value byte) {
  Value x = arith::ExtUIOp::create(b, loc, b.getI32Type(), byte);
  Value sign = arith::ShRUIOp::create(b, loc, x, constI32(b, loc, 7));
  Value exp = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, x, constI32(b, loc, 3)),
      constI32(b, loc, 15));
  Value mant = arith::AndIOp::create(b, loc, x, constI32(b, loc, 7));
  // Normal: the f32 with exponent exp - 7 + 127 and the 3 mantissa bits on
  // top of its 23.
  Value normalBits = arith::OrIOp::create(
      b, loc,
      arith::ShLIOp::create(
          b, loc, arith::AddIOp::create(b, loc, exp, constI32(b, loc, 120)),
          constI32(b, loc, 23)),
      arith::ShLIOp::create(b, loc, mant, constI32(b, loc, 20)));
  Value normal = arith::BitcastOp::create(b, loc, b.getF32Type(), normalBits);
  // Subnormal: mant * 2^-9.
  Value sub = arith::MulFOp::create(
      b, loc, arith::SIToFPOp::create(b, loc, b.getF32Type(), mant),
      constF32(b, loc, 0.001953125f));
  Value isSub = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, exp,
                                      constI32(b, loc, 0));
  Value mag = arith::SelectOp::create(b, loc, isSub, sub, normal);
  Value neg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, sign,
                                    constI32(b, loc, 0));
  return arith::SelectOp::create(b, loc, neg,
                                 arith::NegFOp::create(b, loc, mag), mag);
}

/// Dequantizes packed weights [N, packed] into a float [K, N] tensor (the
/// layout linalg.matmul reads). One generic over (k, n) reading the packed
/// bytes in place.
Value emitWeightDequantization(OpBuilder &b, Location loc, MatMulOp op) {
  MLIRContext *ctx = b.getContext();
  SchemeAttr scheme = op.getScheme();
  int64_t k = op.getK(), n = op.getN();
  AffineExpr dk = getAffineDimExpr(0, ctx), dn = getAffineDimExpr(1, ctx);
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  bool straddles = scheme.isPackedInteger() && 8 % scheme.getBits() != 0;
  if (scheme.isPackedInteger()) {
    auto [m0, m1] = packedByteMaps(ctx, 2, dn, dk, scheme.getBits());
    // Rows hold exactly k codes (whole bytes for 8 bits, where the byte map
    // is a plain dim map from which linalg infers the loop range).
    inputs.push_back(op.getWeight());
    maps.push_back(m0);
    if (straddles) {
      inputs.push_back(op.getWeight());
      maps.push_back(m1);
    }
  } else {
    inputs.push_back(op.getWeight());
    maps.push_back(AffineMap::get(2, 0, {dn, dk}, ctx));
  }
  Value scales = op.getWeightScales(), zeros = op.getWeightZeroPoints();
  if (scales) {
    inputs.push_back(scales);
    maps.push_back(groupParamMap(ctx, 2, dn, dk, scheme,
                                 cast<RankedTensorType>(scales.getType()), k));
  }
  if (zeros) {
    inputs.push_back(zeros);
    maps.push_back(groupParamMap(ctx, 2, dn, dk, scheme,
                                 cast<RankedTensorType>(zeros.getType()), k));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(2, ctx));
  Value levels = scheme.getKind() == QuantKind::NF4 ? nf4LevelsConstant(b, loc)
                                                    : Value();
  Value init = emptyLike(b, loc, {k, n}, b.getF32Type());
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      parallel(2), [&](OpBuilder &nb, Location nl, ValueRange args) {
        unsigned i = 0;
        Value result;
        // f16 scales widen exactly to f32 before they multiply.
        auto scaleArg = [&]() -> Value {
          Value s = args[i++];
          if (!s.getType().isF32())
            s = arith::ExtFOp::create(nb, nl, nb.getF32Type(), s);
          return s;
        };
        if (scheme.getKind() == QuantKind::Float) {
          result = arith::ExtFOp::create(nb, nl, nb.getF32Type(), args[i++]);
          if (scales)
            result = arith::MulFOp::create(nb, nl, result, scaleArg());
        } else if (scheme.getKind() == QuantKind::FP8E4M3) {
          result = decodeFP8E4M3(nb, nl, args[i++]);
          result = arith::MulFOp::create(nb, nl, result, scaleArg());
        } else {
          Value byte0 = args[i++];
          Value byte1 = straddles ? args[i++] : Value();
          Value kIdx = linalg::IndexOp::create(nb, nl, 0);
          Value code = unpackCode(nb, nl, byte0, byte1, kIdx, scheme);
          Value scale = scaleArg();
          if (zeros && args[i].getType().isF32()) {
            // Float zero points: (float(code) - zero) * scale.
            Value f = arith::SIToFPOp::create(nb, nl, nb.getF32Type(), code);
            f = arith::SubFOp::create(nb, nl, f, args[i++]);
            result = arith::MulFOp::create(nb, nl, f, scale);
          } else {
            Value zero =
                zeros ? extendToI32(nb, nl, args[i++], true) : Value();
            result = dequantizeCode(nb, nl, code, zero, scale, scheme, levels);
          }
        }
        linalg::YieldOp::create(nb, nl, result);
      });
  // Blocks of k that targets may dequantize separately must start where
  // both a group and a byte start: the packed and group maps above are only
  // valid per block at those offsets.
  int64_t align = std::lcm<int64_t>(
      8, scheme.getGranularity() == Granularity::Group ? scheme.getGroupSize()
                                                       : 1);
  generic->setAttr(QOptDialect::kDequantizeWeightsAttrName, b.getI64IntegerAttr(align));
  return generic.getResult(0);
}

int64_t unpackedCodeOffset(SchemeAttr scheme) {
  return scheme.getBits() == 8 && scheme.getIsUnsigned() ? 128 : 0;
}

Value emitWeightUnpacking(OpBuilder &b, Location loc, MatMulOp op) {
  MLIRContext *ctx = b.getContext();
  SchemeAttr scheme = op.getScheme();
  int64_t n = op.getN(), k = op.getK();
  int64_t group = scheme.getGroupLength(k);
  int64_t groups = scheme.getPaddedLength(k) / group;
  unsigned bits = scheme.getBits();
  // Loops (g, n, j) over value k = g * group + j of row n.
  AffineExpr dn = getAffineDimExpr(1, ctx);
  AffineExpr dk = getAffineDimExpr(0, ctx) * group + getAffineDimExpr(2, ctx);
  auto [m0, m1] = packedByteMaps(ctx, 3, dn, dk, bits);
  bool straddles = 8 % bits != 0;
  // Rows store k codes; the loops run over whole groups, so a short last
  // group reads zero bytes past the row (the products pad the input with
  // zeros there, which makes those codes worth nothing).
  Value weight = op.getWeight();
  auto weightType = cast<RankedTensorType>(weight.getType());
  int64_t wholeRowBytes = quant::packedRowBytes(groups * group, bits);
  if (weightType.getDimSize(1) < wholeRowBytes) {
    Value zero = arith::ConstantOp::create(
        b, loc, b.getZeroAttr(weightType.getElementType()));
    weight = tensor::PadOp::create(
        b, loc,
        RankedTensorType::get({n, wholeRowBytes}, weightType.getElementType()),
        weight, getAsIndexOpFoldResult(ctx, {0, 0}),
        getAsIndexOpFoldResult(ctx,
                               {0, wholeRowBytes - weightType.getDimSize(1)}),
        zero);
  }
  SmallVector<Value> inputs = {weight};
  SmallVector<AffineMap> maps = {m0};
  if (straddles) {
    inputs.push_back(weight);
    maps.push_back(m1);
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(3, ctx));
  int64_t offset = unpackedCodeOffset(scheme);
  Value init = emptyLike(b, loc, {groups, n, group}, b.getI8Type());
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      parallel(3), [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value kIdx = arith::AddIOp::create(
            nb, nl,
            arith::MulIOp::create(
                nb, nl, linalg::IndexOp::create(nb, nl, 0),
                arith::ConstantIndexOp::create(nb, nl, group)),
            linalg::IndexOp::create(nb, nl, 2));
        Value code = unpackCode(nb, nl, args[0], straddles ? args[1] : Value(),
                                kIdx, scheme);
        if (offset)
          code = arith::SubIOp::create(nb, nl, code, constI32(nb, nl, offset));
        linalg::YieldOp::create(
            nb, nl,
            arith::TruncIOp::create(nb, nl, nb.getI8Type(), code).getResult());
      });
  // The maps hold for any block of rows; blocks of the within-group index
  // would have to start on a byte, so targets keep whole groups.
  generic->setAttr(QOptDialect::kDequantizeWeightsAttrName,
                   b.getI64IntegerAttr(std::lcm<int64_t>(8, group)));
  return generic.getResult(0);
}

/// Body of an integer product with optional zero points: args are (x, w,
/// [zx], [zw], acc); yields acc + (x - zx) * (w - zw) in i32.
void yieldZeroPointMac(OpBuilder &b, Location l, ValueRange args,
                       bool xUnsigned, bool wUnsigned, bool hasZx,
                       bool hasZw) {
  unsigned i = 2;
  Value x = extendToI32(b, l, args[0], xUnsigned);
  Value w = extendToI32(b, l, args[1], wUnsigned);
  if (hasZx)
    x = arith::SubIOp::create(b, l, x, extendToI32(b, l, args[i++], xUnsigned));
  if (hasZw)
    w = arith::SubIOp::create(b, l, w, extendToI32(b, l, args[i++], wUnsigned));
  Value p = arith::MulIOp::create(b, l, x, w);
  linalg::YieldOp::create(b, l,
                          arith::AddIOp::create(b, l, args[i], p).getResult());
}

/// float(acc) * (input_scale * weight_scale) over `acc` with the scales
/// read through `scaleMaps`: the float rescale of integer products.
Value emitRescale(OpBuilder &b, Location loc, Value acc, Value inputScale,
                  Value weightScale, AffineMap inputScaleMap,
                  AffineMap weightScaleMap) {
  auto at = cast<RankedTensorType>(acc.getType());
  unsigned rank = at.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  Value out = emptyLike(b, loc, at.getShape(), b.getF32Type());
  return linalg::GenericOp::create(
             b, loc, TypeRange{out.getType()},
             ValueRange{acc, inputScale, weightScale}, ValueRange{out},
             {id, inputScaleMap, weightScaleMap, id}, parallel(rank),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value f =
                   arith::SIToFPOp::create(nb, l, nb.getF32Type(), args[0]);
               Value sc = arith::MulFOp::create(nb, l, args[1], args[2]);
               linalg::YieldOp::create(
                   nb, l, arith::MulFOp::create(nb, l, f, sc).getResult());
             })
      .getResult(0);
}

} // namespace qopt::lowering
