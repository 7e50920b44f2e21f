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

// -----

// A tensor returned twice (two ONNX outputs that CSE found equal) gets a
// copy for its second result, so each out-parameter is its own buffer.
// CHECK-LABEL: func.func @twice(
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK: %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK: %[[C:.*]] = linalg.copy ins(%[[Y]] : tensor<4xf32>) outs(%[[E]] : tensor<4xf32>)
// CHECK: return %[[Y]], %[[C]]
func.func @twice(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
       ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<4xf32>
  return %y, %y : tensor<4xf32>, tensor<4xf32>
}
