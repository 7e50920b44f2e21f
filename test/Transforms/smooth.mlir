// RUN: qopt-opt %s --split-input-file --qopt-smooth="alpha=0.5" | FileCheck %s
// RUN: qopt-opt %s --split-input-file --qopt-smooth="alpha=0.5" --qopt-quantize="precision=w8a8" | FileCheck %s --check-prefix=QUANT

// qopt-quantize carries s onto the quantized products.
// QUANT-LABEL: func @folded_into_norm
// QUANT-COUNT-2: qopt.matmul {{.*}} qopt.smooth_scales = dense<[1.41421354, 5.65685415, 1.41421354, 1.41421354]> : tensor<4xf32>
// QUANT-LABEL: func @own_op
// QUANT: qopt.matmul {{.*}} qopt.smooth_scales = dense<[1.41421354, 5.65685415, 1.41421354, 1.41421354]> : tensor<4xf32>

// Channel 1 of the input is 16x louder than the rest. With alpha = 0.5,
// s_j = sqrt(max|x_j| / max|W_j|) = [sqrt(1/0.5), sqrt(16/0.5), sqrt(1/0.5),
// sqrt(1/0.5)] = [1.414, 5.657, 1.414, 1.414]: the RMSNorm-style weight
// (all 1.0) is divided by s, both weights are multiplied by s row by row,
// and the probe gets the smoothed range max_j max|x_j| / s_j = 16 / 5.657.
// CHECK-LABEL: func @folded_into_norm
// CHECK: %[[G:.*]] = arith.constant dense<[0.707106769, 0.176776692, 0.707106769, 0.707106769]> : tensor<4xf32>
// CHECK: %[[N:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[G]] :
// CHECK: %[[P:.*]] = qopt.observe %[[N]] {absmax = 2.82842708 : f32, channel_absmax = dense<[0.707106769, 2.82842708, 0.707106769, 0.707106769]> : tensor<4xf32>, id = "wq:in"}
// CHECK-NOT: linalg.generic
// CHECK: %[[W1:.*]] = arith.constant dense<{{\[\[}}[0.707106769, -0.707106769], [2.82842708, 2.82842708], [0.707106769, 0.707106769], [-0.707106769, 0.707106769]]]> : tensor<1x4x2xf32>
// Each product keeps s for the ONNX export.
// CHECK: tosa.matmul %[[P]], %[[W1]], {{.*}} {qopt.smooth_scales = dense<[1.41421354, 5.65685415, 1.41421354, 1.41421354]> : tensor<4xf32>}
// CHECK: tosa.matmul %[[P]], %{{.*}} {qopt.smooth_scales = dense<[1.41421354, 5.65685415, 1.41421354, 1.41421354]> : tensor<4xf32>}
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#last = affine_map<(d0, d1, d2) -> (d2)>
func.func @folded_into_norm(%x: tensor<1x2x4xf32>) -> tensor<1x2x2xf32> {
  %g = arith.constant dense<1.0> : tensor<4xf32>
  %e = tensor.empty() : tensor<1x2x4xf32>
  %n = linalg.generic {indexing_maps = [#id, #last, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %g : tensor<1x2x4xf32>, tensor<4xf32>) outs(%e : tensor<1x2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x2x4xf32>
  %p = qopt.observe %n {id = "wq:in", channel_absmax = dense<[1.0, 16.0, 1.0, 1.0]> : tensor<4xf32>,
                        sample_rows = dense<[[1.0, 16.0, -1.0, 0.5], [-0.5, -8.0, 1.0, -1.0]]> : tensor<2x4xf32>} : tensor<1x2x4xf32>
  %w1 = arith.constant dense<[[[0.5, -0.5], [0.5, 0.5], [0.5, 0.5], [-0.5, 0.5]]]> : tensor<1x4x2xf32>
  %w2 = arith.constant dense<[[[0.25, 0.5], [-0.5, 0.25], [0.5, -0.25], [0.25, 0.5]]]> : tensor<1x4x2xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y1 = tosa.matmul %p, %w1, %z, %z : (tensor<1x2x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>
  %y2 = tosa.matmul %p, %w2, %z, %z : (tensor<1x2x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>
  %s = tosa.add %y1, %y2 : (tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  return %s : tensor<1x2x2xf32>
}

// -----

// A function argument has no producer to fold into: the division is an
// elementwise op of its own, followed by a probe of the smoothed tensor.
// CHECK-LABEL: func @own_op
// CHECK: %[[X:.*]] = qopt.observe %{{.*}} {channel_absmax = {{.*}}, id = "wq:in"}
// CHECK: %[[S:.*]] = linalg.generic {{.*}} ins(%[[X]], %{{.*}} : tensor<1x2x4xf32>, tensor<4xf32>)
// CHECK: arith.mulf
// CHECK: %[[P:.*]] = qopt.observe %[[S]] {absmax = {{.*}}, id = "wq:in:smoothed"}
// CHECK: tosa.matmul %[[P]], {{.*}} {qopt.smooth_scales = dense<
func.func @own_op(%x: tensor<1x2x4xf32>) -> tensor<1x2x2xf32> {
  %p = qopt.observe %x {id = "wq:in", channel_absmax = dense<[1.0, 16.0, 1.0, 1.0]> : tensor<4xf32>,
                        sample_rows = dense<[[1.0, 16.0, -1.0, 0.5], [-0.5, -8.0, 1.0, -1.0]]> : tensor<2x4xf32>} : tensor<1x2x4xf32>
  %w1 = arith.constant dense<[[[0.5, -0.5], [0.5, 0.5], [0.5, 0.5], [-0.5, 0.5]]]> : tensor<1x4x2xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y1 = tosa.matmul %p, %w1, %z, %z : (tensor<1x2x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>
  %s = tosa.add %y1, %y1 : (tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  return %s : tensor<1x2x2xf32>
}
