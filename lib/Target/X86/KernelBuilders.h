//===- KernelBuilders.h - Loop nests shared by the x86 kernels --*- C++ -*-===//
//
// The int8 and weight-only kernels share their outer structure: register
// blocks of R rows x V vectors of L lanes, stored into an [M, Np] tensor,
// over the rows in blocks of R and one narrower block for the rest.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TARGET_X86_KERNELBUILDERS_H
#define QOPT_LIB_TARGET_X86_KERNELBUILDERS_H

#include "qopt/Target/X86/X86Target.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace qopt::x86 {

/// Stand-in for llvm.x86.avx512.permvar.sf.512 (vpermps zmm), declared by
/// qopt-x86-weight-only-matmul; qopt-x86-intrinsic-calls swaps it in.
inline constexpr llvm::StringLiteral kVpermpsStub = "__qopt_x86_vpermps_512";
/// Likewise for llvm.x86.avx2.permps (vpermps ymm, an 8-entry table).
inline constexpr llvm::StringLiteral kVpermps256Stub = "__qopt_x86_vpermps_256";

/// Stand-ins for the integer kernels' LLVM intrinsics until the LLVM stage
/// (bufferization rejects ops of unknown memory effects, which
/// llvm.call_intrinsic is): private declarations that
/// qopt-x86-intrinsic-calls swaps for llvm.x86.avx512.vpdpbusd.{512,256},
/// llvm.x86.avx2.psign.b, .pmadd.ub.sw and .pmadd.wd.
inline constexpr llvm::StringLiteral kVpdpbusd512 = "__qopt_x86_vpdpbusd_512";
inline constexpr llvm::StringLiteral kVpdpbusd256 = "__qopt_x86_vpdpbusd_256";
inline constexpr llvm::StringLiteral kPsignb256 = "__qopt_x86_psignb_256";
inline constexpr llvm::StringLiteral kPmaddubsw256 = "__qopt_x86_pmaddubsw_256";
inline constexpr llvm::StringLiteral kPmaddwd256 = "__qopt_x86_pmaddwd_256";

/// Packed weight bytes of one column block per K chunk of the integer
/// kernels: half of a 32 KiB L1, which the block keeps while every row
/// block passes over it.
inline constexpr int64_t kChunkBytes = 16 * 1024;

inline int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/// A call of the intrinsic stub `stub`.
inline mlir::Value callStub(mlir::OpBuilder &b, mlir::Location loc,
                            llvm::StringRef stub, mlir::Type result,
                            mlir::ValueRange args) {
  return mlir::func::CallOp::create(
             b, loc, mlir::FlatSymbolRefAttr::get(b.getContext(), stub),
             mlir::TypeRange{result}, args)
      .getResult(0);
}

/// `p` (one value, or one per row of an input of `rows` rows) as a tensor
/// and the map that reads it from (row, column) loops.
inline std::pair<mlir::Value, mlir::AffineMap> rowParameter(mlir::OpBuilder &b,
                                                            mlir::Location loc,
                                                            mlir::Value p,
                                                            int64_t rows) {
  mlir::MLIRContext *ctx = b.getContext();
  auto t = mlir::cast<mlir::RankedTensorType>(p.getType());
  if (t.getNumElements() == 1)
    return {p, mlir::AffineMap::get(
                   2, 0,
                   llvm::SmallVector<mlir::AffineExpr>(
                       t.getRank(), mlir::getAffineConstantExpr(0, ctx)),
                   ctx)};
  mlir::ReassociationIndices all;
  for (int64_t i = 0; i < t.getRank(); ++i)
    all.push_back(i);
  mlir::Value flat = mlir::tensor::CollapseShapeOp::create(
      b, loc, mlir::RankedTensorType::get({rows}, t.getElementType()), p,
      llvm::SmallVector<mlir::ReassociationIndices>{all});
  return {flat,
          mlir::AffineMap::get(2, 0, {mlir::getAffineDimExpr(0, ctx)}, ctx)};
}

/// The 4 activation bytes of `a` at (row, k) broadcast to every 32-bit
/// lane of a `byteType` vector (one `vpbroadcastd` from memory).
inline mlir::Value broadcastQuad(mlir::OpBuilder &b, mlir::Location loc,
                                 mlir::VectorType byteType, mlir::Value a,
                                 mlir::Value row, mlir::Value k) {
  mlir::Type i8 = b.getI8Type(), i32 = b.getI32Type();
  mlir::Value four = mlir::vector::TransferReadOp::create(
      b, loc, mlir::VectorType::get({4}, i8), a, mlir::ValueRange{row, k},
      std::optional<mlir::Value>(), llvm::ArrayRef<bool>{true});
  mlir::Value word = mlir::vector::ExtractOp::create(
      b, loc,
      mlir::vector::BitCastOp::create(b, loc, mlir::VectorType::get({1}, i32),
                                      four),
      llvm::ArrayRef<int64_t>{0});
  auto words = mlir::VectorType::get({byteType.getNumElements() / 4}, i32);
  return mlir::vector::BitCastOp::create(
      b, loc, byteType, mlir::vector::BroadcastOp::create(b, loc, words, word));
}

/// The constant behind `v` seen through reshapes (which keep the row-major
/// bytes: convolutions' weights arrive as [F, C, KH, KW] viewed as [F, K]),
/// or null.
inline mlir::ElementsAttr constantOf(mlir::Value v) {
  while (auto view = v.getDefiningOp<mlir::tosa::ReshapeOp>())
    v = view.getInput1();
  mlir::ElementsAttr attr;
  if (!mlir::matchPattern(v, mlir::m_Constant(&attr)))
    return {};
  return attr;
}

/// An in-bounds vector read of `type` from `src` at `indices`.
inline mlir::Value readVector(mlir::OpBuilder &b, mlir::Location loc,
                              mlir::VectorType type, mlir::Value src,
                              mlir::ValueRange indices) {
  return mlir::vector::TransferReadOp::create(b, loc, type, src, indices,
                                              std::optional<mlir::Value>(),
                                              llvm::ArrayRef<bool>{true});
}

inline mlir::Value indexConst(mlir::OpBuilder &b, mlir::Location loc,
                              int64_t v) {
  return mlir::arith::ConstantIndexOp::create(b, loc, v);
}

/// Writes the `rows` x `vectors` accumulators `accs` (row-major) into `out`
/// at rows row0.. and columns col0, col0 + lanes, ...; returns `out`.
inline mlir::Value storeBlock(mlir::OpBuilder &b, mlir::Location loc,
                              mlir::Value out, mlir::ValueRange accs,
                              mlir::Value row0, mlir::Value col0, int64_t rows,
                              int64_t vectors, int64_t lanes) {
  for (int64_t r = 0; r < rows; ++r) {
    mlir::Value row =
        mlir::arith::AddIOp::create(b, loc, row0, indexConst(b, loc, r));
    for (int64_t j = 0; j < vectors; ++j) {
      mlir::Value col = mlir::arith::AddIOp::create(
          b, loc, col0, indexConst(b, loc, j * lanes));
      out = mlir::vector::TransferWriteOp::create(
                b, loc, accs[r * vectors + j], out, mlir::ValueRange{row, col},
                llvm::ArrayRef<bool>{true})
                .getResult();
    }
  }
  return out;
}

/// `block(builder, out, row0, rows)` over the `m` rows of `out`: a loop of
/// `rowsPerBlock`-row blocks, then the m mod rowsPerBlock rows left over (M
/// is static) as one narrower block; returns the updated `out`.
inline mlir::Value forEachRowBlock(
    mlir::OpBuilder &b, mlir::Location loc, mlir::Value out, int64_t m,
    int64_t rowsPerBlock,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Value,
                                   mlir::Value, int64_t)>
        block) {
  int64_t full = m / rowsPerBlock * rowsPerBlock;
  auto rowLoop = [&](int64_t from, int64_t to, int64_t rows) {
    if (from == to)
      return;
    out = mlir::scf::ForOp::create(
              b, loc, indexConst(b, loc, from), indexConst(b, loc, to),
              indexConst(b, loc, rows), mlir::ValueRange{out},
              [&](mlir::OpBuilder &rb, mlir::Location, mlir::Value row0,
                  mlir::ValueRange inner) {
                mlir::scf::YieldOp::create(rb, loc,
                                           block(rb, inner[0], row0, rows));
              })
              .getResult(0);
  };
  rowLoop(0, full, rowsPerBlock);
  rowLoop(full, m, m - full);
  return out;
}

/// The i8 codes `a` with their sign bits flipped (u = a ^ 0x80): signed
/// codes as the unsigned ones vpdpbusd reads, shifted by 128, once over the
/// activations so that the kernels broadcast straight from memory.
mlir::Value flipSignBits(mlir::OpBuilder &b, mlir::Location loc, mlir::Value a);

/// The integer kernels' outer loops over an [M, Np] `init`: column blocks
/// of `blockColumns` and, inside each, the reduction's `steps` in chunks of
/// `chunk` (one chunk when chunk >= steps). `body(builder, out, col0, s0,
/// s1)` passes every row block over steps [s0, s1) of the block at column
/// col0 and returns `out` updated; returns the final tensor.
mlir::Value forEachColumnBlock(
    mlir::OpBuilder &b, mlir::Location loc, mlir::Value init, int64_t np,
    int64_t blockColumns, int64_t steps, int64_t chunk,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Value, mlir::Value,
                                   mlir::Value, mlir::Value)>
        body);

/// What the manifest's `int8_kernels` says of one product: its ONNX node
/// (from `loc`), the kernel, n and k, the compile-time `packing` of its
/// weights and the register block, then `extra` fields.
mlir::DictionaryAttr
kernelRecord(mlir::OpBuilder &b, mlir::Location loc, Int8Kernel kernel,
             int64_t n, int64_t k, const llvm::Twine &packing, int64_t rows,
             int64_t blockColumns,
             llvm::ArrayRef<mlir::NamedAttribute> extra = {});

/// Adds the group-wise int4 x int8 (W4A8) kernel of qopt-x86-int8-matmul
/// at `kernel`'s ISA level (GroupedInt8MatMul.cpp); each rewrite appends
/// its manifest record to `records`.
void populateGroupedInt8MatMulPatterns(
    mlir::RewritePatternSet &patterns, Int8Kernel kernel,
    llvm::SmallVectorImpl<mlir::Attribute> &records);

} // namespace qopt::x86

#endif // QOPT_LIB_TARGET_X86_KERNELBUILDERS_H
