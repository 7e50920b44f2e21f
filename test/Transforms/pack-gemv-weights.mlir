// RUN: qopt-opt %s --qopt-pack-gemv-weights=panel=2 --split-input-file | FileCheck %s

// A one-row product over constant weights W[3, 4] reads two panels of two
// columns, W'[p][k][c] = W[k][2p + c], as a batch matmul over the panels
// with X broadcast; the result [2, 1, 2] is the row-major [1, 4].
//      CHECK: #[[X:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d3)>
//      CHECK: #[[W:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
//      CHECK: #[[C:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @gemv
//  CHECK-DAG: %[[P:.*]] = arith.constant dense_resource<qopt_panels> : tensor<2x3x2xf32>
//      CHECK: %[[FLAT:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<1x4xf32> into tensor<4xf32>
//      CHECK: %[[C3:.*]] = tensor.expand_shape %[[FLAT]] {{\[}}[0, 1, 2]] output_shape [2, 1, 2]
//      CHECK: %[[G:.*]] = linalg.batch_matmul indexing_maps = [#[[X]], #[[W]], #[[C]]] ins(%arg0, %[[P]] : tensor<1x3xf32>, tensor<2x3x2xf32>) outs(%[[C3]] : tensor<2x1x2xf32>)
//      CHECK: %[[R1:.*]] = tensor.collapse_shape %[[G]] {{\[}}[0, 1, 2]] : tensor<2x1x2xf32> into tensor<4xf32>
//      CHECK: %[[R:.*]] = tensor.expand_shape %[[R1]] {{\[}}[0, 1]] output_shape [1, 4]
//      CHECK: return %[[R]]
// The packed bytes: rows (1 2 3 4), (5 6 7 8), (9 10 11 12) give panels
// (1 2 5 6 9 10) and (3 4 7 8 11 12), as little-endian f32 after the
// blob's 4-byte alignment header.
//      CHECK: qopt_panels: "0x400000000000803F000000400000A0400000C040000010410000204100004040000080400000E040000000410000304100004041"
func.func @gemv(%x: tensor<1x3xf32>) -> tensor<1x4xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  %r = linalg.matmul ins(%x, %w : tensor<1x3xf32>, tensor<3x4xf32>) outs(%c : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %r : tensor<1x4xf32>
}

// -----

// A batch matmul of one batch, weights through a reshape: X is collapsed
// to its one row.
// CHECK-LABEL: func.func @batched
//      CHECK: %[[X2:.*]] = tensor.collapse_shape %arg0 {{\[}}[0, 1], [2]] : tensor<1x1x3xf32> into tensor<1x3xf32>
//      CHECK: linalg.batch_matmul indexing_maps = {{.*}} ins(%[[X2]], %{{.*}} : tensor<1x3xf32>, tensor<2x3x2xf32>)
//      CHECK: tensor.expand_shape {{.*}} output_shape [1, 1, 4]
func.func @batched(%x: tensor<1x1x3xf32>) -> tensor<1x1x4xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>
  %w3 = tensor.expand_shape %w [[0, 1], [2]] output_shape [1, 3, 4] : tensor<3x4xf32> into tensor<1x3x4xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x1x4xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x4xf32>) -> tensor<1x1x4xf32>
  %r = linalg.batch_matmul ins(%x, %w3 : tensor<1x1x3xf32>, tensor<1x3x4xf32>) outs(%c : tensor<1x1x4xf32>) -> tensor<1x1x4xf32>
  return %r : tensor<1x1x4xf32>
}

// -----

// Two rows, one panel, weights computed at run time, splat weights: as
// they were.
// CHECK-LABEL: func.func @kept
//  CHECK-NOT: qopt_panels
//      CHECK: linalg.matmul
//      CHECK: linalg.matmul
//      CHECK: linalg.matmul
//      CHECK: linalg.matmul
func.func @kept(%x2: tensor<2x3xf32>, %x: tensor<1x3xf32>, %wv: tensor<3x4xf32>) -> (tensor<2x4xf32>, tensor<1x2xf32>, tensor<1x4xf32>, tensor<1x4xf32>) {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>
  %narrow = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %splat = arith.constant dense<0.5> : tensor<3x4xf32>
  %zero = arith.constant 0.0 : f32
  %e2 = tensor.empty() : tensor<2x4xf32>
  %c2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %r2 = linalg.matmul ins(%x2, %w : tensor<2x3xf32>, tensor<3x4xf32>) outs(%c2 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %en = tensor.empty() : tensor<1x2xf32>
  %cn = linalg.fill ins(%zero : f32) outs(%en : tensor<1x2xf32>) -> tensor<1x2xf32>
  %rn = linalg.matmul ins(%x, %narrow : tensor<1x3xf32>, tensor<3x2xf32>) outs(%cn : tensor<1x2xf32>) -> tensor<1x2xf32>
  %e = tensor.empty() : tensor<1x4xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  %rv = linalg.matmul ins(%x, %wv : tensor<1x3xf32>, tensor<3x4xf32>) outs(%c : tensor<1x4xf32>) -> tensor<1x4xf32>
  %rs = linalg.matmul ins(%x, %splat : tensor<1x3xf32>, tensor<3x4xf32>) outs(%c : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %r2, %rn, %rv, %rs : tensor<2x4xf32>, tensor<1x2xf32>, tensor<1x4xf32>, tensor<1x4xf32>
}
