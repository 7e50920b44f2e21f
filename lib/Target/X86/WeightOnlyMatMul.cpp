//===- WeightOnlyMatMul.cpp - x86 kernel for weight-only qopt.matmul ------===//
//
// The qopt-x86-weight-only-matmul pass: a float-input qopt.matmul over
// constant 2-, 4- or 8-bit integer weights (W2A16, W4A16, W8A16; symmetric,
// integer or float zero points; per channel, per tensor or group-wise), NF4
// or FP8 E4M3 weights becomes a
// register-blocked loop nest that unpacks and dequantizes the weights in
// vector registers and multiplies them into float accumulators. No
// dequantized weight exists in memory, not even a block of it.
//
// Packed weights, repacked at compile time: for each super-block of V x L
// output columns (L = f32 lanes, V vectors of a register block; the columns
// left over form one narrower super-block of whole vectors) and each step
// of the reduction, V x L bytes, byte `column` holding that column's
// code(s) at the step: four 2-bit or two 4-bit codes per byte (lowest bits
// first) or one 8-bit code. Only the steps that hold codes are
// stored: a last group shorter than the others has fewer steps. Codes are
// stored unsigned, u = code + offset (8 or 128 for signed codes), and the zero
// point moves by the same offset, so u - z' = code - z exactly. The scales (and
// zero points) are repacked to [super-block][group][V x L] so that one vector
// load gives a group's parameters for L columns.
//
// Per step, per vector: load L bytes, widen to i32, take the nibble, subtract
// the zero point in i32, convert, multiply by the scale: each weight is
// float(code - z) * s, the reference lowering's dequantized value bit for
// bit (float zero points: (float(code) - z) * s, also the reference's). Then
// one fma per row of the register block with the broadcast input. Only the
// order of the float sums differs from the reference matmul.
//
// Symmetric 4-bit codes on zmm registers take a shorter path: vpermps looks
// the low 4 bits of each i32 lane up in a 16-entry table of float(code), so
// the and, the subtraction and the conversion are one instruction (the high
// nibble needs one shift first); float(code) * s is again the reference's
// value. NF4 takes the same lookup in its 16 levels (on ymm, where vpermps
// has 8 entries: two lookups and a select on the nibble's bit 3), and FP8
// bytes are decoded with the reference's own integer and float ops on
// vectors; either way times the scale.
//
// Register blocking: R rows x V vectors of accumulators (4 x 4 zmm, or 8 x 2
// with at least 8 rows; 4 x 2 ymm), the V dequantized weight vectors shared
// by the R rows; the rows
// left over take one narrower block. M = 1 (a decode step) streams the
// weights once, and a one-row block multiplies by the scale once per group
// (fma(s, sum over the group of x * float(code - z), acc)) with the
// group's sums split over two sets of accumulators: the decode step is
// bound by memory, not by the multiplies or the fma latency.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilders.h"
#include "LoweringUtils.h"

#include "qopt/QOptDialect.h"
#include "qopt/Quant/Quant.h"
#include "qopt/Target/X86/X86Target.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <cmath>
#include <cstring>

using namespace mlir;

namespace qopt::x86 {
namespace {

/// Columns of the repacked weights that share a super-block width: `supers`
/// super-blocks of `vectors` x L columns from column `col0`, with their
/// tables (codes [supers][steps][width], parameters [supers][groups][width]).
struct Panel {
  int64_t vectors, supers, col0;
  std::vector<char> codes;
  std::vector<float> scales;
  std::vector<int32_t> intZeros;
  std::vector<float> fpZeros;
  Value codesTable, scaleTable, zeroTable;
};

/// The f32 values of FP8 E4M3 codes `x` (zero-extended into i32 lanes):
/// the reference lowering's decoding (decodeFP8E4M3) on vectors, op for op.
Value decodeFP8(OpBuilder &b, Location l, Value x) {
  auto it = cast<VectorType>(x.getType());
  auto ft = VectorType::get(it.getShape(), b.getF32Type());
  auto c = [&](int32_t v) -> Value {
    return arith::ConstantOp::create(b, l, it, DenseElementsAttr::get(it, v));
  };
  Value sign = arith::ShRUIOp::create(b, l, x, c(7));
  Value exp =
      arith::AndIOp::create(b, l, arith::ShRUIOp::create(b, l, x, c(3)), c(15));
  Value mant = arith::AndIOp::create(b, l, x, c(7));
  Value normal = vector::BitCastOp::create(
      b, l, ft,
      arith::OrIOp::create(
          b, l,
          arith::ShLIOp::create(b, l, arith::AddIOp::create(b, l, exp, c(120)),
                                c(23)),
          arith::ShLIOp::create(b, l, mant, c(20))));
  Value sub = arith::MulFOp::create(
      b, l, arith::SIToFPOp::create(b, l, ft, mant),
      arith::ConstantOp::create(b, l, ft,
                                DenseElementsAttr::get(ft, 0.001953125f)));
  Value isSub =
      arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, exp, c(0));
  Value mag = arith::SelectOp::create(b, l, isSub, sub, normal);
  Value neg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, sign, c(0));
  return arith::SelectOp::create(b, l, neg, arith::NegFOp::create(b, l, mag),
                                 mag);
}

/// The f32 values of FP8 E4M3 bytes `bytes` through F16C, 256 times too
/// small: the byte shifted into an f16's sign, exponent and mantissa fields
/// (`(x << 8) >> 1` arithmetically, with the copied sign bit cleared) is
/// x's value times 2^-8 for every code, subnormals (f16 subnormals, which
/// vcvtph2ps widens exactly) included; the kernel's scales carry the 2^8.
Value fp8ViaHalf(OpBuilder &b, Location l, Value bytes) {
  auto bt = cast<VectorType>(bytes.getType());
  auto ht = VectorType::get(bt.getShape(), b.getI16Type());
  auto c = [&](int16_t v) -> Value {
    return arith::ConstantOp::create(b, l, ht, DenseElementsAttr::get(ht, v));
  };
  Value h = arith::ExtUIOp::create(b, l, ht, bytes);
  h = arith::ShLIOp::create(b, l, h, c(8));
  h = arith::ShRSIOp::create(b, l, h, c(1));
  h = arith::AndIOp::create(b, l, h, c(int16_t(0xBFFF)));
  Value half = vector::BitCastOp::create(
      b, l, VectorType::get(bt.getShape(), b.getF16Type()), h);
  return arith::ExtFOp::create(
      b, l, VectorType::get(bt.getShape(), b.getF32Type()), half);
}

struct WeightOnlyMatMul : OpRewritePattern<MatMulOp> {
  WeightOnlyMatMul(MLIRContext *ctx, int64_t lanes, bool f16c)
      : OpRewritePattern(ctx), lanes(lanes), vectors(lanes == 16 ? 4 : 2),
        rowsPerBlock(4), f16c(f16c) {}

  LogicalResult matchAndRewrite(MatMulOp op,
                                PatternRewriter &rewriter) const override {
    SchemeAttr scheme = op.getScheme();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    const QuantKind kind = scheme.getKind();
    const bool nf4 = kind == QuantKind::NF4, fp8 = kind == QuantKind::FP8E4M3;
    if (!inputType.getElementType().isF32() ||
        !op.getResult().getType().getElementType().isF32() ||
        op.getOutlierInput() ||
        !(nf4 || fp8 ||
          (kind == QuantKind::Int &&
           llvm::is_contained({2u, 3u, 4u, 8u}, scheme.getBits()))))
      return rewriter.notifyMatchFailure(
          op, "not a 2/3/4/8-bit integer, nf4 or fp8 weight-only product");
    ElementsAttr weightAttr = constantOf(op.getWeight());
    ElementsAttr scaleAttr =
        op.getWeightScales() ? constantOf(op.getWeightScales()) : ElementsAttr();
    Value zeros = op.getWeightZeroPoints();
    ElementsAttr zeroAttr = zeros ? constantOf(zeros) : ElementsAttr();
    if (!weightAttr || !scaleAttr || (zeros && !zeroAttr))
      return rewriter.notifyMatchFailure(op, "weights or parameters are not constants");
    bool floatZeros = zeros && cast<ShapedType>(zeros.getType())
                                   .getElementType()
                                   .isF32();

    const unsigned bits = scheme.getBits();
    const int64_t n = op.getN(), k = op.getK();
    // With 8 rows or more on zmm, 8 x 2 register blocks: each dequantized
    // weight vector feeds 8 fmas rather than 4 (the dequantization, not the
    // fmas, bounds a compute-bound product: 12 % faster at 256 x 1024 x
    // 1024 than 4 x 4).
    const bool tall = lanes == 16 && inputType.getNumElements() / k >= 8;
    const int64_t vectors = tall ? 2 : this->vectors;
    const int64_t rowsPerBlock = tall ? 8 : this->rowsPerBlock;
    const int64_t kp = scheme.getPaddedLength(k);
    const int64_t group = scheme.getGroupLength(k), groups = kp / group;
    // A step of the reduction: the codes of one byte per column, or for
    // 3-bit codes 8 of them in 3 bytes (planes) per column.
    const int64_t codesPerStep = bits == 3 ? 8 : 8 / bits;
    const int64_t planes = bits == 3 ? 3 : 1;
    if (group % codesPerStep)
      return rewriter.notifyMatchFailure(op, "groups split a step");
    const int64_t rowBytes = quant::packedRowBytes(k, bits);
    FailureOr<std::vector<char>> wbytes =
        constantBytes(weightAttr, cast<ShapedType>(weightAttr.getType()));
    if (failed(wbytes) || int64_t(wbytes->size()) != n * rowBytes)
      return rewriter.notifyMatchFailure(op, "unreadable weights");
    auto scaleType = cast<RankedTensorType>(op.getWeightScales().getType());
    auto paramIndex = [&](RankedTensorType t, int64_t c, int64_t g) {
      int64_t row = t.getDimSize(0) == 1 ? 0 : c;
      int64_t col = t.getDimSize(1) == 1 ? 0 : g;
      return row * t.getDimSize(1) + col;
    };
    // Parameters as raw bytes (dense_resource blobs have no element
    // iterators).
    FailureOr<std::vector<char>> scaleBytes =
        constantBytes(scaleAttr, cast<ShapedType>(scaleAttr.getType()));
    // f16 scales stay f16 in the kernel's table and widen in registers
    // (vcvtph2ps).
    const bool halfScales = scaleType.getElementType().isF16();
    const size_t scaleSize = halfScales ? sizeof(uint16_t) : sizeof(float);
    if (failed(scaleBytes) || scaleBytes->size() % scaleSize)
      return rewriter.notifyMatchFailure(op, "unreadable scales");
    std::vector<float> scales(scaleBytes->size() / scaleSize);
    if (halfScales) {
      for (size_t i = 0; i < scales.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, scaleBytes->data() + i * sizeof(h), sizeof(h));
        scales[i] = quant::halfToFloat(h);
      }
    } else {
      std::memcpy(scales.data(), scaleBytes->data(), scaleBytes->size());
    }
    std::vector<int32_t> intZeros;
    std::vector<float> fpZeros;
    RankedTensorType zeroType;
    if (zeros) {
      zeroType = cast<RankedTensorType>(zeros.getType());
      FailureOr<std::vector<char>> zeroBytes =
          constantBytes(zeroAttr, cast<ShapedType>(zeroAttr.getType()));
      if (failed(zeroBytes))
        return rewriter.notifyMatchFailure(op, "unreadable zero points");
      if (floatZeros) {
        fpZeros.resize(zeroBytes->size() / sizeof(float));
        std::memcpy(fpZeros.data(), zeroBytes->data(),
                    fpZeros.size() * sizeof(float));
      } else if (zeroType.getElementType().isInteger(8)) {
        // Integer zero points are codes read as the reference does
        // (zero-extended).
        for (char v : *zeroBytes)
          intZeros.push_back(int32_t(static_cast<uint8_t>(v)));
      } else {
        return rewriter.notifyMatchFailure(op, "zero points wider than 8 bits");
      }
      if (int64_t(std::max(intZeros.size(), fpZeros.size())) !=
          zeroType.getNumElements())
        return rewriter.notifyMatchFailure(op, "unreadable zero points");
    }
    if (int64_t(scales.size()) != scaleType.getNumElements())
      return rewriter.notifyMatchFailure(op, "unreadable scales");
    // FP8 through F16C (fp8ViaHalf) when the scales times 2^8 stay finite
    // in their type: (x 2^-8) * (s 2^8) rounds the same real as x * s, so
    // the weights are the reference's bit for bit.
    const bool halfFP8 =
        fp8 && f16c && llvm::all_of(scales, [&](float v) {
          return std::isfinite(v * 256.f) &&
                 (!halfScales || std::fabs(v * 256.f) <= 65504.f);
        });

    // NF4 and FP8 codes are indices and bit patterns: unsigned.
    bool signedCodes = kind == QuantKind::Int && !scheme.getIsUnsigned();
    const int32_t offset = signedCodes ? (1 << (bits - 1)) : 0;
    // Steps of the reduction that hold codes: k codes, a short last group
    // stored without padding (the step loop of that group stops early).
    const int64_t steps = (k + codesPerStep - 1) / codesPerStep;
    const int64_t stepsPerGroup = group / codesPerStep;

    // Columns in panels: whole super-blocks of V x L columns, then one
    // narrower super-block of the columns left over (whole vectors), so at
    // most L - 1 columns are padding.
    const int64_t superColumns = lanes * vectors;
    const int64_t fullSupers = n / superColumns;
    const int64_t tailVectors = (n % superColumns + lanes - 1) / lanes;
    const int64_t np = fullSupers * superColumns + tailVectors * lanes;
    std::vector<Panel> panels;
    if (fullSupers)
      panels.push_back({vectors, fullSupers, 0});
    if (tailVectors)
      panels.push_back({tailVectors, 1, fullSupers * superColumns});

    // Compile-time repacking of codes and parameters, per panel.
    for (Panel &p : panels) {
      int64_t width = p.vectors * lanes;
      p.codes.assign(p.supers * steps * planes * width, 0);
      p.scales.assign(p.supers * groups * width, 0.f);
      p.intZeros.assign(p.supers * groups * width, 0);
      p.fpZeros.assign(p.supers * groups * width, 0.f);
      for (int64_t c = p.col0; c < std::min(n, p.col0 + p.supers * width);
           ++c) {
        const auto *row =
            reinterpret_cast<const uint8_t *>(wbytes->data() + c * rowBytes);
        int64_t sb = (c - p.col0) / width, lane = (c - p.col0) % width;
        for (int64_t i = 0; i < k; ++i) {
          int32_t u = quant::unpackCode(row, i, bits, signedCodes) + offset;
          // Bit `bits * (i mod codesPerStep)` of the step's little-endian
          // word of `planes` bytes.
          int64_t at = bits * (i % codesPerStep);
          for (unsigned b = 0; b < bits; ++b, ++at) {
            char &byte =
                p.codes[((sb * steps + i / codesPerStep) * planes + at / 8) *
                            width +
                        lane];
            byte = static_cast<char>(static_cast<uint8_t>(byte) |
                                     (((u >> b) & 1) << (at % 8)));
          }
        }
        for (int64_t g = 0; g < groups; ++g) {
          int64_t at = (sb * groups + g) * width + lane;
          p.scales[at] =
              scales[paramIndex(scaleType, c, g)] * (halfFP8 ? 256.f : 1.f);
          if (floatZeros)
            p.fpZeros[at] = fpZeros[paramIndex(zeroType, c, g)];
          else
            p.intZeros[at] =
                (zeros ? intZeros[paramIndex(zeroType, c, g)] : 0) + offset;
        }
      }
    }
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type i8 = rewriter.getI8Type(), i32 = rewriter.getI32Type(),
         f32 = rewriter.getF32Type();
    auto bytesOf = [](const auto &v) {
      return ArrayRef<char>(reinterpret_cast<const char *>(v.data()),
                            v.size() * sizeof(v[0]));
    };
    Type f16 = rewriter.getF16Type();
    // Integer zero points (plus the code offset) as bytes when they fit, the
    // way the weights are stored; without zero points every lane subtracts
    // the same offset, a constant.
    // Integer zero points that are all one value (as imported
    // MatMulNBits without zero points has: 8) are a constant like the
    // offset: `sharedZero`, the stored code of zero for every column.
    std::optional<int32_t> sharedZero;
    if (!zeros)
      sharedZero = offset;
    else if (!floatZeros && !intZeros.empty() && llvm::all_equal(intZeros))
      sharedZero = intZeros.front() + offset;
    bool byteZeros = llvm::all_of(panels, [](const Panel &p) {
      return llvm::all_of(p.intZeros,
                          [](int32_t v) { return v >= 0 && v < 256; });
    });
    for (Panel &p : panels) {
      int64_t width = p.vectors * lanes;
      p.codesTable = createConstant(
          rewriter, loc,
          RankedTensorType::get({p.supers, steps, planes * width}, i8),
          p.codes);
      auto paramType = [&](Type t) {
        return RankedTensorType::get({p.supers, groups, width}, t);
      };
      if (halfScales) {
        // Exact: every value came from a half (padding lanes are 0).
        std::vector<uint16_t> halves(p.scales.size());
        for (size_t i = 0; i < halves.size(); ++i)
          halves[i] = quant::floatToHalf(p.scales[i]);
        p.scaleTable =
            createConstant(rewriter, loc, paramType(f16), bytesOf(halves));
      } else {
        p.scaleTable =
            createConstant(rewriter, loc, paramType(f32), bytesOf(p.scales));
      }
      if (floatZeros) {
        p.zeroTable =
            createConstant(rewriter, loc, paramType(f32), bytesOf(p.fpZeros));
      } else if (sharedZero) {
      } else if (zeros && byteZeros) {
        std::vector<uint8_t> bytes(p.intZeros.begin(), p.intZeros.end());
        p.zeroTable =
            createConstant(rewriter, loc, paramType(i8), bytesOf(bytes));
      } else if (zeros) {
        p.zeroTable =
            createConstant(rewriter, loc, paramType(i32), bytesOf(p.intZeros));
      }
    }
    Value offsetVec;
    if (sharedZero) {
      auto ivec = VectorType::get({lanes}, i32);
      offsetVec = arith::ConstantOp::create(
          rewriter, loc, ivec, DenseElementsAttr::get(ivec, *sharedZero));
    }

    // The input as [M, K'] rows, K' the codes the steps hold (k rounded up
    // to whole bytes), padded with zeros (the spare codes of a last byte
    // are worth nothing then, whatever they decode to).
    Value x = lowering::collapseRows(rewriter, loc, op.getInput());
    int64_t m = inputType.getNumElements() / k;
    const int64_t kx = steps * codesPerStep;
    if (kx != k) {
      Value zero = arith::ConstantOp::create(rewriter, loc,
                                             rewriter.getZeroAttr(f32));
      x = tensor::PadOp::create(rewriter, loc,
                                RankedTensorType::get({m, kx}, f32), x,
                                getAsIndexOpFoldResult(ctx, {0, 0}),
                                getAsIndexOpFoldResult(ctx, {0, kx - k}), zero);
    }

    auto fvec = VectorType::get({lanes}, f32);
    auto ivec = VectorType::get({lanes}, i32);
    auto bvec = VectorType::get({lanes}, i8);
    Value zeroVec = arith::ConstantOp::create(
        rewriter, loc, fvec, DenseElementsAttr::get(fvec, 0.f));
    Value mask = arith::ConstantOp::create(
        rewriter, loc, ivec, DenseElementsAttr::get(ivec, int32_t((1 << bits) - 1)));
    Value c0 = indexConst(rewriter, loc, 0);
    Value init = tensor::EmptyOp::create(rewriter, loc,
                                         ArrayRef<int64_t>{m, np}, f32);
    // The table path: the value of each of the 16 nibbles u, NF4's levels
    // or float(u - shared zero). One 16-entry vpermps on zmm; on ymm (NF4
    // only) two 8-entry ones, the nibble's bit 3 picking between them.
    bool table = nf4 || (lanes == 16 && kind == QuantKind::Int && bits <= 4 &&
                         sharedZero);
    SmallVector<Value> levels;
    if (table) {
      // Codes narrower than 4 bits: the index's bits above the code belong
      // to the next code, so the table repeats.
      SmallVector<float> lut;
      for (int32_t u = 0; u < 16; ++u)
        lut.push_back(nf4 ? quant::kNF4Levels[u]
                          : float((u & ((1 << bits) - 1)) - *sharedZero));
      for (int64_t half = 0; half < 16 / lanes; ++half)
        levels.push_back(arith::ConstantOp::create(
            rewriter, loc, fvec,
            DenseElementsAttr::get(
                fvec, ArrayRef<float>(lut).slice(half * lanes, lanes))));
    }
    Value bit3;
    if (table && lanes == 8)
      bit3 = arith::ConstantOp::create(
          rewriter, loc, ivec, DenseElementsAttr::get(ivec, int32_t(8)));

    // One register block: `rows` rows from `row0`, super-block `sb` of
    // `panel` (at column `col0`), over the whole reduction.
    auto block = [&](OpBuilder &b, Value out, Value row0, Value col0,
                     int64_t rows, const Panel &panel, Value sb) -> Value {
      const int64_t vectors = panel.vectors;
      Value codes = panel.codesTable, scaleTable = panel.scaleTable,
            zeroTable = panel.zeroTable;
      SmallVector<Value> zerosAcc(rows * vectors, zeroVec);
      // A one-row block (a decode step) has registers to spare: the scale
      // comes out of each group's sum (acc = fma(s, sum of x * f, acc), one
      // multiply per group instead of one per weight), and alternate codes
      // of a step go into two sets of group sums, so that no fma waits for
      // the one before it.
      const bool factored = rows == 1;
      const int64_t sets = factored ? std::min<int64_t>(codesPerStep, 2) : 1;
      auto groupLoop = scf::ForOp::create(
          b, loc, c0, indexConst(b, loc, groups), indexConst(b, loc, 1),
          zerosAcc,
          [&](OpBuilder &gb, Location gl, Value g, ValueRange gaccs) {
            SmallVector<Value> s, z;
            for (int64_t j = 0; j < vectors; ++j) {
              Value off = indexConst(gb, gl, j * lanes);
              if (halfScales)
                s.push_back(arith::ExtFOp::create(
                    gb, gl, fvec,
                    readVector(gb, gl, VectorType::get({lanes}, f16),
                               scaleTable, {sb, g, off})));
              else
                s.push_back(readVector(gb, gl, fvec, scaleTable, {sb, g, off}));
              if (offsetVec)
                z.push_back(offsetVec);
              else if (floatZeros || !byteZeros)
                z.push_back(readVector(gb, gl, floatZeros ? fvec : ivec,
                                       zeroTable, {sb, g, off}));
              else
                z.push_back(arith::ExtUIOp::create(
                    gb, gl, ivec,
                    readVector(gb, gl, bvec, zeroTable, {sb, g, off})));
            }
            Value step0 = arith::MulIOp::create(
                gb, gl, g, indexConst(gb, gl, stepsPerGroup));
            // A short last group holds fewer steps.
            Value step1 = arith::MinUIOp::create(
                gb, gl,
                arith::AddIOp::create(gb, gl, step0,
                                      indexConst(gb, gl, stepsPerGroup)),
                indexConst(gb, gl, steps));
            SmallVector<Value> stepStart(gaccs.begin(), gaccs.end());
            if (factored)
              stepStart.assign(sets * vectors, zeroVec);
            auto stepLoop = scf::ForOp::create(
                gb, gl, step0, step1, indexConst(gb, gl, 1), stepStart,
                [&](OpBuilder &lb, Location l, Value t, ValueRange accs) {
                  SmallVector<Value> next(accs.begin(), accs.end());
                  // Per vector the step's word in i32 lanes: its plane
                  // bytes widened and shifted into place.
                  SmallVector<Value> words, stepBytes;
                  for (int64_t j = 0; j < vectors; ++j) {
                    Value word;
                    for (int64_t q = 0; q < planes; ++q) {
                      Value bytes = readVector(
                          lb, l, bvec, codes,
                          {sb, t,
                           indexConst(lb, l,
                                      q * panel.vectors * lanes + j * lanes)});
                      if (q == 0)
                        stepBytes.push_back(bytes);
                      if (halfFP8)
                        continue;
                      Value v = arith::ExtUIOp::create(lb, l, ivec, bytes);
                      if (q == 0) {
                        word = v;
                        continue;
                      }
                      v = arith::ShLIOp::create(
                          lb, l, v,
                          arith::ConstantOp::create(
                              lb, l, ivec,
                              DenseElementsAttr::get(ivec, int32_t(8 * q))));
                      word = arith::OrIOp::create(lb, l, word, v);
                    }
                    words.push_back(word);
                  }
                  Value k0 = arith::MulIOp::create(
                      lb, l, t, indexConst(lb, l, codesPerStep));
                  for (int64_t h = 0; h < codesPerStep; ++h) {
                    SmallVector<Value> w;
                    auto scaled = [&](Value f, int64_t j) -> Value {
                      return factored
                                 ? f
                                 : Value(arith::MulFOp::create(lb, l, f, s[j]));
                    };
                    for (int64_t j = 0; j < vectors; ++j) {
                      if (halfFP8) {
                        w.push_back(scaled(fp8ViaHalf(lb, l, stepBytes[j]), j));
                        continue;
                      }
                      Value u = words[j];
                      if (h)
                        u = arith::ShRUIOp::create(
                            lb, l, u,
                            arith::ConstantOp::create(
                                lb, l, ivec,
                                DenseElementsAttr::get(ivec,
                                                       int32_t(h * bits))));
                      Value f;
                      if (table) {
                        // vpermps reads the low 4 (zmm) or 3 (ymm) bits of
                        // each lane.
                        auto lookup = [&](Value t) {
                          return func::CallOp::create(
                                     lb, l,
                                     FlatSymbolRefAttr::get(
                                         ctx, lanes == 16 ? kVpermpsStub
                                                          : kVpermps256Stub),
                                     TypeRange{fvec}, ValueRange{t, u})
                              .getResult(0);
                        };
                        f = lookup(levels[0]);
                        if (lanes == 8) {
                          Value upper = arith::CmpIOp::create(
                              lb, l, arith::CmpIPredicate::ne,
                              arith::AndIOp::create(lb, l, u, bit3),
                              arith::ConstantOp::create(
                                  lb, l, ivec,
                                  DenseElementsAttr::get(ivec, int32_t(0))));
                          f = arith::SelectOp::create(lb, l, upper,
                                                      lookup(levels[1]), f);
                        }
                        w.push_back(scaled(f, j));
                        continue;
                      }
                      if (fp8) {
                        w.push_back(scaled(decodeFP8(lb, l, u), j));
                        continue;
                      }
                      if (codesPerStep > 1 && h + 1 < codesPerStep)
                        u = arith::AndIOp::create(lb, l, u, mask);
                      if (floatZeros) {
                        if (offset)
                          u = arith::SubIOp::create(
                              lb, l, u,
                              arith::ConstantOp::create(
                                  lb, l, ivec,
                                  DenseElementsAttr::get(ivec, offset)));
                        f = arith::SIToFPOp::create(lb, l, fvec, u);
                        f = arith::SubFOp::create(lb, l, f, z[j]);
                      } else {
                        f = arith::SIToFPOp::create(
                            lb, l, fvec, arith::SubIOp::create(lb, l, u, z[j]));
                      }
                      w.push_back(scaled(f, j));
                    }
                    Value kk = arith::AddIOp::create(lb, l, k0,
                                                     indexConst(lb, l, h));
                    for (int64_t r = 0; r < rows; ++r) {
                      Value row = arith::AddIOp::create(lb, l, row0,
                                                        indexConst(lb, l, r));
                      Value xv = vector::BroadcastOp::create(
                          lb, l, fvec,
                          tensor::ExtractOp::create(lb, l, x,
                                                    ValueRange{row, kk}));
                      int64_t at =
                          factored ? (h % sets) * vectors : r * vectors;
                      for (int64_t j = 0; j < vectors; ++j)
                        next[at + j] =
                            math::FmaOp::create(lb, l, xv, w[j], next[at + j]);
                    }
                  }
                  scf::YieldOp::create(lb, l, next);
                });
            if (!factored) {
              scf::YieldOp::create(gb, gl, stepLoop.getResults());
              return;
            }
            SmallVector<Value> outs;
            for (int64_t j = 0; j < vectors; ++j) {
              Value sum = stepLoop.getResult(j);
              for (int64_t q = 1; q < sets; ++q)
                sum = arith::AddFOp::create(
                    gb, gl, sum, stepLoop.getResult(q * vectors + j));
              outs.push_back(math::FmaOp::create(gb, gl, s[j], sum, gaccs[j]));
            }
            scf::YieldOp::create(gb, gl, outs);
          });
      return storeBlock(b, loc, out, groupLoop.getResults(), row0, col0, rows,
                        vectors, lanes);
    };

    Value y = init;
    for (const Panel &panel : panels) {
      auto rowBlocks = [&](OpBuilder &b, Value out, Value col0, Value sb) {
        return forEachRowBlock(
            b, loc, out, m, rowsPerBlock,
            [&](OpBuilder &rb, Value inner, Value row0, int64_t rows) {
              return block(rb, inner, row0, col0, rows, panel, sb);
            });
      };
      if (panel.supers == 1) {
        y = rowBlocks(rewriter, y, indexConst(rewriter, loc, panel.col0), c0);
        continue;
      }
      int64_t width = panel.vectors * lanes;
      auto columns = scf::ForOp::create(
          rewriter, loc, c0, indexConst(rewriter, loc, panel.supers),
          indexConst(rewriter, loc, 1), ValueRange{y},
          [&](OpBuilder &b, Location l, Value sb, ValueRange carried) {
            Value col0 = arith::AddIOp::create(
                b, l, indexConst(b, l, panel.col0),
                arith::MulIOp::create(b, l, sb, indexConst(b, l, width)));
            scf::YieldOp::create(b, l, rowBlocks(b, carried[0], col0, sb));
          });
      y = columns.getResult(0);
    }
    if (np != n)
      y = tensor::ExtractSliceOp::create(
          rewriter, loc, RankedTensorType::get({m, n}, f32), y, ValueRange{},
          ValueRange{}, ValueRange{}, rewriter.getDenseI64ArrayAttr({0, 0}),
          rewriter.getDenseI64ArrayAttr({m, n}),
          rewriter.getDenseI64ArrayAttr({1, 1}));
    rewriter.replaceOp(op, lowering::expandRows(rewriter, loc, y,
                                                op.getResult().getType()));
    return success();
  }

  int64_t lanes, vectors, rowsPerBlock;
  bool f16c;
};

struct WeightOnlyMatMulPass
    : PassWrapper<WeightOnlyMatMulPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(WeightOnlyMatMulPass)
  WeightOnlyMatMulPass() = default;
  WeightOnlyMatMulPass(const WeightOnlyMatMulPass &other)
      : PassWrapper(other) {}
  WeightOnlyMatMulPass(int64_t lanes, bool hasF16C) {
    vectorWidth = lanes;
    f16c = hasF16C;
  }

  StringRef getArgument() const override {
    return "qopt-x86-weight-only-matmul";
  }
  StringRef getDescription() const override {
    return "Float-input qopt.matmul over constant 2/4/8-bit integer, NF4 or "
           "FP8 weights as an x86 kernel that dequantizes the weights in "
           "registers";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, func::FuncDialect, linalg::LinalgDialect,
                    math::MathDialect, scf::SCFDialect, tensor::TensorDialect,
                    vector::VectorDialect>();
  }
  void runOnOperation() override {
    if (vectorWidth != 8 && vectorWidth != 16) {
      getOperation().emitError()
          << "qopt-x86-weight-only-matmul: vector-width must be 8 or 16";
      return signalPassFailure();
    }
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    // The table lookup's stub: (table: L x f32, indices: L x i32).
    func::FuncOp stub;
    StringRef stubName = vectorWidth == 16 ? kVpermpsStub : kVpermps256Stub;
    if (!module.lookupSymbol<func::FuncOp>(stubName)) {
      auto f = VectorType::get({vectorWidth}, Float32Type::get(ctx));
      auto i = VectorType::get({vectorWidth}, IntegerType::get(ctx, 32));
      OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
      stub = func::FuncOp::create(b, module.getLoc(), stubName,
                                  b.getFunctionType({f, i}, {f}));
      stub.setPrivate();
    }
    RewritePatternSet patterns(ctx);
    patterns.add<WeightOnlyMatMul>(ctx, vectorWidth, f16c);
    walkAndApplyPatterns(module, std::move(patterns));
    if (stub && stub.symbolKnownUseEmpty(module))
      stub.erase();
  }

  Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes of a vector register: 16 (zmm) or 8 (ymm)"),
      llvm::cl::init(16)};
  Option<bool> f16c{*this, "f16c",
                    llvm::cl::desc("The target has F16C (vcvtph2ps): FP8 "
                                   "weights widen through f16"),
                    llvm::cl::init(true)};
};

} // namespace

std::unique_ptr<Pass> createWeightOnlyMatMulPass(int64_t lanes, bool f16c) {
  return std::make_unique<WeightOnlyMatMulPass>(lanes, f16c);
}

void registerWeightOnlyMatMulPass() {
  PassRegistration<WeightOnlyMatMulPass>();
}

} // namespace qopt::x86
