// RUN: qopt-opt %s --split-input-file --canonicalize | FileCheck %s

// The same probe twice observes once; the calibrated range survives.
// CHECK-LABEL: func @observe_twice
// CHECK: %[[O:.*]] = qopt.observe %{{.*}} {absmax = 2.000000e+00 : f32, id = "a"}
// CHECK-NOT: qopt.observe
// CHECK: return %[[O]]
func.func @observe_twice(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = qopt.observe %x {id = "a"} : tensor<4xf32>
  %1 = qopt.observe %0 {id = "a", absmax = 2.0 : f32} : tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// Different probes both stay.
// CHECK-LABEL: func @observe_distinct
// CHECK: qopt.observe %{{.*}} {id = "a"}
// CHECK: qopt.observe %{{.*}} {id = "b"}
func.func @observe_distinct(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = qopt.observe %x {id = "a"} : tensor<4xf32>
  %1 = qopt.observe %0 {id = "b"} : tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// Requantizing with the parameters the codes were dequantized with gives
// the codes back.
// CHECK-LABEL: func @requantize
// CHECK-SAME: (%[[Q:.*]]: tensor<8xi8>
// CHECK-NOT: qopt.
// CHECK: return %[[Q]]
func.func @requantize(%q: tensor<8xi8>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<8xi8> {
  %x = qopt.dequantize %q, %s, %z : (tensor<8xi8>, tensor<f32>, tensor<i8>) -> tensor<8xf32>
  %r = qopt.quantize %x, %s, %z : (tensor<8xf32>, tensor<f32>, tensor<i8>) -> tensor<8xi8>
  return %r : tensor<8xi8>
}

// -----

// A different scale is a real requantization and stays.
// CHECK-LABEL: func @requantize_other_scale
// CHECK: qopt.dequantize
// CHECK: qopt.quantize
func.func @requantize_other_scale(%q: tensor<8xi8>, %s: tensor<f32>, %t: tensor<f32>) -> tensor<8xi8> {
  %x = qopt.dequantize %q, %s : (tensor<8xi8>, tensor<f32>) -> tensor<8xf32>
  %r = qopt.quantize %x, %t : (tensor<8xf32>, tensor<f32>) -> tensor<8xi8>
  return %r : tensor<8xi8>
}

// -----

// Excluded channels get the zero point, not the dequantized codes.
// CHECK-LABEL: func @requantize_excluded
// CHECK: qopt.dequantize
// CHECK: qopt.quantize {{.*}}exclude_channels
func.func @requantize_excluded(%q: tensor<8xi8>, %s: tensor<f32>) -> tensor<8xi8> {
  %x = qopt.dequantize %q, %s : (tensor<8xi8>, tensor<f32>) -> tensor<8xf32>
  %r = qopt.quantize %x, %s {exclude_channels = array<i64: 2>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xi8>
  return %r : tensor<8xi8>
}
