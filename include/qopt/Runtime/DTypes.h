//===- DTypes.h - The one table of element types ----------------*- C++ -*-===//
//
// Element types as manifests, tensor files and diagnostics name them
// ("float32", "int64", "bool", ...), with their ONNX TensorProto code, size
// and numpy descriptor. Every place that converts between these spellings
// reads this table.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_DTYPES_H
#define QOPT_RUNTIME_DTYPES_H

#include <cstddef>
#include <string_view>

namespace qopt {

/// One element type.
struct DTypeInfo {
  /// The name in manifests and tensor files.
  std::string_view name;
  /// ONNX TensorProto.DataType.
  int onnxType;
  /// Bytes per element (0: not a fixed-size type).
  size_t bytes;
  /// numpy's little-endian descriptor ("<f4"), empty if numpy lacks it.
  std::string_view numpy;
};

inline constexpr DTypeInfo kDTypes[] = {
    {"float32", 1, 4, "<f4"},  {"uint8", 2, 1, "|u1"},
    {"int8", 3, 1, "|i1"},     {"uint16", 4, 2, "<u2"},
    {"int16", 5, 2, "<i2"},    {"int32", 6, 4, "<i4"},
    {"int64", 7, 8, "<i8"},    {"string", 8, 0, ""},
    {"bool", 9, 1, "|b1"},     {"float16", 10, 2, "<f2"},
    {"float64", 11, 8, "<f8"}, {"uint32", 12, 4, "<u4"},
    {"uint64", 13, 8, "<u8"},  {"bfloat16", 16, 2, ""},
};

/// The entry named `name`, or null.
inline const DTypeInfo *lookupDType(std::string_view name) {
  for (const DTypeInfo &d : kDTypes)
    if (d.name == name)
      return &d;
  return nullptr;
}

/// The entry of ONNX TensorProto type `onnxType`, or null.
inline const DTypeInfo *lookupDTypeByONNX(int onnxType) {
  for (const DTypeInfo &d : kDTypes)
    if (d.onnxType == onnxType)
      return &d;
  return nullptr;
}

/// The entry of a numpy descriptor without its byte-order mark ("f4"), or
/// null.
inline const DTypeInfo *lookupDTypeByNumpy(std::string_view code) {
  for (const DTypeInfo &d : kDTypes)
    if (!d.numpy.empty() && d.numpy.substr(1) == code)
      return &d;
  return nullptr;
}

/// Bytes per element of a dtype name; 0 if unknown or variable-sized.
inline size_t dtypeSizeInBytes(std::string_view name) {
  const DTypeInfo *d = lookupDType(name);
  return d ? d->bytes : 0;
}

} // namespace qopt

#endif // QOPT_RUNTIME_DTYPES_H
