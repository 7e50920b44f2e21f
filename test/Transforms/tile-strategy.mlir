// RUN: qopt-opt %s --qopt-tile-strategy --split-input-file | FileCheck %s
// RUN: qopt-opt %s --qopt-tile-strategy=vector-width=8 --split-input-file | FileCheck %s --check-prefix=YMM

// The strategy only decides: each op gets its tile sizes, nothing is tiled.
// A contraction: an 8x32 register block, a 16-deep reduction step.
// CHECK-LABEL: func.func @matmul(
// CHECK: linalg.matmul {qopt.lowering_config = #qopt.lowering_config<tile_sizes = [8, 32, 16]>}
// CHECK-NOT: scf.for
// With 8-lane vectors the K step follows the limit, the floor halves.
// YMM-LABEL: func.func @matmul(
// YMM: linalg.matmul {qopt.lowering_config = #qopt.lowering_config<tile_sizes = [8, 32, 16]>}
func.func @matmul(%a: tensor<16x64xf32>, %b: tensor<64x32xf32>) -> tensor<16x32xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x32xf32>
  %c = linalg.fill ins(%z : f32) outs(%e : tensor<16x32xf32>) -> tensor<16x32xf32>
  %r = linalg.matmul ins(%a, %b : tensor<16x64xf32>, tensor<64x32xf32>) outs(%c : tensor<16x32xf32>) -> tensor<16x32xf32>
  return %r : tensor<16x32xf32>
}

// -----

// Elementwise: unit outer tiles, one vector register innermost.
// CHECK-LABEL: func.func @elementwise(
// CHECK: linalg.generic {{.*}}qopt.lowering_config = #qopt.lowering_config<tile_sizes = [1, 16]>
// YMM-LABEL: func.func @elementwise(
// YMM: linalg.generic {{.*}}qopt.lowering_config = #qopt.lowering_config<tile_sizes = [1, 8]>
func.func @elementwise(%a: tensor<8x64xf32>) -> tensor<8x64xf32> {
  %e = tensor.empty() : tensor<8x64xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<8x64xf32>) outs(%e : tensor<8x64xf32>) {
  ^bb0(%x: f32, %y: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  } -> tensor<8x64xf32>
  return %r : tensor<8x64xf32>
}

// -----

// 70 columns: split into 64 + 6, each part configured on its own.
// CHECK-LABEL: func.func @split(
// CHECK: linalg.generic {{.*}}qopt.lowering_config = #qopt.lowering_config<tile_sizes = [1, 16]>
// CHECK: linalg.generic {{.*}}qopt.lowering_config = #qopt.lowering_config<tile_sizes = [1, 6]>
func.func @split(%a: tensor<4x70xf32>) -> tensor<4x70xf32> {
  %e = tensor.empty() : tensor<4x70xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<4x70xf32>) outs(%e : tensor<4x70xf32>) {
  ^bb0(%x: f32, %y: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  } -> tensor<4x70xf32>
  return %r : tensor<4x70xf32>
}
