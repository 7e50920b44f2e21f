// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16 algorithm=awq" | FileCheck %s --check-prefix=AWQ
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8-static algorithm=gptq" | FileCheck %s --check-prefix=GPTQ

// GPTQ's and AWQ's activation-aware input scales s: the weights carry s,
// the activation is divided by it. As qopt-smooth does, the division is
// folded into the producer's per-channel constant (an RMSNorm's weight,
// here [1, 2, 1, 0.5]) when only the products sharing s read the
// activation, and each product records s in qopt.smooth_scales for the
// ONNX export. The probe's statistics become those of x / s. AWQ picks
// s = [0.5946, 2.3784, 0.5946, 0.4204]: the weight becomes
// [1 / 0.5946, 2 / 2.3784, 1 / 0.5946, 0.5 / 0.4204].
// AWQ-LABEL: func @folded
// AWQ: %[[G:.*]] = arith.constant dense<[1.68179286, 0.840896427, 1.68179286, 1.18920708]> : tensor<4xf32>
// AWQ: %[[N:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[G]] :
// AWQ: %[[P:.*]] = qopt.observe %[[N]] {absmax = 6.72717142 : f32, channel_absmax = dense<[1.68179286, 6.72717142, 1.68179286, 2.37841415]> : tensor<4xf32>
// AWQ-NOT: linalg.generic
// AWQ-COUNT-2: qopt.matmul %[[P]], {{.*}} algorithm = awq>, qopt.smooth_scales = dense<[0.594603539, 2.37841415, 0.594603539, 0.420448214]> : tensor<4xf32>
// A static range is the scaled input's: channel 1's 16 / 1.25266 = 12.7728
// (scale 12.7728 / 127).
// GPTQ-LABEL: func @folded
// GPTQ: %[[G:.*]] = arith.constant dense<[1.05336106, 1.59659672, 1.05336106, 0.564482212]> : tensor<4xf32>
// GPTQ: %[[N:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[G]] :
// GPTQ: %[[P:.*]] = qopt.observe %[[N]] {absmax = 12.7727737 : f32
// GPTQ-NOT: linalg.generic
// GPTQ: %[[S:.*]] = arith.constant dense<0.100573018> : tensor<f32>
// GPTQ: qopt.quantize %[[P]], %[[S]]
// GPTQ: qopt.matmul {{.*}} algorithm = gptq>, qopt.smooth_scales = dense<[0.949342072, 1.25266445, 0.949342072, 0.885767519]> : tensor<4xf32>
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#last = affine_map<(d0, d1, d2) -> (d2)>
func.func @folded(%x: tensor<1x2x4xf32>) -> tensor<1x2x2xf32> {
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

// A float op also reads the activation (and so would see the folded
// weight): the division stays an elementwise op in front of the products,
// which still record s.
// AWQ-LABEL: func @shared
// AWQ: arith.constant dense<[1.000000e+00, 2.000000e+00, 1.000000e+00, 5.000000e-01]> : tensor<4xf32>
// AWQ: %[[P:.*]] = qopt.observe
// AWQ: %[[X:.*]] = linalg.generic {{.*}} ins(%[[P]], %{{.*}} : tensor<1x2x4xf32>, tensor<4xf32>)
// AWQ: qopt.matmul %[[X]], {{.*}} qopt.smooth_scales = dense<
// AWQ: tosa.exp %[[P]]
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#last = affine_map<(d0, d1, d2) -> (d2)>
func.func @shared(%x: tensor<1x2x4xf32>) -> (tensor<1x2x2xf32>, tensor<1x2x4xf32>) {
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
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y1 = tosa.matmul %p, %w1, %z, %z : (tensor<1x2x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2xf32>
  %r = tosa.exp %y1 : (tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  %f = tosa.exp %p : (tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  return %r, %f : tensor<1x2x2xf32>, tensor<1x2x4xf32>
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
