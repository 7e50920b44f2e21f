// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16 algorithm=gptq gptq-refine-rounds=0 gptq-scale-grid=0" | FileCheck %s --check-prefix=GPTQ
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16 algorithm=gptq" | FileCheck %s --check-prefix=REFINED
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16 algorithm=awq" | FileCheck %s --check-prefix=AWQ
// RUN: qopt-opt %s --split-input-file --qopt-quantize="precision=w4a16 algorithm=rtn" | FileCheck %s --check-prefix=RTN

// With an identity Hessian the GPTQ sweep has no error to spread: it picks
// RTN's codes. Row 0 (k = 0..3) is [0.5, 0.25, -0.75, 1.0]: scale 1.0 / -8, codes
// -4 -2 6 -8, two per byte low nibble first: 0xEC 0x86 = -20 -122. Row 1 is
// [-1.0, 0.5, 0.1, 0.3]: scale -1.0 / -8, codes -8 4 1 2: 0x48 0x21 = 72 33.
// GPTQ-LABEL: func @identity_hessian
// GPTQ-DAG: %[[W:.*]] = arith.constant dense<{{\[}}[-20, -122], [72, 33]]> : tensor<2x2xi8>
// GPTQ-DAG: %[[S:.*]] = arith.constant dense<{{\[}}[-1.250000e-01], [1.250000e-01]]> : tensor<2x1xf32>
// GPTQ: qopt.matmul %{{.*}}, %[[W]] scales(%[[S]]) {k = 4 : i64, precision = #qopt.precision<w4a16, weights = #qopt.scheme<int4, per_channel, sym>, algorithm = gptq>
// Equal mean |x| on every channel: AWQ's scales are all 1 and the input
// is used as it is.
// AWQ-LABEL: func @identity_hessian
// AWQ-NOT: linalg.generic
// AWQ: qopt.matmul {{.*}}algorithm = awq>
// The refinement after the sweep refits the scales by least squares, which
// moves them off RTN's, keeping the codes.
// REFINED-LABEL: func @identity_hessian
// REFINED-DAG: arith.constant dense<{{\[}}[-20, -122], [72, 33]]> : tensor<2x2xi8>
// REFINED-NOT: dense<{{\[}}[-1.250000e-01], [1.250000e-01]]>
// REFINED: qopt.matmul {{.*}}algorithm = gptq>
// RTN-LABEL: func @identity_hessian
// RTN: arith.constant dense<{{\[}}[-20, -122], [72, 33]]> : tensor<2x2xi8>
// RTN: qopt.matmul {{.*}}algorithm = rtn>
func.func @identity_hessian(%a: tensor<1x3x4xf32>) -> tensor<1x3x2xf32> {
  %w = arith.constant dense<[[0.5, -1.0], [0.25, 0.5], [-0.75, 0.1], [1.0, 0.3]]> : tensor<4x2xf32>
  %shape = tosa.const_shape {values = dense<[1, 4, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<4x2xf32>, !tosa.shape<3>) -> tensor<1x4x2xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %x = qopt.observe %a {id = "wq:in",
         gram = dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf64>,
         channel_mean_abs = dense<[1.0, 1.0, 1.0, 1.0]> : tensor<4xf32>} : tensor<1x3x4xf32>
  %y = tosa.matmul %x, %b, %z, %z : (tensor<1x3x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32> loc("wq")
  %s = tosa.add %y, %y : (tensor<1x3x2xf32>, tensor<1x3x2xf32>) -> tensor<1x3x2xf32>
  return %s : tensor<1x3x2xf32>
}

// -----

// With awq the two matmuls reading one input share its scales; the input is
// divided by them once, and both products read the scaled input.
// AWQ-LABEL: func @shared_input
// AWQ: %[[X:.*]] = qopt.observe
// AWQ: %[[SX:.*]] = linalg.generic {{.*}} ins(%[[X]], %{{.*}} : tensor<1x3x4xf32>, tensor<4xf32>)
// AWQ: arith.mulf
// AWQ: qopt.matmul %[[SX]], {{.*}}algorithm = awq>
// AWQ: qopt.matmul %[[SX]], {{.*}}algorithm = awq>
// AWQ-NOT: linalg.generic
// Plain GPTQ (no input-scale search) leaves the input alone; by default the
// search may choose scales, applied once for both products like AWQ's.
// GPTQ-LABEL: func @shared_input
// GPTQ-NOT: linalg.generic
// GPTQ-COUNT-2: qopt.matmul %{{.*}}algorithm = gptq>
// REFINED-LABEL: func @shared_input
// REFINED-COUNT-2: qopt.matmul %[[IN:[^,]*]], {{.*}}algorithm = gptq>
func.func @shared_input(%a: tensor<1x3x4xf32>) -> tensor<1x3x2xf32> {
  %w = arith.constant dense<[[0.5, -1.0], [0.25, 0.5], [-0.75, 0.1], [1.0, 0.3]]> : tensor<4x2xf32>
  %v = arith.constant dense<[[0.1, -0.2], [0.9, 0.4], [-0.3, 0.6], [0.2, -0.7]]> : tensor<4x2xf32>
  %shape = tosa.const_shape {values = dense<[1, 4, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b = tosa.reshape %w, %shape : (tensor<4x2xf32>, !tosa.shape<3>) -> tensor<1x4x2xf32>
  %c = tosa.reshape %v, %shape : (tensor<4x2xf32>, !tosa.shape<3>) -> tensor<1x4x2xf32>
  %z = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %x = qopt.observe %a {id = "wq:in",
         gram = dense<[[9.0, 1.0, 0.0, 0.5], [1.0, 1.0, 0.2, 0.0], [0.0, 0.2, 0.25, 0.0], [0.5, 0.0, 0.0, 4.0]]> : tensor<4x4xf64>,
         channel_mean_abs = dense<[3.0, 1.0, 0.5, 2.0]> : tensor<4xf32>} : tensor<1x3x4xf32>
  %y = tosa.matmul %x, %b, %z, %z : (tensor<1x3x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32> loc("wq")
  %y2 = tosa.matmul %x, %c, %z, %z : (tensor<1x3x4xf32>, tensor<1x4x2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x2xf32> loc("wk")
  %s = tosa.add %y, %y2 : (tensor<1x3x2xf32>, tensor<1x3x2xf32>) -> tensor<1x3x2xf32>
  return %s : tensor<1x3x2xf32>
}
