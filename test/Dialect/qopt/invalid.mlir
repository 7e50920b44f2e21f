// RUN: qopt-opt %s --split-input-file --verify-diagnostics

func.func @observe_no_id(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{needs a non-empty id}}
  %0 = qopt.observe %x {id = ""} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @observe_negative_range(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{absmax must be finite and non-negative}}
  %0 = qopt.observe %x {id = "a", absmax = -1.0 : f32} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @observe_gram_shape(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{gram must be a [3, 3] f64 tensor, got 'tensor<2x2xf64>'}}
  %0 = qopt.observe %x {id = "a", gram = dense<1.0> : tensor<2x2xf64>} : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @observe_mean_abs_shape(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{channel_mean_abs must be a [3] f32 tensor}}
  %0 = qopt.observe %x {id = "a", channel_mean_abs = dense<1.0> : tensor<2xf32>} : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @quantize_axis_size(%x: tensor<4x16xf32>, %s: tensor<8xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{per-axis scale must have 16 elements}}
  %q = qopt.quantize %x, %s {axis = 1 : i64} : (tensor<4x16xf32>, tensor<8xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

func.func @quantize_axis_range(%x: tensor<4x16xf32>, %s: tensor<16xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %q = qopt.quantize %x, %s {axis = 2 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

func.func @quantize_per_tensor_many(%x: tensor<4x16xf32>, %s: tensor<16xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{per-tensor scale must hold one value}}
  %q = qopt.quantize %x, %s : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

func.func @dequantize_zero_point_type(%q: tensor<4xi8>, %s: tensor<f32>, %z: tensor<i16>) -> tensor<4xf32> {
  // expected-error @+1 {{zero point element type must be the input's}}
  %x = qopt.dequantize %q, %s, %z : (tensor<4xi8>, tensor<f32>, tensor<i16>) -> tensor<4xf32>
  return %x : tensor<4xf32>
}

// -----

func.func @dynamic_quantize_shape(%x: tensor<8x64xf32>) -> tensor<8x64xi8> {
  // expected-error @+1 {{scale and zero point must have shape [8, 1]}}
  %q, %s, %z = qopt.dynamic_quantize %x per_token : tensor<8x64xf32> -> tensor<8x64xi8>, tensor<8xf32>, tensor<8xi8>
  return %q : tensor<8x64xi8>
}

// -----

func.func @dynamic_quantize_per_token_unsigned(%x: tensor<8x64xf32>) -> tensor<8x64xi8> {
  // expected-error @+1 {{per_token quantization is symmetric (signed)}}
  %q, %s, %z = qopt.dynamic_quantize %x per_token {is_unsigned} : tensor<8x64xf32> -> tensor<8x64xi8>, tensor<8x1xf32>, tensor<8x1xi8>
  return %q : tensor<8x64xi8>
}

// -----

func.func @scheme_bits() attributes {
  // expected-error @+1 {{integer schemes have 2 to 8 bits, got 9}}
  s = #qopt.scheme<int9, per_channel, sym>} {
  return
}

// -----

func.func @scheme_unsigned_sym() attributes {
  // expected-error @+1 {{unsigned codes need a zero point (asym)}}
  s = #qopt.scheme<uint4, group 32, sym>} {
  return
}

// -----

func.func @scheme_kind() attributes {
  // expected-error @+1 {{bad integer width in 'int4x'}}
  s = #qopt.scheme<"int4x", group 32, sym>} {
  return
}

// -----

func.func @matmul_packed_shape(%a: tensor<8x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32x2xf32>) -> tensor<8x32xf32> {
  // expected-error @+1 {{weights for #qopt.scheme<int4, group 32, sym> with 64 values per row must be [32, 32] of i8}}
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<8x64xf32>, tensor<32x64xi8>, tensor<32x2xf32>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// -----

func.func @matmul_scales_shape(%a: tensor<8x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x1xf32>) -> tensor<8x32xf32> {
  // expected-error @+1 {{expected weights scales of shape [32, 2]}}
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<8x64xf32>, tensor<32x32xi8>, tensor<32x1xf32>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// -----

func.func @matmul_missing_zero_points(%a: tensor<8x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<8x32xf32> {
  // expected-error @+1 {{asymmetric scheme #qopt.scheme<uint4, group 32, asym> needs zero points}}
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<uint4, group 32, asym>}
       : (tensor<8x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// -----

func.func @matmul_k(%a: tensor<8x48xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<8x32xf32> {
  // expected-error @+1 {{input's last dim must be k = 64}}
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<8x48xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// -----

func.func @matmul_int_input_per_channel_int4(%a: tensor<8x64xi8>, %w: tensor<32x32xi8>, %s: tensor<32x1xf32>, %sa: tensor<f32>) -> tensor<8x32xf32> {
  // expected-error @+1 {{an integer input needs 8-bit per-channel or per-tensor integer weights, or group-wise integer weights, got #qopt.scheme<int4, per_channel, sym>}}
  %0 = qopt.matmul %a, %w scales(%s) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<int4, per_channel, sym>}
       : (tensor<8x64xi8>, tensor<32x32xi8>, tensor<32x1xf32>, tensor<f32>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// -----

func.func @matmul_int_input_group_i32(%a: tensor<8x64xi8>, %w: tensor<32x32xi8>) -> tensor<8x32xi32> {
  // expected-error @+1 {{group-wise weights with an integer input give an f32 result, got 'tensor<8x32xi32>'}}
  %0 = qopt.matmul %a, %w {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<8x64xi8>, tensor<32x32xi8>) -> tensor<8x32xi32>
  return %0 : tensor<8x32xi32>
}

// -----

func.func @matmul_int_input_group_zero_point(%a: tensor<8x64xi8>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>, %sa: tensor<f32>, %za: tensor<i8>) -> tensor<8x32xf32> {
  // expected-error @+1 {{group-wise weights need signed input codes without an input zero point}}
  %0 = qopt.matmul %a, %w scales(%s) input_scale(%sa) input_zero_point(%za) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<8x64xi8>, tensor<32x32xi8>, tensor<32x2xf32>, tensor<f32>, tensor<i8>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// -----

func.func @matmul_int_needs_scale(%a: tensor<8x64xi8>, %w: tensor<32x64xi8>, %s: tensor<32x1xf32>) -> tensor<8x32xf32> {
  // expected-error @+1 {{an f32 result from an integer input needs input and weight scales}}
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<8x64xi8>, tensor<32x64xi8>, tensor<32x1xf32>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// -----

func.func @matmul_result_shape(%a: tensor<8x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{result must have shape [8, 32]}}
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<8x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @conv_channels(%x: tensor<1x4x8x8xi8>, %w: tensor<4x3x3x3xi8>) -> tensor<1x4x6x6xi32> {
  // expected-error @+1 {{channels do not match}}
  %y = qopt.conv2d %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64}
         : (tensor<1x4x8x8xi8>, tensor<4x3x3x3xi8>) -> tensor<1x4x6x6xi32>
  return %y : tensor<1x4x6x6xi32>
}

// -----

func.func @conv_result(%x: tensor<1x3x8x8xi8>, %w: tensor<4x3x3x3xi8>) -> tensor<1x4x8x8xi32> {
  // expected-error @+1 {{result must have shape [1, 4, 6, 6]}}
  %y = qopt.conv2d %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64}
         : (tensor<1x3x8x8xi8>, tensor<4x3x3x3xi8>) -> tensor<1x4x8x8xi32>
  return %y : tensor<1x4x8x8xi32>
}

// -----

func.func @embedding_float(%t: tensor<512x64xf16>, %ids: tensor<8xi32>, %s: tensor<512x1xf32>) -> tensor<8x64xf32> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 8-bit signless integer values}}
  %e = qopt.embedding %t[%ids] scales(%s) {dim = 64 : i64, scheme = #qopt.scheme<f16, per_tensor>}
       : (tensor<512x64xf16>, tensor<8xi32>, tensor<512x1xf32>) -> tensor<8x64xf32>
  return %e : tensor<8x64xf32>
}

// -----

func.func @scheme_unknown_kind() attributes {
  // expected-error @+1 {{expected int<N>, uint<N>, nf4, fp8_e4m3 or f16, got 'bf16'}}
  s = #qopt.scheme<bf16, per_tensor>} {
  return
}

// -----

func.func @matmul_float_zero_points_integer_input(%a: tensor<8x64xi8>, %w: tensor<32x64xi8>, %s: tensor<32x1xf32>, %z: tensor<32x1xf32>, %sa: tensor<f32>) -> tensor<8x32xf32> {
  // expected-error @+1 {{f32 zero points are for weight-only integer schemes}}
  %0 = qopt.matmul %a, %w scales(%s) zero_points(%z) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<uint8, per_channel, asym>}
       : (tensor<8x64xi8>, tensor<32x64xi8>, tensor<32x1xf32>, tensor<32x1xf32>, tensor<f32>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// -----

func.func @matmul_half_scales_integer_input(%a: tensor<8x64xi8>, %w: tensor<32x64xi8>, %s: tensor<32x1xf16>, %sa: tensor<f32>) -> tensor<8x32xf32> {
  // expected-error @+1 {{an integer input's product rescales with f32 weight scales; f16 scales are for weight-only products}}
  %0 = qopt.matmul %a, %w scales(%s) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<8x64xi8>, tensor<32x64xi8>, tensor<32x1xf16>, tensor<f32>) -> tensor<8x32xf32>
  return %0 : tensor<8x32xf32>
}

// -----

func.func @precision_not_a_precision(%a: tensor<1x4x8xi8>, %b: tensor<1x8x4xi8>) -> tensor<1x4x4xi32> {
  %z = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  // expected-error @+1 {{qopt.precision must be a #qopt.precision attribute}}
  %0 = tosa.matmul %a, %b, %z, %z {qopt.precision = "w8a8"} : (tensor<1x4x8xi8>, tensor<1x8x4xi8>, tensor<1xi8>, tensor<1xi8>) -> tensor<1x4x4xi32>
  return %0 : tensor<1x4x4xi32>
}

// -----

func.func @role_not_a_role(%a: tensor<1x4x8xf32>, %b: tensor<1x8x4xf32>) -> tensor<1x4x4xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{qopt.role must be a #qopt.role attribute}}
  %0 = tosa.matmul %a, %b, %z, %z {qopt.role = "ffn_up"} : (tensor<1x4x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4xf32>
  return %0 : tensor<1x4x4xf32>
}

// -----

func.func @quantize_exclude_range(%x: tensor<4x16xf32>, %s: tensor<f32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{exclude_channels holds channel 16, outside [0, 16)}}
  %q = qopt.quantize %x, %s {exclude_channels = array<i64: 2, 16>} : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

func.func @quantize_exclude_order(%x: tensor<4x16xf32>, %s: tensor<f32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{exclude_channels must be strictly ascending}}
  %q = qopt.quantize %x, %s {exclude_channels = array<i64: 5, 5>} : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

func.func @quantize_exclude_scalar(%x: tensor<f32>, %s: tensor<f32>) -> tensor<i8> {
  // expected-error @+1 {{exclude_channels needs rank >= 1}}
  %q = qopt.quantize %x, %s {exclude_channels = array<i64: 0>} : (tensor<f32>, tensor<f32>) -> tensor<i8>
  return %q : tensor<i8>
}

// -----

func.func @dynamic_quantize_exclude_per_tensor(%x: tensor<8x64xf32>) -> tensor<8x64xi8> {
  // expected-error @+1 {{exclude_channels needs per_token quantization}}
  %q, %s, %z = qopt.dynamic_quantize %x per_tensor {is_unsigned, exclude_channels = array<i64: 1>} : tensor<8x64xf32> -> tensor<8x64xi8>, tensor<f32>, tensor<i8>
  return %q : tensor<8x64xi8>
}

// -----

func.func @matmul_outliers_without_channels(%q: tensor<4x16xi8>, %w: tensor<8x16xi8>, %s: tensor<8x1xf32>, %sa: tensor<4x1xf32>,
                                            %x: tensor<4x16xf32>, %wo: tensor<2x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{outliers(input, weights) and outlier_channels come together}}
  %y = qopt.matmul %q, %w scales(%s) input_scale(%sa) outliers(%x, %wo) {k = 16 : i64, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<4x16xi8>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<4x1xf32>, tensor<4x16xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

func.func @matmul_outliers_float_input(%a: tensor<4x16xf32>, %w: tensor<8x16xi8>, %s: tensor<8x1xf32>, %wo: tensor<2x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{an outlier product completes an integer input's f32 result}}
  %y = qopt.matmul %a, %w scales(%s) outliers(%a, %wo) {k = 16 : i64, outlier_channels = array<i64: 3, 9>, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<4x16xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

func.func @matmul_outlier_input_shape(%q: tensor<4x16xi8>, %w: tensor<8x16xi8>, %s: tensor<8x1xf32>, %sa: tensor<4x1xf32>,
                                      %x: tensor<2x16xf32>, %wo: tensor<2x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{outlier input must have the input's shape [4, 16], got 'tensor<2x16xf32>'}}
  %y = qopt.matmul %q, %w scales(%s) input_scale(%sa) outliers(%x, %wo) {k = 16 : i64, outlier_channels = array<i64: 3, 9>, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<4x16xi8>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<4x1xf32>, tensor<2x16xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

func.func @matmul_outlier_channels_empty(%q: tensor<4x16xi8>, %w: tensor<8x16xi8>, %s: tensor<8x1xf32>, %sa: tensor<4x1xf32>,
                                         %x: tensor<4x16xf32>, %wo: tensor<2x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{outlier_channels must not be empty}}
  %y = qopt.matmul %q, %w scales(%s) input_scale(%sa) outliers(%x, %wo) {k = 16 : i64, outlier_channels = array<i64>, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<4x16xi8>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<4x1xf32>, tensor<4x16xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

func.func @matmul_outlier_channel_range(%q: tensor<4x16xi8>, %w: tensor<8x16xi8>, %s: tensor<8x1xf32>, %sa: tensor<4x1xf32>,
                                        %x: tensor<4x16xf32>, %wo: tensor<2x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{outlier_channels holds channel 20, outside [0, 16)}}
  %y = qopt.matmul %q, %w scales(%s) input_scale(%sa) outliers(%x, %wo) {k = 16 : i64, outlier_channels = array<i64: 3, 20>, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<4x16xi8>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<4x1xf32>, tensor<4x16xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

func.func @matmul_outlier_weights_shape(%q: tensor<4x16xi8>, %w: tensor<8x16xi8>, %s: tensor<8x1xf32>, %sa: tensor<4x1xf32>,
                                        %x: tensor<4x16xf32>, %wo: tensor<8x2xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{outlier weights must be [2, 8] (channels x outputs), got 'tensor<8x2xf32>'}}
  %y = qopt.matmul %q, %w scales(%s) input_scale(%sa) outliers(%x, %wo) {k = 16 : i64, outlier_channels = array<i64: 3, 9>, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<4x16xi8>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<4x1xf32>, tensor<4x16xf32>, tensor<8x2xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Every qopt.* discardable attribute is declared: a misspelt one is an error.
// expected-error @+1 {{unknown qopt attribute 'qopt.wokspace_bytes'}}
module attributes {qopt.wokspace_bytes = 64 : i64} {
}

// -----

// expected-error @+1 {{qopt.target must be a #qopt.target attribute}}
module attributes {qopt.target = "x86_64-unknown-linux-gnu"} {
}

// -----

// expected-error @+1 {{qopt.target belongs on a module}}
func.func @target_on_a_function() attributes {qopt.target = #qopt.target<backend = "x86", triple = "x86_64-unknown-linux-gnu", cpu = "znver4">} {
  return
}

// -----

// expected-error @+1 {{qopt.name must be a string}}
func.func @name_not_a_string(%x: tensor<4xf32> {qopt.name = 3 : i64}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{unknown qopt result attribute 'qopt.weights'}}
func.func @weights_on_a_result(%x: tensor<4xf32>) -> (tensor<4xf32> {qopt.weights}) {
  return %x : tensor<4xf32>
}

// -----

func.func @smooth_scales_not_f32(%a: tensor<1x4x2xf32>, %b: tensor<1x2x4xf32>) -> tensor<1x4x4xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{qopt.smooth_scales must be a 1-D f32 dense tensor}}
  %0 = tosa.matmul %a, %b, %z, %z {qopt.smooth_scales = dense<[1.0, 2.0]> : tensor<2xf64>} : (tensor<1x4x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4xf32>
  return %0 : tensor<1x4x4xf32>
}

// -----

func.func @smooth_scales_not_positive(%a: tensor<1x4x2xf32>, %b: tensor<1x2x4xf32>) -> tensor<1x4x4xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{qopt.smooth_scales: every scale must be finite and positive}}
  %0 = tosa.matmul %a, %b, %z, %z {qopt.smooth_scales = dense<[1.0, 0.0]> : tensor<2xf32>} : (tensor<1x4x2xf32>, tensor<1x2x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4xf32>
  return %0 : tensor<1x4x4xf32>
}

// -----

func.func @tile_in_loop_not_a_loop(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{qopt.tile_in_loop must be a unit attribute on an scf.for}}
  %y = tensor.empty() {qopt.tile_in_loop} : tensor<4xf32>
  return %y : tensor<4xf32>
}
