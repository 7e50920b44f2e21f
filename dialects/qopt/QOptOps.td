//===- QOptOps.td - qopt dialect operations ----------------*- tablegen -*-===//

#ifndef QOPT_DIALECT_QOPTOPS
#define QOPT_DIALECT_QOPTOPS

include "QOptBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/OpBase.td"

def QOpt_ObserveOp : QOpt_Op<"observe", [SameOperandsAndResultType]> {
  let summary = "Calibration probe: identity on its input, records statistics";
  let description = [{
    Marks a tensor whose statistics a later quantization decision needs. The
    value passes through unchanged. For calibration the instrumented graph is
    compiled with every probe exposed as an extra model output
    (`qopt-expose-observers`), run on the calibration set, and the observed
    tensors stream into a calibration table under the probe's `id`.
    Calibrated results come back as attributes: `absmax` is the range chosen
    for static per-tensor activation scales.

    ```mlir
    %0 = qopt.observe %x {id = "/layers.0/wq/MatMul:in"} : tensor<1x128x64xf32>
    %1 = qopt.observe %y {id = "/layers.0/wq/MatMul:in", absmax = 3.5 : f32} : tensor<1x128x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$id,
                       OptionalAttr<F32Attr>:$absmax);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
  let hasCanonicalizeMethod = 1;
}

def QOpt_QuantizeOp : QOpt_Op<"quantize", [Pure]> {
  let summary = "Float to integer with given (static) scales and zero points";
  let description = [{
    `q = clamp(roundeven(x / scale) + zero_point, qmin, qmax)`, where the
    range is the full range of the result's integer type, signed unless
    `is_unsigned` is set. `scale` and `zero_point` hold one value
    (`tensor<f32>` / `tensor<1xf32>`, per tensor) or one per index of dim
    `axis` of the input. A missing zero point is zero. This is ONNX
    QuantizeLinear's arithmetic.

    ```mlir
    %q = qopt.quantize %x, %s, %z : (tensor<4x16xf32>, tensor<f32>, tensor<i8>) -> tensor<4x16xi8>
    %p = qopt.quantize %x, %sc {axis = 1 : i64, is_unsigned} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xi8>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       RankedTensorOf<[F32]>:$scale,
                       Optional<RankedTensorOf<[AnySignlessInteger]>>:$zero_point,
                       OptionalAttr<I64Attr>:$axis, UnitAttr:$is_unsigned);
  let results = (outs RankedTensorOf<[AnySignlessInteger]>:$result);
  let assemblyFormat = [{
    $input `,` $scale (`,` $zero_point^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def QOpt_DequantizeOp : QOpt_Op<"dequantize", [Pure]> {
  let summary = "Integer to float with given scales and zero points";
  let description = [{
    `x = (q - zero_point) * scale`, computed as an integer subtraction
    followed by one float multiplication. `q` is read as signed unless
    `is_unsigned` is set. Scale and zero point are per tensor or per index of
    dim `axis`, as for `qopt.quantize`. This is ONNX DequantizeLinear.

    ```mlir
    %x = qopt.dequantize %q, %s, %z : (tensor<4x16xi8>, tensor<f32>, tensor<i8>) -> tensor<4x16xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnySignlessInteger]>:$input,
                       RankedTensorOf<[F32]>:$scale,
                       Optional<RankedTensorOf<[AnySignlessInteger]>>:$zero_point,
                       OptionalAttr<I64Attr>:$axis, UnitAttr:$is_unsigned);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);
  let assemblyFormat = [{
    $input `,` $scale (`,` $zero_point^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def QOpt_DynamicQuantizeOp : QOpt_Op<"dynamic_quantize", [Pure]> {
  let summary = "Float to integer with scales computed from the data at run time";
  let description = [{
    Chooses scales from the input itself, then quantizes as `qopt.quantize`:

    - `per_token`: one scale per row (all dims but the last), symmetric:
      `scale = max|x| / 127` (1 for an all-zero row), codes in [-127, 127],
      zero point 0. Scales and zero points have the input's shape with the
      last dim 1. This is the dynamic activation side of W8A8.
    - `per_tensor` with `is_unsigned`: ONNX DynamicQuantizeLinear.
      `scale = (max(x, 0) - min(x, 0)) / 255`,
      `zero_point = clamp(roundeven(-min(x, 0) / scale), 0, 255)`; scale and
      zero point are rank 0.

    ```mlir
    %q, %s, %z = qopt.dynamic_quantize %x per_token : tensor<128x64xf32> -> tensor<128x64xi8>, tensor<128x1xf32>, tensor<128x1xi8>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$input,
                       QOpt_GranularityAttr:$granularity, UnitAttr:$is_unsigned);
  let results = (outs RankedTensorOf<[I8]>:$result,
                      RankedTensorOf<[F32]>:$scale,
                      RankedTensorOf<[I8]>:$zero_point);
  let assemblyFormat = [{
    $input $granularity attr-dict `:` type($input) `->` type(results)
  }];
  let hasVerifier = 1;
}

def QOpt_MatMulOp : QOpt_Op<"matmul", [Pure, AttrSizedOperandSegments]> {
  let summary = "Matrix product with packed quantized weights";
  let description = [{
    `result[..., m, n] = sum_k A[..., m, k] * W[n, k]` where `W` is stored in
    the packed layout of `scheme` (N rows, see the dialect description) with
    `weight_scales` and, for an asymmetric scheme, `weight_zero_points`, one
    per row (`per_channel`), per group of the row (`group N`, shape
    [N, K / N]) or one in all (`per_tensor`, shape [1, 1]). `k` is the
    logical reduction length (rows may be padded). Zero points are integer
    codes, or f32 for weight-only products (HQQ-style), in which case a
    weight is `(float(w) - zw) * sw`.

    Two forms:
    - float input (weight-only, e.g. W4A16): each weight is dequantized as
      `(w - zw) * sw` in the matmul loop and multiplied with the float
      input; the accumulation is float.
    - integer input (W8A8): `acc = sum_k (a - za) * (w - zw)` in i32, where
      `input_zero_point` (za) is optional; with an f32 result,
      `result = float(acc) * (input_scale * sw)`, `input_scale` holding one
      value or one per row (input shape with the last dim 1); with an i32
      result (ONNX MatMulInteger) `acc` itself.

    ```mlir
    %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
        : (tensor<1x8x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<1x8x32xf32>
    %1 = qopt.matmul %qa, %w8 scales(%s8) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<int8, per_channel, sym>}
        : (tensor<8x64xi8>, tensor<32x64xi8>, tensor<32x1xf32>, tensor<8x1xf32>) -> tensor<8x32xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyType]>:$input,
                       RankedTensorOf<[AnyType]>:$weight,
                       Optional<RankedTensorOf<[F32]>>:$weight_scales,
                       Optional<RankedTensorOf<[AnySignlessInteger, F32]>>:$weight_zero_points,
                       Optional<RankedTensorOf<[F32]>>:$input_scale,
                       Optional<RankedTensorOf<[AnySignlessInteger]>>:$input_zero_point,
                       QOpt_SchemeAttr:$scheme, I64Attr:$k,
                       UnitAttr:$input_unsigned,
                       OptionalAttr<QOpt_PrecisionAttr>:$precision);
  let results = (outs RankedTensorOf<[F32, I32]>:$result);
  let assemblyFormat = [{
    $input `,` $weight (`scales` `(` $weight_scales^ `)`)?
      (`zero_points` `(` $weight_zero_points^ `)`)?
      (`input_scale` `(` $input_scale^ `)`)?
      (`input_zero_point` `(` $input_zero_point^ `)`)?
      attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether the input is integer (W8A8 / MatMulInteger form).
    bool hasIntegerInput() {
      return mlir::isa<mlir::IntegerType>(getInput().getType().getElementType());
    }
    int64_t getN() { return getWeight().getType().getDimSize(0); }
  }];
}

def QOpt_Conv2DOp : QOpt_Op<"conv2d", [Pure, AttrSizedOperandSegments]> {
  let summary = "2-D convolution (NCHW) over int8 weights";
  let description = [{
    ONNX Conv arithmetic over an integer input and int8/uint8 weights of
    shape [F, C / group, KH, KW]: `acc = sum (x - zx) * (w - zw)` in i32,
    with padding by the input zero point (so padded taps add nothing). With
    an f32 result, `result = float(acc) * (input_scale * weight_scale[f])`;
    with an i32 result, `acc` (ONNX ConvInteger). Weight scales and zero
    points are per tensor (shape [1]) or per output channel (shape [F]).

    ```mlir
    %y = qopt.conv2d %x, %w zero_points(%zw) input_zero_point(%zx)
           {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64}
           : (tensor<1x3x8x8xi8>, tensor<4x3x3x3xi8>, tensor<1xi8>, tensor<i8>) -> tensor<1x4x8x8xi32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnySignlessInteger]>:$input,
                       RankedTensorOf<[AnySignlessInteger]>:$weight,
                       Optional<RankedTensorOf<[F32]>>:$weight_scales,
                       Optional<RankedTensorOf<[AnySignlessInteger]>>:$weight_zero_points,
                       Optional<RankedTensorOf<[F32]>>:$input_scale,
                       Optional<RankedTensorOf<[AnySignlessInteger]>>:$input_zero_point,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations, I64Attr:$group,
                       UnitAttr:$input_unsigned, UnitAttr:$weight_unsigned);
  let results = (outs RankedTensorOf<[F32, I32]>:$result);
  let assemblyFormat = [{
    $input `,` $weight (`scales` `(` $weight_scales^ `)`)?
      (`zero_points` `(` $weight_zero_points^ `)`)?
      (`input_scale` `(` $input_scale^ `)`)?
      (`input_zero_point` `(` $input_zero_point^ `)`)?
      attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def QOpt_EmbeddingOp : QOpt_Op<"embedding", [Pure]> {
  let summary = "Row gather from a packed quantized table";
  let description = [{
    `result[i..., d] = (T[ids[i...], d] - z) * s` for a table of V rows of D
    values stored in the packed layout of `scheme` (rows are the gathered
    unit; groups run along D). Ids outside [0, V) are clamped.

    ```mlir
    %e = qopt.embedding %table[%ids] scales(%s) {dim = 64 : i64, scheme = #qopt.scheme<int8, per_channel, sym>}
        : (tensor<512x64xi8>, tensor<1x8xi32>, tensor<512x1xf32>) -> tensor<1x8x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I8]>:$table,
                       RankedTensorOf<[AnySignlessInteger]>:$ids,
                       RankedTensorOf<[F32]>:$scales,
                       Optional<RankedTensorOf<[I8]>>:$zero_points,
                       QOpt_SchemeAttr:$scheme, I64Attr:$dim);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $table `[` $ids `]` `scales` `(` $scales `)` (`zero_points` `(` $zero_points^ `)`)?
      attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // QOPT_DIALECT_QOPTOPS
