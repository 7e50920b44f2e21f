//===- HostTensorTest.cpp - Import-time tensors ----------------------------===//

#include "HostTensor.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace qopt::onnx_frontend;

TEST(HostTensor, CastFollowsOnnxSemantics) {
  HostTensor f(DType::F32, {4});
  f.setF(0, 2.9);
  f.setF(1, -2.9);
  f.setF(2, 300.0);
  f.setF(3, 0.0);
  HostTensor i = f.castTo(DType::I32);
  EXPECT_EQ(i.i[0], 2); // truncation toward zero
  EXPECT_EQ(i.i[1], -2);
  EXPECT_EQ(i.i[2], 300);
  HostTensor u8 = i.castTo(DType::U8);
  EXPECT_EQ(u8.i[2], 44); // wraps modulo 256
  HostTensor b = f.castTo(DType::Bool);
  EXPECT_EQ(b.i[0], 1);
  EXPECT_EQ(b.i[3], 0);
}

TEST(HostTensor, FloatStorageRoundsToElementType) {
  HostTensor h(DType::F16, {1});
  h.setF(0, 1.0 + 1.0 / 4096); // below half's resolution at 1.0
  EXPECT_EQ(h.f[0], 1.0);
  HostTensor f(DType::F32, {1});
  f.setF(0, 0.1);
  EXPECT_EQ(f.f[0], (double)0.1f);
}

TEST(HostTensor, BytesRoundTripEveryType) {
  for (DType t : {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I8,
                  DType::U8, DType::I16, DType::U16, DType::I32, DType::U32,
                  DType::I64, DType::Bool}) {
    HostTensor a(t, {2, 3});
    for (int k = 0; k < 6; ++k)
      a.setI(k, k * 3 - 7 + (t == DType::Bool ? 7 : 0));
    std::vector<char> bytes = a.toBytes();
    ASSERT_EQ(bytes.size(), 6u * dtypeBits(t) / 8) << dtypeName(t);
    HostTensor b;
    ASSERT_TRUE(HostTensor::fromBytes(t, {2, 3}, bytes, b)) << dtypeName(t);
    for (int k = 0; k < 6; ++k)
      EXPECT_EQ(a.getF(k), b.getF(k)) << dtypeName(t) << " element " << k;
  }
  HostTensor bad;
  EXPECT_FALSE(HostTensor::fromBytes(DType::F32, {3}, std::vector<char>(8), bad));
}

TEST(HostTensor, Broadcasting) {
  llvm::SmallVector<int64_t> out;
  EXPECT_TRUE(broadcastShapes({2, 1, 4}, {3, 1}, out));
  EXPECT_EQ(out, (llvm::SmallVector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(broadcastShapes({}, {5}, out));
  EXPECT_EQ(out, (llvm::SmallVector<int64_t>{5}));
  EXPECT_FALSE(broadcastShapes({2, 3}, {4}, out));
  EXPECT_EQ(shapeToString({1, 128}), "1x128");
  EXPECT_EQ(rowMajorStrides({2, 3, 4}), (llvm::SmallVector<int64_t>{12, 4, 1}));
}
