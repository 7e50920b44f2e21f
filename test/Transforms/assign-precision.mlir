// RUN: qopt-opt %s --qopt-assign-precision="recipe=balanced native=f32,w8a8,w8a8-static,w4a8 emulated=w8a16,w4a16 int8-dot=true" | FileCheck %s --check-prefix=VNNI
// RUN: qopt-opt %s --qopt-assign-precision="recipe=balanced native=f32 emulated=w8a16,w4a16,w3a16,w2a16" | FileCheck %s --check-prefix=WEIGHTONLY
// RUN: qopt-opt %s --qopt-assign-precision="recipe=%S/Inputs/recipe.yaml precision=w8a16 native=f32 emulated=w8a16,w4a16,w3a16" 2>&1 | FileCheck %s --check-prefix=FILE
// RUN: qopt-opt %s --qopt-assign-precision="recipe=%S/Inputs/recipe.yaml precision=w8a16 native=f32 emulated=w8a16,w4a16,w3a16" --qopt-quantize | FileCheck %s --check-prefix=QUANT

// The balanced recipe on an int8-dot target: embeddings float, attention
// projections w8a8, FFN up/gate w4a8 with zero points, FFN down w8a8,
// scores float, the classifier in 8-bit weights. The node names lie (the query projection is called
// /mlp/up_proj): the roles come from the graph.
// VNNI-LABEL: func.func @llama_block
// VNNI: tosa.gather {{.*}}qopt.assign = #qopt.assignment<precision = "float", reason = "balanced rule 1: embeddings stay float
// VNNI: tosa.matmul {{.*}}qopt.assign = #qopt.assignment<precision = "w8a8", reason = "balanced rule 2: attention projections in 8 bits">
// VNNI: tosa.matmul {{.*}}precision = "w8a8"
// VNNI: tosa.matmul {{.*}}precision = "w8a8"
// VNNI: tosa.matmul {{.*}}precision = "float", reason = "balanced rule 5: attention scores stay float"
// VNNI: tosa.matmul {{.*}}precision = "float", reason = "balanced rule 5
// VNNI: tosa.matmul {{.*}}precision = "w8a8", reason = "balanced rule 2
// VNNI: tosa.matmul {{.*}}precision = "w4a8-g32-asym", reason = "balanced rule 3: FFN up/gate: 4-bit weights with zero points and int8 activations"
// VNNI: tosa.matmul {{.*}}precision = "w4a8-g32-asym"
// VNNI: tosa.matmul {{.*}}precision = "w8a8", reason = "balanced rule 4
// VNNI: tosa.matmul {{.*}}precision = "w8a16", reason = "balanced rule 6

// Without int8 dot products the same recipe is weight-only, and says that
// the target emulates it.
// WEIGHTONLY-LABEL: func.func @llama_block
// WEIGHTONLY: tosa.matmul {{.*}}precision = "w8a16", reason = "balanced rule 2: attention projections in 8 bits (emulated)"
// WEIGHTONLY: tosa.matmul {{.*}}precision = "w4a16-g32-asym", reason = "balanced rule 3

// A recipe file: later rules win field by field, a name regex and a block
// index select layers, a rule that matches nothing is a warning naming its
// line, and ops no rule sets take `precision`.
// FILE: warning: {{.*}}recipe.yaml:20: the rule matches no op
// FILE-LABEL: func.func @llama_block
// FILE: tosa.gather {{.*}}precision = "float", reason = "{{.*}}recipe.yaml:3"
// FILE: tosa.matmul {{.*}}precision = "w4a16-g64", algorithm = "rtn", reason = "{{.*}}recipe.yaml:6: attention in 4 bits; group from {{.*}}recipe.yaml:11 (emulated)"
// FILE: tosa.matmul {{.*}}precision = "w4a16-g64"
// FILE: tosa.matmul {{.*}}precision = "w4a16-g64"
// FILE: tosa.matmul {{.*}}precision = "float", reason = "no rule sets this attention_scores, which stays float by default"
// FILE: tosa.matmul {{.*}}precision = "float", reason = "no rule sets this attention_scores
// FILE: tosa.matmul {{.*}}precision = "w4a16-g64", algorithm = "rtn", reason = "{{.*}}recipe.yaml:6
// FILE: tosa.matmul {{.*}}precision = "w3a16-g32", reason = "{{.*}}recipe.yaml:16: the FFN in 3 bits (emulated)"
// FILE: tosa.matmul {{.*}}precision = "w3a16-g32"
// FILE: tosa.matmul {{.*}}precision = "w8a16", reason = "{{.*}}recipe.yaml:13: /attn is FFN down here (emulated)"
// FILE: tosa.matmul {{.*}}precision = "float", reason = "no rule sets this classifier, which stays float by default"

// qopt-quantize follows the assignments: mixed precisions in one model.
// QUANT-LABEL: func.func @llama_block
// QUANT-COUNT-4: qopt.matmul {{.*}}precision = #qopt.precision<"w4a16-g64"
// QUANT-NOT: w4a16-g64
// QUANT: return
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
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
