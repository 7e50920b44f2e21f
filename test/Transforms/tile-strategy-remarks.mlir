// RUN: qopt-opt %s --qopt-tile-strategy=report-scalar --verify-diagnostics --split-input-file

// A window gather (im2col) is beyond the linalg vectorizer: with
// report-scalar it says so at the op.
#in = affine_map<(d0, d1, d2, d3) -> (d0, d1 + d2 + d3)>
#out = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @window(%x: tensor<2x9xf32>) -> tensor<2x5x3x2xf32> {
  %e = tensor.empty() : tensor<2x5x3x2xf32>
  // expected-remark @+1 {{left scalar: the linalg vectorizer does not handle it}}
  %r = linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x9xf32>) outs(%e : tensor<2x5x3x2xf32>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  } -> tensor<2x5x3x2xf32>
  return %r : tensor<2x5x3x2xf32>
}

// -----

// A vectorizable op gets no remark.
func.func @elementwise(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e = tensor.empty() : tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%a: f32, %b: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}
