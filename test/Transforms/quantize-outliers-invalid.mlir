// RUN: qopt-opt %s --qopt-quantize="precision=w8a8 outliers=keep-float" --verify-diagnostics

// A hand-written outlier list must fit the matmul's reduction dim.
func.func @channel_out_of_range(%a: tensor<1x4x8xf32>) -> tensor<1x4x4xf32> {
  %w = arith.constant dense<0.25> : tensor<8x4xf32>
  %shape = tosa.const_shape {values = dense<[1, 8, 4]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<8x4xf32>, !tosa.shape<3>) -> tensor<1x8x4xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{qopt.outliers must list ascending input channels below 8}}
  %y = tosa.matmul %a, %b, %z, %z {qopt.outliers = #qopt.outliers<channels = [2, 9], threshold = 6.0, ratio = 8.0,
                                   median = 0.5, max_ratio = 80.0, range_fraction = 0.9>}
     : (tensor<1x4x8xf32>, tensor<1x8x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4xf32>
  %r = tosa.exp %y : (tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  return %r : tensor<1x4x4xf32>
}
