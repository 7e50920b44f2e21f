//===- HostTensor.h - Host-side tensors for import-time folding -*- C++ -*-===//
//
// A small tensor held on the host while importing. Shape subgraphs
// (Shape → Gather → Concat → Reshape ...) and any node whose inputs are all
// known are evaluated on these, so the emitted IR only has static shapes.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_FRONTEND_ONNX_HOSTTENSOR_H
#define QOPT_LIB_FRONTEND_ONNX_HOSTTENSOR_H

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qopt::onnx_frontend {

/// ONNX element types (TensorProto::DataType values) the importer handles.
enum class DType : int {
  Undefined = 0,
  F32 = 1,
  U8 = 2,
  I8 = 3,
  U16 = 4,
  I16 = 5,
  I32 = 6,
  I64 = 7,
  String = 8,
  Bool = 9,
  F16 = 10,
  F64 = 11,
  U32 = 12,
  U64 = 13,
  BF16 = 16,
};

bool isFloatDType(DType t);
bool isUnsignedDType(DType t);
bool isSupportedDType(DType t);
unsigned dtypeBits(DType t);
const char *dtypeName(DType t);
/// The numpy dtype string ("<f4", "|b1", ...) of `t`.
const char *dtypeNumpy(DType t);
/// The signless MLIR element type used for `t` (ui8 is i8; bool is i8
/// holding 0 or 1, so bool tensors have numpy's byte layout in memory).
mlir::Type dtypeToMLIR(mlir::MLIRContext *ctx, DType t);

/// A dense host tensor. Values of float types are kept as double rounded to
/// the element type's precision after each operation; integers and bools as
/// int64 (wrapped to the element width).
struct HostTensor {
  DType dtype = DType::Undefined;
  llvm::SmallVector<int64_t> shape;
  std::vector<double> f;
  std::vector<int64_t> i;

  HostTensor() = default;
  HostTensor(DType t, llvm::ArrayRef<int64_t> s);

  int64_t numElements() const;
  bool isFloat() const { return isFloatDType(dtype); }
  double getF(int64_t idx) const { return isFloat() ? f[idx] : (double)i[idx]; }
  int64_t getI(int64_t idx) const { return isFloat() ? (int64_t)f[idx] : i[idx]; }
  /// Stores `v`, rounding or wrapping to the element type.
  void setF(int64_t idx, double v);
  void setI(int64_t idx, int64_t v);

  /// Converts to another element type with ONNX Cast semantics.
  HostTensor castTo(DType t) const;
  /// Builds the MLIR attribute for this tensor (little-endian raw data).
  mlir::DenseElementsAttr toAttr(mlir::MLIRContext *ctx) const;
  /// Raw little-endian bytes in the element type's storage.
  std::vector<char> toBytes() const;
  /// Reads raw bytes of type `t`; returns false on a size mismatch.
  static bool fromBytes(DType t, llvm::ArrayRef<int64_t> shape,
                        llvm::ArrayRef<char> bytes, HostTensor &out);
};

/// Row-major strides of `shape`.
llvm::SmallVector<int64_t> rowMajorStrides(llvm::ArrayRef<int64_t> shape);
/// Product of `shape`; INT64_MAX when it overflows.
int64_t shapeProduct(llvm::ArrayRef<int64_t> shape);
/// Multidirectional (numpy) broadcast of two shapes; false if incompatible.
bool broadcastShapes(llvm::ArrayRef<int64_t> a, llvm::ArrayRef<int64_t> b,
                     llvm::SmallVectorImpl<int64_t> &out);
/// One axis of an ONNX Slice after clamping: where it starts, how many
/// elements it takes and the step (which may be negative).
struct SliceRange {
  int64_t offset = 0, size = 0, stride = 1;
};
/// Clamps ONNX Slice `start`/`end` (negative counts from the end) with
/// nonzero `step` to an axis of `dim` elements.
SliceRange normalizeSliceRange(int64_t start, int64_t end, int64_t step,
                               int64_t dim);

/// True if `perm` is a permutation of 0..rank-1.
bool isPermutation(llvm::ArrayRef<int64_t> perm, size_t rank);
/// True if every dimension is >= 0.
bool isValidShape(llvm::ArrayRef<int64_t> shape);

/// "1x128x64" for diagnostics.
std::string shapeToString(llvm::ArrayRef<int64_t> shape);

} // namespace qopt::onnx_frontend

#endif // QOPT_LIB_FRONTEND_ONNX_HOSTTENSOR_H
