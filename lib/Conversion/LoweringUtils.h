//===- LoweringUtils.h - Shared pieces of the qopt lowering ------*- C++ -*-===//
//
// Builders shared by the qopt-to-linalg patterns: integer code widening,
// scale/zero-point maps, the packed-weight unpacking and dequantization
// that define qopt's layout, and the integer product bodies.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_CONVERSION_LOWERINGUTILS_H
#define QOPT_LIB_CONVERSION_LOWERINGUTILS_H

#include "qopt/QOptDialect.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/Transforms/DialectConversion.h"

namespace qopt::lowering {

mlir::Value constI32(mlir::OpBuilder &b, mlir::Location loc, int64_t v);
mlir::Value constF32(mlir::OpBuilder &b, mlir::Location loc, float v);
/// Widens an integer code to i32, sign- or zero-extending.
mlir::Value extendToI32(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                        bool isUnsigned);
/// A map from `numDims` loop dims to a per-tensor or per-axis parameter of
/// shape `paramType`; `axisDim` is the loop dim of the quantization axis.
mlir::AffineMap paramMap(mlir::MLIRContext *ctx, unsigned numDims,
                         mlir::RankedTensorType paramType,
                         std::optional<unsigned> axisDim);
std::optional<unsigned> normalizedAxis(std::optional<int64_t> axis,
                                       int64_t rank);
/// clamp(roundeven(x / scale) + zero, qmin, qmax) as `codeType` (the clamp
/// happens in float, before the conversion, so it never overflows).
mlir::Value quantizeScalar(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value x, mlir::Value scale, mlir::Value zeroF,
                           int64_t qmin, int64_t qmax, mlir::Type codeType);
/// The value range of an integer type read as signed or unsigned.
std::pair<int64_t, int64_t> codeRange(mlir::Type t, bool isUnsigned);
mlir::Value emptyLike(mlir::OpBuilder &b, mlir::Location loc,
                      llvm::ArrayRef<int64_t> shape, mlir::Type elem);
mlir::Value zeroFilled(mlir::OpBuilder &b, mlir::Location loc,
                       llvm::ArrayRef<int64_t> shape, mlir::Type elem);
/// [d0, ..., dn-2, k] -> [d0 * ... * dn-2, k], and back.
mlir::Value collapseRows(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v);
mlir::Value expandRows(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                       mlir::RankedTensorType to);
llvm::SmallVector<mlir::utils::IteratorType> parallel(unsigned n);

/// Dequantizes packed weights [N, packed] into a float [K, N] tensor with
/// one generic reading the packed bytes in place (marked
/// `qopt.dequantize_weights` with its block alignment).
mlir::Value emitWeightDequantization(mlir::OpBuilder &b, mlir::Location loc,
                                     MatMulOp op);
/// Unpacks group-wise packed integer weights [N, packed] into their codes as
/// a [groups, N, group size] i8 tensor, the operand of the grouped integer
/// product. One generic reading the packed bytes in place, marked like the
/// dequantization generic so that targets unpack it block by block inside
/// the product's loop. Unsigned 8-bit codes, which i8 cannot hold, are
/// stored minus unpackedCodeOffset (their zero points move by as much).
mlir::Value emitWeightUnpacking(mlir::OpBuilder &b, mlir::Location loc,
                                MatMulOp op);
/// What emitWeightUnpacking subtracts from the codes of `scheme`: 128 for
/// unsigned 8-bit codes, else 0.
int64_t unpackedCodeOffset(SchemeAttr scheme);
/// The i32 code of value `k` of a packed row from its first (and second)
/// byte, sign-extended for signed schemes.
mlir::Value unpackCode(mlir::OpBuilder &b, mlir::Location loc,
                       mlir::Value byte0, mlir::Value byte1, mlir::Value k,
                       SchemeAttr scheme);
/// float(code - zero) * scale, or level[code] * scale for nf4.
mlir::Value dequantizeCode(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value code, mlir::Value zeroCode,
                           mlir::Value scale, SchemeAttr scheme,
                           mlir::Value nf4Levels);
mlir::Value nf4LevelsConstant(mlir::OpBuilder &b, mlir::Location loc);
/// The f32 value of an FP8 E4M3 (FN) byte.
mlir::Value decodeFP8E4M3(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value byte);
/// Map of packed parameters [rows|1, groups|1] addressed by row `rowExpr`
/// and value `kExpr`.
mlir::AffineMap groupParamMap(mlir::MLIRContext *ctx, unsigned numDims,
                              mlir::AffineExpr rowExpr, mlir::AffineExpr kExpr,
                              SchemeAttr scheme,
                              mlir::RankedTensorType paramType, int64_t k);
/// Body of an integer product with optional zero points: args are (x, w,
/// [zx], [zw], acc); yields acc + (x - zx) * (w - zw) in i32.
void yieldZeroPointMac(mlir::OpBuilder &b, mlir::Location l,
                       mlir::ValueRange args, bool xUnsigned, bool wUnsigned,
                       bool hasZx, bool hasZw);
/// float(acc) * (input_scale * weight_scale): the rescale of integer
/// products, the scales read through the given maps.
mlir::Value emitRescale(mlir::OpBuilder &b, mlir::Location loc,
                        mlir::Value acc, mlir::Value inputScale,
                        mlir::Value weightScale, mlir::AffineMap inputScaleMap,
                        mlir::AffineMap weightScaleMap);

/// Patterns for observe / quantize / dequantize / dynamic_quantize.
void populateQuantizeLoweringPatterns(mlir::RewritePatternSet &patterns);
/// Patterns for matmul / conv2d / embedding.
void populateComputeLoweringPatterns(mlir::RewritePatternSet &patterns);

} // namespace qopt::lowering

#endif // QOPT_LIB_CONVERSION_LOWERINGUTILS_H
