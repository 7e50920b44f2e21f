//===- KernelBuilders.cpp - Pieces shared by the x86 integer kernels ------===//

#include "KernelBuilders.h"
#include "LoweringUtils.h"

#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace qopt::x86 {

Value flipSignBits(OpBuilder &b, Location loc, Value a) {
  auto t = cast<RankedTensorType>(a.getType());
  AffineMap id = AffineMap::getMultiDimIdentityMap(t.getRank(), b.getContext());
  return linalg::GenericOp::create(
             b, loc, TypeRange{t}, ValueRange{a},
             ValueRange{
                 lowering::emptyLike(b, loc, t.getShape(), t.getElementType())},
             SmallVector<AffineMap>{id, id}, lowering::parallel(t.getRank()),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value bit = arith::ConstantIntOp::create(nb, l, nb.getI8Type(),
                                                        int8_t(-128));
               linalg::YieldOp::create(
                   nb, l, Value(arith::XOrIOp::create(nb, l, args[0], bit)));
             })
      .getResult(0);
}

Value forEachColumnBlock(
    OpBuilder &b, Location loc, Value init, int64_t np, int64_t blockColumns,
    int64_t steps, int64_t chunk,
    llvm::function_ref<Value(OpBuilder &, Value, Value, Value, Value)> body) {
  Value c0 = indexConst(b, loc, 0);
  auto columns = scf::ForOp::create(
      b, loc, c0, indexConst(b, loc, np), indexConst(b, loc, blockColumns),
      ValueRange{init},
      [&](OpBuilder &cb, Location l, Value col0, ValueRange carried) {
        Value end = indexConst(cb, l, steps);
        if (chunk >= steps) {
          scf::YieldOp::create(cb, l, body(cb, carried[0], col0, c0, end));
          return;
        }
        auto chunks = scf::ForOp::create(
            cb, l, c0, end, indexConst(cb, l, chunk), carried,
            [&](OpBuilder &kb, Location kl, Value s0, ValueRange inner) {
              Value s1 = arith::MinUIOp::create(
                  kb, kl,
                  arith::AddIOp::create(kb, kl, s0, indexConst(kb, kl, chunk)),
                  end);
              scf::YieldOp::create(kb, kl, body(kb, inner[0], col0, s0, s1));
            });
        scf::YieldOp::create(cb, l, chunks.getResult(0));
      });
  return columns.getResult(0);
}

DictionaryAttr kernelRecord(OpBuilder &b, Location loc, Int8Kernel kernel,
                            int64_t n, int64_t k, const llvm::Twine &packing,
                            int64_t rows, int64_t blockColumns,
                            ArrayRef<NamedAttribute> extra) {
  auto str = [&](const Twine &t) { return b.getStringAttr(t); };
  SmallVector<NamedAttribute> fields = {
      b.getNamedAttr("node", str(onnxNodeName(loc))),
      b.getNamedAttr("kernel", str(int8KernelName(kernel))),
      b.getNamedAttr("n", b.getI64IntegerAttr(n)),
      b.getNamedAttr("k", b.getI64IntegerAttr(k)),
      b.getNamedAttr("packing", str(packing)),
      b.getNamedAttr(
          "register_block",
          str(llvm::formatv("{0} rows x {1} columns", rows, blockColumns))),
  };
  fields.append(extra.begin(), extra.end());
  return b.getDictionaryAttr(fields);
}

} // namespace qopt::x86
