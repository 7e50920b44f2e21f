// RUN: qopt-opt %s --split-input-file --qopt-static-kv-cache -verify-diagnostics

// A graph without a decode position cannot say which slots are valid.
// expected-error @+1 {{KV cache: the model has no input named 'position'}}
func.func @main(%x: tensor<4xf32> {qopt.name = "x"}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// Nothing concatenates a past input into a returned present.
// expected-error @+1 {{KV cache: found no cache in this model}}
func.func @main(%pos: tensor<1xi64> {qopt.name = "position"},
                %x: tensor<4xf32> {qopt.name = "x"}) -> tensor<4xf32> {
  %y = tosa.add %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// The position must be one integer.
// expected-error @+1 {{KV cache: input 'position' must hold one integer (the decode position), got 'tensor<2xi64>'}}
func.func @main(%pos: tensor<2xi64> {qopt.name = "position"},
                %x: tensor<4xf32> {qopt.name = "x"}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// Prefill-style graphs append several rows per step.
func.func @main(%pos: tensor<1xi64> {qopt.name = "position"},
                %pk: tensor<1x2x3x8xf32> {qopt.name = "past_k"},
                %k: tensor<1x2x2x8xf32>) -> tensor<1x2x5x8xf32> {
  // expected-error @+1 {{KV cache 'past_k': the step appends 2 rows; only single-token decode graphs (one new row) are supported}}
  %c = tensor.concat dim(2) %pk, %k : (tensor<1x2x3x8xf32>, tensor<1x2x2x8xf32>) -> tensor<1x2x5x8xf32>
  return %c : tensor<1x2x5x8xf32>
}

// -----

// The slot axis must reach the attention through shape ops only: an
// elementwise op on the cache is not an attention pattern this pass knows.
func.func @main(%pos: tensor<1xi64> {qopt.name = "position"},
                %q: tensor<2x1x8xf32>,
                %pk: tensor<1x2x3x8xf32> {qopt.name = "past_k"},
                %k: tensor<1x2x1x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) {
  %c = tensor.concat dim(2) %pk, %k : (tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>) -> tensor<1x2x4x8xf32>
  // expected-error @+1 {{KV cache 'past_k': cannot follow the cache's slot axis through 'tosa.add'}}
  %d = tosa.add %c, %c : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %c, %d : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
}

// -----

// A cache that no matmul reads is not an attention cache.
func.func @main(%pos: tensor<1xi64> {qopt.name = "position"},
                %pk: tensor<1x2x3x8xf32> {qopt.name = "past_k"},
                %k: tensor<1x2x1x8xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{KV cache 'past_k' does not reach an attention matmul}}
  %c = tensor.concat dim(2) %pk, %k : (tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>) -> tensor<1x2x4x8xf32>
  return %c : tensor<1x2x4x8xf32>
}

// -----

// A matmul batched over the slots is neither scores nor a weighted sum.
func.func @main(%pos: tensor<1xi64> {qopt.name = "position"},
                %q: tensor<4x1x8xf32>,
                %pk: tensor<1x2x3x8xf32> {qopt.name = "past_k"},
                %k: tensor<1x2x1x8xf32>) -> (tensor<4x1x2xf32>, tensor<1x2x4x8xf32>) {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %c = tensor.concat dim(2) %pk, %k : (tensor<1x2x3x8xf32>, tensor<1x2x1x8xf32>) -> tensor<1x2x4x8xf32>
  %shape = tosa.const_shape {values = dense<[4, 8, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %t = tosa.transpose %c {perms = array<i32: 2, 3, 0, 1>} : (tensor<1x2x4x8xf32>) -> tensor<4x8x1x2xf32>
  %r = tosa.reshape %t, %shape : (tensor<4x8x1x2xf32>, !tosa.shape<3>) -> tensor<4x8x2xf32>
  // expected-error @+1 {{KV cache 'past_k': the cache's slot axis is a batch dimension of this matmul}}
  %s = tosa.matmul %q, %r, %zp, %zp : (tensor<4x1x8xf32>, tensor<4x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<4x1x2xf32>
  return %s, %c : tensor<4x1x2xf32>, tensor<1x2x4x8xf32>
}
