// RUN: qopt-opt %s --split-input-file --qopt-detect-outliers --qopt-quantize="precision=w8a8 outliers=keep-float" | FileCheck %s --check-prefix=DYN
// RUN: qopt-opt %s --split-input-file --qopt-detect-outliers --qopt-quantize="precision=w8a8-static outliers=keep-float" | FileCheck %s --check-prefix=STATIC
// RUN: qopt-opt %s --split-input-file --qopt-detect-outliers --qopt-quantize="precision=w8a8-static outliers=clip" | FileCheck %s --check-prefix=CLIP
// RUN: not qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16-g32 outliers=keep-float" 2>&1 | FileCheck %s --check-prefix=FLOATACT
// RUN: not qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8 outliers=magic" 2>&1 | FileCheck %s --check-prefix=UNKNOWN

// LLM.int8 decomposition of a matmul whose input channels 2 and 6 are
// outliers (abs-max 40 and 12 against a median of 0.5): the integer part
// has zero weight columns and excluded activation channels there, and the
// matmul adds rows 2 and 6 of the [K, N] weights as its float product.
// DYN-LABEL: func @outliers
// DYN: %[[X:.*]] = qopt.observe
// DYN: %[[W:.*]] = arith.constant dense<{{\[\[}}127, 32, 0, 127, 64, -127, 0, 13], [64, 64, 0, 127, 64, 127, 0, 25], [-64, 95, 0, 127, 64, -127, 0, 38], [127, 64, 0, 64, 32, 64, 0, 25]]> : tensor<4x8xi8>
// DYN: %[[Q:.*]], %[[SA:.*]], %{{.*}} = qopt.dynamic_quantize %[[X]] per_token {exclude_channels = array<i64: 2, 6>}
// DYN: %[[WO:.*]] = arith.constant dense<{{\[\[}}9.000000e+00, -9.000000e+00, 4.000000e+00, 1.000000e+00], [2.000000e+00, 4.000000e+00, 6.000000e+00, 8.000000e+00]]> : tensor<2x4xf32>
// DYN: qopt.matmul %[[Q]], %[[W]] scales(%{{.*}}) input_scale(%[[SA]]) outliers(%[[X]], %[[WO]]) {k = 8 : i64, outlier_channels = array<i64: 2, 6>

// The static range drops from the calibrated 30 to the largest ordinary
// channel abs-max, 0.6 (scale 0.6 / 127).
// STATIC-LABEL: func @outliers
// STATIC: %[[X:.*]] = qopt.observe
// STATIC: %[[S:.*]] = arith.constant dense<0.00472440943> : tensor<f32>
// STATIC: %[[Q:.*]] = qopt.quantize %[[X]], %[[S]] {exclude_channels = array<i64: 2, 6>}
// STATIC: qopt.matmul %[[Q]], %{{.*}} scales(%{{.*}}) input_scale(%[[S]]) outliers(%[[X]], %{{.*}}) {k = 8 : i64, outlier_channels = array<i64: 2, 6>

// clip keeps the calibrated range and every channel in the integer product.
// CLIP-LABEL: func @outliers
// CLIP: %[[S:.*]] = arith.constant dense<0.236220479> : tensor<f32>
// CLIP: qopt.quantize %{{.*}}, %[[S]] : (tensor<1x4x8xf32>, tensor<f32>) -> tensor<1x4x8xi8>
// CLIP-NOT: outliers(%

// FLOATACT: error: outliers=keep-float splits products with integer activations (w8a8, w8a8-static, w4a8); 'w4a16-g32' keeps activations float
// UNKNOWN: error: unknown outlier handling 'magic' (expected keep-float, clip or none)
func.func @outliers(%a: tensor<1x4x8xf32>) -> tensor<1x4x4xf32> {
  %w = arith.constant dense<[[1.0, 0.5, -0.5, 2.0], [0.25, 0.5, 0.75, 1.0], [9.0, -9.0, 4.0, 1.0], [1.0, 1.0, 1.0, 1.0],
                             [0.5, 0.5, 0.5, 0.5], [-1.0, 1.0, -1.0, 1.0], [2.0, 4.0, 6.0, 8.0], [0.1, 0.2, 0.3, 0.4]]> : tensor<8x4xf32>
  %shape = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<8x4xf32>, !tosa.shape<3>) -> tensor<1x8x4xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %o = qopt.observe %a {id = "wq:in", absmax = 30.0 : f32,
                        channel_absmax = dense<[0.5, 0.4, 40.0, 0.6, 0.5, 0.3, 12.0, 0.45]> : tensor<8xf32>} : tensor<1x4x8xf32>
  %y = tosa.matmul %o, %b, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4xf32>
  %r = tosa.exp %y : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  return %r : tensor<1x4x4xf32>
}

// -----

// Without outlier channels the matmul is not decomposed.
// DYN-LABEL: func @no_outliers
// DYN: qopt.dynamic_quantize %{{.*}} per_token : tensor<1x4x8xf32>
// DYN-NOT: outliers(%
// STATIC-LABEL: func @no_outliers
// STATIC: arith.constant dense<0.00472440943> : tensor<f32>
// STATIC-NOT: exclude_channels
// CLIP-LABEL: func @no_outliers
func.func @no_outliers(%a: tensor<1x4x8xf32>) -> tensor<1x4x4xf32> {
  %w = arith.constant dense<0.25> : tensor<8x4xf32>
  %shape = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<8x4xf32>, !tosa.shape<3>) -> tensor<1x8x4xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %o = qopt.observe %a {id = "wo:in", absmax = 0.6 : f32,
                        channel_absmax = dense<[0.5, 0.4, 0.55, 0.6, 0.5, 0.3, 0.52, 0.45]> : tensor<8xf32>} : tensor<1x4x8xf32>
  %y = tosa.matmul %o, %b, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4xf32>
  %r = tosa.exp %y : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  return %r : tensor<1x4x4xf32>
}
