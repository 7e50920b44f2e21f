//===- X86Pipeline.cpp - Pass pipelines of the x86 target ------------------===//

#include "qopt/Conversion/Passes.h"
#include "qopt/Target/X86/X86Target.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/TosaToArith/TosaToArith.h"
#include "mlir/Conversion/TosaToLinalg/TosaToLinalg.h"
#include "mlir/Conversion/TosaToTensor/TosaToTensor.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Dialect/Vector/Transforms/VectorTransforms.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace qopt::x86 {

X86TilingOptions tilingOptionsFor(TargetAttr target) {
  X86TilingOptions options;
  // zmm registers hold 16 f32; AVX2's ymm registers 8.
  if (target && !target.hasFeature("avx512f"))
    options.vectorWidth = 8;
  // The widest int8 dot product the features allow.
  auto has = [&](const char *f) { return target && target.hasFeature(f); };
  if (has("avx512f") && has("avx512bw") && has("avx512vnni"))
    options.int8Kernel = Int8Kernel::Avx512Vnni;
  else if (has("avx2") && has("avxvnni"))
    options.int8Kernel = Int8Kernel::AvxVnni;
  else if (has("avx2"))
    options.int8Kernel = Int8Kernel::Avx2;
  options.weightOnlyKernel = has("avx2") && has("fma");
  options.f16c = has("f16c");
  return options;
}

void buildX86TensorPipeline(OpPassManager &pm, const X86TilingOptions &tiling) {
  pm.addPass(createDecomposeConvolutionsPass());
  if (tiling.int8Kernel != Int8Kernel::None)
    pm.addPass(createInt8MatMulPass(tiling.int8Kernel));
  if (tiling.weightOnlyKernel)
    pm.addPass(createWeightOnlyMatMulPass(tiling.vectorWidth, tiling.f16c));
  pm.addPass(createLowerToLinalgPass());
  OpPassManager &fpm = pm.nest<func::FuncOp>();
  fpm.addPass(tosa::createTosaToLinalgNamed());
  fpm.addPass(tosa::createTosaToLinalg());
  fpm.addPass(createTosaToArithPass());
  fpm.addPass(createTosaToTensorPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createFuseElementwisePass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(createPackGemvWeightsPass());
  TileStrategyPassOptions strategy;
  strategy.vectorWidth = tiling.vectorWidth;
  strategy.reportScalar = tiling.reportScalar;
  pm.addNestedPass<func::FuncOp>(createTileStrategyPass(strategy));
  TileAndVectorizePassOptions apply;
  apply.reportScalar = tiling.reportScalar;
  pm.addNestedPass<func::FuncOp>(createTileAndVectorizePass(apply));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void buildX86BufferPipeline(OpPassManager &pm) {
  pm.addPass(createAssignArgRolesPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  // ONNX Loop bodies yield freshly computed tensors, not updates in place
  // of their iter_args.
  bufferize.allowReturnAllocsFromLoops = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  pm.addPass(createCanonicalizerPass());
  // Buffers of loop bodies (a convolution's per-row im2col panel) move out
  // of their loops, so that qopt-plan-memory places them in the workspace
  // and running the model calls no allocator.
  pm.addNestedPass<func::FuncOp>(bufferization::createBufferLoopHoistingPass());
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(createPlanMemoryPass());
}

void buildX86LLVMPipeline(OpPassManager &pm) {
  pm.addPass(createIntrinsicCallsPass());
  pm.addPass(createLowerMemRefCopyPass());
  pm.addPass(createOutlineKernelsPass());
  pm.addPass(createParallelizeKernelsPass());
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createLowerVectorsPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createMathApproximationPass());
  ConvertVectorToLLVMPassOptions toLLVM;
  toLLVM.vectorContractLowering = vector::VectorContractLowering::OuterProduct;
  toLLVM.reassociateFPReductions = true;
  pm.addPass(createConvertVectorToLLVMPass(toLLVM));
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createConvertMathToFuncs());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void registerInt8MatMulPass();
void registerWeightOnlyMatMulPass();

void registerX86Pipelines() {
  registerInt8MatMulPass();
  registerWeightOnlyMatMulPass();
  PassPipelineRegistration<>(
      "qopt-x86-tensor-pipeline",
      "x86 stage 1: TOSA to linalg, fusion, tiling and vectorization",
      [](OpPassManager &pm) { buildX86TensorPipeline(pm); });
  PassPipelineRegistration<>(
      "qopt-x86-buffer-pipeline",
      "x86 stage 2: bufferization, out-parameters, deallocation",
      buildX86BufferPipeline);
  PassPipelineRegistration<>("qopt-x86-llvm-pipeline",
                             "x86 stage 3: lowering to the LLVM dialect",
                             buildX86LLVMPipeline);
  PassPipelineRegistration<>(
      "qopt-x86-pipeline",
      "The whole x86 pipeline from graph IR to the LLVM dialect (weights "
      "stay embedded)",
      [](OpPassManager &pm) {
        buildX86TensorPipeline(pm);
        buildX86BufferPipeline(pm);
        buildX86LLVMPipeline(pm);
      });
}

} // namespace qopt::x86
