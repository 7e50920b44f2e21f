//===- HostTensor.cpp - Host-side tensors for import-time folding ---------===//

#include "HostTensor.h"
#include "qopt/Runtime/DTypes.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>

using namespace mlir;

namespace qopt::onnx_frontend {

bool isFloatDType(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::F64 ||
         t == DType::BF16;
}

bool isUnsignedDType(DType t) {
  return t == DType::U8 || t == DType::U16 || t == DType::U32 ||
         t == DType::U64 || t == DType::Bool;
}

bool isSupportedDType(DType t) {
  switch (t) {
  case DType::F32:
  case DType::U8:
  case DType::I8:
  case DType::U16:
  case DType::I16:
  case DType::I32:
  case DType::I64:
  case DType::Bool:
  case DType::F16:
  case DType::F64:
  case DType::U32:
  case DType::U64:
  case DType::BF16:
    return true;
  default:
    return false;
  }
}

unsigned dtypeBits(DType t) {
  switch (t) {
  case DType::Bool:
  case DType::U8:
  case DType::I8:
    return 8;
  case DType::U16:
  case DType::I16:
  case DType::F16:
  case DType::BF16:
    return 16;
  case DType::U32:
  case DType::I32:
  case DType::F32:
    return 32;
  case DType::U64:
  case DType::I64:
  case DType::F64:
    return 64;
  default:
    return 0;
  }
}

const char *dtypeName(DType t) {
  // DType's values are ONNX's TensorProto codes.
  const DTypeInfo *d = lookupDTypeByONNX(static_cast<int>(t));
  return d ? d->name.data() : "undefined";
}

const char *dtypeNumpy(DType t) {
  switch (t) {
  case DType::F32: return "<f4";
  case DType::U8: return "|u1";
  case DType::I8: return "|i1";
  case DType::U16: return "<u2";
  case DType::I16: return "<i2";
  case DType::I32: return "<i4";
  case DType::I64: return "<i8";
  case DType::Bool: return "|b1";
  case DType::F16: return "<f2";
  case DType::F64: return "<f8";
  case DType::U32: return "<u4";
  case DType::U64: return "<u8";
  case DType::BF16: return "<V2";
  default: return "";
  }
}

Type dtypeToMLIR(MLIRContext *ctx, DType t) {
  switch (t) {
  case DType::F32: return Float32Type::get(ctx);
  case DType::F16: return Float16Type::get(ctx);
  case DType::BF16: return BFloat16Type::get(ctx);
  case DType::F64: return Float64Type::get(ctx);
  // Bools are stored as bytes (0/1), like numpy and ONNX Runtime.
  case DType::Bool: return IntegerType::get(ctx, 8);
  default:
    if (unsigned bits = dtypeBits(t))
      return IntegerType::get(ctx, bits);
    return {};
  }
}

int64_t shapeProduct(llvm::ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      return std::numeric_limits<int64_t>::max();
  return n;
}

llvm::SmallVector<int64_t> rowMajorStrides(llvm::ArrayRef<int64_t> shape) {
  llvm::SmallVector<int64_t> strides(shape.size(), 1);
  for (int i = (int)shape.size() - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

bool broadcastShapes(llvm::ArrayRef<int64_t> a, llvm::ArrayRef<int64_t> b,
                     llvm::SmallVectorImpl<int64_t> &out) {
  size_t rank = std::max(a.size(), b.size());
  out.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return false;
    out[i] = da == 1 ? db : da;
  }
  return true;
}

SliceRange normalizeSliceRange(int64_t start, int64_t end, int64_t step,
                               int64_t dim) {
  if (start < 0)
    start += dim;
  if (end < 0)
    end += dim;
  SliceRange r;
  r.stride = step;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    r.size = end > start ? (end - start + step - 1) / step : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    r.size = start > end ? (start - end - step - 1) / -step : 0;
  }
  r.offset = r.size ? start : 0;
  return r;
}

bool isPermutation(llvm::ArrayRef<int64_t> perm, size_t rank) {
  if (perm.size() != rank)
    return false;
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= (int64_t)rank || seen[p])
      return false;
    seen[p] = true;
  }
  return true;
}

bool isValidShape(llvm::ArrayRef<int64_t> shape) {
  return llvm::all_of(shape, [](int64_t d) { return d >= 0; });
}

std::string shapeToString(llvm::ArrayRef<int64_t> shape) {
  if (shape.empty())
    return "scalar";
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(shape, os, "x");
  return s;
}

HostTensor::HostTensor(DType t, llvm::ArrayRef<int64_t> s)
    : dtype(t), shape(s.begin(), s.end()) {
  if (isFloat())
    f.assign(numElements(), 0.0);
  else
    i.assign(numElements(), 0);
}

int64_t HostTensor::numElements() const { return shapeProduct(shape); }

static double roundToType(DType t, double v) {
  switch (t) {
  case DType::F32:
    return (double)(float)v;
  case DType::F16:
  case DType::BF16: {
    llvm::APFloat ap(v);
    bool lost;
    ap.convert(t == DType::F16 ? llvm::APFloat::IEEEhalf()
                               : llvm::APFloat::BFloat(),
               llvm::APFloat::rmNearestTiesToEven, &lost);
    ap.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
               &lost);
    return ap.convertToDouble();
  }
  default:
    return v;
  }
}

static int64_t wrapToType(DType t, int64_t v) {
  switch (t) {
  case DType::Bool: return v != 0;
  case DType::U8: return (uint8_t)v;
  case DType::I8: return (int8_t)v;
  case DType::U16: return (uint16_t)v;
  case DType::I16: return (int16_t)v;
  case DType::U32: return (uint32_t)v;
  case DType::I32: return (int32_t)v;
  default: return v;
  }
}

void HostTensor::setF(int64_t idx, double v) {
  if (isFloat()) {
    f[idx] = roundToType(dtype, v);
    return;
  }
  if (dtype == DType::Bool) {
    i[idx] = v != 0.0;
    return;
  }
  // Float → int conversion truncates toward zero like C casts (and ORT).
  if (std::isnan(v))
    i[idx] = 0;
  else
    i[idx] = wrapToType(dtype, (int64_t)v);
}

void HostTensor::setI(int64_t idx, int64_t v) {
  if (isFloat())
    f[idx] = roundToType(dtype, (double)v);
  else
    i[idx] = wrapToType(dtype, v);
}

HostTensor HostTensor::castTo(DType t) const {
  HostTensor out(t, shape);
  int64_t n = numElements();
  for (int64_t k = 0; k < n; ++k) {
    if (isFloat())
      out.setF(k, f[k]);
    else if (out.isFloat())
      out.setF(k, dtype == DType::U64 ? (double)(uint64_t)i[k] : (double)i[k]);
    else
      out.setI(k, i[k]);
  }
  return out;
}

std::vector<char> HostTensor::toBytes() const {
  int64_t n = numElements();
  unsigned bytes = dtypeBits(dtype) / 8;
  std::vector<char> out(n * bytes);
  for (int64_t k = 0; k < n; ++k) {
    char *dst = out.data() + k * bytes;
    switch (dtype) {
    case DType::F32: {
      float v = (float)f[k];
      std::memcpy(dst, &v, 4);
      break;
    }
    case DType::F64:
      std::memcpy(dst, &f[k], 8);
      break;
    case DType::F16:
    case DType::BF16: {
      llvm::APFloat ap(f[k]);
      bool lost;
      ap.convert(dtype == DType::F16 ? llvm::APFloat::IEEEhalf()
                                     : llvm::APFloat::BFloat(),
                 llvm::APFloat::rmNearestTiesToEven, &lost);
      uint16_t bits = (uint16_t)ap.bitcastToAPInt().getZExtValue();
      std::memcpy(dst, &bits, 2);
      break;
    }
    default: {
      int64_t v = i[k];
      std::memcpy(dst, &v, bytes); // little-endian host
      break;
    }
    }
  }
  return out;
}

bool HostTensor::fromBytes(DType t, llvm::ArrayRef<int64_t> shape,
                           llvm::ArrayRef<char> bytes, HostTensor &out) {
  out = HostTensor(t, shape);
  int64_t n = out.numElements();
  unsigned width = dtypeBits(t) / 8;
  if (width == 0 || (int64_t)bytes.size() != n * (int64_t)width)
    return false;
  const char *src = bytes.data();
  for (int64_t k = 0; k < n; ++k, src += width) {
    switch (t) {
    case DType::F32: {
      float v;
      std::memcpy(&v, src, 4);
      out.f[k] = v;
      break;
    }
    case DType::F64:
      std::memcpy(&out.f[k], src, 8);
      break;
    case DType::F16:
    case DType::BF16: {
      uint16_t bits;
      std::memcpy(&bits, src, 2);
      llvm::APFloat ap(t == DType::F16 ? llvm::APFloat::IEEEhalf()
                                       : llvm::APFloat::BFloat(),
                       llvm::APInt(16, bits));
      bool lost;
      ap.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
                 &lost);
      out.f[k] = ap.convertToDouble();
      break;
    }
    case DType::Bool:
    case DType::U8: out.i[k] = (uint8_t)*src; break;
    case DType::I8: out.i[k] = (int8_t)*src; break;
    case DType::U16: { uint16_t v; std::memcpy(&v, src, 2); out.i[k] = v; break; }
    case DType::I16: { int16_t v; std::memcpy(&v, src, 2); out.i[k] = v; break; }
    case DType::U32: { uint32_t v; std::memcpy(&v, src, 4); out.i[k] = v; break; }
    case DType::I32: { int32_t v; std::memcpy(&v, src, 4); out.i[k] = v; break; }
    default: { int64_t v; std::memcpy(&v, src, 8); out.i[k] = v; break; }
    }
  }
  return true;
}

DenseElementsAttr HostTensor::toAttr(MLIRContext *ctx) const {
  auto type = RankedTensorType::get(shape, dtypeToMLIR(ctx, dtype));
  std::vector<char> raw = toBytes();
  return DenseElementsAttr::getFromRawBuffer(type, raw);
}

} // namespace qopt::onnx_frontend
