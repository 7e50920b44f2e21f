//===- QOptDialect.cpp - qopt dialect, attributes and op verifiers --------===//

#include "QOptDialect.h"
#include "SignatureAttrs.h"
#include "qopt/Quant/Quant.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

/// Real-valued attribute parameters (#qopt.outliers) parse as plain
/// numbers; MLIR only provides field parsers for integers and attributes.
template <>
struct mlir::FieldParser<llvm::APFloat> {
  static FailureOr<llvm::APFloat> parse(AsmParser &parser) {
    double value;
    if (parser.parseFloat(value))
      return failure();
    return llvm::APFloat(value);
  }
};

using namespace mlir;
using namespace qopt;

#include "QOptDialect.cpp.inc"
#include "QOptEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "QOptAttrs.cpp.inc"

#define GET_OP_CLASSES
#include "QOptOps.cpp.inc"

void QOptDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "QOptAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "QOptOps.cpp.inc"
      >();
}

LogicalResult QOptDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  Attribute value = attr.getValue();
  if (name == kOutliersAttrName) {
    auto outliers = dyn_cast<OutliersAttr>(value);
    if (!outliers)
      return op->emitError() << kOutliersAttrName
                             << " must be a #qopt.outliers attribute";
    double fraction = outliers.getRangeFraction().convertToDouble();
    if (!(fraction >= 0 && fraction <= 1))
      return op->emitError() << kOutliersAttrName
                             << ": range_fraction must be in [0, 1]";
    return success();
  }
  if (name == kSmoothScalesAttrName) {
    auto scales = dyn_cast<DenseFPElementsAttr>(value);
    if (!scales || scales.getType().getRank() != 1 ||
        !scales.getElementType().isF32())
      return op->emitError()
             << kSmoothScalesAttrName << " must be a 1-D f32 dense tensor";
    for (const llvm::APFloat &s : scales.getValues<llvm::APFloat>())
      if (!s.isFiniteNonZero() || s.isNegative())
        return op->emitError() << kSmoothScalesAttrName
                               << ": every scale must be finite and positive";
    return success();
  }
  if (name == kRoleAttrName) {
    if (!isa<LayerRoleAttr>(value))
      return op->emitError() << kRoleAttrName
                             << " must be a #qopt.role attribute";
    return success();
  }
  if (name == kPrecisionAttrName) {
    if (!isa<PrecisionAttr>(value))
      return op->emitError() << kPrecisionAttrName
                             << " must be a #qopt.precision attribute";
    return success();
  }
  if (name == kAssignAttrName) {
    if (!isa<AssignmentAttr>(value))
      return op->emitError() << kAssignAttrName
                             << " must be a #qopt.assignment attribute";
    return success();
  }
  if (name == kTargetAttrName) {
    if (!isa<mlir::ModuleOp>(op))
      return op->emitError() << kTargetAttrName << " belongs on a module";
    if (!isa<TargetAttr>(value))
      return op->emitError() << kTargetAttrName
                             << " must be a #qopt.target attribute";
    return success();
  }
  if (name == kThreadsAttrName) {
    auto count = dyn_cast<IntegerAttr>(value);
    if (!isa<mlir::ModuleOp>(op) || !count || count.getInt() < 0)
      return op->emitError() << kThreadsAttrName
                             << " must be a non-negative integer on a module";
    return success();
  }
  if (name == kWorkspaceBytesAttrName) {
    auto bytes = dyn_cast<IntegerAttr>(value);
    if (!isa<mlir::ModuleOp>(op) || !bytes || bytes.getInt() < 0)
      return op->emitError() << kWorkspaceBytesAttrName
                             << " must be a non-negative integer on a module";
    return success();
  }
  if (name == kDequantizeWeightsAttrName) {
    if (!isa<IntegerAttr>(value))
      return op->emitError() << kDequantizeWeightsAttrName
                             << " must be an integer (the alignment)";
    return success();
  }
  if (name == kWeightsBlobAttrName) {
    auto blob = dyn_cast<DenseResourceElementsAttr>(value);
    if (!isa<mlir::ModuleOp>(op) || !blob ||
        !blob.getType().getElementType().isInteger(8))
      return op->emitError() << kWeightsBlobAttrName
                             << " must be a dense_resource i8 tensor on a module";
    return success();
  }
  if (name == kWeightsLayoutAttrName) {
    auto list = dyn_cast<ArrayAttr>(value);
    if (!isa<mlir::ModuleOp>(op) || !list ||
        !llvm::all_of(list, [](Attribute a) {
          auto d = dyn_cast<DictionaryAttr>(a);
          return d && d.getAs<StringAttr>("global") &&
                 d.getAs<IntegerAttr>("offset") && d.getAs<IntegerAttr>("bytes");
        }))
      return op->emitError() << kWeightsLayoutAttrName
                             << " must be an array of {global, offset, bytes} "
                                "on a module";
    return success();
  }
  if (name == kLoweringConfigAttrName) {
    auto config = dyn_cast<LoweringConfigAttr>(value);
    if (!config)
      return op->emitError() << kLoweringConfigAttrName
                             << " must be a #qopt.lowering_config attribute";
    if (llvm::any_of(config.getTileSizes().asArrayRef(),
                     [](int64_t t) { return t < 0; }))
      return op->emitError() << kLoweringConfigAttrName
                             << ": tile sizes must be non-negative";
    return success();
  }
  if (name == kTileInLoopAttrName) {
    if (!isa<UnitAttr>(value) || op->getName().getStringRef() != "scf.for")
      return op->emitError() << kTileInLoopAttrName
                             << " must be a unit attribute on an scf.for";
    return success();
  }
  if (name == kKVCacheAttrName) {
    if (!isa<DictionaryAttr>(value))
      return op->emitError() << kKVCacheAttrName << " must be a dictionary";
    return success();
  }
  return op->emitError() << "unknown qopt attribute '" << name << "'";
}

/// The entry-function argument and result attributes.
static LogicalResult verifySignatureAttribute(Operation *op,
                                              NamedAttribute attr,
                                              bool isArgument) {
  StringRef name = attr.getName().getValue();
  if (name == QOptDialect::kNameAttrName ||
      name == QOptDialect::kDTypeAttrName) {
    if (!isa<StringAttr>(attr.getValue()))
      return op->emitError() << name << " must be a string";
    return success();
  }
  if (isArgument && name == kIndexBoundAttrName) {
    auto bound = dyn_cast<IntegerAttr>(attr.getValue());
    if (!bound || bound.getInt() <= 0)
      return op->emitError() << name << " must be a positive integer";
    return success();
  }
  if (isArgument && name == kIndexNodeAttrName) {
    if (!isa<StringAttr>(attr.getValue()))
      return op->emitError() << name << " must be a string";
    return success();
  }
  if (name == QOptDialect::kArgRoleAttrName) {
    if (!isa<ArgRoleAttr>(attr.getValue()))
      return op->emitError() << name << " must be a #qopt.arg_role attribute";
    return success();
  }
  return op->emitError() << "unknown qopt " << (isArgument ? "argument" : "result")
                         << " attribute '" << name << "'";
}

LogicalResult QOptDialect::verifyRegionArgAttribute(Operation *op, unsigned,
                                                    unsigned,
                                                    NamedAttribute attr) {
  return verifySignatureAttribute(op, attr, /*isArgument=*/true);
}

LogicalResult QOptDialect::verifyRegionResultAttribute(Operation *op, unsigned,
                                                       unsigned,
                                                       NamedAttribute attr) {
  return verifySignatureAttribute(op, attr, /*isArgument=*/false);
}

//===----------------------------------------------------------------------===//
// TargetAttr
//===----------------------------------------------------------------------===//

bool TargetAttr::hasFeature(StringRef feature) const {
  bool enabled = false;
  SmallVector<StringRef> parts;
  getFeatures().split(parts, ',', -1, /*KeepEmpty=*/false);
  for (StringRef f : parts) {
    f = f.trim();
    if (f.drop_front() == feature && (f.front() == '+' || f.front() == '-'))
      enabled = f.front() == '+';
  }
  return enabled;
}

//===----------------------------------------------------------------------===//
// SchemeAttr
//===----------------------------------------------------------------------===//

Attribute SchemeAttr::parse(AsmParser &parser, Type) {
  std::string kindWord, granWord, symWord;
  if (parser.parseLess() || parser.parseKeywordOrString(&kindWord))
    return {};
  QuantKind kind;
  unsigned bits = 0;
  bool isUnsigned = false;
  StringRef k(kindWord);
  if (k == "nf4") {
    kind = QuantKind::NF4, bits = 4;
  } else if (k == "fp8_e4m3") {
    kind = QuantKind::FP8E4M3, bits = 8;
  } else if (k == "f16") {
    kind = QuantKind::Float, bits = 16;
  } else if ((k.consume_front("uint") && (isUnsigned = true)) ||
             k.consume_front("int")) {
    kind = QuantKind::Int;
    if (k.getAsInteger(10, bits)) {
      parser.emitError(parser.getCurrentLocation(), "bad integer width in '")
          << kindWord << "'";
      return {};
    }
  } else {
    parser.emitError(parser.getCurrentLocation(),
                     "expected int<N>, uint<N>, nf4, fp8_e4m3 or f16, got '")
        << kindWord << "'";
    return {};
  }
  if (parser.parseComma() || parser.parseKeywordOrString(&granWord))
    return {};
  std::optional<Granularity> gran = symbolizeGranularity(granWord);
  if (!gran) {
    parser.emitError(parser.getCurrentLocation(), "unknown granularity '")
        << granWord << "'";
    return {};
  }
  int64_t groupSize = 0;
  if (*gran == Granularity::Group && parser.parseInteger(groupSize))
    return {};
  bool symmetric = true;
  if (succeeded(parser.parseOptionalComma())) {
    if (parser.parseKeywordOrString(&symWord))
      return {};
    if (symWord != "sym" && symWord != "asym") {
      parser.emitError(parser.getCurrentLocation(), "expected sym or asym");
      return {};
    }
    symmetric = symWord == "sym";
  }
  if (parser.parseGreater())
    return {};
  return SchemeAttr::getChecked(
      [&] { return parser.emitError(parser.getNameLoc()); },
      parser.getContext(), kind, bits, isUnsigned, *gran, groupSize,
      symmetric);
}

void SchemeAttr::print(AsmPrinter &p) const {
  p << "<";
  switch (getKind()) {
  case QuantKind::Int:
    p << (getIsUnsigned() ? "uint" : "int") << getBits();
    break;
  case QuantKind::NF4:
    p << "nf4";
    break;
  case QuantKind::FP8E4M3:
    p << "fp8_e4m3";
    break;
  case QuantKind::Float:
    p << "f" << getBits();
    break;
  }
  p << ", " << stringifyGranularity(getGranularity());
  if (getGranularity() == Granularity::Group)
    p << " " << getGroupSize();
  p << ", " << (getSymmetric() ? "sym" : "asym") << ">";
}

LogicalResult
SchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                   QuantKind kind, unsigned bits, bool isUnsigned,
                   Granularity granularity, int64_t groupSize,
                   bool symmetric) {
  if (kind == QuantKind::Int && (bits < 2 || bits > 8))
    return emitError() << "integer schemes have 2 to 8 bits, got " << bits;
  if (kind == QuantKind::NF4 && (bits != 4 || !symmetric))
    return emitError() << "nf4 is 4-bit and has no zero point";
  if (kind == QuantKind::Float && bits != 16)
    return emitError() << "float weights are f16";
  if (granularity == Granularity::Group && groupSize <= 0)
    return emitError() << "group size must be positive, got " << groupSize;
  if (granularity != Granularity::Group && groupSize != 0)
    return emitError() << "only group granularity has a group size";
  if (isUnsigned && symmetric && kind == QuantKind::Int)
    return emitError() << "unsigned codes need a zero point (asym)";
  return success();
}

quant::WeightScheme SchemeAttr::getWeightScheme() const {
  quant::WeightScheme w;
  switch (getKind()) {
  case QuantKind::Int:
    w.kind = quant::WeightKind::Int;
    break;
  case QuantKind::NF4:
    w.kind = quant::WeightKind::NF4;
    break;
  case QuantKind::FP8E4M3:
    w.kind = quant::WeightKind::FP8E4M3;
    break;
  case QuantKind::Float:
    w.kind = quant::WeightKind::F16;
    break;
  }
  w.bits = getBits();
  w.groupSize = getGranularity() == Granularity::Group ? getGroupSize() : 0;
  w.symmetric = getSymmetric();
  return w;
}

SchemeAttr SchemeAttr::get(MLIRContext *context,
                           const quant::WeightScheme &w) {
  Granularity granularity =
      w.groupSize ? Granularity::Group : Granularity::PerChannel;
  switch (w.kind) {
  case quant::WeightKind::F16:
    return get(context, QuantKind::Float, 16, false, Granularity::PerTensor, 0,
               true);
  case quant::WeightKind::FP8E4M3:
    return get(context, QuantKind::FP8E4M3, 8, false, Granularity::PerChannel,
               0, true);
  case quant::WeightKind::NF4:
    return get(context, QuantKind::NF4, 4, false, granularity, w.groupSize,
               true);
  case quant::WeightKind::Int:
    break;
  }
  return get(context, QuantKind::Int, w.bits, !w.symmetric, granularity,
             w.groupSize, w.symmetric);
}

int64_t SchemeAttr::getPaddedLength(int64_t k) const {
  return getWeightScheme().paddedLength(k);
}

int64_t SchemeAttr::getGroupLength(int64_t k) const {
  return getWeightScheme().groupLength(k);
}

int64_t SchemeAttr::getPackedRowBytes(int64_t k) const {
  return getWeightScheme().packedRowBytes(k);
}

//===----------------------------------------------------------------------===//
// PrecisionAttr
//===----------------------------------------------------------------------===//

Attribute PrecisionAttr::parse(AsmParser &parser, Type) {
  std::string name;
  SchemeAttr weights, activations;
  std::string algorithm;
  bool dynamic = false;
  if (parser.parseLess() || parser.parseKeywordOrString(&name) ||
      parser.parseComma() || parser.parseKeyword("weights") ||
      parser.parseEqual() || parser.parseAttribute(weights))
    return {};
  while (succeeded(parser.parseOptionalComma())) {
    if (succeeded(parser.parseOptionalKeyword("dynamic"))) {
      dynamic = true;
      continue;
    }
    if (succeeded(parser.parseOptionalKeyword("algorithm"))) {
      if (parser.parseEqual() || parser.parseKeywordOrString(&algorithm))
        return {};
      continue;
    }
    if (parser.parseKeyword("activations") || parser.parseEqual() ||
        parser.parseAttribute(activations))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return PrecisionAttr::get(parser.getContext(), name, weights, activations,
                            dynamic, algorithm);
}

void PrecisionAttr::print(AsmPrinter &p) const {
  p << "<";
  p.printKeywordOrString(getName());
  p << ", weights = " << getWeights();
  if (getActivations())
    p << ", activations = " << getActivations();
  if (getDynamic())
    p << ", dynamic";
  if (!getAlgorithm().empty()) {
    p << ", algorithm = ";
    p.printKeywordOrString(getAlgorithm());
  }
  p << ">";
}

//===----------------------------------------------------------------------===//
// Shared checks
//===----------------------------------------------------------------------===//

namespace {

/// Scale / zero-point shape rules of quantize and dequantize.
LogicalResult verifyAxisParams(Operation *op, RankedTensorType data,
                               Value scale, Value zeroPoint,
                               std::optional<int64_t> axis) {
  auto st = cast<RankedTensorType>(scale.getType());
  if (st.getRank() > 1)
    return op->emitOpError("scale must be rank 0 or 1, got ") << st;
  if (axis) {
    int64_t rank = data.getRank();
    if (*axis < -rank || *axis >= rank)
      return op->emitOpError("axis ") << *axis << " is out of range for rank "
                                      << rank;
    int64_t a = *axis < 0 ? *axis + rank : *axis;
    int64_t want = data.getDimSize(a);
    if (st.getRank() != 1 ||
        (st.getDimSize(0) != want && st.getDimSize(0) != 1))
      return op->emitOpError("per-axis scale must have ")
             << want << " elements (dim " << a << "), got " << st;
  } else if (st.getNumElements() != 1) {
    return op->emitOpError("per-tensor scale must hold one value, got ")
           << st;
  }
  if (zeroPoint) {
    auto zt = cast<RankedTensorType>(zeroPoint.getType());
    if (zt.getShape() != st.getShape())
      return op->emitOpError("zero point shape ")
             << zt << " differs from scale shape " << st;
  }
  return success();
}

/// Checks scales / zero points of packed weights [N, ...] of `k` values.
LogicalResult verifyWeightParams(Operation *op, SchemeAttr scheme, int64_t n,
                                 int64_t k, Value scales, Value zeroPoints,
                                 StringRef what, bool rawCodes = false) {
  if (scheme.getKind() == QuantKind::Float) {
    if (zeroPoints)
      return op->emitOpError("f16 ") << what << " have no zero points";
    return success();
  }
  int64_t groups = scheme.getPaddedLength(k) / scheme.getGroupLength(k);
  int64_t rows = scheme.getGranularity() == Granularity::PerTensor ? 1 : n;
  if (scheme.getGranularity() == Granularity::PerTensor)
    groups = 1;
  if (!scales) {
    if (!rawCodes)
      return op->emitOpError() << what << " need scales for " << scheme;
    // Raw integer products: only zero points apply.
    if (scheme.getSymmetric() != !zeroPoints)
      return op->emitOpError("zero points must be given exactly for "
                             "asymmetric schemes");
    if (zeroPoints && cast<RankedTensorType>(zeroPoints.getType()).getShape() !=
                          ArrayRef<int64_t>{rows, groups})
      return op->emitOpError("expected zero points of shape [")
             << rows << ", " << groups << "] for " << scheme;
    return success();
  }
  auto st = cast<RankedTensorType>(scales.getType());
  if (st.getShape() != ArrayRef<int64_t>{rows, groups})
    return op->emitOpError("expected ")
           << what << " scales of shape [" << rows << ", " << groups
           << "] for " << scheme << ", got " << st;
  if (scheme.getSymmetric() && zeroPoints)
    return op->emitOpError("symmetric scheme ")
           << scheme << " takes no zero points";
  if (!scheme.getSymmetric()) {
    if (!zeroPoints)
      return op->emitOpError("asymmetric scheme ")
             << scheme << " needs zero points";
    auto zt = cast<RankedTensorType>(zeroPoints.getType());
    if (zt.getShape() != st.getShape())
      return op->emitOpError("zero points ")
             << zt << " must have the scales' shape " << st;
  }
  return success();
}

/// Checks the packed storage of a [rows, k] weight under `scheme`.
LogicalResult verifyPackedStorage(Operation *op, SchemeAttr scheme,
                                  RankedTensorType wt, int64_t k) {
  if (wt.getRank() != 2)
    return op->emitOpError("packed weights must be rank 2, got ") << wt;
  Type elem = wt.getElementType();
  int64_t cols = scheme.getKind() == QuantKind::Float ||
                         scheme.getKind() == QuantKind::FP8E4M3
                     ? k
                     : scheme.getPackedRowBytes(k);
  bool elemOk = scheme.getKind() == QuantKind::Float ? elem.isF16()
                                                      : elem.isInteger(8);
  if (!elemOk || wt.getDimSize(1) != cols)
    return op->emitOpError("weights for ")
           << scheme << " with " << k << " values per row must be ["
           << wt.getDimSize(0) << ", " << cols << "] of "
           << (scheme.getKind() == QuantKind::Float ? "f16" : "i8")
           << ", got " << wt;
  return success();
}

/// Checks a list of input channels (`name`) out of `channels`: ascending,
/// each once, in range. Lowerings rely on the order (masks, fma chains).
LogicalResult verifyChannelList(Operation *op, StringRef name,
                                ArrayRef<int64_t> list, int64_t channels) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] < 0 || list[i] >= channels)
      return op->emitOpError() << name << " holds channel " << list[i]
                               << ", outside [0, " << channels << ")";
    if (i && list[i] <= list[i - 1])
      return op->emitOpError() << name << " must be strictly ascending";
  }
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// ObserveOp
//===----------------------------------------------------------------------===//

LogicalResult ObserveOp::verify() {
  if (getId().empty())
    return emitOpError("needs a non-empty id");
  if (auto a = getAbsmax()) {
    double v = a->convertToDouble();
    if (!(v >= 0) || std::isinf(v))
      return emitOpError("absmax must be finite and non-negative, got ") << v;
  }
  auto type = cast<RankedTensorType>(getInput().getType());
  int64_t channels = type.getRank() ? type.getDimSize(type.getRank() - 1) : 1;
  if (auto m = getChannelAbsmaxAttr()) {
    auto mt = cast<ShapedType>(m.getType());
    if (!mt.getElementType().isF32() || mt.getRank() != 1 ||
        mt.getDimSize(0) != channels)
      return emitOpError("channel_absmax must be a [")
             << channels << "] f32 tensor, got " << mt;
  }
  if (auto r = getSampleRowsAttr()) {
    auto rt = cast<ShapedType>(r.getType());
    if (!rt.getElementType().isF32() || rt.getRank() != 2 ||
        rt.getDimSize(1) != channels)
      return emitOpError("sample_rows must be an [R, ")
             << channels << "] f32 tensor, got " << rt;
  }
  if (auto gram = getGramAttr()) {
    auto gt = cast<ShapedType>(gram.getType());
    if (!gt.getElementType().isF64() || gt.getRank() != 2 ||
        gt.getDimSize(0) != channels || gt.getDimSize(1) != channels)
      return emitOpError("gram must be a [")
             << channels << ", " << channels << "] f64 tensor, got " << gt;
  }
  if (auto mean = getChannelMeanAbsAttr()) {
    auto mt = cast<ShapedType>(mean.getType());
    if (!mt.getElementType().isF32() || mt.getRank() != 1 ||
        mt.getDimSize(0) != channels)
      return emitOpError("channel_mean_abs must be a [")
             << channels << "] f32 tensor, got " << mt;
  }
  return success();
}

LogicalResult ObserveOp::canonicalize(ObserveOp op, PatternRewriter &rewriter) {
  // The same probe twice in a row observes the same tensor once.
  auto inner = op.getInput().getDefiningOp<ObserveOp>();
  if (!inner || inner.getId() != op.getId())
    return failure();
  if (op.getAbsmax() && !inner.getAbsmax())
    inner.setAbsmaxAttr(op.getAbsmaxAttr());
  if (op.getGramAttr() && !inner.getGramAttr())
    inner.setGramAttr(op.getGramAttr());
  if (op.getChannelMeanAbsAttr() && !inner.getChannelMeanAbsAttr())
    inner.setChannelMeanAbsAttr(op.getChannelMeanAbsAttr());
  if (op.getChannelAbsmaxAttr() && !inner.getChannelAbsmaxAttr())
    inner.setChannelAbsmaxAttr(op.getChannelAbsmaxAttr());
  if (op.getSampleRowsAttr() && !inner.getSampleRowsAttr())
    inner.setSampleRowsAttr(op.getSampleRowsAttr());
  rewriter.replaceOp(op, inner.getResult());
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp / DequantizeOp / DynamicQuantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  auto in = getInput().getType();
  auto out = getResult().getType();
  if (in.getShape() != out.getShape())
    return emitOpError("result shape ")
           << out << " differs from input shape " << in;
  if (out.getElementType().getIntOrFloatBitWidth() > 32)
    return emitOpError("codes are at most 32 bits wide");
  if (getZeroPoint() &&
      cast<RankedTensorType>(getZeroPoint().getType()).getElementType() !=
          out.getElementType())
    return emitOpError("zero point element type must be the result's ")
           << out.getElementType();
  if (auto excluded = getExcludeChannelsAttr()) {
    if (in.getRank() < 1)
      return emitOpError("exclude_channels needs rank >= 1");
    if (failed(verifyChannelList(*this, "exclude_channels", excluded,
                                 in.getShape().back())))
      return failure();
  }
  return verifyAxisParams(*this, in, getScale(), getZeroPoint(), getAxis());
}

OpFoldResult QuantizeOp::fold(FoldAdaptor) {
  // quantize(dequantize(q, s, z), s, z) is q: requantizing with the same
  // parameters recovers the codes exactly (all of them: excluded channels
  // would get the zero point instead).
  auto dq = getInput().getDefiningOp<DequantizeOp>();
  if (!dq || getExcludeChannelsAttr() || dq.getScale() != getScale() ||
      dq.getZeroPoint() != getZeroPoint() || dq.getAxis() != getAxis() ||
      dq.getIsUnsigned() != getIsUnsigned() ||
      dq.getInput().getType() != getResult().getType())
    return {};
  return dq.getInput();
}

LogicalResult DequantizeOp::verify() {
  auto in = getInput().getType();
  auto out = getResult().getType();
  if (in.getShape() != out.getShape())
    return emitOpError("result shape ")
           << out << " differs from input shape " << in;
  if (getZeroPoint() &&
      cast<RankedTensorType>(getZeroPoint().getType()).getElementType() !=
          in.getElementType())
    return emitOpError("zero point element type must be the input's ")
           << in.getElementType();
  return verifyAxisParams(*this, in, getScale(), getZeroPoint(), getAxis());
}

LogicalResult DynamicQuantizeOp::verify() {
  auto in = getInput().getType();
  if (getResult().getType().getShape() != in.getShape())
    return emitOpError("codes must have the input's shape ") << in;
  SmallVector<int64_t> paramShape;
  switch (getGranularity()) {
  case Granularity::PerToken:
    if (getIsUnsigned())
      return emitOpError("per_token quantization is symmetric (signed)");
    if (in.getRank() < 1)
      return emitOpError("per_token quantization needs rank >= 1");
    paramShape.assign(in.getShape().begin(), in.getShape().end());
    paramShape.back() = 1;
    break;
  case Granularity::PerTensor:
    if (!getIsUnsigned())
      return emitOpError("per_tensor dynamic quantization is the unsigned "
                         "asymmetric form (ONNX DynamicQuantizeLinear)");
    break;
  default:
    return emitOpError("granularity must be per_token or per_tensor, got ")
           << stringifyGranularity(getGranularity());
  }
  if (getScale().getType().getShape() != ArrayRef<int64_t>(paramShape) ||
      getZeroPoint().getType().getShape() != ArrayRef<int64_t>(paramShape))
    return emitOpError("scale and zero point must have shape [")
           << llvm::make_range(paramShape.begin(), paramShape.end()) << "]";
  if (auto excluded = getExcludeChannelsAttr()) {
    if (getGranularity() != Granularity::PerToken)
      return emitOpError("exclude_channels needs per_token quantization");
    return verifyChannelList(*this, "exclude_channels", excluded,
                             in.getShape().back());
  }
  return success();
}

//===----------------------------------------------------------------------===//
// MatMulOp
//===----------------------------------------------------------------------===//

/// The outlier product's operands: all or none, an integer product with an
/// f32 result beneath it, the float activation in the input's shape and
/// one [N] row of float weights per listed channel.
static LogicalResult verifyOutlierProduct(MatMulOp op) {
  Value x = op.getOutlierInput(), w = op.getOutlierWeights();
  DenseI64ArrayAttr channels = op.getOutlierChannelsAttr();
  if (!x && !w && !channels)
    return success();
  if (!x || !w || !channels)
    return op.emitOpError("outliers(input, weights) and outlier_channels "
                          "come together");
  if (!op.hasIntegerInput() ||
      !op.getResult().getType().getElementType().isF32())
    return op.emitOpError("an outlier product completes an integer input's "
                          "f32 result");
  auto in = op.getInput().getType();
  auto xt = cast<RankedTensorType>(x.getType());
  if (xt.getShape() != in.getShape())
    return op.emitOpError("outlier input must have the input's shape [")
           << llvm::make_range(in.getShape().begin(), in.getShape().end())
           << "], got " << xt;
  if (channels.empty())
    return op.emitOpError("outlier_channels must not be empty");
  if (failed(verifyChannelList(op, "outlier_channels", channels, op.getK())))
    return failure();
  auto wt = cast<RankedTensorType>(w.getType());
  int64_t count = channels.size(), n = op.getN();
  if (wt.getShape() != ArrayRef<int64_t>{count, n})
    return op.emitOpError("outlier weights must be [")
           << count << ", " << n << "] (channels x outputs), got " << wt;
  return success();
}

LogicalResult MatMulOp::verify() {
  SchemeAttr scheme = getScheme();
  auto in = getInput().getType();
  auto wt = getWeight().getType();
  auto out = getResult().getType();
  int64_t k = getK();
  if (in.getRank() < 2)
    return emitOpError("input must have rank >= 2, got ") << in;
  if (in.getShape().back() != k)
    return emitOpError("input's last dim must be k = ") << k << ", got " << in;
  if (failed(verifyPackedStorage(*this, scheme, wt, k)))
    return failure();
  int64_t n = wt.getDimSize(0);
  SmallVector<int64_t> outShape(in.getShape());
  outShape.back() = n;
  if (out.getShape() != ArrayRef<int64_t>(outShape))
    return emitOpError("result must have shape [")
           << llvm::make_range(outShape.begin(), outShape.end()) << "], got "
           << out;
  if (failed(verifyOutlierProduct(*this)))
    return failure();
  bool rawCodes = hasIntegerInput() && out.getElementType().isInteger(32);
  if (failed(verifyWeightParams(*this, scheme, n, k, getWeightScales(),
                                getWeightZeroPoints(), "weights", rawCodes)))
    return failure();

  if (auto z = getWeightZeroPoints()) {
    Type ze = cast<RankedTensorType>(z.getType()).getElementType();
    if (ze.isF32() && (hasIntegerInput() || !scheme.isPackedInteger() ||
                       scheme.getKind() == QuantKind::NF4))
      return emitOpError("f32 zero points are for weight-only integer "
                         "schemes");
    if (!ze.isF32() && !ze.isInteger(8))
      return emitOpError("integer zero points are i8 codes");
  }
  if (Value scales = getWeightScales();
      scales && hasIntegerInput() &&
      !cast<RankedTensorType>(scales.getType()).getElementType().isF32())
    return emitOpError("an integer input's product rescales with f32 weight "
                       "scales; f16 scales are for weight-only products");
  if (!hasIntegerInput()) {
    if (!in.getElementType().isF32() || !out.getElementType().isF32())
      return emitOpError("float input and result must be f32");
    if (getInputScale() || getInputZeroPoint())
      return emitOpError("a float input takes no input scale or zero point");
    return success();
  }
  bool grouped = scheme.getGranularity() == Granularity::Group;
  if (scheme.getKind() != QuantKind::Int || (!grouped && scheme.getBits() != 8))
    return emitOpError("an integer input needs 8-bit per-channel or "
                       "per-tensor integer weights, or group-wise integer "
                       "weights, got ")
           << scheme;
  if (!in.getElementType().isInteger(8))
    return emitOpError("integer input must be i8, got ") << in;
  if (grouped) {
    // Each group's partial sum takes its own weight scale, so there is no
    // single raw accumulator to return.
    if (!out.getElementType().isF32())
      return emitOpError("group-wise weights with an integer input give an "
                         "f32 result, got ")
             << out;
    if (getInputZeroPoint() || getInputUnsigned())
      return emitOpError("group-wise weights need signed input codes without "
                         "an input zero point");
  }
  if (out.getElementType().isInteger(32)) {
    if (getInputScale())
      return emitOpError("an i32 result is the raw accumulator: no input "
                         "scale");
    return success();
  }
  if (!getInputScale() || !getWeightScales())
    return emitOpError("an f32 result from an integer input needs input and "
                       "weight scales");
  auto st = cast<RankedTensorType>(getInputScale().getType());
  SmallVector<int64_t> rowShape(in.getShape());
  rowShape.back() = 1;
  if (st.getNumElements() != 1 && st.getShape() != ArrayRef<int64_t>(rowShape))
    return emitOpError("input scale must hold one value or one per row, got ")
           << st;
  if (auto z = getInputZeroPoint()) {
    auto zt = cast<RankedTensorType>(z.getType());
    if (zt.getShape() != st.getShape())
      return emitOpError("input zero point must have the input scale's shape");
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Conv2DOp
//===----------------------------------------------------------------------===//

LogicalResult Conv2DOp::verify() {
  auto in = getInput().getType();
  auto wt = getWeight().getType();
  auto out = getResult().getType();
  if (in.getRank() != 4 || wt.getRank() != 4)
    return emitOpError("input and weight must be rank 4 (NCHW, FCHW)");
  if (!in.getElementType().isInteger(8) || !wt.getElementType().isInteger(8))
    return emitOpError("input and weight must be 8-bit integers");
  if (getStrides().size() != 2 || getDilations().size() != 2 ||
      getPads().size() != 4)
    return emitOpError("expected 2 strides, 2 dilations and 4 pads");
  int64_t g = getGroup();
  int64_t f = wt.getDimSize(0);
  if (g <= 0 || f % g != 0 || in.getDimSize(1) != wt.getDimSize(1) * g)
    return emitOpError("channels do not match: input ")
           << in << ", weight " << wt << ", group " << g;
  SmallVector<int64_t> expect = {in.getDimSize(0), f};
  for (int i = 0; i < 2; ++i) {
    int64_t s = getStrides()[i], d = getDilations()[i];
    if (s <= 0 || d <= 0)
      return emitOpError("strides and dilations must be positive");
    int64_t span = d * (wt.getDimSize(2 + i) - 1) + 1;
    int64_t padded = in.getDimSize(2 + i) + getPads()[i] + getPads()[i + 2];
    if (padded < span)
      return emitOpError("kernel is larger than the padded input");
    expect.push_back((padded - span) / s + 1);
  }
  if (out.getShape() != ArrayRef<int64_t>(expect))
    return emitOpError("result must have shape [")
           << llvm::make_range(expect.begin(), expect.end()) << "], got "
           << out;
  bool f32 = out.getElementType().isF32();
  if (f32 != (getInputScale() && getWeightScales()))
    return emitOpError("an f32 result needs input and weight scales; an i32 "
                       "result takes none");
  for (Value p : {getWeightScales(), getWeightZeroPoints()}) {
    if (!p)
      continue;
    int64_t count = cast<RankedTensorType>(p.getType()).getNumElements();
    if (cast<RankedTensorType>(p.getType()).getRank() != 1 ||
        (count != 1 && count != f))
      return emitOpError("weight scales and zero points are [1] or [")
             << f << "]";
  }
  for (Value p : {getInputScale(), getInputZeroPoint()})
    if (p && cast<RankedTensorType>(p.getType()).getNumElements() != 1)
      return emitOpError("input scale and zero point are per tensor");
  return success();
}

//===----------------------------------------------------------------------===//
// EmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  SchemeAttr scheme = getScheme();
  if (!scheme.isPackedInteger())
    return emitOpError("embedding tables use int or nf4 schemes, got ")
           << scheme;
  int64_t dim = getDim();
  if (failed(verifyPackedStorage(*this, scheme, getTable().getType(), dim)))
    return failure();
  int64_t rows = getTable().getType().getDimSize(0);
  if (failed(verifyWeightParams(*this, scheme, rows, dim, getScales(),
                                getZeroPoints(), "table")))
    return failure();
  SmallVector<int64_t> expect(getIds().getType().getShape());
  expect.push_back(dim);
  if (getResult().getType().getShape() != ArrayRef<int64_t>(expect))
    return emitOpError("result must have shape [")
           << llvm::make_range(expect.begin(), expect.end()) << "]";
  return success();
}
