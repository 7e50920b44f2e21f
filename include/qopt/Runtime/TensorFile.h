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

namespace qopt::io {

/// A host tensor with a dtype name ("float32", "int64", "bool", ...).
struct Tensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<char> data;

  size_t numElements() const;
  size_t elementSize() const;
};

/// Bytes per element of a dtype name; 0 if unknown.
size_t dtypeSize(llvm::StringRef dtype);

/// Reads `.npy`, `.npz` (one tensor per member, named by the member) or
/// `.pb` (ONNX TensorProto). Errors name the file and what is wrong.
llvm::Expected<std::vector<Tensor>> readTensorFile(llvm::StringRef path);

/// Writes `t` as a version 1.0 .npy file.
llvm::Error writeNpy(llvm::StringRef path, const Tensor &t);

/// Loads a float32/float64/float16 tensor's values as doubles (others are
/// converted from their integer values).
std::vector<double> toDoubles(const Tensor &t);

} // namespace qopt::io

#endif // QOPT_RUNTIME_TENSORFILE_H
