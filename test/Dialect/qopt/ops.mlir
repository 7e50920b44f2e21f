// RUN: qopt-opt %s --split-input-file | FileCheck %s
// RUN: qopt-opt %s --split-input-file --mlir-print-op-generic | qopt-opt --split-input-file | FileCheck %s

// CHECK-LABEL: func @observe
// CHECK: qopt.observe %{{.*}} {absmax = 3.500000e+00 : f32, id = "/l0/wq/MatMul:in"} : tensor<1x8x64xf32>
func.func @observe(%x: tensor<1x8x64xf32>) -> tensor<1x8x64xf32> {
  %0 = qopt.observe %x {id = "/l0/wq/MatMul:in", absmax = 3.5 : f32} : tensor<1x8x64xf32>
  return %0 : tensor<1x8x64xf32>
}

// -----

// Calibration statistics for GPTQ and AWQ ride on the probe.
// CHECK-LABEL: func @observe_gram
// CHECK: qopt.observe %{{.*}} {channel_mean_abs = dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf32>, gram = dense<{{\[}}[2.000000e+00, 5.000000e-01], [5.000000e-01, 1.000000e+00]]> : tensor<2x2xf64>, id = "w2:in"}
func.func @observe_gram(%x: tensor<1x8x2xf32>) -> tensor<1x8x2xf32> {
  %0 = qopt.observe %x {id = "w2:in", gram = dense<[[2.0, 0.5], [0.5, 1.0]]> : tensor<2x2xf64>,
                        channel_mean_abs = dense<[0.5, 0.25]> : tensor<2xf32>} : tensor<1x8x2xf32>
  return %0 : tensor<1x8x2xf32>
}

// -----

// CHECK-LABEL: func @precision_algorithm
// CHECK: #qopt.precision<"w3a16-g32", weights = #qopt.scheme<int3, group 32, sym>, algorithm = gptq>
func.func @precision_algorithm() attributes {p = #qopt.precision<"w3a16-g32", weights = #qopt.scheme<int3, group 32, sym>, algorithm = gptq>} {
  return
}

// -----

// CHECK-LABEL: func @quantize_dequantize
// CHECK: qopt.quantize %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x16xf32>, tensor<f32>, tensor<i8>) -> tensor<4x16xi8>
// CHECK: qopt.quantize %{{.*}}, %{{.*}} {axis = 1 : i64, is_unsigned} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xi8>
// CHECK: qopt.dequantize %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x16xi8>, tensor<f32>, tensor<i8>) -> tensor<4x16xf32>
func.func @quantize_dequantize(%x: tensor<4x16xf32>, %s: tensor<f32>, %z: tensor<i8>, %sc: tensor<16xf32>) -> (tensor<4x16xf32>, tensor<4x16xi8>) {
  %q = qopt.quantize %x, %s, %z : (tensor<4x16xf32>, tensor<f32>, tensor<i8>) -> tensor<4x16xi8>
  %p = qopt.quantize %x, %sc {axis = 1 : i64, is_unsigned} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xi8>
  %d = qopt.dequantize %q, %s, %z : (tensor<4x16xi8>, tensor<f32>, tensor<i8>) -> tensor<4x16xf32>
  return %d, %p : tensor<4x16xf32>, tensor<4x16xi8>
}

// -----

// CHECK-LABEL: func @dynamic_quantize
// CHECK: qopt.dynamic_quantize %{{.*}} per_token : tensor<8x64xf32> -> tensor<8x64xi8>, tensor<8x1xf32>, tensor<8x1xi8>
// CHECK: qopt.dynamic_quantize %{{.*}} per_tensor {is_unsigned} : tensor<8x64xf32> -> tensor<8x64xi8>, tensor<f32>, tensor<i8>
func.func @dynamic_quantize(%x: tensor<8x64xf32>) -> (tensor<8x64xi8>, tensor<8x64xi8>) {
  %q, %s, %z = qopt.dynamic_quantize %x per_token : tensor<8x64xf32> -> tensor<8x64xi8>, tensor<8x1xf32>, tensor<8x1xi8>
  %q2, %s2, %z2 = qopt.dynamic_quantize %x per_tensor {is_unsigned} : tensor<8x64xf32> -> tensor<8x64xi8>, tensor<f32>, tensor<i8>
  return %q, %q2 : tensor<8x64xi8>, tensor<8x64xi8>
}

// -----

// CHECK-LABEL: func @matmul_w4
// CHECK: qopt.matmul %{{.*}}, %{{.*}} scales(%{{.*}}) {k = 64 : i64, precision = #qopt.precision<"w4a16-g32", weights = #qopt.scheme<int4, group 32, sym>>, scheme = #qopt.scheme<int4, group 32, sym>}
func.func @matmul_w4(%a: tensor<1x8x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<1x8x32xf32> {
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>,
       precision = #qopt.precision<"w4a16-g32", weights = #qopt.scheme<int4, group 32, sym>>}
       : (tensor<1x8x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<1x8x32xf32>
  return %0 : tensor<1x8x32xf32>
}

// -----

// CHECK-LABEL: func @matmul_variants
// CHECK: scheme = #qopt.scheme<uint3, group 64, asym>
// CHECK: scheme = #qopt.scheme<nf4, group 64, sym>
// CHECK: scheme = #qopt.scheme<f16, per_tensor, sym>
// CHECK: qopt.matmul %{{.*}}, %{{.*}} scales(%{{.*}}) input_scale(%{{.*}}) {{.*}}#qopt.precision<w8a8, weights = #qopt.scheme<int8, per_channel, sym>, activations = #qopt.scheme<int8, per_token, sym>, dynamic>
// CHECK: qopt.matmul %{{.*}}, %{{.*}} zero_points(%{{.*}}) input_zero_point(%{{.*}}) {{.*}} -> tensor<8x16xi32>
func.func @matmul_variants(%a: tensor<8x128xf32>, %w3: tensor<16x49xi8>, %s3: tensor<16x2xf32>, %z3: tensor<16x2xi8>,
                           %w4: tensor<16x64xi8>, %s4: tensor<16x2xf32>, %wh: tensor<16x128xf16>,
                           %qa: tensor<8x128xi8>, %w8: tensor<16x128xi8>, %s8: tensor<16x1xf32>, %sa: tensor<8x1xf32>,
                           %zw: tensor<1x1xi8>, %za: tensor<i8>) {
  %0 = qopt.matmul %a, %w3 scales(%s3) zero_points(%z3) {k = 128 : i64, scheme = #qopt.scheme<uint3, group 64, asym>}
       : (tensor<8x128xf32>, tensor<16x49xi8>, tensor<16x2xf32>, tensor<16x2xi8>) -> tensor<8x16xf32>
  %1 = qopt.matmul %a, %w4 scales(%s4) {k = 128 : i64, scheme = #qopt.scheme<nf4, group 64>}
       : (tensor<8x128xf32>, tensor<16x64xi8>, tensor<16x2xf32>) -> tensor<8x16xf32>
  %2 = qopt.matmul %a, %wh {k = 128 : i64, scheme = #qopt.scheme<f16, per_tensor>}
       : (tensor<8x128xf32>, tensor<16x128xf16>) -> tensor<8x16xf32>
  %3 = qopt.matmul %qa, %w8 scales(%s8) input_scale(%sa) {k = 128 : i64, scheme = #qopt.scheme<int8, per_channel, sym>,
       precision = #qopt.precision<w8a8, weights = #qopt.scheme<int8, per_channel, sym>, activations = #qopt.scheme<int8, per_token, sym>, dynamic>}
       : (tensor<8x128xi8>, tensor<16x128xi8>, tensor<16x1xf32>, tensor<8x1xf32>) -> tensor<8x16xf32>
  %4 = qopt.matmul %qa, %w8 zero_points(%zw) input_zero_point(%za) {k = 128 : i64, scheme = #qopt.scheme<int8, per_tensor, asym>}
       : (tensor<8x128xi8>, tensor<16x128xi8>, tensor<1x1xi8>, tensor<i8>) -> tensor<8x16xi32>
  return
}

// -----

// W4A8: int8 activations (per-row or static scale) with group-wise int4
// weights; k = 100 leaves a last group of 4 (rows of 100 codes, 50 bytes).
// CHECK-LABEL: func @matmul_w4a8
// CHECK: qopt.matmul %{{.*}}, %{{.*}} scales(%{{.*}}) input_scale(%{{.*}}) {{.*}}#qopt.precision<"w4a8-g32", weights = #qopt.scheme<int4, group 32, sym>, activations = #qopt.scheme<int8, per_token, sym>, dynamic>
// CHECK: qopt.matmul %{{.*}}, %{{.*}} scales(%{{.*}}) zero_points(%{{.*}}) input_scale(%{{.*}}) {{.*}} -> tensor<8x16xf32>
func.func @matmul_w4a8(%qa: tensor<8x100xi8>, %w: tensor<16x50xi8>, %s: tensor<16x4xf32>, %z: tensor<16x4xi8>,
                       %sa: tensor<8x1xf32>, %st: tensor<f32>) {
  %0 = qopt.matmul %qa, %w scales(%s) input_scale(%sa) {k = 100 : i64, scheme = #qopt.scheme<int4, group 32, sym>,
       precision = #qopt.precision<"w4a8-g32", weights = #qopt.scheme<int4, group 32, sym>, activations = #qopt.scheme<int8, per_token, sym>, dynamic>}
       : (tensor<8x100xi8>, tensor<16x50xi8>, tensor<16x4xf32>, tensor<8x1xf32>) -> tensor<8x16xf32>
  %1 = qopt.matmul %qa, %w scales(%s) zero_points(%z) input_scale(%st) {k = 100 : i64, scheme = #qopt.scheme<uint4, group 32, asym>}
       : (tensor<8x100xi8>, tensor<16x50xi8>, tensor<16x4xf32>, tensor<16x4xi8>, tensor<f32>) -> tensor<8x16xf32>
  return
}

// -----

// LLM.int8 decomposition: quantizers that skip the outlier channels, and a
// matmul that adds their float product.
// CHECK-LABEL: func @outlier_decomposition
// CHECK: qopt.quantize %{{.*}}, %{{.*}} {exclude_channels = array<i64: 3, 9>} : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xi8>
// CHECK: qopt.dynamic_quantize %{{.*}} per_token {exclude_channels = array<i64: 3, 9>} : tensor<4x16xf32> -> tensor<4x16xi8>, tensor<4x1xf32>, tensor<4x1xi8>
// CHECK: qopt.matmul %{{.*}}, %{{.*}} scales(%{{.*}}) input_scale(%{{.*}}) outliers(%{{.*}}, %{{.*}}) {k = 16 : i64, outlier_channels = array<i64: 3, 9>, scheme = #qopt.scheme<int8, per_channel, sym>}
// CHECK-SAME: : (tensor<4x16xi8>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<4x1xf32>, tensor<4x16xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
func.func @outlier_decomposition(%x: tensor<4x16xf32>, %st: tensor<f32>, %w: tensor<8x16xi8>, %s: tensor<8x1xf32>,
                                 %wo: tensor<2x8xf32>) -> (tensor<4x16xi8>, tensor<4x8xf32>) {
  %p = qopt.quantize %x, %st {exclude_channels = array<i64: 3, 9>} : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xi8>
  %q, %sa, %za = qopt.dynamic_quantize %x per_token {exclude_channels = array<i64: 3, 9>}
      : tensor<4x16xf32> -> tensor<4x16xi8>, tensor<4x1xf32>, tensor<4x1xi8>
  %y = qopt.matmul %q, %w scales(%s) input_scale(%sa) outliers(%x, %wo)
       {k = 16 : i64, outlier_channels = array<i64: 3, 9>, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<4x16xi8>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<4x1xf32>, tensor<4x16xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  return %p, %y : tensor<4x16xi8>, tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func @conv_and_embedding
// CHECK: qopt.conv2d %{{.*}}, %{{.*}} zero_points(%{{.*}}) input_zero_point(%{{.*}}) {dilations = array<i64: 1, 1>, group = 1 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>}
// CHECK: qopt.embedding %{{.*}}[%{{.*}}] scales(%{{.*}}) {dim = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
func.func @conv_and_embedding(%x: tensor<1x3x8x8xi8>, %w: tensor<4x3x3x3xi8>, %zw: tensor<1xi8>, %zx: tensor<i8>,
                              %t: tensor<512x32xi8>, %ids: tensor<1x8xi32>, %s: tensor<512x2xf32>) -> (tensor<1x4x8x8xi32>, tensor<1x8x64xf32>) {
  %y = qopt.conv2d %x, %w zero_points(%zw) input_zero_point(%zx)
         {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64}
         : (tensor<1x3x8x8xi8>, tensor<4x3x3x3xi8>, tensor<1xi8>, tensor<i8>) -> tensor<1x4x8x8xi32>
  %e = qopt.embedding %t[%ids] scales(%s) {dim = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<512x32xi8>, tensor<1x8xi32>, tensor<512x2xf32>) -> tensor<1x8x64xf32>
  return %y, %e : tensor<1x4x8x8xi32>, tensor<1x8x64xf32>
}

// -----

// The target description a module is compiled for.
// CHECK: module attributes {qopt.target = #qopt.target<backend = "x86", triple = "x86_64-unknown-linux-gnu", cpu = "znver4", features = "+avx2,+avx512f">}
// CHECK-LABEL: func.func @entry
// CHECK-SAME: qopt.dtype = "float32", qopt.name = "X"
module attributes {qopt.target = #qopt.target<backend = "x86", triple = "x86_64-unknown-linux-gnu", cpu = "znver4", features = "+avx2,+avx512f">} {
  func.func @entry(%x: tensor<4xf32> {qopt.dtype = "float32", qopt.name = "X"}) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// Layer roles on the ops they describe.
// CHECK-LABEL: func @roles
// CHECK: tosa.gather %{{.*}}, %{{.*}} {qopt.role = #qopt.role<embedding>}
// CHECK: tosa.matmul %{{.*}} {qopt.role = #qopt.role<ffn_gate>}
func.func @roles(%t: tensor<1x512x64xf32>, %ids: tensor<1x8xi32>, %w: tensor<1x64x172xf32>) -> tensor<1x8x172xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %e = tosa.gather %t, %ids {qopt.role = #qopt.role<embedding>} : (tensor<1x512x64xf32>, tensor<1x8xi32>) -> tensor<1x8x64xf32>
  %y = tosa.matmul %e, %w, %z, %z {qopt.role = #qopt.role<ffn_gate>} : (tensor<1x8x64xf32>, tensor<1x64x172xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x172xf32>
  return %y : tensor<1x8x172xf32>
}
