// RUN: qopt-opt %s --qopt-tile-and-vectorize --split-input-file | FileCheck %s

// A matmul becomes an 8x32 register block with a 16-deep reduction step,
// as one vector.contract per tile.
// CHECK-LABEL: func.func @matmul(
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for {{.*}} step %c16
// CHECK: vector.transfer_read {{.*}} : tensor<16x64xf32>, vector<8x16xf32>
// CHECK: vector.transfer_read {{.*}} : tensor<64x32xf32>, vector<16x32xf32>
// CHECK: vector.contract
// CHECK-SAME: vector<8x16xf32>, vector<16x32xf32> into vector<8x32xf32>
// CHECK-NOT: linalg.matmul
func.func @matmul(%a: tensor<16x64xf32>, %b: tensor<64x32xf32>) -> tensor<16x32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x32xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<16x32xf32>) -> tensor<16x32xf32>
  %r = linalg.matmul ins(%a, %b : tensor<16x64xf32>, tensor<64x32xf32>) outs(%c : tensor<16x32xf32>) -> tensor<16x32xf32>
  return %r : tensor<16x32xf32>
}

// -----

// Elementwise ops: unit outer tiles and a 16-wide innermost tile.
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @elementwise(
// CHECK: scf.for {{.*}} step %c1
// CHECK: scf.for {{.*}} step %c16
// CHECK: vector.transfer_read {{.*}} vector<1x16xf32>
// CHECK: math.exp {{.*}} : vector<1x16xf32>
func.func @elementwise(%a: tensor<8x64xf32>) -> tensor<8x64xf32> {
  %e = tensor.empty() : tensor<8x64xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<8x64xf32>) outs(%e : tensor<8x64xf32>) {
  ^bb0(%x: f32, %y: f32):
    %v = math.exp %x : f32
    linalg.yield %v : f32
  } -> tensor<8x64xf32>
  return %r : tensor<8x64xf32>
}

// -----

// Row reductions keep the reduced dim whole: one multi_reduction per row.
#in = affine_map<(d0, d1) -> (d0, d1)>
#out = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @row_sum(
// CHECK: vector.multi_reduction <add>, {{.*}} [1] : vector<1x128xf32> to vector<1xf32>
func.func @row_sum(%a: tensor<4x128xf32>, %init: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "reduction"]}
      ins(%a : tensor<4x128xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %s = arith.addf %x, %acc : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// Convolutions are left for the scalar path.
// CHECK-LABEL: func.func @conv(
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK-NOT: vector.
func.func @conv(%x: tensor<1x2x6x6xf32>, %w: tensor<3x2x3x3xf32>, %o: tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32> {
  %r = linalg.conv_2d_nchw_fchw ins(%x, %w : tensor<1x2x6x6xf32>, tensor<3x2x3x3xf32>) outs(%o : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  return %r : tensor<1x3x4x4xf32>
}
