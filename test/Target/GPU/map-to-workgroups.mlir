// RUN: qopt-opt %s --qopt-gpu-mapping-pipeline --split-input-file | FileCheck %s

// A matmul: the innermost parallel dimension (40, the contiguous one)
// takes all 64 invocations of a workgroup (the next power of two) and is
// workgroup x; the 4 rows are 4 workgroups in y. The reduction stays a loop
// inside each invocation, behind the guard of the partial tile.
// CHECK-LABEL: func.func @matmul
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK: gpu.launch_func @matmul_kernel::@matmul_kernel blocks in (%[[C1]], %[[C4]], %[[C1]]) threads in (%[[C64]], %[[C1]], %[[C1]]) args(%{{.*}} : memref<4x40xf32>)
// CHECK: gpu.launch_func @matmul_kernel_0::@matmul_kernel blocks in (%[[C1]], %[[C4]], %[[C1]]) threads in (%[[C64]], %[[C1]], %[[C1]])
// CHECK-SAME: args(%{{.*}} : memref<4x8xf32>, %{{.*}} : memref<8x40xf32>, %{{.*}} : memref<4x40xf32>)
// CHECK: gpu.module @matmul_kernel_0
// CHECK: gpu.func @matmul_kernel({{.*}}) kernel attributes {known_block_size = array<i32: 64, 1, 1>, known_grid_size = array<i32: 1, 4, 1>}
// CHECK-DAG: %[[ROW:.*]] = gpu.block_id y
// CHECK-DAG: %[[COL:.*]] = gpu.thread_id x
// CHECK: arith.cmpi ult, %[[COL]]
// CHECK: scf.if
// CHECK: scf.for %[[K:.*]] =
// CHECK: memref.load %{{.*}}[%[[ROW]], %[[K]]] : memref<4x8xf32>
// CHECK: memref.load %{{.*}}[%[[K]], %[[COL]]] : memref<8x40xf32>
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @matmul(%a: memref<4x8xf32>, %b: memref<8x40xf32>, %c: memref<4x40xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<4x40xf32>)
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x40xf32>) outs(%c : memref<4x40xf32>)
  return
}

// -----

// An elementwise op over 1000 elements: 64 invocations per workgroup, 16
// workgroups, the last one guarded. tanh is the x86 target's polynomial
// (qopt-math-approximation), not a call to the device's own.
// CHECK-LABEL: func.func @tanh
// CHECK: gpu.launch_func @tanh_kernel::@tanh_kernel
// CHECK: gpu.func @tanh_kernel({{.*}}) kernel attributes {known_block_size = array<i32: 64, 1, 1>, known_grid_size = array<i32: 16, 1, 1>}
// CHECK: arith.cmpi
// CHECK: scf.if
// CHECK-NOT: math.tanh
// CHECK: gpu.return
func.func @tanh(%x: memref<1000xf32>, %y: memref<1000xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"]}
      ins(%x : memref<1000xf32>) outs(%y : memref<1000xf32>) {
  ^bb0(%in: f32, %out: f32):
    %t = math.tanh %in : f32
    linalg.yield %t : f32
  }
  return
}

// -----

// A reduction to a scalar has no parallel dimension: its loops (and the
// store of the initial value) become one kernel of one invocation instead
// of staying in the host function.
// CHECK-LABEL: func.func @sum
// CHECK: gpu.launch_func @sum_kernel::@sum_kernel blocks in (%[[ONE:.*]], %[[ONE]], %[[ONE]]) threads in (%[[ONE]], %[[ONE]], %[[ONE]]) args(%{{.*}} : memref<f32>, %{{.*}} : memref<4x5xf32>)
// CHECK-NEXT: return
// CHECK: gpu.func @sum_kernel({{.*}}) kernel attributes {known_block_size = array<i32: 1, 1, 1>, known_grid_size = array<i32: 1, 1, 1>}
// CHECK: memref.store
// CHECK: scf.for
// CHECK: scf.for
// CHECK: arith.addf
func.func @sum(%x: memref<4x5xf32>, %y: memref<f32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%y : memref<f32>)
  linalg.reduce ins(%x : memref<4x5xf32>) outs(%y : memref<f32>) dimensions = [0, 1]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  return
}
