//===- TensorFile.cpp - Reading and writing tensor files -------------------===//

#include "qopt/Runtime/TensorFile.h"
#include "qopt/Runtime/DTypes.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>

using llvm::StringRef;

namespace qopt::io {

size_t dtypeSize(StringRef t) { return dtypeSizeInBytes(t.str()); }

size_t Tensor::numElements() const {
  size_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

size_t Tensor::elementSize() const { return dtypeSize(dtype); }

/// Bytes of a tensor of `shape` with `elemSize`-byte elements, or false when
/// a dimension is negative or the element count or byte size overflows (a
/// corrupt header could otherwise claim 2^64 elements that wrap to 0 bytes).
static bool byteSizeOf(llvm::ArrayRef<int64_t> shape, size_t elemSize,
                       size_t &bytes) {
  uint64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, (uint64_t)d, &n) ||
        n > (uint64_t)INT64_MAX)
      return false;
  return !__builtin_mul_overflow(n, (uint64_t)elemSize, &bytes) &&
         bytes <= (uint64_t)INT64_MAX;
}

static std::string shapeText(llvm::ArrayRef<int64_t> shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s.empty() ? "scalar" : s;
}

static llvm::Error makeError(StringRef path, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 (path + ": " + msg).str());
}

static const char *numpyDescr(StringRef dtype) {
  const DTypeInfo *d = lookupDType(std::string_view(dtype.data(), dtype.size()));
  return d && !d->numpy.empty() ? d->numpy.data() : nullptr;
}

static std::string dtypeFromDescr(StringRef d) {
  // Accept native-endian markers on this little-endian host; big-endian
  // multi-byte types are not read.
  if (d.size() != 3 || (d[0] == '>' && d[2] != '1'))
    return "";
  const DTypeInfo *info = lookupDTypeByNumpy(std::string_view(d.data() + 1, 2));
  return info ? std::string(info->name) : "";
}

/// Parses one .npy image.
static llvm::Expected<Tensor> parseNpy(StringRef path, StringRef buf) {
  if (buf.size() < 10 || !buf.starts_with("\x93NUMPY"))
    return makeError(path, "not a .npy file (bad magic)");
  uint8_t major = buf[6];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = (uint8_t)buf[8] | ((uint8_t)buf[9] << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (buf.size() < 12)
      return makeError(path, "truncated .npy header");
    headerLen = (uint8_t)buf[8] | ((uint8_t)buf[9] << 8) |
                ((uint8_t)buf[10] << 16) | ((size_t)(uint8_t)buf[11] << 24);
    headerStart = 12;
  } else {
    return makeError(path, "unsupported .npy version " + llvm::Twine(major));
  }
  if (buf.size() < headerStart + headerLen)
    return makeError(path, "truncated .npy header");
  StringRef header = buf.substr(headerStart, headerLen);
  auto field = [&](StringRef key) -> StringRef {
    size_t k = header.find("'" + key.str() + "'");
    if (k == StringRef::npos)
      return "";
    StringRef rest = header.substr(k + key.size() + 2).ltrim();
    if (!rest.consume_front(":"))
      return "";
    return rest.ltrim();
  };
  Tensor t;
  StringRef descr = field("descr");
  if (!descr.consume_front("'"))
    return makeError(path, "bad .npy header (descr)");
  descr = descr.take_until([](char c) { return c == '\''; });
  t.dtype = dtypeFromDescr(descr);
  if (t.dtype.empty())
    return makeError(path, "unsupported numpy dtype '" + descr + "'");
  if (field("fortran_order").starts_with("True"))
    return makeError(path, "Fortran-ordered arrays are not supported");
  StringRef shape = field("shape");
  if (!shape.consume_front("("))
    return makeError(path, "bad .npy header (shape)");
  shape = shape.take_until([](char c) { return c == ')'; });
  llvm::SmallVector<StringRef> dims;
  shape.split(dims, ',');
  for (StringRef d : dims) {
    d = d.trim();
    if (d.empty())
      continue;
    int64_t v;
    if (d.getAsInteger(10, v) || v < 0)
      return makeError(path, "bad dimension '" + d + "'");
    t.shape.push_back(v);
  }
  size_t bytes;
  if (!byteSizeOf(t.shape, t.elementSize(), bytes))
    return makeError(path, "shape " + shapeText(t.shape) +
                               " overflows a 64-bit size");
  size_t dataStart = headerStart + headerLen;
  if (buf.size() - dataStart != bytes)
    return makeError(path, "data has " + llvm::Twine(buf.size() - dataStart) +
                               " bytes, expected " + llvm::Twine(bytes) +
                               " (truncated or corrupt)");
  t.data.assign(buf.begin() + dataStart, buf.end());
  return t;
}

static uint32_t le32(const char *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
static uint16_t le16(const char *p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

/// Reads the stored (uncompressed) members of a zip archive.
static llvm::Expected<std::vector<Tensor>> parseNpz(StringRef path,
                                                    StringRef buf) {
  std::vector<Tensor> out;
  size_t pos = 0;
  while (pos + 30 <= buf.size() && le32(buf.data() + pos) == 0x04034b50) {
    const char *h = buf.data() + pos;
    uint16_t flags = le16(h + 6), method = le16(h + 8);
    uint32_t csize = le32(h + 18);
    uint16_t nameLen = le16(h + 26), extraLen = le16(h + 28);
    if (method != 0)
      return makeError(path, "compressed .npz members are not supported "
                             "(save with numpy.savez, not savez_compressed)");
    if (flags & 0x8)
      return makeError(path, "streamed zip members are not supported");
    if (pos + 30 + nameLen + extraLen > buf.size())
      return makeError(path, "truncated .npz");
    StringRef name = buf.substr(pos + 30, nameLen);
    size_t dataPos = pos + 30 + nameLen + extraLen;
    // zip64 stores the size in the extra field.
    if (csize == 0xFFFFFFFFu) {
      StringRef extra = buf.substr(pos + 30 + nameLen, extraLen);
      if (extra.size() >= 20 && le16(extra.data()) == 1)
        std::memcpy(&csize, extra.data() + 12, 4);
    }
    if (dataPos + csize > buf.size())
      return makeError(path, "truncated .npz member '" + name + "'");
    auto t = parseNpy((path + ":" + name).str(), buf.substr(dataPos, csize));
    if (!t)
      return t.takeError();
    t->name = name.ends_with(".npy") ? name.drop_back(4).str() : name.str();
    out.push_back(std::move(*t));
    pos = dataPos + csize;
  }
  if (out.empty())
    return makeError(path, "not a .npz archive (no members found)");
  return out;
}

static const char *onnxDtype(int t) {
  const DTypeInfo *d = lookupDTypeByONNX(t);
  // Strings are not tensor data qopt reads.
  return d && d->bytes ? d->name.data() : nullptr;
}

int onnxDataType(StringRef dtype) {
  const DTypeInfo *d = lookupDType(std::string_view(dtype.data(), dtype.size()));
  return d && d->bytes ? d->onnxType : 0;
}

llvm::Error decodeTypedFields(const onnx::TensorProto &proto, size_t n,
                              size_t es, std::vector<char> &bytes) {
  // Every typed value takes at least a byte of the message: refuse a shape
  // that claims more before allocating for it.
  if (n > proto.ByteSizeLong())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "claims %zu values, more than its %zu "
                                   "bytes can hold",
                                   n, proto.ByteSizeLong());
  bytes.assign(n * es, 0);
  auto put = [&](size_t i, auto v) {
    // Little-endian: narrower types keep the low bytes.
    std::memcpy(bytes.data() + i * es, &v, std::min(es, sizeof v));
  };
  auto need = [&](size_t have) -> llvm::Error {
    if (have != n)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "has %zu values, expected %zu", have, n);
    return llvm::Error::success();
  };
  switch (proto.data_type()) {
  case 1:
    if (auto e = need(proto.float_data_size()))
      return e;
    for (size_t i = 0; i < n; ++i)
      put(i, proto.float_data(i));
    break;
  case 11:
    if (auto e = need(proto.double_data_size()))
      return e;
    for (size_t i = 0; i < n; ++i)
      put(i, proto.double_data(i));
    break;
  case 7:
    if (auto e = need(proto.int64_data_size()))
      return e;
    for (size_t i = 0; i < n; ++i)
      put(i, proto.int64_data(i));
    break;
  case 12:
  case 13:
    if (auto e = need(proto.uint64_data_size()))
      return e;
    for (size_t i = 0; i < n; ++i)
      put(i, proto.uint64_data(i));
    break;
  default:
    if (auto e = need(proto.int32_data_size()))
      return e;
    for (size_t i = 0; i < n; ++i)
      put(i, (int64_t)proto.int32_data(i));
    break;
  }
  return llvm::Error::success();
}

static llvm::Expected<Tensor> parsePb(StringRef path, StringRef buf) {
  onnx::TensorProto proto;
  if (!proto.ParseFromArray(buf.data(), (int)buf.size()))
    return makeError(path, "not an ONNX TensorProto (parse failed)");
  Tensor t;
  t.name = proto.name();
  const char *dt = onnxDtype(proto.data_type());
  if (!dt)
    return makeError(path, "unsupported TensorProto data type " +
                               llvm::Twine(proto.data_type()));
  t.dtype = dt;
  for (int64_t d : proto.dims())
    t.shape.push_back(d);
  size_t bytes;
  if (!byteSizeOf(t.shape, t.elementSize(), bytes))
    return makeError(path, "dims " + shapeText(t.shape) +
                               " are negative or overflow a 64-bit size");
  size_t n = t.numElements(), es = t.elementSize();
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != n * es)
      return makeError(path, "raw_data size does not match the shape");
    t.data.assign(proto.raw_data().begin(), proto.raw_data().end());
    return t;
  }
  // Typed fields hold at most one value per byte of the file: reject
  // shapes that claim more before allocating (corrupt or non-tensor files).
  if (n > buf.size() + 1)
    return makeError(path, "shape " + llvm::Twine(n) +
                               " elements is larger than the file allows");
  if (llvm::Error e = decodeTypedFields(proto, n, es, t.data))
    return makeError(path, llvm::toString(std::move(e)));
  return t;
}

llvm::Expected<std::vector<Tensor>> readTensorFile(StringRef path) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buf)
    return makeError(path, "cannot open: " + buf.getError().message());
  StringRef data = (*buf)->getBuffer();
  StringRef stem = llvm::sys::path::stem(path);
  if (path.ends_with(".npz"))
    return parseNpz(path, data);
  llvm::Expected<Tensor> t = path.ends_with(".pb") ? parsePb(path, data)
                                                   : parseNpy(path, data);
  if (!t)
    return t.takeError();
  if (t->name.empty())
    t->name = stem.str();
  std::vector<Tensor> out;
  out.push_back(std::move(*t));
  return out;
}

llvm::Expected<std::vector<Tensor>> readNumberedTensors(StringRef dir,
                                                       StringRef prefix) {
  std::vector<Tensor> out;
  for (int i = 0;; ++i) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, prefix + std::to_string(i) + ".pb");
    if (!llvm::sys::fs::exists(p))
      break;
    auto t = readTensorFile(p);
    if (!t)
      return t.takeError();
    out.push_back(std::move((*t)[0]));
  }
  return out;
}

llvm::Error writeNpy(StringRef path, const Tensor &t) {
  const char *descr = numpyDescr(t.dtype);
  if (!descr)
    return makeError(path, "cannot write dtype '" + t.dtype + "' as .npy");
  std::string header = "{'descr': '" + std::string(descr) +
                       "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape.size(); ++i)
    header += std::to_string(t.shape[i]) + (t.shape.size() == 1 ? "," : (i + 1 < t.shape.size() ? ", " : ""));
  header += "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += "\n";
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return makeError(path, "cannot write: " + ec.message());
  os << "\x93NUMPY" << (char)1 << (char)0;
  uint16_t len = header.size();
  os.write((const char *)&len, 2);
  os << header;
  os.write(t.data.data(), t.data.size());
  return llvm::Error::success();
}

std::vector<double> toDoubles(const Tensor &t) {
  size_t n = t.numElements();
  std::vector<double> out(n);
  const char *p = t.data.data();
  for (size_t i = 0; i < n; ++i) {
    const char *e = p + i * t.elementSize();
    double v = 0;
    if (t.dtype == "float32") { float f; std::memcpy(&f, e, 4); v = f; }
    else if (t.dtype == "float64") std::memcpy(&v, e, 8);
    else if (t.dtype == "float16" || t.dtype == "bfloat16") {
      uint16_t bits; std::memcpy(&bits, e, 2);
      llvm::APFloat ap(t.dtype == "float16" ? llvm::APFloat::IEEEhalf() : llvm::APFloat::BFloat(), llvm::APInt(16, bits));
      bool lost; ap.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven, &lost);
      v = ap.convertToDouble();
    }
    else if (t.dtype == "int64") { int64_t x; std::memcpy(&x, e, 8); v = (double)x; }
    else if (t.dtype == "uint64") { uint64_t x; std::memcpy(&x, e, 8); v = (double)x; }
    else if (t.dtype == "int32") { int32_t x; std::memcpy(&x, e, 4); v = x; }
    else if (t.dtype == "uint32") { uint32_t x; std::memcpy(&x, e, 4); v = x; }
    else if (t.dtype == "int16") { int16_t x; std::memcpy(&x, e, 2); v = x; }
    else if (t.dtype == "uint16") { uint16_t x; std::memcpy(&x, e, 2); v = x; }
    else if (t.dtype == "int8") v = (int8_t)*e;
    else v = (uint8_t)*e; // uint8, bool
    out[i] = v;
  }
  return out;
}

TensorComparison compareTensors(const Tensor &got, const Tensor &want,
                                double rtol, double atol) {
  TensorComparison c;
  if (got.shape != want.shape || got.numElements() != want.numElements()) {
    c.shapeOk = false;
    return c;
  }
  std::vector<double> g = toDoubles(got), w = toDoubles(want);
  for (size_t i = 0; i < g.size(); ++i) {
    double a = g[i], b = w[i];
    if (std::isnan(a) && std::isnan(b))
      continue;
    if (std::isinf(a) && std::isinf(b) && (a > 0) == (b > 0))
      continue;
    double d = std::fabs(a - b);
    double r = d / std::max(std::fabs(b), 1e-30);
    if (std::isnan(d))
      d = r = INFINITY;
    c.maxAbs = std::max(c.maxAbs, d);
    if (std::fabs(b) > atol)
      c.maxRel = std::max(c.maxRel, r);
    if (d > atol + rtol * std::fabs(b)) {
      if (!c.mismatches) {
        c.firstBad = i;
        c.firstGot = a;
        c.firstWant = b;
      }
      ++c.mismatches;
    }
  }
  return c;
}

} // namespace qopt::io
