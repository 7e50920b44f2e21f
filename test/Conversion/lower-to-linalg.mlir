// RUN: qopt-opt %s --split-input-file --qopt-lower-to-linalg | FileCheck %s

// Weight-only int4: a dequantization generic reads the packed bytes in place
// (byte k*4/8 of row n, group k/32) and feeds linalg.matmul.
// CHECK-DAG: #[[BYTE:.*]] = affine_map<(d0, d1) -> (d1, (d0 * 4) floordiv 8)>
// CHECK-DAG: #[[GROUP:.*]] = affine_map<(d0, d1) -> (d1, d0 floordiv 32)>
// CHECK-LABEL: func @w4a16
// CHECK: %[[A:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]]
// CHECK: %[[W:.*]] = linalg.generic {indexing_maps = [#[[BYTE]], #[[GROUP]], #{{.*}}]{{.*}} attrs = {qopt.dequantize_weights = 32 : i64}
// CHECK:   arith.shrui
// CHECK:   arith.shli %{{.*}}, %[[C28:.*]] : i32
// CHECK:   arith.shrsi %{{.*}}, %[[C28]] : i32
// CHECK:   arith.sitofp
// CHECK:   arith.mulf
// CHECK: -> tensor<64x32xf32>
// CHECK: linalg.matmul ins(%[[A]], %[[W]] : tensor<8x64xf32>, tensor<64x32xf32>)
// CHECK: tensor.expand_shape
func.func @w4a16(%a: tensor<1x8x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<1x8x32xf32> {
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<1x8x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<1x8x32xf32>
  return %0 : tensor<1x8x32xf32>
}

// -----

// 3-bit values straddle bytes: two reads, and asymmetric zero points.
// CHECK-DAG: #[[B0:.*]] = affine_map<(d0, d1) -> (d1, (d0 * 3) floordiv 8)>
// CHECK-DAG: #[[B1:.*]] = affine_map<(d0, d1) -> (d1, (d0 * 3) floordiv 8 + 1)>
// CHECK-LABEL: func @w3a16_asym
// CHECK: linalg.generic {indexing_maps = [#[[B0]], #[[B1]],
// CHECK:   arith.ori
// CHECK:   arith.andi %{{.*}}, %{{.*}} : i32
// CHECK:   arith.subi
// CHECK: linalg.matmul
func.func @w3a16_asym(%a: tensor<8x128xf32>, %w: tensor<16x49xi8>, %s: tensor<16x2xf32>, %z: tensor<16x2xi8>) -> tensor<8x16xf32> {
  %0 = qopt.matmul %a, %w scales(%s) zero_points(%z) {k = 128 : i64, scheme = #qopt.scheme<uint3, group 64, asym>}
       : (tensor<8x128xf32>, tensor<16x49xi8>, tensor<16x2xf32>, tensor<16x2xi8>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// Float (HQQ-style) zero points are subtracted in float.
// CHECK-LABEL: func @w4a16_float_zero_points
// CHECK: linalg.generic
// CHECK:   %[[F:.*]] = arith.sitofp %{{.*}} : i32 to f32
// CHECK:   %[[D:.*]] = arith.subf %[[F]], %{{.*}} : f32
// CHECK:   arith.mulf %[[D]], %{{.*}} : f32
func.func @w4a16_float_zero_points(%a: tensor<8x64xf32>, %w: tensor<16x32xi8>, %s: tensor<16x2xf32>, %z: tensor<16x2xf32>) -> tensor<8x16xf32> {
  %0 = qopt.matmul %a, %w scales(%s) zero_points(%z) {k = 64 : i64, scheme = #qopt.scheme<uint4, group 32, asym>}
       : (tensor<8x64xf32>, tensor<16x32xi8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// FP8 E4M3 bytes are decoded with integer ops: normal values get the f32
// exponent exp + 120, subnormals are mant * 2^-9.
// CHECK-LABEL: func @fp8
// CHECK: linalg.generic
// CHECK:   arith.constant 120 : i32
// CHECK:   arith.bitcast %{{.*}} : i32 to f32
// CHECK:   arith.constant 0.001953125 : f32
// CHECK:   arith.select
// CHECK:   arith.negf
// CHECK: linalg.matmul
func.func @fp8(%a: tensor<8x64xf32>, %w: tensor<16x64xi8>, %s: tensor<16x1xf32>) -> tensor<8x16xf32> {
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<fp8_e4m3, per_channel, sym>}
       : (tensor<8x64xf32>, tensor<16x64xi8>, tensor<16x1xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// NF4 codes index the level table.
// CHECK-LABEL: func @nf4
// CHECK: %[[LEVELS:.*]] = arith.constant dense<[-1.000000e+00, {{.*}}, 1.000000e+00]> : tensor<16xf32>
// CHECK: linalg.generic
// CHECK:   tensor.extract %[[LEVELS]]
// CHECK: linalg.matmul
func.func @nf4(%a: tensor<8x128xf32>, %w: tensor<16x64xi8>, %s: tensor<16x2xf32>) -> tensor<8x16xf32> {
  %0 = qopt.matmul %a, %w scales(%s) {k = 128 : i64, scheme = #qopt.scheme<nf4, group 64>}
       : (tensor<8x128xf32>, tensor<16x64xi8>, tensor<16x2xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// W8A8 dynamic: per-row absmax, scale, codes in [-127, 127]; an i32
// product of the signed codes (the named transposed-B matmul, whose operands
// linalg sign-extends); float(acc) * (sa * sw).
// CHECK-LABEL: func @w8a8_dynamic
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK:   math.absf
// CHECK:   arith.maximumf
// CHECK: arith.constant 1.270000e+02
// CHECK: math.roundeven
// CHECK: arith.constant -1.270000e+02
// CHECK: %[[ACC:.*]] = linalg.matmul indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}] ins(%{{.*}}, %arg1 : tensor<8x128xi8>, tensor<16x128xi8>) outs(%{{.*}} : tensor<8x16xi32>)
// CHECK: linalg.generic {{.*}} ins(%[[ACC]],
// CHECK:   arith.sitofp
// CHECK:   %[[S:.*]] = arith.mulf
// CHECK:   arith.mulf %{{.*}}, %[[S]]
func.func @w8a8_dynamic(%x: tensor<8x128xf32>, %w8: tensor<16x128xi8>, %s8: tensor<16x1xf32>) -> tensor<8x16xf32> {
  %q, %s, %z = qopt.dynamic_quantize %x per_token : tensor<8x128xf32> -> tensor<8x128xi8>, tensor<8x1xf32>, tensor<8x1xi8>
  %0 = qopt.matmul %q, %w8 scales(%s8) input_scale(%s) {k = 128 : i64, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<8x128xi8>, tensor<16x128xi8>, tensor<16x1xf32>, tensor<8x1xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// Static quantize / dequantize with unsigned codes and a zero point.
// CHECK-LABEL: func @quantize_static
// CHECK: linalg.generic
// CHECK:   arith.extui
// CHECK:   arith.divf
// CHECK:   math.roundeven
// CHECK:   arith.addf
// CHECK:   arith.constant 0.000000e+00
// CHECK:   arith.constant 2.550000e+02
// CHECK: linalg.generic
// CHECK:   arith.extui
// CHECK:   arith.subi
// CHECK:   arith.sitofp
// CHECK:   arith.mulf
// CHECK-NOT: qopt.
func.func @quantize_static(%x: tensor<4x16xf32>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<4x16xf32> {
  %q = qopt.quantize %x, %s, %z {is_unsigned} : (tensor<4x16xf32>, tensor<f32>, tensor<i8>) -> tensor<4x16xi8>
  %d = qopt.dequantize %q, %s, %z {is_unsigned} : (tensor<4x16xi8>, tensor<f32>, tensor<i8>) -> tensor<4x16xf32>
  return %d : tensor<4x16xf32>
}

// -----

// Convolution pads with the input zero point.
// CHECK-LABEL: func @conv
// CHECK: %[[Z:.*]] = tensor.extract %{{.*}}[] : tensor<i8>
// CHECK: tensor.pad
// CHECK:   tensor.yield %[[Z]] : i8
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2], [3], [4]] : tensor<1x1x4x8x8xi32> into tensor<1x4x8x8xi32>
func.func @conv(%x: tensor<1x3x8x8xi8>, %w: tensor<4x3x3x3xi8>, %zw: tensor<1xi8>, %zx: tensor<i8>) -> tensor<1x4x8x8xi32> {
  %y = qopt.conv2d %x, %w zero_points(%zw) input_zero_point(%zx)
         {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64}
         : (tensor<1x3x8x8xi8>, tensor<4x3x3x3xi8>, tensor<1xi8>, tensor<i8>) -> tensor<1x4x8x8xi32>
  return %y : tensor<1x4x8x8xi32>
}

// -----

// CHECK-LABEL: func @embedding
// CHECK: linalg.generic
// CHECK:   arith.maxsi
// CHECK:   arith.minsi
// CHECK:   tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<512x32xi8>
// CHECK:   tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<512x2xf32>
func.func @embedding(%t: tensor<512x32xi8>, %ids: tensor<1x8xi32>, %s: tensor<512x2xf32>) -> tensor<1x8x64xf32> {
  %e = qopt.embedding %t[%ids] scales(%s) {dim = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<512x32xi8>, tensor<1x8xi32>, tensor<512x2xf32>) -> tensor<1x8x64xf32>
  return %e : tensor<1x8x64xf32>
}

// -----

// CHECK-LABEL: func @observe
// CHECK-NEXT: return %arg0
func.func @observe(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = qopt.observe %x {id = "a"} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// With zero points (ONNX MatMulInteger) the product subtracts them in one
// contraction generic.
// CHECK-LABEL: func @integer_with_zero_points
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:   arith.extui
// CHECK:   arith.subi
// CHECK:   arith.muli
// CHECK:   arith.addi
func.func @integer_with_zero_points(%a: tensor<8x128xi8>, %w: tensor<16x128xi8>, %zw: tensor<1x1xi8>, %za: tensor<i8>) -> tensor<8x16xi32> {
  %0 = qopt.matmul %a, %w zero_points(%zw) input_zero_point(%za) {input_unsigned, k = 128 : i64, scheme = #qopt.scheme<uint8, per_tensor, asym>}
       : (tensor<8x128xi8>, tensor<16x128xi8>, tensor<1x1xi8>, tensor<i8>) -> tensor<8x16xi32>
  return %0 : tensor<8x16xi32>
}

// -----

// Unsigned input codes with a zero point and symmetric weights (W8A8's
// dynamic per-tensor form, ONNX MatMulInteger without a weight zero point):
// the codes shifted to signed by xor 0x80, the named signed product, the
// weight row sums, and acc = P - (za - 128) * wsum.
// CHECK-LABEL: func @unsigned_input_zero_point
// CHECK-SAME: %[[A:.*]]: tensor<8x128xi8>, %[[W:.*]]: tensor<16x128xi8>, %[[ZA:.*]]: tensor<i8>
// CHECK: %[[S:[0-9a-z_]+]] = linalg.generic {{.*}}ins(%[[A]] : tensor<8x128xi8>)
// CHECK:   arith.xori
// CHECK: %[[P:[0-9a-z_]+]] = linalg.matmul {{.*}}ins(%[[S]], %[[W]] : tensor<8x128xi8>, tensor<16x128xi8>)
// CHECK: %[[WS:[0-9a-z_]+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}}ins(%[[W]] : tensor<16x128xi8>)
// CHECK: linalg.generic {{.*}}ins(%[[P]], %[[ZA]], %[[WS]] : tensor<8x16xi32>, tensor<i8>, tensor<16xi32>)
// CHECK:   arith.extui
// CHECK:   arith.subi
// CHECK:   arith.muli
// CHECK:   arith.subi
func.func @unsigned_input_zero_point(%a: tensor<8x128xi8>, %w: tensor<16x128xi8>, %za: tensor<i8>) -> tensor<8x16xi32> {
  %0 = qopt.matmul %a, %w input_zero_point(%za) {input_unsigned, k = 128 : i64, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<8x128xi8>, tensor<16x128xi8>, tensor<i8>) -> tensor<8x16xi32>
  return %0 : tensor<8x16xi32>
}

// -----

// W4A8 (asymmetric, k = 100 padded to 4 groups of 32): zero-padded codes in
// group-major order, the packed nibbles unpacked to i8 [g, n, j], an i32
// partial sum per group (a named contraction), the zero points as
// P - zw * sum(a), then acc = fma(sw, float(P'), acc) over g and sa * acc.
// CHECK-DAG: #[[UNPACK:.*]] = affine_map<(d0, d1, d2) -> (d1, ((d0 * 32 + d2) * 4) floordiv 8)>
// CHECK-DAG: #[[PGMN:.*]] = affine_map<(d0, d1, d2) -> (d1, d0, d2)>
// CHECK-DAG: #[[NG:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-LABEL: func @w4a8_asym
// CHECK: %[[PAD:.*]] = tensor.pad %{{.*}} low[0, 0] high[0, 28]
// CHECK: %[[A3:.*]] = tensor.expand_shape %[[PAD]] {{\[\[}}0], [1, 2]] output_shape [8, 4, 32] : tensor<8x128xi8> into tensor<8x4x32xi8>
// CHECK: %[[AT:.*]] = linalg.transpose ins(%[[A3]] : tensor<8x4x32xi8>) outs(%{{.*}} : tensor<4x8x32xi8>) permutation = [1, 0, 2]
// The rows hold 100 codes (50 bytes); the unpacking runs over whole groups,
// so they are padded with zero bytes to 64 (codes the zero input padding
// makes worth nothing).
// CHECK: %[[WP:.*]] = tensor.pad %arg1 low[0, 0] high[0, 14]
// CHECK: %[[W:.*]] = linalg.generic {indexing_maps = [#[[UNPACK]], #{{.*}}]{{.*}} ins(%[[WP]] : tensor<16x64xi8>) {{.*}} attrs = {qopt.dequantize_weights = 32 : i64}
// CHECK:   arith.shrui
// CHECK:   arith.andi %{{.*}}, %{{.*}} : i32
// CHECK:   arith.trunci %{{.*}} : i32 to i8
// CHECK: -> tensor<4x16x32xi8>
// CHECK: %[[P:.*]] = linalg.contract {{.*}} ins(%[[AT]], %[[W]] : tensor<4x8x32xi8>, tensor<4x16x32xi8>) outs(%{{.*}} : tensor<4x8x16xi32>)
// CHECK: %[[SUMA:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[A3]] : tensor<8x4x32xi8>)
// CHECK: %[[ACC:.*]] = linalg.generic {indexing_maps = [#[[PGMN]], #[[NG]], #[[NG]], #{{.*}}, #{{.*}}], iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[P]], %arg2, %arg3, %[[SUMA]] :
// CHECK:   %[[Z:.*]] = arith.extui %{{.*}} : i8 to i32
// CHECK:   %[[ZA:.*]] = arith.muli %[[Z]], %{{.*}} : i32
// CHECK:   %[[D:.*]] = arith.subi %{{.*}}, %[[ZA]] : i32
// CHECK:   %[[F:.*]] = arith.sitofp %[[D]] : i32 to f32
// CHECK:   math.fma %{{.*}}, %[[F]], %{{.*}} : f32
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[ACC]] : tensor<8xf32>, tensor<8x16xf32>)
// CHECK:   arith.mulf
func.func @w4a8_asym(%x: tensor<8x100xf32>, %w: tensor<16x50xi8>, %s: tensor<16x4xf32>, %z: tensor<16x4xi8>) -> tensor<8x16xf32> {
  %q, %sa, %za = qopt.dynamic_quantize %x per_token : tensor<8x100xf32> -> tensor<8x100xi8>, tensor<8x1xf32>, tensor<8x1xi8>
  %0 = qopt.matmul %q, %w scales(%s) zero_points(%z) input_scale(%sa) {k = 100 : i64, scheme = #qopt.scheme<uint4, group 32, asym>}
       : (tensor<8x100xi8>, tensor<16x50xi8>, tensor<16x4xf32>, tensor<16x4xi8>, tensor<8x1xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

// W4A8 symmetric with a static scale: no padding, no zero-point terms; the
// int4 codes sign-extend.
// CHECK-LABEL: func @w4a8_static
// CHECK-NOT: tensor.pad
// CHECK: linalg.generic {{.*}}qopt.dequantize_weights = 32 : i64
// CHECK:   arith.shli %{{.*}}, %[[C28:.*]] : i32
// CHECK:   arith.shrsi %{{.*}}, %[[C28]] : i32
// CHECK: linalg.contract
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel"]} ins(%{{.*}}, %arg2 : tensor<2x4x8xi32>, tensor<8x2xf32>)
// CHECK-NOT: arith.subi
// CHECK:   math.fma
// CHECK: linalg.generic {{.*}} ins(%arg3, %{{.*}} : tensor<f32>, tensor<4x8xf32>)
func.func @w4a8_static(%q: tensor<4x64xi8>, %w: tensor<8x32xi8>, %s: tensor<8x2xf32>, %sa: tensor<f32>) -> tensor<4x8xf32> {
  %0 = qopt.matmul %q, %w scales(%s) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<4x64xi8>, tensor<8x32xi8>, tensor<8x2xf32>, tensor<f32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// LLM.int8 decomposition. Both per-token generics read an i8 channel mask
// through a last-dim map and take excluded channels as 0 (no masked copy of
// x); the outlier product is an fma chain over (m, j, n) that accumulates
// into the integer part's result and reads x[m, c_j] in place through the
// channel table.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[LAST:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[MN:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[JN:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-LABEL: func @outlier_decomposition
// CHECK: %[[MASK:.*]] = arith.constant dense<[0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]> : tensor<16xi8>
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[LAST]], #[[ROW]]], iterator_types = ["parallel", "reduction"]} ins(%arg0, %[[MASK]] : tensor<4x16xf32>, tensor<16xi8>)
// CHECK:   %[[EX:.*]] = arith.cmpi ne
// CHECK:   %[[V:.*]] = arith.select %[[EX]], %{{.*}}, %{{.*}} : f32
// CHECK:   math.absf %[[V]]
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[LAST]], #[[ID]]], {{.*}} ins(%arg0, %{{.*}}, %[[MASK]] : tensor<4x16xf32>, tensor<4xf32>, tensor<16xi8>)
// CHECK:   %[[V:.*]] = arith.select
// CHECK:   arith.divf %[[V]]
// CHECK: %[[INT:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %arg2 : tensor<4x8xi32>, tensor<4xf32>, tensor<8x1xf32>)
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1]] : tensor<4x16xf32> into tensor<64xf32>
// CHECK: %[[TABLE:.*]] = arith.constant dense<[3, 9]> : tensor<2xi64>
// CHECK: linalg.generic {indexing_maps = [#[[JN]], #[[MN]]], iterator_types = ["parallel", "reduction", "parallel"]} ins(%arg3 : tensor<2x8xf32>) outs(%[[INT]] : tensor<4x8xf32>)
// CHECK:   %[[M:.*]] = linalg.index 0
// CHECK:   %[[J:.*]] = linalg.index 1
// CHECK:   %[[C:.*]] = tensor.extract %[[TABLE]][%[[J]]]
// CHECK:   %[[CI:.*]] = arith.index_cast %[[C]]
// CHECK:   %[[ROWSTART:.*]] = arith.muli %[[M]], %c16
// CHECK:   %[[POS:.*]] = arith.addi %[[ROWSTART]], %[[CI]]
// CHECK:   %[[X:.*]] = tensor.extract %[[FLAT]][%[[POS]]]
// CHECK:   math.fma %[[X]], %{{.*}}, %{{.*}} : f32
func.func @outlier_decomposition(%x: tensor<4x16xf32>, %w: tensor<8x16xi8>, %s: tensor<8x1xf32>, %wo: tensor<2x8xf32>) -> tensor<4x8xf32> {
  %q, %sa, %za = qopt.dynamic_quantize %x per_token {exclude_channels = array<i64: 3, 9>}
      : tensor<4x16xf32> -> tensor<4x16xi8>, tensor<4x1xf32>, tensor<4x1xi8>
  %y = qopt.matmul %q, %w scales(%s) input_scale(%sa) outliers(%x, %wo)
       {k = 16 : i64, outlier_channels = array<i64: 3, 9>, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<4x16xi8>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<4x1xf32>, tensor<4x16xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Static quantization with excluded channels: they quantize 0, i.e. get
// the zero point.
// CHECK-DAG: #[[LAST:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func @quantize_exclude
// CHECK: %[[MASK:.*]] = arith.constant dense<[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]> : tensor<16xi8>
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}, #[[LAST]], #{{.*}}], {{.*}} ins(%arg0, %arg1, %arg2, %[[MASK]] : tensor<4x16xf32>, tensor<f32>, tensor<i8>, tensor<16xi8>)
// CHECK:   %[[EX:.*]] = arith.cmpi ne
// CHECK:   %[[V:.*]] = arith.select %[[EX]], %{{.*}}, %{{.*}} : f32
// CHECK:   arith.divf %[[V]], %{{.*}}
// CHECK:   arith.addf
func.func @quantize_exclude(%x: tensor<4x16xf32>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<4x16xi8> {
  %q = qopt.quantize %x, %s, %z {exclude_channels = array<i64: 0, 15>} : (tensor<4x16xf32>, tensor<f32>, tensor<i8>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}
