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
