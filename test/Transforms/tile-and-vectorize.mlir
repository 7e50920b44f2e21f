// RUN: qopt-opt %s --qopt-tile-strategy --qopt-tile-and-vectorize --split-input-file | FileCheck %s

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

// A right operand larger than the left one (N > M, an im2col product's
// columns): the N tile loop runs outside the M one, so each block of
// columns stays in cache while every M tile passes over it. With M >= N
// the M loop stays outside.
// CHECK-LABEL: func.func @wide_right(
// CHECK: scf.for {{.*}} to %c256 step %c32
// CHECK: scf.for {{.*}} to %c16 step %c8
// CHECK: scf.for {{.*}} to %c64 step %c16
// CHECK: vector.contract
// CHECK-LABEL: func.func @tall_left(
// CHECK: scf.for {{.*}} to %c128 step %c8
// CHECK: scf.for {{.*}} to %c64 step %c32
func.func @wide_right(%a: tensor<16x64xf32>, %b: tensor<64x256xf32>) -> tensor<16x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x256xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<16x256xf32>) -> tensor<16x256xf32>
  %r = linalg.matmul ins(%a, %b : tensor<16x64xf32>, tensor<64x256xf32>) outs(%c : tensor<16x256xf32>) -> tensor<16x256xf32>
  return %r : tensor<16x256xf32>
}
func.func @tall_left(%a: tensor<128x64xf32>, %b: tensor<64x64xf32>) -> tensor<128x64xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<128x64xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<128x64xf32>) -> tensor<128x64xf32>
  %r = linalg.matmul ins(%a, %b : tensor<128x64xf32>, tensor<64x64xf32>) outs(%c : tensor<128x64xf32>) -> tensor<128x64xf32>
  return %r : tensor<128x64xf32>
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

// -----

// A matmul over dequantized weights is blocked over N and K with the
// dequantization fused into the block loop: each [32, 16] block of packed
// weights is dequantized right before its product, the K block starting at a
// multiple of the alignment (32) the lowering recorded; no [64, 32] float
// matrix remains.
// CHECK-LABEL: func @dequantized_weights
// CHECK-NOT: tensor.empty() : tensor<64x32xf32>
// CHECK: vector.transfer_write
// CHECK: scf.for %[[N:[a-z0-9]+]] = %c0 to %c32 step %c16
// CHECK-NEXT:   scf.for %[[K:[a-z0-9]+]] = %c0 to %c64 step %c32
// CHECK:     tensor.extract_slice %{{.*}}[%[[N]], %{{.*}}] [16, 16] [1, 1] : tensor<32x32xi8> to tensor<16x16xi8>
// CHECK:     %[[BLOCK:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<32x16xf32>) attrs ={{ +}}{qopt.dequantize_weights = 32 : i64}
// CHECK:     vector.transfer_read %[[BLOCK]]
// CHECK:     vector.contract
#byte = affine_map<(d0, d1) -> (d1, (d0 * 4) floordiv 8)>
#group = affine_map<(d0, d1) -> (d1, d0 floordiv 32)>
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @dequantized_weights(%a: tensor<8x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<8x32xf32> {
  %e = tensor.empty() : tensor<64x32xf32>
  %dq = linalg.generic {indexing_maps = [#byte, #group, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w, %s : tensor<32x32xi8>, tensor<32x2xf32>) outs(%e : tensor<64x32xf32>) attrs = {qopt.dequantize_weights = 32 : i64} {
  ^bb0(%in: i8, %scale: f32, %out: f32):
    %k = linalg.index 0 : index
    %b = arith.extui %in : i8 to i32
    %ki = arith.index_castui %k : index to i32
    %c4 = arith.constant 4 : i32
    %c7 = arith.constant 7 : i32
    %c28 = arith.constant 28 : i32
    %bit = arith.muli %ki, %c4 : i32
    %sh = arith.andi %bit, %c7 : i32
    %v = arith.shrui %b, %sh : i32
    %u = arith.shli %v, %c28 : i32
    %q = arith.shrsi %u, %c28 : i32
    %f = arith.sitofp %q : i32 to f32
    %r = arith.mulf %f, %scale : f32
    linalg.yield %r : f32
  } -> tensor<64x32xf32>
  %z = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<8x32xf32>
  %acc = linalg.fill ins(%z : f32) outs(%o : tensor<8x32xf32>) -> tensor<8x32xf32>
  %y = linalg.matmul ins(%a, %dq : tensor<8x64xf32>, tensor<64x32xf32>) outs(%acc : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %y : tensor<8x32xf32>
}

// -----

// An fma chain over a reduction dim (W4A8's rescale: acc = fma(s, float(p),
// acc) over groups g) has no vector reduction kind: it is stepped one group
// at a time and vectorized across the innermost dim, in the same order.
// CHECK-LABEL: func @fma_chain
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1
// CHECK:   scf.for %{{.*}} = %c0 to %c32 step %c16
// CHECK:     %[[P:.*]] = arith.sitofp %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK:     math.fma %{{.*}}, %[[P]], %{{.*}} : vector<16xf32>
#pgmn = affine_map<(d0, d1, d2) -> (d1, d0, d2)>
#sng = affine_map<(d0, d1, d2) -> (d2, d1)>
#mn = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func @fma_chain(%p: tensor<2x4x32xi32>, %s: tensor<32x2xf32>) -> tensor<4x32xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x32xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y = linalg.generic {indexing_maps = [#pgmn, #sng, #mn], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%p, %s : tensor<2x4x32xi32>, tensor<32x2xf32>) outs(%acc : tensor<4x32xf32>) {
  ^bb0(%in: i32, %scale: f32, %out: f32):
    %f = arith.sitofp %in : i32 to f32
    %r = math.fma %scale, %f, %out : f32
    linalg.yield %r : f32
  } -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// The outlier product of an LLM.int8 decomposition is an fma chain whose
// body reads the activation through tensor.extract: the channel and the
// element are the same for all 16 lanes, so both become broadcast reads
// (no gather), and the chain steps one channel at a time.
// CHECK-DAG: #[[BCAST:.*]] = affine_map<(d0) -> (0)>
// CHECK-LABEL: func @outlier_product
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1
// CHECK:   scf.for %{{.*}} = %c0 to %c32 step %c16
// CHECK:     %[[W:.*]] = vector.transfer_read %{{.*}} : tensor<16xf32>, vector<16xf32>
// CHECK:     vector.transfer_read %{{.*}} {in_bounds = [true], permutation_map = #[[BCAST]]} : tensor<2xi64>, vector<16xi64>
// CHECK:     %[[X:.*]] = vector.transfer_read %arg0[%{{.*}}], %{{.*}} {in_bounds = [true], permutation_map = #[[BCAST]]} : tensor<64xf32>, vector<16xf32>
// CHECK:     math.fma %[[X]], %[[W]], %{{.*}} : vector<16xf32>
// CHECK-NOT: vector.gather
#jn = affine_map<(d0, d1, d2) -> (d1, d2)>
#mn = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func @outlier_product(%x: tensor<64xf32>, %wo: tensor<2x32xf32>, %acc: tensor<4x32xf32>) -> tensor<4x32xf32> {
  %table = arith.constant dense<[3, 9]> : tensor<2xi64>
  %y = linalg.generic {indexing_maps = [#jn, #mn], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%wo : tensor<2x32xf32>) outs(%acc : tensor<4x32xf32>) {
  ^bb0(%w: f32, %out: f32):
    %m = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c = tensor.extract %table[%j] : tensor<2xi64>
    %ci = arith.index_cast %c : i64 to index
    %k = arith.constant 16 : index
    %row = arith.muli %m, %k : index
    %pos = arith.addi %row, %ci : index
    %xv = tensor.extract %x[%pos] : tensor<64xf32>
    %r = math.fma %xv, %w, %out : f32
    linalg.yield %r : f32
  } -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// With 33 columns the last one is a 0-d tile, which the vectorizer cannot
// read through tensor.extract: it stays a scalar generic.
// CHECK-LABEL: func @outlier_product_remainder
// CHECK: math.fma %{{.*}} : vector<16xf32>
// CHECK: linalg.generic {{.*}}iterator_types = []} ins(%{{.*}} : tensor<f32>) outs(%{{.*}} : tensor<f32>)
// CHECK:   tensor.extract
// CHECK:   math.fma %{{.*}} : f32
// CHECK-NOT: vector.gather
#jn = affine_map<(d0, d1, d2) -> (d1, d2)>
#mn = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func @outlier_product_remainder(%x: tensor<64xf32>, %wo: tensor<2x33xf32>, %acc: tensor<4x33xf32>) -> tensor<4x33xf32> {
  %table = arith.constant dense<[3, 9]> : tensor<2xi64>
  %y = linalg.generic {indexing_maps = [#jn, #mn], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%wo : tensor<2x33xf32>) outs(%acc : tensor<4x33xf32>) {
  ^bb0(%w: f32, %out: f32):
    %m = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c = tensor.extract %table[%j] : tensor<2xi64>
    %ci = arith.index_cast %c : i64 to index
    %k = arith.constant 16 : index
    %row = arith.muli %m, %k : index
    %pos = arith.addi %row, %ci : index
    %xv = tensor.extract %x[%pos] : tensor<64xf32>
    %r = math.fma %xv, %w, %out : f32
    linalg.yield %r : f32
  } -> tensor<4x33xf32>
  return %y : tensor<4x33xf32>
}
