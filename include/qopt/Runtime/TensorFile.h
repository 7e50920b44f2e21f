//===- TensorFile.h - Reading and writing tensor files ----------*- C++ -*-===//
//
// Tensors on disk for qopt-run, calibration and tests: numpy .npy, .npz
// archives (stored, uncompressed members) and ONNX TensorProto .pb files
// (as in ONNX test_data_set folders).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_TENSORFILE_H
#define QOPT_RUNTIME_TENSORFILE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace onnx {
class TensorProto;
} // namespace onnx

namespace qopt::io {

/// The little-endian element bytes of a TensorProto whose values are in its
/// typed fields (float_data, int32_data, int64_data, double_data,
/// uint64_data; narrower integers, bool and float16 bits in int32_data):
/// `numElements` values of `elementSize` bytes, or an error when the field
/// holds another count. The one decoder of typed fields (tensor files and
/// the importer's initializers).
llvm::Error decodeTypedFields(const onnx::TensorProto &proto,
                              size_t numElements, size_t elementSize,
                              std::vector<char> &bytes);

/// A host tensor with a dtype name ("float32", "int64", "bool", ...).
struct Tensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<char> data;

  size_t numElements() const;
  size_t elementSize() const;
};

/// The ONNX TensorProto data type of a dtype name ("float32" -> 1); 0 if
/// unknown.
int onnxDataType(llvm::StringRef dtype);

/// Bytes per element of a dtype name; 0 if unknown.
size_t dtypeSize(llvm::StringRef dtype);

/// Reads `.npy`, `.npz` (one tensor per member, named by the member) or
/// `.pb` (ONNX TensorProto). Errors name the file and what is wrong.
llvm::Expected<std::vector<Tensor>> readTensorFile(llvm::StringRef path);

/// Reads `<prefix>0.pb`, `<prefix>1.pb`, ... from `dir` until one is missing,
/// as in ONNX test_data_set folders (prefix "input_" or "output_").
llvm::Expected<std::vector<Tensor>> readNumberedTensors(llvm::StringRef dir,
                                                       llvm::StringRef prefix);

/// Writes `t` as a version 1.0 .npy file.
llvm::Error writeNpy(llvm::StringRef path, const Tensor &t);

/// Loads a float32/float64/float16 tensor's values as doubles (others are
/// converted from their integer values).
std::vector<double> toDoubles(const Tensor &t);

/// How far `got` is from `want`.
struct TensorComparison {
  bool shapeOk = true;       // same shape and element count
  double maxAbs = 0;         // largest |got - want|
  double maxRel = 0;         // largest relative error where |want| > atol
  size_t mismatches = 0;     // elements outside atol + rtol * |want|
  size_t firstBad = 0;       // flat index of the first mismatch
  double firstGot = 0, firstWant = 0;
};

/// Compares element by element: an element passes when
/// |got - want| <= atol + rtol * |want|; NaN matches NaN and an infinity
/// matches the same infinity.
TensorComparison compareTensors(const Tensor &got, const Tensor &want,
                                double rtol, double atol);

} // namespace qopt::io

#endif // QOPT_RUNTIME_TENSORFILE_H
