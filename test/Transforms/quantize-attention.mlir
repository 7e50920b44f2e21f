// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8-static quantize-attention=true attention-scales=static" --verify-diagnostics | FileCheck %s --check-prefix=STATIC
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8-static quantize-attention=true" | FileCheck %s --check-prefixes=DYN,DYN-STATIC
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8 quantize-attention=true" | FileCheck %s --check-prefixes=DYN,DYN-DYNAMIC
// RUN: not qopt-opt %s --split-input-file --qopt-quantize="precision=w8a16 quantize-attention=true" 2>&1 | FileCheck %s --check-prefix=FLOAT
// RUN: not qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8 quantize-attention=true attention-scales=per_tensor" 2>&1 | FileCheck %s --check-prefix=SCALES

// Static: one calibrated scale per operand (absmax 2.54 and 0.635 give
// 0.02 and 0.005), an exact i8 x i8 -> i32 tosa.matmul tagged with its
// precision, and float(acc) * (s_a * s_b).
// STATIC-LABEL: func @calibrated
// STATIC-DAG: %[[SA:.*]] = arith.constant dense<2.000000e-02> : tensor<f32>
// STATIC-DAG: %[[SB:.*]] = arith.constant dense<5.000000e-03> : tensor<f32>
// STATIC-DAG: %[[QA:.*]] = qopt.quantize %{{.*}}, %[[SA]] : (tensor<2x4x8xf32>, tensor<f32>) -> tensor<2x4x8xi8>
// STATIC-DAG: %[[QB:.*]] = qopt.quantize %{{.*}}, %[[SB]] : (tensor<2x8x6xf32>, tensor<f32>) -> tensor<2x8x6xi8>
// STATIC: %[[ACC:.*]] = tosa.matmul %[[QA]], %[[QB]], %{{.*}}, %{{.*}} {qopt.precision = #qopt.precision<"w8a8-static", weights = #qopt.scheme<int8, per_tensor, sym>, activations = #qopt.scheme<int8, per_tensor, sym>>} : (tensor<2x4x8xi8>, tensor<2x8x6xi8>, tensor<1xi8>, tensor<1xi8>) -> tensor<2x4x6xi32>
// STATIC: linalg.generic {{.*}} ins(%[[ACC]], %[[SA]], %[[SB]] : tensor<2x4x6xi32>, tensor<f32>, tensor<f32>)
// STATIC: arith.sitofp
// STATIC: %[[S:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// STATIC: arith.mulf %{{.*}}, %[[S]] : f32
// STATIC-NOT: tosa.matmul
// Dynamic (the default, whatever the linear layers' activations): per-row
// scales of the left operand, per-column scales of the right one (its
// transpose quantized per row, the codes transposed back).
// DYN-DAG: #[[ROW:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
// DYN-DAG: #[[COL:.*]] = affine_map<(d0, d1, d2) -> (d0, d2, 0)>
// DYN-LABEL: func @calibrated
// DYN: %[[QA:.*]], %[[SA:.*]], %{{.*}} = qopt.dynamic_quantize %{{.*}} per_token : tensor<2x4x8xf32> -> tensor<2x4x8xi8>, tensor<2x4x1xf32>, tensor<2x4x1xi8>
// DYN: %[[BT:.*]] = tosa.transpose %{{.*}} {perms = array<i32: 0, 2, 1>} : (tensor<2x8x6xf32>) -> tensor<2x6x8xf32>
// DYN: %[[QBT:.*]], %[[SB:.*]], %{{.*}} = qopt.dynamic_quantize %[[BT]] per_token : tensor<2x6x8xf32> -> tensor<2x6x8xi8>, tensor<2x6x1xf32>, tensor<2x6x1xi8>
// DYN: %[[QB:.*]] = tosa.transpose %[[QBT]] {perms = array<i32: 0, 2, 1>} : (tensor<2x6x8xi8>) -> tensor<2x8x6xi8>
// DYN-STATIC: %[[ACC:.*]] = tosa.matmul %[[QA]], %[[QB]], {{.*}}qopt.precision = #qopt.precision<"w8a8-static", weights = #qopt.scheme<int8, per_channel, sym>, activations = #qopt.scheme<int8, per_token, sym>, dynamic>}
// DYN-DYNAMIC: %[[ACC:.*]] = tosa.matmul %[[QA]], %[[QB]], {{.*}}qopt.precision = #qopt.precision<w8a8, weights = #qopt.scheme<int8, per_channel, sym>, activations = #qopt.scheme<int8, per_token, sym>, dynamic>}
// DYN: linalg.generic {indexing_maps = [#{{.*}}, #[[ROW]], #[[COL]], #{{.*}}]{{.*}} ins(%[[ACC]], %[[SA]], %[[SB]] :
// Weight-only precisions keep activations float: nothing to multiply in int8.
// FLOAT: error: quantize-attention needs integer activations; 'w8a16' keeps them float
// SCALES: error: unknown attention-scales 'per_tensor' (expected dynamic or static)
func.func @calibrated(%a: tensor<2x4x8xf32>, %b: tensor<2x8x6xf32>) -> tensor<2x4x6xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %oa = qopt.observe %a {id = "scores:a", absmax = 2.54 : f32} : tensor<2x4x8xf32>
  %ob = qopt.observe %b {id = "scores:b", absmax = 0.635 : f32} : tensor<2x8x6xf32>
  %y = tosa.matmul %oa, %ob, %z, %z : (tensor<2x4x8xf32>, tensor<2x8x6xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x4x6xf32> loc("scores")
  return %y : tensor<2x4x6xf32>
}

// -----

// Dynamic scales need no calibration.
// DYN-LABEL: func @uncalibrated
// DYN: tosa.matmul {{.*}} -> tensor<2x4x6xi32>
func.func @uncalibrated(%a: tensor<2x4x8xf32>, %b: tensor<2x8x6xf32>) -> tensor<2x4x6xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %oa = qopt.observe %a {id = "scores:a", absmax = 2.54 : f32} : tensor<2x4x8xf32>
  // expected-error @+1 {{static attention scales need a calibrated range for both operands of this activation product: compile with --calib}}
  %y = tosa.matmul %oa, %b, %z, %z : (tensor<2x4x8xf32>, tensor<2x8x6xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x4x6xf32>
  return %y : tensor<2x4x6xf32>
}
