//===- Quantization.h - Shared pieces of the quantization passes -*- C++ -*-===//

#ifndef QOPT_TRANSFORMS_QUANTIZATION_H
#define QOPT_TRANSFORMS_QUANTIZATION_H

#include "qopt/Quant/Quant.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Location.h"

#include <optional>
#include <string>
#include <vector>

namespace llvm {
class Regex;
} // namespace llvm

namespace qopt {

class SchemeAttr;

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
///   fp8 (e4m3 weights, per-channel scales).
/// Without -gN, weight-only schemes are per-channel.
std::optional<PrecisionSpec> parsePrecision(llvm::StringRef text,
                                            std::string &error);

/// The IR attribute of a weight scheme, and back.
SchemeAttr toSchemeAttr(mlir::MLIRContext *ctx,
                        const quant::WeightScheme &scheme);

/// Whether `v` only reaches the function's return, through shape ops: the
/// model's output layer (a language model's classifier).
bool feedsReturnOnly(mlir::Value v);

/// Whether a float tosa.matmul is one qopt quantizes: its right operand is
/// a constant weight shared by the batch, its node is not excluded, and it
/// is not the output layer (unless `includeClassifier`).
bool isQuantizationCandidate(mlir::tosa::MatMulOp op,
                             const llvm::Regex *exclude,
                             bool includeClassifier);

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

/// One quantized op as the manifest and the report list it.
struct QuantizedLayer {
  std::string node;      // ONNX node name
  std::string op;        // "matmul", "embedding", ...
  std::string precision; // e.g. "w4a16-g32"
  std::string scheme;    // printed #qopt.scheme
  int64_t floatBytes = 0;
  int64_t quantizedBytes = 0;
};

/// Lists the qopt compute ops of `module` with their precisions.
std::vector<QuantizedLayer> collectQuantizedLayers(mlir::ModuleOp module);

} // namespace qopt

#endif // QOPT_TRANSFORMS_QUANTIZATION_H
