// RUN: qopt-opt %s --qopt-x86-weight-only-matmul --split-input-file | FileCheck %s
// RUN: qopt-opt %s --qopt-x86-weight-only-matmul=vector-width=8 --split-input-file | FileCheck %s --check-prefix=YMM
// RUN: not qopt-opt %s --qopt-x86-weight-only-matmul=vector-width=4 --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: qopt-x86-weight-only-matmul: vector-width must be 8 or 16

// W4A16, group 32, symmetric: the codes repacked at compile time into
// [super-blocks of V x 16 columns][32 steps of 2 codes][V x 16 bytes] (N = 20
// fits one narrower super-block of 2 vectors: 32 columns), the scales into
// [super-block][group][32] (the signed codes are stored as code + 8, and
// without zero points every lane subtracts that same 8: a constant vector,
// no table). One 4-row block and the leftover row, a loop over groups
// loading 2 scale vectors, a loop over the group's 16 steps that loads 2
// byte vectors and widens them; per nibble a table lookup (vpermps: the low
// 4 bits of each lane index float(code)) and the scale in registers, then
// one fma per row and vector. No dequantized weight tensor is left. With
// 8-lane vectors (AVX2, no 16-entry lookup; super-blocks of 2 x 8 columns:
// one whole and one of a vector) the nibble is masked, the zero point
// subtracted in i32 and converted.
// CHECK-LABEL: func.func private @__qopt_x86_vpermps_512(vector<16xf32>, vector<16xi32>) -> vector<16xf32>
// CHECK-LABEL: func.func @w4_group(
// CHECK-DAG: %[[CODES:.*]] = arith.constant dense_resource<{{.*}}> : tensor<1x32x32xi8>
// CHECK-DAG: %[[SCALES:.*]] = arith.constant dense<{{.*}}> : tensor<1x2x32xf32>
// CHECK-DAG: %[[LEVELS:.*]] = arith.constant dense<[-8.000000e+00, -7.000000e+00, {{.*}}, 6.000000e+00, 7.000000e+00]> : vector<16xf32>
// CHECK: scf.for {{.*}} -> (tensor<5x32xf32>)
// CHECK: scf.for {{.*}} -> (vector<16xf32>,
// CHECK-COUNT-2: vector.transfer_read %[[SCALES]]
// CHECK: scf.for
// CHECK-COUNT-2: vector.transfer_read %[[CODES]]{{.*}} : tensor<1x32x32xi8>, vector<16xi8>
// CHECK-NOT: arith.sitofp
// CHECK: %[[F:.*]] = func.call @__qopt_x86_vpermps_512(%[[LEVELS]], %{{.*}})
// CHECK: arith.mulf %[[F]], %{{.*}} : vector<16xf32>
// CHECK: arith.shrui %{{.*}} : vector<16xi32>
// CHECK: math.fma %{{.*}} : vector<16xf32>
// CHECK: vector.transfer_write
// CHECK-NOT: qopt.matmul
// CHECK-NOT: tensor<64x20xf32>
// YMM-LABEL: func.func @w4_group(
// YMM-DAG: arith.constant {{dense|dense_resource}}<{{.*}}> : tensor<1x32x16xi8>
// YMM-DAG: arith.constant {{dense|dense_resource}}<{{.*}}> : tensor<1x32x8xi8>
// YMM-NOT: x16xi32>
// YMM: %[[OFFSET:.*]] = arith.constant dense<8> : vector<8xi32>
// YMM-NOT: x16xi32>
// YMM: vector.transfer_read {{.*}} : tensor<1x32x16xi8>, vector<8xi8>
// YMM: arith.andi %{{.*}} : vector<8xi32>
// YMM: arith.subi %{{.*}}, %[[OFFSET]] : vector<8xi32>
// YMM: arith.sitofp %{{.*}} : vector<8xi32> to vector<8xf32>
// YMM: arith.mulf %{{.*}} : vector<8xf32>
// YMM: math.fma %{{.*}} : vector<8xf32>
// YMM: vector.transfer_read {{.*}} : tensor<1x32x8xi8>, vector<8xi8>
// YMM-NOT: vpermps
func.func @w4_group(%a: tensor<5x64xf32>) -> tensor<5x20xf32> {
  %w = arith.constant dense<17> : tensor<20x32xi8>
  %s = arith.constant dense<0.5> : tensor<20x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<5x64xf32>, tensor<20x32xi8>, tensor<20x2xf32>) -> tensor<5x20xf32>
  return %0 : tensor<5x20xf32>
}

// -----

// f16 scales stay f16 in the kernel's table (half its bytes) and widen in
// registers; asymmetric codes' integer zero points go into a byte table,
// widened like the codes, never an i32 one.
// CHECK-LABEL: func.func @w4_half_scales_asym(
// CHECK-DAG: %[[HS:.*]] = arith.constant dense<{{.*}}> : tensor<1x2x32xf16>
// CHECK-DAG: %[[HZ:.*]] = arith.constant dense<{{.*}}> : tensor<1x2x32xi8>
// CHECK-NOT: tensor<1x2x32xi32>
// CHECK-NOT: tensor<1x2x32xf32>
// CHECK: %[[H:.*]] = vector.transfer_read %[[HS]]{{.*}} : tensor<1x2x32xf16>, vector<16xf16>
// CHECK: arith.extf %[[H]] : vector<16xf16> to vector<16xf32>
// CHECK: %[[Z:.*]] = vector.transfer_read %[[HZ]]{{.*}} : tensor<1x2x32xi8>, vector<16xi8>
// CHECK: arith.extui %[[Z]] : vector<16xi8> to vector<16xi32>
// CHECK: arith.subi
// CHECK: math.fma
// YMM-LABEL: func.func @w4_half_scales_asym(
// YMM: vector.transfer_read {{.*}} : tensor<1x2x16xf16>, vector<8xf16>
// YMM: arith.extf {{.*}} : vector<8xf16> to vector<8xf32>
func.func @w4_half_scales_asym(%a: tensor<3x64xf32>) -> tensor<3x20xf32> {
  %w = arith.constant dense<35> : tensor<20x32xi8>
  %s = arith.constant dense<0.5> : tensor<20x2xf16>
  %z = arith.constant dense<7> : tensor<20x2xi8>
  %0 = qopt.matmul %a, %w scales(%s) zero_points(%z) {k = 64 : i64, scheme = #qopt.scheme<uint4, group 32, asym>}
       : (tensor<3x64xf32>, tensor<20x32xi8>, tensor<20x2xf16>, tensor<20x2xi8>) -> tensor<3x20xf32>
  return %0 : tensor<3x20xf32>
}

// -----

// W8A16 with float zero points (HQQ-style): one code per byte, the code
// (stored + 128) shifted back in i32, then (float(code) - z) * s as the
// reference lowering does.
// CHECK-LABEL: func.func @w8_float_zero(
// CHECK: arith.constant dense<{{.*}}> : tensor<1x1x16xf32>
// CHECK: arith.constant dense<{{.*}}> : tensor<1x1x16xf32>
// CHECK: vector.transfer_read {{.*}} : tensor<1x8x16xi8>, vector<16xi8>
// CHECK-NOT: arith.andi
// CHECK: arith.constant dense<128> : vector<16xi32>
// CHECK: arith.subi
// CHECK: arith.sitofp
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: math.fma
func.func @w8_float_zero(%a: tensor<1x8xf32>) -> tensor<1x3xf32> {
  %w = arith.constant dense<[[1, 2, 3, 4, 5, 6, 7, 8], [-1, -2, -3, -4, -5, -6, -7, -8], [127, -128, 0, 1, 2, 3, 4, 5]]> : tensor<3x8xi8>
  %s = arith.constant dense<[[0.5], [0.25], [1.0]]> : tensor<3x1xf32>
  %z = arith.constant dense<[[0.5], [1.5], [-2.0]]> : tensor<3x1xf32>
  %0 = qopt.matmul %a, %w scales(%s) zero_points(%z) {k = 8 : i64, scheme = #qopt.scheme<int8, per_channel, asym>}
       : (tensor<1x8xf32>, tensor<3x8xi8>, tensor<3x1xf32>, tensor<3x1xf32>) -> tensor<1x3xf32>
  return %0 : tensor<1x3xf32>
}

// -----

// N = 80 and K = 99 at groups of 32: one whole super-block of 64 columns
// (a loop over super-blocks would run once: none) and one of a vector (16
// columns), each with its own tables; rows of 99 codes in 50 bytes, the
// last group 3 codes short: 50 steps, not 64, the input padded by one zero
// to the codes the steps hold, and each group's step loop stopping at the
// last step.
// CHECK-LABEL: func.func @w4_panels(
// CHECK-DAG: %[[C64:.*]] = arith.constant dense_resource<{{.*}}> : tensor<1x50x64xi8>
// CHECK-DAG: %[[C16:.*]] = arith.constant {{dense|dense_resource}}<{{.*}}> : tensor<1x50x16xi8>
// CHECK-DAG: arith.constant {{dense|dense_resource}}<{{.*}}> : tensor<1x4x64xf32>
// CHECK-DAG: arith.constant {{dense|dense_resource}}<{{.*}}> : tensor<1x4x16xf32>
// CHECK: tensor.pad %{{.*}} low[0, 0] high[0, 1]
// CHECK: %[[LAST:.*]] = arith.constant 50 : index
// CHECK: arith.minui %{{.*}}, %[[LAST]] : index
// CHECK: vector.transfer_read %[[C64]]
// CHECK: arith.minui
// CHECK: vector.transfer_read %[[C16]]
// CHECK-NOT: tensor.extract_slice
func.func @w4_panels(%a: tensor<2x99xf32>) -> tensor<2x80xf32> {
  %w = arith.constant dense<17> : tensor<80x50xi8>
  %s = arith.constant dense<0.5> : tensor<80x4xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 99 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<2x99xf32>, tensor<80x50xi8>, tensor<80x4xf32>) -> tensor<2x80xf32>
  return %0 : tensor<2x80xf32>
}

// -----

// NF4: the same table path with NF4's 16 levels: on zmm one vpermps; on
// ymm two 8-entry ones (levels 0-7 and 8-15), bit 3 of the nibble picking
// the upper table's value.
// CHECK-LABEL: func.func @nf4(
// CHECK: %[[NF4:.*]] = arith.constant dense<[-1.000000e+00, -0.6961928, {{.*}}, 1.000000e+00]> : vector<16xf32>
// CHECK: %[[L:.*]] = func.call @__qopt_x86_vpermps_512(%[[NF4]], %{{.*}})
// CHECK: arith.mulf %[[L]]
// CHECK: arith.shrui
// CHECK: func.call @__qopt_x86_vpermps_512(%[[NF4]], %{{.*}})
// CHECK-NOT: qopt.matmul
// YMM-LABEL: func.func private @__qopt_x86_vpermps_256(vector<8xf32>, vector<8xi32>) -> vector<8xf32>
// YMM-LABEL: func.func @nf4(
// YMM-DAG: %[[LO:.*]] = arith.constant dense<[-1.000000e+00, {{.*}}, 0.000000e+00]> : vector<8xf32>
// YMM-DAG: %[[HI:.*]] = arith.constant dense<[0.0795802995, {{.*}}, 1.000000e+00]> : vector<8xf32>
// YMM-DAG: %[[BIT3:.*]] = arith.constant dense<8> : vector<8xi32>
// YMM: %[[U:.*]] = arith.extui
// YMM: %[[A:.*]] = func.call @__qopt_x86_vpermps_256(%[[LO]], %[[U]])
// YMM: %[[BIT:.*]] = arith.andi %[[U]], %[[BIT3]]
// YMM: %[[UPPER:.*]] = arith.cmpi ne, %[[BIT]]
// YMM: %[[B:.*]] = func.call @__qopt_x86_vpermps_256(%[[HI]], %[[U]])
// YMM: %[[V:.*]] = arith.select %[[UPPER]], %[[B]], %[[A]]
// YMM: arith.mulf %[[V]]
// YMM-NOT: qopt.matmul
func.func @nf4(%a: tensor<2x64xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<17> : tensor<4x32xi8>
  %s = arith.constant dense<0.5> : tensor<4x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<nf4, group 32, sym>}
       : (tensor<2x64xf32>, tensor<4x32xi8>, tensor<4x2xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// FP8 E4M3: each widened byte decoded in registers as the reference
// lowering decodes it (normal: exponent + 120 and the mantissa shifted
// into an f32's bits; subnormal: mantissa * 2^-9; then the sign), times
// the scale.
// CHECK-LABEL: func.func @fp8(
// CHECK: %[[U:.*]] = arith.extui {{.*}} : vector<16xi8> to vector<16xi32>
// CHECK: %[[SIGN:.*]] = arith.shrui %[[U]]
// CHECK: arith.shrui %[[U]]
// CHECK: %[[EXP:.*]] = arith.andi
// CHECK: %[[MANT:.*]] = arith.andi %[[U]]
// CHECK: arith.addi %[[EXP]]
// CHECK: arith.shli
// CHECK: arith.shli %[[MANT]]
// CHECK: arith.ori
// CHECK: %[[NORMAL:.*]] = vector.bitcast {{.*}} : vector<16xi32> to vector<16xf32>
// CHECK: arith.sitofp %[[MANT]]
// CHECK: %[[SUB:.*]] = arith.mulf
// CHECK: %[[ISSUB:.*]] = arith.cmpi eq, %[[EXP]]
// CHECK: %[[MAG:.*]] = arith.select %[[ISSUB]], %[[SUB]], %[[NORMAL]]
// CHECK: arith.cmpi ne, %[[SIGN]]
// CHECK: arith.negf %[[MAG]]
// CHECK: arith.select
// CHECK: arith.mulf
// CHECK: math.fma
// CHECK-NOT: qopt.matmul
// YMM-LABEL: func.func @fp8(
// YMM: arith.extui {{.*}} : vector<8xi8> to vector<8xi32>
// YMM: arith.negf
// YMM-NOT: qopt.matmul
func.func @fp8(%a: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<[[0, 1, 7, 8, 56, 126, -128, -2], [1, 1, 1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2, 2, 2], [3, 3, 3, 3, 3, 3, 3, 3]]> : tensor<4x8xi8>
  %s = arith.constant dense<0.5> : tensor<4x1xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 8 : i64, scheme = #qopt.scheme<fp8_e4m3, per_channel, sym>}
       : (tensor<2x8xf32>, tensor<4x8xi8>, tensor<4x1xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// 2-bit codes: four per byte, each shifted down by 2 h bits and masked
// (all but the top one), minus the offset 2, converted and scaled.
// CHECK-LABEL: func.func @two_bit(
// CHECK-DAG: %[[MASK:.*]] = arith.constant dense<3> : vector<16xi32>
// CHECK-DAG: %[[OFF:.*]] = arith.constant dense<2> : vector<16xi32>
// CHECK: %[[U:.*]] = arith.extui
// CHECK: arith.andi %[[U]], %[[MASK]]
// CHECK: arith.subi %{{.*}}, %[[OFF]]
// CHECK: arith.shrui %[[U]], %{{.*}}
// CHECK: arith.andi %{{.*}}, %[[MASK]]
// CHECK: arith.shrui %[[U]], %{{.*}}
// CHECK: arith.andi %{{.*}}, %[[MASK]]
// CHECK: %[[TOP:.*]] = arith.shrui %[[U]], %{{.*}}
// CHECK-NOT: arith.andi
// CHECK: arith.subi %[[TOP]], %[[OFF]]
// CHECK-NOT: qopt.matmul
// YMM-LABEL: func.func @two_bit(
// YMM: arith.sitofp {{.*}} : vector<8xi32> to vector<8xf32>
// YMM-NOT: qopt.matmul
func.func @two_bit(%a: tensor<2x64xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<27> : tensor<4x16xi8>
  %s = arith.constant dense<0.5> : tensor<4x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int2, group 32, sym>}
       : (tensor<2x64xf32>, tensor<4x16xi8>, tensor<4x2xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// Weights that are not constants, 3-bit codes and integer inputs keep
// their lowerings.
// YMM-LABEL: func.func @not_constant(
// CHECK-LABEL: func.func @not_constant(
// CHECK: qopt.matmul
// CHECK-LABEL: func.func @three_bit(
// CHECK: qopt.matmul
func.func @not_constant(%a: tensor<2x64xf32>, %w: tensor<4x32xi8>) -> tensor<2x4xf32> {
  %s = arith.constant dense<1.0> : tensor<4x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<2x64xf32>, tensor<4x32xi8>, tensor<4x2xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
func.func @three_bit(%a: tensor<2x64xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<1> : tensor<4x25xi8>
  %s = arith.constant dense<1.0> : tensor<4x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int3, group 32, sym>}
       : (tensor<2x64xf32>, tensor<4x25xi8>, tensor<4x2xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
