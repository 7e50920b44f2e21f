//===- Exporter.h - Quantized ONNX models for other runtimes ----*- C++ -*-===//
//
// qopt's quantization decisions, written back into the user's ONNX model so
// that another runtime (ONNX Runtime) can run them: each matrix product
// qopt-quantize rewrote becomes standard ONNX (QuantizeLinear /
// DequantizeLinear) or com.microsoft MatMulNBits with qopt's own codes,
// scales and zero points; everything else stays as the model had it.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_FRONTEND_ONNX_EXPORTER_H
#define QOPT_FRONTEND_ONNX_EXPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace qopt::onnx_frontend {

/// What an export wrote.
struct ExportSummary {
  /// Products written as MatMulNBits, as QDQ (DequantizeLinear weights) and
  /// as float products over dequantized weights (schemes ONNX has no
  /// operator for: NF4, FP8, 2- and 3-bit codes, odd group sizes).
  int matMulNBits = 0, qdq = 0, dequantized = 0;
  /// Products whose SmoothQuant division was folded into the model's own
  /// producer of their input (a norm's weight), and those given a Mul.
  int smoothFolded = 0, smoothMul = 0;
  /// The serialized model.
  std::string bytes;
};

/// The ONNX model read from `modelPath`, serialized, with every
/// product that `module` (that model's import, quantized by qopt-quantize)
/// quantized replaced by its quantized form:
///  - activations: the calibrated static scale as QuantizeLinear +
///    DequantizeLinear; dynamic per-token int8 as the explicit ops that
///    compute it (Abs, ReduceMax, Div, Round, Clip); GPTQ/AWQ input scales as
///    a Mul; SmoothQuant's division by s folded into the model's producer of
///    the input where qopt-smooth could fold it (a norm's weight), a Mul
///    otherwise; LLM.int8 outlier channels as a float Gather + MatMul + Add;
///  - weights: 4- and 8-bit group-wise integer codes as MatMulNBits, 8-bit
///    per-channel codes as DequantizeLinear (axis 1), other schemes as the
///    float weights the codes stand for.
/// External data is inlined. Fails with a diagnostic naming the ONNX node
/// for what cannot be exported.
mlir::FailureOr<ExportSummary> exportQuantizedONNX(mlir::ModuleOp module,
                                                   llvm::StringRef modelPath);

/// Writes an export to `outPath` whole or not at all (a temporary file
/// beside it, renamed), never over the model it came from.
mlir::LogicalResult writeExportedONNX(mlir::MLIRContext &ctx,
                                      const ExportSummary &summary,
                                      llvm::StringRef modelPath,
                                      llvm::StringRef outPath);

} // namespace qopt::onnx_frontend

#endif // QOPT_FRONTEND_ONNX_EXPORTER_H
