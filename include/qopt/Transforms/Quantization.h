//===- Quantization.h - Shared pieces of the quantization passes -*- C++ -*-===//

#ifndef QOPT_TRANSFORMS_QUANTIZATION_H
#define QOPT_TRANSFORMS_QUANTIZATION_H

#include "qopt/QOptDialect.h"
#include "qopt/Quant/Quant.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Location.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llvm {
class Regex;
} // namespace llvm

namespace qopt {
namespace quant {
struct GPTQOptions;
} // namespace quant

class SchemeAttr;
class OutliersAttr;

/// The ONNX node name a location carries (the innermost NameLoc), or "".
std::string onnxNodeName(mlir::Location loc);

/// How activations of a quantized matmul are handled.
enum class ActivationMode { Float, Dynamic, Static };

/// A parsed `--precision` value such as `w4a16-g32`, `w8a8`, `nf4-g64`.
struct PrecisionSpec {
  std::string name;
  quant::WeightScheme weights;
  ActivationMode activations = ActivationMode::Float;
};

/// Parses a precision name. Accepted forms:
///   w8a16 | w4a16 | w3a16 | w2a16 [-g32|-g64|-g128|-gN] [-asym]
///   nf4 [-gN] (default group 64) | f16 | w8a8 (dynamic per-token
///   activations) | w8a8-static (calibrated per-tensor activations) |
///   fp8 (e4m3 weights, per-channel scales) |
///   w4a8[-static]-gN [-asym] (group-wise int4 weights, int8 activations,
///   dynamic per-token unless -static; the group size is required).
/// Without -gN, weight-only schemes are per-channel.
std::optional<PrecisionSpec> parsePrecision(llvm::StringRef text,
                                            std::string &error);

/// How integer weights are chosen.
enum class WeightAlgorithm { RTN, GPTQ, AWQ };
std::optional<WeightAlgorithm> parseWeightAlgorithm(llvm::StringRef name);
llvm::StringRef weightAlgorithmName(WeightAlgorithm algorithm);

/// A constant of `type` holding `bytes` (row-major, little-endian): a
/// 64-byte aligned resource blob when large (what weight externalization
/// moves into weights.bin), an inline dense attribute otherwise.
mlir::Value createConstant(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::RankedTensorType type,
                           llvm::ArrayRef<char> bytes);

/// Whether `v` only reaches the function's return, through shape ops: the
/// model's output layer (a language model's classifier).
bool feedsReturnOnly(mlir::Value v);

/// Whether a float tosa.matmul is one qopt quantizes: its right operand is
/// a constant weight shared by the batch, its node is not excluded, and it
/// is not the output layer (unless `includeClassifier`).
bool isQuantizationCandidate(mlir::tosa::MatMulOp op,
                             const llvm::Regex *exclude,
                             bool includeClassifier);

/// Whether `v` is a constant, possibly behind reshapes and transposes.
bool isConstantBehindReshapes(mlir::Value v);

/// Whether a float tosa.matmul multiplies two activations (neither operand
/// is a constant, e.g. attention's Q·Kᵀ and P·V) and its node is not
/// excluded: what `quantize-attention` quantizes.
bool isActivationProduct(mlir::tosa::MatMulOp op, const llvm::Regex *exclude);

/// How the operands of an activation product get their int8 scales.
enum class AttentionScales {
  /// At run time: one per row of the left operand and one per column of
  /// the right operand (max|x| / 127).
  Dynamic,
  /// Calibrated: one per operand (absmax / 127 of the probe in front of it).
  Static,
};
std::optional<AttentionScales> parseAttentionScales(llvm::StringRef name);

/// Replaces the activation product `op` (see isActivationProduct) by int8
/// codes of both operands, an exact i32 tosa.matmul tagged with a
/// #qopt.precision named `precisionName` (QOptDialect::kPrecisionAttrName)
/// and the float rescale float(acc) * (s_a * s_b). Static scales without a
/// calibrated probe on each operand are an error at the op.
mlir::LogicalResult quantizeActivationProduct(mlir::tosa::MatMulOp op,
                                              AttentionScales scales,
                                              llvm::StringRef precisionName);

/// A float tosa.matmul with a constant weight operand: on the right
/// (y = x W, linear layers) or on the left (y = W x, convolutions lowered to
/// im2col matmuls).
struct QuantizableMatMul {
  mlir::tosa::MatMulOp op;
  bool weightOnLeft = false;
  mlir::Value activation; // the non-constant operand
  int64_t k = 0, n = 0;   // reduction length and output channels
};

/// The matmul's weight side, if exactly one operand is a constant weight
/// shared by the batch.
std::optional<QuantizableMatMul> analyzeMatMul(mlir::tosa::MatMulOp op);

/// The weights as rows of output channels ([N, K] floats), if readable.
std::optional<std::vector<float>> weightRows(const QuantizableMatMul &m);

/// The float values behind `v` in its row-major order, when `v` is a
/// constant of `count` f32 elements seen through reshapes and transposes.
std::optional<std::vector<float>> constantFloats(mlir::Value v, int64_t count);

/// A float 2-D convolution (linalg.conv_2d_nchw_fchw, linalg.depthwise_
/// conv_2d_nchw_chw, or linalg.conv_2d_ngchw_gfchw over reshapes of
/// [N, C, H, W] and [M, C/G, KH, KW]) with a constant weight and an input
/// padded by zeros: what qopt-quantize turns into qopt.conv2d.
struct QuantizableConv {
  mlir::linalg::LinalgOp op;
  /// The operand reading the unpadded [N, C, H, W] input, where a probe
  /// goes.
  mlir::OpOperand *input = nullptr;
  int64_t groups = 1, filters = 0, channelsPerGroup = 0;
  llvm::SmallVector<int64_t> kernel; // [KH, KW]
  llvm::SmallVector<int64_t> pads;   // top, left, bottom, right
  llvm::SmallVector<int64_t> strides, dilations;
};

/// The convolution's quantizable form, if `op` is one (see QuantizableConv).
std::optional<QuantizableConv> analyzeConvolution(mlir::Operation *op);

/// Whether qopt-quantize quantizes convolutions at `spec` (as qopt.conv2d:
/// 8-bit per-channel weights with integer activations). Other precisions
/// leave them float; a driver that wants their weights quantized decomposes
/// group-1 convolutions into matrix products first.
bool quantizesConvolutions(const PrecisionSpec &spec);

/// Whether `op` is a QuantizableConv whose node `exclude` does not match.
bool isConvQuantizationCandidate(mlir::Operation *op,
                                 const llvm::Regex *exclude);

/// Replaces the convolution by qopt.conv2d over int8 weights (RTN, one
/// symmetric scale per output channel) and int8 activations: dynamic
/// per-tensor uint8 codes (ONNX DynamicQuantizeLinear) for w8a8, calibrated
/// symmetric int8 codes for w8a8-static (an error at the op without a
/// calibrated probe). The qopt.conv2d carries `precision` with that
/// per-tensor activation scheme as QOptDialect::kPrecisionAttrName.
mlir::LogicalResult quantizeConvolution(const QuantizableConv &conv,
                                        const PrecisionSpec &spec,
                                        PrecisionAttr precision);

/// The values of a constant f32 / f64 attribute holding `count` elements.
std::optional<std::vector<float>> readFloats(mlir::ElementsAttr attr,
                                             int64_t count);
std::optional<std::vector<double>> readDoubles(mlir::ElementsAttr attr,
                                               int64_t count);

/// `x * factors` along the last dim of `x`, as an elementwise generic
/// placed right after `x`'s definition so every user of `x` can read it.
mlir::Value multiplyLastDim(mlir::Value x, llvm::ArrayRef<float> factors);

/// A float tensor attribute over `values`: a resource blob when large, so
/// that printed IR stays readable.
mlir::ElementsAttr floatTensorAttr(mlir::MLIRContext *ctx,
                                   llvm::ArrayRef<int64_t> shape,
                                   llvm::ArrayRef<float> values);
mlir::ElementsAttr doubleTensorAttr(mlir::MLIRContext *ctx,
                                    llvm::ArrayRef<int64_t> shape,
                                    llvm::ArrayRef<double> values);

/// The outlier channels among `channelAbsMax` (see qopt-detect-outliers).
OutliersAttr findOutliers(mlir::MLIRContext *ctx,
                          llvm::ArrayRef<float> channelAbsMax,
                          double threshold, double ratio);

/// What qopt-quantize does with the outlier channels of a matmul's input.
enum class OutlierHandling {
  None,     ///< nothing special
  Clip,     ///< quantized with the rest, clipped by the calibrated range
  KeepFloat ///< computed in float beside the integer product (LLM.int8)
};
std::optional<OutlierHandling> parseOutlierHandling(llvm::StringRef name);

/// The float side of an LLM.int8-style decomposition of one matmul.
struct OutlierSplit {
  /// Ascending input channels computed in float.
  std::vector<int64_t> channels;
  /// Their weights, [channels, N] row-major: W[n, channels[j]] at (j, n).
  std::vector<float> weights;
};

/// Moves the columns `channels` (ascending, < k) of `rows`, the [n, k]
/// weights, into an OutlierSplit and zeroes them in `rows`, so that the
/// integer weights are quantized without them.
OutlierSplit splitOutlierColumns(std::vector<float> &rows, int64_t n,
                                 int64_t k, llvm::ArrayRef<int64_t> channels);

/// The static abs-max range of a decomposed matmul's integer part: the
/// calibrated `absmax`, capped at the largest channel abs-max outside
/// `channels` (values beyond it never reach the integer part).
float integerPartRange(float absmax, llvm::ArrayRef<float> channelAbsMax,
                       llvm::ArrayRef<int64_t> channels);

/// The integer weights chosen for one matmul.
struct WeightChoice {
  quant::QuantizedMatrix matrix;
  WeightAlgorithm algorithm = WeightAlgorithm::RTN;
  /// AWQ: the layer computes (x / s) · Q(W·diag(s))ᵀ; ops reading the same
  /// input share one vector.
  std::shared_ptr<std::vector<float>> inputScales;
  double awqAlpha = 0;
  /// Output error on the calibration inputs (ΔW H ΔWᵀ summed over rows) of
  /// the chosen weights and of RTN's, where measured (0 otherwise).
  double error = 0, rtnError = 0;
};

/// Chooses quantized weights for `ops` (whose rows of output channels are
/// `weights`) with `algorithm`. GPTQ and AWQ read the Gram matrix (and, for
/// AWQ, the mean |x|) from the qopt.observe in front of each activation;
/// missing statistics are errors at the op, matmuls with weights on the
/// left fall back to RTN with a warning. Non-integer schemes always use RTN.
/// With `scaleGrid` > 0, GPTQ also tries activation-aware input scales
/// mean|x|^alpha (alpha = 0, 1/scaleGrid, ..., 1) per shared input and keeps
/// the alpha with the least output error.
///
/// `floatChannels`, when not empty, holds per op the input channels that an
/// LLM.int8 split computes in float (OutlierSplit::channels; their columns
/// of `weights` are already zero). GPTQ then solves for the integer part
/// alone: those channels leave H, so no rounding error is moved onto them,
/// and the input scales keep them at 1, so the float part reads them
/// unscaled.
mlir::FailureOr<std::vector<WeightChoice>>
chooseWeights(llvm::ArrayRef<QuantizableMatMul> ops,
              llvm::ArrayRef<std::vector<float>> weights,
              const quant::WeightScheme &scheme, WeightAlgorithm algorithm,
              const quant::GPTQOptions &gptq, int scaleGrid,
              bool showProgress = false,
              llvm::ArrayRef<llvm::ArrayRef<int64_t>> floatChannels = {});

/// One quantized op as the manifest and the report list it.
struct QuantizedLayer {
  std::string node;      // ONNX node name
  std::string op;        // "matmul", "embedding", ...
  std::string precision; // e.g. "w4a16-g32"
  std::string algorithm; // "rtn", "gptq", "awq" ("" for non-integer kinds)
  std::string scheme;    // printed #qopt.scheme
  /// Under a recipe: the op's layer role and why it got its precision.
  std::string role, reason;
  int64_t floatBytes = 0;
  int64_t quantizedBytes = 0;
  /// A matmul's shape: `batch` products of [m, k] activations with the
  /// [k, n] weight (0 for other ops).
  int64_t batch = 1, m = 0, n = 0, k = 0;
  /// What qopt-detect-outliers found in the op's input, when it ran.
  struct Outliers {
    std::vector<int64_t> channels;
    double median = 0, maxRatio = 0, rangeFraction = 0;
  };
  std::optional<Outliers> outliers;
  /// Input channels computed in float (outliers=keep-float); their float
  /// weights count in quantizedBytes.
  int64_t floatChannels = 0;
};

/// Lists the qopt compute ops of `module` with their precisions.
std::vector<QuantizedLayer> collectQuantizedLayers(mlir::ModuleOp module);

} // namespace qopt

#endif // QOPT_TRANSFORMS_QUANTIZATION_H
