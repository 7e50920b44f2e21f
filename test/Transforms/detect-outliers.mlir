// RUN: qopt-opt %s --split-input-file --qopt-detect-outliers | FileCheck %s
// RUN: qopt-opt %s --split-input-file --qopt-detect-outliers="threshold=20.0" | FileCheck %s --check-prefix=HIGH

// Channel abs-maxes [0.5, 9, 0.4, 0.6, 12, 0.5, 0.5, 0.5]: median 0.5
// (the upper middle of the sorted values); channels 1 and 4 are past 6.0 and
// 8x the median. The largest is 24x the median, and the ordinary channels
// need only 0.6 / 12 of the range: 95% of it is spent on the outliers.
// Both matmuls reading the probe are marked.
// CHECK-LABEL: func @two_outliers
// CHECK: tosa.matmul {{.*}}{qopt.outliers = #qopt.outliers<channels = [1, 4], threshold = 6.000000e+00, ratio = 8.000000e+00, median = 5.000000e-01, max_ratio = 2.400000e+01, range_fraction = 0.94999999
// CHECK: tosa.matmul {{.*}}{qopt.outliers = #qopt.outliers<channels = [1, 4]
// A higher threshold finds none, but still records the statistics.
// HIGH-LABEL: func @two_outliers
// HIGH: qopt.outliers = #qopt.outliers<channels = [], threshold = 2.000000e+01
func.func @two_outliers(%a: tensor<1x3x8xf32>) -> tensor<1x3x2xf32> {
  %x = qopt.observe %a {id = "wq:in", channel_absmax = dense<[0.5, 9.0, 0.4, 0.6, 12.0, 0.5, 0.5, 0.5]> : tensor<8xf32>} : tensor<1x3x8xf32>
  %w = arith.constant dense<0.5> : tensor<1x8x2xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %z, %z : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %y2 = tosa.matmul %x, %w, %z, %z : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  %s = tosa.add %y, %y2 : (tensor<1x3x2xf32>, tensor<1x3x2xf32>) -> tensor<1x3x2xf32>
  return %s : tensor<1x3x2xf32>
}

// -----

// A probe without channel statistics is left alone.
// CHECK-LABEL: func @no_statistics
// CHECK-NOT: qopt.outliers
func.func @no_statistics(%a: tensor<1x3x8xf32>) -> tensor<1x3x2xf32> {
  %x = qopt.observe %a {id = "wq:in"} : tensor<1x3x8xf32>
  %w = arith.constant dense<0.5> : tensor<1x8x2xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %y = tosa.matmul %x, %w, %z, %z : (tensor<1x3x8xf32>, tensor<1x8x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}
