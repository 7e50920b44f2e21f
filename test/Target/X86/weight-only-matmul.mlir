// RUN: qopt-opt %s --qopt-x86-weight-only-matmul --split-input-file | FileCheck %s
// RUN: qopt-opt %s --qopt-x86-weight-only-matmul=vector-width=8 --split-input-file | FileCheck %s --check-prefix=YMM
// RUN: qopt-opt %s --qopt-x86-weight-only-matmul=f16c=false --split-input-file | FileCheck %s --check-prefix=NOF16C
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
  %z = arith.constant dense<[[7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [7, 3], [2, 9]]> : tensor<20x2xi8>
  %0 = qopt.matmul %a, %w scales(%s) zero_points(%z) {k = 64 : i64, scheme = #qopt.scheme<uint4, group 32, asym>}
       : (tensor<3x64xf32>, tensor<20x32xi8>, tensor<20x2xf16>, tensor<20x2xi8>) -> tensor<3x20xf32>
  return %0 : tensor<3x20xf32>
}

// -----

// W8A16 with float zero points (HQQ-style): one code per byte, the code
// (stored + 128) shifted back in i32, then float(code) - z as the
// reference lowering does. M = 1: a one-row block sums x * (float(code) -
// z) over the group and multiplies by the scale once per group, in an fma
// with the accumulator.
// CHECK-LABEL: func.func @w8_float_zero(
// CHECK: arith.constant dense<{{.*}}> : tensor<1x1x16xf32>
// CHECK: arith.constant dense<{{.*}}> : tensor<1x1x16xf32>
// CHECK: scf.for {{.*}} -> (vector<16xf32>)
// CHECK: %[[S:.*]] = vector.transfer_read {{.*}} : tensor<1x1x16xf32>, vector<16xf32>
// CHECK: scf.for {{.*}} -> (vector<16xf32>)
// CHECK: vector.transfer_read {{.*}} : tensor<1x8x16xi8>, vector<16xi8>
// CHECK-NOT: arith.andi
// CHECK: arith.constant dense<128> : vector<16xi32>
// CHECK: arith.subi
// CHECK: arith.sitofp
// CHECK: %[[W:.*]] = arith.subf
// CHECK-NOT: arith.mulf
// CHECK: math.fma %{{.*}}, %[[W]], %{{.*}}
// CHECK: scf.yield
// CHECK: math.fma %[[S]], %{{.*}}, %{{.*}}
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

// Eight rows or more on zmm take 8 x 2 register blocks: N = 40 is one
// super-block of 32 columns and one of a vector; per panel an 8-row block
// (16 and 8 accumulators) and the leftover row, whose one-row block keeps
// two sets of group sums (4 and 2 accumulators in its step loop, 2 and 1
// across groups).
// CHECK-LABEL: func.func @w4_tall(
// CHECK-DAG: arith.constant dense{{.*}} : tensor<1x32x32xi8>
// CHECK-DAG: arith.constant dense{{.*}} : tensor<1x32x16xi8>
// CHECK: scf.for {{.*}} step %{{.*}} iter_args({{.*}}) -> (tensor<9x48xf32>)
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: scf.for {{.*}} -> (tensor<9x48xf32>)
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>)
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-NOT: qopt.matmul
func.func @w4_tall(%a: tensor<9x64xf32>) -> tensor<9x40xf32> {
  %w = arith.constant dense<35> : tensor<40x32xi8>
  %s = arith.constant dense<0.5> : tensor<40x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<9x64xf32>, tensor<40x32xi8>, tensor<40x2xf32>) -> tensor<9x40xf32>
  return %0 : tensor<9x40xf32>
}

// -----

// Zero points that are all one value (MatMulNBits without zero points
// imports as 8 everywhere) are a constant: no zero table, and 4-bit codes
// on zmm take the table path, float(u - 7) per nibble.
// CHECK-LABEL: func.func @w4_shared_zero(
// CHECK-NOT: tensor<1x2x32xi8>
// CHECK: arith.constant dense<[-7.000000e+00, -6.000000e+00, {{.*}}, 8.000000e+00]> : vector<16xf32>
// CHECK: func.call @__qopt_x86_vpermps_512
// CHECK-NOT: qopt.matmul
// YMM-LABEL: func.func @w4_shared_zero(
// YMM: %[[Z:.*]] = arith.constant dense<7> : vector<8xi32>
// YMM: arith.subi %{{.*}}, %[[Z]]
func.func @w4_shared_zero(%a: tensor<3x64xf32>) -> tensor<3x20xf32> {
  %w = arith.constant dense<35> : tensor<20x32xi8>
  %s = arith.constant dense<0.5> : tensor<20x2xf32>
  %z = arith.constant dense<7> : tensor<20x2xi8>
  %0 = qopt.matmul %a, %w scales(%s) zero_points(%z) {k = 64 : i64, scheme = #qopt.scheme<uint4, group 32, asym>}
       : (tensor<3x64xf32>, tensor<20x32xi8>, tensor<20x2xf32>, tensor<20x2xi8>) -> tensor<3x20xf32>
  return %0 : tensor<3x20xf32>
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

// FP8 E4M3: with F16C (the default) each byte becomes an f16 of its
// value times 2^-8 ((x << 8) >> 1 arithmetically, the copied sign bit
// cleared: subnormals become f16 subnormals) and widens to f32; the scale
// table carries the 2^8 (0.5 is stored as 128). Without F16C the byte is
// decoded in i32 lanes as the reference lowering decodes it (normal:
// exponent + 120 and the mantissa shifted into an f32's bits; subnormal:
// mantissa * 2^-9; then the sign).
// CHECK-LABEL: func.func @fp8(
// CHECK: arith.constant dense<{{\[\[\[}}1.280000e+02, 1.280000e+02, 1.280000e+02, 1.280000e+02, 0.000000e+00
// CHECK: %[[U:.*]] = arith.extui {{.*}} : vector<16xi8> to vector<16xi16>
// CHECK: %[[HI:.*]] = arith.shli %[[U]], %{{.*}} : vector<16xi16>
// CHECK: %[[SHIFTED:.*]] = arith.shrsi %[[HI]], %{{.*}} : vector<16xi16>
// CHECK: %[[BITS:.*]] = arith.andi %[[SHIFTED]], %{{.*}} : vector<16xi16>
// CHECK: %[[HALF:.*]] = vector.bitcast %[[BITS]] : vector<16xi16> to vector<16xf16>
// CHECK: %[[F:.*]] = arith.extf %[[HALF]] : vector<16xf16> to vector<16xf32>
// CHECK: arith.mulf %[[F]]
// CHECK: math.fma
// CHECK-NOT: qopt.matmul
// NOF16C-LABEL: func.func @fp8(
// NOF16C: arith.constant dense<{{\[\[\[}}5.000000e-01
// NOF16C: %[[U:.*]] = arith.extui {{.*}} : vector<16xi8> to vector<16xi32>
// NOF16C: %[[SIGN:.*]] = arith.shrui %[[U]]
// NOF16C: arith.shrui %[[U]]
// NOF16C: %[[EXP:.*]] = arith.andi
// NOF16C: %[[MANT:.*]] = arith.andi %[[U]]
// NOF16C: arith.addi %[[EXP]]
// NOF16C: arith.shli
// NOF16C: arith.shli %[[MANT]]
// NOF16C: arith.ori
// NOF16C: %[[NORMAL:.*]] = vector.bitcast {{.*}} : vector<16xi32> to vector<16xf32>
// NOF16C: arith.sitofp %[[MANT]]
// NOF16C: %[[SUB:.*]] = arith.mulf
// NOF16C: %[[ISSUB:.*]] = arith.cmpi eq, %[[EXP]]
// NOF16C: %[[MAG:.*]] = arith.select %[[ISSUB]], %[[SUB]], %[[NORMAL]]
// NOF16C: arith.cmpi ne, %[[SIGN]]
// NOF16C: arith.negf %[[MAG]]
// NOF16C: arith.select
// NOF16C: arith.mulf
// NOF16C: math.fma
// NOF16C-NOT: qopt.matmul
// YMM-LABEL: func.func @fp8(
// YMM: arith.extui {{.*}} : vector<8xi8> to vector<8xi16>
// YMM: arith.extf {{.*}} : vector<8xf16> to vector<8xf32>
// YMM-NOT: qopt.matmul
func.func @fp8(%a: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<[[0, 1, 7, 8, 56, 126, -128, -2], [1, 1, 1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2, 2, 2], [3, 3, 3, 3, 3, 3, 3, 3]]> : tensor<4x8xi8>
  %s = arith.constant dense<0.5> : tensor<4x1xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 8 : i64, scheme = #qopt.scheme<fp8_e4m3, per_channel, sym>}
       : (tensor<2x8xf32>, tensor<4x8xi8>, tensor<4x1xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// 2-bit codes: four per byte. On zmm (symmetric) the table path: code h is
// looked up after a shift by 2h, the table repeating float(code - 2) for
// the index's top bits (the next code's); no mask. On ymm each code is
// shifted down, masked (all but the top one), minus the offset 2,
// converted and scaled.
// CHECK-LABEL: func.func @two_bit(
// CHECK: %[[LUT:.*]] = arith.constant dense<[-2.000000e+00, -1.000000e+00, 0.000000e+00, 1.000000e+00, -2.000000e+00, {{.*}}]> : vector<16xf32>
// CHECK: %[[U:.*]] = arith.extui
// CHECK: func.call @__qopt_x86_vpermps_512(%[[LUT]], %[[U]])
// CHECK-NOT: arith.andi
// CHECK: %[[U2:.*]] = arith.shrui %[[U]], %{{.*}}
// CHECK: func.call @__qopt_x86_vpermps_512(%[[LUT]], %[[U2]])
// CHECK-COUNT-2: func.call @__qopt_x86_vpermps_512(%[[LUT]],
// CHECK-NOT: qopt.matmul
// YMM-LABEL: func.func @two_bit(
// YMM-DAG: %[[MASK:.*]] = arith.constant dense<3> : vector<8xi32>
// YMM-DAG: %[[OFF:.*]] = arith.constant dense<2> : vector<8xi32>
// YMM: %[[U:.*]] = arith.extui
// YMM: arith.andi %[[U]], %[[MASK]]
// YMM: arith.subi %{{.*}}, %[[OFF]]
// YMM: arith.shrui %[[U]], %{{.*}}
// YMM: arith.andi %{{.*}}, %[[MASK]]
// YMM: arith.shrui %[[U]], %{{.*}}
// YMM: arith.andi %{{.*}}, %[[MASK]]
// YMM: %[[TOP:.*]] = arith.shrui %[[U]], %{{.*}}
// YMM-NOT: arith.andi
// YMM: arith.subi %[[TOP]], %[[OFF]]
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

// 3-bit codes: a step is 8 codes in 3 bytes per column (three planes of
// the panel's width: [1 super-block][8 steps][3 x 16]); the kernel widens
// the planes, shifts them into one 24-bit word per lane and takes code h at
// bit 3h. On zmm the 16-entry table repeats float(code) for the index's
// spare top bit (it belongs to the next code), so no mask is needed.
// CHECK-LABEL: func.func @three_bit(
// CHECK: %[[CODES:.*]] = arith.constant dense<"0x{{.*}}"> : tensor<1x8x48xi8>
// CHECK: %[[LUT:.*]] = arith.constant dense<[-4.000000e+00, -3.000000e+00, -2.000000e+00, -1.000000e+00, 0.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, -4.000000e+00, {{.*}}]> : vector<16xf32>
// CHECK: %[[P0:.*]] = vector.transfer_read %[[CODES]]{{.*}} : tensor<1x8x48xi8>, vector<16xi8>
// CHECK: %[[W0:.*]] = arith.extui %[[P0]]
// CHECK: %[[P1:.*]] = vector.transfer_read %[[CODES]]
// CHECK: %[[W1:.*]] = arith.extui %[[P1]]
// CHECK: %[[S1:.*]] = arith.shli %[[W1]]
// CHECK: %[[W01:.*]] = arith.ori %[[W0]], %[[S1]]
// CHECK: vector.transfer_read %[[CODES]]
// CHECK: %[[WORD:.*]] = arith.ori %[[W01]]
// CHECK: func.call @__qopt_x86_vpermps_512(%[[LUT]], %[[WORD]])
// CHECK: %[[NEXT:.*]] = arith.shrui %[[WORD]]
// CHECK: func.call @__qopt_x86_vpermps_512(%[[LUT]], %[[NEXT]])
// CHECK-NOT: qopt.matmul
// YMM-LABEL: func.func @three_bit(
// YMM: arith.constant dense<7> : vector<8xi32>
// YMM: arith.andi
// YMM: arith.sitofp
// YMM-NOT: qopt.matmul
func.func @three_bit(%a: tensor<2x64xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<1> : tensor<4x25xi8>
  %s = arith.constant dense<1.0> : tensor<4x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int3, group 32, sym>}
       : (tensor<2x64xf32>, tensor<4x25xi8>, tensor<4x2xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// Weights that are not constants and integer inputs keep their
// lowerings.
// YMM-LABEL: func.func @not_constant(
// NOF16C-LABEL: func.func @not_constant(
// CHECK-LABEL: func.func @not_constant(
// CHECK: qopt.matmul
func.func @not_constant(%a: tensor<2x64xf32>, %w: tensor<4x32xi8>) -> tensor<2x4xf32> {
  %s = arith.constant dense<1.0> : tensor<4x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<2x64xf32>, tensor<4x32xi8>, tensor<4x2xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
