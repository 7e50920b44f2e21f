// RUN: qopt-opt %s --split-input-file --qopt-parallelize-kernels | FileCheck %s

// The entry gains %tid, %nthreads and the barrier words. @scale's loop
// writes out[i] only: it splits, thread t runs iterations
// [t * ceil(64 / n), ...) of it. @sum's loop accumulates into acc[0] at
// every iteration: it stays on thread 0, behind a barrier (thread 0 reads
// what every thread of @scale wrote). @shifted writes b[i + 1] while
// reading b[i]: iterations overlap, thread 0 again, with no barrier after
// @sum (the same thread). The final copy is thread 0's too.
// CHECK-LABEL: module attributes {qopt.threads = 1 : i64}
// CHECK: func.func private @scale(%[[X:.*]]: memref<64xf32>, %[[Y:.*]]: memref<64xf32>, %[[T:.*]]: index, %[[NT:.*]]: index)
// CHECK: %[[TRIPS:.*]] = arith.ceildivsi
// CHECK: %[[CHUNK:.*]] = arith.ceildivsi %[[TRIPS]], %[[NT]]
// CHECK: arith.muli %[[T]], %[[CHUNK]]
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c8
// CHECK: func.func private @sum(%{{.*}}: memref<64xf32>, %{{.*}}: memref<1xf32>) attributes
// CHECK: func.func private @shifted(%{{.*}}: memref<64xf32>) attributes
// CHECK: func.func @main(%[[A:.*]]: memref<64xf32>, %[[B:.*]]: memref<64xf32>, %[[ACC:.*]]: memref<1xf32>, %[[OUT:.*]]: memref<64xf32>, %[[TID:.*]]: index, %[[N:.*]]: index, %[[SYNC:.*]]: memref<2xi64>)
// CHECK: %[[ZERO:.*]] = arith.cmpi eq, %[[TID]], %c0
// CHECK: call @scale(%[[A]], %[[B]], %[[TID]], %[[N]])
// CHECK-NEXT: call @qopt_barrier(%[[SYNC]], %[[N]])
// CHECK-NEXT: scf.if %[[ZERO]] {
// CHECK-NEXT: call @sum(%[[B]], %[[ACC]]) : (memref<64xf32>, memref<1xf32>) -> ()
// CHECK-NEXT: }
// CHECK-NEXT: scf.if %[[ZERO]] {
// CHECK-NEXT: call @shifted(%[[B]]) : (memref<64xf32>) -> ()
// CHECK-NEXT: }
// CHECK-NEXT: scf.if %[[ZERO]] {
// CHECK-NEXT: memref.copy
// CHECK: return
// CHECK: func.func private @qopt_barrier(%{{.*}}: memref<2xi64>, %{{.*}}: index)
// CHECK: memref.atomic_rmw addi
// CHECK: scf.while
// CHECK: llvm.call_intrinsic "llvm.x86.sse2.pause"
// CHECK: call @sched_yield

func.func private @scale(%x: memref<64xf32>, %y: memref<64xf32>) attributes {no_inline} {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %pad = arith.constant 0.0 : f32
  %two = arith.constant dense<2.0> : vector<8xf32>
  scf.for %i = %c0 to %c64 step %c8 {
    %v = vector.transfer_read %x[%i], %pad {in_bounds = [true]} : memref<64xf32>, vector<8xf32>
    %w = arith.mulf %v, %two : vector<8xf32>
    vector.transfer_write %w, %y[%i] {in_bounds = [true]} : vector<8xf32>, memref<64xf32>
  }
  return
}
func.func private @sum(%x: memref<64xf32>, %acc: memref<1xf32>) attributes {no_inline} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c64 step %c1 {
    %v = memref.load %x[%i] : memref<64xf32>
    %s = memref.load %acc[%c0] : memref<1xf32>
    %t = arith.addf %s, %v : f32
    memref.store %t, %acc[%c0] : memref<1xf32>
  }
  return
}
func.func private @shifted(%b: memref<64xf32>) attributes {no_inline} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c63 = arith.constant 63 : index
  scf.for %i = %c0 to %c63 step %c1 {
    %v = memref.load %b[%i] : memref<64xf32>
    %j = arith.addi %i, %c1 : index
    memref.store %v, %b[%j] : memref<64xf32>
  }
  return
}
func.func @main(%a: memref<64xf32>, %b: memref<64xf32>, %acc: memref<1xf32>, %out: memref<64xf32>) {
  call @scale(%a, %b) : (memref<64xf32>, memref<64xf32>) -> ()
  call @sum(%b, %acc) : (memref<64xf32>, memref<1xf32>) -> ()
  call @shifted(%b) : (memref<64xf32>) -> ()
  memref.copy %b, %out : memref<64xf32> to memref<64xf32>
  return
}

// -----

// Two views of one workspace that overlap: the kernel writes one and reads
// the other, so its iterations may race even though each view alone is
// indexed by the induction variable. It stays on thread 0. Views that do
// not overlap split.
// CHECK-LABEL: module attributes {qopt.threads = 1 : i64}
// CHECK: call @copy(%[[V0:.*]], %[[V1:.*]], %{{.*}}, %{{.*}}) :
// CHECK: scf.if
// CHECK-NEXT: call @copy_overlap(%{{.*}}, %{{.*}}) : (memref<16xf32>, memref<16xf32>) -> ()
func.func private @copy(%x: memref<16xf32>, %y: memref<16xf32>) attributes {no_inline} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  scf.for %i = %c0 to %c16 step %c1 {
    %v = memref.load %x[%i] : memref<16xf32>
    memref.store %v, %y[%i] : memref<16xf32>
  }
  return
}
func.func private @copy_overlap(%x: memref<16xf32>, %y: memref<16xf32>) attributes {no_inline} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  scf.for %i = %c0 to %c16 step %c1 {
    %v = memref.load %x[%i] : memref<16xf32>
    memref.store %v, %y[%i] : memref<16xf32>
  }
  return
}
func.func @main(%ws: memref<?xi8>) {
  %c0 = arith.constant 0 : index
  %c32 = arith.constant 32 : index
  %c64 = arith.constant 64 : index
  %a = memref.view %ws[%c0][] : memref<?xi8> to memref<16xf32>
  %b = memref.view %ws[%c64][] : memref<?xi8> to memref<16xf32>
  %c = memref.view %ws[%c32][] : memref<?xi8> to memref<16xf32>
  call @copy(%a, %b) : (memref<16xf32>, memref<16xf32>) -> ()
  call @copy_overlap(%a, %c) : (memref<16xf32>, memref<16xf32>) -> ()
  return
}

// -----

// A heap buffer made in the entry would be one per thread: the entry stays
// on one thread and the module says so.
// CHECK-LABEL: module attributes {qopt.threads = 0 : i64}
// CHECK-NOT: qopt_barrier
func.func @main(%a: memref<4xf32>) {
  %buf = memref.alloc() : memref<4xf32>
  memref.copy %a, %buf : memref<4xf32> to memref<4xf32>
  memref.copy %buf, %a : memref<4xf32> to memref<4xf32>
  memref.dealloc %buf : memref<4xf32>
  return
}
