//===- GPUPipeline.h - The GPU pipeline shared by GPU targets ---*- C++ -*-===//
//
// Every GPU target (SPIR-V, Metal, NVPTX, AMDGPU) starts from
// the same kernels: the reference-lowered linalg IR is bufferized with the
// x86 calling convention (weights, workspace, inputs, outputs), each linalg
// op becomes a parallel loop nest, the nest is tiled to the target's
// workgroup size and mapped onto workgroups and invocations, and each
// mapped nest is outlined into a `gpu.func` kernel launched by the host
// function. A backend then lowers the `gpu.module`s to its own code and
// describes the host function's `gpu.launch_func` sequence as a dispatch
// list (docs/gpu.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_GPU_GPUPIPELINE_H
#define QOPT_TARGET_GPU_GPUPIPELINE_H

#include "qopt/Target/Target.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <cstdint>
#include <memory>

namespace qopt::gpu {

/// How a target wants its kernels shaped: what the mapping takes from the
/// target description.
struct GPUStrategy {
  /// Invocations per workgroup (the product of the workgroup's x, y, z).
  int64_t workgroupSize = 64;
  /// Largest workgroup extent in any one dimension.
  int64_t maxWorkgroupDim = 1024;
  /// Alignment of every buffer inside the weights and workspace buffers:
  /// a binding's offset must be a multiple of the device's
  /// minStorageBufferOffsetAlignment (256 covers every Vulkan device).
  int64_t bufferAlignment = 256;
};

/// Stage 1: the reference lowering (qopt ops and TOSA to linalg on
/// tensors) and elementwise fusion, without any CPU tiling.
void buildGPUTensorPipeline(mlir::OpPassManager &pm);

/// Stage 2: one-shot bufferization (function boundaries, identity layouts),
/// results as out-parameters, `memref.copy` as `linalg.copy`, and the
/// static workspace plan (qopt-plan-memory).
void buildGPUBufferPipeline(mlir::OpPassManager &pm,
                            const GPUStrategy &strategy);

/// Stage 3 (after the weights are externalized): linalg → scf.parallel,
/// tiling and mapping to workgroups (qopt-gpu-map-to-workgroups), gpu.launch
/// and kernel outlining.
void buildGPUMappingPipeline(mlir::OpPassManager &pm,
                             const GPUStrategy &strategy);

/// qopt-gpu-map-to-workgroups: tiles every outermost `scf.parallel` of a
/// function so that one tile is one workgroup of at most
/// `strategy.workgroupSize` invocations, spread over the innermost
/// (fastest-varying) dimensions first, and writes the mapping attributes
/// that `convert-parallel-loops-to-gpu` reads: the innermost three tile
/// dimensions to workgroup x, y, z and the matching invocation ids, the
/// others sequential inside each invocation. Computation left outside any
/// `scf.parallel` (an op without parallel dimensions, such as a reduction
/// to a scalar) first becomes a one-iteration `scf.parallel`: a kernel of
/// one invocation.
std::unique_ptr<mlir::Pass>
createMapToWorkgroupsPass(const GPUStrategy &strategy = {});

/// qopt-gpu-fuse-dequantization: fuses every weight-decoding generic
/// (`qopt.dequantize_weights`: packed codes, scales and zero points to
/// float weights or to i8 codes) into the contraction that reads it, a named
/// one generalized first. The kernel then reads the packed bytes and
/// decodes each weight where it multiplies it; no decoded weight tensor,
/// hence no buffer of the decoded shape, exists.
std::unique_ptr<mlir::Pass> createFuseDequantizationPass();

/// qopt-gpu-fuse-integer-matmul: an int8 x int8 -> i32 linalg.matmul
/// (W8A8), its zero fill and the elementwise generic reading it (the float
/// rescale) become one output-parallel generic whose body runs the K loop
/// with the sum in a register, four codes at a time as a vector<4xi8> dot
/// product (`vector.reduction <add>` of sign-extended products: OpSDot on
/// SPIR-V with integer dot product, plain i32 arithmetic otherwise), then
/// the rescale's body. One kernel; no i32 buffer.
std::unique_ptr<mlir::Pass> createFuseIntegerMatMulPass();

/// qopt-gpu-accumulate-in-registers: every other linalg op with reduction
/// loops (float and weight-only matmuls, batched matmuls, convolutions,
/// reductions) becomes an output-parallel generic whose body runs the
/// reduction loops in the op's order with the accumulator in a register
/// (an initial zero fill folded in): each output element is read and
/// written once, not on every step. Same operations in the same order as
/// the parallel-loop lowering of the original op.
std::unique_ptr<mlir::Pass> createAccumulateInRegistersPass();

/// Registers qopt-gpu-map-to-workgroups, qopt-gpu-fuse-dequantization,
/// qopt-gpu-accumulate-in-registers,
/// qopt-gpu-fuse-integer-matmul and the named pipelines
/// `qopt-gpu-tensor-pipeline`, `qopt-gpu-buffer-pipeline` and
/// `qopt-gpu-mapping-pipeline` (default strategy).
void registerGPUPipelines();

/// The precision lists of a GPU backend's capabilities, from what the
/// shared pipeline compiles: f32 natively; W8A8 and W4A8 natively when
/// `caps.int8DotProduct` (one dot instruction per four products: dp4a,
/// v_dot4, OpSDot), emulated through 32-bit multiplies otherwise; every
/// weight-only precision (f16, fp8, nf4, 8-2 bit integers) emulated, its
/// weights decoded in the kernel's K loop.
void addGPUPrecisions(TargetCapabilities &caps);

/// A representative part's published figures (TFLOPS, TOPS, GB/s) for the
/// units qopt's GPU kernels use: vector fp32 and fp16, int8 through the
/// 4-way dot instruction; no tensor or matrix cores yet.
struct PartFigures {
  const char *part;
  double fp32TFlops, fp16TFlops, int8TOps, bandwidthGBs;
};

/// The cost model's peaks from `figures`, its source naming the part and
/// the units left out (`without`, e.g. "tensor cores"); int8 at the fp32
/// rate unless the target has the dot instruction.
quant::MachinePeaks publishedPeaks(const PartFigures &figures,
                                   llvm::StringRef without,
                                   bool int8DotProduct);

} // namespace qopt::gpu

#endif // QOPT_TARGET_GPU_GPUPIPELINE_H
