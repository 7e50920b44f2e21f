// RUN: qopt-opt %s --qopt-quantize="precision=w4a8-g32" | FileCheck %s --check-prefix=DYN
// RUN: qopt-opt %s --qopt-quantize="precision=w4a8-static-g32-asym" | FileCheck %s --check-prefix=STATIC
// RUN: not qopt-opt %s --qopt-quantize="precision=w4a8" 2>&1 | FileCheck %s --check-prefix=NOGROUP

// W4A8: int8 activations (per-token codes at run time, or one calibrated
// scale) with group-wise int4 weights in one integer qopt.matmul.
// DYN-LABEL: func @linear
// DYN: %[[Q:.*]], %[[SA:.*]], %{{.*}} = qopt.dynamic_quantize %{{.*}} per_token : tensor<1x4x64xf32> -> tensor<1x4x64xi8>, tensor<1x4x1xf32>, tensor<1x4x1xi8>
// DYN: qopt.matmul %[[Q]], %{{.*}} scales(%{{.*}}) input_scale(%[[SA]]) {k = 64 : i64, precision = #qopt.precision<"w4a8-g32", weights = #qopt.scheme<int4, group 32, sym>, activations = #qopt.scheme<int8, per_token, sym>, dynamic, algorithm = rtn>, scheme = #qopt.scheme<int4, group 32, sym>} : (tensor<1x4x64xi8>, tensor<16x32xi8>, tensor<16x2xf32>, tensor<1x4x1xf32>) -> tensor<1x4x16xf32>

// The calibrated range 6.35 gives the static scale 0.05.
// STATIC-LABEL: func @linear
// STATIC: %[[S:.*]] = arith.constant dense<5.000000e-02> : tensor<f32>
// STATIC: %[[Q:.*]] = qopt.quantize %{{.*}}, %[[S]] : (tensor<1x4x64xf32>, tensor<f32>) -> tensor<1x4x64xi8>
// STATIC: qopt.matmul %[[Q]], %{{.*}} scales(%{{.*}}) zero_points(%{{.*}}) input_scale(%[[S]]) {{.*}}scheme = #qopt.scheme<uint4, group 32, asym>}

// NOGROUP: w4a8 needs a group size (w4a8-g32, w4a8-g64, w4a8-g128)
func.func @linear(%a: tensor<1x4x64xf32>) -> tensor<1x4x16xf32> {
  %w = arith.constant dense<0.25> : tensor<64x16xf32>
  %shape = tosa.const_shape {values = dense<[1, 64, 16]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<64x16xf32>, !tosa.shape<3>) -> tensor<1x64x16xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %o = qopt.observe %a {id = "wq:in", absmax = 6.35 : f32} : tensor<1x4x64xf32>
  %y = tosa.matmul %o, %b, %z, %z : (tensor<1x4x64xf32>, tensor<1x64x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32>
  %r = tosa.exp %y : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %r : tensor<1x4x16xf32>
}
