//===- OpsRecurrent.cpp - ONNX RNN, GRU and LSTM --------------------------===//
//
// The sequence length is static at import, so a recurrent layer is unrolled
// over time. The input projection X·Wᵀ of all time steps of a direction is
// one matmul on a (transposed) weight, a constant whenever W is, and each
// step multiplies the previous hidden state by the constant Rᵀ with the same
// kind of matmul, so the quantizer sees both weights like any MatMul's. The
// gate arithmetic of a step is one or two elementwise linalg.generic ops.
//
// `sequence_lens` is handled with a mask instead of per-batch reversal: at
// step t, batch entry b is live when t < sequence_lens[b]. A dead entry
// keeps its state and writes zeros to Y. Run backwards, the reverse
// direction then starts each entry at its own last position, as ONNX
// requires.
//
//===----------------------------------------------------------------------===//

#include "Builders.h"
#include "ImportContext.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

enum class CellKind { RNN, GRU, LSTM };

/// One activation function of a cell with its parameters.
struct Activation {
  enum Kind {
    Relu,
    Tanh,
    Sigmoid,
    Affine,
    LeakyRelu,
    ThresholdedRelu,
    ScaledTanh,
    HardSigmoid,
    Elu,
    Softsign,
    Softplus,
    Unknown
  };
  Kind kind = Tanh;
  double alpha = 0.0, beta = 0.0;
};

/// Reads `activations`, `activation_alpha` and `activation_beta`. The
/// parameter lists are consumed in order by the activations that take a
/// parameter (as ONNX Runtime reads them); an activation past the end of a
/// list gets its operator's default.
FailureOr<SmallVector<Activation>>
readActivations(NodeContext &ctx, ArrayRef<Activation::Kind> defaults,
                int64_t numDirections) {
  size_t count = defaults.size() * numDirections;
  SmallVector<Activation> acts;
  if (!ctx.hasAttr("activations")) {
    for (int64_t d = 0; d < numDirections; ++d)
      for (Activation::Kind k : defaults)
        acts.push_back({k, 0.0, 0.0});
    return acts;
  }
  const onnx::AttributeProto *attr = nullptr;
  for (const auto &a : ctx.node.attribute())
    if (a.name() == "activations")
      attr = &a;
  if ((size_t)attr->strings_size() != count)
    return (ctx.fail("has " + std::to_string(attr->strings_size()) +
                     " activations; expected " + std::to_string(count) + " (" +
                     std::to_string(defaults.size()) + " per direction)"));
  std::vector<float> alphas =
      ctx.attrFloats("activation_alpha").value_or(std::vector<float>{});
  std::vector<float> betas =
      ctx.attrFloats("activation_beta").value_or(std::vector<float>{});
  size_t nextAlpha = 0, nextBeta = 0;
  for (const std::string &name : attr->strings()) {
    Activation a;
    a.kind = llvm::StringSwitch<Activation::Kind>(StringRef(name).lower())
                 .Case("relu", Activation::Relu)
                 .Case("tanh", Activation::Tanh)
                 .Case("sigmoid", Activation::Sigmoid)
                 .Case("affine", Activation::Affine)
                 .Case("leakyrelu", Activation::LeakyRelu)
                 .Case("thresholdedrelu", Activation::ThresholdedRelu)
                 .Case("scaledtanh", Activation::ScaledTanh)
                 .Case("hardsigmoid", Activation::HardSigmoid)
                 .Case("elu", Activation::Elu)
                 .Case("softsign", Activation::Softsign)
                 .Case("softplus", Activation::Softplus)
                 .Default(Activation::Unknown);
    bool takesAlpha = false, takesBeta = false;
    double alphaDefault = 0.0, betaDefault = 0.0;
    switch (a.kind) {
    case Activation::Unknown:
      return (ctx.fail("activation '" + name +
                       "' is not supported (expected Relu, Tanh, Sigmoid, "
                       "Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, "
                       "HardSigmoid, Elu, Softsign or Softplus)"));
    case Activation::Affine:
    case Activation::ScaledTanh:
      takesAlpha = takesBeta = true;
      alphaDefault = 1.0;
      betaDefault = a.kind == Activation::ScaledTanh ? 1.0 : 0.0;
      break;
    case Activation::HardSigmoid:
      takesAlpha = takesBeta = true;
      alphaDefault = 0.2;
      betaDefault = 0.5;
      break;
    case Activation::LeakyRelu:
      takesAlpha = true;
      alphaDefault = 0.01;
      break;
    case Activation::ThresholdedRelu:
    case Activation::Elu:
      takesAlpha = true;
      alphaDefault = 1.0;
      break;
    default:
      break;
    }
    if (takesAlpha)
      a.alpha = nextAlpha < alphas.size() ? alphas[nextAlpha++] : alphaDefault;
    if (takesBeta)
      a.beta = nextBeta < betas.size() ? betas[nextBeta++] : betaDefault;
    acts.push_back(a);
  }
  return acts;
}

/// Scalar helpers for the bodies of the step generics.
struct ScalarMath {
  OpBuilder &b;
  Location loc;
  std::optional<double> clip;

  Value cst(Value like, double v) {
    return emitScalar(b, loc, like.getType(), v);
  }
  Value add(Value p, Value q) { return arith::AddFOp::create(b, loc, p, q); }
  Value sub(Value p, Value q) { return arith::SubFOp::create(b, loc, p, q); }
  Value mul(Value p, Value q) { return arith::MulFOp::create(b, loc, p, q); }
  Value select(Value c, Value p, Value q) {
    return arith::SelectOp::create(b, loc, c, p, q);
  }

  /// f(x), with x clipped to [-clip, clip] first when `clip` is set.
  Value apply(const Activation &a, Value x) {
    if (clip) {
      x = arith::MaximumFOp::create(b, loc, x, cst(x, -*clip));
      x = arith::MinimumFOp::create(b, loc, x, cst(x, *clip));
    }
    auto cmp = [&](arith::CmpFPredicate p, Value l, Value r) {
      return arith::CmpFOp::create(b, loc, p, l, r);
    };
    switch (a.kind) {
    case Activation::Relu:
      return arith::MaximumFOp::create(b, loc, x, cst(x, 0.0));
    case Activation::Tanh:
      return math::TanhOp::create(b, loc, x);
    case Activation::Sigmoid: {
      Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
      return arith::DivFOp::create(b, loc, cst(x, 1.0), add(cst(x, 1.0), e));
    }
    case Activation::Affine:
      return add(mul(cst(x, a.alpha), x), cst(x, a.beta));
    case Activation::LeakyRelu:
      return select(cmp(arith::CmpFPredicate::OGE, x, cst(x, 0.0)), x,
                    mul(cst(x, a.alpha), x));
    case Activation::ThresholdedRelu:
      return select(cmp(arith::CmpFPredicate::OGE, x, cst(x, a.alpha)), x,
                    cst(x, 0.0));
    case Activation::ScaledTanh:
      return mul(cst(x, a.alpha),
                 math::TanhOp::create(b, loc, mul(cst(x, a.beta), x)));
    case Activation::HardSigmoid: {
      Value y = add(mul(cst(x, a.alpha), x), cst(x, a.beta));
      y = arith::MaximumFOp::create(b, loc, y, cst(x, 0.0));
      return arith::MinimumFOp::create(b, loc, y, cst(x, 1.0));
    }
    case Activation::Elu:
      return select(cmp(arith::CmpFPredicate::OGE, x, cst(x, 0.0)), x,
                    mul(cst(x, a.alpha), math::ExpM1Op::create(b, loc, x)));
    case Activation::Softsign:
      return arith::DivFOp::create(
          b, loc, x, add(cst(x, 1.0), math::AbsFOp::create(b, loc, x)));
    case Activation::Softplus: {
      // max(x, 0) + log1p(exp(-|x|)) never overflows.
      Value negAbs =
          arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x));
      Value l =
          math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, negAbs));
      return add(arith::MaximumFOp::create(b, loc, x, cst(x, 0.0)), l);
    }
    case Activation::Unknown:
      break;
    }
    llvm_unreachable("activation kinds are checked when read");
  }
};

/// Everything a cell needs, read and checked once.
struct CellSpec {
  CellKind kind;
  DType dtype;
  int64_t seqLen, batch, inputSize, hidden, numDirections, gates;
  bool batchFirst;
  SmallVector<bool, 2> reverse;
  std::optional<double> clip;
  bool linearBeforeReset = false, inputForget = false;
  /// Activations per direction: `activationsPerDirection` each.
  SmallVector<Activation> acts;
  size_t activationsPerDirection;
};

/// Converts one ONNX recurrent node: the input projection and output
/// assembly are shared, each kind's gate arithmetic is in runDirection.
class RecurrentImporter {
public:
  RecurrentImporter(NodeContext &ctx, CellSpec spec)
      : ctx(ctx), b(ctx.b), loc(ctx.loc), s(std::move(spec)),
        elem(ctx.elemType(s.dtype)) {}

  LogicalResult run();

private:
  NodeContext &ctx;
  OpBuilder &b;
  Location loc;
  CellSpec s;
  Type elem;
  /// sequence_lens as [batch, 1] i32, or null when every entry runs the
  /// whole sequence.
  Value seqLens;

  static constexpr unsigned kX = 0, kW = 1, kR = 2, kB = 3, kSeqLens = 4,
                            kInitialH = 5, kInitialC = 6, kP = 7;

  const Activation &act(int64_t dir, unsigned i) const {
    return s.acts[dir * s.activationsPerDirection + i];
  }
  Value constant(HostTensor t);
  Value weightTransposed(unsigned input, int64_t dir, int64_t rowBegin,
                         int64_t rows);
  Value vectorSlice(unsigned input, int64_t dir, int64_t offset, int64_t size);
  Value inputBias(int64_t dir);
  Value initialState(unsigned input, int64_t dir);
  Value matmul2D(Value lhs, Value rhsTransposed);
  Value columns(Value v, int64_t gate);
  Value stepMask(OpBuilder &nb, Location nloc, Value seqLen, int64_t t);
  Value emitStep(ValueRange ins, const ScalarBodyFn &body);

  struct State {
    Value h, c;
  };
  /// Runs direction `dir` over all time steps; returns the final state and
  /// each step's Y (by time index).
  State runDirection(int64_t dir, Value projection, SmallVectorImpl<Value> &ys);
};

Value RecurrentImporter::constant(HostTensor t) {
  TensorRef ref;
  ref.dtype = t.dtype;
  ref.shape = t.shape;
  ref.host = std::move(t);
  return ctx.materialize(ref);
}

/// Rows [rowBegin, rowBegin + rows) of input `input`[dir] (W or R, shape
/// [D, rows, cols]) transposed to [1, cols, rows]: the right operand of a
/// matmul. A constant when the weight is known at import.
Value RecurrentImporter::weightTransposed(unsigned input, int64_t dir,
                                          int64_t rowBegin, int64_t rows) {
  ArrayRef<int64_t> shape = ctx.shape(input);
  int64_t totalRows = shape[1], cols = shape[2];
  if (const HostTensor *w = ctx.host(input)) {
    HostTensor t(s.dtype, {1, cols, rows});
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        t.setF(c * rows + r,
               w->getF((dir * totalRows + rowBegin + r) * cols + c));
    return constant(std::move(t));
  }
  Value slice = emitSlice(b, loc, ctx.value(input), {dir, rowBegin, 0},
                          {1, rows, cols}, {1, 1, 1});
  return emitTranspose(b, loc, slice, {0, 2, 1});
}

/// Elements [offset, offset + size) of row `dir` of a [D, n] input (B, P)
/// as a [size] tensor.
Value RecurrentImporter::vectorSlice(unsigned input, int64_t dir,
                                     int64_t offset, int64_t size) {
  int64_t n = ctx.shape(input)[1];
  if (const HostTensor *v = ctx.host(input)) {
    HostTensor t(s.dtype, {size});
    for (int64_t i = 0; i < size; ++i)
      t.setF(i, v->getF(dir * n + offset + i));
    return constant(std::move(t));
  }
  Value slice =
      emitSlice(b, loc, ctx.value(input), {dir, offset}, {1, size}, {1, 1});
  return emitReshape(b, loc, slice, {size});
}

/// Wb + Rb as one [gates * hidden] vector added to the input projection;
/// GRU with linear_before_reset keeps Rbh out (it is added inside the reset
/// product instead).
Value RecurrentImporter::inputBias(int64_t dir) {
  int64_t n = s.gates * s.hidden;
  bool keepRbh = s.kind == CellKind::GRU && s.linearBeforeReset;
  int64_t rbUsed = keepRbh ? 2 * s.hidden : n;
  if (const HostTensor *bias = ctx.host(kB)) {
    HostTensor t(s.dtype, {n});
    for (int64_t i = 0; i < n; ++i) {
      double v = bias->getF(dir * 2 * n + i);
      if (i < rbUsed)
        v += bias->getF(dir * 2 * n + n + i);
      t.setF(i, v);
    }
    return constant(std::move(t));
  }
  Value wb = vectorSlice(kB, dir, 0, n);
  Value rb = vectorSlice(kB, dir, n, rbUsed);
  if (keepRbh)
    rb = tensor::ConcatOp::create(
        b, loc, 0, ValueRange{rb, emitSplat(b, loc, {s.hidden}, elem, 0.0)});
  return emitElementwise(b, loc, {wb, rb}, {n}, elem,
                         [](OpBuilder &nb, Location nloc, ValueRange a) {
                           return arith::AddFOp::create(nb, nloc, a[0], a[1]);
                         });
}

/// initial_h / initial_c of direction `dir` as [batch, hidden] (zeros when
/// absent).
Value RecurrentImporter::initialState(unsigned input, int64_t dir) {
  if (!ctx.hasInput(input))
    return emitSplat(b, loc, {s.batch, s.hidden}, elem, 0.0);
  Value v = ctx.value(input);
  Value slice = s.batchFirst ? emitSlice(b, loc, v, {0, dir, 0},
                                         {s.batch, 1, s.hidden}, {1, 1, 1})
                             : emitSlice(b, loc, v, {dir, 0, 0},
                                         {1, s.batch, s.hidden}, {1, 1, 1});
  return emitReshape(b, loc, slice, {s.batch, s.hidden});
}

/// [M, K] x [1, K, N] -> [M, N].
Value RecurrentImporter::matmul2D(Value lhs, Value rhsTransposed) {
  auto lt = cast<RankedTensorType>(lhs.getType());
  auto rt = cast<RankedTensorType>(rhsTransposed.getType());
  int64_t m = lt.getDimSize(0), k = lt.getDimSize(1), n = rt.getDimSize(2);
  Value r = emitBatchMatMul(b, loc, emitReshape(b, loc, lhs, {1, m, k}),
                            rhsTransposed, s.dtype);
  return emitReshape(b, loc, r, {m, n});
}

/// Gate `gate`'s columns [batch, hidden] of a [batch, k * hidden] tensor.
Value RecurrentImporter::columns(Value v, int64_t gate) {
  return emitSlice(b, loc, v, {0, gate * s.hidden}, {s.batch, s.hidden},
                   {1, 1});
}

/// i1: this batch entry is still inside its sequence at step t.
Value RecurrentImporter::stepMask(OpBuilder &nb, Location nloc, Value seqLen,
                                  int64_t t) {
  Value tv = emitScalar(nb, nloc, seqLen.getType(), (double)t);
  return arith::CmpIOp::create(nb, nloc, arith::CmpIPredicate::slt, tv, seqLen);
}

Value RecurrentImporter::emitStep(ValueRange ins, const ScalarBodyFn &body) {
  return emitElementwise(b, loc, ins, {s.batch, s.hidden}, elem, body);
}

RecurrentImporter::State
RecurrentImporter::runDirection(int64_t dir, Value projection,
                                SmallVectorImpl<Value> &ys) {
  int64_t h = s.hidden;
  bool lstm = s.kind == CellKind::LSTM, gru = s.kind == CellKind::GRU;
  // The recurrent weights: all gates at once, except GRU's hidden gate
  // without linear_before_reset, which multiplies (r ⊙ H) separately.
  bool splitHidden = gru && !s.linearBeforeReset;
  int64_t fusedGates = splitHidden ? 2 : s.gates;
  Value rT = weightTransposed(kR, dir, 0, fusedGates * h);
  Value rhT = splitHidden ? weightTransposed(kR, dir, 2 * h, h) : Value();
  Value rbh = gru && s.linearBeforeReset && ctx.hasInput(kB)
                  ? vectorSlice(kB, dir, s.gates * h + 2 * h, h)
                  : Value();
  bool peepholes = lstm && ctx.hasInput(kP);
  Value pi, po, pf;
  if (peepholes) {
    pi = vectorSlice(kP, dir, 0, h);
    po = vectorSlice(kP, dir, h, h);
    pf = vectorSlice(kP, dir, 2 * h, h);
  }

  State state{initialState(kInitialH, dir),
              lstm ? initialState(kInitialC, dir) : Value()};
  ys.assign(s.seqLen, Value());
  // Without initial_h the first step's recurrent products are zero: leave
  // them out rather than multiply a constant by a constant (which the
  // quantizer could not tell from a weight product).
  bool zeroState = !ctx.hasInput(kInitialH);
  auto recurrentProduct = [&](Value lhs, Value rhsT) -> Value {
    if (!zeroState)
      return matmul2D(lhs, rhsT);
    int64_t cols = cast<RankedTensorType>(rhsT.getType()).getDimSize(2);
    return emitSplat(b, loc, {s.batch, cols}, elem, 0.0);
  };
  for (int64_t step = 0; step < s.seqLen; ++step) {
    int64_t t = s.reverse[dir] ? s.seqLen - 1 - step : step;
    Value x = emitReshape(b, loc,
                          emitSlice(b, loc, projection, {t, 0, 0},
                                    {1, s.batch, s.gates * h}, {1, 1, 1}),
                          {s.batch, s.gates * h});
    Value rec = recurrentProduct(state.h, rT);
    // Inputs of the step generics: the gate operands, then the previous
    // state(s), then sequence_lens; `body` sees them in that order.
    SmallVector<Value> ins;
    auto pushGate = [&](int64_t gate) {
      ins.push_back(columns(x, gate));
      ins.push_back(columns(rec, gate));
    };
    // Picks the new state for live entries and the old one for dead ones.
    auto hold = [&](ScalarMath &m, ValueRange a, Value fresh,
                    Value old) -> Value {
      if (!seqLens)
        return fresh;
      return m.select(stepMask(m.b, m.loc, a.back(), t), fresh, old);
    };
    const Activation &f = act(dir, 0);
    switch (s.kind) {
    case CellKind::RNN: {
      pushGate(0);
      ins.push_back(state.h);
      if (seqLens)
        ins.push_back(seqLens);
      state.h = emitStep(ins, [&](OpBuilder &nb, Location nloc, ValueRange a) {
        ScalarMath m{nb, nloc, s.clip};
        return hold(m, a, m.apply(f, m.add(a[0], a[1])), a[2]);
      });
      break;
    }
    case CellKind::GRU: {
      // Gates z, r, h.
      const Activation &g = act(dir, 1);
      Value recH;
      if (splitHidden) {
        // (r ⊙ H) · Rhᵀ needs r first.
        SmallVector<Value> rIns = {columns(x, 1), columns(rec, 1), state.h};
        Value resetH =
            emitStep(rIns, [&](OpBuilder &nb, Location nloc, ValueRange a) {
              ScalarMath m{nb, nloc, s.clip};
              return m.mul(m.apply(f, m.add(a[0], a[1])), a[2]);
            });
        recH = recurrentProduct(resetH, rhT);
      } else {
        recH = columns(rec, 2);
      }
      pushGate(0);
      ins.append({columns(x, 2), recH});
      if (!splitHidden)
        ins.append({columns(x, 1), columns(rec, 1)});
      if (rbh)
        ins.push_back(rbh);
      ins.push_back(state.h);
      if (seqLens)
        ins.push_back(seqLens);
      state.h = emitStep(ins, [&](OpBuilder &nb, Location nloc, ValueRange a) {
        ScalarMath m{nb, nloc, s.clip};
        Value z = m.apply(f, m.add(a[0], a[1]));
        Value hIn;
        unsigned next = 4;
        if (splitHidden) {
          hIn = m.add(a[2], a[3]);
        } else {
          Value r = m.apply(f, m.add(a[4], a[5]));
          next = 6;
          Value recHidden = a[3];
          if (rbh)
            recHidden = m.add(recHidden, a[next++]);
          hIn = m.add(a[2], m.mul(r, recHidden));
        }
        Value cand = m.apply(g, hIn);
        Value prev = a[next];
        // (1 - z) ⊙ h~ + z ⊙ H
        Value fresh =
            m.add(m.mul(m.sub(m.cst(z, 1.0), z), cand), m.mul(z, prev));
        return hold(m, a, fresh, prev);
      });
      break;
    }
    case CellKind::LSTM: {
      // Gates i, o, f, c; peepholes i, o, f.
      const Activation &g = act(dir, 1), &hAct = act(dir, 2);
      pushGate(0); // i
      pushGate(2); // f
      pushGate(3); // c
      ins.push_back(state.c);
      if (peepholes)
        ins.append({pi, pf});
      if (seqLens)
        ins.push_back(seqLens);
      Value cNew =
          emitStep(ins, [&](OpBuilder &nb, Location nloc, ValueRange a) {
            ScalarMath m{nb, nloc, s.clip};
            Value cPrev = a[6];
            Value iIn = m.add(a[0], a[1]), fIn = m.add(a[2], a[3]);
            if (peepholes) {
              iIn = m.add(iIn, m.mul(a[7], cPrev));
              fIn = m.add(fIn, m.mul(a[8], cPrev));
            }
            Value i = m.apply(f, iIn);
            Value fg =
                s.inputForget ? m.sub(m.cst(i, 1.0), i) : m.apply(f, fIn);
            Value c = m.apply(g, m.add(a[4], a[5]));
            Value fresh = m.add(m.mul(fg, cPrev), m.mul(i, c));
            return hold(m, a, fresh, cPrev);
          });
      SmallVector<Value> oIns;
      oIns.push_back(columns(x, 1));
      oIns.push_back(columns(rec, 1));
      oIns.push_back(cNew);
      oIns.push_back(state.h);
      if (peepholes)
        oIns.push_back(po);
      if (seqLens)
        oIns.push_back(seqLens);
      state.h = emitStep(oIns, [&](OpBuilder &nb, Location nloc, ValueRange a) {
        ScalarMath m{nb, nloc, s.clip};
        Value oIn = m.add(a[0], a[1]);
        if (peepholes)
          oIn = m.add(oIn, m.mul(a[4], a[2]));
        Value fresh = m.mul(m.apply(f, oIn), m.apply(hAct, a[2]));
        return hold(m, a, fresh, a[3]);
      });
      state.c = cNew;
      break;
    }
    }
    Value y = state.h;
    if (seqLens)
      y = emitStep({state.h, seqLens}, [&](OpBuilder &nb, Location nloc,
                                           ValueRange a) {
        ScalarMath m{nb, nloc, s.clip};
        return m.select(stepMask(nb, nloc, a[1], t), a[0], m.cst(a[0], 0.0));
      });
    ys[t] = y;
    zeroState = false;
  }
  return state;
}

LogicalResult RecurrentImporter::run() {
  int64_t n = s.gates * s.hidden;
  // sequence_lens only matters when some entry is shorter than the input.
  if (ctx.hasInput(kSeqLens)) {
    const HostTensor *lens = ctx.host(kSeqLens);
    bool allFull = lens != nullptr;
    for (int64_t i = 0; lens && i < lens->numElements(); ++i) {
      int64_t len = lens->getI(i);
      if (len < 0 || len > s.seqLen)
        return ctx.fail("sequence_lens[" + std::to_string(i) + "] is " +
                        std::to_string(len) + ", outside [0, " +
                        std::to_string(s.seqLen) + "]");
      allFull &= len == s.seqLen;
    }
    if (!allFull)
      seqLens = emitReshape(b, loc, ctx.value(kSeqLens), {s.batch, 1});
  }

  // X as [seq, batch, input], then one [seq * batch, input] row block.
  Value x = ctx.value(kX);
  if (s.batchFirst)
    x = emitTranspose(b, loc, x, {1, 0, 2});
  x = emitReshape(b, loc, x, {s.seqLen * s.batch, s.inputSize});

  SmallVector<SmallVector<Value>> ys(s.numDirections);
  SmallVector<State> finals;
  for (int64_t dir = 0; dir < s.numDirections; ++dir) {
    Value proj = matmul2D(x, weightTransposed(kW, dir, 0, n));
    if (ctx.hasInput(kB))
      proj = emitElementwise(
          b, loc, {proj, inputBias(dir)}, {s.seqLen * s.batch, n}, elem,
          [](OpBuilder &nb, Location nloc, ValueRange a) {
            return arith::AddFOp::create(nb, nloc, a[0], a[1]);
          });
    proj = emitReshape(b, loc, proj, {s.seqLen, s.batch, n});
    finals.push_back(runDirection(dir, proj, ys[dir]));
  }

  // Y: [seq, dirs, batch, hidden], or [batch, seq, dirs, hidden].
  auto concat = [&](int64_t axis, ArrayRef<Value> parts) -> Value {
    if (parts.size() == 1)
      return parts[0];
    return tensor::ConcatOp::create(b, loc, axis, parts);
  };
  if (ctx.hasOutput(0)) {
    SmallVector<Value> steps;
    for (int64_t t = 0; t < s.seqLen; ++t) {
      SmallVector<Value> dirs;
      for (int64_t dir = 0; dir < s.numDirections; ++dir)
        dirs.push_back(
            emitReshape(b, loc, ys[dir][t], {1, 1, s.batch, s.hidden}));
      steps.push_back(concat(1, dirs));
    }
    Value y = concat(0, steps);
    if (s.batchFirst)
      y = emitTranspose(b, loc, y, {2, 0, 1, 3});
    ctx.setOutput(0, y, s.dtype);
  }
  // Y_h, Y_c: [dirs, batch, hidden], or [batch, dirs, hidden].
  auto setFinal = [&](unsigned output, Value State::*member) {
    if (!ctx.hasOutput(output))
      return;
    SmallVector<Value> dirs;
    for (State &st : finals)
      dirs.push_back(emitReshape(b, loc, st.*member, {1, s.batch, s.hidden}));
    Value v = concat(0, dirs);
    if (s.batchFirst)
      v = emitTranspose(b, loc, v, {1, 0, 2});
    ctx.setOutput(output, v, s.dtype);
  };
  setFinal(1, &State::h);
  if (s.kind == CellKind::LSTM)
    setFinal(2, &State::c);
  return success();
}

/// Reads and checks the attributes and input shapes shared by all three
/// cells.
FailureOr<CellSpec> readCellSpec(NodeContext &ctx, CellKind kind,
                                 ArrayRef<Activation::Kind> defaultActs) {
  CellSpec s;
  s.kind = kind;
  s.gates = kind == CellKind::RNN ? 1 : kind == CellKind::GRU ? 3 : 4;
  if (ctx.numInputs() < 3 || !ctx.hasInput(0) || !ctx.hasInput(1) ||
      !ctx.hasInput(2))
    return (ctx.fail("needs inputs X, W and R"));
  s.dtype = ctx.dtype(0);
  if (!isFloatDType(s.dtype))
    return (ctx.fail(Twine("expects a floating-point X, got ") +
                     dtypeName(s.dtype)));
  for (unsigned i : {1u, 2u, 3u, 5u, 6u, 7u})
    if (ctx.hasInput(i) && ctx.dtype(i) != s.dtype)
      return (ctx.fail("input " + std::to_string(i) + " is " +
                       dtypeName(ctx.dtype(i)) + " but X is " +
                       dtypeName(s.dtype)));

  int64_t layout = ctx.attrInt("layout", 0);
  if (layout != 0 && layout != 1)
    return (ctx.fail("layout=" + std::to_string(layout) +
                     " is not supported (expected 0 or 1)"));
  s.batchFirst = layout == 1;
  std::string direction = ctx.attrString("direction", "forward");
  if (direction == "forward")
    s.reverse = {false};
  else if (direction == "reverse")
    s.reverse = {true};
  else if (direction == "bidirectional")
    s.reverse = {false, true};
  else
    return (ctx.fail("direction '" + direction +
                     "' is not supported (expected forward, reverse or "
                     "bidirectional)"));
  s.numDirections = s.reverse.size();

  if (ctx.rank(0) != 3)
    return (ctx.fail("X must have rank 3, got shape " +
                     shapeToString(ctx.shape(0))));
  ArrayRef<int64_t> xs = ctx.shape(0);
  s.seqLen = s.batchFirst ? xs[1] : xs[0];
  s.batch = s.batchFirst ? xs[0] : xs[1];
  s.inputSize = xs[2];
  if (ctx.rank(2) != 3)
    return (ctx.fail("R must have rank 3, got shape " +
                     shapeToString(ctx.shape(2))));
  s.hidden = ctx.shape(2)[2];
  int64_t declared = ctx.attrInt("hidden_size", s.hidden);
  if (declared != s.hidden)
    return (ctx.fail("hidden_size=" + std::to_string(declared) +
                     " but R has shape " + shapeToString(ctx.shape(2))));
  int64_t d = s.numDirections, n = s.gates * s.hidden;
  auto expectShape = [&](unsigned i, const char *name,
                         ArrayRef<int64_t> want) -> LogicalResult {
    if (!ctx.hasInput(i) || ctx.shape(i) == want)
      return success();
    return ctx.fail(std::string(name) + " has shape " +
                    shapeToString(ctx.shape(i)) + "; expected " +
                    shapeToString(want));
  };
  SmallVector<int64_t> stateShape =
      s.batchFirst ? SmallVector<int64_t>{s.batch, d, s.hidden}
                   : SmallVector<int64_t>{d, s.batch, s.hidden};
  if (failed(expectShape(1, "W", {d, n, s.inputSize})) ||
      failed(expectShape(2, "R", {d, n, s.hidden})) ||
      failed(expectShape(3, "B", {d, 2 * n})) ||
      failed(expectShape(4, "sequence_lens", {s.batch})) ||
      failed(expectShape(5, "initial_h", stateShape)))
    return failure();
  if (kind == CellKind::LSTM &&
      (failed(expectShape(6, "initial_c", stateShape)) ||
       failed(expectShape(7, "P", {d, 3 * s.hidden}))))
    return failure();
  if (ctx.hasInput(4) && ctx.dtype(4) != DType::I32)
    return (ctx.fail(Twine("sequence_lens must be int32, got ") +
                     dtypeName(ctx.dtype(4))));

  if (ctx.hasAttr("clip")) {
    float clip = ctx.attrFloat("clip", 0.0f);
    if (!(clip > 0.0f))
      return (ctx.fail("clip=" + std::to_string(clip) +
                       " is not supported (it must be positive)"));
    s.clip = clip;
  }
  s.linearBeforeReset = ctx.attrInt("linear_before_reset", 0) != 0;
  s.inputForget = ctx.attrInt("input_forget", 0) != 0;
  s.activationsPerDirection = defaultActs.size();
  auto acts = readActivations(ctx, defaultActs, d);
  if (failed(acts))
    return failure();
  s.acts = std::move(*acts);
  return s;
}

LogicalResult convertCell(NodeContext &ctx, CellKind kind,
                          ArrayRef<Activation::Kind> defaultActs) {
  FailureOr<CellSpec> spec = readCellSpec(ctx, kind, defaultActs);
  if (failed(spec))
    return failure();
  return RecurrentImporter(ctx, std::move(*spec)).run();
}

LogicalResult convertRNN(NodeContext &ctx) {
  return convertCell(ctx, CellKind::RNN, {Activation::Tanh});
}

LogicalResult convertGRU(NodeContext &ctx) {
  return convertCell(ctx, CellKind::GRU,
                     {Activation::Sigmoid, Activation::Tanh});
}

LogicalResult convertLSTM(NodeContext &ctx) {
  return convertCell(ctx, CellKind::LSTM,
                     {Activation::Sigmoid, Activation::Tanh, Activation::Tanh});
}

} // namespace

void appendRecurrentConverters(std::vector<ConverterEntry> &t) {
  t.push_back({"", "RNN", 7, convertRNN});
  t.push_back({"", "GRU", 7, convertGRU});
  t.push_back({"", "LSTM", 7, convertLSTM});
}

} // namespace qopt::onnx_frontend
