// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16 algorithm=awq" | FileCheck %s --check-prefix=AWQ
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8-static algorithm=gptq" | FileCheck %s --check-prefix=GPTQ

// GPTQ's and AWQ's activation-aware input scales s: the weights carry s,
// the activation is divided by it in an elementwise op after the probe (it
// fuses with the producer, here an RMSNorm-style weight [1, 2, 1, 0.5], at
// code generation; the probe keeps observing x, which GPTQ's second round
// measures). Each product records s in qopt.smooth_scales, from which the
// ONNX export folds 1/s into the model's own producer as it does for
// SmoothQuant. AWQ picks s = [0.5946, 2.3784, 0.5946, 0.4204].
// AWQ-LABEL: func @norm
// AWQ: arith.constant dense<[1.000000e+00, 2.000000e+00, 1.000000e+00, 5.000000e-01]> : tensor<4xf32>
// AWQ: %[[P:.*]] = qopt.observe %{{.*}} {absmax = 1.600000e+01 : f32
// AWQ: %[[INV:.*]] = arith.constant dense<[1.68179286, 0.420448214, 1.68179286, 2.37841415]> : tensor<4xf32>
// AWQ: %[[X:.*]] = linalg.generic {{.*}} ins(%[[P]], %[[INV]] :
// AWQ-COUNT-2: qopt.matmul %[[X]], {{.*}} algorithm = awq>, qopt.smooth_scales = dense<[0.594603539, 2.37841415, 0.594603539, 0.420448214]> : tensor<4xf32>
// A static range is the scaled input's: channel 1's 16 / 1.25266 = 12.7728
// (scale 12.7728 / 127), not the calibrated 16 of x.
// GPTQ-LABEL: func @norm
// GPTQ: %[[P:.*]] = qopt.observe %{{.*}} {absmax = 1.600000e+01 : f32
// GPTQ: %[[X:.*]] = linalg.generic {{.*}} ins(%[[P]], %{{.*}} :
// GPTQ: %[[S:.*]] = arith.constant dense<0.100573018> : tensor<f32>
// GPTQ: qopt.quantize %[[X]], %[[S]]
// GPTQ: qopt.matmul {{.*}} algorithm = gptq>, qopt.smooth_scales = dense<[0.949342072, 1.25266445, 0.949342072, 0.885767519]> : tensor<4xf32>
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#last = affine_map<(d0, d1, d2) -> (d2)>
func.func @norm(%x: tensor<1x2x4xf32>) -> tensor<1x2x2xf32> {
  %g = arith.constant dense<[1.0, 2.0, 1.0, 0.5]> : tensor<4xf32>
  %e = tensor.empty() : tensor<1x2x4xf32>
  %n = linalg.generic {indexing_maps = [#id, #last, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %g : tensor<1x2x4xf32>, tensor<4xf32>) outs(%e : tensor<1x2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x2x4xf32>
  %p = qopt.observe %n {id = "wq:in", absmax = 16.0 : f32,
                        channel_absmax = dense<[1.0, 16.0, 1.0, 1.0]> : tensor<4xf32>,
                        channel_mean_abs = dense<[0.5, 8.0, 0.5, 0.25]> : tensor<4xf32>,
                        gram = dense<[[1.0, 0.5, 0.0, 0.0], [0.5, 256.0, 2.0, 0.0], [0.0, 2.0, 1.0, 0.1], [0.0, 0.0, 0.1, 0.25]]> : tensor<4x4xf64>} : tensor<1x2x4xf32>
  %w1 = arith.constant dense<[[[0.5, -0.3], [0.2, 0.7], [0.9, 0.1], [-0.6, 0.4]]]> : tensor<1x4x2xf32>
  %w2 = arith.constant dense<[[[0.25, 0.5], [-0.5, 0.25], [0.5, -0.25], [0.75, 0.5]]]> : tensor<1x4x2xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y1 = tosa.matmul %p, %w1, %z, %z : (tensor<1x2x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>
  %y2 = tosa.matmul %p, %w2, %z, %z : (tensor<1x2x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>
  %s = tosa.add %y1, %y2 : (tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  %r = tosa.exp %s : (tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  return %r : tensor<1x2x2xf32>
}

// -----

// A function argument has no producer to fold into.
// AWQ-LABEL: func @argument
// AWQ: %[[P:.*]] = qopt.observe %arg0
// AWQ: %[[X:.*]] = linalg.generic {{.*}} ins(%[[P]], %{{.*}} : tensor<1x2x4xf32>, tensor<4xf32>)
// AWQ: qopt.matmul %[[X]], {{.*}} qopt.smooth_scales = dense<
func.func @argument(%x: tensor<1x2x4xf32>) -> tensor<1x2x2xf32> {
  %p = qopt.observe %x {id = "wq:in", absmax = 16.0 : f32,
                        channel_absmax = dense<[1.0, 16.0, 1.0, 1.0]> : tensor<4xf32>,
                        channel_mean_abs = dense<[0.5, 8.0, 0.5, 0.25]> : tensor<4xf32>,
                        gram = dense<[[1.0, 0.5, 0.0, 0.0], [0.5, 256.0, 2.0, 0.0], [0.0, 2.0, 1.0, 0.1], [0.0, 0.0, 0.1, 0.25]]> : tensor<4x4xf64>} : tensor<1x2x4xf32>
  %w1 = arith.constant dense<[[[0.5, -0.3], [0.2, 0.7], [0.9, 0.1], [-0.6, 0.4]]]> : tensor<1x4x2xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y1 = tosa.matmul %p, %w1, %z, %z : (tensor<1x2x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>
  %r = tosa.exp %y1 : (tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  return %r : tensor<1x2x2xf32>
}
