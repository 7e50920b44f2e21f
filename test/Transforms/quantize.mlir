// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16-g32" | FileCheck %s --check-prefix=W4
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w8a8" | FileCheck %s --check-prefix=W8A8
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=nf4-g32 exclude=wk" | FileCheck %s --check-prefix=NF4
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16-g32 quantize-embeddings=true" | FileCheck %s --check-prefix=EMB

// A constant-weight matmul becomes qopt.matmul over packed [N, K*bits/8]
// weights; the classifier (result returned directly) stays float.
// W4-LABEL: func @linear
// 0.25 is the largest magnitude of its group: code -8 (0x88 = -120 for two
// codes per byte) and scale 0.25 / -8.
// W4-DAG: %[[W:.*]] = arith.constant dense<-120> : tensor<16x16xi8>
// W4-DAG: %[[S:.*]] = arith.constant dense<-3.125000e-02> : tensor<16x1xf32>
// W4: qopt.matmul %{{.*}}, %[[W]] scales(%[[S]]) {k = 32 : i64, precision = #qopt.precision<"w4a16-g32", weights = #qopt.scheme<int4, group 32, sym>, algorithm = rtn>, scheme = #qopt.scheme<int4, group 32, sym>} : (tensor<1x4x32xf32>, tensor<16x16xi8>, tensor<16x1xf32>) -> tensor<1x4x16xf32>
// W4: qopt.matmul
// W4: tosa.matmul

// W8A8-LABEL: func @linear
// W8A8: %[[Q:.*]], %[[SA:.*]], %{{.*}} = qopt.dynamic_quantize %{{.*}} per_token : tensor<1x4x32xf32> -> tensor<1x4x32xi8>, tensor<1x4x1xf32>, tensor<1x4x1xi8>
// W8A8: qopt.matmul %[[Q]], %{{.*}} scales(%{{.*}}) input_scale(%[[SA]]) {{.*}}scheme = #qopt.scheme<int8, per_channel, sym>}

// NF4-LABEL: func @linear
// NF4: qopt.matmul {{.*}}scheme = #qopt.scheme<nf4, group 32, sym>
// NF4-NOT: qopt.matmul
// NF4: tosa.matmul
// NF4: tosa.matmul
func.func @linear(%a: tensor<1x4x32xf32>) -> (tensor<1x4x16xf32>, tensor<1x4x16xf32>) {
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

// Activation-by-activation products (attention) have no constant weight and
// stay float under every precision.
// W4-LABEL: func @attention_scores
// W4-NOT: qopt.matmul
// W8A8-LABEL: func @attention_scores
// W8A8-NOT: qopt.
func.func @attention_scores(%q: tensor<8x4x8xf32>, %k: tensor<8x8x4xf32>) -> tensor<8x4x4xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %s = tosa.matmul %q, %k, %z, %z : (tensor<8x4x8xf32>, tensor<8x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<8x4x4xf32>
  %e = tosa.exp %s : (tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  return %e : tensor<8x4x4xf32>
}

// -----

// Convolutions lowered to im2col matmuls carry the weights on the left
// (y = W x): the activations are transposed to rows of K, multiplied by the
// packed weights (rows = output channels), and the result transposed back.
// W4-LABEL: func @weights_on_left
// W4: %[[XT:.*]] = tosa.transpose %arg0 {perms = array<i32: 0, 2, 1>} : (tensor<1x32x6xf32>) -> tensor<1x6x32xf32>
// W4: %[[Y:.*]] = qopt.matmul %[[XT]], %{{.*}} scales(%{{.*}}) {{.*}} : (tensor<1x6x32xf32>, tensor<16x16xi8>, tensor<16x1xf32>) -> tensor<1x6x16xf32>
// W4: tosa.transpose %[[Y]] {perms = array<i32: 0, 2, 1>} : (tensor<1x6x16xf32>) -> tensor<1x16x6xf32>
// W8A8-LABEL: func @weights_on_left
// W8A8: qopt.dynamic_quantize %{{.*}} per_token : tensor<1x6x32xf32>
func.func @weights_on_left(%x: tensor<1x32x6xf32>) -> tensor<1x16x6xf32> {
  %w = arith.constant dense<0.5> : tensor<16x32xf32>
  %shape = tosa.const_shape {values = dense<[1, 16, 32]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %a = tosa.reshape %w, %shape : (tensor<16x32xf32>, !tosa.shape<3>) -> tensor<1x16x32xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %a, %x, %z, %z : (tensor<1x16x32xf32>, tensor<1x32x6xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x16x6xf32>
  %r = tosa.exp %y : (tensor<1x16x6xf32>) -> tensor<1x16x6xf32>
  return %r : tensor<1x16x6xf32>
}

// -----

// Embedding tables stay float unless quantize-embeddings is set; then the
// gather reads a packed table (rows = vocabulary entries).
// W4-LABEL: func @embedding
// W4: tosa.gather
// EMB-LABEL: func @embedding
// EMB: qopt.embedding %{{.*}}[%arg0] scales(%{{.*}}) {dim = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>} : (tensor<16x32xi8>, tensor<1x3xi32>, tensor<16x2xf32>) -> tensor<1x3x64xf32>
// EMB-NOT: tosa.gather
func.func @embedding(%ids: tensor<1x3xi32>) -> tensor<1x3x64xf32> {
  %t = arith.constant dense<0.5> : tensor<16x64xf32>
  %shape = tosa.const_shape {values = dense<[1, 16, 64]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %t3 = tosa.reshape %t, %shape : (tensor<16x64xf32>, !tosa.shape<3>) -> tensor<1x16x64xf32>
  %e = tosa.gather %t3, %ids : (tensor<1x16x64xf32>, tensor<1x3xi32>) -> tensor<1x3x64xf32>
  return %e : tensor<1x3x64xf32>
}
