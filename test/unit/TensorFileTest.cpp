//===- TensorFileTest.cpp - .npy/.npz/.pb reading and writing --------------===//

#include "qopt/Runtime/TensorFile.h"

#include <onnx/onnx_pb.h>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace qopt::io;

namespace {

std::string tempPath(const char *suffix) {
  llvm::SmallString<128> p;
  llvm::sys::fs::createTemporaryFile("qopt-unit", suffix, p);
  return std::string(p);
}

Tensor makeTensor(const std::string &dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.data.resize(t.numElements() * t.elementSize());
  for (size_t i = 0; i < t.data.size(); ++i)
    t.data[i] = (char)(i * 37 + 11);
  return t;
}

} // namespace

TEST(TensorFile, NpyRoundTrip) {
  for (auto [dtype, shape] :
       std::vector<std::pair<std::string, std::vector<int64_t>>>{
           {"float32", {2, 3}}, {"int64", {}}, {"bool", {4}},
           {"float16", {1, 2, 2}}, {"uint8", {5}}, {"int32", {3, 1}}}) {
    Tensor t = makeTensor(dtype, shape);
    if (dtype == "bool")
      for (char &c : t.data)
        c &= 1;
    std::string path = tempPath("npy");
    ASSERT_FALSE(writeNpy(path, t));
    auto back = readTensorFile(path);
    ASSERT_TRUE((bool)back) << llvm::toString(back.takeError());
    ASSERT_EQ(back->size(), 1u);
    EXPECT_EQ((*back)[0].dtype, dtype);
    EXPECT_EQ((*back)[0].shape, shape);
    EXPECT_EQ((*back)[0].data, t.data);
    llvm::sys::fs::remove(path);
  }
}

TEST(TensorFile, TruncatedAndCorruptFilesAreErrors) {
  Tensor t = makeTensor("float32", {8});
  std::string path = tempPath("npy");
  ASSERT_FALSE(writeNpy(path, t));
  // Drop the last 4 bytes.
  auto buf = llvm::MemoryBuffer::getFile(path);
  std::string bytes = (*buf)->getBuffer().drop_back(4).str();
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << bytes;
  }
  auto r = readTensorFile(path);
  ASSERT_FALSE((bool)r);
  EXPECT_NE(llvm::toString(r.takeError()).find("truncated"), std::string::npos);
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << "not numpy at all";
  }
  auto r2 = readTensorFile(path);
  ASSERT_FALSE((bool)r2);
  EXPECT_NE(llvm::toString(r2.takeError()).find("bad magic"), std::string::npos);
  llvm::sys::fs::remove(path);
}

TEST(TensorFile, NpzStoredMembers) {
  // Two stored members, as numpy.savez writes them.
  Tensor a = makeTensor("float32", {2});
  Tensor b = makeTensor("int64", {1});
  std::string pa = tempPath("npy"), pb = tempPath("npy");
  ASSERT_FALSE(writeNpy(pa, a));
  ASSERT_FALSE(writeNpy(pb, b));
  std::string zip;
  auto member = [&](const std::string &name, const std::string &path) {
    std::string data = (*llvm::MemoryBuffer::getFile(path))->getBuffer().str();
    char h[30] = {};
    uint32_t sig = 0x04034b50, size = data.size();
    uint16_t nameLen = name.size();
    std::memcpy(h, &sig, 4);
    std::memcpy(h + 18, &size, 4);
    std::memcpy(h + 22, &size, 4);
    std::memcpy(h + 26, &nameLen, 2);
    zip.append(h, 30);
    zip += name;
    zip += data;
  };
  member("alpha.npy", pa);
  member("beta.npy", pb);
  std::string pz = tempPath("npz");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(pz, ec);
    os << zip;
  }
  auto r = readTensorFile(pz);
  ASSERT_TRUE((bool)r) << llvm::toString(r.takeError());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "alpha");
  EXPECT_EQ((*r)[0].data, a.data);
  EXPECT_EQ((*r)[1].name, "beta");
  EXPECT_EQ((*r)[1].dtype, "int64");
  for (auto &p : {pa, pb, pz})
    llvm::sys::fs::remove(p);
}

// Typed TensorProto fields decode to little-endian element bytes; narrower
// types keep the low bytes of int32_data.
TEST(TensorFile, DecodesTypedFields) {
  onnx::TensorProto i8;
  i8.set_data_type(3);
  for (int v : {-1, 5, -128})
    i8.add_int32_data(v);
  std::vector<char> bytes;
  ASSERT_FALSE((bool)decodeTypedFields(i8, 3, 1, bytes));
  EXPECT_EQ(bytes, (std::vector<char>{'\xff', 5, '\x80'}));

  onnx::TensorProto f16; // float16 bits in int32_data: 1.0 and -2.0
  f16.set_data_type(10);
  f16.add_int32_data(0x3c00);
  f16.add_int32_data(0xc000);
  ASSERT_FALSE((bool)decodeTypedFields(f16, 2, 2, bytes));
  EXPECT_EQ(bytes, (std::vector<char>{0, 0x3c, 0, '\xc0'}));

  onnx::TensorProto u32; // uint32 in uint64_data
  u32.set_data_type(12);
  u32.add_uint64_data(0xdeadbeefu);
  ASSERT_FALSE((bool)decodeTypedFields(u32, 1, 4, bytes));
  uint32_t v;
  std::memcpy(&v, bytes.data(), 4);
  EXPECT_EQ(v, 0xdeadbeefu);

  onnx::TensorProto f32;
  f32.set_data_type(1);
  f32.add_float_data(1.5f);
  llvm::Error short_ = decodeTypedFields(f32, 2, 4, bytes);
  EXPECT_EQ(llvm::toString(std::move(short_)), "has 1 values, expected 2");
}

/// A .npy or .pb header may claim any shape: dims whose element count or
/// byte size overflows (wrapping to 0 bytes, which an empty payload would
/// match) and negative dims are errors, not tensors.
TEST(TensorFile, OverflowingShapesAreErrors) {
  auto writeFile = [](const std::string &path, const std::string &bytes) {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << bytes;
  };
  auto npyWithShape = [](const std::string &shape) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                         shape + "), }";
    while ((10 + header.size() + 1) % 64)
      header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY\x01";
    out += '\0';
    out += (char)(header.size() & 0xff);
    out += (char)(header.size() >> 8);
    return out + header;
  };
  std::string path = tempPath("npy");
  // 2^32 * 2^32 elements wrap to 0; 2^62 floats are 2^64 bytes.
  for (const char *shape : {"4294967296, 4294967296", "4611686018427387904,"}) {
    writeFile(path, npyWithShape(shape));
    auto r = readTensorFile(path);
    ASSERT_FALSE((bool)r) << shape;
    EXPECT_NE(llvm::toString(r.takeError()).find("overflows a 64-bit size"),
              std::string::npos)
        << shape;
  }
  std::string pbPath = tempPath("pb");
  for (std::vector<int64_t> dims :
       {std::vector<int64_t>{4294967296, 4294967296}, {-1, 4}}) {
    onnx::TensorProto proto;
    proto.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims)
      proto.add_dims(d);
    proto.set_raw_data("");
    writeFile(pbPath, proto.SerializeAsString());
    auto r = readTensorFile(pbPath);
    ASSERT_FALSE((bool)r);
    EXPECT_NE(llvm::toString(r.takeError()).find("negative or overflow"),
              std::string::npos);
  }
  llvm::sys::fs::remove(path);
  llvm::sys::fs::remove(pbPath);
}
