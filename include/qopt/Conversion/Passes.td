//===- Passes.td - qopt conversions ------------------------*- tablegen -*-===//

#ifndef QOPT_CONVERSION_PASSES
#define QOPT_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def LowerToLinalgPass : Pass<"qopt-lower-to-linalg"> {
  let summary = "Lower qopt ops to linalg, arith and tensor: their reference semantics";
  let description = [{
    Gives every qopt op its meaning in upstream dialects; every target must
    compute what this lowering computes (bit for bit for integer
    arithmetic).

    - `qopt.quantize` / `qopt.dequantize` / `qopt.dynamic_quantize` become
      elementwise and reduction `linalg.generic` ops (division by the scale,
      `math.roundeven`, zero point, clamp).
    - `qopt.matmul` with a float input becomes a weight-dequantization
      `linalg.generic` (marked `qopt.dequantize_weights = A`, reading the
      packed bytes in place) feeding `linalg.matmul`; targets fuse the two so
      that weights are dequantized block by block inside the matmul loop. A
      block of the reduction dim must start at a multiple of A (where a group
      and a byte start).
    - `qopt.matmul` with an integer input becomes an i32 product (a named
      transposed-B `linalg.matmul` for signed codes without zero points, a
      contraction generic subtracting the zero points otherwise) followed by
      a float rescale.
    - `qopt.conv2d` becomes a zero-point-padded integer convolution
      `linalg.generic`; `qopt.embedding` a gather-and-dequantize generic.
    - `qopt.observe` is dropped (the value passes through).

    ```mlir
    %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
        : (tensor<8x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<8x32xf32>
    // becomes
    %wt = linalg.generic {qopt.dequantize_weights, ...} ins(%w, %s : ...) outs(%e : tensor<64x32xf32>) {...}
    %0 = linalg.matmul ins(%a, %wt : tensor<8x64xf32>, tensor<64x32xf32>) outs(%z : tensor<8x32xf32>) -> tensor<8x32xf32>
    ```
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::math::MathDialect",
                           "mlir::tensor::TensorDialect"];
}

#endif // QOPT_CONVERSION_PASSES
