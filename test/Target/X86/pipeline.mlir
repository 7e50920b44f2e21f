// RUN: qopt-opt %s --qopt-x86-pipeline | FileCheck %s

// The whole x86 pipeline: TOSA to linalg, bufferization with results as
// out-parameters, outlined kernels, and the LLVM dialect at the end.
// The matmul is tiled, vectorized as vector.contract and lowered to
// outer-product FMAs on vectors. Kernels are internal and noinline, so LLVM
// keeps each one a function of its own.
// CHECK-LABEL: llvm.func @main(
// CHECK-NOT: tosa.
// CHECK: llvm.call @main_k0
// CHECK: llvm.intr.fmuladd({{.*}}) : (vector<{{[0-9]+}}xf32>
// CHECK: llvm.return
// CHECK: llvm.func internal @main_k0(
// CHECK-SAME: passthrough = ["noinline"]
func.func @main(%a: tensor<1x4x8xf32>, %b: tensor<1x8x2xf32>) -> tensor<1x4x2xf32> {
  %za = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %zb = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %0 = tosa.matmul %a, %b, %za, %zb : (tensor<1x4x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x2xf32>
  return %0 : tensor<1x4x2xf32>
}
