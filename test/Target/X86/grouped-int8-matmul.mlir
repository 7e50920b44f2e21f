// RUN: qopt-opt %s --qopt-x86-int8-matmul --split-input-file | FileCheck %s
// RUN: qopt-opt %s --qopt-x86-int8-matmul --qopt-x86-intrinsic-calls --split-input-file | FileCheck %s --check-prefix=INTR
// RUN: qopt-opt %s --qopt-x86-int8-matmul=isa=avxvnni --split-input-file | FileCheck %s --check-prefix=AVXVNNI
// RUN: qopt-opt %s --qopt-x86-int8-matmul=isa=avx2 --split-input-file | FileCheck %s --check-prefix=AVX2

// W4A8, symmetric signed int4 codes in groups of 32, K = 40 (two groups,
// the second padded), N = 3 (padded to one 32-column block on zmm), 5 rows
// (a 4-row block and a 1-row block). At compile time: the nibbles repacked
// into [column blocks, groups x 4 steps, 2 x 64 B]; 128 * sum(w) per
// column and group (row 0's codes are 0..7, -8..-1 twice in group 0, then
// 0..7; row 1's all 1; row 2's all -1); the scales transposed to
// [block, group, column]. At run time: the codes padded to 64 and their
// sign bits flipped; a group loop carrying 8 f32 accumulators around a
// step loop carrying 8 i32 ones; each step takes the low and high nibbles
// of 2 weight vectors apart (mask, 16-bit shift, minus the stored zero
// 8), broadcasts 2 x 4 bytes per row and issues 2 vpdpbusd per
// accumulator; after the steps, acc = fma(s_w, float(sum - 128 sum w),
// acc); last, y = s_a * acc.
// CHECK-LABEL: func.func private @__qopt_x86_vpdpbusd_512(vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
// CHECK-LABEL: func.func @symmetric(
// CHECK-DAG: %[[PACKED:.*]] = arith.constant dense{{.*}} : tensor<1x8x128xi8>
// CHECK-DAG: %[[COMP:.*]] = arith.constant dense<{{\[\[\[}}-2048, 4096, -4096, 0, {{.*}}], [3584, 1024, -1024, 0, {{.*}}]]]> : tensor<1x2x32xi32>
// CHECK-DAG: %[[SCALES:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 3.000000e+00, 5.000000e+00, 0.000000e+00, {{.*}}], [2.000000e+00, 4.000000e+00, 6.000000e+00, 0.000000e+00, {{.*}}]]]> : tensor<1x2x32xf32>
// CHECK: %[[PAD:[a-z0-9_]+]] = tensor.pad %arg0 low[0, 0] high[0, 24]
// CHECK: %[[A:.*]] = linalg.generic {{.*}} ins(%[[PAD]] : tensor<5x64xi8>)
// CHECK: arith.xori
// CHECK-DAG: %[[MASK:.*]] = arith.constant dense<15> : vector<64xi8>
// CHECK-DAG: %[[FOUR:.*]] = arith.constant dense<4> : vector<32xi16>
// CHECK-DAG: %[[EIGHT:.*]] = arith.constant dense<8> : vector<64xi8>
// CHECK: scf.for {{.*}} -> (tensor<5x32xf32>)
// CHECK: scf.for {{.*}} -> (tensor<5x32xf32>)
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: scf.for {{.*}} -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>)
// CHECK: %[[RAW:.*]] = vector.transfer_read %[[PACKED]]{{.*}} : tensor<1x8x128xi8>, vector<64xi8>
// CHECK: %[[LO:.*]] = arith.andi %[[RAW]], %[[MASK]]
// CHECK: %[[HALVES:.*]] = vector.bitcast %[[RAW]] : vector<64xi8> to vector<32xi16>
// CHECK: %[[SHIFTED:.*]] = arith.shrui %[[HALVES]], %[[FOUR]] : vector<32xi16>
// CHECK: %[[HIBYTES:.*]] = vector.bitcast %[[SHIFTED]]
// CHECK: %[[HI:.*]] = arith.andi %[[HIBYTES]], %[[MASK]]
// CHECK: arith.subi %[[LO]], %[[EIGHT]] : vector<64xi8>
// CHECK: arith.subi %[[HI]], %[[EIGHT]] : vector<64xi8>
// CHECK: vector.transfer_read %[[PACKED]]
// CHECK-NOT: arith.xori
// CHECK: vector.transfer_read %[[A]]{{.*}} : tensor<5x64xi8>, vector<4xi8>
// CHECK: vector.broadcast
// CHECK: vector.transfer_read %[[A]]{{.*}} : tensor<5x64xi8>, vector<4xi8>
// CHECK: vector.broadcast
// CHECK-COUNT-4: func.call @__qopt_x86_vpdpbusd_512
// CHECK: scf.yield
// CHECK: vector.transfer_read %[[COMP]]
// CHECK: vector.transfer_read %[[SCALES]]
// CHECK: %[[P:.*]] = arith.subi %{{.*}}#0, %{{.*}} : vector<16xi32>
// CHECK: %[[F:.*]] = arith.sitofp %[[P]]
// CHECK: math.fma %{{.*}}, %[[F]], %{{.*}} : vector<16xf32>
// CHECK: vector.transfer_write
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>)
// CHECK: tensor.extract_slice {{.*}} to tensor<5x3xf32>
// CHECK: linalg.generic
// CHECK: arith.mulf
// CHECK-NOT: qopt.matmul
// INTR-LABEL: func.func @symmetric(
// INTR: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// AVX-VNNI has 8-column blocks of one ymm vector and 4-row blocks.
// AVXVNNI-LABEL: func.func @symmetric(
// AVXVNNI: arith.constant dense{{.*}} : tensor<1x8x32xi8>
// AVXVNNI: scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// AVXVNNI: scf.for {{.*}} -> (vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>)
// AVXVNNI-COUNT-2: func.call @__qopt_x86_vpdpbusd_256
// AVXVNNI-NOT: qopt.matmul
// AVX2 adds the two nibbles' u8 x s8 pair sums in i16, then widens them.
// AVX2-LABEL: func.func @symmetric(
// AVX2: scf.for {{.*}} -> (vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>)
// AVX2: %[[PLO:.*]] = func.call @__qopt_x86_pmaddubsw_256
// AVX2: %[[PHI:.*]] = func.call @__qopt_x86_pmaddubsw_256
// AVX2: %[[PAIRS:.*]] = arith.addi %[[PLO]], %[[PHI]] : vector<16xi16>
// AVX2: func.call @__qopt_x86_pmaddwd_256(%[[PAIRS]], %{{.*}})
// AVX2-NOT: psignb
// AVX2-NOT: qopt.matmul
func.func @symmetric(%a: tensor<5x40xi8>, %sa: tensor<5x1xf32>) -> tensor<5x3xf32> {
  %w = arith.constant dense<[[0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE, 0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE, 0x10, 0x32, 0x54, 0x76],
                             [17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17],
                             [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]]> : tensor<3x20xi8>
  %s = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) input_scale(%sa) {k = 40 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<5x40xi8>, tensor<3x20xi8>, tensor<3x2xf32>, tensor<5x1xf32>) -> tensor<5x3xf32>
  return %0 : tensor<5x3xf32>
}

// -----

// Unsigned codes with zero points: the zero bytes of each (block, group)
// (4 per column: 1, 1, 1, 1, 2, 2, 2, 2, then padding) are a compile-time
// constant read once per group and subtracted from
// both nibbles; the compensation is 128 * sum(w - z) (codes 3, zero
// points 1 and 2: 128 * 16 * 2 = 4096 and 128 * 16 * 1 = 2048).
// CHECK-LABEL: func.func @zero_points(
// CHECK-DAG: %[[ZEROS:.*]] = arith.constant dense<"0x0101010102020202{{0+}}"> : tensor<1x1x128xi8>
// CHECK-DAG: arith.constant dense<{{\[\[\[}}4096, 2048, 0, {{.*}}]]]> : tensor<1x1x32xi32>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for
// CHECK: %[[Z:.*]] = vector.transfer_read %[[ZEROS]]{{.*}} : tensor<1x1x128xi8>, vector<64xi8>
// CHECK: scf.for
// CHECK: %[[LO:.*]] = arith.andi
// CHECK: %[[HI:.*]] = arith.andi
// CHECK: arith.subi %[[LO]], %[[Z]] : vector<64xi8>
// CHECK: arith.subi %[[HI]], %[[Z]] : vector<64xi8>
// CHECK-NOT: qopt.matmul
// AVXVNNI-LABEL: func.func @zero_points(
// AVXVNNI: func.call @__qopt_x86_vpdpbusd_256
// AVXVNNI-NOT: qopt.matmul
func.func @zero_points(%a: tensor<1x16xi8>, %sa: tensor<f32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<51> : tensor<2x8xi8>
  %s = arith.constant dense<0.5> : tensor<2x1xf32>
  %z = arith.constant dense<[[1], [2]]> : tensor<2x1xi8>
  %0 = qopt.matmul %a, %w scales(%s) zero_points(%z) input_scale(%sa) {k = 16 : i64, scheme = #qopt.scheme<uint4, group 16, asym>}
       : (tensor<1x16xi8>, tensor<2x8xi8>, tensor<2x1xf32>, tensor<2x1xi8>, tensor<f32>) -> tensor<1x2xf32>
  return %0 : tensor<1x2xf32>
}

// -----

// A zero point of 100 makes differences w - z of -100 down to -85: the
// VNNI kernels take them (vpdpbusd does not saturate), AVX2's i16 pair sums
// could overflow, so there it keeps the generic lowering.
// CHECK-LABEL: func.func @far_zero_point(
// CHECK-NOT: qopt.matmul
// AVXVNNI-LABEL: func.func @far_zero_point(
// AVXVNNI-NOT: qopt.matmul
// AVXVNNI-LABEL: func.func @weights_argument(
// AVX2-LABEL: func.func @far_zero_point(
// AVX2: qopt.matmul
func.func @far_zero_point(%a: tensor<1x16xi8>, %sa: tensor<f32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<51> : tensor<2x8xi8>
  %s = arith.constant dense<0.5> : tensor<2x1xf32>
  %z = arith.constant dense<100> : tensor<2x1xi8>
  %0 = qopt.matmul %a, %w scales(%s) zero_points(%z) input_scale(%sa) {k = 16 : i64, scheme = #qopt.scheme<uint4, group 16, asym>}
       : (tensor<1x16xi8>, tensor<2x8xi8>, tensor<2x1xf32>, tensor<2x1xi8>, tensor<f32>) -> tensor<1x2xf32>
  return %0 : tensor<1x2xf32>
}

// -----

// What the kernel does not take keeps the generic lowering: weights or
// scales that are not constants, groups that are not whole steps of 8
// codes, and other widths than 4 bits.
// CHECK-LABEL: func.func @weights_argument(
// CHECK: qopt.matmul
// AVX2-LABEL: func.func @weights_argument(
// CHECK-LABEL: func.func @scales_argument(
// CHECK: qopt.matmul
// CHECK-LABEL: func.func @group_of_4(
// CHECK: qopt.matmul
// CHECK-LABEL: func.func @int3(
// CHECK: qopt.matmul
func.func @weights_argument(%a: tensor<2x64xi8>, %w: tensor<4x32xi8>, %sa: tensor<2x1xf32>) -> tensor<2x4xf32> {
  %s = arith.constant dense<1.0> : tensor<4x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<2x64xi8>, tensor<4x32xi8>, tensor<4x2xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
func.func @scales_argument(%a: tensor<2x64xi8>, %s: tensor<4x2xf32>, %sa: tensor<2x1xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<1> : tensor<4x32xi8>
  %0 = qopt.matmul %a, %w scales(%s) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<2x64xi8>, tensor<4x32xi8>, tensor<4x2xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
func.func @group_of_4(%a: tensor<2x8xi8>, %sa: tensor<2x1xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<1> : tensor<4x4xi8>
  %s = arith.constant dense<1.0> : tensor<4x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) input_scale(%sa) {k = 8 : i64, scheme = #qopt.scheme<int4, group 4, sym>}
       : (tensor<2x8xi8>, tensor<4x4xi8>, tensor<4x2xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
func.func @int3(%a: tensor<2x64xi8>, %sa: tensor<2x1xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<1> : tensor<4x25xi8>
  %s = arith.constant dense<1.0> : tensor<4x2xf32>
  %0 = qopt.matmul %a, %w scales(%s) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<int3, group 32, sym>}
       : (tensor<2x64xi8>, tensor<4x25xi8>, tensor<4x2xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
