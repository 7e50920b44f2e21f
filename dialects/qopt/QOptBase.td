//===- QOptBase.td - qopt dialect, enums and attributes ----*- tablegen -*-===//
//
// The qopt dialect holds what upstream MLIR lacks for a quantizing compiler:
// calibration probes, (de)quantization with static or dynamic scales,
// mixed-precision compute over packed weights, and attributes that describe
// a quantization scheme and a per-op precision decision.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPTBASE
#define QOPT_DIALECT_QOPTBASE

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/OpBase.td"

def QOpt_Dialect : Dialect {
  let name = "qopt";
  let cppNamespace = "::qopt";
  let summary = "Quantization: observation, (de)quantization, mixed-precision compute";
  let description = [{
    The `qopt` dialect is the quantized graph IR of qopt. A float graph is
    instrumented with `qopt.observe` probes for calibration; quantization
    passes then replace float matrix products with `qopt.matmul`,
    `qopt.conv2d` and `qopt.embedding`, whose weights are packed integer data
    plus scale and zero-point tensors, and insert `qopt.quantize`,
    `qopt.dequantize` and `qopt.dynamic_quantize` on activations.
    `qopt-lower-to-linalg` gives every op its reference semantics; each target
    must match that lowering (bit for bit for integer arithmetic).

    Weight layout: a weight matrix is stored as `N` rows (output channels) of
    `K` values (the reduction dim). Values narrower than a byte are packed
    little-endian into a bit stream per row: value `k` of a row occupies bits
    `[k * bits, (k + 1) * bits)`, counting from bit 0 of the row's first
    byte. Rows are padded to whole bytes only: a last group shorter than
    the others (K not a multiple of the group size) stores just its values,
    with a group's parameters of its own.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Discardable attribute on a matmul: the outlier channels of its input
    /// (an OutliersAttr), written by qopt-detect-outliers.
    static constexpr llvm::StringLiteral kOutliersAttrName = "qopt.outliers";
    /// Discardable attribute on a matmul whose input was divided by scales
    /// s and whose weights were multiplied by them (SmoothQuant's migration
    /// scales from qopt-smooth, or GPTQ's and AWQ's input scales from
    /// qopt-quantize): s, a 1-D f32 dense tensor of the reduction dim's
    /// size, all finite and positive. The ONNX export reads it to scale the
    /// model's own activation the same way.
    static constexpr llvm::StringLiteral kSmoothScalesAttrName =
        "qopt.smooth_scales";
    /// Discardable attribute on a quantizable op: its LayerRoleAttr (what
    /// it does in the model), written by qopt-classify-layers.
    static constexpr llvm::StringLiteral kRoleAttrName = "qopt.role";
    /// Discardable attribute on an integer tosa.matmul of two quantized
    /// activations (attention scores, written by qopt-quantize): its
    /// PrecisionAttr, whose `activations` scheme describes the left operand
    /// and `weights` the right one.
    static constexpr llvm::StringLiteral kPrecisionAttrName = "qopt.precision";
    /// Discardable attribute on the module: the TargetAttr it is compiled
    /// for, which the target backend's pipeline reads.
    static constexpr llvm::StringLiteral kTargetAttrName = "qopt.target";
    /// Argument and result attributes of a model's entry function: the
    /// ONNX name and dtype of an input or output (StringAttrs, written by
    /// the importer and read by the artifact writer).
    static constexpr llvm::StringLiteral kNameAttrName = "qopt.name";
    static constexpr llvm::StringLiteral kDTypeAttrName = "qopt.dtype";
    /// Argument attribute of the bufferized entry: its ArgRoleAttr (weights
    /// and workspace set by the passes that add them, inputs and outputs by
    /// qopt-assign-arg-roles). The artifact writer reads only these.
    static constexpr llvm::StringLiteral kArgRoleAttrName = "qopt.arg_role";
    /// On the module, after qopt-externalize-weights with `attach-blob`: the
    /// weights blob (a dense_resource i8 tensor) and where each constant lies
    /// in it (an array of {global, offset, bytes} dictionaries).
    static constexpr llvm::StringLiteral kWeightsBlobAttrName =
        "qopt.weights_blob";
    static constexpr llvm::StringLiteral kWeightsLayoutAttrName =
        "qopt.weights_layout";
    /// On the module: the workspace's size in bytes (qopt-plan-memory).
    static constexpr llvm::StringLiteral kWorkspaceBytesAttrName =
        "qopt.workspace_bytes";
    /// On the module: how many kernels split their loops over threads, 0
    /// where the entry runs on one thread only (qopt-parallelize-kernels).
    static constexpr llvm::StringLiteral kThreadsAttrName = "qopt.threads";
    /// On a linalg.generic that decodes packed weights: the alignment (an
    /// integer) its consumer's tiling must respect (qopt-lower-to-linalg).
    static constexpr llvm::StringLiteral kDequantizeWeightsAttrName =
        "qopt.dequantize_weights";
    /// On a linalg op: its LoweringConfigAttr, written by the target's
    /// tiling strategy (qopt-tile-strategy) and applied by
    /// qopt-tile-and-vectorize.
    static constexpr llvm::StringLiteral kLoweringConfigAttrName =
        "qopt.lowering_config";
    /// On an scf.for whose body holds untiled linalg ops on tensors (the
    /// row loop of a decomposed convolution): qopt-tile-strategy configures
    /// them like top-level ops (a UnitAttr).
    static constexpr llvm::StringLiteral kTileInLoopAttrName =
        "qopt.tile_in_loop";
    /// On the entry function: the KV cache layout (a dictionary written by
    /// qopt-static-kv-cache, copied into the manifest).
    static constexpr llvm::StringLiteral kKVCacheAttrName = "qopt.kv_cache";
    /// Discardable attribute on a quantizable op (a weight matmul, a
    /// convolution, an embedding gather, an activation product): the
    /// AssignmentAttr qopt-assign-precision chose for it, which
    /// qopt-quantize follows instead of its own `precision` option.
    static constexpr llvm::StringLiteral kAssignAttrName = "qopt.assign";
  }];
}

def QOpt_ArgRole : I32EnumAttr<"ArgRole",
    "what an argument of a compiled entry function carries", [
  I32EnumAttrCase<"Weights", 0, "weights">,
  I32EnumAttrCase<"Workspace", 1, "workspace">,
  I32EnumAttrCase<"Input", 2, "input">,
  I32EnumAttrCase<"Output", 3, "output">
]> {
  let cppNamespace = "::qopt";
  let genSpecializedAttr = 0;
}

def QOpt_ArgRoleAttr : EnumAttr<QOpt_Dialect, QOpt_ArgRole, "arg_role"> {
  let summary = "The calling-convention role of an entry-function argument";
  let description = [{
    The compiled entry point takes the weights blob, the workspace, then one
    buffer per model input and one per output. This attribute declares
    which an argument is, so the artifact writer never infers it from
    positions:

    ```mlir
    func.func @main(%w: memref<?xi8> {qopt.arg_role = #qopt.arg_role<weights>},
                    %ws: memref<?xi8> {qopt.arg_role = #qopt.arg_role<workspace>},
                    %x: memref<1x64xf32> {qopt.arg_role = #qopt.arg_role<input>, qopt.name = "x"},
                    %y: memref<1x8xf32> {qopt.arg_role = #qopt.arg_role<output>})
    ```
  }];
  let assemblyFormat = "`<` $value `>`";
}

def QOpt_QuantKind : I32EnumAttr<"QuantKind", "how stored codes map to values", [
  I32EnumAttrCase<"Int", 0, "int">,
  I32EnumAttrCase<"NF4", 1, "nf4">,
  I32EnumAttrCase<"FP8E4M3", 2, "fp8_e4m3">,
  I32EnumAttrCase<"Float", 3, "float">
]> {
  let cppNamespace = "::qopt";
  let genSpecializedAttr = 0;
}

def QOpt_Granularity : I32EnumAttr<"Granularity", "what one scale covers", [
  I32EnumAttrCase<"PerTensor", 0, "per_tensor">,
  I32EnumAttrCase<"PerChannel", 1, "per_channel">,
  I32EnumAttrCase<"PerToken", 2, "per_token">,
  I32EnumAttrCase<"Group", 3, "group">
]> {
  let cppNamespace = "::qopt";
  let genSpecializedAttr = 0;
}

def QOpt_GranularityAttr : EnumAttr<QOpt_Dialect, QOpt_Granularity, "granularity">;

def QOpt_SchemeAttr : AttrDef<QOpt_Dialect, "Scheme"> {
  let mnemonic = "scheme";
  let summary = "A quantization scheme: kind, bits, granularity, symmetry";
  let description = [{
    Describes how a tensor is quantized:

    - kind and width: `int8`, `int4`, `int3`, `int2` (signed storage),
      `uint8` ... `uint2` (unsigned storage), `nf4` (the 16-entry NormalFloat
      code book of QLoRA, 4-bit indices), `fp8_e4m3`, `f16` (float weights);
    - granularity: `per_tensor`, `per_channel` (one scale per output
      channel), `per_token` (one scale per activation row, dynamic) or
      `group N` (one scale per N consecutive values along the reduction dim);
    - `sym` (no zero point) or `asym` (a zero point per scale).

    ```mlir
    #qopt.scheme<int4, group 32, sym>
    #qopt.scheme<uint4, group 128, asym>
    #qopt.scheme<int8, per_channel, sym>
    #qopt.scheme<nf4, group 64, sym>
    #qopt.scheme<f16, per_tensor, sym>
    ```
  }];
  let parameters = (ins
    "QuantKind":$kind,
    "unsigned":$bits,
    "bool":$isUnsigned,
    "Granularity":$granularity,
    "int64_t":$groupSize,
    "bool":$symmetric
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The weight scheme of lib/Quant (the packing and rounding code) for
    /// weights stored under this scheme, and the attribute that stores
    /// `weights` (per_channel unless grouped; asymmetric integer weights
    /// are unsigned codes). The layout arithmetic below is lib/Quant's.
    quant::WeightScheme getWeightScheme() const;
    static SchemeAttr get(mlir::MLIRContext *context,
                          const quant::WeightScheme &weights);
    /// Values per reduction-dim scale for a row of `k` values.
    int64_t getGroupLength(int64_t k) const;
    /// Bytes of one packed row of `k` values (padded to whole bytes).
    int64_t getPackedRowBytes(int64_t k) const;
    /// `k` rounded up to whole groups (what the parameters cover).
    int64_t getPaddedLength(int64_t k) const;
    /// Whether codes are packed integers (int or nf4) read through scales.
    bool isPackedInteger() const {
      return getKind() == QuantKind::Int || getKind() == QuantKind::NF4;
    }
  }];
}

def QOpt_PrecisionAttr : AttrDef<QOpt_Dialect, "Precision"> {
  let mnemonic = "precision";
  let summary = "A per-op precision decision";
  let description = [{
    The precision a quantization pass chose for one op: the weights' scheme,
    and, when activations are quantized too, their scheme and whether their
    scales are calibrated ahead of time (`static`) or computed at run time
    (`dynamic`). Absent activations mean float activations (weight-only).
    `algorithm` names how the weights were chosen (`rtn`, `gptq`, `awq`);
    absent means round-to-nearest.

    ```mlir
    #qopt.precision<w4a16, weights = #qopt.scheme<int4, group 32, sym>>
    #qopt.precision<w8a8, weights = #qopt.scheme<int8, per_channel, sym>,
                    activations = #qopt.scheme<int8, per_token, sym>, dynamic>
    #qopt.precision<w3a16-g32, weights = #qopt.scheme<int3, group 32, sym>, algorithm = gptq>
    ```
  }];
  let parameters = (ins
    StringRefParameter<"short name such as w4a16-g32">:$name,
    "SchemeAttr":$weights,
    OptionalParameter<"SchemeAttr">:$activations,
    DefaultValuedParameter<"bool", "false">:$dynamic,
    StringRefParameter<"weight algorithm (rtn, gptq, awq)", "\"\"">:$algorithm
  );
  let hasCustomAssemblyFormat = 1;
}

def QOpt_OutliersAttr : AttrDef<QOpt_Dialect, "Outliers"> {
  let mnemonic = "outliers";
  let summary = "Outlier channels of a matmul's input activation";
  let description = [{
    What `qopt-detect-outliers` found in the calibration statistics of a
    matmul's input: the input channels whose abs-max exceeds both
    `threshold` and `ratio` times the median channel abs-max (LLM.int8's
    magnitude criterion and SmoothQuant's relative one), the channel
    abs-max median, the largest channel abs-max over that median
    (`max_ratio`), and the share of a per-tensor int8 range that only the
    outliers use (`range_fraction` = 1 - max over ordinary channels / max over
    all channels). Attached to the matmul as `qopt.outliers`.

    ```mlir
    %y = tosa.matmul %x, %w, %za, %zb {qopt.outliers = #qopt.outliers<channels = [3, 17],
           threshold = 6.0, ratio = 8.0, median = 0.5, max_ratio = 40.0, range_fraction = 0.9>} : ...
    ```
  }];
  let parameters = (ins
    "::mlir::DenseI64ArrayAttr":$channels,
    APFloatParameter<"">:$threshold,
    APFloatParameter<"">:$ratio,
    APFloatParameter<"">:$median,
    APFloatParameter<"">:$max_ratio,
    APFloatParameter<"">:$range_fraction
  );
  let assemblyFormat = "`<` struct(params) `>`";
}

def QOpt_LayerRole : I32EnumAttr<"LayerRole",
    "what a quantizable op does in the model", [
  I32EnumAttrCase<"Embedding", 0, "embedding">,
  I32EnumAttrCase<"AttentionQKV", 1, "attention_qkv">,
  I32EnumAttrCase<"AttentionOutput", 2, "attention_output">,
  I32EnumAttrCase<"AttentionScores", 3, "attention_scores">,
  I32EnumAttrCase<"FFNUp", 4, "ffn_up">,
  I32EnumAttrCase<"FFNGate", 5, "ffn_gate">,
  I32EnumAttrCase<"FFNDown", 6, "ffn_down">,
  I32EnumAttrCase<"Classifier", 7, "classifier">,
  I32EnumAttrCase<"ConvPointwise", 8, "conv_pointwise">,
  I32EnumAttrCase<"ConvDepthwise", 9, "conv_depthwise">,
  I32EnumAttrCase<"Conv", 10, "conv">,
  I32EnumAttrCase<"Other", 11, "other">
]> {
  let cppNamespace = "::qopt";
  let genSpecializedAttr = 0;
}

def QOpt_LayerRoleAttr : EnumAttr<QOpt_Dialect, QOpt_LayerRole, "role"> {
  let summary = "The role of a quantizable op in its model";
  let description = [{
    What `qopt-classify-layers` recognized an op to be, from the structure
    of the graph around it (never from its name): an `embedding` table
    (a row gather from a constant: token, position or rotary tables); the `attention_qkv` projections whose outputs reach a product of
    two activations, the `attention_output` projection reading the
    attention-weighted values, and the `attention_scores` products Q·Kᵀ
    and P·V themselves; the feed-forward `ffn_up`, `ffn_gate` (the branch
    through the gating nonlinearity of SwiGLU/GeGLU) and `ffn_down`
    products; the `classifier` that produces the model's output;
    convolutions (`conv_pointwise` for 1x1 kernels without groups,
    `conv_depthwise` for one group per channel, `conv` otherwise); and
    `other`. Precision recipes select ops by these names. Attached to the
    op as `qopt.role`.

    ```mlir
    %q = tosa.matmul %x, %wq, %z, %z {qopt.role = #qopt.role<attention_qkv>}
        : (tensor<1x8x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x64xf32>
    ```
  }];
  let assemblyFormat = "`<` $value `>`";
}

def QOpt_TargetAttr : AttrDef<QOpt_Dialect, "Target"> {
  let mnemonic = "target";
  let summary = "The machine a module is compiled for";
  let description = [{
    Names the registered target backend that lowers the module, the LLVM
    target triple, the CPU or GPU, and the target features in LLVM's
    `+feature,-feature` spelling, with every feature the CPU implies
    written out (so the manifest can list what the artifact needs at run
    time). `qopt` resolves it from `--target`, `-mcpu` and `-mattr` and
    attaches it to the module as `qopt.target`; calibration and the
    quality report attach the host's. Backends build their pipeline from
    it rather than from global flags.

    ```mlir
    module attributes {qopt.target = #qopt.target<backend = "x86",
        triple = "x86_64-unknown-linux-gnu", cpu = "znver4",
        features = "+avx2,+avx512f,+avx512vnni,+fma">} {
    }
    ```
  }];
  let parameters = (ins
    StringRefParameter<"registered backend name">:$backend,
    StringRefParameter<"LLVM target triple">:$triple,
    StringRefParameter<"CPU or GPU name">:$cpu,
    StringRefParameter<"target features, +f,-g", "\"\"">:$features
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let extraClassDeclaration = [{
    /// Whether `features` enables `feature` (a later "-feature" wins).
    bool hasFeature(llvm::StringRef feature) const;
  }];
}

def QOpt_LoweringConfigAttr : AttrDef<QOpt_Dialect, "LoweringConfig"> {
  let mnemonic = "lowering_config";
  let summary = "How one op is tiled and vectorized";
  let description = [{
    The target's strategy pass decides, per linalg op, the static tile size
    of every loop (0: the loop is not tiled) and whether the op is an
    ordered fma chain (tiled by one step of every reduction loop and
    vectorized across its innermost loop). The tiling pass applies it
    without deciding anything itself.

    ```mlir
    %r = linalg.matmul {qopt.lowering_config = #qopt.lowering_config<tile_sizes = [8, 32, 16]>}
        ins(%a, %b : tensor<64x128xf32>, tensor<128x256xf32>) outs(%c : tensor<64x256xf32>) -> tensor<64x256xf32>
    ```
  }];
  let parameters = (ins
    "::mlir::DenseI64ArrayAttr":$tile_sizes,
    DefaultValuedParameter<"bool", "false">:$fma_chain
  );
  let assemblyFormat = "`<` struct(params) `>`";
}

def QOpt_AssignmentAttr : AttrDef<QOpt_Dialect, "Assignment"> {
  let mnemonic = "assignment";
  let summary = "The precision chosen for one op, and why";
  let description = [{
    What `qopt-assign-precision` decided for one quantizable op before
    quantization: a precision name as `qopt --precision` spells it
    (`w4a16-g32`, `w8a8`, ...) or `float` (leave the op float), the weight
    algorithm (`rtn`, `gptq`, `awq`; empty: the quantizer's default) and the
    reason, in words, for the report and the manifest (the recipe rule that
    set it, the budget search, the target's capabilities).
    `qopt-quantize` quantizes each op that carries one at its precision.

    ```mlir
    %y = tosa.matmul %x, %w, %za, %zb {qopt.assign = #qopt.assignment<precision = "w4a8-g32",
           algorithm = "gptq", reason = "recipe balanced: ffn_down">} : ...
    ```
  }];
  let parameters = (ins
    StringRefParameter<"precision name, or float">:$precision,
    StringRefParameter<"weight algorithm", "\"\"">:$algorithm,
    StringRefParameter<"why it was chosen", "\"\"">:$reason
  );
  let assemblyFormat = "`<` struct(params) `>`";
}

class QOpt_Op<string mnemonic, list<Trait> traits = []>
    : Op<QOpt_Dialect, mnemonic, traits>;

#endif // QOPT_DIALECT_QOPTBASE
