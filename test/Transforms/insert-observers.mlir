// RUN: qopt-opt %s --split-input-file --qopt-insert-observers | FileCheck %s
// RUN: qopt-opt %s --split-input-file --qopt-insert-observers="observe-outputs=true exclude=wk" | FileCheck %s --check-prefix=OUT

// One probe per distinct input, named after its first consumer; the output
// layer (returned directly) is not observed.
// CHECK-LABEL: func @shared_input
// CHECK: %[[O:.*]] = qopt.observe %arg0 {id = "wq:in"} : tensor<1x4x32xf32>
// CHECK-NOT: qopt.observe
// CHECK: tosa.matmul %[[O]]
// CHECK: tosa.matmul %[[O]]
// CHECK: tosa.matmul %arg0

// With outputs and wk excluded: wq's input and output are observed.
// OUT-LABEL: func @shared_input
// OUT: %[[O:.*]] = qopt.observe %arg0 {id = "wq:in"}
// OUT: %[[Y:.*]] = tosa.matmul %[[O]]
// OUT: qopt.observe %[[Y]] {id = "wq:out"}
// OUT: tosa.matmul %arg0
// OUT-NOT: qopt.observe
func.func @shared_input(%a: tensor<1x4x32xf32>) -> (tensor<1x4x16xf32>, tensor<1x4x16xf32>) {
  %w = arith.constant dense<0.25> : tensor<32x16xf32>
  %shape = tosa.const_shape {values = dense<[1, 32, 16]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<32x16xf32>, !tosa.shape<3>) -> tensor<1x32x16xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %a, %b, %z, %z : (tensor<1x4x32xf32>, tensor<1x32x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32> loc("wq")
  %y2 = tosa.matmul %a, %b, %z, %z : (tensor<1x4x32xf32>, tensor<1x32x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32> loc("wk")
  %h = tosa.matmul %a, %b, %z, %z : (tensor<1x4x32xf32>, tensor<1x32x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32> loc("head")
  %s = tosa.add %y, %y2 : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %s, %h : tensor<1x4x16xf32>, tensor<1x4x16xf32>
}
