// RUN: qopt-opt %s --qopt-assign-arg-roles --split-input-file --verify-diagnostics | FileCheck %s

// On tensors: arguments are inputs, results outputs.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: {qopt.arg_role = #qopt.arg_role<input>, qopt.name = "x"}
// CHECK-SAME: -> (tensor<4xf32> {qopt.arg_role = #qopt.arg_role<output>, qopt.name = "y"})
func.func @main(%x: tensor<4xf32> {qopt.name = "x"}) -> (tensor<4xf32> {qopt.name = "y"}) {
  return %x : tensor<4xf32>
}

// -----

// Bufferized, with out-parameters: the declared roles are checked.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: #qopt.arg_role<weights>
// CHECK-SAME: #qopt.arg_role<workspace>
// CHECK-SAME: #qopt.arg_role<input>
// CHECK-SAME: #qopt.arg_role<output>
func.func @main(%w: memref<?xi8> {qopt.arg_role = #qopt.arg_role<weights>},
                %ws: memref<?xi8> {qopt.arg_role = #qopt.arg_role<workspace>},
                %x: memref<4xf32> {qopt.arg_role = #qopt.arg_role<input>},
                %y: memref<4xf32> {qopt.arg_role = #qopt.arg_role<output>}) {
  memref.copy %x, %y : memref<4xf32> to memref<4xf32>
  return
}

// -----

// An input after an output breaks the calling convention.
// expected-error @+1 {{argument 1 is input after output: expected weights, workspace, inputs, outputs}}
func.func @main(%y: memref<4xf32> {qopt.arg_role = #qopt.arg_role<output>},
                %x: memref<4xf32> {qopt.arg_role = #qopt.arg_role<input>}) {
  memref.copy %x, %y : memref<4xf32> to memref<4xf32>
  return
}
