//===- Int8MatMul.cpp - x86 int8 kernels for integer qopt.matmul ---------===//
//
// The qopt-x86-int8-matmul pass: an integer qopt.matmul over constant 8-bit
// symmetric weights (group-wise 4-bit ones: GroupedInt8MatMul.cpp) becomes a
// register-blocked loop nest around the widest 4-way u8 x s8 dot product the
// target has, with the weights repacked at compile time into the order the
// kernel loads them. One kernel, three ISA levels:
//   avx512vnni  `vpdpbusd zmm` (llvm.x86.avx512.vpdpbusd.512), 16 i32 lanes;
//   avxvnni     `{vex} vpdpbusd ymm` (llvm.x86.avx512.vpdpbusd.256), 8 lanes;
//   avx2        `vpsignb` + `vpmaddubsw` + `vpmaddwd` + `vpaddd`, 8 lanes.
//
// Packed weights: for each block of L output columns (L = i32 lanes) and
// each group of 4 reduction steps, 4L bytes `w[L * b + c][4 * q + t]` at
// `c * 4 + t`, so one vector load gives the 4 weights of every column that
// a broadcast 4-byte group of one activation row meets. The columns are
// padded to whole register blocks and the reduction to whole groups of 4,
// with zero weights.
//
// vpdpbusd reads the activation bytes as unsigned: signed codes are shifted
// to unsigned by flipping their sign bit (u = a + 128). AVX2 has no such
// instruction; vpmaddubsw multiplies unsigned by signed bytes but adds the
// pairs into saturating i16 lanes, which 255 x 127 x 2 overflows. So the
// AVX2 kernel keeps the activations signed (an unsigned code is flipped to
// u = a - 128) and multiplies |u| by the weight carrying u's sign
// (vpsignb): the pair sums stay within 2 x 128 x 127 < 2^15 and are exact
// as long as no weight is -128 (vpsignb cannot negate it). Symmetric RTN
// weights are within [-127, 127]; weights that are not keep the generic
// lowering. vpmaddwd by ones then adds the i16 pairs into i32 lanes. Either
// way the shift and an input zero point come off through the weights'
// column sums:
//   sum_k (a - za) * w = sum_k u * w - (za + shift) * sum_k w
// All of it is exact i32 arithmetic, and the float rescale
// float(acc) * (sa * sw) is the reference lowering's, so results are
// bit-identical to it.
//
// Until bufferization and deallocation are done (they reject ops of
// unknown memory effects, which llvm.call_intrinsic is), each instruction
// is a call to a private declaration; qopt-x86-intrinsic-calls, at the
// start of the LLVM stage, turns those calls into the intrinsics.
//
// Register blocking: R rows x V vectors of L columns, R x V independent
// accumulators (the dot instructions' latency is 4-5 cycles): 4 x 4 zmm,
// 6 x 2 ymm for AVX-VNNI and 4 x 2 ymm for AVX2 (which needs temporaries;
// those machines have 16 vector registers). The M mod R rows left over
// take one narrower block. Column blocks are the outer loop so that a block's
// weights stay in cache while every row passes.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilders.h"
#include "LoweringUtils.h"

#include "qopt/QOptDialect.h"
#include "qopt/Target/X86/X86Target.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
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
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace qopt::x86 {

llvm::StringRef int8KernelName(Int8Kernel kernel) {
  switch (kernel) {
  case Int8Kernel::None:
    return "none";
  case Int8Kernel::Avx2:
    return "avx2";
  case Int8Kernel::AvxVnni:
    return "avxvnni";
  case Int8Kernel::Avx512Vnni:
    return "avx512vnni";
  }
  llvm_unreachable("unknown int8 kernel");
}

std::optional<Int8Kernel> parseInt8Kernel(llvm::StringRef name) {
  for (Int8Kernel k : {Int8Kernel::None, Int8Kernel::Avx2, Int8Kernel::AvxVnni,
                       Int8Kernel::Avx512Vnni})
    if (name == int8KernelName(k))
      return k;
  return std::nullopt;
}

namespace {

/// The stubs qopt-x86-intrinsic-calls turns into intrinsics: (declaration,
/// the intrinsic it becomes).
constexpr std::pair<llvm::StringLiteral, llvm::StringLiteral>
    kIntrinsicStubs[] = {
        {kVpdpbusd512, "llvm.x86.avx512.vpdpbusd.512"},
        {kVpdpbusd256, "llvm.x86.avx512.vpdpbusd.256"},
        {kPsignb256, "llvm.x86.avx2.psign.b"},
        {kPmaddubsw256, "llvm.x86.avx2.pmadd.ub.sw"},
        {kPmaddwd256, "llvm.x86.avx2.pmadd.wd"},
        // Declared by qopt-x86-weight-only-matmul.
        {kVpermpsStub, "llvm.x86.avx512.permvar.sf.512"},
        {kVpermps256Stub, "llvm.x86.avx2.permps"},
};

/// The shape of one ISA level's kernel.
struct KernelShape {
  /// i32 lanes of a vector register.
  int64_t lanes;
  /// Accumulator registers per row of a register block.
  int64_t vectorsPerRow;
  /// Rows of the main register block.
  int64_t rows;
  /// The dot instruction reads the activation bytes as unsigned (vpdpbusd)
  /// rather than signed (AVX2's sign trick).
  bool unsignedActivations;

  int64_t bytes() const { return lanes * 4; }
  int64_t blockColumns() const { return lanes * vectorsPerRow; }
};

KernelShape shapeOf(Int8Kernel kernel) {
  switch (kernel) {
  case Int8Kernel::Avx512Vnni:
    return {16, 4, 4, true};
  case Int8Kernel::AvxVnni:
    return {8, 2, 6, true};
  case Int8Kernel::Avx2:
  case Int8Kernel::None:
    return {8, 2, 4, false};
  }
  llvm_unreachable("unknown int8 kernel");
}

struct Int8MatMul : OpRewritePattern<MatMulOp> {
  Int8MatMul(MLIRContext *ctx, Int8Kernel kernel,
             SmallVectorImpl<Attribute> &records)
      : OpRewritePattern(ctx), kernel(kernel), shape(shapeOf(kernel)),
        records(records) {}

  /// acc + the 4-way dot products of the broadcast activation bytes `act`
  /// (for AVX2: |act| in `actAbs`, and i16 ones) with the weight bytes `w`.
  Value dot(OpBuilder &b, Location l, Value acc, Value act, Value actAbs,
            Value ones, Value w) const {
    Type accType = acc.getType();
    switch (kernel) {
    case Int8Kernel::Avx512Vnni:
      return callStub(b, l, kVpdpbusd512, accType, {acc, act, w});
    case Int8Kernel::AvxVnni:
      return callStub(b, l, kVpdpbusd256, accType, {acc, act, w});
    case Int8Kernel::Avx2:
    case Int8Kernel::None: {
      Type i16 = b.getI16Type();
      auto pairs = VectorType::get({shape.lanes * 2}, i16);
      Value signedW = callStub(b, l, kPsignb256, w.getType(), {w, act});
      Value p = callStub(b, l, kPmaddubsw256, pairs, {actAbs, signedW});
      Value q = callStub(b, l, kPmaddwd256, accType, {p, ones});
      return arith::AddIOp::create(b, l, acc, q);
    }
    }
    llvm_unreachable("unknown int8 kernel");
  }

  LogicalResult matchAndRewrite(MatMulOp op,
                                PatternRewriter &rewriter) const override {
    SchemeAttr scheme = op.getScheme();
    if (!op.hasIntegerInput() || op.getOutlierInput() ||
        scheme.getKind() != QuantKind::Int || scheme.getBits() != 8 ||
        scheme.getIsUnsigned() || !scheme.getSymmetric() ||
        scheme.getGranularity() == Granularity::Group ||
        op.getWeightZeroPoints())
      return rewriter.notifyMatchFailure(op, "not a symmetric int8 product");
    ElementsAttr weightAttr = constantOf(op.getWeight());
    if (!weightAttr)
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
    if (!shape.unsignedActivations &&
        llvm::is_contained(*bytes, static_cast<char>(-128)))
      return rewriter.notifyMatchFailure(
          op, "a weight code is -128, which vpsignb cannot negate");

    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type i8 = rewriter.getI8Type(), i32 = rewriter.getI32Type();
    const int64_t lanes = shape.lanes, vectors = shape.vectorsPerRow;
    int64_t kp = roundUp(k, 4), groups = kp / 4;
    const int64_t blockColumns = shape.blockColumns();
    int64_t np = roundUp(n, blockColumns), blocks = np / blockColumns;
    // One step of a register block reads V vectors of weights.
    const int64_t stepBytes = vectors * shape.bytes();

    // Compile-time packing and the column sums.
    std::vector<char> packed(blocks * groups * stepBytes, 0);
    std::vector<int32_t> colsum(n, 0);
    for (int64_t c = 0; c < n; ++c)
      for (int64_t j = 0; j < k; ++j) {
        auto v = static_cast<int8_t>((*bytes)[c * k + j]);
        colsum[c] += v;
        int64_t b = c / blockColumns, lane = c % blockColumns, q = j / 4,
                t = j % 4;
        packed[(b * groups + q) * stepBytes + lane * 4 + t] =
            static_cast<char>(v);
      }
    Value packedW = createConstant(
        rewriter, loc, RankedTensorType::get({blocks, groups, stepBytes}, i8),
        packed);
    // What the artifact's manifest says of this kernel and its packing.
    records.push_back(
        kernelRecord(rewriter, op.getLoc(), kernel, n, k,
                     llvm::formatv("[{0} column blocks][{1} groups of 4 k]"
                                   "[{2} x {3} B: column * 4 + k]",
                                   blocks, groups, vectors, shape.bytes()),
                     shape.rows, blockColumns));
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
    // The kernel's codes u = a + shift: the sign bit is flipped when the
    // codes' signedness is not the one the dot instruction reads, once
    // over the activations (O(M K), so that the kernel broadcasts straight
    // from memory). The padding's codes meet zero weights either way.
    bool signedCodes = !op.getInputUnsigned();
    bool flipSign = signedCodes == shape.unsignedActivations;
    int32_t shift = !flipSign ? 0 : signedCodes ? 128 : -128;
    if (flipSign)
      a = flipSignBits(rewriter, loc, a);
    // Cache blocking in K: a chunk of a column block's packed weights stays
    // in L1 (half of a 32 KiB one) while every row block passes over it; the
    // accumulators go through the output between chunks. With one row
    // block there is nothing to reuse and the reduction is one chunk.
    int64_t chunk = std::max<int64_t>(1, kChunkBytes / stepBytes);
    if (m <= shape.rows || groups <= chunk)
      chunk = groups;
    bool chunked = chunk < groups;

    Value init = tensor::EmptyOp::create(rewriter, loc,
                                         ArrayRef<int64_t>{m, np}, i32);
    if (chunked)
      init = linalg::FillOp::create(
                 rewriter, loc,
                 ValueRange{arith::ConstantOp::create(
                     rewriter, loc, rewriter.getZeroAttr(i32))},
                 ValueRange{init})
                 .getResult(0);
    auto vecType = VectorType::get({lanes}, i32);
    auto byteType = VectorType::get({shape.bytes()}, i8);
    Value zeroVec = arith::ConstantOp::create(
        rewriter, loc, vecType, DenseElementsAttr::get(vecType, int32_t(0)));
    Value ones;
    if (!shape.unsignedActivations) {
      auto pairs = VectorType::get({lanes * 2}, rewriter.getI16Type());
      ones = arith::ConstantOp::create(
          rewriter, loc, pairs, DenseElementsAttr::get(pairs, int16_t(1)));
    }

    // One register block: `rows` rows from `row0`, blockColumns columns
    // from `col0`, over the groups [q0, q1) of the reduction (its partial
    // sums so far read from `out` when chunked); returns `out` with it
    // stored.
    auto block = [&](OpBuilder &b, Value out, Value row0, Value col0,
                     Value q0, Value q1, int64_t rows) -> Value {
      SmallVector<Value> start;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < vectors; ++j) {
          if (!chunked) {
            start.push_back(zeroVec);
            continue;
          }
          Value row =
              arith::AddIOp::create(b, loc, row0, indexConst(b, loc, r));
          Value col = arith::AddIOp::create(b, loc, col0,
                                            indexConst(b, loc, j * lanes));
          start.push_back(readVector(b, loc, vecType, out, {row, col}));
        }
      Value cb =
          arith::DivUIOp::create(b, loc, col0, indexConst(b, loc, blockColumns));
      auto loop = scf::ForOp::create(
          b, loc, q0, q1, indexConst(b, loc, 1), start,
          [&](OpBuilder &lb, Location l, Value q, ValueRange accs) {
            SmallVector<Value> w;
            for (int64_t j = 0; j < vectors; ++j)
              w.push_back(readVector(
                  lb, l, byteType, packedW,
                  {cb, q, indexConst(lb, l, j * shape.bytes())}));
            Value kOff = arith::MulIOp::create(lb, l, q, indexConst(lb, l, 4));
            SmallVector<Value> next;
            for (int64_t r = 0; r < rows; ++r) {
              Value row =
                  arith::AddIOp::create(lb, l, row0, indexConst(lb, l, r));
              Value act = broadcastQuad(lb, l, byteType, a, row, kOff);
              Value actAbs;
              if (!shape.unsignedActivations)
                actAbs = math::AbsIOp::create(lb, l, act);
              for (int64_t j = 0; j < vectors; ++j)
                next.push_back(
                    dot(lb, l, accs[r * vectors + j], act, actAbs, ones, w[j]));
            }
            scf::YieldOp::create(lb, l, next);
          });
      return storeBlock(b, loc, out, loop.getResults(), row0, col0, rows,
                        vectors, lanes);
    };

    // All row blocks of one column block over the groups [q0, q1).
    auto rowBlocks = [&](OpBuilder &b, Location, Value out, Value col0,
                         Value q0, Value q1) {
      return forEachRowBlock(
          b, loc, out, m, shape.rows,
          [&](OpBuilder &rb, Value inner, Value row0, int64_t rows) {
            return block(rb, inner, row0, col0, q0, q1, rows);
          });
    };
    Value dots = forEachColumnBlock(
        rewriter, loc, init, np, blockColumns, groups, chunk,
        [&](OpBuilder &b, Value out, Value col0, Value q0, Value q1) {
          return rowBlocks(b, loc, out, col0, q0, q1);
        });
    if (np != n)
      dots = tensor::ExtractSliceOp::create(
          rewriter, loc, RankedTensorType::get({m, n}, i32), dots,
          ValueRange{}, ValueRange{}, ValueRange{},
          rewriter.getDenseI64ArrayAttr({0, 0}),
          rewriter.getDenseI64ArrayAttr({m, n}),
          rewriter.getDenseI64ArrayAttr({1, 1}));

    // Epilogue: acc = dots - (za + shift) * colsum, then (f32 results) the
    // reference lowering's rescale.
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
                if (shift)
                  c = arith::AddIOp::create(b, l, c,
                                            lowering::constI32(b, l, shift));
              } else if (shift) {
                c = lowering::constI32(b, l, shift);
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

  Int8Kernel kernel;
  KernelShape shape;
  SmallVectorImpl<Attribute> &records;
};

/// The stubs a kernel calls: (name, type).
SmallVector<std::pair<StringRef, FunctionType>> stubsOf(MLIRContext *ctx,
                                                        Int8Kernel kernel) {
  Type i8 = IntegerType::get(ctx, 8), i16 = IntegerType::get(ctx, 16),
       i32 = IntegerType::get(ctx, 32);
  auto fn = [&](ArrayRef<Type> args, Type result) {
    return FunctionType::get(ctx, args, {result});
  };
  switch (kernel) {
  case Int8Kernel::Avx512Vnni: {
    // (acc: 16 x i32, unsigned bytes: 64 x i8, signed bytes: 64 x i8).
    auto acc = VectorType::get({16}, i32), bytes = VectorType::get({64}, i8);
    return {{kVpdpbusd512, fn({acc, bytes, bytes}, acc)}};
  }
  case Int8Kernel::AvxVnni: {
    auto acc = VectorType::get({8}, i32), bytes = VectorType::get({32}, i8);
    return {{kVpdpbusd256, fn({acc, bytes, bytes}, acc)}};
  }
  case Int8Kernel::Avx2:
  case Int8Kernel::None: {
    auto acc = VectorType::get({8}, i32), bytes = VectorType::get({32}, i8),
         pairs = VectorType::get({16}, i16);
    return {{kPsignb256, fn({bytes, bytes}, bytes)},
            {kPmaddubsw256, fn({bytes, bytes}, pairs)},
            {kPmaddwd256, fn({pairs, pairs}, acc)}};
  }
  }
  llvm_unreachable("unknown int8 kernel");
}

struct Int8MatMulPass
    : PassWrapper<Int8MatMulPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(Int8MatMulPass)
  Int8MatMulPass() = default;
  Int8MatMulPass(const Int8MatMulPass &other) : PassWrapper(other) {}
  explicit Int8MatMulPass(Int8Kernel kernel) { isa = int8KernelName(kernel).str(); }

  StringRef getArgument() const override { return "qopt-x86-int8-matmul"; }
  StringRef getDescription() const override {
    return "Integer qopt.matmul over constant int8 (or group-wise int4) "
           "weights as an x86 dot product kernel (AVX-512 VNNI, AVX-VNNI or "
           "AVX2) with compile-time packed weights";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, func::FuncDialect,
                    linalg::LinalgDialect, math::MathDialect, scf::SCFDialect,
                    tensor::TensorDialect, vector::VectorDialect>();
  }
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    std::optional<Int8Kernel> kernel = parseInt8Kernel(isa);
    if (!kernel) {
      module.emitError() << "qopt-x86-int8-matmul: unknown isa '" << isa
                         << "' (avx512vnni, avxvnni, avx2 or none)";
      return signalPassFailure();
    }
    if (*kernel == Int8Kernel::None)
      return;
    // The stubs the kernels call, declared once.
    SmallVector<func::FuncOp> declared;
    OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
    for (auto [name, type] : stubsOf(ctx, *kernel)) {
      if (module.lookupSymbol<func::FuncOp>(name))
        continue;
      auto stub = func::FuncOp::create(b, module.getLoc(), name, type);
      stub.setPrivate();
      declared.push_back(stub);
    }
    SmallVector<Attribute> records;
    if (auto before = module->getAttrOfType<ArrayAttr>(kInt8KernelsAttrName))
      records.append(before.begin(), before.end());
    RewritePatternSet patterns(ctx);
    patterns.add<Int8MatMul>(ctx, *kernel, records);
    populateGroupedInt8MatMulPatterns(patterns, *kernel, records);
    walkAndApplyPatterns(module, std::move(patterns));
    if (!records.empty())
      module->setAttr(kInt8KernelsAttrName, ArrayAttr::get(ctx, records));
    for (func::FuncOp stub : declared)
      if (stub.symbolKnownUseEmpty(module))
        stub.erase();
  }

  Option<std::string> isa{
      *this, "isa",
      llvm::cl::desc("The kernel's ISA level: avx512vnni (vpdpbusd zmm), "
                     "avxvnni (vpdpbusd ymm), avx2 (vpmaddubsw) or none"),
      llvm::cl::init("avx512vnni")};
};

struct IntrinsicCallsPass
    : PassWrapper<IntrinsicCallsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(IntrinsicCallsPass)
  StringRef getArgument() const override { return "qopt-x86-intrinsic-calls"; }
  StringRef getDescription() const override {
    return "Calls to the x86 kernels' intrinsic stubs (declared by "
           "qopt-x86-int8-matmul) become llvm.call_intrinsic";
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

std::unique_ptr<Pass> createInt8MatMulPass(Int8Kernel kernel) {
  return std::make_unique<Int8MatMulPass>(kernel);
}

std::unique_ptr<Pass> createIntrinsicCallsPass() {
  return std::make_unique<IntrinsicCallsPass>();
}

void registerInt8MatMulPass() {
  PassRegistration<Int8MatMulPass>();
  PassRegistration<IntrinsicCallsPass>();
}

} // namespace qopt::x86
