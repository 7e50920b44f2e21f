// RUN: qopt-opt %s --split-input-file --qopt-insert-observers | FileCheck %s
// RUN: qopt-opt %s --split-input-file --qopt-insert-observers="observe-outputs=true exclude=wk" | FileCheck %s --check-prefix=OUT
// RUN: qopt-opt %s --split-input-file --qopt-insert-observers="quantize-attention=true attention-scales=static observe-outputs=true" | FileCheck %s --check-prefix=ATT
// RUN: qopt-opt %s --split-input-file --qopt-insert-observers="quantize-attention=true attention-scales=static exclude=scores" | FileCheck %s --check-prefix=ATTX
// RUN: qopt-opt %s --split-input-file --qopt-insert-observers="quantize-attention=true observe-outputs=true" | FileCheck %s --check-prefix=ATTD

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

// -----

// With quantize-attention and static scales, both operands of a product of
// two activations are observed (the linear layer's input as before), and
// with outputs its result too, for the report. Run-time scales need only
// the result's probe; without quantize-attention the product stays
// unobserved.
// CHECK-LABEL: func @attention
// CHECK-NOT: id = "scores
// OUT-LABEL: func @attention
// ATT-LABEL: func @attention
// ATT: %[[X:.*]] = qopt.observe %arg0 {id = "wq:in"}
// ATT: tosa.matmul %[[X]]
// ATT: %[[A:.*]] = qopt.observe %{{.*}} {id = "scores:a"} : tensor<2x4x8xf32>
// ATT: %[[B:.*]] = qopt.observe %arg1 {id = "scores:b"} : tensor<2x8x6xf32>
// ATT: %[[Y:.*]] = tosa.matmul %[[A]], %[[B]]
// ATT: qopt.observe %[[Y]] {id = "scores:out"}
// An excluded product stays unobserved.
// ATTX-LABEL: func @attention
// ATTX: qopt.observe %arg0 {id = "wq:in"}
// ATTX-NOT: qopt.observe
// ATTD-LABEL: func @attention
// ATTD: qopt.observe %arg0 {id = "wq:in"}
// ATTD: qopt.observe %{{.*}} {id = "wq:out"}
// ATTD-NOT: id = "scores:a"
// ATTD: %[[Y:.*]] = tosa.matmul %{{.*}}, %arg1
// ATTD: qopt.observe %[[Y]] {id = "scores:out"}
func.func @attention(%x: tensor<1x8x8xf32>, %k: tensor<2x8x6xf32>) -> tensor<2x4x6xf32> {
  %w = arith.constant dense<0.25> : tensor<8x8xf32>
  %shape = tosa.const_shape {values = dense<[1, 8, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %wb = tosa.reshape %w, %shape : (tensor<8x8xf32>, !tosa.shape<3>) -> tensor<1x8x8xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %p = tosa.matmul %x, %wb, %z, %z : (tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x8xf32> loc("wq")
  %qshape = tosa.const_shape {values = dense<[2, 4, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %q = tosa.reshape %p, %qshape : (tensor<1x8x8xf32>, !tosa.shape<3>) -> tensor<2x4x8xf32>
  %y = tosa.matmul %q, %k, %z, %z : (tensor<2x4x8xf32>, tensor<2x8x6xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x4x6xf32> loc("scores")
  %e = tosa.exp %y : (tensor<2x4x6xf32>) -> tensor<2x4x6xf32>
  return %e : tensor<2x4x6xf32>
}
