// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8-static" --verify-diagnostics | FileCheck %s

// A calibrated input range (absmax 6.35) gives the static scale 0.05.
// CHECK-LABEL: func @calibrated
// CHECK: %[[S:.*]] = arith.constant dense<5.000000e-02> : tensor<f32>
// CHECK: %[[Q:.*]] = qopt.quantize %{{.*}}, %[[S]] : (tensor<1x4x32xf32>, tensor<f32>) -> tensor<1x4x32xi8>
// CHECK: qopt.matmul %[[Q]], %{{.*}} scales(%{{.*}}) input_scale(%[[S]]) {{.*}}activations = #qopt.scheme<int8, per_tensor, sym>
func.func @calibrated(%a: tensor<1x4x32xf32>) -> tensor<1x4x16xf32> {
  %w = arith.constant dense<0.25> : tensor<32x16xf32>
  %shape = tosa.const_shape {values = dense<[1, 32, 16]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<32x16xf32>, !tosa.shape<3>) -> tensor<1x32x16xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %o = qopt.observe %a {id = "wq:in", absmax = 6.35 : f32} : tensor<1x4x32xf32>
  %y = tosa.matmul %o, %b, %z, %z : (tensor<1x4x32xf32>, tensor<1x32x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32>
  %r = tosa.exp %y : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %r : tensor<1x4x16xf32>
}

// -----

func.func @uncalibrated(%a: tensor<1x4x32xf32>) -> tensor<1x4x16xf32> {
  %w = arith.constant dense<0.25> : tensor<32x16xf32>
  %shape = tosa.const_shape {values = dense<[1, 32, 16]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<32x16xf32>, !tosa.shape<3>) -> tensor<1x32x16xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{w8a8-static needs a calibrated activation range for this matmul's input: compile with --calib}}
  %y = tosa.matmul %a, %b, %z, %z : (tensor<1x4x32xf32>, tensor<1x32x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32>
  %r = tosa.exp %y : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %r : tensor<1x4x16xf32>
}

// -----

// Static scales need a calibrated probe in front of a convolution too.
func.func @uncalibrated(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x3x3xf32> {
  %w = arith.constant dense<1.0> : tensor<2x2x2xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  // expected-error @+1 {{w8a8-static needs a calibrated activation range for this convolution's input: compile with --calib}}
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
         ins(%x, %w : tensor<1x2x4x4xf32>, tensor<2x2x2xf32>) outs(%f : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}
