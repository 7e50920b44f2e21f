// RUN: qopt-opt %s --split-input-file --qopt-expose-observers | FileCheck %s

// Probes become extra results named qopt.observe:<id>, once per id; the
// model's own results keep their names and order.
// CHECK-LABEL: func @main
// CHECK-SAME: -> (tensor<4xf32> {qopt.dtype = "float32", qopt.name = "y"}, tensor<4xf32> {qopt.dtype = "float32", qopt.name = "qopt.observe:a"}, tensor<4xf32> {qopt.dtype = "float32", qopt.name = "qopt.observe:b"})
// CHECK-NOT: qopt.observe
// CHECK: %[[E:.*]] = math.exp %arg0
// CHECK: %[[L:.*]] = math.log %[[E]]
// CHECK: return %[[L]], %arg0, %[[E]]
func.func @main(%x: tensor<4xf32> {qopt.name = "x", qopt.dtype = "float32"}) -> (tensor<4xf32> {qopt.name = "y", qopt.dtype = "float32"}) {
  %o = qopt.observe %x {id = "a"} : tensor<4xf32>
  %e = math.exp %o : tensor<4xf32>
  %o2 = qopt.observe %e {id = "b"} : tensor<4xf32>
  %o3 = qopt.observe %o2 {id = "a"} : tensor<4xf32>
  %l = math.log %o3 : tensor<4xf32>
  return %l : tensor<4xf32>
}

// -----

// A probe returned directly (a classifier whose product already has the
// logits' shape): the model's result becomes the observed value itself.
// CHECK-LABEL: func @returned
// CHECK-SAME: -> (tensor<4xf32> {qopt.dtype = "float32", qopt.name = "logits"}, tensor<4xf32> {qopt.dtype = "float32", qopt.name = "qopt.observe:head:out"})
// CHECK: %[[E:.*]] = math.exp %arg0
// CHECK: return %[[E]], %[[E]]
func.func @returned(%x: tensor<4xf32> {qopt.name = "x", qopt.dtype = "float32"}) -> (tensor<4xf32> {qopt.name = "logits", qopt.dtype = "float32"}) {
  %e = math.exp %x : tensor<4xf32>
  %o = qopt.observe %e {id = "head:out"} : tensor<4xf32>
  return %o : tensor<4xf32>
}
