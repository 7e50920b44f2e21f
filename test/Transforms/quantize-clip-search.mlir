// RUN: qopt-opt %s --qopt-quantize="precision=w8a16 gptq-scale-grid=0 clip-search-below-bits=4" | FileCheck %s --check-prefixes=CHECK,CLIP
// RUN: qopt-opt %s --qopt-quantize="precision=w8a16 gptq-scale-grid=0 clip-search=true" | FileCheck %s --check-prefixes=CHECK,CLIP
// RUN: qopt-opt %s --qopt-quantize="precision=w8a16 gptq-scale-grid=0" | FileCheck %s --check-prefixes=CHECK,NOCLIP

// clip-search-below-bits decides per op, by its own precision: the w3a16
// op searches its clipping (row 0's scale shrinks from the abs-max one, as
// clip-search=true gives), the w8a16 op keeps its abs-max scales.
// CHECK-LABEL: func @shared_input_two_plans
// CHECK-DAG: %[[S8:.*]] = arith.constant dense<{{\[}}[0.00785534829], [7.876960e-03]]> : tensor<2x1xf32>
// CLIP-DAG: %[[S3:.*]] = arith.constant dense<{{\[}}[-0.174761251], [0.179791793]]> : tensor<2x1xf32>
// NOCLIP-DAG: %[[S3:.*]] = arith.constant dense<{{\[}}[-0.241554961], [0.179791793]]> : tensor<2x1xf32>
// CHECK-DAG: qopt.matmul %{{.*}} scales(%[[S8]]) {{.*}}precision = #qopt.precision<w8a16
// CHECK-DAG: qopt.matmul %{{.*}} scales(%[[S3]]) {{.*}}precision = #qopt.precision<w3a16
func.func @shared_input_two_plans(%a: tensor<1x3x4xf32>) -> tensor<1x3x2xf32> {
  %w = arith.constant dense<[[0.5, -1.0], [0.25, 0.5], [-0.75, 0.1], [1.0, 0.3]]> : tensor<4x2xf32>
  %v = arith.constant dense<[[0.1, -0.2], [0.9, 0.4], [-0.3, 0.6], [0.2, -0.7]]> : tensor<4x2xf32>
  %shape = tosa.const_shape {values = dense<[1, 4, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<4x2xf32>, !tosa.shape<3>) -> tensor<1x4x2xf32>
  %c = tosa.reshape %v, %shape : (tensor<4x2xf32>, !tosa.shape<3>) -> tensor<1x4x2xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %x = qopt.observe %a {id = "wq:in",
         gram = dense<[[9.0, 1.0, 0.0, 0.5], [1.0, 1.0, 0.2, 0.0], [0.0, 0.2, 0.25, 0.0], [0.5, 0.0, 0.0, 4.0]]> : tensor<4x4xf64>,
         channel_mean_abs = dense<[3.0, 1.0, 0.5, 2.0]> : tensor<4xf32>} : tensor<1x3x4xf32>
  %y = tosa.matmul %x, %b, %z, %z {qopt.assign = #qopt.assignment<precision = "w8a16", algorithm = "gptq">} : (tensor<1x3x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32> loc("wq")
  %y2 = tosa.matmul %x, %c, %z, %z {qopt.assign = #qopt.assignment<precision = "w3a16", algorithm = "gptq">} : (tensor<1x3x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32> loc("wk")
  %s = tosa.add %y, %y2 : (tensor<1x3x2xf32>, tensor<1x3x2xf32>) -> tensor<1x3x2xf32>
  return %s : tensor<1x3x2xf32>
}
