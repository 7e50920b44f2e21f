//===- X86Target.h - The x86-64 target backend ------------------*- C++ -*-===//
//
// The x86 backend lowers the graph IR (TOSA/linalg on tensors) to LLVM and
// adds model.so, model.o and model.h to the artifact. It is also the host
// target on x86-64 machines: calibration and the quality report run through
// it.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_X86_X86TARGET_H
#define QOPT_TARGET_X86_X86TARGET_H

#include "qopt/Target/Target.h"

#include "mlir/Pass/PassManager.h"

#include <memory>
#include <optional>

namespace qopt::x86 {

/// The int8 dot-product kernel of qopt-x86-int8-matmul, by ISA level.
enum class Int8Kernel {
  /// The generic lowering (sign extension and 32-bit multiplies).
  None,
  /// vpsignb + vpmaddubsw + vpmaddwd on ymm registers.
  Avx2,
  /// VEX-encoded vpdpbusd on ymm registers.
  AvxVnni,
  /// vpdpbusd on zmm registers.
  Avx512Vnni,
};

/// On the module, written by qopt-x86-int8-matmul: one dictionary per
/// kernel (node, kernel, n, k, packing, register_block), which the x86
/// backend copies into the manifest's "int8_kernels".
inline constexpr llvm::StringLiteral kInt8KernelsAttrName =
    "qopt_x86.int8_kernels";

/// "none", "avx2", "avxvnni" or "avx512vnni".
llvm::StringRef int8KernelName(Int8Kernel kernel);
std::optional<Int8Kernel> parseInt8Kernel(llvm::StringRef name);

/// What the x86 tiling strategy takes from the target description.
struct X86TilingOptions {
  /// f32 elements per vector register.
  int64_t vectorWidth = 16;
  /// Remarks on every op left scalar.
  bool reportScalar = false;
  /// The kernel integer matmuls over constant int8 weights take
  /// (qopt-x86-int8-matmul): the widest the target's features allow.
  Int8Kernel int8Kernel = Int8Kernel::None;
  /// Weight-only products over constant integer, NF4 or FP8 weights take the
  /// kernel that dequantizes in registers (qopt-x86-weight-only-matmul; AVX2
  /// up).
  bool weightOnlyKernel = false;
  /// The target has F16C: the weight-only kernel widens FP8 through f16.
  bool f16c = false;
};

/// The tiling options for `target` (its widest vector register).
X86TilingOptions tilingOptionsFor(TargetAttr target);

/// Stage 1: TOSA → linalg on tensors, elementwise fusion, the tiling
/// strategy (qopt-tile-strategy) and its mechanical application
/// (qopt-tile-and-vectorize).
void buildX86TensorPipeline(mlir::OpPassManager &pm,
                            const X86TilingOptions &tiling = {});
/// Stage 2: bufferization with results as out-parameters and deallocation.
void buildX86BufferPipeline(mlir::OpPassManager &pm);
/// Stage 3: memref/vector/scf/math → LLVM dialect.
void buildX86LLVMPipeline(mlir::OpPassManager &pm);

/// qopt-x86-int8-matmul: integer qopt.matmul over constant 8-bit symmetric
/// or group-wise 4-bit (W4A8) weights as a `kernel` dot-product loop nest
/// over weights packed at compile time.
std::unique_ptr<mlir::Pass> createInt8MatMulPass(Int8Kernel kernel);
/// qopt-x86-weight-only-matmul: float-input qopt.matmul over constant
/// 2/4/8-bit integer, NF4 or FP8 weights as a loop nest dequantizing the
/// weights in `lanes`-wide f32 registers (16: zmm, 8: ymm); with `f16c`,
/// FP8 codes widen through f16 (vcvtph2ps).
std::unique_ptr<mlir::Pass> createWeightOnlyMatMulPass(int64_t lanes,
                                                       bool f16c = true);
/// qopt-x86-intrinsic-calls: the kernels' calls to intrinsic stubs become
/// llvm.call_intrinsic (first pass of the LLVM stage).
std::unique_ptr<mlir::Pass> createIntrinsicCallsPass();

/// Registers `qopt-x86-pipeline` (all stages), one pipeline per stage and
/// the x86 passes (qopt-x86-int8-matmul, qopt-x86-intrinsic-calls).
void registerX86Pipelines();

/// The backend registered for x86_64 triples.
std::unique_ptr<TargetBackend> createX86Backend();

} // namespace qopt::x86

#endif // QOPT_TARGET_X86_X86TARGET_H
