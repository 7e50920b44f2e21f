//===- GroupedInt8MatMul.cpp - x86 W4A8 kernels ---------------------------===//
//
// Part of qopt-x86-int8-matmul: an integer qopt.matmul over constant
// group-wise 4-bit weights (W4A8: int8 activations, int4 weights with one
// scale, and maybe one zero point, per group of G reduction steps) becomes
// a register-blocked loop nest around the target's 4-way u8 x s8 dot
// product, the 4-bit codes unpacked in registers. Same three ISA levels as
// the 8-bit kernel: `vpdpbusd zmm`, `{vex} vpdpbusd ymm`, and AVX2's
// `vpmaddubsw` + `vpmaddwd`.
//
// The op's arithmetic (what the reference lowering computes): per group g
// an exact i32 partial sum P[g] = sum_{k in g} a_k * (w_k - z_g), then
// acc = fma(s_w[g], float(P[g]), acc) for g = 0, 1, ... from acc = 0, and
// y = s_a * acc. The kernel keeps that order, so it is bit-identical.
//
// Packed weights, at compile time. For each block of V * L output columns
// (L = i32 lanes, V vectors), each group, and each step of 8 reduction
// values k0..k0+7 of the group: V vectors of 4L bytes, byte c * 4 + t of
// vector j holding column (block * V + j) * L + c's unsigned code u at
// k0 + t in its low nibble and at k0 + 4 + t in its high one. Signed codes
// are stored as u = w + 8 and their zero is 8 + z; unsigned codes as they
// are. The kernel takes the nibbles apart with a mask and a 16-bit shift
// and subtracts the zero bytes of the group, which gives d = w - z in
// [-15, 15] as signed bytes. Columns past N and steps past K hold their
// zero (d = 0).
//
// Activations are signed codes; the dot instructions read them unsigned,
// so their sign bit is flipped once over the input (u = a + 128), and
//   sum u * d = P + 128 * sum d,
// whose last term is a compile-time constant per column and group,
// subtracted before the float step. AVX2 multiplies u8 by s8 bytes into
// saturating i16 pair sums: with |d| <= 32, the two nibbles' pair sums of a
// step add in i16 exactly (4 * 255 * 32 < 2^15) before vpmaddwd widens
// them; products with larger differences keep the generic lowering.
//
// Register blocking: R rows x V vectors, with R x V i32 partial sums and
// R x V f32 accumulators live: 4 x 2 zmm (of 32 registers), 4 x 1 ymm (of
// 16). Column blocks are the outer loop, the rows inner, and with more
// than one row block the groups go in chunks whose packed weights fit in
// half of L1 (the f32 accumulators pass through the output between
// chunks, which keeps the fma order).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilders.h"
#include "LoweringUtils.h"

#include "qopt/QOptDialect.h"
#include "qopt/Target/X86/X86Target.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstring>

using namespace mlir;

namespace qopt::x86 {
namespace {

/// One ISA level's register block.
struct GroupedShape {
  int64_t lanes;         // i32 lanes of a vector register
  int64_t vectorsPerRow; // V
  int64_t rows;          // R
  bool vnni;             // vpdpbusd (else vpmaddubsw + vpmaddwd)

  int64_t bytes() const { return lanes * 4; }
  int64_t blockColumns() const { return lanes * vectorsPerRow; }
};

GroupedShape groupedShapeOf(Int8Kernel kernel) {
  switch (kernel) {
  case Int8Kernel::Avx512Vnni:
    return {16, 2, 4, true};
  case Int8Kernel::AvxVnni:
    return {8, 1, 4, true};
  case Int8Kernel::Avx2:
  case Int8Kernel::None:
    return {8, 1, 4, false};
  }
  llvm_unreachable("unknown int8 kernel");
}

struct GroupedInt8MatMul : OpRewritePattern<MatMulOp> {
  GroupedInt8MatMul(MLIRContext *ctx, Int8Kernel kernel,
                    SmallVectorImpl<Attribute> &records)
      : OpRewritePattern(ctx), kernel(kernel), shape(groupedShapeOf(kernel)),
        records(records) {}

  LogicalResult matchAndRewrite(MatMulOp op,
                                PatternRewriter &rewriter) const override {
    SchemeAttr scheme = op.getScheme();
    auto resultType = op.getResult().getType();
    if (!op.hasIntegerInput() || op.getOutlierInput() ||
        scheme.getKind() != QuantKind::Int || scheme.getBits() != 4 ||
        scheme.getGranularity() != Granularity::Group ||
        !resultType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "not a group-wise int4 product");
    int64_t group = scheme.getGroupSize();
    if (group % 8)
      return rewriter.notifyMatchFailure(op, "groups not a multiple of 8");
    ElementsAttr weightAttr = constantOf(op.getWeight());
    ElementsAttr scaleAttr = constantOf(op.getWeightScales());
    ElementsAttr zeroAttr;
    if (Value z = op.getWeightZeroPoints())
      zeroAttr = constantOf(z);
    if (!weightAttr || !scaleAttr || (op.getWeightZeroPoints() && !zeroAttr))
      return rewriter.notifyMatchFailure(
          op, "weights, scales or zero points are not constants");
    int64_t n = op.getN(), k = op.getK();
    int64_t kp = scheme.getPaddedLength(k), groups = kp / group,
            steps = group / 8;
    int64_t rowBytes = op.getWeight().getType().getDimSize(1);
    FailureOr<std::vector<char>> wBytes =
        constantBytes(weightAttr, cast<ShapedType>(weightAttr.getType()));
    FailureOr<std::vector<char>> sBytes =
        constantBytes(scaleAttr, cast<ShapedType>(scaleAttr.getType()));
    FailureOr<std::vector<char>> zBytes = std::vector<char>();
    if (zeroAttr)
      zBytes = constantBytes(zeroAttr, cast<ShapedType>(zeroAttr.getType()));
    if (failed(wBytes) || failed(sBytes) || failed(zBytes) ||
        int64_t(wBytes->size()) != n * rowBytes || 2 * rowBytes < k ||
        int64_t(sBytes->size()) != n * groups * 4 ||
        (zeroAttr && int64_t(zBytes->size()) != n * groups))
      return rewriter.notifyMatchFailure(op, "unreadable weight parameters");

    bool signedCodes = !scheme.getIsUnsigned();
    // The code of column c at k < K, and the zero point of its group g.
    auto code = [&](int64_t c, int64_t t) -> int32_t {
      auto byte = static_cast<uint8_t>((*wBytes)[c * rowBytes + t / 2]);
      int32_t v = (byte >> (4 * (t % 2))) & 15;
      return signedCodes && v >= 8 ? v - 16 : v;
    };
    auto zero = [&](int64_t c, int64_t g) -> int32_t {
      return zeroAttr ? static_cast<uint8_t>((*zBytes)[c * groups + g]) : 0;
    };
    int32_t codeBias = signedCodes ? 8 : 0;
    // The products' differences d = w - z must fit the kernel's bytes
    // (AVX2: its i16 pair sums).
    int32_t maxDiff = shape.vnni ? 127 : 32;
    for (int64_t c = 0; c < n; ++c)
      for (int64_t t = 0; t < k; ++t) {
        int32_t d = code(c, t) - zero(c, t / group);
        if (d > maxDiff || d < -maxDiff || codeBias + zero(c, t / group) > 255)
          return rewriter.notifyMatchFailure(
              op, "a weight's difference from its zero point is too large "
                  "for the kernel's bytes");
      }

    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type i8 = rewriter.getI8Type(), i16 = rewriter.getI16Type(),
         i32 = rewriter.getI32Type(), f32 = rewriter.getF32Type();
    const int64_t lanes = shape.lanes, vectors = shape.vectorsPerRow,
                  vbytes = shape.bytes();
    const int64_t blockColumns = shape.blockColumns();
    int64_t np = roundUp(n, blockColumns), blocks = np / blockColumns;
    const int64_t stepBytes = vectors * vbytes;

    // Compile-time packing: nibbles, zero bytes (with zero points), the
    // compensation 128 * sum d and the scales, per (block, group).
    std::vector<char> packed(blocks * groups * steps * stepBytes, 0);
    std::vector<char> zeroBytes;
    if (zeroAttr)
      zeroBytes.assign(blocks * groups * stepBytes, 0);
    std::vector<int32_t> comp(blocks * groups * blockColumns, 0);
    std::vector<float> scales(blocks * groups * blockColumns, 0.f);
    for (int64_t c = 0; c < np; ++c) {
      int64_t b = c / blockColumns, j = (c % blockColumns) / lanes,
              lane = c % lanes;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t e = c < n ? codeBias + zero(c, g) : codeBias;
        int64_t bg = b * groups + g;
        if (zeroAttr)
          for (int64_t t = 0; t < 4; ++t)
            zeroBytes[bg * stepBytes + j * vbytes + lane * 4 + t] =
                static_cast<char>(e);
        int32_t sum = 0;
        for (int64_t s = 0; s < steps; ++s)
          for (int64_t t = 0; t < 4; ++t) {
            int64_t k0 = g * group + s * 8 + t;
            auto stored = [&](int64_t kk) -> int32_t {
              if (c >= n || kk >= k)
                return e; // d = 0
              int32_t w = code(c, kk);
              sum += w - zero(c, g);
              return w + codeBias;
            };
            int32_t lo = stored(k0), hi = stored(k0 + 4);
            packed[(bg * steps + s) * stepBytes + j * vbytes + lane * 4 + t] =
                static_cast<char>(lo | (hi << 4));
          }
        comp[bg * blockColumns + c % blockColumns] = 128 * sum;
        if (c < n) {
          float sw;
          std::memcpy(&sw, sBytes->data() + (c * groups + g) * 4, 4);
          scales[bg * blockColumns + c % blockColumns] = sw;
        }
      }
    }
    auto bytesOf = [](const auto &v) {
      return ArrayRef<char>(reinterpret_cast<const char *>(v.data()),
                            v.size() * sizeof(v[0]));
    };
    Value packedW = createConstant(
        rewriter, loc,
        RankedTensorType::get({blocks, groups * steps, stepBytes}, i8), packed);
    Value zeroW;
    if (zeroAttr)
      zeroW = createConstant(
          rewriter, loc, RankedTensorType::get({blocks, groups, stepBytes}, i8),
          zeroBytes);
    Value compW = createConstant(
        rewriter, loc,
        RankedTensorType::get({blocks, groups, blockColumns}, i32),
        bytesOf(comp));
    Value scaleW = createConstant(
        rewriter, loc,
        RankedTensorType::get({blocks, groups, blockColumns}, f32),
        bytesOf(scales));
    records.push_back(kernelRecord(
        rewriter, op.getLoc(), kernel, n, k,
        llvm::formatv("[{0} column blocks][{1} groups x {2} steps of 8 k]"
                      "[{3} x {4} B: column * 4 + k, k and k + 4 in the low "
                      "and high nibbles]",
                      blocks, groups, steps, vectors, vbytes),
        shape.rows, blockColumns,
        {rewriter.getNamedAttr(
            "weights", rewriter.getStringAttr(
                           llvm::formatv("int4 groups of {0}{1}", group,
                                         zeroAttr ? ", zero points" : "")))}));

    // The activation codes as [M, Kp] rows, zero-padded to whole groups,
    // their sign bit flipped once (u = a + 128).
    Value a = lowering::collapseRows(rewriter, loc, op.getInput());
    int64_t m = cast<RankedTensorType>(a.getType()).getDimSize(0);
    if (kp != k) {
      Value zeroCode =
          arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(i8));
      a = tensor::PadOp::create(
          rewriter, loc, RankedTensorType::get({m, kp}, i8), a,
          getAsIndexOpFoldResult(ctx, {0, 0}),
          getAsIndexOpFoldResult(ctx, {0, kp - k}), zeroCode);
    }
    a = flipSignBits(rewriter, loc, a);

    int64_t chunk = std::max<int64_t>(1, kChunkBytes / (steps * stepBytes));
    if (m <= shape.rows || groups <= chunk)
      chunk = groups;
    bool chunked = chunk < groups;
    Value init =
        tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{m, np}, f32);
    if (chunked)
      init =
          linalg::FillOp::create(rewriter, loc,
                                 ValueRange{arith::ConstantOp::create(
                                     rewriter, loc, rewriter.getZeroAttr(f32))},
                                 ValueRange{init})
              .getResult(0);

    auto accType = VectorType::get({lanes}, i32);
    auto floatType = VectorType::get({lanes}, f32);
    auto byteType = VectorType::get({vbytes}, i8);
    auto halfType = VectorType::get({vbytes / 2}, i16);
    auto splat = [&](VectorType t, Attribute v) -> Value {
      return arith::ConstantOp::create(rewriter, loc, t,
                                       DenseElementsAttr::get(t, v));
    };
    Value zeroAcc = splat(accType, rewriter.getI32IntegerAttr(0));
    Value zeroFloat = splat(floatType, rewriter.getF32FloatAttr(0.f));
    Value lowMask = splat(byteType, rewriter.getI8IntegerAttr(15));
    Value four16 = splat(halfType, rewriter.getI16IntegerAttr(4));
    Value biasBytes;
    if (!zeroAttr)
      biasBytes = splat(byteType, rewriter.getI8IntegerAttr(codeBias));
    Value ones16;
    if (!shape.vnni)
      ones16 = splat(halfType, rewriter.getI16IntegerAttr(1));
    Value c0 = indexConst(rewriter, loc, 0);

    // acc + the dot products of the broadcast activations `lo` / `hi`
    // with the weight differences `dLo` / `dHi` (one step).
    auto step = [&](OpBuilder &b, Location l, Value acc, Value lo, Value hi,
                    Value dLo, Value dHi) -> Value {
      if (shape.vnni) {
        StringRef stub = lanes == 16 ? kVpdpbusd512 : kVpdpbusd256;
        acc = callStub(b, l, stub, accType, {acc, lo, dLo});
        return callStub(b, l, stub, accType, {acc, hi, dHi});
      }
      Value p = callStub(b, l, kPmaddubsw256, halfType, {lo, dLo});
      Value q = callStub(b, l, kPmaddubsw256, halfType, {hi, dHi});
      Value pq = arith::AddIOp::create(b, l, p, q);
      return arith::AddIOp::create(
          b, l, acc, callStub(b, l, kPmaddwd256, accType, {pq, ones16}));
    };

    // One register block: `rows` rows from `row0`, the block's columns
    // from `col0`, over the groups [g0, g1); returns `out` with its
    // accumulators stored.
    auto block = [&](OpBuilder &b, Value out, Value row0, Value col0, Value g0,
                     Value g1, int64_t rows) -> Value {
      SmallVector<Value> start;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < vectors; ++j) {
          if (!chunked) {
            start.push_back(zeroFloat);
            continue;
          }
          Value row =
              arith::AddIOp::create(b, loc, row0, indexConst(b, loc, r));
          Value col = arith::AddIOp::create(b, loc, col0,
                                            indexConst(b, loc, j * lanes));
          start.push_back(readVector(b, loc, floatType, out, {row, col}));
        }
      Value cb = arith::DivUIOp::create(b, loc, col0,
                                        indexConst(b, loc, blockColumns));
      auto groupLoop = scf::ForOp::create(
          b, loc, g0, g1, indexConst(b, loc, 1), start,
          [&](OpBuilder &gb, Location l, Value g, ValueRange faccs) {
            SmallVector<Value> zeroVecs;
            for (int64_t j = 0; j < vectors; ++j)
              zeroVecs.push_back(
                  zeroAttr ? readVector(gb, l, byteType, zeroW,
                                        {cb, g, indexConst(gb, l, j * vbytes)})
                           : biasBytes);
            Value firstStep =
                arith::MulIOp::create(gb, l, g, indexConst(gb, l, steps));
            Value kGroup =
                arith::MulIOp::create(gb, l, g, indexConst(gb, l, group));
            SmallVector<Value> accStart(rows * vectors, zeroAcc);
            auto stepLoop = scf::ForOp::create(
                gb, l, c0, indexConst(gb, l, steps), indexConst(gb, l, 1),
                accStart,
                [&](OpBuilder &sb, Location sl, Value s, ValueRange accs) {
                  Value idx = arith::AddIOp::create(sb, sl, firstStep, s);
                  SmallVector<Value> dLo, dHi;
                  for (int64_t j = 0; j < vectors; ++j) {
                    Value raw =
                        readVector(sb, sl, byteType, packedW,
                                   {cb, idx, indexConst(sb, sl, j * vbytes)});
                    Value lo = arith::AndIOp::create(sb, sl, raw, lowMask);
                    Value shifted = arith::ShRUIOp::create(
                        sb, sl,
                        vector::BitCastOp::create(sb, sl, halfType, raw),
                        four16);
                    Value hi = arith::AndIOp::create(
                        sb, sl,
                        vector::BitCastOp::create(sb, sl, byteType, shifted),
                        lowMask);
                    dLo.push_back(
                        arith::SubIOp::create(sb, sl, lo, zeroVecs[j]));
                    dHi.push_back(
                        arith::SubIOp::create(sb, sl, hi, zeroVecs[j]));
                  }
                  Value k0 = arith::AddIOp::create(
                      sb, sl, kGroup,
                      arith::MulIOp::create(sb, sl, s, indexConst(sb, sl, 8)));
                  Value k4 =
                      arith::AddIOp::create(sb, sl, k0, indexConst(sb, sl, 4));
                  SmallVector<Value> next;
                  for (int64_t r = 0; r < rows; ++r) {
                    Value row = arith::AddIOp::create(sb, sl, row0,
                                                      indexConst(sb, sl, r));
                    Value lo = broadcastQuad(sb, sl, byteType, a, row, k0);
                    Value hi = broadcastQuad(sb, sl, byteType, a, row, k4);
                    for (int64_t j = 0; j < vectors; ++j)
                      next.push_back(step(sb, sl, accs[r * vectors + j], lo, hi,
                                          dLo[j], dHi[j]));
                  }
                  scf::YieldOp::create(sb, sl, next);
                });
            // P = sum u * d - 128 * sum d; acc = fma(s_w, float(P), acc).
            SmallVector<Value> comps, sws, next;
            for (int64_t j = 0; j < vectors; ++j) {
              Value col = indexConst(gb, l, j * lanes);
              comps.push_back(readVector(gb, l, accType, compW, {cb, g, col}));
              sws.push_back(readVector(gb, l, floatType, scaleW, {cb, g, col}));
            }
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t j = 0; j < vectors; ++j) {
                Value p = arith::SubIOp::create(
                    gb, l, stepLoop.getResult(r * vectors + j), comps[j]);
                Value f = arith::SIToFPOp::create(gb, l, floatType, p);
                next.push_back(math::FmaOp::create(gb, l, sws[j], f,
                                                   faccs[r * vectors + j]));
              }
            scf::YieldOp::create(gb, l, next);
          });
      return storeBlock(b, loc, out, groupLoop.getResults(), row0, col0, rows,
                        vectors, lanes);
    };

    auto rowBlocks = [&](OpBuilder &b, Value out, Value col0, Value g0,
                         Value g1) {
      return forEachRowBlock(
          b, loc, out, m, shape.rows,
          [&](OpBuilder &rb, Value inner, Value row0, int64_t rows) {
            return block(rb, inner, row0, col0, g0, g1, rows);
          });
    };
    Value acc = forEachColumnBlock(
        rewriter, loc, init, np, blockColumns, groups, chunk,
        [&](OpBuilder &b, Value out, Value col0, Value g0, Value g1) {
          return rowBlocks(b, out, col0, g0, g1);
        });
    if (np != n)
      acc = tensor::ExtractSliceOp::create(
          rewriter, loc, RankedTensorType::get({m, n}, f32), acc, ValueRange{},
          ValueRange{}, ValueRange{}, rewriter.getDenseI64ArrayAttr({0, 0}),
          rewriter.getDenseI64ArrayAttr({m, n}),
          rewriter.getDenseI64ArrayAttr({1, 1}));

    // y = s_a * acc, the reference's last step.
    auto [sa, saMap] = rowParameter(rewriter, loc, op.getInputScale(), m);
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
    Value y =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{acc.getType()}, ValueRange{sa, acc},
            ValueRange{lowering::emptyLike(rewriter, loc, {m, n}, f32)},
            SmallVector<AffineMap>{saMap, id, id}, lowering::parallel(2),
            [&](OpBuilder &b, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  b, l, Value(arith::MulFOp::create(b, l, args[0], args[1])));
            })
            .getResult(0);
    rewriter.replaceOp(op, lowering::expandRows(rewriter, loc, y, resultType));
    return success();
  }

  Int8Kernel kernel;
  GroupedShape shape;
  SmallVectorImpl<Attribute> &records;
};

} // namespace

void populateGroupedInt8MatMulPatterns(RewritePatternSet &patterns,
                                       Int8Kernel kernel,
                                       SmallVectorImpl<Attribute> &records) {
  patterns.add<GroupedInt8MatMul>(patterns.getContext(), kernel, records);
}

} // namespace qopt::x86
