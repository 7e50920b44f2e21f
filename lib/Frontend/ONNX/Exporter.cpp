//===- Exporter.cpp - Quantized ONNX models for other runtimes ------------===//
//
// The export starts again from the user's ONNX model (not from qopt's IR,
// which has lost the graph's own form) and replaces, node by node, the
// MatMul and Gemm nodes whose products qopt-quantize rewrote. Each
// qopt.matmul carries its ONNX node's name as its location (the importer's
// unique names, so unnamed nodes match too); its operands hold the codes,
// scales and zero points qopt chose, and the ops in front of it (an input
// scale, a quantize) say how its activations were treated. Nothing else in
// the model changes, so what stays float is exactly the model's own graph.
//
//===----------------------------------------------------------------------===//

#include "qopt/Frontend/ONNX/Exporter.h"

#include "GraphPlan.h"
#include "ImportContext.h"
#include "qopt/QOptDialect.h"
#include "qopt/Quant/Quant.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <climits>
#include <cstring>
#include <map>
#include <set>

using namespace mlir;

namespace qopt::onnx_frontend {
namespace {

/// Value names used anywhere in a graph (subgraphs included), and fresh
/// ones for what the export adds.
class ValueNames {
public:
  explicit ValueNames(const onnx::GraphProto &g) { collect(g); }

  std::string fresh(const std::string &base) {
    std::string name = base;
    for (int i = 1; !taken.insert(name).second; ++i)
      name = base + "_" + std::to_string(i);
    return name;
  }

private:
  void collect(const onnx::GraphProto &g) {
    for (const auto &v : g.input())
      taken.insert(v.name());
    for (const auto &v : g.output())
      taken.insert(v.name());
    for (const auto &t : g.initializer())
      taken.insert(t.name());
    for (const auto &n : g.node()) {
      taken.insert(n.input().begin(), n.input().end());
      taken.insert(n.output().begin(), n.output().end());
      for (auto [attr, sub] : subgraphsOf(n))
        collect(*sub);
    }
  }
  std::set<std::string> taken;
};

/// The bytes of a constant operand, or failure.
FailureOr<std::vector<char>> operandBytes(Value v) {
  auto constant = v.getDefiningOp<arith::ConstantOp>();
  if (!constant)
    return failure();
  return constantBytes(constant.getValue(),
                       cast<ShapedType>(constant.getType()));
}

/// The f32 (or f16, widened exactly) values of a constant operand.
FailureOr<std::vector<float>> operandFloats(Value v) {
  FailureOr<std::vector<char>> bytes = operandBytes(v);
  if (failed(bytes))
    return failure();
  Type et = cast<ShapedType>(v.getType()).getElementType();
  std::vector<float> out;
  if (et.isF32()) {
    out.resize(bytes->size() / 4);
    std::memcpy(out.data(), bytes->data(), out.size() * 4);
  } else if (et.isF16()) {
    out.resize(bytes->size() / 2);
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, bytes->data() + 2 * i, 2);
      out[i] = quant::halfToFloat(h);
    }
  } else {
    return failure();
  }
  return out;
}

/// One quantized product's weights, decoded from its qopt.matmul operands.
struct DecodedWeights {
  int64_t n = 0, k = 0, groups = 1;
  SchemeAttr scheme;
  /// Codes, row-major [n, k] (integer and NF4 kinds).
  std::vector<int32_t> codes;
  /// Scales and zero points per (row, group), broadcast from per-tensor.
  std::vector<float> scales;
  std::vector<int32_t> zeros;    // integer zero points (or empty)
  std::vector<float> floatZeros; // HQQ-style float zero points (or empty)
  /// The values the codes stand for, row-major [n, k], as the compiled
  /// code computes them.
  std::vector<float> values;
  bool signedCodes = false;
};

FailureOr<DecodedWeights> decodeWeights(MatMulOp mm) {
  DecodedWeights w;
  w.scheme = mm.getScheme();
  auto wt = cast<RankedTensorType>(mm.getWeight().getType());
  w.n = wt.getDimSize(0);
  w.k = int64_t(mm.getK());
  FailureOr<std::vector<char>> bytes = operandBytes(mm.getWeight());
  if (failed(bytes))
    return mm.emitError() << "cannot export: the weights are not a constant";
  if (w.scheme.getKind() == QuantKind::Float) {
    if (!wt.getElementType().isF16() || int64_t(bytes->size()) != w.n * w.k * 2)
      return mm.emitError() << "cannot export: unexpected f16 weight storage";
    w.values.resize(w.n * w.k);
    for (int64_t i = 0; i < w.n * w.k; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes->data() + 2 * i, 2);
      w.values[i] = quant::halfToFloat(h);
    }
    return w;
  }
  quant::WeightScheme ws = w.scheme.getWeightScheme();
  // Signedness of the stored codes: qopt's symmetric integer codes are
  // signed; unsigned storage (asymmetric, or imported uint8) is not.
  if (ws.kind == quant::WeightKind::Int)
    ws.symmetric = !w.scheme.getIsUnsigned();
  w.signedCodes = ws.signedCodes();
  ws.halfScales = false;
  int64_t rowBytes = ws.packedRowBytes(w.k);
  if (int64_t(bytes->size()) != w.n * rowBytes)
    return mm.emitError() << "cannot export: the weights hold " << bytes->size()
                          << " bytes, expected " << w.n * rowBytes;
  w.groups = ws.numGroups(w.k);
  if (!mm.getWeightScales())
    return mm.emitError() << "cannot export: the weights have no scales";
  FailureOr<std::vector<float>> scales = operandFloats(mm.getWeightScales());
  if (failed(scales))
    return mm.emitError() << "cannot export: the weight scales are not a "
                             "float constant";
  auto st = cast<RankedTensorType>(mm.getWeightScales().getType());
  int64_t sr = st.getRank() == 2 ? st.getDimSize(0) : 1;
  int64_t sc = st.getRank() == 2 ? st.getDimSize(1) : st.getNumElements();
  if ((sr != 1 && sr != w.n) || (sc != 1 && sc != w.groups) ||
      int64_t(scales->size()) != sr * sc)
    return mm.emitError() << "cannot export: unexpected weight scale shape";
  auto at = [&](int64_t r, int64_t g) {
    return (sr == 1 ? 0 : r) * sc + (sc == 1 ? 0 : g);
  };
  w.scales.resize(w.n * w.groups);
  for (int64_t r = 0; r < w.n; ++r)
    for (int64_t g = 0; g < w.groups; ++g)
      w.scales[r * w.groups + g] = (*scales)[at(r, g)];
  if (Value zp = mm.getWeightZeroPoints()) {
    auto zt = cast<RankedTensorType>(zp.getType());
    if (zt.getNumElements() != sr * sc)
      return mm.emitError() << "cannot export: unexpected zero point shape";
    if (zt.getElementType().isF32()) {
      FailureOr<std::vector<float>> z = operandFloats(zp);
      if (failed(z))
        return mm.emitError() << "cannot export: non-constant zero points";
      w.floatZeros.resize(w.n * w.groups);
      for (int64_t r = 0; r < w.n; ++r)
        for (int64_t g = 0; g < w.groups; ++g)
          w.floatZeros[r * w.groups + g] = (*z)[at(r, g)];
    } else {
      FailureOr<std::vector<char>> z = operandBytes(zp);
      if (failed(z) || !zt.getElementType().isInteger(8))
        return mm.emitError() << "cannot export: zero points must be an i8 "
                                 "constant";
      w.zeros.resize(w.n * w.groups);
      for (int64_t r = 0; r < w.n; ++r)
        for (int64_t g = 0; g < w.groups; ++g) {
          char c = (*z)[at(r, g)];
          w.zeros[r * w.groups + g] =
              w.signedCodes ? int32_t(int8_t(c)) : int32_t(uint8_t(c));
        }
    }
  }
  quant::QuantizedMatrix q;
  q.rows = w.n;
  q.k = w.k;
  q.scheme = ws;
  q.packed.assign(bytes->begin(), bytes->end());
  w.codes.resize(w.n * w.k);
  w.values.resize(w.n * w.k);
  int64_t length = ws.groupLength(w.k);
  for (int64_t r = 0; r < w.n; ++r)
    for (int64_t i = 0; i < w.k; ++i) {
      int32_t code = q.code(r, i);
      w.codes[r * w.k + i] = code;
      int64_t g = r * w.groups + i / length;
      float v;
      if (ws.kind == quant::WeightKind::Int) {
        // (w - zw) * sw as the lowering computes it: an integer difference
        // for integer zero points, a float one for float zero points.
        if (!w.floatZeros.empty())
          v = (float(code) - w.floatZeros[g]) * w.scales[g];
        else
          v = float(code - (w.zeros.empty() ? 0 : w.zeros[g])) * w.scales[g];
      } else {
        quant::GroupParams params;
        params.scale = w.scales[g];
        v = quant::dequantizeCode(code, params, ws);
      }
      w.values[r * w.k + i] = v;
    }
  return w;
}

/// Builds the nodes and initializers that replace one ONNX node.
class NodeWriter {
public:
  NodeWriter(onnx::GraphProto &graph, ValueNames &names,
             std::vector<onnx::NodeProto> &out, std::string prefix)
      : graph(graph), names(names), out(out), prefix(std::move(prefix)) {}

  std::string tensor(const std::string &what, int dtype, ArrayRef<int64_t> dims,
                     const void *data, size_t size) {
    onnx::TensorProto *t = graph.add_initializer();
    std::string name = names.fresh(prefix + "/qopt_" + what);
    t->set_name(name);
    t->set_data_type(dtype);
    for (int64_t d : dims)
      t->add_dims(d);
    t->set_raw_data(data, size);
    return name;
  }
  std::string floats(const std::string &what, ArrayRef<int64_t> dims,
                     ArrayRef<float> v) {
    return tensor(what, onnx::TensorProto::FLOAT, dims, v.data(), v.size() * 4);
  }
  std::string scalar(const std::string &what, float v) {
    return floats(what, {}, {v});
  }

  /// Appends a node; `output` empty gives it a fresh output name.
  onnx::NodeProto &node(StringRef op, ArrayRef<std::string> inputs,
                        std::string output = "", StringRef domain = "") {
    onnx::NodeProto &n = out.emplace_back();
    n.set_op_type(op.str());
    if (!domain.empty())
      n.set_domain(domain.str());
    n.set_name(names.fresh(prefix + "/qopt_" + op.str()));
    for (const std::string &i : inputs)
      n.add_input(i);
    n.add_output(output.empty()
                     ? names.fresh(prefix + "/qopt_" + op.str() + "_output")
                     : output);
    return n;
  }
  static void setInt(onnx::NodeProto &n, StringRef name, int64_t v) {
    onnx::AttributeProto *a = n.add_attribute();
    a->set_name(name.str());
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void setInts(onnx::NodeProto &n, StringRef name, ArrayRef<int64_t> v) {
    onnx::AttributeProto *a = n.add_attribute();
    a->set_name(name.str());
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v)
      a->add_ints(x);
  }

  onnx::GraphProto &graph;
  ValueNames &names;
  std::vector<onnx::NodeProto> &out;
  std::string prefix;
};

/// The opset of the default domain.
int64_t defaultOpset(const onnx::ModelProto &model) {
  for (const auto &o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx")
      return o.version();
  return 1;
}

bool isPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

/// The smoothing scales qopt-smooth recorded on a product, or null.
DenseFPElementsAttr smoothScalesOf(MatMulOp mm) {
  return mm->getAttrOfType<DenseFPElementsAttr>(
      QOptDialect::kSmoothScalesAttrName);
}

/// 1 / s for each of those scales: what the activation is multiplied by.
std::vector<float> inverseScales(DenseFPElementsAttr scales) {
  std::vector<float> inverse;
  for (const APFloat &f : scales.getValues<APFloat>())
    inverse.push_back(1.f / f.convertToFloat());
  return inverse;
}

/// How the activations of a product were treated, read from the ops in
/// front of its qopt.matmul.
struct ActivationPath {
  std::vector<float> smoothFactors; // x * (1 / s) (SmoothQuant), or empty
  bool smoothFolded = false;        // ... already in the model's producer
  std::vector<float> inputFactors;  // x * factors (GPTQ/AWQ), or empty
  enum Kind { Float, Static, DynamicPerToken, DynamicPerTensor } kind = Float;
  float staticScale = 1.f;
  int32_t staticZero = 0;
  bool isUnsigned = false;
  std::vector<int64_t> excluded; // channels quantized as 0
};

FailureOr<ActivationPath>
readActivationPath(MatMulOp mm,
                   const std::map<std::string, MatMulOp> &products) {
  ActivationPath path;
  Value v = mm.getInput();
  // Probes and reshapes that keep the last (reduction) dim do not change
  // what the product reads per row.
  auto skipObserve = [](Value x) {
    while (true) {
      if (auto o = x.getDefiningOp<ObserveOp>()) {
        x = o.getInput();
        continue;
      }
      auto r = x.getDefiningOp<tosa::ReshapeOp>();
      if (r && cast<ShapedType>(r.getInput1().getType()).getShape().back() ==
                   cast<ShapedType>(x.getType()).getShape().back()) {
        x = r.getInput1();
        continue;
      }
      return x;
    }
  };
  auto excludedOf = [](std::optional<ArrayRef<int64_t>> e) {
    return e ? std::vector<int64_t>(e->begin(), e->end())
             : std::vector<int64_t>();
  };
  Type et = cast<ShapedType>(v.getType()).getElementType();
  if (!isa<FloatType>(et)) {
    if (auto q = v.getDefiningOp<QuantizeOp>()) {
      FailureOr<std::vector<float>> s = operandFloats(q.getScale());
      if (failed(s) || s->size() != 1)
        return mm.emitError() << "cannot export: the activation scale is not "
                                 "one constant";
      path.kind = ActivationPath::Static;
      path.staticScale = (*s)[0];
      path.isUnsigned = q.getIsUnsigned();
      if (Value zp = q.getZeroPoint()) {
        FailureOr<std::vector<char>> z = operandBytes(zp);
        if (failed(z) || z->size() != 1)
          return mm.emitError() << "cannot export: the activation zero point "
                                   "is not one constant";
        path.staticZero = path.isUnsigned ? int32_t(uint8_t((*z)[0]))
                                          : int32_t(int8_t((*z)[0]));
      }
      path.excluded = excludedOf(q.getExcludeChannels());
      v = q.getInput();
    } else if (auto q = v.getDefiningOp<DynamicQuantizeOp>()) {
      if (q.getGranularity() == Granularity::PerToken && !q.getIsUnsigned())
        path.kind = ActivationPath::DynamicPerToken;
      else if (q.getGranularity() == Granularity::PerTensor &&
               q.getIsUnsigned())
        path.kind = ActivationPath::DynamicPerTensor;
      else
        return mm.emitError() << "cannot export: unsupported dynamic "
                                 "activation quantization";
      path.excluded = excludedOf(q.getExcludeChannels());
      v = q.getInput();
    } else {
      return mm.emitError() << "cannot export: integer activations that do "
                               "not come from a quantize";
    }
    if (cast<ShapedType>(mm.getInput().getType())
            .getElementType()
            .getIntOrFloatBitWidth() != 8)
      return mm.emitError() << "cannot export: activations must be 8-bit";
  }
  v = skipObserve(v);
  // SmoothQuant's 1/s, recorded on the product by qopt-smooth: the model's
  // activation is divided by s in front of everything else.
  if (DenseFPElementsAttr scales = smoothScalesOf(mm)) {
    path.smoothFactors = inverseScales(scales);
    if (int64_t(path.smoothFactors.size()) !=
        cast<ShapedType>(mm.getInput().getType()).getShape().back())
      return mm.emitError()
             << "cannot export: " << QOptDialect::kSmoothScalesAttrName
             << " does not hold one scale per input channel";
  }
  // The constant vector along the last dim that an elementwise product
  // multiplies by, or null.
  auto channelFactors = [](linalg::GenericOp g) -> Value {
    if (g.getNumDpsInputs() != 2 || g.getNumResults() != 1)
      return {};
    auto yield = cast<linalg::YieldOp>(g.getBody()->getTerminator());
    Value factors = g.getDpsInputOperand(1)->get();
    auto ft = dyn_cast<RankedTensorType>(factors.getType());
    if (!yield.getOperand(0).getDefiningOp<arith::MulFOp>() || !ft ||
        ft.getRank() != 1)
      return {};
    return factors;
  };
  // An input scale (GPTQ/AWQ's activation-aware scaling): an elementwise
  // product with a constant along the last dim, made at a quantized
  // product's node (this one, or the first of the products that share the
  // scaled input). The model's own products (a norm's weight) are at their
  // own nodes, and so is qopt-smooth's division by s where it could not
  // fold it into one; that division is skipped here, as the export writes
  // it from the product's scales.
  bool smoothSeen = path.smoothFactors.empty();
  for (int step = 0; step < 2; ++step) {
    auto g = v.getDefiningOp<linalg::GenericOp>();
    if (!g)
      break;
    Value product = channelFactors(g);
    std::optional<std::vector<float>> factors;
    if (product)
      if (FailureOr<std::vector<float>> f = operandFloats(product);
          succeeded(f))
        factors = std::move(*f);
    if (!smoothSeen && factors && *factors == path.smoothFactors) {
      smoothSeen = true;
      v = skipObserve(g.getDpsInputOperand(0)->get());
      continue;
    }
    if (!path.inputFactors.empty() || !products.count(onnxNodeName(g.getLoc())))
      break;
    if (!product)
      return g.emitError() << "cannot export: an unrecognized op in front "
                              "of the quantized product";
    if (!factors)
      return g.emitError() << "cannot export: the input scales are not a "
                              "constant";
    path.inputFactors = std::move(*factors);
    v = skipObserve(g.getDpsInputOperand(0)->get());
  }
  if (!isa<BlockArgument>(v) && products.count(onnxNodeName(v.getLoc())))
    return mm.emitError() << "cannot export: an unrecognized op ("
                          << v.getDefiningOp()->getName()
                          << ") in front of the quantized product";
  return path;
}

/// Emits the activation side; returns the value the weight product reads
/// and, through `outlierSource`, the float value the outlier channels are
/// gathered from.
std::string writeActivation(NodeWriter &w, const ActivationPath &path,
                            std::string x, int64_t k, int64_t opset,
                            std::string &outlierSource) {
  if (!path.smoothFactors.empty() && !path.smoothFolded)
    x = w.node("Mul", {x, w.floats("smooth_scales", {k}, path.smoothFactors)})
            .output(0);
  if (!path.inputFactors.empty())
    x = w.node("Mul", {x, w.floats("input_scales", {k}, path.inputFactors)})
            .output(0);
  outlierSource = x;
  if (!path.excluded.empty()) {
    std::vector<float> mask(k, 1.f);
    for (int64_t c : path.excluded)
      if (c >= 0 && c < k)
        mask[c] = 0.f;
    x = w.node("Mul", {x, w.floats("outlier_mask", {k}, mask)}).output(0);
  }
  switch (path.kind) {
  case ActivationPath::Float:
    return x;
  case ActivationPath::Static: {
    std::string s = w.scalar("input_scale", path.staticScale);
    std::string z;
    if (path.isUnsigned) {
      uint8_t zero = uint8_t(path.staticZero);
      z = w.tensor("input_zero_point", onnx::TensorProto::UINT8, {}, &zero, 1);
    } else {
      int8_t zero = int8_t(path.staticZero);
      z = w.tensor("input_zero_point", onnx::TensorProto::INT8, {}, &zero, 1);
    }
    std::string q = w.node("QuantizeLinear", {x, s, z}).output(0);
    return w.node("DequantizeLinear", {q, s, z}).output(0);
  }
  case ActivationPath::DynamicPerTensor: {
    onnx::NodeProto &dq = w.node("DynamicQuantizeLinear", {x});
    dq.add_output(w.names.fresh(w.prefix + "/qopt_input_scale"));
    dq.add_output(w.names.fresh(w.prefix + "/qopt_input_zero_point"));
    std::vector<std::string> in(dq.output().begin(), dq.output().end());
    return w.node("DequantizeLinear", in).output(0);
  }
  case ActivationPath::DynamicPerToken: {
    // scale = max|x| / 127 per row (1 for a zero row), codes in
    // [-127, 127] rounded half to even, as qopt.dynamic_quantize.
    std::string a = w.node("Abs", {x}).output(0);
    std::string m;
    if (opset >= 18) {
      int64_t axis = -1;
      std::string axes =
          w.tensor("axes", onnx::TensorProto::INT64, {1}, &axis, 8);
      onnx::NodeProto &r = w.node("ReduceMax", {a, axes});
      NodeWriter::setInt(r, "keepdims", 1);
      m = r.output(0);
    } else {
      onnx::NodeProto &r = w.node("ReduceMax", {a});
      NodeWriter::setInts(r, "axes", {-1});
      NodeWriter::setInt(r, "keepdims", 1);
      m = r.output(0);
    }
    std::string s0 = w.node("Div", {m, w.scalar("127", 127.f)}).output(0);
    std::string zero = w.scalar("zero", 0.f);
    std::string isZero = w.node("Equal", {s0, zero}).output(0);
    std::string s =
        w.node("Where", {isZero, w.scalar("one", 1.f), s0}).output(0);
    std::string r =
        w.node("Round", {w.node("Div", {x, s}).output(0)}).output(0);
    std::string c = w.node("Clip", {r, w.scalar("code_min", -127.f),
                                    w.scalar("code_max", 127.f)})
                        .output(0);
    return w.node("Mul", {c, s}).output(0);
  }
  }
  return x;
}

/// Emits the weight product of `x` and returns its output (`output` when
/// not empty); counts the form chosen in `summary`.
std::string writeProduct(NodeWriter &w, const DecodedWeights &dw,
                         const std::string &x, bool qdqActivations,
                         std::string output, ExportSummary &summary,
                         bool &usesMicrosoft) {
  int64_t n = dw.n, k = dw.k;
  QuantKind kind = dw.scheme.getKind();
  unsigned bits = dw.scheme.getBits();
  int64_t group = dw.scheme.getGranularity() == Granularity::Group
                      ? dw.scheme.getGroupSize()
                      : 0;
  int32_t offset = dw.signedCodes ? (1 << (bits - 1)) : 0;
  auto zeroFits = [&]() {
    for (int32_t z : dw.zeros)
      if (z + offset < 0 || z + offset >= (1 << bits))
        return false;
    return true;
  };
  // Group-wise 4- and 8-bit integer codes: MatMulNBits, qopt's codes as
  // unsigned (signed ones offset by 2^(bits-1), the default zero point).
  // Per-channel 8-bit codes take it too, in blocks of 32 that repeat the
  // row's scale, except behind static QDQ activations: ONNX Runtime runs
  // DequantizeLinear + MatMul there as the exact integer product, but
  // otherwise (float activations) turns it into MatMulNBits computing with
  // int8 activations of its own (session.qdq_matmulnbits_accuracy_level,
  // 4 by default), which is not what qopt computes.
  bool grouped = group >= 16 && isPowerOfTwo(group);
  bool perChannel8 = group == 0 && bits == 8 && !qdqActivations;
  if (kind == QuantKind::Int && (bits == 4 || bits == 8) &&
      (grouped || perChannel8) && zeroFits()) {
    int64_t block = grouped ? group : (k >= 32 ? 32 : 16);
    int64_t blocks = (k + block - 1) / block;
    int64_t rowBytes = blocks * block * bits / 8;
    // The parameters of block j of row r.
    auto param = [&](int64_t r, int64_t j) {
      return r * dw.groups +
             (grouped ? std::min<int64_t>(j, dw.groups - 1) : 0);
    };
    std::vector<uint8_t> b(n * rowBytes, 0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < blocks * block; ++i) {
        int64_t g = param(r, i / block);
        int32_t zu = dw.zeros.empty() ? offset : dw.zeros[g] + offset;
        // Padding past k gets the zero point: it stands for 0.
        uint32_t q = i < k ? uint32_t(dw.codes[r * k + i] + offset)
                           : (dw.floatZeros.empty() ? uint32_t(zu) : 0u);
        int64_t bit = i * bits;
        b[r * rowBytes + bit / 8] |= uint8_t(q << (bit % 8));
      }
    std::vector<float> scales(n * blocks), floatZeros;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < blocks; ++j) {
        scales[r * blocks + j] = dw.scales[param(r, j)];
        if (!dw.floatZeros.empty())
          floatZeros.push_back(dw.floatZeros[param(r, j)] + float(offset));
      }
    std::vector<std::string> in = {
        x,
        w.tensor("weight", onnx::TensorProto::UINT8,
                 {n, blocks, rowBytes / blocks}, b.data(), b.size()),
        w.floats("weight_scales", {n * blocks}, scales)};
    if (!floatZeros.empty()) {
      in.push_back(w.floats("weight_zero_points", {n * blocks}, floatZeros));
    } else if (!dw.zeros.empty() || offset == 0) {
      int64_t zpRowBytes = (blocks * bits + 7) / 8;
      std::vector<uint8_t> zp(n * zpRowBytes, 0);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < blocks; ++j) {
          int32_t z = dw.zeros.empty() ? 0 : dw.zeros[param(r, j)];
          int64_t bit = j * bits;
          zp[r * zpRowBytes + bit / 8] |=
              uint8_t(uint32_t(z + offset) << (bit % 8));
        }
      in.push_back(w.tensor("weight_zero_points", onnx::TensorProto::UINT8,
                            {n * zpRowBytes}, zp.data(), zp.size()));
    }
    onnx::NodeProto &mm = w.node("MatMulNBits", in, output, "com.microsoft");
    NodeWriter::setInt(mm, "K", k);
    NodeWriter::setInt(mm, "N", n);
    NodeWriter::setInt(mm, "bits", bits);
    NodeWriter::setInt(mm, "block_size", block);
    usesMicrosoft = true;
    ++summary.matMulNBits;
    return mm.output(0);
  }
  // Per-channel or per-tensor 8-bit codes: DequantizeLinear of [K, N]
  // codes along axis 1, then MatMul.
  if (kind == QuantKind::Int && bits == 8 && group == 0 &&
      dw.floatZeros.empty()) {
    bool perTensor = true;
    for (int64_t r = 1; r < n; ++r)
      perTensor = perTensor && dw.scales[r] == dw.scales[0] &&
                  (dw.zeros.empty() || dw.zeros[r] == dw.zeros[0]);
    int type =
        dw.signedCodes ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8;
    std::vector<uint8_t> t(k * n);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < k; ++i)
        t[i * n + r] = uint8_t(dw.codes[r * k + i]);
    std::vector<std::string> in = {
        w.tensor("weight", type, {k, n}, t.data(), t.size())};
    if (perTensor)
      in.push_back(w.scalar("weight_scale", dw.scales[0]));
    else
      in.push_back(w.floats("weight_scales", {n}, dw.scales));
    if (!dw.zeros.empty()) {
      std::vector<uint8_t> z(perTensor ? 1 : n);
      for (size_t r = 0; r < z.size(); ++r)
        z[r] = uint8_t(dw.zeros[r]);
      SmallVector<int64_t> dims;
      if (!perTensor)
        dims.push_back(n);
      in.push_back(
          w.tensor("weight_zero_points", type, dims, z.data(), z.size()));
    }
    onnx::NodeProto &dq = w.node("DequantizeLinear", in);
    if (!perTensor)
      NodeWriter::setInt(dq, "axis", 1);
    ++summary.qdq;
    return w.node("MatMul", {x, dq.output(0)}, output).output(0);
  }
  // Anything else (NF4, FP8, 2/3-bit codes, groups MatMulNBits does not
  // take, f16): the float weights the codes stand for.
  std::vector<float> t(k * n);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < k; ++i)
      t[i * n + r] = dw.values[r * k + i];
  ++summary.dequantized;
  return w
      .node("MatMul", {x, w.floats("weight_dequantized", {k, n}, t)}, output)
      .output(0);
}

float floatAttr(const onnx::NodeProto &node, StringRef name, float dflt) {
  for (const auto &a : node.attribute())
    if (a.name() == name)
      return a.f();
  return dflt;
}
int64_t intAttr(const onnx::NodeProto &node, StringRef name, int64_t dflt) {
  for (const auto &a : node.attribute())
    if (a.name() == name)
      return a.i();
  return dflt;
}

/// Names every node of `nodes` reads (subgraphs' outer references too).
std::set<std::string> readNames(ArrayRef<onnx::NodeProto> nodes,
                                const onnx::GraphProto &graph) {
  std::set<std::string> used;
  for (const auto &n : nodes) {
    used.insert(n.input().begin(), n.input().end());
    for (auto [attr, sub] : subgraphsOf(n))
      collectOuterReferences(*sub, used);
  }
  for (const auto &o : graph.output())
    used.insert(o.name());
  return used;
}

/// Removes, repeatedly, nodes none of whose outputs are read, except those
/// `keep` names (by first output).
void removeDeadNodes(std::vector<onnx::NodeProto> &nodes,
                     const onnx::GraphProto &graph,
                     const std::set<std::string> &keep) {
  for (bool changed = true; changed;) {
    changed = false;
    std::set<std::string> used = readNames(nodes, graph);
    std::vector<onnx::NodeProto> live;
    for (auto &n : nodes) {
      bool read = n.output_size() == 0 ||
                  (n.output_size() > 0 && keep.count(n.output(0)));
      for (const auto &o : n.output())
        read = read || used.count(o);
      if (read)
        live.push_back(std::move(n));
      else
        changed = true;
    }
    nodes = std::move(live);
  }
}

/// Moves the external data of every initializer into the model.
LogicalResult inlineExternalData(MLIRContext &ctx, onnx::GraphProto &graph,
                                 StringRef baseDir) {
  for (auto &t : *graph.mutable_initializer()) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL)
      continue;
    std::vector<char> bytes;
    bool available = false;
    std::string error;
    if (failed(readTensorBytes(t, baseDir, bytes, available, error)) ||
        !available)
      return emitError(UnknownLoc::get(&ctx))
             << "cannot export: initializer '" << t.name() << "': " << error;
    t.clear_external_data();
    t.set_data_location(onnx::TensorProto::DEFAULT);
    t.set_raw_data(bytes.data(), bytes.size());
  }
  for (auto &n : *graph.mutable_node())
    for (auto &a : *n.mutable_attribute()) {
      if (a.has_g() && failed(inlineExternalData(ctx, *a.mutable_g(), baseDir)))
        return failure();
      for (auto &g : *a.mutable_graphs())
        if (failed(inlineExternalData(ctx, g, baseDir)))
          return failure();
    }
  return success();
}

/// Folds SmoothQuant's 1/s into the model's own producer of a smoothed
/// input, as qopt-smooth folds it into a norm's weight: the input must be
/// made by a Mul with a float constant of one value per channel (an
/// initializer or a Constant node) that nothing else reads, and be read
/// only, as their activation, by products smoothed with the same scales.
/// `nodes` are copies of the graph's nodes (a Constant's copy is edited);
/// returns the inputs whose producer now carries 1/s.
std::set<std::string>
foldSmoothing(onnx::GraphProto &graph, std::vector<onnx::NodeProto> &nodes,
              const NodeNames &nodeNames,
              const std::map<std::string, MatMulOp> &products) {
  // Readers of every name: a node's inputs, once per node; a read from a
  // subgraph or by a graph output counts as a reader that is not a product.
  std::map<std::string, std::vector<size_t>> readers;
  std::set<std::string> otherReads;
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<std::string> mine(nodes[i].input().begin(),
                               nodes[i].input().end());
    for (const std::string &n : mine)
      readers[n].push_back(i);
    for (auto [attr, sub] : subgraphsOf(nodes[i]))
      collectOuterReferences(*sub, otherReads);
    for (const std::string &o : nodes[i].output())
      producer[o] = i;
  }
  for (const auto &o : graph.output())
    otherReads.insert(o.name());
  std::set<std::string> graphInputs;
  for (const auto &in : graph.input())
    graphInputs.insert(in.name());
  auto readOnlyBy = [&](const std::string &name, size_t node) {
    auto it = readers.find(name);
    return !otherReads.count(name) && it != readers.end() &&
           it->second.size() == 1 && it->second[0] == node;
  };
  auto productAt = [&](size_t i) -> std::optional<MatMulOp> {
    auto it = products.find(nodeNames.of(graph.node(int(i))).str());
    if (it == products.end())
      return std::nullopt;
    return it->second;
  };

  std::set<std::string> folded;
  std::set<std::string> tried;
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::optional<MatMulOp> mm = productAt(i);
    DenseFPElementsAttr scales = mm ? smoothScalesOf(*mm) : nullptr;
    if (!scales || nodes[i].input_size() < 1 ||
        !tried.insert(nodes[i].input(0)).second)
      continue;
    const std::string &x = nodes[i].input(0);
    // Every reader: a product smoothed the same way, reading x as its
    // activation only.
    if (otherReads.count(x) || !llvm::all_of(readers[x], [&](size_t r) {
          std::optional<MatMulOp> other = productAt(r);
          if (!other || smoothScalesOf(*other) != scales ||
              nodes[r].input(0) != x)
            return false;
          for (int j = 1; j < nodes[r].input_size(); ++j)
            if (nodes[r].input(j) == x)
              return false;
          return true;
        }))
      continue;
    auto made = producer.find(x);
    if (made == producer.end())
      continue;
    size_t p = made->second;
    const onnx::NodeProto &mul = nodes[p];
    if (mul.op_type() != "Mul" ||
        !(mul.domain().empty() || mul.domain() == "ai.onnx") ||
        mul.input_size() != 2 || mul.output_size() != 1 ||
        mul.input(0) == mul.input(1))
      continue;
    int64_t k = scales.getNumElements();
    for (const std::string &c : {mul.input(0), mul.input(1)}) {
      if (!readOnlyBy(c, p) || graphInputs.count(c))
        continue;
      onnx::TensorProto *t = nullptr;
      for (auto &init : *graph.mutable_initializer())
        if (init.name() == c)
          t = &init;
      if (auto it = producer.find(c); !t && it != producer.end()) {
        onnx::NodeProto &constant = nodes[it->second];
        if (constant.op_type() == "Constant" && constant.domain().empty())
          for (auto &a : *constant.mutable_attribute())
            if (a.name() == "value" && a.has_t())
              t = a.mutable_t();
      }
      if (!t || t->data_type() != onnx::TensorProto::FLOAT ||
          t->dims_size() < 1 || t->dims(t->dims_size() - 1) != k)
        continue;
      bool perChannel = true;
      for (int d = 0; d + 1 < t->dims_size(); ++d)
        perChannel = perChannel && t->dims(d) == 1;
      if (!perChannel)
        continue;
      HostTensor host;
      std::string error;
      if (failed(readTensorProto(*t, "", host, error)) ||
          int64_t(host.f.size()) != k)
        continue;
      std::vector<float> values(host.f.begin(), host.f.end());
      std::vector<float> inverse = inverseScales(scales);
      for (int64_t j = 0; j < k; ++j)
        values[j] *= inverse[j];
      t->clear_float_data();
      t->set_raw_data(values.data(), values.size() * 4);
      folded.insert(x);
      break;
    }
  }
  return folded;
}

} // namespace

FailureOr<ExportSummary> exportQuantizedONNX(ModuleOp module,
                                             StringRef modelPath) {
  MLIRContext &ctx = *module.getContext();
  Location unknown = UnknownLoc::get(&ctx);
  auto file = llvm::MemoryBuffer::getFileOrSTDIN(modelPath, /*IsText=*/false);
  if (!file)
    return emitError(unknown) << "cannot open '" << modelPath
                              << "': " << file.getError().message();
  onnx::ModelProto model;
  if (!parseModelProto(ctx, (*file)->getBuffer(), modelPath, model))
    return failure();
  SmallString<256> baseDir(modelPath);
  llvm::sys::path::remove_filename(baseDir);
  onnx::GraphProto &graph = *model.mutable_graph();
  if (failed(inlineExternalData(ctx, graph, baseDir)))
    return failure();
  int64_t opset = defaultOpset(model);

  // What the export cannot write yet is refused, at its node.
  WalkResult unsupported = module.walk([&](Operation *op) {
    if (isa<Conv2DOp>(op) && op->hasAttr(QOptDialect::kPrecisionAttrName)) {
      op->emitError() << "--emit-onnx does not export quantized convolutions "
                         "yet (keep them float with --exclude)";
      return WalkResult::interrupt();
    }
    if (isa<EmbeddingOp>(op)) {
      op->emitError() << "--emit-onnx does not export quantized embedding "
                         "tables (drop --quantize-embeddings)";
      return WalkResult::interrupt();
    }
    if (isa<tosa::MatMulOp>(op) &&
        op->hasAttr(QOptDialect::kPrecisionAttrName)) {
      op->emitError() << "--emit-onnx does not export quantized attention "
                         "products (drop --quantize-attention)";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (unsupported.wasInterrupted())
    return failure();

  // The quantized products by node name. Products without a precision come
  // from the model itself (MatMulNBits, QLinearMatMul, ...): those nodes
  // are written back as they were.
  std::map<std::string, MatMulOp> products;
  WalkResult walked = module.walk([&](MatMulOp mm) {
    if (!mm.getPrecision())
      return WalkResult::advance();
    std::string name = onnxNodeName(mm.getLoc());
    if (name.empty() || !products.emplace(name, mm).second) {
      mm.emitError() << "cannot export: the quantized product has no ONNX "
                        "node of its own";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (walked.wasInterrupted())
    return failure();
  if (!products.empty() && opset < 13)
    return emitError(unknown)
           << "--emit-onnx: the model's opset is " << opset
           << "; per-channel QuantizeLinear/DequantizeLinear need 13 or later";

  NodeNames nodeNames(graph);
  ValueNames names(graph);
  std::set<std::string> initializerNames;
  for (const auto &t : graph.initializer())
    initializerNames.insert(t.name());
  std::vector<onnx::NodeProto> original(graph.node().begin(),
                                        graph.node().end());
  // Nodes already dead in the model stay: the export only removes what its
  // replacements left unread (the float weights and their Transposes).
  std::set<std::string> deadBefore;
  {
    std::vector<onnx::NodeProto> live = original;
    removeDeadNodes(live, graph, {});
    std::set<std::string> alive;
    for (const auto &n : live)
      if (n.output_size())
        alive.insert(n.output(0));
    for (const auto &n : original)
      if (n.output_size() && !alive.count(n.output(0)))
        deadBefore.insert(n.output(0));
  }
  std::set<std::string> readBefore = readNames(original, graph);
  std::set<std::string> smoothFolded =
      foldSmoothing(graph, original, nodeNames, products);

  ExportSummary summary;
  bool usesMicrosoft = false;
  std::vector<onnx::NodeProto> nodes;
  size_t matched = 0;
  for (size_t index = 0; index < original.size(); ++index) {
    const onnx::NodeProto &node = graph.node(int(index));
    std::string name = nodeNames.of(node).str();
    auto found = products.find(name);
    if (found == products.end()) {
      nodes.push_back(original[index]);
      continue;
    }
    ++matched;
    MatMulOp mm = found->second;
    bool isGemm = node.op_type() == "Gemm" && node.domain().empty();
    if ((node.op_type() != "MatMul" && !isGemm) || node.input_size() < 2 ||
        node.output_size() != 1)
      return mm.emitError() << "cannot export: a quantized " << node.op_type()
                            << " (only MatMul and Gemm are exported)";
    if (isGemm && (intAttr(node, "transA", 0) != 0 ||
                   floatAttr(node, "alpha", 1.f) != 1.f))
      return mm.emitError() << "cannot export: a Gemm with transA or alpha";
    FailureOr<DecodedWeights> weights = decodeWeights(mm);
    if (failed(weights))
      return failure();
    FailureOr<ActivationPath> path = readActivationPath(mm, products);
    if (failed(path))
      return failure();
    if (!path->smoothFactors.empty()) {
      path->smoothFolded = smoothFolded.count(node.input(0)) > 0;
      ++(path->smoothFolded ? summary.smoothFolded : summary.smoothMul);
    }
    if (auto rt = cast<RankedTensorType>(mm.getResult().getType());
        !rt.getElementType().isF32() || rt.getShape().back() != weights->n ||
        cast<RankedTensorType>(mm.getInput().getType()).getShape().back() !=
            weights->k)
      return mm.emitError() << "cannot export: the product's weights are not "
                               "on the right";
    NodeWriter w(graph, names, nodes, name);
    std::string outlierSource;
    std::string x = writeActivation(w, *path, node.input(0), weights->k, opset,
                                    outlierSource);
    bool hasBias = isGemm && node.input_size() > 2 && !node.input(2).empty();
    bool hasOutliers = bool(mm.getOutlierWeights());
    std::string y = writeProduct(
        w, *weights, x,
        path->kind == ActivationPath::Static ||
            path->kind == ActivationPath::DynamicPerTensor,
        hasBias || hasOutliers ? "" : node.output(0), summary, usesMicrosoft);
    if (hasOutliers) {
      // LLM.int8: the outlier channels in float, added to the product.
      ArrayRef<int64_t> channels = *mm.getOutlierChannels();
      FailureOr<std::vector<float>> wo = operandFloats(mm.getOutlierWeights());
      if (failed(wo) ||
          int64_t(wo->size()) != int64_t(channels.size()) * weights->n)
        return mm.emitError() << "cannot export: unexpected outlier weights";
      std::vector<int64_t> idx(channels.begin(), channels.end());
      std::string indices =
          w.tensor("outlier_channels", onnx::TensorProto::INT64,
                   {int64_t(idx.size())}, idx.data(), idx.size() * 8);
      onnx::NodeProto &gather = w.node("Gather", {outlierSource, indices});
      NodeWriter::setInt(gather, "axis", -1);
      std::string po =
          w.node("MatMul", {gather.output(0),
                            w.floats("outlier_weights",
                                     {int64_t(idx.size()), weights->n}, *wo)})
              .output(0);
      y = w.node("Add", {y, po}, hasBias ? "" : node.output(0)).output(0);
    }
    if (hasBias) {
      std::string c = node.input(2);
      float beta = floatAttr(node, "beta", 1.f);
      if (beta != 1.f)
        c = w.node("Mul", {c, w.scalar("beta", beta)}).output(0);
      w.node("Add", {y, c}, node.output(0));
    }
  }
  if (matched != products.size()) {
    for (auto &[name, mm] : products) {
      bool inMain = false;
      for (const auto &node : graph.node())
        inMain = inMain || nodeNames.of(node) == name;
      if (!inMain)
        return mm.emitError() << "cannot export: the quantized product is not "
                                 "in the model's main graph";
    }
  }
  removeDeadNodes(nodes, graph, deadBefore);
  graph.clear_node();
  for (auto &n : nodes)
    *graph.add_node() = std::move(n);
  // Initializers the replaced products read and nothing reads now.
  std::set<std::string> readAfter = readNames(
      std::vector<onnx::NodeProto>(graph.node().begin(), graph.node().end()),
      graph);
  auto dropped = [&](const std::string &n) {
    return initializerNames.count(n) && readBefore.count(n) &&
           !readAfter.count(n);
  };
  auto *inits = graph.mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; --i)
    if (dropped(inits->Get(i).name()))
      inits->DeleteSubrange(i, 1);
  auto *inputs = graph.mutable_input();
  for (int i = inputs->size() - 1; i >= 0; --i)
    if (dropped(inputs->Get(i).name()))
      inputs->DeleteSubrange(i, 1);
  if (usesMicrosoft) {
    bool present = false;
    for (const auto &o : model.opset_import())
      present = present || o.domain() == "com.microsoft";
    if (!present) {
      auto *o = model.add_opset_import();
      o->set_domain("com.microsoft");
      o->set_version(1);
    }
  }
  model.set_producer_name("qopt");
  model.set_producer_version("0.1");

  size_t size = model.ByteSizeLong();
  if (size > size_t(INT_MAX))
    return emitError(unknown)
           << "--emit-onnx: the model would be " << size
           << " bytes, over protobuf's 2 GiB limit for one file";
  if (!model.SerializeToString(&summary.bytes))
    return emitError(unknown) << "--emit-onnx: cannot serialize the model";
  return summary;
}

LogicalResult writeExportedONNX(MLIRContext &ctx, const ExportSummary &summary,
                                StringRef modelPath, StringRef outPath) {
  Location unknown = UnknownLoc::get(&ctx);
  // The user's model is never overwritten.
  if (llvm::sys::fs::equivalent(modelPath, outPath))
    return emitError(unknown) << "--emit-onnx: '" << outPath
                              << "' is the input model; choose another file";
  // Written to a temporary file beside the destination and renamed: a
  // previous file stays whole until the new one is.
  if (llvm::Error e = llvm::writeToOutput(outPath, [&](llvm::raw_ostream &os) {
        os << summary.bytes;
        return llvm::Error::success();
      }))
    return emitError(unknown) << "cannot write '" << outPath
                              << "': " << llvm::toString(std::move(e));
  return success();
}

} // namespace qopt::onnx_frontend
