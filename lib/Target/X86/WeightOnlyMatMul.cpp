//===- WeightOnlyMatMul.cpp - x86 kernel for weight-only qopt.matmul ------===//
//
// The qopt-x86-weight-only-matmul pass: a float-input qopt.matmul over
// constant 4- or 8-bit integer weights (W4A16, W8A16; symmetric, integer or
// float zero points; per channel, per tensor or group-wise) becomes a
// register-blocked loop nest that unpacks and dequantizes the weights in
// vector registers and multiplies them into float accumulators. No
// dequantized weight exists in memory, not even a block of it.
//
// Packed weights, repacked at compile time: for each super-block of V x L
// output columns (L = f32 lanes, V vectors of a register block) and each
// step of the reduction, V x L bytes, byte `column` holding that column's
// code(s) at the step: two 4-bit codes per byte (steps k = 2p and 2p + 1,
// low nibble first) or one 8-bit code. Codes are stored unsigned,
// u = code + offset (8 or 128 for signed codes), and the zero point moves
// by the same offset, so u - z' = code - z exactly. The scales (and zero
// points) are repacked to [super-block][group][V x L] so that one vector
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
// value.
//
// Register blocking: R rows x V vectors of accumulators (4 x 4 zmm, 4 x 2
// ymm), the V dequantized weight vectors shared by the R rows; the rows
// left over take one narrower block. M = 1 (a decode step) streams the
// weights once.
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

#include <cstring>

using namespace mlir;

namespace qopt::x86 {
namespace {

struct WeightOnlyMatMul : OpRewritePattern<MatMulOp> {
  WeightOnlyMatMul(MLIRContext *ctx, int64_t lanes)
      : OpRewritePattern(ctx), lanes(lanes), vectors(lanes == 16 ? 4 : 2),
        rowsPerBlock(4) {}

  LogicalResult matchAndRewrite(MatMulOp op,
                                PatternRewriter &rewriter) const override {
    SchemeAttr scheme = op.getScheme();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    if (!inputType.getElementType().isF32() ||
        !op.getResult().getType().getElementType().isF32() ||
        op.getOutlierInput() || scheme.getKind() != QuantKind::Int ||
        (scheme.getBits() != 4 && scheme.getBits() != 8))
      return rewriter.notifyMatchFailure(op, "not a 4/8-bit weight-only product");
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
    const int64_t kp = scheme.getPaddedLength(k);
    const int64_t group = scheme.getGroupLength(k), groups = kp / group;
    const int64_t codesPerByte = 8 / bits;
    if (group % codesPerByte)
      return rewriter.notifyMatchFailure(op, "groups split a byte");
    const int64_t rowBytes = quant::packedRowBytes(kp, bits);
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

    bool signedCodes = !scheme.getIsUnsigned();
    const int32_t offset = signedCodes ? (1 << (bits - 1)) : 0;
    const int64_t superColumns = lanes * vectors;
    const int64_t supers = (n + superColumns - 1) / superColumns;
    const int64_t np = supers * superColumns;
    const int64_t steps = kp / codesPerByte, stepsPerGroup = group / codesPerByte;

    // Compile-time repacking of codes and parameters.
    std::vector<char> packed(supers * steps * superColumns, 0);
    std::vector<float> packedScales(supers * groups * superColumns, 0.f);
    std::vector<int32_t> packedIntZeros(supers * groups * superColumns, 0);
    std::vector<float> packedFpZeros(supers * groups * superColumns, 0.f);
    for (int64_t c = 0; c < n; ++c) {
      const auto *row =
          reinterpret_cast<const uint8_t *>(wbytes->data() + c * rowBytes);
      int64_t sb = c / superColumns, lane = c % superColumns;
      for (int64_t i = 0; i < kp; ++i) {
        int32_t u = quant::unpackCode(row, i, bits, signedCodes) + offset;
        char &byte = packed[(sb * steps + i / codesPerByte) * superColumns + lane];
        byte = static_cast<char>(static_cast<uint8_t>(byte) |
                                 (u << (bits * (i % codesPerByte))));
      }
      for (int64_t g = 0; g < groups; ++g) {
        int64_t at = (sb * groups + g) * superColumns + lane;
        packedScales[at] = scales[paramIndex(scaleType, c, g)];
        if (floatZeros)
          packedFpZeros[at] = fpZeros[paramIndex(zeroType, c, g)];
        else
          packedIntZeros[at] =
              (zeros ? intZeros[paramIndex(zeroType, c, g)] : 0) + offset;
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
    Value codes = createConstant(
        rewriter, loc, RankedTensorType::get({supers, steps, superColumns}, i8),
        packed);
    auto paramType = [&](Type t) {
      return RankedTensorType::get({supers, groups, superColumns}, t);
    };
    Type f16 = rewriter.getF16Type();
    Value scaleTable;
    if (halfScales) {
      // Exact: every value came from a half (padding lanes are 0).
      std::vector<uint16_t> halves(packedScales.size());
      for (size_t i = 0; i < halves.size(); ++i)
        halves[i] = quant::floatToHalf(packedScales[i]);
      scaleTable =
          createConstant(rewriter, loc, paramType(f16), bytesOf(halves));
    } else {
      scaleTable =
          createConstant(rewriter, loc, paramType(f32), bytesOf(packedScales));
    }
    // Integer zero points (plus the code offset) as bytes when they fit, the
    // way the weights are stored; without zero points every lane subtracts
    // the same offset, a constant.
    bool byteZeros = llvm::all_of(packedIntZeros,
                                  [](int32_t v) { return v >= 0 && v < 256; });
    Value zeroTable, offsetVec;
    if (floatZeros) {
      zeroTable =
          createConstant(rewriter, loc, paramType(f32), bytesOf(packedFpZeros));
    } else if (!zeros) {
      auto ivec = VectorType::get({lanes}, i32);
      offsetVec = arith::ConstantOp::create(
          rewriter, loc, ivec, DenseElementsAttr::get(ivec, offset));
    } else if (byteZeros) {
      std::vector<uint8_t> bytes(packedIntZeros.begin(), packedIntZeros.end());
      zeroTable = createConstant(rewriter, loc, paramType(i8), bytesOf(bytes));
    } else {
      zeroTable = createConstant(rewriter, loc, paramType(i32),
                                 bytesOf(packedIntZeros));
    }

    // The input as [M, Kp] rows, padded with zeros (padded weights are
    // worth nothing then, whatever their codes).
    Value x = lowering::collapseRows(rewriter, loc, op.getInput());
    int64_t m = inputType.getNumElements() / k;
    if (kp != k) {
      Value zero = arith::ConstantOp::create(rewriter, loc,
                                             rewriter.getZeroAttr(f32));
      x = tensor::PadOp::create(
          rewriter, loc, RankedTensorType::get({m, kp}, f32), x,
          getAsIndexOpFoldResult(ctx, {0, 0}),
          getAsIndexOpFoldResult(ctx, {0, kp - k}), zero);
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
    // The table path: float(u - offset) for the 16 nibbles u.
    bool table = lanes == 16 && bits == 4 && !zeros;
    Value levels;
    if (table) {
      SmallVector<float> lut;
      for (int32_t u = 0; u < 16; ++u)
        lut.push_back(float(u - offset));
      levels = arith::ConstantOp::create(
          rewriter, loc, fvec, DenseElementsAttr::get(fvec, ArrayRef<float>(lut)));
    }

    // One register block: `rows` rows from `row0`, the super-block at
    // `col0`, over the whole reduction.
    auto block = [&](OpBuilder &b, Value out, Value row0, Value col0,
                     int64_t rows) -> Value {
      Value sb = arith::DivUIOp::create(b, loc, col0,
                                        indexConst(b, loc, superColumns));
      SmallVector<Value> zerosAcc(rows * vectors, zeroVec);
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
            Value step1 = arith::AddIOp::create(
                gb, gl, step0, indexConst(gb, gl, stepsPerGroup));
            auto stepLoop = scf::ForOp::create(
                gb, gl, step0, step1, indexConst(gb, gl, 1), gaccs,
                [&](OpBuilder &lb, Location l, Value t, ValueRange accs) {
                  SmallVector<Value> next(accs.begin(), accs.end());
                  SmallVector<Value> words;
                  for (int64_t j = 0; j < vectors; ++j)
                    words.push_back(arith::ExtUIOp::create(
                        lb, l, ivec,
                        readVector(lb, l, bvec, codes,
                             {sb, t, indexConst(lb, l, j * lanes)})));
                  Value k0 = arith::MulIOp::create(
                      lb, l, t, indexConst(lb, l, codesPerByte));
                  for (int64_t h = 0; h < codesPerByte; ++h) {
                    SmallVector<Value> w;
                    for (int64_t j = 0; j < vectors; ++j) {
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
                        // vpermps reads the low 4 bits of each lane.
                        f = func::CallOp::create(
                                lb, l,
                                FlatSymbolRefAttr::get(ctx, kVpermpsStub),
                                TypeRange{fvec}, ValueRange{levels, u})
                                .getResult(0);
                        w.push_back(arith::MulFOp::create(lb, l, f, s[j]));
                        continue;
                      }
                      if (codesPerByte > 1 && h + 1 < codesPerByte)
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
                      w.push_back(arith::MulFOp::create(lb, l, f, s[j]));
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
                      for (int64_t j = 0; j < vectors; ++j)
                        next[r * vectors + j] = math::FmaOp::create(
                            lb, l, xv, w[j], next[r * vectors + j]);
                    }
                  }
                  scf::YieldOp::create(lb, l, next);
                });
            scf::YieldOp::create(gb, gl, stepLoop.getResults());
          });
      return storeBlock(b, loc, out, groupLoop.getResults(), row0, col0, rows,
                        vectors, lanes);
    };

    auto columns = scf::ForOp::create(
        rewriter, loc, c0, indexConst(rewriter, loc, np),
        indexConst(rewriter, loc, superColumns), ValueRange{init},
        [&](OpBuilder &b, Location l, Value col0, ValueRange carried) {
          scf::YieldOp::create(
              b, l,
              forEachRowBlock(b, loc, carried[0], m, rowsPerBlock,
                              [&](OpBuilder &rb, Value inner, Value row0,
                                  int64_t rows) {
                                return block(rb, inner, row0, col0, rows);
                              }));
        });
    Value y = columns.getResult(0);
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
};

struct WeightOnlyMatMulPass
    : PassWrapper<WeightOnlyMatMulPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(WeightOnlyMatMulPass)
  WeightOnlyMatMulPass() = default;
  WeightOnlyMatMulPass(const WeightOnlyMatMulPass &other)
      : PassWrapper(other) {}
  explicit WeightOnlyMatMulPass(int64_t lanes) { vectorWidth = lanes; }

  StringRef getArgument() const override {
    return "qopt-x86-weight-only-matmul";
  }
  StringRef getDescription() const override {
    return "Float-input qopt.matmul over constant 4/8-bit integer weights as "
           "an x86 kernel that dequantizes the weights in registers";
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
    // The table lookup's stub: (table: 16 x f32, indices: 16 x i32).
    func::FuncOp stub;
    if (vectorWidth == 16 && !module.lookupSymbol<func::FuncOp>(kVpermpsStub)) {
      auto f = VectorType::get({16}, Float32Type::get(ctx));
      auto i = VectorType::get({16}, IntegerType::get(ctx, 32));
      OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
      stub = func::FuncOp::create(b, module.getLoc(), kVpermpsStub,
                                  b.getFunctionType({f, i}, {f}));
      stub.setPrivate();
    }
    RewritePatternSet patterns(ctx);
    patterns.add<WeightOnlyMatMul>(ctx, vectorWidth);
    walkAndApplyPatterns(module, std::move(patterns));
    if (stub && stub.symbolKnownUseEmpty(module))
      stub.erase();
  }

  Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes of a vector register: 16 (zmm) or 8 (ymm)"),
      llvm::cl::init(16)};
};

} // namespace

std::unique_ptr<Pass> createWeightOnlyMatMulPass(int64_t lanes) {
  return std::make_unique<WeightOnlyMatMulPass>(lanes);
}

void registerWeightOnlyMatMulPass() {
  PassRegistration<WeightOnlyMatMulPass>();
}

} // namespace qopt::x86
