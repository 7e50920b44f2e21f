// RUN: qopt-opt %s --qopt-decompose-convolutions --split-input-file | FileCheck %s
// RUN: qopt-opt %s --qopt-decompose-convolutions=dense-only --split-input-file | FileCheck %s --check-prefix=DENSE

// Group 1: im2col columns [N, C*K, pixels] times the weights as [M, C*K].
// CHECK-LABEL: func.func @dense(
// CHECK-SAME: %[[X:.*]]: tensor<1x2x8x8xf32>, %[[W:.*]]: tensor<4x2x3x3xf32>
// CHECK: %[[COLS:.*]] = linalg.generic
// CHECK-SAME: ins(%[[X]] : tensor<1x2x8x8xf32>) outs(%{{.*}} : tensor<1x2x3x3x6x6xf32>)
// CHECK: %[[C2:.*]] = tosa.reshape %[[COLS]], %{{.*}} : (tensor<1x2x3x3x6x6xf32>, !tosa.shape<3>) -> tensor<1x18x36xf32>
// CHECK: %[[W2:.*]] = tosa.reshape %[[W]], %{{.*}} : (tensor<4x2x3x3xf32>, !tosa.shape<3>) -> tensor<1x4x18xf32>
// CHECK: tosa.matmul %[[W2]], %[[C2]]
// CHECK-SAME: -> tensor<1x4x36xf32>
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// DENSE-LABEL: func.func @dense(
// DENSE: tosa.matmul
func.func @dense(%x: tensor<1x2x8x8xf32>, %w: tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x6x6xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%x, %w : tensor<1x2x8x8xf32>, tensor<4x2x3x3xf32>) outs(%f : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  return %y : tensor<1x4x6x6xf32>
}

// -----

// Output rows of whole vectors (OW % 8 == 0): a loop over the N*OH output
// rows, marked for qopt-tile-strategy, each gathering its row's im2col
// panel [C*K, OW] from the KH input rows it reads and multiplying the
// weights [M, C*K] by it, so no whole-image im2col buffer exists.
// dense-only (before weight-only quantization) keeps the im2col tosa.matmul.
// CHECK-LABEL: func.func @dense_rows(
// CHECK-SAME: %[[X:.*]]: tensor<2x3x10x18xf32>, %[[W:.*]]: tensor<4x3x3x3xf32>
// CHECK: %[[W2:.*]] = tosa.reshape %[[W]], %{{.*}} -> tensor<4x27xf32>
// CHECK: scf.for %[[R:.*]] = %{{.*}} to %c16 step %c1 iter_args(%[[OUT:.*]] = %{{.*}}) -> (tensor<2x4x8x16xf32>)
// CHECK: %[[IMG:.*]] = arith.divui %[[R]], %c8
// CHECK: %[[ROW:.*]] = arith.remui %[[R]], %c8
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %[[X]][%[[IMG]], 0, %{{.*}}, 0] [1, 3, 3, 18] [1, 1, 1, 1] : tensor<2x3x10x18xf32> to tensor<3x3x18xf32>
// CHECK: %[[PANEL:.*]] = linalg.generic {{.*}} ins(%[[ROWS]] : tensor<3x3x18xf32>) outs(%{{.*}} : tensor<3x3x3x16xf32>)
// CHECK: %[[P2:.*]] = tensor.collapse_shape %[[PANEL]] {{\[\[}}0, 1, 2], [3]] : tensor<3x3x3x16xf32> into tensor<27x16xf32>
// CHECK: %[[P:.*]] = linalg.matmul ins(%[[W2]], %[[P2]] : tensor<4x27xf32>, tensor<27x16xf32>)
// CHECK: %[[E:.*]] = tensor.expand_shape %[[P]]
// CHECK: tensor.insert_slice %[[E]] into %[[OUT]][%[[IMG]], 0, %[[ROW]], 0] [1, 4, 1, 16] [1, 1, 1, 1]
// CHECK: } {qopt.tile_in_loop}
// DENSE-LABEL: func.func @dense_rows(
// DENSE: tosa.matmul
// DENSE-NOT: scf.for
func.func @dense_rows(%x: tensor<2x3x10x18xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<2x4x8x16xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x8x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%x, %w : tensor<2x3x10x18xf32>, tensor<4x3x3x3xf32>) outs(%f : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %y : tensor<2x4x8x16xf32>
}

// -----

// 1x1 stride-1 kernels multiply the input itself, and a batch of two reads
// the weights through a broadcast.
// CHECK-LABEL: func.func @pointwise_batch(
// CHECK-SAME: %[[X:.*]]: tensor<2x3x5x5xf32>
// CHECK: %[[C:.*]] = tosa.reshape %[[X]], %{{.*}} -> tensor<2x3x25xf32>
// CHECK: %[[B:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x4x3xf32>)
// CHECK: tosa.matmul %[[B]], %[[C]]
// CHECK-SAME: -> tensor<2x4x25xf32>
func.func @pointwise_batch(%x: tensor<2x3x5x5xf32>, %w: tensor<4x3x1x1xf32>) -> tensor<2x4x5x5xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x5x5xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4x5x5xf32>) -> tensor<2x4x5x5xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%x, %w : tensor<2x3x5x5xf32>, tensor<4x3x1x1xf32>) outs(%f : tensor<2x4x5x5xf32>) -> tensor<2x4x5x5xf32>
  return %y : tensor<2x4x5x5xf32>
}

// -----

// Small depthwise kernels: one elementwise sum of strided windows times the
// channel's taps.
// CHECK-LABEL: func.func @depthwise(
// CHECK-COUNT-9: tensor.extract_slice %arg0[0, 0, {{[0-2]}}, {{[0-2]}}] [1, 8, 4, 4] [1, 1, 2, 2] : tensor<1x8x9x9xf32> to tensor<1x8x4x4xf32>
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK-COUNT-9: arith.mulf
// CHECK-NOT: linalg.depthwise_conv_2d_nchw_chw
// DENSE-LABEL: func.func @depthwise(
// DENSE: linalg.depthwise_conv_2d_nchw_chw
func.func @depthwise(%x: tensor<1x8x9x9xf32>, %w: tensor<8x3x3xf32>) -> tensor<1x8x4x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8x4x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
         ins(%x, %w : tensor<1x8x9x9xf32>, tensor<8x3x3xf32>) outs(%f : tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  return %y : tensor<1x8x4x4xf32>
}

// -----

// Depthwise kernels with more than 49 taps take the grouped generic.
// CHECK-LABEL: func.func @depthwise_large(
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "parallel", "parallel"]
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<1x2x1x10x10xf32>, tensor<2x1x1x8x8xf32>)
func.func @depthwise_large(%x: tensor<1x2x10x10xf32>, %w: tensor<2x8x8xf32>) -> tensor<1x2x3x3xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%x, %w : tensor<1x2x10x10xf32>, tensor<2x8x8xf32>) outs(%f : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}

// -----

// Grouped: one generic over [N, G, M/G, C/G, KH, KW, OH, OW].
// CHECK-LABEL: func.func @grouped(
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "parallel", "parallel"]
// CHECK-SAME: ins(%arg0, %arg1 : tensor<1x2x2x6x6xf32>, tensor<2x3x2x3x3xf32>)
// CHECK-SAME: outs(%{{.*}} : tensor<1x2x3x2x2xf32>)
// CHECK-NOT: linalg.conv_2d_ngchw_gfchw
// DENSE-LABEL: func.func @grouped(
// DENSE: linalg.conv_2d_ngchw_gfchw
func.func @grouped(%x: tensor<1x2x2x6x6xf32>, %w: tensor<2x3x2x3x3xf32>) -> tensor<1x2x3x2x2xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x3x2x2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x2x3x2x2xf32>) -> tensor<1x2x3x2x2xf32>
  %y = linalg.conv_2d_ngchw_gfchw {dilations = dense<2> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%x, %w : tensor<1x2x2x6x6xf32>, tensor<2x3x2x3x3xf32>) outs(%f : tensor<1x2x3x2x2xf32>) -> tensor<1x2x3x2x2xf32>
  return %y : tensor<1x2x3x2x2xf32>
}

// -----

// An accumulator other than a zero fill is not reproduced: the op stays.
// CHECK-LABEL: func.func @accumulating(
// CHECK: linalg.conv_2d_nchw_fchw
func.func @accumulating(%x: tensor<1x2x8x8xf32>, %w: tensor<4x2x3x3xf32>, %acc: tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32> {
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%x, %w : tensor<1x2x8x8xf32>, tensor<4x2x3x3xf32>) outs(%acc : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  return %y : tensor<1x4x6x6xf32>
}

// -----

// An integer depthwise qopt.conv2d: the input padded with its zero point,
// nine strided windows and nine [C, 1, 1] weight columns, and one
// elementwise generic accumulating the converted differences in f32 fmas
// (exact: integers below 2^24) and rescaling.
// CHECK-LABEL: func.func @quantized_depthwise(
// CHECK-SAME: %[[X:.*]]: tensor<1x4x6x6xi8>, %[[W:.*]]: tensor<4x1x3x3xi8>, %[[S:.*]]: tensor<4xf32>, %[[SX:.*]]: tensor<f32>, %[[ZX:.*]]: tensor<i8>
// CHECK: %[[Z:.*]] = tensor.extract %[[ZX]][]
// CHECK: %[[P:.*]] = tensor.pad %[[X]] low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK: tensor.yield %[[Z]] : i8
// CHECK-COUNT-9: tensor.extract_slice %[[P]][0, 0, {{[0-2]}}, {{[0-2]}}] [1, 4, 6, 6] [1, 1, 1, 1] : tensor<1x4x8x8xi8> to tensor<1x4x6x6xi8>
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK-SAME: %[[ZX]], %[[SX]], %[[S]] : {{.*}}) outs(%{{.*}} : tensor<1x4x6x6xf32>)
// CHECK-NOT: arith.muli
// CHECK: %[[D:.*]] = arith.subi
// CHECK: %[[XF:.*]] = arith.sitofp %[[D]] : i32 to f32
// CHECK: %[[WF:.*]] = arith.sitofp %{{.*}} : i32 to f32
// CHECK: math.fma %[[XF]], %[[WF]], %{{.*}} : f32
// CHECK-COUNT-8: math.fma
// CHECK-NOT: arith.muli
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK-NOT: qopt.conv2d
// DENSE-LABEL: func.func @quantized_depthwise(
// DENSE: qopt.conv2d
func.func @quantized_depthwise(%x: tensor<1x4x6x6xi8>, %w: tensor<4x1x3x3xi8>, %s: tensor<4xf32>, %sx: tensor<f32>, %zx: tensor<i8>) -> tensor<1x4x6x6xf32> {
  %y = qopt.conv2d %x, %w scales(%s) input_scale(%sx) input_zero_point(%zx)
         {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 4 : i64, input_unsigned}
         : (tensor<1x4x6x6xi8>, tensor<4x1x3x3xi8>, tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<1x4x6x6xf32>
  return %y : tensor<1x4x6x6xf32>
}

// -----

// Grouped integer convolutions keep the reference lowering.
// CHECK-LABEL: func.func @quantized_grouped(
// CHECK: qopt.conv2d
func.func @quantized_grouped(%x: tensor<1x4x6x6xi8>, %w: tensor<4x2x3x3xi8>) -> tensor<1x4x4x4xi32> {
  %y = qopt.conv2d %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 2 : i64}
         : (tensor<1x4x6x6xi8>, tensor<4x2x3x3xi8>) -> tensor<1x4x4x4xi32>
  return %y : tensor<1x4x4x4xi32>
}

// -----

// An integer group-1 qopt.conv2d: the zero-point-padded codes gathered
// straight into one row per output pixel [N, OH*OW, C*KH*KW], the integer
// qopt.matmul against the weights as [F, C*KH*KW] (per-channel scales as
// [F, 1]), and the [N, pixels, F] product transposed back to NCHW.
// CHECK-LABEL: func.func @quantized_dense(
// CHECK-SAME: %[[X:.*]]: tensor<1x3x6x6xi8>, %[[W:.*]]: tensor<4x3x3x3xi8>, %[[S:.*]]: tensor<4xf32>, %[[SX:.*]]: tensor<f32>, %[[ZX:.*]]: tensor<i8>
// CHECK: %[[P:.*]] = tensor.pad %[[X]] low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK: %[[G:.*]] = linalg.generic
// CHECK-SAME: ins(%[[P]] : tensor<1x3x8x8xi8>) outs(%{{.*}} : tensor<1x3x3x3x3x3xi8>)
// CHECK: %[[ROWS:.*]] = tosa.reshape %[[G]], %{{.*}} -> tensor<1x9x27xi8>
// CHECK: %[[W2:.*]] = tosa.reshape %[[W]], %{{.*}} -> tensor<4x27xi8>
// CHECK: %[[S2:.*]] = tosa.reshape %[[S]], %{{.*}} -> tensor<4x1xf32>
// CHECK: %[[Y:.*]] = qopt.matmul %[[ROWS]], %[[W2]] scales(%[[S2]]) input_scale(%[[SX]]) input_zero_point(%[[ZX]])
// CHECK-SAME: input_unsigned, k = 27 : i64, scheme = #qopt.scheme<int8, per_channel, sym>
// CHECK-SAME: -> tensor<1x9x4xf32>
// CHECK: %[[T:.*]] = tosa.transpose %[[Y]] {perms = array<i32: 0, 2, 1>} : (tensor<1x9x4xf32>) -> tensor<1x4x9xf32>
// CHECK: tosa.reshape %[[T]], %{{.*}} -> tensor<1x4x3x3xf32>
// CHECK-NOT: qopt.conv2d
// DENSE-LABEL: func.func @quantized_dense(
// DENSE: qopt.conv2d
func.func @quantized_dense(%x: tensor<1x3x6x6xi8>, %w: tensor<4x3x3x3xi8>, %s: tensor<4xf32>, %sx: tensor<f32>, %zx: tensor<i8>) -> tensor<1x4x3x3xf32> {
  %y = qopt.conv2d %x, %w scales(%s) input_scale(%sx) input_zero_point(%zx)
         {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64, input_unsigned}
         : (tensor<1x3x6x6xi8>, tensor<4x3x3x3xi8>, tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<1x4x3x3xf32>
  return %y : tensor<1x4x3x3xf32>
}

// -----

// ConvInteger's raw i32 form with a per-tensor weight zero point: an
// asymmetric per-tensor integer matmul without scales.
// CHECK-LABEL: func.func @integer_dense(
// CHECK: qopt.matmul %{{.*}}, %{{.*}} zero_points(%{{.*}}) {k = 8 : i64, scheme = #qopt.scheme<int8, per_tensor, asym>}
// CHECK-SAME: (tensor<1x9x8xi8>, tensor<2x8xi8>, tensor<1x1xi8>) -> tensor<1x9x2xi32>
func.func @integer_dense(%x: tensor<1x8x3x3xi8>, %w: tensor<2x8x1x1xi8>, %zw: tensor<1xi8>) -> tensor<1x2x3x3xi32> {
  %y = qopt.conv2d %x, %w zero_points(%zw) {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64}
         : (tensor<1x8x3x3xi8>, tensor<2x8x1x1xi8>, tensor<1xi8>) -> tensor<1x2x3x3xi32>
  return %y : tensor<1x2x3x3xi32>
}
