// RUN: qopt-opt %s --qopt-static-kv-cache | FileCheck %s
// RUN: qopt-opt %s --qopt-static-kv-cache=dtype=int8 | FileCheck %s --check-prefix=INT8

// One decode step of grouped-query attention (2 key/value heads, 4 query
// heads) over a past of 3: the caches get the exported present's 4 slots,
// the new rows are written at slot `position` and the attention reads the
// written caches, with the scores of later slots masked.

#bcast_in = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, d3, d4)>
#bcast_out = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>

// CHECK-LABEL: func.func @main
// CHECK-SAME: %arg2: tensor<1x2x4x8xf32> {qopt.dtype = "float32", qopt.name = "past_k"}
// CHECK-SAME: %arg3: tensor<1x2x4x8xf32> {qopt.dtype = "float32", qopt.name = "past_v"}
// CHECK-SAME: -> (tensor<4x1x8xf32> {qopt.name = "out"}, tensor<1x2x4x8xf32> {qopt.dtype = "float32", qopt.name = "present_k"}, tensor<1x2x4x8xf32> {qopt.dtype = "float32", qopt.name = "present_v"})
// CHECK-SAME: qopt.kv_cache = {caches = [{past = "past_k", present = "present_k"}, {past = "past_v", present = "present_v"}], capacity = 4 : i64, dtype = "float32", position = "position"}
// The slot: position clamped to [0, capacity - 1].
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[P:.*]] = tensor.extract %arg0[%[[C0]]] : tensor<1xi64>
// CHECK: %[[PI:.*]] = arith.index_cast %[[P]] : i64 to index
// CHECK: %[[LO:.*]] = arith.maxsi %[[PI]], %[[C0]]
// CHECK: %[[LAST:.*]] = arith.constant 3 : index
// CHECK: %[[SLOT:.*]] = arith.minsi %[[LO]], %[[LAST]]
// CHECK-NOT: tensor.concat
// CHECK: %[[K:.*]] = tensor.insert_slice %arg4 into %arg2[0, 0, %[[SLOT]], 0] [1, 2, 1, 8] [1, 1, 1, 1]
// CHECK: %[[V:.*]] = tensor.insert_slice %arg5 into %arg3[0, 0, %[[SLOT]], 0] [1, 2, 1, 8] [1, 1, 1, 1]
// CHECK: tosa.reshape %[[K]]
// CHECK: %[[S:.*]] = tosa.matmul %arg1
// CHECK: %[[MASKED:.*]] = linalg.generic {{.*}} ins(%[[S]] : tensor<4x1x4xf32>)
// CHECK: %[[I:.*]] = linalg.index 2 : index
// CHECK: %[[KEEP:.*]] = arith.cmpi sle, %[[I]], %[[SLOT]] : index
// CHECK: %[[NINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: arith.select %[[KEEP]], %{{.*}}, %[[NINF]] : f32
// CHECK: tosa.reshape %[[V]]
// CHECK: %[[O:.*]] = tosa.matmul %[[MASKED]]
// CHECK: return %[[O]], %[[K]], %[[V]]

// INT8-LABEL: func.func @main
// INT8-SAME: %arg2: tensor<1x2x4x8xi8> {qopt.dtype = "int8", qopt.name = "past_k"}
// INT8-SAME: %arg3: tensor<1x2x4xf32> {qopt.dtype = "float32", qopt.name = "past_k.scale"}
// INT8-SAME: %arg4: tensor<1x2x4x8xi8> {qopt.dtype = "int8", qopt.name = "past_v"}
// INT8-SAME: %arg5: tensor<1x2x4xf32> {qopt.dtype = "float32", qopt.name = "past_v.scale"}
// INT8-SAME: -> (tensor<4x1x8xf32> {qopt.name = "out"}, tensor<1x2x4x8xi8> {qopt.dtype = "int8", qopt.name = "present_k"}, tensor<1x2x4xf32> {qopt.dtype = "float32", qopt.name = "present_k.scale"}, tensor<1x2x4x8xi8> {qopt.dtype = "int8", qopt.name = "present_v"}, tensor<1x2x4xf32> {qopt.dtype = "float32", qopt.name = "present_v.scale"})
// INT8-SAME: {past = "past_k", past_scale = "past_k.scale", present = "present_k", present_scale = "present_k.scale"}
// INT8-SAME: dtype = "int8"
// INT8: %[[SLOT:.*]] = arith.minsi
// New key row: per-(token, head) symmetric codes and scales, written at the slot.
// INT8: %[[Q:.*]], %[[QS:.*]], %{{.*}} = qopt.dynamic_quantize %arg6 per_token : tensor<1x2x1x8xf32> -> tensor<1x2x1x8xi8>, tensor<1x2x1x1xf32>, tensor<1x2x1x1xi8>
// INT8: %[[RS:.*]] = tensor.collapse_shape %[[QS]] {{\[}}[0], [1], [2, 3]] : tensor<1x2x1x1xf32> into tensor<1x2x1xf32>
// INT8: %[[KC:.*]] = tensor.insert_slice %[[Q]] into %arg2[0, 0, %[[SLOT]], 0] [1, 2, 1, 8] [1, 1, 1, 1]
// INT8: %[[KS:.*]] = tensor.insert_slice %[[RS]] into %arg3[0, 0, %[[SLOT]]] [1, 2, 1] [1, 1, 1]
// The attention reads the cached codes dequantized, and the new row as computed.
// INT8: %[[DQ:.*]] = linalg.generic {{.*}} ins(%arg2, %arg3 : tensor<1x2x4x8xi8>, tensor<1x2x4xf32>)
// INT8: arith.sitofp
// INT8: arith.mulf
// INT8: %[[KF:.*]] = tensor.insert_slice %arg6 into %[[DQ]][0, 0, %[[SLOT]], 0]
// INT8: qopt.dynamic_quantize %arg7 per_token
// INT8: tosa.reshape %[[KF]]
// INT8: return %{{.*}}, %[[KC]], %[[KS]], %{{.*}}, %{{.*}} :

func.func @main(%pos: tensor<1xi64> {qopt.name = "position"},
                %q: tensor<4x1x8xf32> {qopt.name = "q"},
                %pk: tensor<1x2x3x8xf32> {qopt.name = "past_k"},
                %pv: tensor<1x2x3x8xf32> {qopt.name = "past_v"},
                %k: tensor<1x2x1x8xf32> {qopt.name = "k"},
                %v: tensor<1x2x1x8xf32> {qopt.name = "v"})
    -> (tensor<4x1x8xf32> {qopt.name = "out"},
        tensor<1x2x4x8xf32> {qopt.name = "present_k"},
        tensor<1x2x4x8xf32> {qopt.name = "present_v"}) {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %ck = tensor.concat dim(2) %pk, %k : (tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>) -> tensor<1x2x4x8xf32>
  %cv = tensor.concat dim(2) %pv, %v : (tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>) -> tensor<1x2x4x8xf32>
  %s5 = tosa.const_shape {values = dense<[1, 2, 1, 4, 8]> : tensor<5xindex>} : () -> !tosa.shape<5>
  %s3 = tosa.const_shape {values = dense<[4, 4, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %k5 = tosa.reshape %ck, %s5 : (tensor<1x2x4x8xf32>, !tosa.shape<5>) -> tensor<1x2x1x4x8xf32>
  %ke = tensor.empty() : tensor<1x2x2x4x8xf32>
  %kb = linalg.generic {indexing_maps = [#bcast_in, #bcast_out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%k5 : tensor<1x2x1x4x8xf32>) outs(%ke : tensor<1x2x2x4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x2x2x4x8xf32>
  %k3 = tosa.reshape %kb, %s3 : (tensor<1x2x2x4x8xf32>, !tosa.shape<3>) -> tensor<4x4x8xf32>
  %kt = tosa.transpose %k3 {perms = array<i32: 0, 2, 1>} : (tensor<4x4x8xf32>) -> tensor<4x8x4xf32>
  %s = tosa.matmul %q, %kt, %zp, %zp : (tensor<4x1x8xf32>, tensor<4x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<4x1x4xf32>
  %v5 = tosa.reshape %cv, %s5 : (tensor<1x2x4x8xf32>, !tosa.shape<5>) -> tensor<1x2x1x4x8xf32>
  %ve = tensor.empty() : tensor<1x2x2x4x8xf32>
  %vb = linalg.generic {indexing_maps = [#bcast_in, #bcast_out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%v5 : tensor<1x2x1x4x8xf32>) outs(%ve : tensor<1x2x2x4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x2x2x4x8xf32>
  %v3 = tosa.reshape %vb, %s3 : (tensor<1x2x2x4x8xf32>, !tosa.shape<3>) -> tensor<4x4x8xf32>
  %o = tosa.matmul %s, %v3, %zp, %zp : (tensor<4x1x4xf32>, tensor<4x4x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<4x1x8xf32>
  return %o, %ck, %cv : tensor<4x1x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
}
