//===- VnniMatMul.cpp - AVX-512 VNNI kernel for integer qopt.matmul -------===//
//
// The qopt-x86-vnni-matmul pass: an integer qopt.matmul over constant 8-bit
// symmetric weights becomes a register-blocked loop nest around
// `vpdpbusd zmm` (llvm.x86.avx512.vpdpbusd.512: sixteen 4-way u8 x s8 dot
// products added into i32 lanes), with the weights repacked at compile time
// into the order the kernel loads them.
//
// Packed weights: for each block of 16 output columns and each group of 4
// reduction steps, 64 bytes `w[16 * b + c][4 * q + t]` at `c * 4 + t`, so
// one zmm load gives the 4 weights of every column that a broadcast 4-byte
// group of one activation row meets. The columns are padded to whole
// register blocks and the reduction to whole groups of 4, with zero weights.
//
// vpdpbusd reads the activation bytes as unsigned. Signed codes are shifted
// to unsigned by flipping their sign bit (a + 128), and an input zero point
// is subtracted afterwards through the weights' column sums:
//   sum_k (a - za) * w = sum_k u * w - c * sum_k w
// with u = a (c = za) for unsigned codes and u = a + 128 (c = za + 128, or
// 128 without a zero point) for signed ones. All of it is exact i32
// arithmetic, and the float rescale float(acc) * (sa * sw) is the reference
// lowering's, so results are bit-identical to it.
//
// Until bufferization and deallocation are done (they reject ops of
// unknown memory effects, which llvm.call_intrinsic is), the instruction is
// a call to a private declaration; qopt-x86-intrinsic-calls, at the start
// of the LLVM stage, turns those calls into the intrinsic.
//
// Register blocking: 4 rows x 64 columns = 16 independent accumulators (the
// instruction's latency is 4-5 cycles), 4 weight registers and one
// broadcast; rows left over take a 1-row block. Column blocks are the outer
// loop so that a block's weights stay in cache while every row passes.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"

#include "qopt/QOptDialect.h"
#include "qopt/Target/X86/X86Target.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

using namespace mlir;

namespace qopt::x86 {
namespace {

/// i32 lanes of a zmm register.
constexpr int64_t kLanes = 16;
/// Accumulator registers per row of a register block.
constexpr int64_t kVectorsPerRow = 4;
constexpr int64_t kBlockColumns = kLanes * kVectorsPerRow;
/// Rows of the main register block.
constexpr int64_t kBlockRows = 4;

/// Stand-ins for LLVM intrinsics until the LLVM stage: (declaration, the
/// intrinsic it becomes).
constexpr llvm::StringLiteral kVpdpbusdStub = "__qopt_x86_vpdpbusd_512";
constexpr std::pair<llvm::StringLiteral, llvm::StringLiteral>
    kIntrinsicStubs[] = {{kVpdpbusdStub, "llvm.x86.avx512.vpdpbusd.512"}};

int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

Value indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// `p` (one value, or one per row of an input of `rows` rows) as a tensor
/// and the map that reads it from (row, column) loops.
std::pair<Value, AffineMap> rowParameter(OpBuilder &b, Location loc, Value p,
                                         int64_t rows) {
  MLIRContext *ctx = b.getContext();
  auto t = cast<RankedTensorType>(p.getType());
  if (t.getNumElements() == 1)
    return {p, AffineMap::get(2, 0,
                              SmallVector<AffineExpr>(
                                  t.getRank(), getAffineConstantExpr(0, ctx)),
                              ctx)};
  ReassociationIndices all;
  for (int64_t i = 0; i < t.getRank(); ++i)
    all.push_back(i);
  Value flat = tensor::CollapseShapeOp::create(
      b, loc, RankedTensorType::get({rows}, t.getElementType()), p,
      SmallVector<ReassociationIndices>{all});
  return {flat, AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx)};
}

struct VnniMatMul : OpRewritePattern<MatMulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MatMulOp op,
                                PatternRewriter &rewriter) const override {
    SchemeAttr scheme = op.getScheme();
    if (!op.hasIntegerInput() || op.getOutlierInput() ||
        scheme.getKind() != QuantKind::Int || scheme.getBits() != 8 ||
        scheme.getIsUnsigned() || !scheme.getSymmetric() ||
        scheme.getGranularity() == Granularity::Group ||
        op.getWeightZeroPoints())
      return rewriter.notifyMatchFailure(op, "not a symmetric int8 product");
    // The constant, seen through reshapes (which keep the row-major bytes;
    // convolutions' weights arrive as [F, C, KH, KW] viewed as [F, K]).
    Value source = op.getWeight();
    while (auto view = source.getDefiningOp<tosa::ReshapeOp>())
      source = view.getInput1();
    ElementsAttr weightAttr;
    if (!matchPattern(source, m_Constant(&weightAttr)))
      return rewriter.notifyMatchFailure(op, "weights are not a constant");
    auto resultType = op.getResult().getType();
    Type resultElem = resultType.getElementType();
    bool rescale = resultElem.isF32();
    int64_t n = op.getN(), k = op.getK();
    auto wt = op.getWeight().getType();
    if (wt.getDimSize(1) != k)
      return rewriter.notifyMatchFailure(op, "padded weight rows");
    FailureOr<std::vector<char>> bytes =
        constantBytes(weightAttr, cast<ShapedType>(weightAttr.getType()));
    if (failed(bytes) || int64_t(bytes->size()) != n * k)
      return rewriter.notifyMatchFailure(op, "unreadable weights");

    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type i8 = rewriter.getI8Type(), i32 = rewriter.getI32Type();
    int64_t kp = roundUp(k, 4), groups = kp / 4;
    int64_t np = roundUp(n, kBlockColumns), blocks = np / kLanes;

    // Compile-time packing and the column sums.
    std::vector<char> packed(blocks * groups * 64, 0);
    std::vector<int32_t> colsum(n, 0);
    for (int64_t c = 0; c < n; ++c)
      for (int64_t j = 0; j < k; ++j) {
        auto v = static_cast<int8_t>((*bytes)[c * k + j]);
        colsum[c] += v;
        int64_t b = c / kLanes, lane = c % kLanes, q = j / 4, t = j % 4;
        packed[(b * groups + q) * 64 + lane * 4 + t] = static_cast<char>(v);
      }
    Value packedW = createConstant(
        rewriter, loc, RankedTensorType::get({blocks, groups, 64}, i8),
        packed);
    Value sums = createConstant(
        rewriter, loc, RankedTensorType::get({n}, i32),
        ArrayRef<char>(reinterpret_cast<const char *>(colsum.data()),
                       colsum.size() * sizeof(int32_t)));

    // The activation codes as [M, Kp] rows.
    Value a = op.getInput();
    auto at = cast<RankedTensorType>(a.getType());
    int64_t m = at.getNumElements() / k;
    a = lowering::collapseRows(rewriter, loc, a);
    if (kp != k) {
      Value zero = arith::ConstantOp::create(rewriter, loc,
                                             rewriter.getZeroAttr(i8));
      a = tensor::PadOp::create(
          rewriter, loc, RankedTensorType::get({m, kp}, i8), a,
          getAsIndexOpFoldResult(ctx, {0, 0}),
          getAsIndexOpFoldResult(ctx, {0, kp - k}), zero);
    }
    bool signedCodes = !op.getInputUnsigned();

    Value init = tensor::EmptyOp::create(rewriter, loc,
                                         ArrayRef<int64_t>{m, np}, i32);
    auto vecType = VectorType::get({kLanes}, i32);
    auto byteType = VectorType::get({kLanes * 4}, i8);
    Value zeroVec = arith::ConstantOp::create(
        rewriter, loc, vecType, DenseElementsAttr::get(vecType, int32_t(0)));
    Value c0 = indexConst(rewriter, loc, 0);
    Value flip = arith::ConstantIntOp::create(rewriter, loc, i32,
                                              int32_t(0x80808080u));
    auto vpdpbusd = FlatSymbolRefAttr::get(ctx, kVpdpbusdStub);

    // One register block: `rows` rows from `row0`, kBlockColumns columns
    // from `col0`, over the whole reduction; returns `out` with it stored.
    auto block = [&](OpBuilder &b, Value out, Value row0, Value col0,
                     int64_t rows) -> Value {
      int64_t count = rows * kVectorsPerRow;
      SmallVector<Value> zeros(count, zeroVec);
      Value block0 = arith::DivUIOp::create(b, loc, col0,
                                            indexConst(b, loc, kLanes));
      auto loop = scf::ForOp::create(
          b, loc, c0, indexConst(b, loc, groups), indexConst(b, loc, 1),
          zeros,
          [&](OpBuilder &lb, Location l, Value q, ValueRange accs) {
            SmallVector<Value> w;
            for (int64_t j = 0; j < kVectorsPerRow; ++j) {
              Value blk = arith::AddIOp::create(lb, l, block0,
                                                indexConst(lb, l, j));
              Value bytes = vector::TransferReadOp::create(
                  lb, l, VectorType::get({64}, i8), packedW,
                  ValueRange{blk, q, c0}, std::optional<Value>(),
                  ArrayRef<bool>{true});
              w.push_back(bytes);
            }
            Value kOff = arith::MulIOp::create(lb, l, q, indexConst(lb, l, 4));
            SmallVector<Value> next;
            for (int64_t r = 0; r < rows; ++r) {
              Value row =
                  arith::AddIOp::create(lb, l, row0, indexConst(lb, l, r));
              Value four = vector::TransferReadOp::create(
                  lb, l, VectorType::get({4}, i8), a, ValueRange{row, kOff},
                  std::optional<Value>(), ArrayRef<bool>{true});
              Value word = vector::ExtractOp::create(
                  lb, l,
                  vector::BitCastOp::create(lb, l, VectorType::get({1}, i32),
                                            four),
                  ArrayRef<int64_t>{0});
              if (signedCodes)
                word = arith::XOrIOp::create(lb, l, word, flip);
              Value bcast = vector::BitCastOp::create(
                  lb, l, byteType,
                  vector::BroadcastOp::create(lb, l, vecType, word));
              for (int64_t j = 0; j < kVectorsPerRow; ++j)
                next.push_back(
                    func::CallOp::create(
                        lb, l, vpdpbusd, TypeRange{vecType},
                        ValueRange{accs[r * kVectorsPerRow + j], bcast, w[j]})
                        .getResult(0));
            }
            scf::YieldOp::create(lb, l, next);
          });
      for (int64_t r = 0; r < rows; ++r) {
        Value row = arith::AddIOp::create(b, loc, row0, indexConst(b, loc, r));
        for (int64_t j = 0; j < kVectorsPerRow; ++j) {
          Value col = arith::AddIOp::create(b, loc, col0,
                                            indexConst(b, loc, j * kLanes));
          out = vector::TransferWriteOp::create(
                    b, loc, loop.getResult(r * kVectorsPerRow + j), out,
                    ValueRange{row, col}, ArrayRef<bool>{true})
                    .getResult();
        }
      }
      return out;
    };

    int64_t fullRows = m / kBlockRows * kBlockRows;
    auto columns = scf::ForOp::create(
        rewriter, loc, c0, indexConst(rewriter, loc, np),
        indexConst(rewriter, loc, kBlockColumns), ValueRange{init},
        [&](OpBuilder &b, Location l, Value col0, ValueRange carried) {
          Value out = carried[0];
          // Rows [from, to) in blocks of `rows`.
          auto rowLoop = [&](int64_t from, int64_t to, int64_t rows) {
            if (from == to)
              return;
            out = scf::ForOp::create(
                      b, l, indexConst(b, l, from), indexConst(b, l, to),
                      indexConst(b, l, rows), ValueRange{out},
                      [&](OpBuilder &rb, Location, Value row0,
                          ValueRange inner) {
                        scf::YieldOp::create(
                            rb, loc, block(rb, inner[0], row0, col0, rows));
                      })
                      .getResult(0);
          };
          rowLoop(0, fullRows, kBlockRows);
          rowLoop(fullRows, m, 1);
          scf::YieldOp::create(b, l, out);
        });
    Value dots = columns.getResult(0);
    if (np != n)
      dots = tensor::ExtractSliceOp::create(
          rewriter, loc, RankedTensorType::get({m, n}, i32), dots,
          ValueRange{}, ValueRange{}, ValueRange{},
          rewriter.getDenseI64ArrayAttr({0, 0}),
          rewriter.getDenseI64ArrayAttr({m, n}),
          rewriter.getDenseI64ArrayAttr({1, 1}));

    // Epilogue: acc = dots - c * colsum, then (f32 results) the reference
    // lowering's rescale.
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
    SmallVector<Value> ins = {dots, sums};
    SmallVector<AffineMap> maps = {
        id, AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx)};
    Value za = op.getInputZeroPoint();
    if (za) {
      auto [v, map] = rowParameter(rewriter, loc, za, m);
      ins.push_back(v);
      maps.push_back(map);
    }
    maps.push_back(id);
    bool inputUnsigned = op.getInputUnsigned();
    Value r =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{dots.getType()}, ins,
            ValueRange{lowering::emptyLike(rewriter, loc, {m, n}, i32)}, maps,
            lowering::parallel(2),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value c;
              if (za) {
                c = lowering::extendToI32(b, l, args[2], inputUnsigned);
                if (signedCodes)
                  c = arith::AddIOp::create(b, l, c,
                                            lowering::constI32(b, l, 128));
              } else if (signedCodes) {
                c = lowering::constI32(b, l, 128);
              }
              Value acc = args[0];
              if (c)
                acc = arith::SubIOp::create(
                    b, l, acc, arith::MulIOp::create(b, l, c, args[1]));
              linalg::YieldOp::create(b, l, acc);
            })
            .getResult(0);
    if (rescale) {
      auto [sa, saMap] = rowParameter(rewriter, loc, op.getInputScale(), m);
      Value sw = op.getWeightScales();
      auto swType = cast<RankedTensorType>(sw.getType());
      AffineMap swMap = AffineMap::get(
          2, 0,
          {swType.getDimSize(0) == 1 ? getAffineConstantExpr(0, ctx)
                                     : getAffineDimExpr(1, ctx),
           getAffineConstantExpr(0, ctx)},
          ctx);
      r = lowering::emitRescale(rewriter, loc, r, sa, sw, saMap, swMap);
    }
    r = lowering::expandRows(rewriter, loc, r, resultType);
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct VnniMatMulPass
    : PassWrapper<VnniMatMulPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(VnniMatMulPass)
  StringRef getArgument() const override { return "qopt-x86-vnni-matmul"; }
  StringRef getDescription() const override {
    return "Integer qopt.matmul over constant int8 weights as an AVX-512 "
           "VNNI (vpdpbusd) kernel with compile-time packed weights";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, func::FuncDialect,
                    linalg::LinalgDialect, scf::SCFDialect,
                    tensor::TensorDialect, vector::VectorDialect>();
  }
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    // The stub the kernels call, declared once.
    auto stub = module.lookupSymbol<func::FuncOp>(kVpdpbusdStub);
    bool declared = !stub;
    if (!stub) {
      // (acc: 16 x i32, unsigned bytes: 64 x i8, signed bytes: 64 x i8).
      auto acc = VectorType::get({kLanes}, IntegerType::get(ctx, 32));
      auto bytes = VectorType::get({kLanes * 4}, IntegerType::get(ctx, 8));
      OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
      stub = func::FuncOp::create(b, module.getLoc(), kVpdpbusdStub,
                                  b.getFunctionType({acc, bytes, bytes}, {acc}));
      stub.setPrivate();
    }
    RewritePatternSet patterns(ctx);
    patterns.add<VnniMatMul>(ctx);
    walkAndApplyPatterns(module, std::move(patterns));
    if (declared && stub.symbolKnownUseEmpty(module))
      stub.erase();
  }
};

struct IntrinsicCallsPass
    : PassWrapper<IntrinsicCallsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(IntrinsicCallsPass)
  StringRef getArgument() const override { return "qopt-x86-intrinsic-calls"; }
  StringRef getDescription() const override {
    return "Calls to the x86 kernels' intrinsic stubs (declared by "
           "qopt-x86-vnni-matmul) become llvm.call_intrinsic";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect>();
  }
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (const auto &entry : kIntrinsicStubs) {
      StringRef stub = entry.first, intrinsic = entry.second;
      auto decl = module.lookupSymbol<func::FuncOp>(stub);
      if (!decl)
        continue;
      SmallVector<func::CallOp> calls;
      module.walk([&](func::CallOp call) {
        if (call.getCallee() == stub)
          calls.push_back(call);
      });
      for (func::CallOp call : calls) {
        OpBuilder b(call);
        auto intr = LLVM::CallIntrinsicOp::create(
            b, call.getLoc(), call.getResultTypes(),
            b.getStringAttr(intrinsic), call.getOperands(),
            LLVM::FastmathFlagsAttr::get(b.getContext(),
                                         LLVM::FastmathFlags::none));
        call->replaceAllUsesWith(intr->getResults());
        call.erase();
      }
      decl.erase();
    }
  }
};

} // namespace

std::unique_ptr<Pass> createVnniMatMulPass() {
  return std::make_unique<VnniMatMulPass>();
}

std::unique_ptr<Pass> createIntrinsicCallsPass() {
  return std::make_unique<IntrinsicCallsPass>();
}

void registerVnniMatMulPass() {
  PassRegistration<VnniMatMulPass>();
  PassRegistration<IntrinsicCallsPass>();
}

} // namespace qopt::x86
