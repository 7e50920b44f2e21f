//===- QuantizeConvolutions.cpp - W8A8 depthwise and grouped convolutions -===//
//
// qopt-quantize's convolution part: float 2-D linalg convolutions (group 1,
// depthwise and grouped) with constant weights become qopt.conv2d over int8
// weights (one scale per output channel) and int8 activations,
// accumulating in i32. How a convolution is then computed (im2col product,
// tap sum, direct loops) is the target's choice.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/Regex.h"

using namespace mlir;

namespace qopt {
namespace {

/// The zero padding of the spatial dims of an [N, C, H, W] tensor.pad, as
/// qopt.conv2d's top, left, bottom, right.
std::optional<SmallVector<int64_t>> spatialZeroPads(tensor::PadOp pad) {
  if (pad.getSourceType().getRank() != 4)
    return std::nullopt;
  Value value = pad.getConstantPaddingValue();
  if (!value || !matchPattern(value, m_AnyZeroFloat()))
    return std::nullopt;
  ArrayRef<int64_t> lo = pad.getStaticLow(), hi = pad.getStaticHigh();
  if (ShapedType::isDynamicShape(lo) || ShapedType::isDynamicShape(hi) ||
      lo[0] || lo[1] || hi[0] || hi[1])
    return std::nullopt;
  return SmallVector<int64_t>{lo[2], lo[3], hi[2], hi[3]};
}

template <typename ConvOp>
SmallVector<int64_t> windowValues(ConvOp op, bool strides) {
  auto attr = strides ? op.getStrides() : op.getDilations();
  return SmallVector<int64_t>(attr.template getValues<int64_t>());
}

} // namespace

std::optional<QuantizableConv> analyzeConvolution(Operation *op) {
  QuantizableConv conv;
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  if (!linalgOp ||
      !isa<linalg::Conv2DNchwFchwOp, linalg::DepthwiseConv2DNchwChwOp,
           linalg::Conv2DNgchwGfchwOp>(op))
    return std::nullopt;
  conv.op = linalgOp;
  OpOperand *input = linalgOp.getDpsInputOperand(0);
  Value weight = linalgOp.getDpsInputOperand(1)->get();
  Value init = linalgOp.getDpsInitOperand(0)->get();
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
    return std::nullopt;
  auto wt = cast<RankedTensorType>(weight.getType());
  if (!wt.getElementType().isF32())
    return std::nullopt;
  if (auto dense = dyn_cast<linalg::Conv2DNchwFchwOp>(op)) {
    conv.filters = wt.getDimSize(0);
    conv.groups = 1;
    conv.channelsPerGroup = wt.getDimSize(1);
    conv.kernel = {wt.getDimSize(2), wt.getDimSize(3)};
    conv.strides = windowValues(dense, true);
    conv.dilations = windowValues(dense, false);
  } else if (auto dw = dyn_cast<linalg::DepthwiseConv2DNchwChwOp>(op)) {
    conv.filters = wt.getDimSize(0);
    conv.groups = conv.filters;
    conv.channelsPerGroup = 1;
    conv.kernel = {wt.getDimSize(1), wt.getDimSize(2)};
    conv.strides = windowValues(dw, true);
    conv.dilations = windowValues(dw, false);
  } else {
    auto grouped = cast<linalg::Conv2DNgchwGfchwOp>(op);
    conv.groups = wt.getDimSize(0);
    conv.filters = conv.groups * wt.getDimSize(1);
    conv.channelsPerGroup = wt.getDimSize(2);
    conv.kernel = {wt.getDimSize(3), wt.getDimSize(4)};
    conv.strides = windowValues(grouped, true);
    conv.dilations = windowValues(grouped, false);
    // The grouped view [N, G, C/G, H, W] of an [N, C, H, W] tensor.
    auto view = input->get().getDefiningOp<tosa::ReshapeOp>();
    if (!view ||
        cast<RankedTensorType>(view.getInput1().getType()).getRank() != 4)
      return std::nullopt;
    input = &view->getOpOperand(0);
  }
  conv.pads.assign(4, 0);
  if (auto pad = input->get().getDefiningOp<tensor::PadOp>()) {
    std::optional<SmallVector<int64_t>> pads = spatialZeroPads(pad);
    if (!pads)
      return std::nullopt;
    conv.pads = *pads;
    input = &pad.getSourceMutable();
  }
  auto xt = cast<RankedTensorType>(input->get().getType());
  if (xt.getRank() != 4 || !xt.getElementType().isF32() ||
      xt.getDimSize(1) != conv.groups * conv.channelsPerGroup)
    return std::nullopt;
  if (!isConstantBehindReshapes(weight))
    return std::nullopt;
  conv.input = input;
  return conv;
}

bool quantizesConvolutions(const PrecisionSpec &spec) {
  return spec.activations != ActivationMode::Float &&
         spec.weights.kind == quant::WeightKind::Int &&
         spec.weights.bits == 8 && !spec.weights.groupSize;
}

bool isConvQuantizationCandidate(Operation *op, const llvm::Regex *exclude) {
  if (!analyzeConvolution(op))
    return false;
  return !exclude || !exclude->match(onnxNodeName(op->getLoc()));
}

LogicalResult quantizeConvolution(const QuantizableConv &conv,
                                  const PrecisionSpec &spec,
                                  PrecisionAttr precision) {
  Operation *op = conv.op;
  int64_t m = conv.filters, cg = conv.channelsPerGroup;
  int64_t k = cg * conv.kernel[0] * conv.kernel[1];
  std::optional<std::vector<float>> weights =
      constantFloats(op->getOperand(1), m * k);
  if (!weights)
    return success(); // not readable: the convolution stays float
  Value x = conv.input->get();
  bool isStatic = spec.activations == ActivationMode::Static;
  auto observe = x.getDefiningOp<ObserveOp>();
  if (isStatic && (!observe || !observe.getAbsmax()))
    return op->emitError()
           << spec.name
           << " needs a calibrated activation range for this convolution's "
              "input: compile with --calib";
  OpBuilder b(op);
  Location loc = op->getLoc();
  quant::WeightScheme scheme = spec.weights;
  scheme.bits = 8;
  scheme.groupSize = 0;
  scheme.symmetric = true;
  quant::QuantizedMatrix q = quant::quantizeRTN(weights->data(), m, k, scheme);
  Value w = createConstant(
      b, loc,
      RankedTensorType::get({m, cg, conv.kernel[0], conv.kernel[1]},
                            b.getI8Type()),
      ArrayRef<char>(reinterpret_cast<const char *>(q.packed.data()),
                     q.packed.size()));
  Value ws = createConstant(
      b, loc, RankedTensorType::get({m}, b.getF32Type()),
      ArrayRef<char>(reinterpret_cast<const char *>(q.scales.data()),
                     q.scales.size() * sizeof(float)));
  auto xt = cast<RankedTensorType>(x.getType());
  auto codesType = RankedTensorType::get(xt.getShape(), b.getI8Type());
  auto scalarType = RankedTensorType::get({}, b.getF32Type());
  Value codes, scale, zeroPoint;
  if (isStatic) {
    float absmax = observe.getAbsmax()->convertToFloat();
    float s = absmax > 0 ? absmax / 127.f : 1.f;
    scale = arith::ConstantOp::create(
        b, loc, scalarType,
        DenseElementsAttr::get(scalarType, ArrayRef<float>{s}));
    codes =
        QuantizeOp::create(b, loc, codesType, x, scale, Value(), IntegerAttr(),
                           /*is_unsigned=*/false, DenseI64ArrayAttr());
  } else {
    // Per-tensor dynamic codes are uint8 with a zero point, which also
    // pads the input.
    auto dq = DynamicQuantizeOp::create(
        b, loc, codesType, scalarType, RankedTensorType::get({}, b.getI8Type()),
        x, Granularity::PerTensor,
        /*is_unsigned=*/true, DenseI64ArrayAttr());
    codes = dq.getResult();
    scale = dq.getScale();
    zeroPoint = dq.getZeroPoint();
  }
  SmallVector<int64_t> outShape = {xt.getDimSize(0), m};
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  outShape.append(resultType.getShape().end() - 2, resultType.getShape().end());
  auto qconv = Conv2DOp::create(
      b, loc, RankedTensorType::get(outShape, b.getF32Type()), codes, w, ws,
      Value(), scale, zeroPoint, ArrayRef<int64_t>(conv.strides),
      ArrayRef<int64_t>(conv.pads), ArrayRef<int64_t>(conv.dilations),
      uint64_t(conv.groups), /*input_unsigned=*/!isStatic,
      /*weight_unsigned=*/false);
  // The activations' scheme is the convolution's own: one scale for the
  // whole input (uint8 with a zero point when dynamic).
  MLIRContext *ctx = b.getContext();
  auto activations = SchemeAttr::get(ctx, QuantKind::Int, 8, !isStatic,
                                     Granularity::PerTensor, 0, isStatic);
  qconv->setAttr(QOptDialect::kPrecisionAttrName,
                 PrecisionAttr::get(ctx, precision.getName(),
                                    precision.getWeights(), activations,
                                    precision.getDynamic(), "rtn"));
  Value result = qconv.getResult();
  if (resultType.getShape() != ArrayRef<int64_t>(outShape)) {
    ImplicitLocOpBuilder ib(loc, b);
    result = tosa::ReshapeOp::create(
        b, loc, resultType, result,
        tosa::getTosaConstShape(ib, resultType.getShape()));
  }
  op->getResult(0).replaceAllUsesWith(result);
  op->erase();
  return success();
}

} // namespace qopt
