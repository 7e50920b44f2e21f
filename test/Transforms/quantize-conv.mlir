// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8" | FileCheck %s
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8-static exclude=dw|conv" | FileCheck %s --check-prefix=STATIC
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16-g32" | FileCheck %s --check-prefix=W4
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8 exclude=dw" | FileCheck %s --check-prefix=EXCL
// RUN: qopt-opt %s --split-input-file --qopt-insert-observers | FileCheck %s --check-prefix=OBS

// A depthwise convolution over a zero-padded input: per-tensor dynamic
// uint8 codes of the unpadded input, int8 weights with one scale per
// channel, and the padding moved into qopt.conv2d (where the zero point
// fills it).
// CHECK-LABEL: func.func @depthwise(
// CHECK-SAME: %[[X:.*]]: tensor<1x2x4x4xf32>
// CHECK: %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<2x1x2x2xi8>
// CHECK: %[[S:.*]] = arith.constant dense<{{.*}}> : tensor<2xf32>
// CHECK: %[[Q:.*]], %[[QS:.*]], %[[QZ:.*]] = qopt.dynamic_quantize %[[X]] {{.*}}per_tensor
// CHECK: %[[Y:.*]] = qopt.conv2d %[[Q]], %[[W]] scales(%[[S]]) input_scale(%[[QS]]) input_zero_point(%[[QZ]])
// CHECK-SAME: dilations = array<i64: 1, 1>, group = 2 : i64, input_unsigned, pads = array<i64: 1, 0, 0, 1>
// CHECK-SAME: qopt.precision = #qopt.precision<w8a8, weights = #qopt.scheme<int8, per_channel, sym>, activations = #qopt.scheme<uint8, per_tensor, asym>, dynamic, algorithm = rtn>
// CHECK-SAME: strides = array<i64: 1, 1>
// CHECK-SAME: -> tensor<1x2x4x4xf32>
// CHECK: return %[[Y]]
// STATIC-LABEL: func.func @depthwise(
// STATIC: linalg.depthwise_conv_2d_nchw_chw
// W4-LABEL: func.func @depthwise(
// W4: linalg.depthwise_conv_2d_nchw_chw
// EXCL-LABEL: func.func @depthwise(
// EXCL: linalg.depthwise_conv_2d_nchw_chw
// OBS-LABEL: func.func @depthwise(
// OBS: %[[O:.*]] = qopt.observe %arg0 {id = "dw:in"}
// OBS: tensor.pad %[[O]]
func.func @depthwise(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w4 = arith.constant dense<[[[[1.0, -2.0], [0.5, 0.25]]], [[[3.0, 0.0], [-1.5, 1.0]]]]> : tensor<2x1x2x2xf32>
  %shape = tosa.const_shape {values = dense<[2, 2, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %w = tosa.reshape %w4, %shape : (tensor<2x1x2x2xf32>, !tosa.shape<3>) -> tensor<2x2x2xf32>
  %z = arith.constant 0.0 : f32
  %xp = tensor.pad %x low[0, 0, 1, 0] high[0, 0, 0, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %z : f32
  } : tensor<1x2x4x4xf32> to tensor<1x2x5x5xf32>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%xp, %w : tensor<1x2x5x5xf32>, tensor<2x2x2xf32>) outs(%f : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("dw")
  return %y : tensor<1x2x4x4xf32>
}

// -----

// A grouped convolution (2 groups of 2 channels, 4 filters) over the
// grouped views of [N, C, H, W] and [M, C/G, KH, KW]: qopt.conv2d on the
// plain input, its result viewed as groups again.
// CHECK-LABEL: func.func @grouped(
// CHECK-SAME: %[[X:.*]]: tensor<1x4x3x3xf32>
// CHECK: %[[O:.*]] = qopt.observe %[[X]]
// CHECK: qopt.dynamic_quantize %[[O]]
// CHECK: %[[Y:.*]] = qopt.conv2d {{.*}}group = 2 : i64{{.*}}strides = array<i64: 2, 2>
// CHECK-SAME: (tensor<1x4x3x3xi8>, tensor<4x2x1x1xi8>, tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<1x4x2x2xf32>
// CHECK: tosa.reshape %[[Y]], %{{.*}} -> tensor<1x2x2x2x2xf32>
// STATIC-LABEL: func.func @grouped(
// STATIC: %[[S:.*]] = arith.constant dense<5.000000e-02> : tensor<f32>
// STATIC: %[[Q:.*]] = qopt.quantize %{{.*}}, %[[S]]
// STATIC: qopt.conv2d %[[Q]], %{{.*}} scales(%{{.*}}) input_scale(%[[S]]) {dilations = array<i64: 1, 1>, group = 2 : i64, pads = array<i64: 0, 0, 0, 0>
// STATIC-SAME: activations = #qopt.scheme<int8, per_tensor, sym>
// STATIC-SAME: -> tensor<1x4x2x2xf32>
func.func @grouped(%x: tensor<1x4x3x3xf32>) -> tensor<1x2x2x2x2xf32> {
  %o = qopt.observe %x {id = "g:in", absmax = 6.35 : f32} : tensor<1x4x3x3xf32>
  %w4 = arith.constant dense<[[[[1.0]], [[2.0]]], [[[-1.0]], [[0.5]]], [[[0.25]], [[4.0]]], [[[3.0]], [[-2.0]]]]> : tensor<4x2x1x1xf32>
  %ws = tosa.const_shape {values = dense<[2, 2, 2, 1, 1]> : tensor<5xindex>} : () -> !tosa.shape<5>
  %w = tosa.reshape %w4, %ws : (tensor<4x2x1x1xf32>, !tosa.shape<5>) -> tensor<2x2x2x1x1xf32>
  %xs = tosa.const_shape {values = dense<[1, 2, 2, 3, 3]> : tensor<5xindex>} : () -> !tosa.shape<5>
  %xg = tosa.reshape %o, %xs : (tensor<1x4x3x3xf32>, !tosa.shape<5>) -> tensor<1x2x2x3x3xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x2x2x2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x2x2x2x2xf32>) -> tensor<1x2x2x2x2xf32>
  %y = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
         ins(%xg, %w : tensor<1x2x2x3x3xf32>, tensor<2x2x2x1x1xf32>) outs(%f : tensor<1x2x2x2x2xf32>) -> tensor<1x2x2x2x2xf32>
  return %y : tensor<1x2x2x2x2xf32>
}

// -----

// A weight that is not a constant keeps the convolution float.
// CHECK-LABEL: func.func @activation_weights(
// CHECK: linalg.depthwise_conv_2d_nchw_chw
// CHECK-NOT: qopt.conv2d
// CHECK: return
func.func @activation_weights(%x: tensor<1x2x4x4xf32>, %w: tensor<2x2x2xf32>) -> tensor<1x2x3x3xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%x, %w : tensor<1x2x4x4xf32>, tensor<2x2x2xf32>) outs(%f : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}


// -----

// A group-1 convolution is quantized as a convolution too (the target
// chooses its im2col form later); weight-only precisions leave it to the
// driver, which quantizes its im2col product as a matmul.
// CHECK-LABEL: func.func @dense(
// CHECK: qopt.dynamic_quantize %arg0 {{.*}}per_tensor
// CHECK: qopt.conv2d {{.*}}group = 1 : i64
// CHECK-SAME: (tensor<1x2x3x3xi8>, tensor<3x2x2x2xi8>, tensor<3xf32>, tensor<f32>, tensor<i8>) -> tensor<1x3x2x2xf32>
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// STATIC-LABEL: func.func @dense(
// STATIC: linalg.conv_2d_nchw_fchw
// W4-LABEL: func.func @dense(
// W4: linalg.conv_2d_nchw_fchw
// OBS-LABEL: func.func @dense(
// OBS: qopt.observe %arg0 {id = "conv:in"}
func.func @dense(%x: tensor<1x2x3x3xf32>) -> tensor<1x3x2x2xf32> {
  %w = arith.constant dense<[[[[1.0, -2.0], [0.5, 0.25]], [[3.0, 0.0], [-1.5, 1.0]]],
                             [[[0.5, 0.5], [0.5, 0.5]], [[-1.0, 2.0], [1.0, -0.5]]],
                             [[[2.0, 1.0], [0.0, -1.0]], [[0.25, 0.75], [-0.5, 1.5]]]]> : tensor<3x2x2x2xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x3x2x2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%x, %w : tensor<1x2x3x3xf32>, tensor<3x2x2x2xf32>) outs(%f : tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32> loc("conv")
  return %y : tensor<1x3x2x2xf32>
}
