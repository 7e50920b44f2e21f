// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16-g32 algorithm=gptq" -verify-diagnostics

// GPTQ without calibration statistics is an error at the node, never a
// silent RTN.
func.func @no_gram(%a: tensor<1x4x32xf32>) -> tensor<1x4x16xf32> {
  %w = arith.constant dense<0.25> : tensor<32x16xf32>
  %shape = tosa.const_shape {values = dense<[1, 32, 16]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<32x16xf32>, !tosa.shape<3>) -> tensor<1x32x16xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  // expected-error @+1 {{gptq needs the Gram matrix of this matmul's input from calibration}}
  %y = tosa.matmul %a, %b, %z, %z : (tensor<1x4x32xf32>, tensor<1x32x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x16xf32>
  %s = tosa.add %y, %y : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %s : tensor<1x4x16xf32>
}
