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
    for static per-tensor activation scales; `gram` is XᵀX over every
    observed row x (a `[C, C]` f64 tensor, C = the last dim), the Hessian
    GPTQ and AWQ measure a layer's output error with; `channel_mean_abs` is
    mean |x| per channel (`[C]` f32), AWQ's activation salience;
    `channel_absmax` is max |x| per channel (`[C]` f32), what outlier
    detection and SmoothQuant read; `sample_rows` holds rows of x sampled
    during calibration (`[R, C]` f32), on which SmoothQuant measures the
    quantized output error of its candidate scales.

    ```mlir
    %0 = qopt.observe %x {id = "/layers.0/wq/MatMul:in"} : tensor<1x128x64xf32>
    %1 = qopt.observe %y {id = "/layers.0/wq/MatMul:in", absmax = 3.5 : f32} : tensor<1x128x64xf32>
    %2 = qopt.observe %z {id = "/w2/MatMul:in", gram = dense<[[2.0, 0.5], [0.5, 1.0]]> : tensor<2x2xf64>,
                          channel_mean_abs = dense<[0.9, 0.4]> : tensor<2xf32>} : tensor<1x8x2xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$id,
                       OptionalAttr<F32Attr>:$absmax,
                       OptionalAttr<ElementsAttr>:$gram,
                       OptionalAttr<ElementsAttr>:$channel_mean_abs,
                       OptionalAttr<ElementsAttr>:$channel_absmax,
                       OptionalAttr<ElementsAttr>:$sample_rows);
  let results = (outs AnyRankedTensor:$result);
  let builders = [
    // A probe without statistics yet.
    OpBuilder<(ins "::mlir::Value":$input, "::llvm::StringRef":$id), [{
      build($_builder, $_state, input.getType(), input,
            $_builder.getStringAttr(id), FloatAttr(), ElementsAttr(),
            ElementsAttr(), ElementsAttr(), ElementsAttr());
    }]>
  ];
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

    `exclude_channels` (ascending indices of the last dim) are quantized as
    if they held 0, i.e. they get the zero point: the channels a matmul
    computes in float instead (see `qopt.matmul`'s outlier product), whose
    values must not saturate the codes.

    ```mlir
    %q = qopt.quantize %x, %s, %z : (tensor<4x16xf32>, tensor<f32>, tensor<i8>) -> tensor<4x16xi8>
    %p = qopt.quantize %x, %sc {axis = 1 : i64, is_unsigned} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xi8>
    %e = qopt.quantize %x, %s {exclude_channels = array<i64: 3, 9>} : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xi8>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input,
                       RankedTensorOf<[F32]>:$scale,
                       Optional<RankedTensorOf<[AnySignlessInteger]>>:$zero_point,
                       OptionalAttr<I64Attr>:$axis, UnitAttr:$is_unsigned,
                       OptionalAttr<DenseI64ArrayAttr>:$exclude_channels);
  let results = (outs RankedTensorOf<[AnySignlessInteger]>:$result);
  let builders = [
    // Every channel quantized.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$scale, "::mlir::Value":$zero_point,
                   "::mlir::IntegerAttr":$axis, "bool":$is_unsigned), [{
      build($_builder, $_state, result, input, scale, zero_point, axis,
            is_unsigned, ::mlir::DenseI64ArrayAttr());
    }]>
  ];
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

    With `per_token`, `exclude_channels` (ascending indices of the last dim)
    are read as 0: they take no part in a row's max|x| and get code 0. These
    are the outlier channels of an LLM.int8-style decomposition, which the
    matmul computes in float; leaving them out keeps their magnitude from
    coarsening every other channel's codes.

    ```mlir
    %q, %s, %z = qopt.dynamic_quantize %x per_token : tensor<128x64xf32> -> tensor<128x64xi8>, tensor<128x1xf32>, tensor<128x1xi8>
    %e, %t, %u = qopt.dynamic_quantize %x per_token {exclude_channels = array<i64: 7>} : tensor<128x64xf32> -> tensor<128x64xi8>, tensor<128x1xf32>, tensor<128x1xi8>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$input,
                       QOpt_GranularityAttr:$granularity, UnitAttr:$is_unsigned,
                       OptionalAttr<DenseI64ArrayAttr>:$exclude_channels);
  let results = (outs RankedTensorOf<[I8]>:$result,
                      RankedTensorOf<[F32]>:$scale,
                      RankedTensorOf<[I8]>:$zero_point);
  let builders = [
    // Every channel quantized.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Type":$scale,
                   "::mlir::Type":$zero_point, "::mlir::Value":$input,
                   "::qopt::Granularity":$granularity, "bool":$is_unsigned), [{
      build($_builder, $_state, result, scale, zero_point, input, granularity,
            is_unsigned, ::mlir::DenseI64ArrayAttr());
    }]>
  ];
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
    logical reduction length (rows hold k codes, padded to whole bytes).
    Zero points are integer
    codes, or f32 for weight-only products (HQQ-style), in which case a
    weight is `(float(w) - zw) * sw`. Scales are f32, or f16 for weight-only
    products (half the bytes; a scale is widened to f32 exactly before it
    multiplies).

    Three forms:
    - float input (weight-only, e.g. W4A16): each weight is dequantized as
      `(w - zw) * sw` in the matmul loop and multiplied with the float
      input; the accumulation is float.
    - integer input, per-channel or per-tensor 8-bit weights (W8A8):
      `acc = sum_k (a - za) * (w - zw)` in i32, where `input_zero_point`
      (za) is optional; with an f32 result,
      `result = float(acc) * (input_scale * sw)`, `input_scale` holding one
      value or one per row (input shape with the last dim 1); with an i32
      result (ONNX MatMulInteger) `acc` itself.
    - integer input, group-wise 2- to 8-bit weights (W4A8): signed i8 codes
      without an input zero point and an f32 result. Each group g of G
      values (the last one possibly shorter) gives an exact
      i32 partial sum `P[m, n, g] = sum_{k in g} a[m, k] * (w[n, k] -
      zw[n, g])`. The groups are then combined in f32, in ascending g, one
      fused multiply-add (a single rounding) per group:
      `acc = 0; acc = fma(sw[n, g], float(P[m, n, g]), acc)` for g = 0, 1,
      ...; and `result[m, n] = input_scale[m] * acc`.

    Outlier product (LLM.int8's mixed-precision decomposition): with an
    integer input and an f32 result, `outlier_input` (the float activation
    the codes were made from, of the input's shape), `outlier_weights`
    (f32, [C, N]) and `outlier_channels` (C ascending input channels) add a
    float product over those channels only. With `R` the integer form's
    result, in ascending j, one fused multiply-add per channel:
    `acc = R[m, n]; acc = fma(x[m, c_j], Wo[j, n], acc)`; `result = acc`.
    The integer part is expected to hold nothing of these channels (their
    codes zeroed by `exclude_channels`, their weight columns zero), so the
    outliers neither saturate the activation codes nor widen the weight
    scales; the activation is read in place, never gathered into a copy.

    ```mlir
    %0 = qopt.matmul %a, %w scales(%s) {k = 64 : i64, scheme = #qopt.scheme<int4, group 32, sym>}
        : (tensor<1x8x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<1x8x32xf32>
    %1 = qopt.matmul %qa, %w8 scales(%s8) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<int8, per_channel, sym>}
        : (tensor<8x64xi8>, tensor<32x64xi8>, tensor<32x1xf32>, tensor<8x1xf32>) -> tensor<8x32xf32>
    %2 = qopt.matmul %qa, %w4 scales(%s4) zero_points(%z4) input_scale(%sa) {k = 64 : i64, scheme = #qopt.scheme<uint4, group 32, asym>}
        : (tensor<8x64xi8>, tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x2xi8>, tensor<8x1xf32>) -> tensor<8x32xf32>
    %3 = qopt.matmul %qa, %w8 scales(%s8) input_scale(%sa) outliers(%a, %wo) {k = 64 : i64, outlier_channels = array<i64: 5, 40>,
           scheme = #qopt.scheme<int8, per_channel, sym>}
        : (tensor<8x64xi8>, tensor<32x64xi8>, tensor<32x1xf32>, tensor<8x1xf32>, tensor<8x64xf32>, tensor<2x32xf32>) -> tensor<8x32xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyType]>:$input,
                       RankedTensorOf<[AnyType]>:$weight,
                       Optional<RankedTensorOf<[F32, F16]>>:$weight_scales,
                       Optional<RankedTensorOf<[AnySignlessInteger, F32]>>:$weight_zero_points,
                       Optional<RankedTensorOf<[F32]>>:$input_scale,
                       Optional<RankedTensorOf<[AnySignlessInteger]>>:$input_zero_point,
                       QOpt_SchemeAttr:$scheme, I64Attr:$k,
                       UnitAttr:$input_unsigned,
                       OptionalAttr<QOpt_PrecisionAttr>:$precision,
                       Optional<RankedTensorOf<[F32]>>:$outlier_input,
                       Optional<RankedTensorOf<[F32]>>:$outlier_weights,
                       OptionalAttr<DenseI64ArrayAttr>:$outlier_channels);
  let results = (outs RankedTensorOf<[F32, I32]>:$result);
  let builders = [
    // A product without an outlier part.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$weight, "::mlir::Value":$weight_scales,
                   "::mlir::Value":$weight_zero_points,
                   "::mlir::Value":$input_scale,
                   "::mlir::Value":$input_zero_point,
                   "::qopt::SchemeAttr":$scheme, "uint64_t":$k,
                   "bool":$input_unsigned,
                   "::qopt::PrecisionAttr":$precision), [{
      build($_builder, $_state, result, input, weight, weight_scales,
            weight_zero_points, input_scale, input_zero_point, scheme, k,
            input_unsigned, precision, ::mlir::Value(), ::mlir::Value(),
            ::mlir::DenseI64ArrayAttr());
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $weight (`scales` `(` $weight_scales^ `)`)?
      (`zero_points` `(` $weight_zero_points^ `)`)?
      (`input_scale` `(` $input_scale^ `)`)?
      (`input_zero_point` `(` $input_zero_point^ `)`)?
      (`outliers` `(` $outlier_input^ `,` $outlier_weights `)`)?
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
