// RUN: qopt-opt %s --qopt-math-approximation | FileCheck %s

// f32 exp and tanh on vectors become polynomials: no libm call per lane.
// CHECK-LABEL: func.func @softmax_bits(
// CHECK-NOT: math.exp
// CHECK-NOT: math.tanh
// CHECK: math.fma
// CHECK: return
func.func @softmax_bits(%x: vector<16xf32>) -> (vector<16xf32>, vector<16xf32>) {
  %e = math.exp %x : vector<16xf32>
  %t = math.tanh %x : vector<16xf32>
  return %e, %t : vector<16xf32>, vector<16xf32>
}

// f64 keeps the exact libm function.
// CHECK-LABEL: func.func @double(
// CHECK: math.exp {{.*}} : f64
func.func @double(%x: f64) -> f64 {
  %e = math.exp %x : f64
  return %e : f64
}
