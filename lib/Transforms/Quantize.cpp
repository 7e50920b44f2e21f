//===- Quantize.cpp - RTN quantization of float matmuls -------------------===//
//
// The qopt-quantize pass and the helpers the driver shares with it:
// precision names, ONNX node names of locations, and the list of quantized
// layers for the manifest and the report.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Regex.h"

namespace qopt {
#define GEN_PASS_DEF_QUANTIZEPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {

std::string onnxNodeName(Location loc) {
  std::string name;
  loc->walk([&](Location l) {
    if (auto n = dyn_cast<NameLoc>(l)) {
      name = n.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return name;
}

std::optional<PrecisionSpec> parsePrecision(StringRef text,
                                            std::string &error) {
  PrecisionSpec spec;
  spec.name = text.str();
  SmallVector<StringRef> parts;
  text.split(parts, '-');
  StringRef head = parts.empty() ? "" : parts[0];
  quant::WeightScheme &w = spec.weights;
  size_t next = 1;
  if (head == "f16" || head == "w16a16") {
    w.kind = quant::WeightKind::F16;
    w.bits = 16;
  } else if (head == "fp8") {
    w.kind = quant::WeightKind::FP8E4M3;
    w.bits = 8;
  } else if (head == "nf4") {
    w.kind = quant::WeightKind::NF4;
    w.bits = 4;
    w.groupSize = 64;
  } else if (head == "w8a8") {
    w.bits = 8;
    spec.activations = ActivationMode::Dynamic;
    if (parts.size() > 1 && parts[1] == "static") {
      spec.activations = ActivationMode::Static;
      next = 2;
    } else if (parts.size() > 1 && parts[1] == "dynamic") {
      next = 2;
    }
  } else if (head.size() == 5 && head.starts_with("w") &&
             head.ends_with("a16") && head[1] >= '2' && head[1] <= '8') {
    w.bits = head[1] - '0';
  } else {
    error = "unknown precision '" + text.str() +
            "' (expected w8a16, w4a16-g32, w3a16-g64, w2a16-g32, nf4-g64, "
            "fp8, f16, w8a8 or w8a8-static)";
    return std::nullopt;
  }
  for (; next < parts.size(); ++next) {
    StringRef p = parts[next];
    int64_t g;
    if (p.consume_front("g") && !p.getAsInteger(10, g) && g > 0 &&
        w.kind != quant::WeightKind::F16 &&
        w.kind != quant::WeightKind::FP8E4M3 &&
        spec.activations == ActivationMode::Float) {
      w.groupSize = g;
    } else if (parts[next] == "asym" && w.kind == quant::WeightKind::Int &&
               spec.activations == ActivationMode::Float) {
      w.symmetric = false;
    } else {
      error = "precision '" + text.str() + "': unexpected '" +
              parts[next].str() + "'";
      return std::nullopt;
    }
  }
  return spec;
}

SchemeAttr toSchemeAttr(MLIRContext *ctx, const quant::WeightScheme &s) {
  switch (s.kind) {
  case quant::WeightKind::F16:
    return SchemeAttr::get(ctx, QuantKind::Float, 16, false,
                           Granularity::PerTensor, 0, true);
  case quant::WeightKind::FP8E4M3:
    return SchemeAttr::get(ctx, QuantKind::FP8E4M3, 8, false,
                           Granularity::PerChannel, 0, true);
  case quant::WeightKind::NF4:
    return SchemeAttr::get(ctx, QuantKind::NF4, 4, false,
                           s.groupSize ? Granularity::Group
                                       : Granularity::PerChannel,
                           s.groupSize, true);
  case quant::WeightKind::Int:
    break;
  }
  return SchemeAttr::get(ctx, QuantKind::Int, s.bits, !s.symmetric,
                         s.groupSize ? Granularity::Group
                                     : Granularity::PerChannel,
                         s.groupSize, s.symmetric);
}

std::vector<QuantizedLayer> collectQuantizedLayers(ModuleOp module) {
  std::vector<QuantizedLayer> layers;
  auto bytesOf = [](Value v) -> int64_t {
    if (!v)
      return 0;
    auto t = cast<RankedTensorType>(v.getType());
    return t.getNumElements() * t.getElementTypeBitWidth() / 8;
  };
  module.walk([&](Operation *op) {
    QuantizedLayer layer;
    layer.node = onnxNodeName(op->getLoc());
    auto printScheme = [&](SchemeAttr s) {
      llvm::raw_string_ostream os(layer.scheme);
      os << s;
    };
    if (auto mm = dyn_cast<MatMulOp>(op)) {
      layer.op = "matmul";
      if (auto p = mm.getPrecisionAttr())
        layer.precision = p.getName().str();
      printScheme(mm.getScheme());
      layer.floatBytes = mm.getN() * mm.getK() * 4;
      layer.quantizedBytes = bytesOf(mm.getWeight()) +
                             bytesOf(mm.getWeightScales()) +
                             bytesOf(mm.getWeightZeroPoints());
    } else if (auto emb = dyn_cast<EmbeddingOp>(op)) {
      layer.op = "embedding";
      printScheme(emb.getScheme());
      layer.floatBytes =
          emb.getTable().getType().getDimSize(0) * emb.getDim() * 4;
      layer.quantizedBytes = bytesOf(emb.getTable()) +
                             bytesOf(emb.getScales()) +
                             bytesOf(emb.getZeroPoints());
    } else {
      return;
    }
    layers.push_back(std::move(layer));
  });
  return layers;
}

namespace {

/// A constant of `type` holding `bytes`: a resource blob when large.
Value createConstant(OpBuilder &b, Location loc, RankedTensorType type,
                     ArrayRef<char> bytes) {
  if (bytes.size() >= 1024) {
    auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        bytes, /*align=*/64, /*dataIsMutable=*/false);
    return arith::ConstantOp::create(
        b, loc, type,
        DenseResourceElementsAttr::get(type, "qopt_weight", std::move(blob)));
  }
  return arith::ConstantOp::create(
      b, loc, type, DenseElementsAttr::getFromRawBuffer(type, bytes));
}

template <typename T>
ArrayRef<char> asBytes(const std::vector<T> &v) {
  return ArrayRef<char>(reinterpret_cast<const char *>(v.data()),
                        v.size() * sizeof(T));
}

} // namespace

/// Permutes a row-major tensor of `shape` by `perm` (output dim i is input
/// dim perm[i]).
static std::vector<float> transposeOnHost(const std::vector<float> &in,
                                          ArrayRef<int64_t> shape,
                                          ArrayRef<int32_t> perm) {
  size_t rank = shape.size();
  SmallVector<int64_t> inStrides(rank, 1), outShape(rank);
  for (int64_t i = int64_t(rank) - 2; i >= 0; --i)
    inStrides[i] = inStrides[i + 1] * shape[i + 1];
  for (size_t i = 0; i < rank; ++i)
    outShape[i] = shape[perm[i]];
  std::vector<float> out(in.size());
  SmallVector<int64_t> idx(rank, 0);
  for (size_t o = 0; o < out.size(); ++o) {
    int64_t src = 0;
    for (size_t i = 0; i < rank; ++i)
      src += idx[i] * inStrides[perm[i]];
    out[o] = in[src];
    for (int64_t i = int64_t(rank) - 1; i >= 0; --i) {
      if (++idx[i] < outShape[i])
        break;
      idx[i] = 0;
    }
  }
  return out;
}

/// The float values behind `v` when it is a constant seen through reshapes
/// and transposes (a Gemm with transB transposes its constant weight), in
/// `v`'s row-major order.
static std::optional<std::vector<float>> constantWeights(Value v, int64_t k,
                                                         int64_t n) {
  SmallVector<Operation *> chain;
  while (true) {
    if (auto r = v.getDefiningOp<tosa::ReshapeOp>()) {
      chain.push_back(r);
      v = r.getInput1();
    } else if (auto t = v.getDefiningOp<tosa::TransposeOp>()) {
      chain.push_back(t);
      v = t.getInput1();
    } else {
      break;
    }
  }
  Attribute attr;
  if (auto c = v.getDefiningOp<arith::ConstantOp>())
    attr = c.getValue();
  else if (auto c = v.getDefiningOp<tosa::ConstOp>())
    attr = c.getValues();
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!attr || !type || !type.getElementType().isF32() ||
      type.getNumElements() != k * n)
    return std::nullopt;
  FailureOr<std::vector<char>> bytes = constantBytes(attr, type);
  if (failed(bytes))
    return std::nullopt;
  std::vector<float> out(k * n);
  std::memcpy(out.data(), bytes->data(), out.size() * 4);
  // Replay the chain from the constant outwards.
  for (Operation *op : llvm::reverse(chain))
    if (auto t = dyn_cast<tosa::TransposeOp>(op))
      out = transposeOnHost(
          out, cast<RankedTensorType>(t.getInput1().getType()).getShape(),
          t.getPerms());
  return out;
}

bool feedsReturnOnly(Value v) {
  for (int depth = 0; depth < 8; ++depth) {
    if (!v.hasOneUse())
      return false;
    Operation *user = *v.getUsers().begin();
    if (isa<func::ReturnOp>(user))
      return true;
    if (!isa<tosa::ReshapeOp, tosa::TransposeOp, tensor::CollapseShapeOp,
             tensor::ExpandShapeOp>(user))
      return false;
    v = user->getResult(0);
  }
  return false;
}

/// Whether `v` is a constant, possibly behind reshapes and transposes.
static bool isConstantBehindReshapes(Value v) {
  while (isa_and_nonnull<tosa::ReshapeOp, tosa::TransposeOp>(v.getDefiningOp()))
    v = v.getDefiningOp()->getOperand(0);
  return v.getDefiningOp<arith::ConstantOp>() || v.getDefiningOp<tosa::ConstOp>();
}

std::optional<QuantizableMatMul> analyzeMatMul(tosa::MatMulOp op) {
  auto at = cast<RankedTensorType>(op.getA().getType());
  auto bt = cast<RankedTensorType>(op.getB().getType());
  if (!at.getElementType().isF32())
    return std::nullopt;
  QuantizableMatMul m;
  m.op = op;
  if (bt.getDimSize(0) == 1 && isConstantBehindReshapes(op.getB()) &&
      !isConstantBehindReshapes(op.getA())) {
    // y = x W: weights [K, N] on the right (linear layers).
    m.weightOnLeft = false;
    m.activation = op.getA();
    m.k = bt.getDimSize(1);
    m.n = bt.getDimSize(2);
    return m;
  }
  if (at.getDimSize(0) == 1 && isConstantBehindReshapes(op.getA()) &&
      !isConstantBehindReshapes(op.getB())) {
    // y = W x: weights [M, K] on the left (convolutions as im2col matmuls).
    m.weightOnLeft = true;
    m.activation = op.getB();
    m.k = at.getDimSize(2);
    m.n = at.getDimSize(1);
    return m;
  }
  return std::nullopt;
}

std::optional<std::vector<float>> weightRows(const QuantizableMatMul &m) {
  if (m.weightOnLeft) // already [N, K]
    return constantWeights(tosa::MatMulOp(m.op).getA(), m.k, m.n);
  std::optional<std::vector<float>> kn =
      constantWeights(tosa::MatMulOp(m.op).getB(), m.k, m.n);
  if (!kn)
    return std::nullopt;
  std::vector<float> nk(m.n * m.k);
  for (int64_t i = 0; i < m.k; ++i)
    for (int64_t j = 0; j < m.n; ++j)
      nk[j * m.k + i] = (*kn)[i * m.n + j];
  return nk;
}

bool isQuantizationCandidate(tosa::MatMulOp op, const llvm::Regex *exclude,
                             bool includeClassifier) {
  if (!analyzeMatMul(op))
    return false;
  if (exclude && exclude->match(onnxNodeName(op.getLoc())))
    return false;
  return includeClassifier || !feedsReturnOnly(op.getResult());
}

namespace {

struct QuantizePass : impl::QuantizePassBase<QuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    std::string error;
    std::optional<PrecisionSpec> spec = parsePrecision(precision, error);
    if (!spec) {
      emitError(UnknownLoc::get(module.getContext()), error);
      return signalPassFailure();
    }
    std::optional<llvm::Regex> excludeRe;
    if (!exclude.empty()) {
      excludeRe.emplace(exclude);
      std::string reError;
      if (!excludeRe->isValid(reError)) {
        emitError(UnknownLoc::get(module.getContext()), "bad --exclude regex '")
            << exclude << "': " << reError;
        return signalPassFailure();
      }
    }
    SchemeAttr scheme = toSchemeAttr(ctx, spec->weights);
    SchemeAttr actScheme;
    if (spec->activations == ActivationMode::Dynamic)
      actScheme = SchemeAttr::get(ctx, QuantKind::Int, 8, false,
                                  Granularity::PerToken, 0, true);
    else if (spec->activations == ActivationMode::Static)
      actScheme = SchemeAttr::get(ctx, QuantKind::Int, 8, false,
                                  Granularity::PerTensor, 0, true);
    auto precisionAttr =
        PrecisionAttr::get(ctx, spec->name, scheme, actScheme,
                           spec->activations == ActivationMode::Dynamic);

    SmallVector<tosa::MatMulOp> candidates;
    module.walk([&](tosa::MatMulOp op) { candidates.push_back(op); });
    bool failedAny = false;
    for (tosa::MatMulOp op : candidates) {
      if (!isQuantizationCandidate(op, excludeRe ? &*excludeRe : nullptr,
                                   quantizeClassifier))
        continue;
      std::optional<QuantizableMatMul> m = analyzeMatMul(op);
      std::optional<std::vector<float>> w = weightRows(*m);
      if (!w)
        continue;
      if (failed(rewrite(*m, *w, *spec, scheme, precisionAttr)))
        failedAny = true;
    }
    bool packedIntegers = spec->weights.kind == quant::WeightKind::Int ||
                          spec->weights.kind == quant::WeightKind::NF4;
    if (quantizeEmbeddings && packedIntegers) {
      SmallVector<tosa::GatherOp> gathers;
      module.walk([&](tosa::GatherOp op) { gathers.push_back(op); });
      for (tosa::GatherOp op : gathers)
        if (!excludeRe || !excludeRe->match(onnxNodeName(op.getLoc())))
          rewriteEmbedding(op, spec->weights, scheme);
    }
    if (failedAny)
      signalPassFailure();
  }

  /// tosa.gather of a constant [1, V, D] table becomes qopt.embedding over
  /// the table quantized row by row (rows = vocabulary entries).
  void rewriteEmbedding(tosa::GatherOp op, const quant::WeightScheme &weights,
                        SchemeAttr scheme) {
    auto tt = cast<RankedTensorType>(op.getValues().getType());
    auto it = cast<RankedTensorType>(op.getIndices().getType());
    if (tt.getDimSize(0) != 1 || !tt.getElementType().isF32() ||
        it.getDimSize(0) != 1)
      return;
    int64_t vocab = tt.getDimSize(1), dim = tt.getDimSize(2);
    // constantWeights reads [K, N] row-major: here rows = vocab, cols = dim.
    std::optional<std::vector<float>> table =
        constantWeights(op.getValues(), vocab, dim);
    if (!table)
      return;
    quant::QuantizedMatrix q =
        quant::quantizeRTN(table->data(), vocab, dim, weights);
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value packed = createConstant(
        b, loc,
        RankedTensorType::get({vocab, weights.packedRowBytes(dim)},
                              b.getI8Type()),
        asBytes(q.packed));
    int64_t groups = weights.numGroups(dim);
    Value scales = createConstant(
        b, loc, RankedTensorType::get({vocab, groups}, b.getF32Type()),
        asBytes(q.scales));
    Value zeros;
    if (!weights.symmetric)
      zeros = createConstant(
          b, loc, RankedTensorType::get({vocab, groups}, b.getI8Type()),
          asBytes(q.zeroPoints));
    auto emb = EmbeddingOp::create(b, loc, op.getResult().getType(), packed,
                                   op.getIndices(), scales, zeros, scheme,
                                   uint64_t(dim));
    op.getResult().replaceAllUsesWith(emb.getResult());
    op.erase();
  }

  LogicalResult rewrite(const QuantizableMatMul &m, ArrayRef<float> nk,
                        const PrecisionSpec &spec, SchemeAttr scheme,
                        PrecisionAttr precisionAttr) {
    tosa::MatMulOp op = m.op;
    int64_t k = m.k, n = m.n;
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value a = m.activation;
    Value staticScale;
    if (spec.activations == ActivationMode::Static) {
      auto observe = a.getDefiningOp<ObserveOp>();
      if (!observe || !observe.getAbsmax())
        return op.emitError("w8a8-static needs a calibrated activation "
                            "range for this matmul's input: compile with "
                            "--calib");
    }
    quant::QuantizedMatrix q = quant::quantizeRTN(nk.data(), n, k, spec.weights);

    Value weight, scales, zeros;
    if (spec.weights.kind == quant::WeightKind::F16) {
      weight = createConstant(b, loc,
                              RankedTensorType::get({n, k}, b.getF16Type()),
                              asBytes(q.half));
    } else {
      int64_t rowBytes = spec.weights.packedRowBytes(k);
      weight = createConstant(
          b, loc, RankedTensorType::get({n, rowBytes}, b.getI8Type()),
          asBytes(q.packed));
      int64_t groups = spec.weights.numGroups(k);
      scales = createConstant(
          b, loc, RankedTensorType::get({n, groups}, b.getF32Type()),
          asBytes(q.scales));
      if (!spec.weights.symmetric)
        zeros = createConstant(
            b, loc, RankedTensorType::get({n, groups}, b.getI8Type()),
            asBytes(q.zeroPoints));
    }
    float staticAbsmax = 0;
    if (spec.activations == ActivationMode::Static)
      staticAbsmax = a.getDefiningOp<ObserveOp>().getAbsmax()->convertToFloat();
    // Weights on the left (y = W x): compute (x^T W^T)^T, activations
    // transposed to rows of K.
    auto transposeLast2 = [&](Value v) -> Value {
      auto t = cast<RankedTensorType>(v.getType());
      SmallVector<int64_t> shape(t.getShape());
      std::swap(shape[1], shape[2]);
      return tosa::TransposeOp::create(
          b, loc, RankedTensorType::get(shape, t.getElementType()), v,
          b.getDenseI32ArrayAttr({0, 2, 1}));
    };
    if (m.weightOnLeft)
      a = transposeLast2(a);
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    if (m.weightOnLeft) {
      SmallVector<int64_t> shape(resultType.getShape());
      std::swap(shape[1], shape[2]);
      resultType = RankedTensorType::get(shape, resultType.getElementType());
    }
    Value input = a, inputScale;
    auto at = cast<RankedTensorType>(a.getType());
    if (spec.activations == ActivationMode::Dynamic) {
      SmallVector<int64_t> rowShape(at.getShape());
      rowShape.back() = 1;
      auto dq = DynamicQuantizeOp::create(
          b, loc, RankedTensorType::get(at.getShape(), b.getI8Type()),
          RankedTensorType::get(rowShape, b.getF32Type()),
          RankedTensorType::get(rowShape, b.getI8Type()), a,
          Granularity::PerToken, /*is_unsigned=*/false);
      input = dq.getResult();
      inputScale = dq.getScale();
    } else if (spec.activations == ActivationMode::Static) {
      float s = staticAbsmax > 0 ? staticAbsmax / 127.f : 1.f;
      auto st = RankedTensorType::get({}, b.getF32Type());
      inputScale = arith::ConstantOp::create(
          b, loc, st, DenseElementsAttr::get(st, ArrayRef<float>{s}));
      input = QuantizeOp::create(
          b, loc, RankedTensorType::get(at.getShape(), b.getI8Type()), a,
          inputScale, Value(), IntegerAttr(), /*is_unsigned=*/false);
    }
    auto mm = MatMulOp::create(b, loc, resultType, input, weight, scales, zeros,
                               inputScale, Value(), scheme,
                               uint64_t(k), /*input_unsigned=*/false,
                               precisionAttr);
    Value result = mm.getResult();
    if (m.weightOnLeft)
      result = transposeLast2(result);
    op.getResult().replaceAllUsesWith(result);
    op.erase();
    return success();
  }
};

} // namespace
} // namespace qopt
