//===- OpsElementwise.cpp - ONNX elementwise ops ---------------------------===//
//
// Unary, binary and variadic elementwise ops become one linalg.generic each,
// with numpy broadcasting expressed in the indexing maps and an arith/math
// scalar body. ONNX's broadcasting and dtype set (f64, unsigned, bool) go
// beyond TOSA's elementwise ops, and a generic per op fuses cleanly later.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

Value cstLike(OpBuilder &b, Location loc, Value like, double v) {
  return emitScalar(b, loc, like.getType(), v);
}

bool isF(Value v) { return isa<FloatType>(v.getType()); }

/// Output shape of a multidirectional broadcast of all present inputs.
FailureOr<SmallVector<int64_t>> broadcastAll(NodeContext &ctx,
                                             unsigned first = 0) {
  SmallVector<int64_t> shape;
  bool seeded = false;
  for (unsigned i = first; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i))
      continue;
    if (!seeded) {
      shape.assign(ctx.shape(i).begin(), ctx.shape(i).end());
      seeded = true;
      continue;
    }
    SmallVector<int64_t> next;
    if (!broadcastShapes(shape, ctx.shape(i), next)) {
      (void)ctx.fail("input shapes " + shapeToString(shape) + " and " +
                     shapeToString(ctx.shape(i)) + " do not broadcast");
      return failure();
    }
    shape = next;
  }
  return shape;
}

/// Converts a node whose inputs all share the first input's dtype (or are
/// bool conditions) into one generic; the result has `outType`.
LogicalResult
convertMap(NodeContext &ctx, DType outType,
           const std::function<Value(OpBuilder &, Location, ValueRange)> &fn) {
  auto shape = broadcastAll(ctx);
  if (failed(shape))
    return failure();
  SmallVector<Value> ins;
  for (unsigned i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i))
      ins.push_back(ctx.value(i));
  Value r = emitElementwise(ctx.b, ctx.loc, ins, *shape, ctx.elemType(outType),
                            fn);
  ctx.setOutput(0, r, outType);
  return success();
}

LogicalResult requireFloat(NodeContext &ctx) {
  if (!isFloatDType(ctx.dtype(0)))
    return ctx.fail(Twine("expects a floating-point input, got ") +
                    dtypeName(ctx.dtype(0)));
  return success();
}

#define UNARY_FLOAT(NAME, EXPR)                                                \
  LogicalResult convert##NAME(NodeContext &ctx) {                              \
    if (failed(requireFloat(ctx)))                                             \
      return failure();                                                        \
    return convertMap(ctx, ctx.dtype(0),                                       \
                      [&](OpBuilder &b, Location loc, ValueRange a) -> Value { \
                        Value x = a[0];                                        \
                        (void)x;                                               \
                        return EXPR;                                           \
                      });                                                      \
  }

#define C(v) cstLike(b, loc, x, (v))
#define ADD(p, q) arith::AddFOp::create(b, loc, p, q)
#define SUB(p, q) arith::SubFOp::create(b, loc, p, q)
#define MUL(p, q) arith::MulFOp::create(b, loc, p, q)
#define DIV(p, q) arith::DivFOp::create(b, loc, p, q)
#define MAXF(p, q) arith::MaximumFOp::create(b, loc, p, q)
#define MINF(p, q) arith::MinimumFOp::create(b, loc, p, q)
#define CMPF(pred, p, q) arith::CmpFOp::create(b, loc, arith::CmpFPredicate::pred, p, q)
#define SEL(c, p, q) arith::SelectOp::create(b, loc, c, p, q)

Value softplus(OpBuilder &b, Location loc, Value x) {
  // max(x, 0) + log1p(exp(-|x|)) is exact and never overflows.
  Value absx = math::AbsFOp::create(b, loc, x);
  Value negAbs = arith::NegFOp::create(b, loc, absx);
  Value l = math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, negAbs));
  return ADD(MAXF(x, C(0.0)), l);
}

UNARY_FLOAT(Ceil, (Value)math::CeilOp::create(b, loc, x))
UNARY_FLOAT(Floor, (Value)math::FloorOp::create(b, loc, x))
UNARY_FLOAT(Round, (Value)math::RoundEvenOp::create(b, loc, x))
UNARY_FLOAT(Cos, (Value)math::CosOp::create(b, loc, x))
UNARY_FLOAT(Sin, (Value)math::SinOp::create(b, loc, x))
UNARY_FLOAT(Tan, (Value)math::TanOp::create(b, loc, x))
UNARY_FLOAT(Erf, (Value)math::ErfOp::create(b, loc, x))
UNARY_FLOAT(Exp, (Value)math::ExpOp::create(b, loc, x))
UNARY_FLOAT(Log, (Value)math::LogOp::create(b, loc, x))
UNARY_FLOAT(Sqrt, (Value)math::SqrtOp::create(b, loc, x))
UNARY_FLOAT(Tanh, (Value)math::TanhOp::create(b, loc, x))
UNARY_FLOAT(Reciprocal, (Value)DIV(C(1.0), x))
UNARY_FLOAT(Sigmoid, (Value)DIV(C(1.0),
                                ADD(C(1.0), math::ExpOp::create(
                                                b, loc,
                                                arith::NegFOp::create(b, loc,
                                                                      x)))))
UNARY_FLOAT(Softplus, softplus(b, loc, x))
UNARY_FLOAT(Softsign,
            (Value)DIV(x, ADD(C(1.0), math::AbsFOp::create(b, loc, x))))
UNARY_FLOAT(Mish, (Value)MUL(x, math::TanhOp::create(b, loc, softplus(b, loc, x))))
UNARY_FLOAT(Elu, (Value)SEL(CMPF(OGT, x, C(0.0)), x,
                            MUL(C(ctx.attrFloat("alpha", 1.0f)),
                                math::ExpM1Op::create(b, loc, x))))
UNARY_FLOAT(Selu,
            (Value)MUL(C(ctx.attrFloat("gamma", 1.05070102214813232421875f)),
                       SEL(CMPF(OGT, x, C(0.0)), x,
                           MUL(C(ctx.attrFloat("alpha",
                                               1.67326319217681884765625f)),
                               math::ExpM1Op::create(b, loc, x)))))
UNARY_FLOAT(Celu, (Value)ADD(MAXF(x, C(0.0)),
                             MINF(C(0.0),
                                  MUL(C(ctx.attrFloat("alpha", 1.0f)),
                                      math::ExpM1Op::create(
                                          b, loc,
                                          DIV(x, C(ctx.attrFloat("alpha",
                                                                 1.0f))))))))
UNARY_FLOAT(LeakyRelu, (Value)SEL(CMPF(OGE, x, C(0.0)), x,
                                  MUL(C(ctx.attrFloat("alpha", 0.01f)), x)))
UNARY_FLOAT(HardSigmoid,
            (Value)MAXF(C(0.0),
                        MINF(C(1.0), ADD(MUL(C(ctx.attrFloat("alpha", 0.2f)), x),
                                         C(ctx.attrFloat("beta", 0.5f))))))
UNARY_FLOAT(HardSwish,
            (Value)MUL(x, MAXF(C(0.0), MINF(C(1.0), ADD(MUL(C(1.0 / 6.0), x),
                                                        C(0.5))))))
UNARY_FLOAT(ThresholdedRelu, (Value)SEL(CMPF(OGT, x, C(ctx.attrFloat("alpha", 1.0f))),
                                        x, C(0.0)))

LogicalResult convertShrink(NodeContext &ctx) {
  double lambd = ctx.attrFloat("lambd", 0.5f), bias = ctx.attrFloat("bias", 0.0f);
  DType t = ctx.dtype(0);
  return convertMap(ctx, t, [&](OpBuilder &b, Location loc, ValueRange a) {
    Value x = a[0];
    if (!isF(x)) {
      // Integer Shrink: compute in f64 and convert back.
      Value xf = castScalar(b, loc, x, t, DType::F64);
      Value lo = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, xf,
                                       emitScalar(b, loc, xf.getType(), -lambd));
      Value hi = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, xf,
                                       emitScalar(b, loc, xf.getType(), lambd));
      Value r = arith::SelectOp::create(
          b, loc, lo,
          arith::AddFOp::create(b, loc, xf,
                                emitScalar(b, loc, xf.getType(), bias)),
          arith::SelectOp::create(
              b, loc, hi,
              arith::SubFOp::create(b, loc, xf,
                                    emitScalar(b, loc, xf.getType(), bias)),
              emitScalar(b, loc, xf.getType(), 0.0)));
      return castScalar(b, loc, r, DType::F64, t);
    }
    return (Value)SEL(CMPF(OLT, x, C(-lambd)), ADD(x, C(bias)),
                      SEL(CMPF(OGT, x, C(lambd)), SUB(x, C(bias)), C(0.0)));
  });
}

LogicalResult convertGelu(NodeContext &ctx) {
  if (failed(requireFloat(ctx)))
    return failure();
  bool useTanh = ctx.attrString("approximate", "none") == "tanh";
  return convertMap(ctx, ctx.dtype(0), [&](OpBuilder &b, Location loc,
                                           ValueRange a) -> Value {
    Value x = a[0];
    Value inner;
    if (useTanh) {
      Value x3 = MUL(x, MUL(x, x));
      inner = math::TanhOp::create(
          b, loc, MUL(C(std::sqrt(2.0 / M_PI)), ADD(x, MUL(C(0.044715), x3))));
    } else {
      inner = math::ErfOp::create(b, loc, MUL(x, C(M_SQRT1_2)));
    }
    return MUL(MUL(C(0.5), x), ADD(C(1.0), inner));
  });
}

LogicalResult convertRelu(NodeContext &ctx) {
  return convertMap(ctx, ctx.dtype(0),
                    [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                      Value x = a[0];
                      if (isF(x))
                        return MAXF(x, C(0.0));
                      return arith::MaxSIOp::create(b, loc, x, C(0.0));
                    });
}

LogicalResult convertAbs(NodeContext &ctx) {
  bool isUnsigned = isUnsignedDType(ctx.dtype(0));
  return convertMap(ctx, ctx.dtype(0),
                    [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                      Value x = a[0];
                      if (isF(x))
                        return math::AbsFOp::create(b, loc, x);
                      if (isUnsigned)
                        return x;
                      return math::AbsIOp::create(b, loc, x);
                    });
}

LogicalResult convertNeg(NodeContext &ctx) {
  return convertMap(ctx, ctx.dtype(0),
                    [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                      Value x = a[0];
                      if (isF(x))
                        return arith::NegFOp::create(b, loc, x);
                      return arith::SubIOp::create(b, loc, C(0.0), x);
                    });
}

LogicalResult convertSign(NodeContext &ctx) {
  bool isUnsigned = isUnsignedDType(ctx.dtype(0));
  return convertMap(ctx, ctx.dtype(0), [&](OpBuilder &b, Location loc,
                                           ValueRange a) -> Value {
    Value x = a[0];
    Value zero = C(0.0), one = C(1.0), minus = C(-1.0);
    Value gt, lt;
    if (isF(x)) {
      gt = CMPF(OGT, x, zero);
      lt = CMPF(OLT, x, zero);
    } else {
      gt = arith::CmpIOp::create(b, loc,
                                 isUnsigned ? arith::CmpIPredicate::ugt
                                            : arith::CmpIPredicate::sgt,
                                 x, zero);
      lt = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, zero);
      if (isUnsigned)
        lt = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
    }
    return SEL(gt, one, SEL(lt, minus, zero));
  });
}

LogicalResult convertNot(NodeContext &ctx) {
  return convertMap(ctx, DType::Bool,
                    [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                      Value x = a[0];
                      return arith::XOrIOp::create(b, loc, x, C(1.0));
                    });
}

LogicalResult convertIdentity(NodeContext &ctx) {
  ctx.setOutput(0, ctx.value(0), ctx.dtype(0));
  if (ctx.opType() == "Dropout" && ctx.hasOutput(1))
    ctx.setOutput(1, emitSplat(ctx.b, ctx.loc, ctx.shape(0),
                               ctx.elemType(DType::Bool), 1.0),
                  DType::Bool);
  return success();
}

LogicalResult convertDropout(NodeContext &ctx) {
  // Inference: identity. A training_mode input that is known true is refused.
  if (ctx.hasInput(2)) {
    const HostTensor *mode = ctx.host(2);
    if (!mode || mode->getI(0) != 0)
      return ctx.fail("training mode is not supported");
  }
  return convertIdentity(ctx);
}

LogicalResult convertCast(NodeContext &ctx) {
  DType to = (DType)ctx.attrInt("to", 0);
  if (!isSupportedDType(to))
    return ctx.fail("cast to unsupported type " +
                    std::to_string(ctx.attrInt("to", 0)));
  ctx.setOutput(0, emitCast(ctx.b, ctx.loc, ctx.value(0), ctx.dtype(0), to),
                to);
  return success();
}

/// CastLike (opset 15): Cast to the element type of input 1.
LogicalResult convertCastLike(NodeContext &ctx) {
  DType to = ctx.declaredDType(1);
  if (!isSupportedDType(to))
    return ctx.fail("cast to unsupported type " + std::to_string((int)to));
  ctx.setOutput(0, emitCast(ctx.b, ctx.loc, ctx.value(0), ctx.dtype(0), to),
                to);
  return success();
}

/// Binary arithmetic with both operands of the same dtype.
LogicalResult convertArith(NodeContext &ctx) {
  StringRef op = ctx.opType();
  DType t = ctx.dtype(0);
  if (ctx.dtype(1) != t)
    return ctx.fail(Twine("operand types differ: ") + dtypeName(t) + " and " +
                    dtypeName(ctx.dtype(1)));
  bool isUnsigned = isUnsignedDType(t);
  return convertMap(ctx, t, [&](OpBuilder &b, Location loc,
                                ValueRange a) -> Value {
    Value x = a[0], y = a[1];
    if (isF(x)) {
      if (op == "Add") return ADD(x, y);
      if (op == "Sub") return SUB(x, y);
      if (op == "Mul") return MUL(x, y);
      return DIV(x, y);
    }
    if (op == "Add") return arith::AddIOp::create(b, loc, x, y);
    if (op == "Sub") return arith::SubIOp::create(b, loc, x, y);
    if (op == "Mul") return arith::MulIOp::create(b, loc, x, y);
    if (isUnsigned) return arith::DivUIOp::create(b, loc, x, y);
    return arith::DivSIOp::create(b, loc, x, y);
  });
}

LogicalResult convertPow(NodeContext &ctx) {
  DType t = ctx.dtype(0), te = ctx.dtype(1);
  return convertMap(ctx, t, [&](OpBuilder &b, Location loc,
                                ValueRange a) -> Value {
    Value x = a[0], y = a[1];
    if (isF(x)) {
      // Squares and square roots are common (RMSNorm); keep them exact.
      Value e = castScalar(b, loc, y, te, t);
      return math::PowFOp::create(b, loc, x, e);
    }
    Value e = castScalar(b, loc, y, te, t);
    if (isFloatDType(te)) {
      Value xf = castScalar(b, loc, x, t, DType::F64);
      Value ef = castScalar(b, loc, y, te, DType::F64);
      return castScalar(b, loc, math::PowFOp::create(b, loc, xf, ef),
                        DType::F64, t);
    }
    return math::IPowIOp::create(b, loc, x, e);
  });
}

LogicalResult convertMod(NodeContext &ctx) {
  bool fmod = ctx.attrInt("fmod", 0);
  DType t = ctx.dtype(0);
  bool isUnsigned = isUnsignedDType(t);
  if (isFloatDType(t) && !fmod)
    return ctx.fail("fmod=0 is not allowed for floating-point inputs");
  return convertMap(ctx, t, [&](OpBuilder &b, Location loc,
                                ValueRange a) -> Value {
    Value x = a[0], y = a[1];
    if (isF(x))
      return arith::RemFOp::create(b, loc, x, y);
    if (isUnsigned)
      return arith::RemUIOp::create(b, loc, x, y);
    Value r = arith::RemSIOp::create(b, loc, x, y);
    if (fmod)
      return r;
    // Python semantics: the result takes the divisor's sign.
    Value zero = C(0.0);
    Value nonzero =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, r, zero);
    Value rNeg =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, r, zero);
    Value yNeg =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, y, zero);
    Value differ = arith::XOrIOp::create(b, loc, rNeg, yNeg);
    Value fix = arith::AndIOp::create(b, loc, nonzero, differ);
    return SEL(fix, arith::AddIOp::create(b, loc, r, y), r);
  });
}

LogicalResult convertLogical(NodeContext &ctx) {
  StringRef op = ctx.opType();
  return convertMap(ctx, DType::Bool,
                    [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                      if (op == "And")
                        return arith::AndIOp::create(b, loc, a[0], a[1]);
                      if (op == "Or")
                        return arith::OrIOp::create(b, loc, a[0], a[1]);
                      return arith::XOrIOp::create(b, loc, a[0], a[1]);
                    });
}

LogicalResult convertCompare(NodeContext &ctx) {
  StringRef op = ctx.opType();
  bool isUnsigned = isUnsignedDType(ctx.dtype(0));
  return convertMap(ctx, DType::Bool, [&](OpBuilder &b, Location loc,
                                          ValueRange a) -> Value {
    Value x = a[0], y = a[1];
    if (isF(x)) {
      auto pred = op == "Equal"         ? arith::CmpFPredicate::OEQ
                  : op == "Less"        ? arith::CmpFPredicate::OLT
                  : op == "LessOrEqual" ? arith::CmpFPredicate::OLE
                  : op == "Greater"     ? arith::CmpFPredicate::OGT
                                        : arith::CmpFPredicate::OGE;
      return boolToByte(b, loc, arith::CmpFOp::create(b, loc, pred, x, y));
    }
    using P = arith::CmpIPredicate;
    P pred = op == "Equal"         ? P::eq
             : op == "Less"        ? (isUnsigned ? P::ult : P::slt)
             : op == "LessOrEqual" ? (isUnsigned ? P::ule : P::sle)
             : op == "Greater"     ? (isUnsigned ? P::ugt : P::sgt)
                                   : (isUnsigned ? P::uge : P::sge);
    return boolToByte(b, loc, arith::CmpIOp::create(b, loc, pred, x, y));
  });
}

LogicalResult convertWhere(NodeContext &ctx) {
  return convertMap(ctx, ctx.dtype(1),
                    [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                      return arith::SelectOp::create(
                          b, loc, scalarTruth(b, loc, a[0]), a[1], a[2]);
                    });
}

/// Max, Min, Sum, Mean over any number of inputs.
LogicalResult convertVariadic(NodeContext &ctx) {
  StringRef op = ctx.opType();
  DType t = ctx.dtype(0);
  bool isUnsigned = isUnsignedDType(t);
  unsigned n = 0;
  for (unsigned i = 0; i < ctx.numInputs(); ++i)
    n += ctx.hasInput(i);
  return convertMap(ctx, t, [&](OpBuilder &b, Location loc,
                                ValueRange a) -> Value {
    ReduceKind kind = op == "Max"   ? ReduceKind::Max
                      : op == "Min" ? ReduceKind::Min
                                    : ReduceKind::Sum;
    Value acc = a[0];
    for (Value v : a.drop_front())
      acc = combineScalars(b, loc, kind, acc, v, isUnsigned);
    if (op == "Mean") {
      Value x = acc;
      acc = isF(x) ? (Value)DIV(x, C((double)n))
                   : (Value)arith::DivSIOp::create(b, loc, x, C((double)n));
    }
    return acc;
  });
}

LogicalResult convertPRelu(NodeContext &ctx) {
  // Models from opset < 7 exporters give a per-channel slope [C] for
  // [N, C, ...] inputs; align it with axis 1.
  auto xs = ctx.shape(0), ss = ctx.shape(1);
  SmallVector<int64_t> bshape;
  if (ss.size() == 1 && xs.size() > 2 && ss[0] == xs[1] && ss[0] != xs.back() &&
      !broadcastShapes(xs, ss, bshape)) {
    SmallVector<int64_t> aligned(xs.size() - 1, 1);
    aligned[0] = ss[0];
    Value slope = emitReshape(ctx.b, ctx.loc, ctx.value(1), aligned);
    Value r = emitElementwise(
        ctx.b, ctx.loc, ValueRange{ctx.value(0), slope}, xs,
        ctx.elemType(ctx.dtype(0)),
        [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
          Value x = a[0];
          return SEL(CMPF(OLT, x, C(0.0)), MUL(a[1], x), x);
        });
    ctx.setOutput(0, r, ctx.dtype(0));
    return success();
  }
  return convertMap(ctx, ctx.dtype(0),
                    [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                      Value x = a[0], slope = a[1];
                      if (isF(x))
                        return SEL(CMPF(OLT, x, C(0.0)), MUL(slope, x), x);
                      Value neg = arith::CmpIOp::create(
                          b, loc, arith::CmpIPredicate::slt, x, C(0.0));
                      return SEL(neg, arith::MulIOp::create(b, loc, slope, x),
                                 x);
                    });
}

LogicalResult convertClip(NodeContext &ctx) {
  DType t = ctx.dtype(0);
  bool isUnsigned = isUnsignedDType(t);
  Value x = ctx.value(0);
  auto shape = ctx.shape(0);
  // Opset < 11 keeps bounds in attributes; later opsets pass optional inputs.
  std::optional<double> lo, hi;
  Value loV, hiV;
  if (ctx.opset < 11) {
    if (ctx.hasAttr("min"))
      lo = ctx.attrFloat("min", 0);
    if (ctx.hasAttr("max"))
      hi = ctx.attrFloat("max", 0);
  } else {
    if (ctx.hasInput(1))
      loV = ctx.value(1);
    if (ctx.hasInput(2))
      hiV = ctx.value(2);
  }
  SmallVector<Value> ins = {x};
  if (loV)
    ins.push_back(loV);
  if (hiV)
    ins.push_back(hiV);
  Value r = emitElementwise(
      ctx.b, ctx.loc, ins, shape, ctx.elemType(t),
      [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
        Value v = a[0];
        unsigned k = 1;
        Value l = loV ? a[k++] : (lo ? emitScalar(b, loc, v.getType(), *lo) : Value());
        Value h = hiV ? a[k++] : (hi ? emitScalar(b, loc, v.getType(), *hi) : Value());
        if (l)
          v = combineScalars(b, loc, ReduceKind::Max, v, l, isUnsigned);
        if (h)
          v = combineScalars(b, loc, ReduceKind::Min, v, h, isUnsigned);
        return v;
      });
  ctx.setOutput(0, r, t);
  return success();
}

#undef C
#undef ADD
#undef SUB
#undef MUL
#undef DIV
#undef MAXF
#undef MINF
#undef CMPF
#undef SEL

} // namespace

void appendElementwiseConverters(std::vector<ConverterEntry> &t) {
  auto add = [&](const char *op, ConvertFn fn, int since = 1,
                 FoldFn fold = nullptr) {
    t.push_back({"", op, since, fn, fold});
  };
  add("Abs", convertAbs, 1, foldUnaryMath);
  add("Ceil", convertCeil, 1, foldUnaryMath);
  add("Floor", convertFloor, 1, foldUnaryMath);
  add("Round", convertRound, 11);
  add("Cos", convertCos, 7);
  add("Sin", convertSin, 7);
  add("Tan", convertTan, 7);
  add("Erf", convertErf, 9);
  add("Exp", convertExp);
  add("Log", convertLog);
  add("Sqrt", convertSqrt, 1, foldUnaryMath);
  add("Tanh", convertTanh);
  add("Reciprocal", convertReciprocal, 1, foldUnaryMath);
  add("Sigmoid", convertSigmoid);
  add("Softplus", convertSoftplus);
  add("Softsign", convertSoftsign);
  add("Mish", convertMish, 18);
  add("Elu", convertElu);
  add("Selu", convertSelu);
  add("Celu", convertCelu, 12);
  add("LeakyRelu", convertLeakyRelu);
  add("HardSigmoid", convertHardSigmoid);
  add("HardSwish", convertHardSwish, 14);
  add("ThresholdedRelu", convertThresholdedRelu, 10);
  add("Shrink", convertShrink, 9);
  add("Gelu", convertGelu, 20);
  add("Relu", convertRelu, 1, foldUnaryMath);
  add("Neg", convertNeg, 1, foldUnaryMath);
  add("Sign", convertSign, 9);
  add("Not", convertNot, 1, foldNot);
  add("Identity", convertIdentity, 1, foldIdentity);
  add("Dropout", convertDropout, 1, foldIdentity);
  add("Cast", convertCast, 1, foldCast);
  add("CastLike", convertCastLike, 15, foldCastLike);
  for (const char *op : {"Add", "Sub", "Mul", "Div"})
    add(op, convertArith, 1, foldArith);
  add("Pow", convertPow, 1, foldArith);
  add("Mod", convertMod, 10);
  for (const char *op : {"And", "Or", "Xor"})
    add(op, convertLogical);
  for (const char *op : {"Equal", "Less", "LessOrEqual", "Greater",
                         "GreaterOrEqual"})
    add(op, convertCompare, 1, foldCompareOp);
  add("Where", convertWhere, 9, foldWhere);
  add("Max", convertVariadic, 1, foldMinMax);
  add("Min", convertVariadic, 1, foldMinMax);
  for (const char *op : {"Sum", "Mean"})
    add(op, convertVariadic);
  add("PRelu", convertPRelu);
  add("Clip", convertClip);
}

} // namespace qopt::onnx_frontend
