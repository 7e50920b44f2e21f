// RUN: qopt-opt %s --qopt-x86-int8-matmul --split-input-file | FileCheck %s
// RUN: qopt-opt %s --qopt-x86-int8-matmul --qopt-x86-intrinsic-calls --split-input-file | FileCheck %s --check-prefix=INTR
// RUN: qopt-opt %s --qopt-x86-int8-matmul=isa=avxvnni --split-input-file | FileCheck %s --check-prefix=AVXVNNI
// RUN: qopt-opt %s --qopt-x86-int8-matmul=isa=avx2 --split-input-file | FileCheck %s --check-prefix=AVX2
// RUN: qopt-opt %s --qopt-x86-int8-matmul=isa=avx2 --qopt-x86-intrinsic-calls --split-input-file | FileCheck %s --check-prefix=AVX2-INTR
// RUN: not qopt-opt %s --qopt-x86-int8-matmul=isa=sse9 --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD-ISA
// BAD-ISA: qopt-x86-int8-matmul: unknown isa 'sse9' (avx512vnni, avxvnni, avx2 or none)

// Signed codes, per-row input scales: the weights packed at compile time
// into [64-column register blocks, groups of 4 reduction steps, 4 x 64
// bytes] (N = 3 is padded to one block, K = 10 to 12), their column sums
// as i32 constants, the codes padded to K = 12 and their sign bits flipped
// once, a loop over column blocks around a loop over 4-row blocks (5 rows:
// one block, and the leftover row as a 1-row block) around the reduction
// loop carrying 16 accumulators (4 for the 1-row block); each step loads
// the 4 weight vectors of the block (contiguous), broadcasts 4 bytes of a
// row and calls the vpdpbusd stub. The epilogue subtracts 128 * column sum, then
// the reference lowering's rescale gives float(acc) * (sa * sw).
// CHECK-LABEL: func.func private @__qopt_x86_vpdpbusd_512(vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
// CHECK-LABEL: func.func @signed(
// CHECK-DAG: %[[PACKED:.*]] = arith.constant dense<"0x{{.*}}"> : tensor<1x3x256xi8>
// CHECK-DAG: %[[SUMS:.*]] = arith.constant dense<[51, -55, 27]> : tensor<3xi32>
// CHECK: %[[PAD:[a-z0-9_]+]] = tensor.pad %arg0 low[0, 0] high[0, 2]
// CHECK: %[[A:.*]] = linalg.generic {{.*}} ins(%[[PAD]] : tensor<5x12xi8>)
// CHECK: arith.constant -128 : i8
// CHECK: arith.xori
// CHECK: scf.for {{.*}} -> (tensor<5x64xi32>)
// CHECK: scf.for {{.*}} -> (tensor<5x64xi32>)
// CHECK: scf.for {{.*}} -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>)
// CHECK-COUNT-4: vector.transfer_read %[[PACKED]]{{.*}} : tensor<1x3x256xi8>, vector<64xi8>
// CHECK-NOT: arith.xori
// CHECK: vector.transfer_read %[[A]]{{.*}} : tensor<5x12xi8>, vector<4xi8>
// CHECK: vector.broadcast
// CHECK-COUNT-4: func.call @__qopt_x86_vpdpbusd_512
// CHECK: vector.transfer_write
// CHECK: scf.for {{.*}} -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>)
// CHECK: %[[ACC:.*]] = linalg.generic
// CHECK-SAME: ins(%{{.*}}, %[[SUMS]] : tensor<5x3xi32>, tensor<3xi32>)
// CHECK: arith.constant 128 : i32
// CHECK: arith.muli
// CHECK: arith.subi
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[ACC]], %{{.*}}, %{{.*}} : tensor<5x3xi32>, tensor<5xf32>, tensor<3x1xf32>)
// CHECK: arith.sitofp
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK-NOT: qopt.matmul
// INTR-NOT: func.func private @__qopt_x86_vpdpbusd_512
// INTR-LABEL: func.func @signed(
// INTR: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"({{.*}}) : (vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
// AVX-VNNI: 8-column blocks of 32 bytes, 2 vectors per row (N = 3 padded
// to 16 columns), and 6-row blocks: the 5 rows are one 5-row block.
// AVXVNNI-LABEL: func.func private @__qopt_x86_vpdpbusd_256(vector<8xi32>, vector<32xi8>, vector<32xi8>) -> vector<8xi32>
// AVXVNNI-LABEL: func.func @signed(
// AVXVNNI: arith.constant dense<"0x{{.*}}"> : tensor<1x3x64xi8>
// AVXVNNI: arith.xori
// AVXVNNI: scf.for {{.*}} -> (vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>)
// AVXVNNI-COUNT-2: func.call @__qopt_x86_vpdpbusd_256
// AVXVNNI-NOT: qopt.matmul
// AVXVNNI-LABEL: func.func @signed_within_127(
// The AVX2 kernel cannot negate a -128 weight: the generic lowering stays.
// AVX2-LABEL: func.func @signed(
// AVX2: qopt.matmul
func.func @signed(%a: tensor<5x10xi8>, %sa: tensor<5x1xf32>) -> tensor<5x3xf32> {
  %w = arith.constant dense<[[1, -2, 3, 4, 5, 6, 7, 8, 9, 10], [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10], [127, -128, 0, 1, 2, 3, 4, 5, 6, 7]]> : tensor<3x10xi8>
  %s = arith.constant dense<[[0.5], [0.25], [1.0]]> : tensor<3x1xf32>
  %0 = qopt.matmul %a, %w scales(%s) input_scale(%sa) {k = 10 : i64, scheme = #qopt.scheme<int8, per_channel, sym>}
       : (tensor<5x10xi8>, tensor<3x10xi8>, tensor<3x1xf32>, tensor<5x1xf32>) -> tensor<5x3xf32>
  return %0 : tensor<5x3xf32>
}

// -----

// AVX2 on signed codes within [-127, 127]: no sign flip (vpmaddubsw's
// pairs are formed from |a| and the weights carrying a's sign), 4-row
// blocks of 2 vectors, vpmaddwd by ones into the i32 accumulators, and no
// compensation in the epilogue.
// AVX2-LABEL: func.func private @__qopt_x86_psignb_256(vector<32xi8>, vector<32xi8>) -> vector<32xi8>
// AVX2-LABEL: func.func private @__qopt_x86_pmaddubsw_256(vector<32xi8>, vector<32xi8>) -> vector<16xi16>
// AVX2-LABEL: func.func private @__qopt_x86_pmaddwd_256(vector<16xi16>, vector<16xi16>) -> vector<8xi32>
// AVX2-LABEL: func.func @signed_within_127(
// AVX2-DAG: %[[ONES:.*]] = arith.constant dense<1> : vector<16xi16>
// AVX2-DAG: %[[PACKED:.*]] = arith.constant dense<"0x{{.*}}"> : tensor<1x2x64xi8>
// AVX2: scf.for {{.*}} -> (tensor<9x16xi32>)
// AVX2: scf.for {{.*}} -> ({{(vector<8xi32>, )+}}vector<8xi32>)
// AVX2-NOT: arith.xori
// AVX2: %[[ACT:.*]] = vector.bitcast %{{.*}} : vector<8xi32> to vector<32xi8>
// AVX2: %[[ABS:.*]] = math.absi %[[ACT]] : vector<32xi8>
// AVX2: %[[SW:.*]] = func.call @__qopt_x86_psignb_256(%{{.*}}, %[[ACT]])
// AVX2: %[[P:.*]] = func.call @__qopt_x86_pmaddubsw_256(%[[ABS]], %[[SW]])
// AVX2: %[[Q:.*]] = func.call @__qopt_x86_pmaddwd_256(%[[P]], %[[ONES]])
// AVX2: arith.addi %{{.*}}, %[[Q]] : vector<8xi32>
// AVX2: linalg.generic
// AVX2-NOT: arith.muli
// AVX2: linalg.yield
// AVX2-NOT: qopt.matmul
// AVX2-INTR-LABEL: func.func @signed_within_127(
// AVX2-INTR: llvm.call_intrinsic "llvm.x86.avx2.psign.b"
// AVX2-INTR: llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"
// AVX2-INTR: llvm.call_intrinsic "llvm.x86.avx2.pmadd.wd"
// CHECK-LABEL: func.func @signed_within_127(
// CHECK: arith.xori
func.func @signed_within_127(%a: tensor<9x8xi8>) -> tensor<9x5xi32> {
  %w = arith.constant dense<[[1, -2, 3, 4, 5, 6, 7, 8], [-127, 127, -3, -4, -5, -6, -7, -8], [127, 127, 0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 0, 0, 0, 0], [9, 9, 9, 9, 9, 9, 9, 9]]> : tensor<5x8xi8>
  %0 = qopt.matmul %a, %w {k = 8 : i64, scheme = #qopt.scheme<int8, per_tensor, sym>}
       : (tensor<9x8xi8>, tensor<5x8xi8>) -> tensor<9x5xi32>
  return %0 : tensor<9x5xi32>
}

// -----

// Unsigned codes with a zero point and an i32 result (ONNX MatMulInteger):
// no sign flip, and the epilogue subtracts za * column sum. AVX2 flips
// the unsigned codes to signed ones (u = a - 128), so it subtracts
// (za - 128) * column sum.
// CHECK-LABEL: func.func @unsigned_zero_point(
// CHECK-NOT: arith.xori
// CHECK: func.call @__qopt_x86_vpdpbusd_512
// CHECK: linalg.generic
// CHECK: arith.extui
// CHECK: arith.muli
// CHECK: arith.subi
// CHECK-NEXT: linalg.yield
// AVX2-LABEL: func.func @unsigned_zero_point(
// AVX2: arith.xori
// AVX2: func.call @__qopt_x86_pmaddubsw_256
// AVX2: linalg.generic
// AVX2: arith.extui
// AVX2: arith.constant -128 : i32
// AVX2: arith.addi
// AVX2: arith.muli
// AVX2: arith.subi
// AVX2-NEXT: linalg.yield
func.func @unsigned_zero_point(%a: tensor<2x8xi8>, %za: tensor<i8>) -> tensor<2x4xi32> {
  %w = arith.constant dense<3> : tensor<4x8xi8>
  %0 = qopt.matmul %a, %w input_zero_point(%za) {input_unsigned, k = 8 : i64, scheme = #qopt.scheme<int8, per_tensor, sym>}
       : (tensor<2x8xi8>, tensor<4x8xi8>, tensor<i8>) -> tensor<2x4xi32>
  return %0 : tensor<2x4xi32>
}

// -----

// Weights that are not constants (nothing to pack at compile time) keep
// the generic lowering. (Group-wise weights: grouped-int8-matmul.mlir.)
// CHECK-LABEL: func.func @not_constant(
// CHECK: qopt.matmul
// AVX2-LABEL: func.func @not_constant(
// AVX2: qopt.matmul
func.func @not_constant(%a: tensor<2x8xi8>, %w: tensor<4x8xi8>) -> tensor<2x4xi32> {
  %0 = qopt.matmul %a, %w {k = 8 : i64, scheme = #qopt.scheme<int8, per_tensor, sym>}
       : (tensor<2x8xi8>, tensor<4x8xi8>) -> tensor<2x4xi32>
  return %0 : tensor<2x4xi32>
}

// -----

// A reduction longer than one K chunk (16 KiB of a column block's packed
// weights: 64 groups of 4 steps on zmm; K = 1032 is 258 groups) with more
// rows than one register block: the output starts at zero, a chunk loop
// (the last chunk cut by minui) runs inside the column loop, and each
// register block starts from the partial sums in the output.
// CHECK-LABEL: func.func @k_chunks(
// CHECK: %[[ZERO:.*]] = linalg.fill {{.*}} -> tensor<8x64xi32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[ZERO]]) -> (tensor<8x64xi32>)
// CHECK: %[[GROUPS:.*]] = arith.constant 258 : index
// CHECK: %[[CHUNK:.*]] = arith.constant 64 : index
// CHECK: scf.for %[[Q0:.*]] = %{{.*}} to %[[GROUPS]] step %[[CHUNK]]
// CHECK: %[[END:.*]] = arith.addi %[[Q0]]
// CHECK: %[[Q1:.*]] = arith.minui %[[END]], %[[GROUPS]] : index
// CHECK: scf.for
// CHECK-COUNT-16: vector.transfer_read {{.*}} : tensor<8x64xi32>, vector<16xi32>
// CHECK: scf.for %{{.*}} = %[[Q0]] to %[[Q1]]
func.func @k_chunks(%a: tensor<8x1032xi8>) -> tensor<8x16xi32> {
  %w = arith.constant dense<5> : tensor<16x1032xi8>
  %0 = qopt.matmul %a, %w {k = 1032 : i64, scheme = #qopt.scheme<int8, per_tensor, sym>}
       : (tensor<8x1032xi8>, tensor<16x1032xi8>) -> tensor<8x16xi32>
  return %0 : tensor<8x16xi32>
}
