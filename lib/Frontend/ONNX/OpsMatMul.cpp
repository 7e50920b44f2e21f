//===- OpsMatMul.cpp - ONNX MatMul, Gemm and Einsum ------------------------===//
//
// Float matrix products go to tosa.matmul over [batch, M, K] x [batch, K, N]
// (weights shared across the batch are folded into M so they are never
// broadcast); integer and f64 products use linalg.batch_matmul. Einsum
// becomes a linalg.generic contraction.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"

using namespace mlir;

namespace qopt::onnx_frontend {

FailureOr<Value> emitMatMul(NodeContext &ctx, Value a, Value bv, DType t) {
  OpBuilder &b = ctx.b;
  Location loc = ctx.loc;
  auto at = cast<RankedTensorType>(a.getType());
  auto bt = cast<RankedTensorType>(bv.getType());
  SmallVector<int64_t> as(at.getShape()), bs(bt.getShape());
  bool aVec = as.size() == 1, bVec = bs.size() == 1;
  if (aVec)
    as.insert(as.begin(), 1);
  if (bVec)
    bs.push_back(1);
  if (as.empty() || bs.empty())
    return (ctx.fail("MatMul operands must have rank >= 1"));
  int64_t m = as[as.size() - 2], k = as.back();
  int64_t k2 = bs[bs.size() - 2], n = bs.back();
  if (k != k2)
    return (ctx.fail("inner dimensions differ: " + shapeToString(at.getShape()) +
                            " x " + shapeToString(bt.getShape())));
  ArrayRef<int64_t> aBatch = ArrayRef<int64_t>(as).drop_back(2);
  ArrayRef<int64_t> bBatch = ArrayRef<int64_t>(bs).drop_back(2);
  SmallVector<int64_t> batch;
  if (!broadcastShapes(aBatch, bBatch, batch))
    return (ctx.fail("batch dimensions do not broadcast: " +
                            shapeToString(at.getShape()) + " x " +
                            shapeToString(bt.getShape())));
  int64_t batchSize = shapeProduct(batch);
  Value r;
  if (shapeProduct(bBatch) == 1) {
    // Shared right operand: fold the batch into M.
    Value a3 = emitReshape(b, loc, a, {1, shapeProduct(aBatch) * m, k});
    Value b3 = emitReshape(b, loc, bv, {1, k, n});
    r = emitBatchMatMul(b, loc, a3, b3, t);
    SmallVector<int64_t> outShape(aBatch);
    outShape.append({m, n});
    r = emitReshape(b, loc, r, outShape);
    if (SmallVector<int64_t>(aBatch) != batch) {
      SmallVector<int64_t> full(batch);
      full.append({m, n});
      r = emitBroadcastTo(b, loc, r, full);
    }
  } else {
    SmallVector<int64_t> aFull(batch), bFull(batch);
    aFull.append({m, k});
    bFull.append({k, n});
    Value a2 = emitBroadcastTo(b, loc, emitReshape(b, loc, a, as), aFull);
    Value b2 = emitBroadcastTo(b, loc, emitReshape(b, loc, bv, bs), bFull);
    Value a3 = emitReshape(b, loc, a2, {batchSize, m, k});
    Value b3 = emitReshape(b, loc, b2, {batchSize, k, n});
    r = emitBatchMatMul(b, loc, a3, b3, t);
  }
  SmallVector<int64_t> outShape(batch);
  if (!aVec)
    outShape.push_back(m);
  if (!bVec)
    outShape.push_back(n);
  return emitReshape(b, loc, r, outShape);
}

namespace {

LogicalResult convertMatMul(NodeContext &ctx) {
  DType t = ctx.dtype(0);
  if (ctx.dtype(1) != t)
    return ctx.fail("operand element types differ");
  auto r = emitMatMul(ctx, ctx.value(0), ctx.value(1), t);
  if (failed(r))
    return failure();
  ctx.setOutput(0, *r, t);
  return success();
}

LogicalResult convertGemm(NodeContext &ctx) {
  DType t = ctx.dtype(0);
  // As for MatMul: B of another element type reached tosa.matmul's builder
  // and crashed it (found by the import fuzzer).
  if (ctx.dtype(1) != t || (ctx.hasInput(2) && ctx.dtype(2) != t))
    return ctx.fail("operand element types differ");
  if (ctx.rank(0) != 2 || ctx.rank(1) != 2)
    return ctx.fail("A and B must be matrices");
  OpBuilder &b = ctx.b;
  Value a = ctx.value(0), bv = ctx.value(1);
  if (ctx.attrInt("transA", 0))
    a = emitTranspose(b, ctx.loc, a, {1, 0});
  if (ctx.attrInt("transB", 0))
    bv = emitTranspose(b, ctx.loc, bv, {1, 0});
  auto r = emitMatMul(ctx, a, bv, t);
  if (failed(r))
    return failure();
  double alpha = ctx.attrFloat("alpha", 1.0f), beta = ctx.attrFloat("beta", 1.0f);
  Value y = *r;
  auto shape = cast<RankedTensorType>(y.getType()).getShape();
  SmallVector<Value> ins = {y};
  bool hasC = ctx.hasInput(2) && beta != 0.0;
  if (hasC) {
    SmallVector<int64_t> bshape;
    if (!broadcastShapes(shape, ctx.shape(2), bshape) ||
        bshape != SmallVector<int64_t>(shape))
      return ctx.fail("C of shape " + shapeToString(ctx.shape(2)) +
                      " does not broadcast to " + shapeToString(shape));
    ins.push_back(ctx.value(2));
  }
  if (alpha != 1.0 || hasC) {
    y = emitElementwise(
        b, ctx.loc, ins, shape, ctx.elemType(t),
        [&](OpBuilder &nb, Location loc, ValueRange s) -> Value {
          Value v = s[0];
          bool f = isa<FloatType>(v.getType());
          auto mul = [&](Value p, double c) -> Value {
            Value cv = emitScalar(nb, loc, p.getType(), c);
            return f ? (Value)arith::MulFOp::create(nb, loc, p, cv)
                     : (Value)arith::MulIOp::create(nb, loc, p, cv);
          };
          if (alpha != 1.0)
            v = mul(v, alpha);
          if (hasC) {
            Value c = beta != 1.0 ? mul(s[1], beta) : s[1];
            v = f ? (Value)arith::AddFOp::create(nb, loc, v, c)
                  : (Value)arith::AddIOp::create(nb, loc, v, c);
          }
          return v;
        });
  }
  ctx.setOutput(0, y, t);
  return success();
}

/// Einsum in explicit or implicit form, with '...', as one contraction.
LogicalResult convertEinsum(NodeContext &ctx) {
  std::string eq = ctx.attrString("equation", "");
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  std::string lhs = eq, rhs;
  bool explicitOut = false;
  if (auto pos = eq.find("->"); pos != std::string::npos) {
    lhs = eq.substr(0, pos);
    rhs = eq.substr(pos + 2);
    explicitOut = true;
  }
  SmallVector<StringRef> rawTerms;
  StringRef(lhs).split(rawTerms, ',');
  if (rawTerms.size() != ctx.numInputs())
    return ctx.fail("equation '" + eq + "' has " +
                    std::to_string(rawTerms.size()) +
                    " operands but the node has " +
                    std::to_string(ctx.numInputs()));
  // '...' stands for the leading dims not named by letters, broadcast
  // right-aligned across operands: give them fresh axis names.
  std::string ellipsis;
  for (unsigned i = 0; i < rawTerms.size(); ++i) {
    size_t pos = rawTerms[i].find("...");
    if (pos == StringRef::npos)
      continue;
    int64_t named = rawTerms[i].size() - 3;
    int64_t extra = ctx.rank(i) - named;
    if (extra < 0)
      return ctx.fail("operand " + std::to_string(i) + " has rank " +
                      std::to_string(ctx.rank(i)) + ", fewer than '" +
                      rawTerms[i].str() + "' names");
    while ((int64_t)ellipsis.size() < extra) {
      char fresh = 0;
      for (char c = '0'; c <= '9' && !fresh; ++c)
        if (eq.find(c) == std::string::npos && ellipsis.find(c) == std::string::npos)
          fresh = c;
      if (!fresh)
        return ctx.fail("'...' covers more than 10 dimensions");
      ellipsis.insert(ellipsis.begin(), fresh);
    }
  }
  std::vector<std::string> expanded;
  for (unsigned i = 0; i < rawTerms.size(); ++i) {
    std::string t = rawTerms[i].str();
    size_t pos = t.find("...");
    if (pos != std::string::npos) {
      int64_t extra = ctx.rank(i) - (int64_t)(t.size() - 3);
      t.replace(pos, 3, ellipsis.substr(ellipsis.size() - extra));
    }
    expanded.push_back(t);
  }
  if (explicitOut) {
    size_t pos = rhs.find("...");
    if (pos != std::string::npos)
      rhs.replace(pos, 3, ellipsis);
  }
  SmallVector<StringRef> terms(expanded.begin(), expanded.end());
  std::map<char, int64_t> dimSize;
  std::map<char, int> count;
  for (unsigned i = 0; i < terms.size(); ++i) {
    if ((int64_t)terms[i].size() != ctx.rank(i))
      return ctx.fail("operand " + std::to_string(i) + " has rank " +
                      std::to_string(ctx.rank(i)) + " but '" + terms[i].str() +
                      "' names " + std::to_string(terms[i].size()) + " axes");
    for (size_t d = 0; d < terms[i].size(); ++d) {
      char c = terms[i][d];
      int64_t s = ctx.shape(i)[d];
      auto it = dimSize.find(c);
      if (it != dimSize.end() && it->second != s && it->second != 1 && s != 1)
        return ctx.fail(std::string("axis '") + c + "' has sizes " +
                        std::to_string(it->second) + " and " +
                        std::to_string(s));
      dimSize[c] = it == dimSize.end() ? s : std::max(it->second, s);
      count[c]++;
    }
  }
  if (!explicitOut) {
    // Implicit output: the '...' dims, then letters used once, sorted.
    rhs = ellipsis;
    for (auto &[c, n] : count)
      if (n == 1 && ellipsis.find(c) == std::string::npos)
        rhs.push_back(c);
  }
  // Loop order: output letters, then reduced letters.
  std::string loops = rhs;
  for (auto &[c, n] : dimSize)
    if (rhs.find(c) == std::string::npos)
      loops.push_back(c);
  MLIRContext *mctx = ctx.ctx();
  auto dimOf = [&](char c) {
    return getAffineDimExpr(loops.find(c), mctx);
  };
  SmallVector<AffineMap> maps;
  SmallVector<Value> ins;
  DType t = ctx.dtype(0);
  for (unsigned i = 0; i < terms.size(); ++i) {
    SmallVector<AffineExpr> exprs;
    for (size_t d = 0; d < terms[i].size(); ++d) {
      char c = terms[i][d];
      exprs.push_back(ctx.shape(i)[d] == 1 && dimSize[c] != 1
                          ? getAffineConstantExpr(0, mctx)
                          : dimOf(c));
    }
    maps.push_back(AffineMap::get(loops.size(), 0, exprs, mctx));
    ins.push_back(ctx.value(i));
  }
  SmallVector<AffineExpr> outExprs;
  SmallVector<int64_t> outShape;
  for (char c : rhs) {
    if (!dimSize.count(c))
      return ctx.fail(std::string("output axis '") + c +
                      "' does not appear in any operand");
    outExprs.push_back(dimOf(c));
    outShape.push_back(dimSize[c]);
  }
  maps.push_back(AffineMap::get(loops.size(), 0, outExprs, mctx));
  SmallVector<utils::IteratorType> iters;
  for (size_t l = 0; l < loops.size(); ++l)
    iters.push_back(l < rhs.size() ? utils::IteratorType::parallel
                                   : utils::IteratorType::reduction);
  OpBuilder &b = ctx.b;
  Type elem = ctx.elemType(t);
  Value init = tensor::EmptyOp::create(b, ctx.loc, outShape, elem);
  Value zero = emitScalar(b, ctx.loc, elem, 0.0);
  Value filled =
      linalg::FillOp::create(b, ctx.loc, ValueRange{zero}, ValueRange{init})
          .getResult(0);
  Value r = linalg::GenericOp::create(
                b, ctx.loc, TypeRange{filled.getType()}, ins,
                ValueRange{filled}, maps, iters,
                [&](OpBuilder &nb, Location loc, ValueRange a) {
                  Value prod = a[0];
                  bool f = isa<FloatType>(prod.getType());
                  for (Value v : a.drop_front().drop_back())
                    prod = f ? (Value)arith::MulFOp::create(nb, loc, prod, v)
                             : (Value)arith::MulIOp::create(nb, loc, prod, v);
                  Value acc = a.back();
                  Value sum = f ? (Value)arith::AddFOp::create(nb, loc, acc, prod)
                                : (Value)arith::AddIOp::create(nb, loc, acc, prod);
                  linalg::YieldOp::create(nb, loc, sum);
                })
                .getResult(0);
  ctx.setOutput(0, r, t);
  return success();
}

} // namespace

void appendMatMulConverters(std::vector<ConverterEntry> &t) {
  t.push_back({"", "MatMul", 1, convertMatMul});
  t.push_back({"", "Gemm", 1, convertGemm});
  t.push_back({"", "Einsum", 12, convertEinsum});
}

} // namespace qopt::onnx_frontend
