//===- DTypes.h - Element type names shared by runtime pieces ---*- C++ -*-===//

#ifndef QOPT_RUNTIME_DTYPES_H
#define QOPT_RUNTIME_DTYPES_H

#include <cstddef>
#include <string_view>

namespace qopt {

/// Bytes per element of a dtype name as written in manifests and tensor
/// files ("float32", "int64", "bool", ...); 0 if unknown.
inline size_t dtypeSizeInBytes(std::string_view t) {
  if (t == "float32" || t == "int32" || t == "uint32")
    return 4;
  if (t == "float64" || t == "int64" || t == "uint64")
    return 8;
  if (t == "float16" || t == "bfloat16" || t == "int16" || t == "uint16")
    return 2;
  if (t == "int8" || t == "uint8" || t == "bool")
    return 1;
  return 0;
}

} // namespace qopt

#endif // QOPT_RUNTIME_DTYPES_H
