//===- Quantize.cpp - RTN quantization of float matmuls -------------------===//
//
// The qopt-quantize pass and the helpers the driver shares with it:
// precision names, ONNX node names of locations, and the list of quantized
// layers for the manifest and the report.
//
//===----------------------------------------------------------------------===//

#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "qopt/Quant/GPTQ.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Regex.h"

#include <map>

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
  } else if (head == "w8a8" || head == "w4a8") {
    w.bits = head[1] - '0';
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
            "fp8, f16, w8a8, w8a8-static or w4a8-g32)";
    return std::nullopt;
  }
  // Integer activations meet group-wise weights only in W4A8's grouped
  // integer product; W8A8 keeps the per-channel int8 kernel.
  bool weightOptions =
      spec.activations == ActivationMode::Float || head == "w4a8";
  for (; next < parts.size(); ++next) {
    StringRef p = parts[next];
    int64_t g;
    if (p.consume_front("g") && !p.getAsInteger(10, g) && g > 0 &&
        w.kind != quant::WeightKind::F16 &&
        w.kind != quant::WeightKind::FP8E4M3 && weightOptions) {
      w.groupSize = g;
    } else if (parts[next] == "asym" && w.kind == quant::WeightKind::Int &&
               weightOptions) {
      w.symmetric = false;
    } else {
      error = "precision '" + text.str() + "': unexpected '" +
              parts[next].str() + "'";
      return std::nullopt;
    }
  }
  if (head == "w4a8" && !w.groupSize) {
    error = "precision '" + text.str() +
            "': w4a8 needs a group size (w4a8-g32, w4a8-g64, w4a8-g128)";
    return std::nullopt;
  }
  return spec;
}

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
    if (auto outliers = op->getAttrOfType<OutliersAttr>(
            QOptDialect::kOutliersAttrName)) {
      QuantizedLayer::Outliers o;
      o.channels.assign(outliers.getChannels().asArrayRef().begin(),
                        outliers.getChannels().asArrayRef().end());
      o.median = outliers.getMedian().convertToDouble();
      o.maxRatio = outliers.getMaxRatio().convertToDouble();
      o.rangeFraction = outliers.getRangeFraction().convertToDouble();
      layer.outliers = std::move(o);
    }
    if (auto mm = dyn_cast<MatMulOp>(op)) {
      layer.op = "matmul";
      if (auto p = mm.getPrecisionAttr()) {
        layer.precision = p.getName().str();
        layer.algorithm = p.getAlgorithm().str();
      }
      printScheme(mm.getScheme());
      layer.floatBytes = mm.getN() * mm.getK() * 4;
      auto input = cast<RankedTensorType>(mm.getInput().getType());
      layer.n = mm.getN();
      layer.k = mm.getK();
      layer.m =
          input.getRank() >= 2 ? input.getDimSize(input.getRank() - 2) : 1;
      layer.batch =
          input.getNumElements() / std::max<int64_t>(1, layer.m * layer.k);
      layer.quantizedBytes = bytesOf(mm.getWeight()) +
                             bytesOf(mm.getWeightScales()) +
                             bytesOf(mm.getWeightZeroPoints()) +
                             bytesOf(mm.getOutlierWeights());
      if (auto channels = mm.getOutlierChannelsAttr())
        layer.floatChannels = channels.size();
    } else if (auto product = dyn_cast<tosa::MatMulOp>(op)) {
      // An integer product of two activations (qopt-quantize's
      // quantize-attention): no weights, so no bytes.
      auto p = product->getAttrOfType<PrecisionAttr>(
          QOptDialect::kPrecisionAttrName);
      if (!p)
        return;
      layer.op = "attention";
      layer.precision = p.getName().str();
      printScheme(p.getActivations());
    } else if (auto conv = dyn_cast<Conv2DOp>(op)) {
      // Only convolutions qopt-quantize made (an imported ConvInteger or
      // QLinearConv was integer already).
      auto p =
          conv->getAttrOfType<PrecisionAttr>(QOptDialect::kPrecisionAttrName);
      if (!p)
        return;
      int64_t groups = conv.getGroup();
      int64_t channels = conv.getInput().getType().getDimSize(1);
      layer.op = groups == 1 ? "conv"
                 : groups == channels &&
                         conv.getWeight().getType().getDimSize(0) == channels
                     ? "depthwise_conv"
                     : "grouped_conv";
      layer.precision = p.getName().str();
      layer.algorithm = p.getAlgorithm().str();
      printScheme(p.getWeights());
      layer.floatBytes = conv.getWeight().getType().getNumElements() * 4;
      layer.quantizedBytes = bytesOf(conv.getWeight()) +
                             bytesOf(conv.getWeightScales()) +
                             bytesOf(conv.getWeightZeroPoints());
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

std::optional<std::vector<float>> constantFloats(Value v, int64_t count) {
  return constantWeights(v, count, 1);
}

template <typename T>
static std::optional<std::vector<T>> readElements(ElementsAttr attr,
                                                  int64_t count) {
  if (!attr)
    return std::nullopt;
  auto type = cast<ShapedType>(attr.getType());
  if (type.getNumElements() != count ||
      type.getElementTypeBitWidth() != sizeof(T) * 8)
    return std::nullopt;
  FailureOr<std::vector<char>> bytes = constantBytes(attr, type);
  if (failed(bytes) || bytes->size() != size_t(count) * sizeof(T))
    return std::nullopt;
  std::vector<T> out(count);
  std::memcpy(out.data(), bytes->data(), bytes->size());
  return out;
}

std::optional<std::vector<float>> readFloats(ElementsAttr attr,
                                             int64_t count) {
  return readElements<float>(attr, count);
}

std::optional<std::vector<double>> readDoubles(ElementsAttr attr,
                                               int64_t count) {
  return readElements<double>(attr, count);
}

template <typename T>
static ElementsAttr tensorAttr(MLIRContext *ctx, ArrayRef<int64_t> shape,
                               ArrayRef<T> values, Type elem) {
  auto type = RankedTensorType::get(shape, elem);
  ArrayRef<char> bytes(reinterpret_cast<const char *>(values.data()),
                       values.size() * sizeof(T));
  if (bytes.size() >= 1024)
    return DenseResourceElementsAttr::get(
        type, "qopt_statistics",
        HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(T),
                                                      false));
  return DenseElementsAttr::getFromRawBuffer(type, bytes);
}

ElementsAttr floatTensorAttr(MLIRContext *ctx, ArrayRef<int64_t> shape,
                             ArrayRef<float> values) {
  return tensorAttr(ctx, shape, values, Float32Type::get(ctx));
}

ElementsAttr doubleTensorAttr(MLIRContext *ctx, ArrayRef<int64_t> shape,
                              ArrayRef<double> values) {
  return tensorAttr(ctx, shape, values, Float64Type::get(ctx));
}

Value multiplyLastDim(Value x, ArrayRef<float> factors) {
  OpBuilder b(x.getContext());
  b.setInsertionPointAfterValue(x);
  Location loc = x.getLoc();
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank(), k = type.getDimSize(rank - 1);
  auto st = RankedTensorType::get({k}, b.getF32Type());
  Value constant = arith::ConstantOp::create(
      b, loc, st, DenseElementsAttr::get(st, factors));
  Value init =
      tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
  MLIRContext *ctx = x.getContext();
  SmallVector<AffineMap> maps{
      AffineMap::getMultiDimIdentityMap(rank, ctx),
      AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx)),
      AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, type, ValueRange{x, constant}, ValueRange{init}, maps, iterators,
      [](OpBuilder &nb, Location nl, ValueRange args) {
        Value r = arith::MulFOp::create(nb, nl, args[0], args[1]);
        linalg::YieldOp::create(nb, nl, r);
      });
  return generic.getResult(0);
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

bool isConstantBehindReshapes(Value v) {
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

  /// Scaled copies of activations, by the activation and its scales.
  using ScaledInputs = std::map<std::pair<void *, std::vector<float>>, Value>;

  /// How one group of ops is quantized: a precision and a weight
  /// algorithm, from the pass options or from an op's qopt.assign.
  struct Plan {
    PrecisionSpec spec;
    WeightAlgorithm algorithm = WeightAlgorithm::RTN;
    SchemeAttr scheme;
    PrecisionAttr attr;
    /// Ops of this plan (matmuls), in program order.
    std::vector<QuantizableMatMul> ops;
    /// The float weights of `ops` ([N, K] rows), for plans that choose
    /// them together (GPTQ, AWQ). Empty for streaming plans.
    std::vector<std::vector<float>> weights;
    /// RTN (and every non-integer scheme) quantizes each op on its own:
    /// its weights are read, quantized and dropped one op at a time, so a
    /// model's float weights are never held twice.
    bool streams() const {
      return algorithm == WeightAlgorithm::RTN ||
             spec.weights.kind != quant::WeightKind::Int;
    }
  };

  /// The plans by "precision/algorithm"; a failed one is null (its error
  /// was reported once).
  std::map<std::string, std::shared_ptr<Plan>> plans;
  bool keepFloat = false;
  /// weight-scales=f16: weight-only products store half scales.
  bool halfScales = false;

  /// The plan of `op`: its qopt.assign if it has one, else the pass's
  /// `precision` and `algorithm`. Null for ops assigned `float`, and on
  /// failure (with `failedAny` set).
  Plan *planFor(Operation *op, bool &failedAny) {
    MLIRContext *ctx = &getContext();
    auto assigned = op->getAttrOfType<AssignmentAttr>(
        QOptDialect::kAssignAttrName);
    StringRef name = assigned ? assigned.getPrecision() : StringRef(precision);
    if (name == "float")
      return nullptr;
    StringRef algo = assigned && !assigned.getAlgorithm().empty()
                         ? assigned.getAlgorithm()
                         : StringRef(algorithm);
    std::string key = (name + "/" + algo).str();
    auto found = plans.find(key);
    if (found != plans.end()) {
      if (!found->second)
        failedAny = true;
      return found->second.get();
    }
    std::shared_ptr<Plan> &slot = plans[key];
    // Errors of the pass's own options are the module's; those of an
    // assignment are the op's.
    auto fail = [&]() -> InFlightDiagnostic {
      failedAny = true;
      return assigned ? op->emitError() << "qopt.assign: "
                      : emitError(UnknownLoc::get(ctx));
    };
    std::string error;
    std::optional<PrecisionSpec> spec = parsePrecision(name, error);
    if (!spec) {
      fail() << error;
      return nullptr;
    }
    std::optional<WeightAlgorithm> weightAlgorithm = parseWeightAlgorithm(algo);
    if (!weightAlgorithm) {
      fail() << "unknown weight algorithm '" << algo
             << "' (expected rtn, gptq or awq)";
      return nullptr;
    }
    if (*weightAlgorithm == WeightAlgorithm::AWQ &&
        spec->activations != ActivationMode::Float) {
      fail() << "awq scales the activations of weight-only precisions; '"
             << spec->name << "' quantizes activations (use gptq or rtn)";
      return nullptr;
    }
    auto plan = std::make_shared<Plan>();
    plan->spec = *spec;
    // Integer activations rescale in f32 kernels; f16 weights have no
    // scales.
    plan->spec.weights.halfScales =
        halfScales && spec->activations == ActivationMode::Float &&
        spec->weights.kind != quant::WeightKind::F16;
    plan->algorithm = *weightAlgorithm;
    plan->scheme = SchemeAttr::get(ctx, spec->weights);
    SchemeAttr actScheme;
    if (spec->activations == ActivationMode::Dynamic)
      actScheme = SchemeAttr::get(ctx, QuantKind::Int, 8, false,
                                  Granularity::PerToken, 0, true);
    else if (spec->activations == ActivationMode::Static)
      actScheme = SchemeAttr::get(ctx, QuantKind::Int, 8, false,
                                  Granularity::PerTensor, 0, true);
    bool integer = spec->weights.kind == quant::WeightKind::Int;
    plan->attr = PrecisionAttr::get(
        ctx, spec->name, plan->scheme, actScheme,
        spec->activations == ActivationMode::Dynamic,
        integer ? weightAlgorithmName(*weightAlgorithm) : "");
    slot = std::move(plan);
    return slot.get();
  }

  /// Erases `op` and the producers it leaves dead (a weight constant and
  /// its reshapes) once nothing reads it; every 256 MiB of erased
  /// constants, frees the blobs the module no longer refers to.
  static void releaseDeadWeights(ModuleOp module, Operation *op,
                                 int64_t &pendingBytes) {
    SmallVector<Operation *> worklist;
    if (op)
      worklist.push_back(op);
    while (!worklist.empty()) {
      Operation *dead = worklist.pop_back_val();
      if (!isOpTriviallyDead(dead))
        continue;
      for (Value v : dead->getOperands())
        if (Operation *def = v.getDefiningOp())
          if (!llvm::is_contained(worklist, def))
            worklist.push_back(def);
      if (auto c = dyn_cast<arith::ConstantOp>(dead))
        if (auto t = dyn_cast<ShapedType>(c.getType()))
          pendingBytes += t.getNumElements() * 4;
      dead->erase();
    }
    if (pendingBytes >= (int64_t(256) << 20)) {
      releaseUnreferencedBlobs(module);
      pendingBytes = 0;
    }
  }

  /// The precision attribute of a plan whose weights took `algorithm`
  /// (GPTQ and AWQ fall back to RTN on some ops).
  PrecisionAttr precisionOf(const Plan &plan, WeightAlgorithm algorithm) {
    if (algorithm == plan.algorithm)
      return plan.attr;
    bool integer = plan.spec.weights.kind == quant::WeightKind::Int;
    return PrecisionAttr::get(&getContext(), plan.spec.name, plan.scheme,
                              plan.attr.getActivations(), plan.attr.getDynamic(),
                              integer ? weightAlgorithmName(algorithm) : "");
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    plans.clear();
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
    const llvm::Regex *excluded = excludeRe ? &*excludeRe : nullptr;
    std::optional<OutlierHandling> handling = parseOutlierHandling(outliers);
    if (!handling) {
      emitError(UnknownLoc::get(ctx), "unknown outlier handling '")
          << outliers << "' (expected keep-float, clip or none)";
      return signalPassFailure();
    }
    keepFloat = *handling == OutlierHandling::KeepFloat;
    if (weightScales != "f32" && weightScales != "f16") {
      emitError(UnknownLoc::get(ctx), "unknown weight-scales '")
          << weightScales << "' (expected f32 or f16)";
      return signalPassFailure();
    }
    halfScales = weightScales == "f16";
    std::optional<AttentionScales> scales =
        parseAttentionScales(attentionScales);
    if (!scales) {
      emitError(UnknownLoc::get(ctx), "unknown attention-scales '")
          << attentionScales << "' (expected dynamic or static)";
      return signalPassFailure();
    }
    bool failedAny = false;
    // The pass's own precision and its combinations with the other options
    // are checked up front, as the module's errors, even when every op
    // carries an assignment of its own.
    {
      std::string error;
      std::optional<PrecisionSpec> spec = parsePrecision(precision, error);
      if (!spec) {
        emitError(UnknownLoc::get(ctx), error);
        return signalPassFailure();
      }
      if (quantizeAttention && spec->activations == ActivationMode::Float) {
        emitError(UnknownLoc::get(ctx), "quantize-attention needs integer "
                                        "activations; '")
            << spec->name << "' keeps them float";
        return signalPassFailure();
      }
      if (keepFloat && spec->activations == ActivationMode::Float) {
        emitError(UnknownLoc::get(ctx),
                  "outliers=keep-float splits products with integer "
                  "activations (w8a8, w8a8-static, w4a8); '")
            << spec->name << "' keeps activations float";
        return signalPassFailure();
      }
    }
    auto isAssigned = [](Operation *op) {
      return op->hasAttr(QOptDialect::kAssignAttrName);
    };

    SmallVector<tosa::MatMulOp> all;
    module.walk([&](tosa::MatMulOp op) { all.push_back(op); });
    std::vector<Plan *> order; // plans in first-use order
    for (tosa::MatMulOp op : all) {
      // An assignment puts the classifier in like any other op.
      if (!isQuantizationCandidate(op, excluded,
                                   quantizeClassifier || isAssigned(op)))
        continue;
      std::optional<QuantizableMatMul> m = analyzeMatMul(op);
      std::optional<std::vector<float>> w = weightRows(*m);
      if (!w)
        continue;
      Plan *plan = planFor(op, failedAny);
      if (!plan)
        continue;
      if (plan->ops.empty())
        order.push_back(plan);
      plan->ops.push_back(*m);
      if (!plan->streams())
        plan->weights.push_back(std::move(*w));
    }
    if (failedAny)
      return signalPassFailure();
    quant::GPTQOptions gptq;
    gptq.dampening = gptqDampening;
    gptq.actOrder = gptqActOrder;
    gptq.staticGroups = gptqActOrder;
    gptq.refineRounds = gptqRefineRounds;
    // AWQ and GPTQ's input scales: one scaled copy of a shared input per
    // distinct set of scales (ops of different plans reading one input
    // choose their scales apart).
    ScaledInputs scaledInputs;
    int64_t pendingBytes = 0;
    // Quantizes `ops` (with their float `weights`) of `plan` together.
    auto quantizeOps = [&](Plan &plan, ArrayRef<QuantizableMatMul> ops,
                           std::vector<std::vector<float>> &weights) {
      // LLM.int8 decomposition: outlier columns leave the weights before
      // they are quantized, so they do not widen the per-channel scales.
      std::vector<std::optional<OutlierSplit>> splits(ops.size());
      if (keepFloat && plan.spec.activations != ActivationMode::Float &&
          failed(splitOutliers(ops, weights, splits)))
        return failure();
      // Clipping is searched per plan, by its weights' bits.
      quant::GPTQOptions planGPTQ = gptq;
      planGPTQ.searchClip =
          clipSearch || plan.spec.weights.bits < clipSearchBelowBits;
      std::vector<ArrayRef<int64_t>> floatChannels;
      for (const std::optional<OutlierSplit> &split : splits)
        floatChannels.push_back(split ? ArrayRef<int64_t>(split->channels)
                                      : ArrayRef<int64_t>());
      FailureOr<std::vector<WeightChoice>> choices =
          chooseWeights(ops, weights, plan.spec.weights, plan.algorithm,
                        planGPTQ, gptqScaleGrid, showProgress, floatChannels);
      if (failed(choices))
        return failure();
      for (size_t i = 0; i < ops.size(); ++i) {
        WeightChoice &choice = (*choices)[i];
        if (failed(rewrite(ops[i], choice, plan.spec, plan.scheme,
                           precisionOf(plan, choice.algorithm), scaledInputs,
                           splits[i] ? &*splits[i] : nullptr)))
          failedAny = true;
      }
      return success();
    };
    for (Plan *plan : order) {
      if (!plan->streams()) {
        if (failed(quantizeOps(*plan, plan->ops, plan->weights)))
          return signalPassFailure();
        plan->weights.clear();
        continue;
      }
      for (const QuantizableMatMul &m : plan->ops) {
        // Read again: collecting the plans only checked that it reads.
        std::vector<std::vector<float>> one;
        one.push_back(*weightRows(m));
        Operation *weights = (m.weightOnLeft ? tosa::MatMulOp(m.op).getA()
                                             : tosa::MatMulOp(m.op).getB())
                                 .getDefiningOp();
        if (failed(quantizeOps(*plan, m, one)))
          return signalPassFailure();
        if (releaseWeights)
          releaseDeadWeights(module, weights, pendingBytes);
      }
    }
    // Convolutions take W8A8's per-channel int8 kernel (qopt.conv2d); other
    // precisions leave them float.
    SmallVector<Operation *> convs;
    module.walk([&](linalg::LinalgOp op) {
      if (isConvQuantizationCandidate(op, excluded))
        convs.push_back(op);
    });
    for (Operation *op : convs) {
      Plan *plan = planFor(op, failedAny);
      if (plan && quantizesConvolutions(plan->spec) &&
          failed(quantizeConvolution(*analyzeConvolution(op), plan->spec,
                                     precisionOf(*plan, WeightAlgorithm::RTN))))
        failedAny = true;
    }
    SmallVector<tosa::GatherOp> gathers;
    module.walk([&](tosa::GatherOp op) {
      if ((quantizeEmbeddings || isAssigned(op)) &&
          (!excluded || !excluded->match(onnxNodeName(op.getLoc()))))
        gathers.push_back(op);
    });
    for (tosa::GatherOp op : gathers) {
      Plan *plan = planFor(op, failedAny);
      if (plan && (plan->spec.weights.kind == quant::WeightKind::Int ||
                   plan->spec.weights.kind == quant::WeightKind::NF4)) {
        // qopt.embedding reads f32 scales.
        quant::WeightScheme table = plan->spec.weights;
        table.halfScales = false;
        rewriteEmbedding(op, table, plan->scheme);
      }
    }
    SmallVector<tosa::MatMulOp> products;
    module.walk([&](tosa::MatMulOp op) {
      if ((quantizeAttention || isAssigned(op)) &&
          isActivationProduct(op, excluded))
        products.push_back(op);
    });
    for (tosa::MatMulOp op : products) {
      Plan *plan = planFor(op, failedAny);
      if (!plan)
        continue;
      if (plan->spec.activations == ActivationMode::Float) {
        if (isAssigned(op))
          op.emitError() << "qopt.assign: '" << plan->spec.name
                         << "' keeps activations float; a product of two "
                            "activations needs integer activations (w8a8, "
                            "w8a8-static) or float";
        else
          emitError(UnknownLoc::get(ctx), "quantize-attention needs integer "
                                          "activations; '")
              << plan->spec.name << "' keeps them float";
        return signalPassFailure();
      }
      if (failed(quantizeActivationProduct(op, *scales, plan->spec.name)))
        failedAny = true;
    }
    if (failedAny)
      signalPassFailure();
  }

  /// The outlier split of each op whose qopt.outliers lists channels (the
  /// weights of the others stay whole). Detection marks only matmuls that
  /// read their reduction dim last; a hand-written list must fit k.
  LogicalResult
  splitOutliers(ArrayRef<QuantizableMatMul> ops,
                std::vector<std::vector<float>> &weights,
                std::vector<std::optional<OutlierSplit>> &splits) {
    bool failedAny = false;
    for (size_t i = 0; i < ops.size(); ++i) {
      const QuantizableMatMul &m = ops[i];
      auto marked =
          m.op->getAttrOfType<OutliersAttr>(QOptDialect::kOutliersAttrName);
      if (!marked || marked.getChannels().empty() || m.weightOnLeft)
        continue;
      ArrayRef<int64_t> channels = marked.getChannels().asArrayRef();
      bool ascending = llvm::is_sorted(channels) &&
                       std::adjacent_find(channels.begin(), channels.end()) ==
                           channels.end();
      if (!ascending || channels.front() < 0 || channels.back() >= m.k) {
        m.op->emitError() << QOptDialect::kOutliersAttrName
                          << " must list ascending input channels below "
                          << m.k;
        failedAny = true;
        continue;
      }
      splits[i] = splitOutlierColumns(weights[i], m.n, m.k, channels);
    }
    return failure(failedAny);
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

  /// With `split`, the weights in `choice` lack the split's columns, which
  /// the qopt.matmul adds back as its float outlier product.
  LogicalResult rewrite(const QuantizableMatMul &m, WeightChoice &choice,
                        const PrecisionSpec &spec, SchemeAttr scheme,
                        PrecisionAttr precisionAttr,
                        ScaledInputs &scaledInputs,
                        const OutlierSplit *split) {
    tosa::MatMulOp op = m.op;
    int64_t k = m.k, n = m.n;
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value a = m.activation;
    bool unitScales =
        choice.inputScales &&
        llvm::all_of(*choice.inputScales, [](float v) { return v == 1.f; });
    bool scaledInput = choice.inputScales && !unitScales;
    if (scaledInput) {
      Value &scaled =
          scaledInputs[{a.getAsOpaquePointer(), *choice.inputScales}];
      if (!scaled) {
        std::vector<float> inverse(choice.inputScales->size());
        for (size_t i = 0; i < inverse.size(); ++i)
          inverse[i] = 1.f / (*choice.inputScales)[i];
        scaled = multiplyLastDim(a, inverse);
      }
      a = scaled;
    }
    Value staticScale;
    if (spec.activations == ActivationMode::Static) {
      auto observe = m.activation.getDefiningOp<ObserveOp>();
      if (!observe || !observe.getAbsmax())
        return op.emitError()
               << spec.name
               << " needs a calibrated activation range for this matmul's "
                  "input: compile with --calib";
    }
    quant::QuantizedMatrix &q = choice.matrix;

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
      if (spec.weights.halfScales) {
        std::vector<uint16_t> half(q.scales.size());
        for (size_t i = 0; i < half.size(); ++i)
          half[i] = quant::floatToHalf(q.scales[i]);
        scales = createConstant(
            b, loc, RankedTensorType::get({n, groups}, b.getF16Type()),
            asBytes(half));
      } else {
        scales = createConstant(
            b, loc, RankedTensorType::get({n, groups}, b.getF32Type()),
            asBytes(q.scales));
      }
      if (!spec.weights.symmetric)
        zeros = createConstant(
            b, loc, RankedTensorType::get({n, groups}, b.getI8Type()),
            asBytes(q.zeroPoints));
    }
    float staticAbsmax = 0;
    if (spec.activations == ActivationMode::Static) {
      auto observe = m.activation.getDefiningOp<ObserveOp>();
      staticAbsmax = observe.getAbsmax()->convertToFloat();
      std::vector<float> channelAbsmax =
          readFloats(observe.getChannelAbsmaxAttr(), k)
              .value_or(std::vector<float>());
      // The integer part quantizes x / s: its range is the largest
      // channel's range divided by that channel's scale.
      if (scaledInput) {
        if (channelAbsmax.empty())
          return op.emitError()
                 << spec.name << " with "
                 << weightAlgorithmName(choice.algorithm)
                 << "'s input scales needs the per-channel activation range "
                    "of this matmul's input from calibration";
        for (int64_t c = 0; c < k; ++c)
          channelAbsmax[c] /= (*choice.inputScales)[c];
        staticAbsmax =
            *std::max_element(channelAbsmax.begin(), channelAbsmax.end());
      }
      if (split)
        staticAbsmax =
            integerPartRange(staticAbsmax, channelAbsmax, split->channels);
    }
    DenseI64ArrayAttr excluded =
        split ? b.getDenseI64ArrayAttr(split->channels) : DenseI64ArrayAttr();
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
          Granularity::PerToken, /*is_unsigned=*/false, excluded);
      input = dq.getResult();
      inputScale = dq.getScale();
    } else if (spec.activations == ActivationMode::Static) {
      float s = staticAbsmax > 0 ? staticAbsmax / 127.f : 1.f;
      auto st = RankedTensorType::get({}, b.getF32Type());
      inputScale = arith::ConstantOp::create(
          b, loc, st, DenseElementsAttr::get(st, ArrayRef<float>{s}));
      input = QuantizeOp::create(
          b, loc, RankedTensorType::get(at.getShape(), b.getI8Type()), a,
          inputScale, Value(), IntegerAttr(), /*is_unsigned=*/false, excluded);
    }
    Value outlierWeights;
    if (split) {
      auto count = int64_t(split->channels.size());
      outlierWeights = createConstant(
          b, loc, RankedTensorType::get({count, n}, b.getF32Type()),
          asBytes(split->weights));
    }
    auto mm = MatMulOp::create(b, loc, resultType, input, weight, scales, zeros,
                               inputScale, Value(), scheme, uint64_t(k),
                               /*input_unsigned=*/false, precisionAttr,
                               split ? a : Value(), outlierWeights, excluded);
    if (Attribute outliers = op->getAttr(QOptDialect::kOutliersAttrName))
      mm->setAttr(QOptDialect::kOutliersAttrName, outliers);
    // The scales the product's input was divided by (its weights carry
    // them): SmoothQuant's, or else GPTQ's or AWQ's input scales, for the
    // ONNX export to apply to the model's own activation. GPTQ's and AWQ's
    // x / s stays an elementwise op behind the probe (it fuses with the
    // producer), which keeps observing x, as GPTQ's second round needs.
    if (Attribute scales = op->getAttr(QOptDialect::kSmoothScalesAttrName)) {
      mm->setAttr(QOptDialect::kSmoothScalesAttrName, scales);
    } else if (scaledInput) {
      auto st = RankedTensorType::get({k}, b.getF32Type());
      mm->setAttr(
          QOptDialect::kSmoothScalesAttrName,
          DenseElementsAttr::get(st, ArrayRef<float>(*choice.inputScales)));
    }
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
