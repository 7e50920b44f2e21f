// RUN: qopt-opt %s --split-input-file --qopt-detect-outliers --qopt-quantize="precision=w8a8 outliers=keep-float algorithm=gptq" | FileCheck %s --check-prefix=KF
// RUN: qopt-opt %s --split-input-file --qopt-detect-outliers --qopt-quantize="precision=w8a8 outliers=keep-float algorithm=gptq gptq-scale-grid=0" | FileCheck %s --check-prefix=EQ
// RUN: qopt-opt %s --split-input-file --qopt-detect-outliers --qopt-quantize="precision=w8a8-static outliers=keep-float algorithm=gptq" | FileCheck %s --check-prefix=STATICKF
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8-static algorithm=gptq" | FileCheck %s --check-prefix=STATIC
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8-static algorithm=gptq gptq-scale-grid=0" | FileCheck %s --check-prefix=UNSCALED

// GPTQ under the LLM.int8 split. Input channels 2 and 6 (abs-max 39.7 and
// 11.5 against a median of 0.48) are computed in float, and channels 0, 3
// and 7 are correlated with them. The integer part is solved as if channels
// 2 and 6 did not exist: @outliers gets exactly the codes and scales of
// @reduced, the same layer with those two channels removed (EQ). Solved on
// the whole Gram matrix instead, GPTQ would condition the other columns on
// the outlier channels, which the integer product never reads (row 2 would
// differ). The activation-aware input scales leave channels 2 and 6 at 1,
// as the float part reads the scaled input, and the float part keeps rows 2
// and 6 of the [K, N] weights exactly (KF).
// KF-LABEL: func @outliers
// KF: %[[INV:.*]] = arith.constant dense<[{{[-0-9.e+]+}}, {{[-0-9.e+]+}}, 1.000000e+00, {{[-0-9.e+]+}}, {{[-0-9.e+]+}}, {{[-0-9.e+]+}}, 1.000000e+00, {{[-0-9.e+]+}}]> : tensor<8xf32>
// KF: %[[X:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[INV]] :
// KF: %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<4x8xi8>
// KF: %[[Q:.*]], %[[SA:.*]], %{{.*}} = qopt.dynamic_quantize %[[X]] per_token {exclude_channels = array<i64: 2, 6>}
// KF: %[[WO:.*]] = arith.constant dense<{{\[\[}}9.000000e+00, -9.000000e+00, 4.000000e+00, 1.000000e+00], [2.000000e+00, 4.000000e+00, 6.000000e+00, 8.000000e+00]]> : tensor<2x4xf32>
// KF: qopt.matmul %[[Q]], %[[W]] {{.*}} outliers(%[[X]], %[[WO]]) {k = 8 : i64, outlier_channels = array<i64: 2, 6>, precision = #qopt.precision<w8a8, {{.*}}, algorithm = gptq>
// EQ-LABEL: func @outliers
// EQ: arith.constant dense<{{\[}}[[[R0A:-?[0-9]+, -?[0-9]+]], 0, [[R0B:-?[0-9]+, -?[0-9]+, -?[0-9]+]], 0, [[R0C:-?[0-9]+]]], [[[R1A:-?[0-9]+, -?[0-9]+]], 0, [[R1B:-?[0-9]+, -?[0-9]+, -?[0-9]+]], 0, [[R1C:-?[0-9]+]]], [[[R2A:-?[0-9]+, -?[0-9]+]], 0, [[R2B:-?[0-9]+, -?[0-9]+, -?[0-9]+]], 0, [[R2C:-?[0-9]+]]], [[[R3A:-?[0-9]+, -?[0-9]+]], 0, [[R3B:-?[0-9]+, -?[0-9]+, -?[0-9]+]], 0, [[R3C:-?[0-9]+]]]]> : tensor<4x8xi8>
// EQ-NEXT: arith.constant dense<[[SCALES:.*]]> : tensor<4x1xf32>
// EQ-LABEL: func @reduced
// EQ: arith.constant dense<{{\[}}[[[R0A]], [[R0B]], [[R0C]]], [[[R1A]], [[R1B]], [[R1C]]], [[[R2A]], [[R2B]], [[R2C]]], [[[R3A]], [[R3B]], [[R3C]]]]> : tensor<4x6xi8>
// EQ-NEXT: arith.constant dense<[[SCALES]]> : tensor<4x1xf32>

// A static range is that of the input the integer part quantizes: x times
// the inverse input scales, over the ordinary channels. Here the largest is
// channel 3's, 1.52349 * 1.00991297 = 1.53859 (scale 1.53859 / 127).
// STATICKF-LABEL: func @outliers
// STATICKF: arith.constant dense<[1.05326176, 1.14698112, 1.000000e+00, 1.00991297, 1.12592661, 1.19572318, 1.000000e+00, 1.06729329]> : tensor<8xf32>
// STATICKF: %[[S:.*]] = arith.constant dense<0.0121148992> : tensor<f32>
// STATICKF: qopt.quantize %{{.*}}, %[[S]] {exclude_channels = array<i64: 2, 6>}

// Without the split it is channel 2's, 39.6725 * 0.708909571 = 28.1243
// (scale 0.221451), not the calibrated 39.6725 of the unscaled input, which
// only GPTQ without input scales uses (0.312382 = 39.6725 / 127).
// STATIC-LABEL: func @outliers
// STATIC: arith.constant dense<[1.05326176, 1.14698112, 0.708909571, 1.00991297, 1.12592661, 1.19572318, 0.804652214, 1.06729329]> : tensor<8xf32>
// STATIC: %[[S:.*]] = arith.constant dense<0.221450523> : tensor<f32>
// STATIC: qopt.quantize %{{.*}}, %[[S]] :
// UNSCALED-LABEL: func @outliers
// UNSCALED-NOT: linalg.generic
// UNSCALED: %[[S:.*]] = arith.constant dense<0.312381893> : tensor<f32>
// UNSCALED: qopt.quantize %{{.*}}, %[[S]] :
func.func @outliers(%a: tensor<1x16x8xf32>) -> tensor<1x16x4xf32> {
  %w = arith.constant dense<[[1.0, 0.5, -0.5, 2.0],
                             [0.25, 0.5, 0.75, 1.0],
                             [9.0, -9.0, 4.0, 1.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [0.5, 0.5, 0.5, 0.5],
                             [-1.0, 1.0, -1.0, 1.0],
                             [2.0, 4.0, 6.0, 8.0],
                             [0.1, 0.2, 0.3, 0.4]]> : tensor<8x4xf32>
  %shape = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<8x4xf32>, !tosa.shape<3>) -> tensor<1x8x4xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %o = qopt.observe %a {id = "wq:in", absmax = 39.6725 : f32,
      channel_absmax = dense<[0.884106, 0.394477, 39.6725, 1.52349, 0.476255, 0.27205, 11.4585, 0.717502]> : tensor<8xf32>,
      channel_mean_abs = dense<[0.477718, 0.203691, 25.0395, 0.727269, 0.245151, 0.134347, 7.05427, 0.418501]> : tensor<8xf32>,
      gram = dense<[[4.7635, -0.813315, -214.865, -6.33538, -0.447149, -0.220003, 18.8448, 0.724573],
                    [-0.813315, 0.895702, 52.758, 1.35481, 0.359181, -0.0797082, 3.26193, -0.0323266],
                    [-214.865, 52.758, 12105.3, 343.775, 26.8215, 10.6185, -693.596, -20.7123],
                    [-6.33538, 1.35481, 343.775, 11.9589, 0.496062, 0.271263, -15.0429, -0.194121],
                    [-0.447149, 0.359181, 26.8215, 0.496062, 1.30768, 0.10262, 12.9734, 0.647508],
                    [-0.220003, -0.0797082, 10.6185, 0.271263, 0.10262, 0.375157, -2.86129, -0.0658201],
                    [18.8448, 3.26193, -693.596, -15.0429, 12.9734, -2.86129, 957.629, 52.8877],
                    [0.724573, -0.0323266, -20.7123, -0.194121, 0.647508, -0.0658201, 52.8877, 3.4785]]> : tensor<8x8xf64>} : tensor<1x16x8xf32>
  %y = tosa.matmul %o, %b, %z, %z : (tensor<1x16x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x16x4xf32>
  %r = tosa.exp %y : (tensor<1x16x4xf32>) -> tensor<1x16x4xf32>
  return %r : tensor<1x16x4xf32>
}

// -----

func.func @reduced(%a: tensor<1x16x6xf32>) -> tensor<1x16x4xf32> {
  %w = arith.constant dense<[[1.0, 0.5, -0.5, 2.0],
                             [0.25, 0.5, 0.75, 1.0],
                             [1.0, 1.0, 1.0, 1.0],
                             [0.5, 0.5, 0.5, 0.5],
                             [-1.0, 1.0, -1.0, 1.0],
                             [0.1, 0.2, 0.3, 0.4]]> : tensor<6x4xf32>
  %shape = tosa.const_shape {values = dense<[1, 6, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<6x4xf32>, !tosa.shape<3>) -> tensor<1x6x4xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %o = qopt.observe %a {id = "wq:in", absmax = 1.52349 : f32,
      channel_absmax = dense<[0.884106, 0.394477, 1.52349, 0.476255, 0.27205, 0.717502]> : tensor<6xf32>,
      channel_mean_abs = dense<[0.477718, 0.203691, 0.727269, 0.245151, 0.134347, 0.418501]> : tensor<6xf32>,
      gram = dense<[[4.7635, -0.813315, -6.33538, -0.447149, -0.220003, 0.724573],
                    [-0.813315, 0.895702, 1.35481, 0.359181, -0.0797082, -0.0323266],
                    [-6.33538, 1.35481, 11.9589, 0.496062, 0.271263, -0.194121],
                    [-0.447149, 0.359181, 0.496062, 1.30768, 0.10262, 0.647508],
                    [-0.220003, -0.0797082, 0.271263, 0.10262, 0.375157, -0.0658201],
                    [0.724573, -0.0323266, -0.194121, 0.647508, -0.0658201, 3.4785]]> : tensor<6x6xf64>} : tensor<1x16x6xf32>
  %y = tosa.matmul %o, %b, %z, %z : (tensor<1x16x6xf32>, tensor<1x6x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x16x4xf32>
  %r = tosa.exp %y : (tensor<1x16x4xf32>) -> tensor<1x16x4xf32>
  return %r : tensor<1x16x4xf32>
}

