// RUN: qopt-opt %s --qopt-outline-kernels | FileCheck %s

// Each linalg op on buffers becomes a private no_inline kernel named after
// its ONNX node (internal linkage and LLVM's noinline, which func-to-llvm
// would not derive from no_inline); constants the body uses are cloned into
// the kernel.
#map = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @main(
// CHECK-SAME: %[[A:.*]]: memref<4xf32>, %[[B:.*]]: memref<4xf32>
// CHECK: call @main_k0_relu_node(%[[A]], %[[B]]) : (memref<4xf32>, memref<4xf32>) -> ()
// CHECK: call @main_k1(%[[B]], %[[A]])
// CHECK: return
// CHECK: func.func private @main_k1(%{{.*}}: memref<4xf32>, %{{.*}}: memref<4xf32>) attributes {llvm.linkage = #llvm.linkage<internal>, no_inline, passthrough = ["noinline"]}
// CHECK: func.func private @main_k0_relu_node(%[[KA:.*]]: memref<4xf32>, %[[KB:.*]]: memref<4xf32>) attributes {llvm.linkage = #llvm.linkage<internal>, no_inline, passthrough = ["noinline"]}
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: linalg.generic {{.*}} ins(%[[KA]] : memref<4xf32>) outs(%[[KB]] : memref<4xf32>)
// CHECK: arith.maximumf %{{.*}}, %[[ZERO]]
func.func @main(%a: memref<4xf32>, %b: memref<4xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%a : memref<4xf32>) outs(%b : memref<4xf32>) {
  ^bb0(%x: f32, %y: f32):
    %r = arith.maximumf %x, %zero : f32
    linalg.yield %r : f32
  } loc("relu/node")
  linalg.copy ins(%b : memref<4xf32>) outs(%a : memref<4xf32>)
  return
}
