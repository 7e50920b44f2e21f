//===- KernelBuilders.h - Loop nests shared by the x86 kernels --*- C++ -*-===//
//
// The int8 and weight-only kernels share their outer structure: register
// blocks of R rows x V vectors of L lanes, stored into an [M, Np] tensor,
// over the rows in blocks of R and one narrower block for the rest.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TARGET_X86_KERNELBUILDERS_H
#define QOPT_LIB_TARGET_X86_KERNELBUILDERS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace qopt::x86 {

/// Stand-in for llvm.x86.avx512.permvar.sf.512 (vpermps zmm), declared by
/// qopt-x86-weight-only-matmul; qopt-x86-intrinsic-calls swaps it in.
inline constexpr llvm::StringLiteral kVpermpsStub = "__qopt_x86_vpermps_512";

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

} // namespace qopt::x86

#endif // QOPT_LIB_TARGET_X86_KERNELBUILDERS_H
