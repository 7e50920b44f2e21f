// RUN: qopt-opt %s --qopt-lower-vectors --split-input-file | FileCheck %s

// A matmul-shaped contraction becomes outer-product FMAs on 1-D vectors.
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func.func @contract(
// CHECK-NOT: vector.contract
// CHECK-COUNT-8: vector.fma {{.*}} : vector<8xf32>
// CHECK-NOT: vector.fma
func.func @contract(%a: vector<4x2xf32>, %b: vector<2x8xf32>, %c: vector<4x8xf32>) -> vector<4x8xf32> {
  %r = vector.contract {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>}
      %a, %b, %c : vector<4x2xf32>, vector<2x8xf32> into vector<4x8xf32>
  return %r : vector<4x8xf32>
}

// -----

// Inner reductions become horizontal vector.reduction ops.
// CHECK-LABEL: func.func @row_max(
// CHECK-NOT: vector.multi_reduction
// CHECK: vector.reduction <maximumf>, {{.*}} : vector<16xf32> into f32
func.func @row_max(%v: vector<2x16xf32>, %acc: vector<2xf32>) -> vector<2xf32> {
  %r = vector.multi_reduction <maximumf>, %v, %acc [1] : vector<2x16xf32> to vector<2xf32>
  return %r : vector<2xf32>
}

// -----

// Rank-2 transfers on buffers become rows of 1-D loads.
// CHECK-LABEL: func.func @load_tile(
// CHECK-NOT: vector.transfer_read
// CHECK-COUNT-2: vector.load {{.*}} : memref<8x32xf32>, vector<16xf32>
func.func @load_tile(%m: memref<8x32xf32>, %i: index) -> vector<2x16xf32> {
  %pad = arith.constant 0.0 : f32
  %v = vector.transfer_read %m[%i, %i], %pad {in_bounds = [true, true]} : memref<8x32xf32>, vector<2x16xf32>
  return %v : vector<2x16xf32>
}
