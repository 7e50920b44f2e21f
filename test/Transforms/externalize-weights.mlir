// RUN: qopt-opt %s --qopt-externalize-weights="threshold=64 weights-file=%t.bin" --split-input-file | FileCheck %s
// RUN: od -A d -t x1 %t.bin | FileCheck %s --check-prefix=BLOB
// RUN: qopt-opt %s --qopt-externalize-weights="threshold=64 attach-blob entry=" --split-input-file | FileCheck %s --check-prefix=ATTACH

// Globals of at least 64 bytes move to the blob and are read through views
// of a new leading argument; smaller ones stay.
// CHECK-NOT: memref.global "private" constant @big
// CHECK: memref.global "private" constant @small
// CHECK-LABEL: func.func @main(
// CHECK-SAME: %[[W:.*]]: memref<?xi8> {qopt.arg_role = #qopt.arg_role<weights>}
// CHECK-SAME: %[[OUT:.*]]: memref<16xf32>
// CHECK: %[[OFF:.*]] = arith.constant 0 : index
// CHECK: %[[V:.*]] = memref.view %[[W]][%[[OFF]]][] : memref<?xi8> to memref<16xf32>
// CHECK: memref.get_global @small
// CHECK: memref.copy %[[V]], %[[OUT]]
memref.global "private" constant @big : memref<16xf32> = dense<1.5>
memref.global "private" constant @small : memref<2xf32> = dense<2.0>
func.func @main(%out: memref<16xf32>) {
  %0 = memref.get_global @big : memref<16xf32>
  %1 = memref.get_global @small : memref<2xf32>
  memref.copy %0, %out : memref<16xf32> to memref<16xf32>
  return
}
// 1.5f = 0x3fc00000, little-endian.
// BLOB: 0000000 00 00 c0 3f 00 00 c0 3f

// With attach-blob the blob and its layout stay on the module for the
// target's serializer (the one public function is the entry when none is
// named).
// ATTACH: module attributes {qopt.weights_blob = dense_resource<qopt_weights> : tensor<64xi8>, qopt.weights_layout = [{bytes = 64 : i64, global = "big", offset = 0 : i64}]}
// ATTACH: qopt_weights: "0x{{[0-9A-F]+}}0000C03F0000C03F
