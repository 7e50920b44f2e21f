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

// -----

// A transposing copy (a 1x1 convolution's codes from NCHW to pixel
// rows): the innermost loop (the channels) is vector-wide, and so is the
// loop the input is contiguous in (the width), so a 16x16 tile is read as
// rows and transposed in registers.
// CHECK-LABEL: func.func @transpose(
// CHECK: linalg.generic {{.*}}qopt.lowering_config = #qopt.lowering_config<tile_sizes = [1, 1, 16, 16]>
// YMM-LABEL: func.func @transpose(
// YMM: linalg.generic {{.*}}qopt.lowering_config = #qopt.lowering_config<tile_sizes = [1, 1, 8, 8]>
func.func @transpose(%a: tensor<1x128x12x80xi8>) -> tensor<1x12x80x128xi8> {
  %e = tensor.empty() : tensor<1x12x80x128xi8>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d3, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%a : tensor<1x128x12x80xi8>) outs(%e : tensor<1x12x80x128xi8>) {
  ^bb0(%x: i8, %y: i8):
    linalg.yield %x : i8
  } -> tensor<1x12x80x128xi8>
  return %r : tensor<1x12x80x128xi8>
}

// -----

// Trailing unit dims: the vector-wide loop is the innermost one longer
// than 1.
// CHECK-LABEL: func.func @unit_inner(
// CHECK: linalg.generic {{.*}}qopt.lowering_config = #qopt.lowering_config<tile_sizes = [1, 16, 1]>
func.func @unit_inner(%a: tensor<8x64x1xf32>) -> tensor<8x64x1xf32> {
  %e = tensor.empty() : tensor<8x64x1xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%a : tensor<8x64x1xf32>) outs(%e : tensor<8x64x1xf32>) {
  ^bb0(%x: f32, %y: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  } -> tensor<8x64x1xf32>
  return %r : tensor<8x64x1xf32>
}

// -----

// A rank-0 input (a per-tensor scale) next to a vector-wide loop.
// CHECK-LABEL: func.func @scalar_input(
// CHECK: linalg.generic {{.*}}qopt.lowering_config = #qopt.lowering_config<tile_sizes = [1, 16]>
func.func @scalar_input(%a: tensor<8x64xf32>, %s: tensor<f32>) -> tensor<8x64xf32> {
  %e = tensor.empty() : tensor<8x64xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> ()>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%a, %s : tensor<8x64xf32>, tensor<f32>) outs(%e : tensor<8x64xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %n = arith.mulf %x, %y : f32
    linalg.yield %n : f32
  } -> tensor<8x64xf32>
  return %r : tensor<8x64xf32>
}

// -----

// Ops inside loops are left alone (kernels other passes built), except in
// a loop marked qopt.tile_in_loop (a convolution's row loop).
// CHECK-LABEL: func.func @marked_loop(
// CHECK: scf.for
// CHECK: linalg.matmul {qopt.lowering_config = #qopt.lowering_config<tile_sizes = [8, 32, 16]>}
// CHECK: } {qopt.tile_in_loop}
// CHECK: scf.for
// CHECK: linalg.matmul ins
// CHECK-NOT: qopt.lowering_config
// CHECK: return
func.func @marked_loop(%a: tensor<16x64xf32>, %b: tensor<64x32xf32>, %acc: tensor<16x32xf32>) -> (tensor<16x32xf32>, tensor<16x32xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%t = %acc) -> (tensor<16x32xf32>) {
    %m = linalg.matmul ins(%a, %b : tensor<16x64xf32>, tensor<64x32xf32>) outs(%t : tensor<16x32xf32>) -> tensor<16x32xf32>
    scf.yield %m : tensor<16x32xf32>
  } {qopt.tile_in_loop}
  %s = scf.for %i = %c0 to %c4 step %c1 iter_args(%t = %acc) -> (tensor<16x32xf32>) {
    %m = linalg.matmul ins(%a, %b : tensor<16x64xf32>, tensor<64x32xf32>) outs(%t : tensor<16x32xf32>) -> tensor<16x32xf32>
    scf.yield %m : tensor<16x32xf32>
  }
  return %r, %s : tensor<16x32xf32>, tensor<16x32xf32>
}
