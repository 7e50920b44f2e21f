// RUN: not qopt-opt %s --qopt-assign-precision="recipe=%S/Inputs/recipe-bad-keys.yaml" 2>&1 | FileCheck %s --check-prefix=KEYS
// RUN: not qopt-opt %s --qopt-assign-precision="recipe=%S/Inputs/recipe-unsupported.yaml precision=w8a16 native=f32 emulated=w8a16,w4a16" 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not qopt-opt %s --qopt-assign-precision="recipe=%S/Inputs/recipe-conflict.yaml" 2>&1 | FileCheck %s --check-prefix=CONFLICT
// RUN: not qopt-opt %s --qopt-assign-precision="recipe=%S/Inputs/no-such-recipe.yaml" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not qopt-opt %s --qopt-assign-precision="recipe=edge-int8 native=f32 emulated=w8a16" 2>&1 | FileCheck %s --check-prefix=EDGE

// Every mistake of a recipe file is reported with its line, in one run.
// KEYS: recipe-bad-keys.yaml:2:{{[0-9]+}}: error: unknown role 'ffn_dwn' (expected one of embedding, attention_qkv,
// KEYS: recipe-bad-keys.yaml:5:{{[0-9]+}}: error: unknown rule key 'precison' (expected match, precision, algorithm, group, keep-float or note)
// KEYS: recipe-bad-keys.yaml:4:{{[0-9]+}}: error: the rule sets nothing
// KEYS: recipe-bad-keys.yaml:6:{{[0-9]+}}: error: expected an integer, got 'one'
// KEYS: recipe-bad-keys.yaml:7:{{[0-9]+}}: error: unknown precision 'w5a17'
// KEYS: recipe-bad-keys.yaml:8:{{[0-9]+}}: error: a rule needs a 'match'
// KEYS: recipe-bad-keys.yaml:9:{{[0-9]+}}: error: bad name regex '('
// KEYS: recipe-bad-keys.yaml:10:{{[0-9]+}}: error: group must be 0 (per channel) or a positive multiple of 8

// A precision the target does not run is an error naming the rule's line.
// TARGET: error: {{.*}}recipe-unsupported.yaml:2: the target cannot run precision 'w4a8-g32' (it runs f32; emulated: w8a16, w4a16)

// CONFLICT: recipe-conflict.yaml:2:{{[0-9]+}}: error: keep-float and precision 'w8a16' contradict each other

// MISSING: error: {{.*}}no-such-recipe.yaml: error: cannot read the recipe:

// EDGE: error: recipe edge-int8 needs what the target lacks
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
