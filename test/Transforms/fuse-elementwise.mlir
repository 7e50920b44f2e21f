// RUN: qopt-opt %s --qopt-fuse-elementwise --split-input-file | FileCheck %s

// Two elementwise generics fuse into one.
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @chain(
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: arith.mulf
// CHECK-NOT: linalg.generic
func.func @chain(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %v = math.exp %x : f32
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  %1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%0 : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %v = arith.mulf %x, %x : f32
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// An elementwise producer is not pulled into a contraction, where it would
// be recomputed for every output column.
#id = affine_map<(d0, d1) -> (d0, d1)>
#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (k, n)>
#out = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func.func @no_recompute(
// CHECK: %[[DIV:.*]] = linalg.generic
// CHECK: arith.divf
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[DIV]], %{{.*}} : tensor<4x8xf32>, tensor<8x16xf32>)
func.func @no_recompute(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>, %acc: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %v = arith.divf %x, %x : f32
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  %1 = linalg.generic {indexing_maps = [#lhs, #rhs, #out], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%0, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %z, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  return %1 : tensor<4x16xf32>
}

// -----

// A producer read by two reductions and an elementwise op (a per-tensor
// dynamic quantization: min, max, then the codes) stays one op computed
// once: fusing it into any of its readers would compute it again for the
// others.
#id = affine_map<(d0, d1) -> (d0, d1)>
#all = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @shared_by_reductions(
// CHECK: %[[P:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} ins(%[[P]] : tensor<4x8xf32>)
// CHECK-NOT: math.exp
// CHECK: arith.minimumf
// CHECK: linalg.generic {{.*}} ins(%[[P]] : tensor<4x8xf32>)
// CHECK-NOT: math.exp
// CHECK: arith.maximumf
// CHECK: linalg.generic {{.*}} ins(%[[P]] : tensor<4x8xf32>)
// CHECK-NOT: math.exp
// CHECK: arith.mulf
func.func @shared_by_reductions(%a: tensor<4x8xf32>, %init: tensor<f32>) -> (tensor<f32>, tensor<f32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %v = math.exp %x : f32
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  %lo = linalg.generic {indexing_maps = [#id, #all], iterator_types = ["reduction", "reduction"]}
      ins(%0 : tensor<4x8xf32>) outs(%init : tensor<f32>) {
  ^bb0(%x: f32, %m: f32):
    %v = arith.minimumf %x, %m : f32
    linalg.yield %v : f32
  } -> tensor<f32>
  %hi = linalg.generic {indexing_maps = [#id, #all], iterator_types = ["reduction", "reduction"]}
      ins(%0 : tensor<4x8xf32>) outs(%init : tensor<f32>) {
  ^bb0(%x: f32, %m: f32):
    %v = arith.maximumf %x, %m : f32
    linalg.yield %v : f32
  } -> tensor<f32>
  %q = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%0 : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %v = arith.mulf %x, %x : f32
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  return %lo, %hi, %q : tensor<f32>, tensor<f32>, tensor<4x8xf32>
}
