// RUN: qopt-opt %s --qopt-plan-memory --split-input-file | FileCheck %s

// Buffers with disjoint lifetimes share workspace bytes; overlapping ones
// never do. %b (bytes 256..320, dead after its dealloc) is reused by %c,
// and %d reuses %a's bytes once %a is deallocated.
// CHECK: module attributes {qopt.workspace_bytes = 384 : i64}
// CHECK-LABEL: func.func @main(
// CHECK-SAME: %[[WS:.*]]: memref<?xi8> {qopt.arg_role = #qopt.arg_role<workspace>}
// CHECK-SAME: %[[X:.*]]: memref<64xf32>, %[[Y:.*]]: memref<64xf32>
// CHECK-NOT: memref.alloc
// CHECK: %[[A:.*]] = memref.view %[[WS]][%c0{{.*}}][] : memref<?xi8> to memref<64xf32>
// CHECK: %[[B:.*]] = memref.view %[[WS]][%c256{{.*}}][] : memref<?xi8> to memref<16xf32>
// CHECK: memref.copy %[[X]], %[[A]]
// CHECK: memref.view %[[WS]][%c256{{.*}}][] : memref<?xi8> to memref<32xf32>
// CHECK: memref.view %[[WS]][%c0{{.*}}][] : memref<?xi8> to memref<64xf32>
// CHECK-NOT: memref.dealloc
func.func @main(%x: memref<64xf32>, %y: memref<64xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<64xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  memref.copy %x, %a : memref<64xf32> to memref<64xf32>
  memref.dealloc %b : memref<16xf32>
  %c = memref.alloc() : memref<32xf32>
  memref.copy %a, %y : memref<64xf32> to memref<64xf32>
  memref.dealloc %a : memref<64xf32>
  %d = memref.alloc() : memref<64xf32>
  memref.dealloc %c : memref<32xf32>
  memref.dealloc %d : memref<64xf32>
  return
}

// -----

// A buffer freed inside a region keeps its heap allocation.
// CHECK-LABEL: func.func @conditional(
// CHECK-NOT: arg_role
// CHECK: memref.alloc
func.func @conditional(%c: i1) {
  %a = memref.alloc() : memref<8xf32>
  scf.if %c {
    memref.dealloc %a : memref<8xf32>
  }
  return
}
