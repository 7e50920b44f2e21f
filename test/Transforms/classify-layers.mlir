// RUN: qopt-opt %s --qopt-classify-layers --split-input-file | FileCheck %s

// A LLaMA block whose node names lie: the query projection is called
// "mlp/up_proj" and the attention output "ffn"; the roles follow the graph.
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @llama_block
// CHECK: tosa.gather {{.*}}{qopt.role = #qopt.role<embedding>}
// CHECK: %[[Q:.*]] = tosa.matmul {{.*}}{qopt.role = #qopt.role<attention_qkv>}
// CHECK: %[[K:.*]] = tosa.matmul {{.*}}{qopt.role = #qopt.role<attention_qkv>}
// CHECK: %[[V:.*]] = tosa.matmul {{.*}}{qopt.role = #qopt.role<attention_qkv>}
// CHECK: tosa.matmul %[[Q]], {{.*}}{qopt.role = #qopt.role<attention_scores>}
// CHECK: tosa.matmul {{.*}}, %[[V]], {{.*}}{qopt.role = #qopt.role<attention_scores>}
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<attention_output>}
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<ffn_gate>}
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<ffn_up>}
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<ffn_down>}
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<classifier>}
func.func @llama_block(%ids: tensor<1x4xi32>) -> tensor<1x4x32xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %table = "tosa.const"() <{values = dense<0.5> : tensor<1x32x8xf32>}> : () -> tensor<1x32x8xf32>
  %wq = "tosa.const"() <{values = dense<0.1> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %wk = "tosa.const"() <{values = dense<0.2> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %wv = "tosa.const"() <{values = dense<0.3> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %wo = "tosa.const"() <{values = dense<0.4> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %w1 = "tosa.const"() <{values = dense<0.5> : tensor<1x8x16xf32>}> : () -> tensor<1x8x16xf32>
  %w3 = "tosa.const"() <{values = dense<0.6> : tensor<1x8x16xf32>}> : () -> tensor<1x8x16xf32>
  %w2 = "tosa.const"() <{values = dense<0.7> : tensor<1x16x8xf32>}> : () -> tensor<1x16x8xf32>
  %wc = "tosa.const"() <{values = dense<0.8> : tensor<1x8x32xf32>}> : () -> tensor<1x8x32xf32>
  %scale = arith.constant dense<0.35> : tensor<1x4x8xf32>
  %x = tosa.gather %table, %ids : (tensor<1x32x8xf32>, tensor<1x4xi32>) -> tensor<1x4x8xf32>
  %q = tosa.matmul %x, %wq, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32> loc("/mlp/up_proj/MatMul")
  %k = tosa.matmul %x, %wk, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  %v = tosa.matmul %x, %wv, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  // Scaled keys, transposed.
  %e8 = tensor.empty() : tensor<1x4x8xf32>
  %ks = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%k, %scale : tensor<1x4x8xf32>, tensor<1x4x8xf32>) outs(%e8 : tensor<1x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x8xf32>
  %kt = tosa.transpose %ks {perms = array<i32: 0, 2, 1>} : (tensor<1x4x8xf32>) -> tensor<1x8x4xf32>
  %s = tosa.matmul %q, %kt, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4xf32>
  %e4 = tensor.empty() : tensor<1x4x4xf32>
  %p = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x4x4xf32>) outs(%e4 : tensor<1x4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %x1 = math.exp %a : f32
    linalg.yield %x1 : f32
  } -> tensor<1x4x4xf32>
  %pv = tosa.matmul %p, %v, %z, %z : (tensor<1x4x4xf32>, tensor<1x4x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  %o = tosa.matmul %pv, %wo, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32> loc("/ffn/MatMul")
  %h = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %o : tensor<1x4x8xf32>, tensor<1x4x8xf32>) outs(%e8 : tensor<1x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8xf32>
  // SwiGLU: silu(h W1) * (h W3), then W2.
  %g = tosa.matmul %h, %w1, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32>
  %e16 = tensor.empty() : tensor<1x4x16xf32>
  %sig = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%g : tensor<1x4x16xf32>) outs(%e16 : tensor<1x4x16xf32>) {
  ^bb0(%a: f32, %out: f32):
    %one = arith.constant 1.0 : f32
    %n = arith.negf %a : f32
    %ex = math.exp %n : f32
    %d = arith.addf %one, %ex : f32
    %r = arith.divf %one, %d : f32
    linalg.yield %r : f32
  } -> tensor<1x4x16xf32>
  %silu = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%g, %sig : tensor<1x4x16xf32>, tensor<1x4x16xf32>) outs(%e16 : tensor<1x4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %r = arith.mulf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x16xf32>
  %u = tosa.matmul %h, %w3, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32>
  %gated = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%silu, %u : tensor<1x4x16xf32>, tensor<1x4x16xf32>) outs(%e16 : tensor<1x4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %r = arith.mulf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x16xf32>
  %down = tosa.matmul %gated, %w2, %z, %z : (tensor<1x4x16xf32>, tensor<1x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32> loc("/attn/MatMul")
  %logits = tosa.matmul %down, %wc, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x32xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x32xf32>
  return %logits : tensor<1x4x32xf32>
}

// -----

// A GELU MLP (BERT, ViT) and a head behind a bias and a softmax.
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#last = affine_map<(d0, d1, d2) -> (d2)>
#row = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @gelu_mlp
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<ffn_up>}
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<ffn_down>}
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<classifier>}
func.func @gelu_mlp(%x: tensor<1x4x8xf32>) -> tensor<1x4x32xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %w1 = "tosa.const"() <{values = dense<0.5> : tensor<1x8x16xf32>}> : () -> tensor<1x8x16xf32>
  %w2 = "tosa.const"() <{values = dense<0.7> : tensor<1x16x8xf32>}> : () -> tensor<1x16x8xf32>
  %wc = "tosa.const"() <{values = dense<0.8> : tensor<1x8x32xf32>}> : () -> tensor<1x8x32xf32>
  %b1 = arith.constant dense<0.1> : tensor<16xf32>
  %bc = arith.constant dense<0.2> : tensor<32xf32>
  %fc1 = tosa.matmul %x, %w1, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32>
  %e16 = tensor.empty() : tensor<1x4x16xf32>
  %biased = linalg.generic {indexing_maps = [#id3, #last, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%fc1, %b1 : tensor<1x4x16xf32>, tensor<16xf32>) outs(%e16 : tensor<1x4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x16xf32>
  %gelu = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%biased : tensor<1x4x16xf32>) outs(%e16 : tensor<1x4x16xf32>) {
  ^bb0(%a: f32, %out: f32):
    %half = arith.constant 0.5 : f32
    %one = arith.constant 1.0 : f32
    %rsqrt2 = arith.constant 0.70710678 : f32
    %s = arith.mulf %a, %rsqrt2 : f32
    %erf = math.erf %s : f32
    %p = arith.addf %erf, %one : f32
    %h = arith.mulf %a, %half : f32
    %r = arith.mulf %h, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x4x16xf32>
  %fc2 = tosa.matmul %gelu, %w2, %z, %z : (tensor<1x4x16xf32>, tensor<1x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  %e8 = tensor.empty() : tensor<1x4x8xf32>
  %res = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %fc2 : tensor<1x4x8xf32>, tensor<1x4x8xf32>) outs(%e8 : tensor<1x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x8xf32>
  %head = tosa.matmul %res, %wc, %z, %z : (tensor<1x4x8xf32>, tensor<1x8x32xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x32xf32>
  %e32 = tensor.empty() : tensor<1x4x32xf32>
  %hb = linalg.generic {indexing_maps = [#id3, #last, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%head, %bc : tensor<1x4x32xf32>, tensor<32xf32>) outs(%e32 : tensor<1x4x32xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x32xf32>
  %ex = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%hb : tensor<1x4x32xf32>) outs(%e32 : tensor<1x4x32xf32>) {
  ^bb0(%a: f32, %out: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<1x4x32xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4xf32>) -> tensor<1x4xf32>
  %sum = linalg.generic {indexing_maps = [#id3, #row], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%ex : tensor<1x4x32xf32>) outs(%acc : tensor<1x4xf32>) {
  ^bb0(%a: f32, %out: f32):
    %r = arith.addf %out, %a : f32
    linalg.yield %r : f32
  } -> tensor<1x4xf32>
  %prob = linalg.generic {indexing_maps = [#id3, #row, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%ex, %sum : tensor<1x4x32xf32>, tensor<1x4xf32>) outs(%e32 : tensor<1x4x32xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x4x32xf32>
  return %prob : tensor<1x4x32xf32>
}

// -----

// One decode step with a KV cache: the new key reaches the scores through
// its concatenation with the past keys.
// CHECK-LABEL: func.func @kv_cache
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<attention_qkv>}
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<attention_qkv>}
// CHECK: tensor.concat
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<attention_scores>}
func.func @kv_cache(%x: tensor<1x1x8xf32>, %past: tensor<1x3x8xf32>) -> tensor<1x1x4xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %wq = "tosa.const"() <{values = dense<0.1> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %wk = "tosa.const"() <{values = dense<0.2> : tensor<1x8x8xf32>}> : () -> tensor<1x8x8xf32>
  %q = tosa.matmul %x, %wq, %z, %z : (tensor<1x1x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x1x8xf32>
  %k = tosa.matmul %x, %wk, %z, %z : (tensor<1x1x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x1x8xf32>
  %keys = tensor.concat dim(1) %past, %k : (tensor<1x3x8xf32>, tensor<1x1x8xf32>) -> tensor<1x4x8xf32>
  %kt = tosa.transpose %keys {perms = array<i32: 0, 2, 1>} : (tensor<1x4x8xf32>) -> tensor<1x8x4xf32>
  %s = tosa.matmul %q, %kt, %z, %z : (tensor<1x1x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x1x4xf32>
  return %s : tensor<1x1x4xf32>
}

// -----

// Convolutions by kernel and groups; one with weights known only at run
// time is not quantizable and gets no role.
// CHECK-LABEL: func.func @convolutions
// CHECK: linalg.conv_2d_nchw_fchw {{.*}}qopt.role = #qopt.role<conv_pointwise>
// CHECK: linalg.depthwise_conv_2d_nchw_chw {{.*}}qopt.role = #qopt.role<conv_depthwise>
// CHECK: linalg.conv_2d_nchw_fchw {{.*}}qopt.role = #qopt.role<conv>
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK-NOT: qopt.role
// CHECK-SAME: outs
func.func @convolutions(%x: tensor<1x4x8x8xf32>, %wx: tensor<8x4x3x3xf32>) -> (tensor<1x8x6x6xf32>, tensor<1x8x6x6xf32>) {
  %zero = arith.constant 0.0 : f32
  %wp = arith.constant dense<0.5> : tensor<4x4x1x1xf32>
  %wd = arith.constant dense<0.25> : tensor<4x3x3xf32>
  %wc = arith.constant dense<0.125> : tensor<8x4x3x3xf32>
  %e8 = tensor.empty() : tensor<1x4x8x8xf32>
  %f8 = linalg.fill ins(%zero : f32) outs(%e8 : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %pw = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %wp : tensor<1x4x8x8xf32>, tensor<4x4x1x1xf32>) outs(%f8 : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %e6 = tensor.empty() : tensor<1x4x6x6xf32>
  %f6 = linalg.fill ins(%zero : f32) outs(%e6 : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  %dw = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%pw, %wd : tensor<1x4x8x8xf32>, tensor<4x3x3xf32>) outs(%f6 : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  %ec = tensor.empty() : tensor<1x8x6x6xf32>
  %fc = linalg.fill ins(%zero : f32) outs(%ec : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  %conv = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%pw, %wc : tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) outs(%fc : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  %dyn = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%pw, %wx : tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) outs(%fc : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  return %conv, %dyn : tensor<1x8x6x6xf32>, tensor<1x8x6x6xf32>
}

// -----

// Imported quantized ops take roles like float ones; a projection feeding
// another without a nonlinearity between them is `other`, and a gather from
// a table known only at run time is no embedding.
// CHECK-LABEL: func.func @imported
// CHECK: qopt.embedding {{.*}}{dim = 64 : i64, qopt.role = #qopt.role<embedding>
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<other>}
// CHECK: qopt.matmul {{.*}}qopt.role = #qopt.role<classifier>
// CHECK: tosa.gather
// CHECK-NOT: qopt.role
// CHECK: return
func.func @imported(%t: tensor<512x32xi8>, %ids: tensor<1x8xi32>, %st: tensor<512x2xf32>,
                    %w4: tensor<32x32xi8>, %s4: tensor<32x2xf32>, %table: tensor<1x512x64xf32>)
    -> (tensor<1x8x32xf32>, tensor<1x8x64xf32>) {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x64x64xf32>}> : () -> tensor<1x64x64xf32>
  %e = qopt.embedding %t[%ids] scales(%st) {dim = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<512x32xi8>, tensor<1x8xi32>, tensor<512x2xf32>) -> tensor<1x8x64xf32>
  %h = tosa.matmul %e, %w, %z, %z : (tensor<1x8x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x64xf32>
  %y = qopt.matmul %h, %w4 scales(%s4) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
       : (tensor<1x8x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<1x8x32xf32>
  %g = tosa.gather %table, %ids : (tensor<1x512x64xf32>, tensor<1x8xi32>) -> tensor<1x8x64xf32>
  return %y, %g : tensor<1x8x32xf32>, tensor<1x8x64xf32>
}

// -----

// A convolution already decomposed into an im2col product: weights on the
// left.
// CHECK-LABEL: func.func @im2col
// CHECK: tosa.matmul {{.*}}{qopt.role = #qopt.role<conv>}
func.func @im2col(%cols: tensor<1x36x64xf32>) -> tensor<1x8x64xf32> {
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %w = "tosa.const"() <{values = dense<0.5> : tensor<1x8x36xf32>}> : () -> tensor<1x8x36xf32>
  %y = tosa.matmul %w, %cols, %z, %z : (tensor<1x8x36xf32>, tensor<1x36x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x64xf32>
  return %y : tensor<1x8x64xf32>
}
