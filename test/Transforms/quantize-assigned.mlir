// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a16" --verify-diagnostics | FileCheck %s

// Each op follows its own qopt.assign: one function mixes int4 weight-only,
// dynamic w8a8 and float, and an assignment quantizes the classifier, which
// the pass's options would leave float. Ops without one take `precision`.
// CHECK-LABEL: func @mixed
// CHECK: qopt.matmul %{{.*}} {k = 64 : i64, precision = #qopt.precision<"w4a16-g32", weights = #qopt.scheme<int4, group 32, sym>, algorithm = rtn>
// CHECK: qopt.dynamic_quantize
// CHECK: qopt.matmul {{.*}}precision = #qopt.precision<w8a8, weights = #qopt.scheme<int8, per_channel, sym>, activations = #qopt.scheme<int8, per_token, sym>, dynamic, algorithm = rtn>
// CHECK: tosa.matmul {{.*}}qopt.assign = #qopt.assignment<precision = "float", reason = "kept">
// CHECK: qopt.matmul {{.*}}precision = #qopt.precision<w8a16, weights = #qopt.scheme<int8, per_channel, sym>, algorithm = rtn>
// CHECK: qopt.matmul {{.*}}precision = #qopt.precision<"w4a16-g32"
// CHECK-NOT: tosa.matmul
// CHECK: return
func.func @mixed(%a: tensor<1x4x64xf32>) -> tensor<1x4x64xf32> {
  %w = arith.constant dense<0.25> : tensor<64x64xf32>
  %shape = tosa.const_shape {values = dense<[1, 64, 64]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<64x64xf32>, !tosa.shape<3>) -> tensor<1x64x64xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y1 = tosa.matmul %a, %b, %z, %z {qopt.assign = #qopt.assignment<precision = "w4a16-g32">} : (tensor<1x4x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x64xf32>
  %e1 = tosa.exp %y1 : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  %y2 = tosa.matmul %e1, %b, %z, %z {qopt.assign = #qopt.assignment<precision = "w8a8", algorithm = "rtn">} : (tensor<1x4x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x64xf32>
  %e2 = tosa.exp %y2 : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  %y3 = tosa.matmul %e2, %b, %z, %z {qopt.assign = #qopt.assignment<precision = "float", reason = "kept">} : (tensor<1x4x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x64xf32>
  %e3 = tosa.exp %y3 : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  %y4 = tosa.matmul %e3, %b, %z, %z : (tensor<1x4x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x64xf32>
  %e4 = tosa.exp %y4 : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  // The classifier (feeds the return only).
  %y5 = tosa.matmul %e4, %b, %z, %z {qopt.assign = #qopt.assignment<precision = "w4a16-g32">} : (tensor<1x4x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x64xf32>
  return %y5 : tensor<1x4x64xf32>
}

// -----

// A bad assignment is the op's error, named by its node.
func.func @bad(%a: tensor<1x4x64xf32>) -> tensor<1x4x64xf32> {
  %w = arith.constant dense<0.25> : tensor<64x64xf32>
  %shape = tosa.const_shape {values = dense<[1, 64, 64]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<64x64xf32>, !tosa.shape<3>) -> tensor<1x64x64xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{qopt.assign: awq scales the activations of weight-only precisions; 'w8a8' quantizes activations (use gptq or rtn)}}
  %y = tosa.matmul %a, %b, %z, %z {qopt.assign = #qopt.assignment<precision = "w8a8", algorithm = "awq">} : (tensor<1x4x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x64xf32>
  %e = tosa.exp %y : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  return %e : tensor<1x4x64xf32>
}

// -----

func.func @unknown(%a: tensor<1x4x64xf32>) -> tensor<1x4x64xf32> {
  %w = arith.constant dense<0.25> : tensor<64x64xf32>
  %shape = tosa.const_shape {values = dense<[1, 64, 64]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<64x64xf32>, !tosa.shape<3>) -> tensor<1x64x64xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{qopt.assign: unknown precision 'w9a16'}}
  %y = tosa.matmul %a, %b, %z, %z {qopt.assign = #qopt.assignment<precision = "w9a16">} : (tensor<1x4x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x64xf32>
  %e = tosa.exp %y : (tensor<1x4x64xf32>) -> tensor<1x4x64xf32>
  return %e : tensor<1x4x64xf32>
}

// -----

// Two ops reading one input at different precisions are quantized in
// different plans, and each plan's GPTQ picks its own input scales: each
// op reads a copy of the input scaled by its own (one shared copy would
// give one op the other's scales, wrong against its weights).
// CHECK-LABEL: func @shared_input_two_plans
// CHECK-DAG: %[[S8:.*]] = arith.constant dense<[0.848070145, 1.05646729, 1.21356225, 0.919708192]> : tensor<4xf32>
// CHECK-DAG: %[[S2:.*]] = arith.constant dense<[0.476368636, 1.28041947, 2.38934708, 0.686159789]> : tensor<4xf32>
// CHECK-DAG: %[[X8:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[S8]] :
// CHECK-DAG: %[[X2:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[S2]] :
// CHECK-DAG: qopt.matmul %[[X8]], {{.*}}precision = #qopt.precision<w8a16
// CHECK-DAG: qopt.matmul %[[X2]], {{.*}}precision = #qopt.precision<w2a16
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
  %y2 = tosa.matmul %x, %c, %z, %z {qopt.assign = #qopt.assignment<precision = "w2a16", algorithm = "gptq">} : (tensor<1x3x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32> loc("wk")
  %s = tosa.add %y, %y2 : (tensor<1x3x2xf32>, tensor<1x3x2xf32>) -> tensor<1x3x2xf32>
  return %s : tensor<1x3x2xf32>
}
