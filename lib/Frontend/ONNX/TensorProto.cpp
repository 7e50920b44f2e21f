//===- TensorProto.cpp - Reading ONNX TensorProto contents -----------------===//
//
// Initializers and Constant values arrive as raw_data, typed repeated
// fields, or external data files (location/offset/length), which are
// read through a memory-mapped slice.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/TensorFile.h"
#include "ImportContext.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cstring>

using namespace mlir;

namespace qopt::onnx_frontend {

static LogicalResult readExternal(const onnx::TensorProto &proto,
                                  StringRef baseDir, std::vector<char> &bytes,
                                  size_t expected, std::string &error) {
  std::string location;
  uint64_t offset = 0, length = 0;
  bool hasLength = false;
  for (const auto &kv : proto.external_data()) {
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset")
      offset = std::stoull(kv.value());
    else if (kv.key() == "length") {
      length = std::stoull(kv.value());
      hasLength = true;
    }
  }
  if (location.empty()) {
    error = "external data without a location";
    return failure();
  }
  if (llvm::sys::path::is_absolute(location) ||
      StringRef(location).contains("..")) {
    error = "external data location '" + location +
            "' must be a relative path inside the model's folder";
    return failure();
  }
  SmallString<256> path(baseDir);
  llvm::sys::path::append(path, location);
  if (!hasLength)
    length = expected;
  uint64_t fileSize = 0;
  if (std::error_code ec = llvm::sys::fs::file_size(path, fileSize)) {
    error = "cannot read external data '" + path.str().str() +
            "': " + ec.message();
    return failure();
  }
  if (offset + length > fileSize) {
    error = "external data file '" + path.str().str() + "' has " +
            std::to_string(fileSize) + " bytes; the tensor needs bytes " +
            std::to_string(offset) + " to " + std::to_string(offset + length) +
            " (truncated file?)";
    return failure();
  }
  auto buf = llvm::MemoryBuffer::getFileSlice(path, length, offset);
  if (!buf) {
    error = "cannot read external data '" + path.str().str() + "' (offset " +
            std::to_string(offset) + ", length " + std::to_string(length) +
            "): " + buf.getError().message();
    return failure();
  }
  if ((*buf)->getBufferSize() != length) {
    error = "external data file '" + path.str().str() + "' is too short";
    return failure();
  }
  bytes.assign((*buf)->getBufferStart(), (*buf)->getBufferEnd());
  return success();
}

/// The element count of `proto`'s dims; fails on a negative dim or a count
/// or byte size that overflows int64 (a wrapped size would pass the data
/// size checks below and allocate for the wrong shape).
static LogicalResult countElements(const onnx::TensorProto &proto, DType dtype,
                                   int64_t &n, std::string &error) {
  n = 1;
  for (int64_t d : proto.dims()) {
    if (d < 0) {
      error = "negative dimension";
      return failure();
    }
    if (__builtin_mul_overflow(n, d, &n)) {
      error = "dims overflow a 64-bit element count";
      return failure();
    }
  }
  int64_t bytes;
  if (__builtin_mul_overflow(n, (int64_t)std::max(dtypeBits(dtype) / 8, 1u),
                             &bytes)) {
    error = "dims overflow a 64-bit byte size";
    return failure();
  }
  return success();
}

LogicalResult readTensorBytes(const onnx::TensorProto &proto,
                              StringRef baseDir, std::vector<char> &bytes,
                              bool &available, std::string &error) {
  available = false;
  DType dtype = (DType)proto.data_type();
  if (!isSupportedDType(dtype)) {
    error = "unsupported element type " + std::to_string(proto.data_type());
    return failure();
  }
  int64_t n;
  if (failed(countElements(proto, dtype, n, error)))
    return failure();
  size_t expected = n * (dtypeBits(dtype) / 8);
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    if (failed(readExternal(proto, baseDir, bytes, expected, error)))
      return failure();
  } else if (proto.has_raw_data()) {
    bytes.assign(proto.raw_data().begin(), proto.raw_data().end());
  } else {
    return success();
  }
  if (bytes.size() != expected) {
    error = "data has " + std::to_string(bytes.size()) + " bytes, expected " +
            std::to_string(expected);
    return failure();
  }
  available = true;
  return success();
}

LogicalResult readTensorProto(const onnx::TensorProto &proto,
                              StringRef baseDir, HostTensor &out,
                              std::string &error) {
  DType dtype = (DType)proto.data_type();
  if (!isSupportedDType(dtype)) {
    error = "unsupported element type " + std::to_string(proto.data_type());
    return failure();
  }
  SmallVector<int64_t> shape(proto.dims().begin(), proto.dims().end());
  int64_t n;
  if (failed(countElements(proto, dtype, n, error)))
    return failure();
  size_t width = dtypeBits(dtype) / 8;
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    std::vector<char> bytes;
    if (failed(readExternal(proto, baseDir, bytes, n * width, error)))
      return failure();
    if (!HostTensor::fromBytes(dtype, shape, bytes, out)) {
      error = "external data has " + std::to_string(bytes.size()) +
              " bytes, expected " + std::to_string(n * width);
      return failure();
    }
    return success();
  }
  if (proto.has_raw_data()) {
    const std::string &raw = proto.raw_data();
    if (!HostTensor::fromBytes(dtype, shape,
                               ArrayRef<char>(raw.data(), raw.size()), out)) {
      error = "raw_data has " + std::to_string(raw.size()) +
              " bytes, expected " + std::to_string(n * width) + " for shape " +
              shapeToString(shape);
      return failure();
    }
    return success();
  }
  std::vector<char> bytes;
  if (llvm::Error e = io::decodeTypedFields(proto, n, width, bytes)) {
    error = "tensor " + llvm::toString(std::move(e)) + " for shape " +
            shapeToString(shape);
    return failure();
  }
  HostTensor::fromBytes(dtype, shape, bytes, out);
  return success();
}

} // namespace qopt::onnx_frontend
