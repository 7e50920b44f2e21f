//===- Passes.td - qopt graph and buffer passes ------------*- tablegen -*-===//

#ifndef QOPT_TRANSFORMS_PASSES
#define QOPT_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def ExternalizeWeightsPass : Pass<"qopt-externalize-weights", "mlir::ModuleOp"> {
  let summary = "Move large constant buffers into one external weights blob";
  let description = [{
    After bufferization, large constants are `memref.global` constants read
    with `memref.get_global`. This pass packs every such global at least
    `threshold` bytes large into one byte blob (each entry aligned to
    `alignment`), adds a leading `memref<?xi8>` argument carrying that blob to
    the entry function, and turns each `memref.get_global` into a
    `memref.view` of it at the entry's offset. The blob is written to
    `weights-file`, or with `attach-blob` kept on the module as
    `qopt.weights_blob` (a `dense_resource` i8 tensor) with its layout in
    `qopt.weights_layout`, for the target's serializer; at run time it is
    memory-mapped, so weights are never copied and the compiled object
    stays small. The new argument's role is declared
    (`qopt.arg_role = #qopt.arg_role<weights>`).

    ```mlir
    memref.global "private" constant @w : memref<64x64xf32> = dense_resource<blob>
    func.func @main(%x: memref<1x64xf32>, %out: memref<1x64xf32>) {
      %w = memref.get_global @w : memref<64x64xf32>
      ...
    }
    // becomes
    func.func @main(%weights: memref<?xi8> {qopt.arg_role = #qopt.arg_role<weights>},
                    %x: memref<1x64xf32>, %out: memref<1x64xf32>) {
      %c0 = arith.constant 0 : index
      %w = memref.view %weights[%c0][] : memref<?xi8> to memref<64x64xf32>
      ...
    }
    ```
  }];
  let options = [
    Option<"threshold", "threshold", "int64_t", /*default=*/"1024",
           "Smallest global (in bytes) moved to the blob">,
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "Byte alignment of each entry in the blob">,
    Option<"weightsFile", "weights-file", "std::string", /*default=*/"\"\"",
           "Where to write the blob (not written when empty)">,
    Option<"entryFunction", "entry", "std::string", /*default=*/"\"main\"",
           "Function that receives the weights argument (empty: the one "
           "public function)">,
    Option<"attachBlob", "attach-blob", "bool", /*default=*/"false",
           "Keep the blob and its layout on the module (qopt.weights_blob, "
           "qopt.weights_layout)">,
  ];
  let dependentDialects = ["qopt::QOptDialect", "mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect"];
}

def AssignArgRolesPass : Pass<"qopt-assign-arg-roles", "mlir::ModuleOp"> {
  let summary = "Declare the calling-convention role of every entry argument";
  let description = [{
    On the graph-level entry function (tensors, before bufferization):
    every argument is an input and every result an output, declared with
    `qopt.arg_role`. Bufferization with results as out-parameters carries
    the result attributes to the new arguments, and the passes that add the
    weights blob and the workspace declare those roles, so the artifact
    writer reads roles instead of counting positions. Every output gets a
    buffer of its own: a value returned more than once (two ONNX outputs
    that CSE found equal) is copied for each further result. On an entry
    without results (already bufferized) it checks that the arguments come
    as weights, workspace, inputs, outputs.

    ```mlir
    func.func @main(%x: tensor<4xf32> {qopt.name = "x"}) -> (tensor<4xf32> {qopt.name = "y"})
    // becomes
    func.func @main(%x: tensor<4xf32> {qopt.arg_role = #qopt.arg_role<input>, qopt.name = "x"})
        -> (tensor<4xf32> {qopt.arg_role = #qopt.arg_role<output>, qopt.name = "y"})
    ```
  }];
  let dependentDialects = ["qopt::QOptDialect", "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def LowerMemRefCopyPass : Pass<"qopt-lower-memref-copy"> {
  let summary = "Rewrite memref.copy as linalg.copy";
  let description = [{
    `memref.copy` between non-contiguous buffers lowers to a call into MLIR's
    C runner library, which a self-contained artifact cannot link. This pass
    rewrites every `memref.copy` as a `linalg.copy`, which becomes plain loops
    (and `memcpy` where LLVM recognizes it).

    ```mlir
    memref.copy %a, %b : memref<4x8xf32, strided<[16, 1]>> to memref<4x8xf32>
    // becomes
    linalg.copy ins(%a : memref<4x8xf32, strided<[16, 1]>>) outs(%b : memref<4x8xf32>)
    ```
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def OutlineKernelsPass : Pass<"qopt-outline-kernels", "mlir::ModuleOp"> {
  let summary = "Outline each linalg op or loop nest of the entry function into a kernel";
  let description = [{
    A whole model lowers to one function with hundreds of loop nests, and
    LLVM's loop passes are superlinear in function size (IndVarSimplify alone
    took 5 s on stories260k). This pass moves every linalg op of the entry
    function, on buffers, into its own private `noinline` function named after
    the op's ONNX node, and calls it. Top-level `scf.for`/`scf.forall` loop
    nests (tiled and vectorized ops) are outlined the same way. Small functions keep LLVM fast and
    give profiles per-node names.

    ```mlir
    func.func @main(%a: memref<4xf32>, %b: memref<4xf32>) {
      linalg.generic ... ins(%a : memref<4xf32>) outs(%b : memref<4xf32>) {...}
      return
    }
    // becomes
    func.func private @main_k0_Relu_0(%a: memref<4xf32>, %b: memref<4xf32>)
        attributes {no_inline} {
      linalg.generic ... ins(%a : memref<4xf32>) outs(%b : memref<4xf32>) {...}
      return
    }
    func.func @main(%a: memref<4xf32>, %b: memref<4xf32>) {
      call @main_k0_Relu_0(%a, %b) : (memref<4xf32>, memref<4xf32>) -> ()
      return
    }
    ```
  }];
  let dependentDialects = ["mlir::func::FuncDialect",
                           "mlir::LLVM::LLVMDialect"];
}

def ParallelizeKernelsPass : Pass<"qopt-parallelize-kernels", "mlir::ModuleOp"> {
  let summary = "Run the entry function on N threads: kernels split their outer loop, the rest runs on thread 0";
  let description = [{
    Runs after qopt-outline-kernels. The entry function gains three trailing
    arguments, `%tid: index`, `%nthreads: index` and `%sync: memref<2xi64>`
    (a barrier's counter and generation, zeroed by the caller), and is then
    meant to be called by `nthreads` threads at once, SPMD style.

    A kernel whose loop nest has a loop whose iterations touch disjoint
    memory takes `%tid` and `%nthreads` too and runs only its share of that
    loop's iterations: every written buffer is indexed, along one dimension,
    by the loop's induction variable and by nothing wider than the step, and
    the kernel's operands at its call site do not overlap a written one. The
    loop is the outermost such loop with at least 16 iterations, else the
    one with most. Every element is still computed by one thread with the
    same instructions, so results do not depend on the thread count.

    Every other op of the entry that touches memory (kernels that do not
    split, copies, stores, regions) runs on thread 0 alone. Barriers
    (`@qopt_barrier`, a spinning sense counter on `%sync` built from atomic
    read-modify-writes, so the object needs no thread library) separate
    them where one thread may read what another wrote or overwrite what
    another reads. An entry the threads cannot share (a heap or stack
    allocation in the entry itself, or a region op with results that
    touches memory) is left to thread 0 alone and the module is marked
    `qopt.threads = 0`; otherwise it carries the number of split kernels.
  }];
  let dependentDialects = ["mlir::func::FuncDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::LLVM::LLVMDialect"];
}

def PackGemvWeightsPass : Pass<"qopt-pack-gemv-weights", "mlir::func::FuncOp"> {
  let summary = "Store the constant weights of one-row float products as column panels";
  let description = [{
    A float `linalg.matmul` (or a `linalg.batch_matmul` of one batch) whose
    left operand has one row and whose right operand is a constant W[K, N]
    (through reshapes) gets its weights stored as panels W'[N/panel][K][panel]
    and becomes a contraction over them; the [.., N/panel, panel] result is
    collapsed back to [.., N]. Tiled by the x86 strategy (one panel of
    columns, K in steps), each panel is then read as one contiguous stream
    instead of `panel` floats from each of K rows a whole row apart, which
    defeats the hardware prefetchers (a decode step's classifier ran at 40 %
    of the DRAM bandwidth). Every output element is summed in the matmul's
    own order. Products with N not a multiple of `panel`, or with one panel,
    stay as they are.

    ```mlir
    %r = linalg.matmul ins(%x, %w : tensor<1x256xf32>, tensor<256x64xf32>)
        outs(%c : tensor<1x64xf32>) -> tensor<1x64xf32>
    // becomes (%wp: the constant as tensor<2x256x32xf32>)
    %c4 = tensor.expand_shape %c [[0], [1, 2]] output_shape [1, 2, 32]
    %g = linalg.generic ... ins(%x, %wp) outs(%c4)  // loops (m, p, c, k)
    %r = tensor.collapse_shape %g [[0], [1, 2]]
    ```
  }];
  let options = [
    Option<"panel", "panel", "int64_t", /*default=*/"32",
           "Columns of one panel (the strategy's N tile)">,
  ];
  let statistics = [
    Statistic<"packedProducts", "packed-products", "Products given panels">,
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def TileStrategyPass : Pass<"qopt-tile-strategy", "mlir::func::FuncOp"> {
  let summary = "Choose tile sizes and vector shapes per op (the x86 strategy)";
  let description = [{
    Decides how every linalg op on tensors is tiled and vectorized and
    records it as `qopt.lowering_config` (#qopt.lowering_config); ops inside
    loops are taken to be tiled already, except in an `scf.for` marked
    `qopt.tile_in_loop` (a decomposed convolution's row loop). The target
    sets the options from its description (vector width from the widest
    SIMD register). It also prepares op shapes where its decision needs it:

    - contractions (matmul, batch_matmul, matmul-like generics): batch dims
      1, an `m-tile` x `n-tile` register block (largest divisors of M and N
      not above the limits), the reduction in `k-tile` steps;
    - a matmul over dequantized packed weights is first tiled into blocks
      of at most `dequant-block` rows and columns with the dequantization
      fused into the block loop, so weights stay packed in memory;
    - a parallel dim that whole vectors do not divide is split into a
      vector-multiple part and a remainder, each configured on its own;
    - elementwise and reduction generics: unit tiles on outer parallel dims,
      a `vector-width`-element innermost tile and whole reduction dims;
    - ordered fma chains (the rescale of grouped integer products): one
      step of every reduction loop, a vector-wide innermost loop.

    Ops it cannot vectorize (dynamic shapes, convolution windows, some
    gathers) get no configuration and stay scalar loops; with
    `report-scalar` each gets a remark saying why.

    ```mlir
    %r = linalg.matmul ins(%a, %b : tensor<64x128xf32>, tensor<128x256xf32>)
        outs(%c : tensor<64x256xf32>) -> tensor<64x256xf32>
    // becomes
    %r = linalg.matmul {qopt.lowering_config = #qopt.lowering_config<tile_sizes = [8, 32, 16]>}
        ins(%a, %b : tensor<64x128xf32>, tensor<128x256xf32>)
        outs(%c : tensor<64x256xf32>) -> tensor<64x256xf32>
    ```
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"16",
           "Elements of one vector register (innermost tile of elementwise "
           "ops, the unit of splits and blocks)">,
    Option<"mTile", "m-tile", "int64_t", /*default=*/"8",
           "Largest M tile of contractions">,
    Option<"nTile", "n-tile", "int64_t", /*default=*/"32",
           "Largest N tile of contractions">,
    Option<"kTile", "k-tile", "int64_t", /*default=*/"16",
           "Largest K step of contractions">,
    Option<"dequantBlock", "dequant-block", "int64_t", /*default=*/"64",
           "Largest N and K block of a matmul over dequantized weights">,
    Option<"maxVectorElements", "max-vector-elements", "int64_t",
           /*default=*/"4096",
           "Ops whose vectorized tile would exceed this are left scalar">,
    Option<"reportScalar", "report-scalar", "bool", /*default=*/"false",
           "Emit a remark, at its ONNX node, for every op left scalar and why">,
  ];
  let dependentDialects = ["qopt::QOptDialect", "mlir::scf::SCFDialect",
                           "mlir::tensor::TensorDialect"];
}

def TileAndVectorizePass : Pass<"qopt-tile-and-vectorize", "mlir::func::FuncOp"> {
  let summary = "Tile and vectorize each op as its lowering configuration says";
  let description = [{
    The mechanical half of the x86 codegen strategy: every linalg op with a
    `qopt.lowering_config` (from qopt-tile-strategy) is tiled with scf.for
    through TilingInterface at the recorded sizes, which divide the loop
    ranges (no masking or peeling), and each tile is vectorized with the
    upstream linalg vectorizer; contractions become `vector.contract`,
    reductions `vector.multi_reduction`, fma chains elementwise fmas across
    the innermost loop. Ops without a configuration are left alone. The tile
    loops follow the op's dims, except that a contraction whose N range is
    larger than its M range runs its N loop outside its M loop: the larger
    right operand (an im2col product's columns) is then read once, each
    block of its columns staying in cache while every M tile passes.

    ```mlir
    %r = linalg.generic {qopt.lowering_config = #qopt.lowering_config<tile_sizes = [1, 16]>, ...}
        ins(%a : tensor<8x64xf32>) outs(%e : tensor<8x64xf32>) {...}
    // becomes
    %r = scf.for %i = %c0 to %c8 step %c1 iter_args(%acc = %e) -> tensor<8x64xf32> {
      %s = scf.for %j = %c0 to %c64 step %c16 iter_args(%acc2 = %acc) -> tensor<8x64xf32> {
        %v = vector.transfer_read %a[%i, %j], %pad : tensor<8x64xf32>, vector<1x16xf32>
        ...
        %w = vector.transfer_write %y, %acc2[%i, %j] : vector<1x16xf32>, tensor<8x64xf32>
        scf.yield %w : tensor<8x64xf32>
      }
      scf.yield %s : tensor<8x64xf32>
    }
    ```
  }];
  let options = [
    Option<"reportScalar", "report-scalar", "bool", /*default=*/"false",
           "Emit a remark, at its ONNX node, for every tile left scalar and why">,
  ];
  let dependentDialects = ["mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect",
                           "mlir::tensor::TensorDialect"];
}

def MathApproximationPass : Pass<"qopt-math-approximation"> {
  let summary = "Replace f32 math functions by vectorizable polynomials";
  let description = [{
    `math.exp`, `math.tanh`, `math.erf`, `math.log`, `math.log1p`,
    `math.expm1`, `math.sin`, `math.cos`, `math.rsqrt` ... on f32 scalars and
    vectors become MLIR's polynomial approximations, which stay in vector
    registers instead of calling libm once per lane, and need no libm at
    all in the artifact.

    ```mlir
    %y = math.exp %x : vector<16xf32>
    // becomes a range reduction, a polynomial and an exponent insertion,
    // all on vector<16xf32>.
    ```
  }];
  let dependentDialects = ["mlir::vector::VectorDialect",
                           "mlir::arith::ArithDialect"];
}

def LowerVectorsPass : Pass<"qopt-lower-vectors"> {
  let summary = "Lower n-D vector ops to 1-D vector ops for the LLVM dialect";
  let description = [{
    After bufferization, the vectorized tiles hold n-D `vector.contract`,
    `vector.multi_reduction`, `vector.transpose`, broadcasts and transfers.
    This pass lowers them in stages to the 1-D form `convert-vector-to-llvm`
    accepts: leading unit dims are cast away, contractions become
    outer-product FMAs, multi-reductions inner reductions or parallel
    adds, transposes shuffles, and transfers of rank 1 plain loads/stores.

    ```mlir
    %c = vector.contract {...} %a, %b, %acc : vector<8x16xf32>, vector<16x32xf32> into vector<8x32xf32>
    // becomes 16 vector.outerproduct ops, each lowered to 8 vector.fma on
    // vector<32xf32>.
    ```
  }];
  let dependentDialects = ["mlir::vector::VectorDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect"];
}

def DecomposeConvolutionsPass : Pass<"qopt-decompose-convolutions"> {
  let summary = "Choose the x86 lowering of each convolution";
  let description = [{
    The importer keeps ONNX convolutions as named linalg convolutions on an
    explicitly padded input; this pass picks how a CPU computes each one:

    - `linalg.conv_2d_nchw_fchw` / `linalg.conv_3d_ncdhw_fcdhw` (group 1):
      im2col columns `[N, C*K, pixels]` times the weights viewed as
      `[M, C*K]` in one `tosa.matmul`, the vectorized matmul path (1x1
      stride-1 kernels skip the gather). Float 2-D ones whose output rows
      are whole vectors (OW a multiple of 8) instead become a loop over the
      N*OH output rows (marked `qopt.tile_in_loop`): each iteration gathers
      its row's panel `[C*K, OW]` from the KH input rows it reads and
      multiplies the weights `[M, C*K]` by it, so the panel is read from the
      cache right after it is written, with a stride of one row, and no
      whole-image im2col buffer exists (not with `dense-only`);
    - `linalg.depthwise_conv_2d_nchw_chw` with at most 49 taps: one
      elementwise generic summing the strided shifted windows times each
      channel's tap, which fuses and vectorizes along the width;
    - `linalg.conv_2d_ngchw_gfchw` and the other depthwise forms: one
      generic over `[N, G, M/G, C/G, K..., O...]` whose output spatial dims
      are the innermost loops.
    - integer group-1 `qopt.conv2d` with signed 8-bit weights: the
      zero-point-padded codes gathered into one row per output pixel
      `[N, OH*OW, C*KH*KW]`, the integer `qopt.matmul` against the weights
      as `[F, C*KH*KW]`, and the product transposed back to NCHW;
    - integer depthwise `qopt.conv2d` (from qopt-quantize) with at most 49
      taps: the same tap sum over the zero-point-padded input, with the
      rescale `float(acc) * (sx * sw[c])` in the same generic. With an f32
      result the sum runs in f32 fmas of the converted differences
      `(x - zx)` and `(w - zw)`: every product and partial sum is an integer
      below 49 * 255^2 < 2^24, exact in f32, so `acc` is the i32 sum's
      value. Both integer forms keep the reference lowering's exact sums and
      its rescale, so results are bit-identical to it. Other `qopt.conv2d`
      keep the reference lowering.

    Convolutions must accumulate into a zero fill (as the importer emits
    them). With `dense-only`, only float group-1 convolutions are
    decomposed: the driver does this before quantizing at weight-only
    precisions, which have no convolution op, so that their im2col products
    are quantized as `qopt.matmul`.

    ```mlir
    %y = linalg.depthwise_conv_2d_nchw_chw
           {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
           ins(%xp, %w : tensor<1x8x10x10xf32>, tensor<8x3x3xf32>)
           outs(%zero : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
    // becomes a linalg.generic over [1, 8, 8, 8] reading nine strided
    // slices of %xp and nine [8, 1, 1] columns of %w.
    ```
  }];
  let options = [
    Option<"denseOnly", "dense-only", "bool", /*default=*/"false",
           "Decompose only group-1 convolutions">,
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect",
                           "mlir::tosa::TosaDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::math::MathDialect"];
}

def FuseElementwisePass : Pass<"qopt-fuse-elementwise"> {
  let summary = "Fuse elementwise producers into consumers without recomputation";
  let description = [{
    Upstream elementwise fusion, restricted to producers whose values the
    consumer reads exactly once per element: the consumer's indexing map for
    the fused operand must be a permutation of its loops. This fuses chains
    of elementwise ops and elementwise prologues of reductions, but never
    pulls a producer into a contraction, where it would be recomputed once
    per output column (softmax's division fused into the following matmul
    made attention 15x slower). A producer another op also reads is not
    fused either: upstream keeps it for that reader, so it would be
    computed twice (a per-tensor dynamic quantization reads its input for
    the min, the max and the codes).

    ```mlir
    %e = linalg.generic {maps = [id, id]} ins(%x) outs(...) { exp }
    %s = linalg.generic {maps = [id, id]} ins(%e) outs(...) { mul }
    // becomes one generic computing exp and mul.
    ```
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def PlanMemoryPass : Pass<"qopt-plan-memory", "mlir::ModuleOp"> {
  let summary = "Place intermediate buffers in one caller-provided workspace";
  let description = [{
    Statically planned memory for a whole model: every top-level
    `memref.alloc` of the entry function with a static shape gets an offset
    in one workspace, chosen so that buffers whose lifetimes (allocation to
    deallocation, in program order) overlap never share bytes. The allocs
    become `memref.view`s of a new `memref<?xi8>` argument marked
    `qopt.workspace`, their deallocs disappear, and the module records the
    size in `qopt.workspace_bytes`. The caller allocates the workspace once
    (qrt at load time, an edge application statically), so running a model
    calls no allocator at all.

    ```mlir
    func.func @main(%x: memref<64xf32>, %y: memref<64xf32>) {
      %a = memref.alloc() : memref<64xf32>
      ...
      memref.dealloc %a : memref<64xf32>
      return
    }
    // becomes
    func.func @main(%ws: memref<?xi8> {qopt.workspace}, %x: memref<64xf32>, %y: memref<64xf32>) {
      %c0 = arith.constant 0 : index
      %a = memref.view %ws[%c0][] : memref<?xi8> to memref<64xf32>
      ...
      return
    }
    ```
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "Byte alignment of every buffer in the workspace">,
  ];
  let dependentDialects = ["qopt::QOptDialect", "mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect"];
}

def ClassifyLayersPass : Pass<"qopt-classify-layers", "mlir::ModuleOp"> {
  let summary = "Tag every quantizable op with its role in the model";
  let description = [{
    On the graph IR (after import, before quantization), recognizes from
    the structure of the graph, not from node names, what each quantizable
    op does, and attaches it as `qopt.role = #qopt.role<...>`; precision
    recipes select layers by these roles. The quantizable ops are float
    `tosa.matmul` with a constant weight, `tosa.matmul` of two activations,
    `tosa.gather` from a constant table, float 2-D linalg convolutions with
    constant weights, and the imported `qopt.matmul`, `qopt.conv2d` and
    `qopt.embedding`. Values are followed through reshapes, transposes,
    slices, concatenations, casts, probes and elementwise ops (biases,
    scalings, rotary embeddings, activation functions):

    - `embedding`: a gather from a constant table (token, position or
      rotary embeddings);
    - `attention_scores`: a product of two activations (Q·Kᵀ, P·V);
    - `classifier`: a projection that only reaches the function's return,
      directly through shape ops (the output layer qopt-quantize keeps
      float), or, if no other rule applies, through ops that feed no other
      quantizable op (a bias, a softmax);
    - `attention_qkv`: a projection whose result reaches an activation
      product (through views, elementwise scaling, rotary embeddings, a KV
      cache's concatenation);
    - `attention_output`: a projection that reads the result of an
      activation product (the attention-weighted values of P·V);
    - `ffn_gate`, `ffn_up`, `ffn_down`: two projections of one input whose
      results are multiplied elementwise, one of them through a
      nonlinearity (SwiGLU, GeGLU), are the gate (that one) and the up
      projection, and the projection reading the product is the down
      projection; a projection reading a nonlinear function (GELU, ReLU,
      SiLU, tanh) of another projection's result is a down projection, and
      that other one an up projection;
    - `conv_pointwise` (1x1 kernel, one group), `conv_depthwise` (one group
      per input channel) and `conv` (the rest, and convolutions already
      decomposed into im2col products);
    - `other`: every other projection.

    ```mlir
    %q = tosa.matmul %x, %wq, %z, %z : (tensor<1x8x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x64xf32>
    %k = tosa.matmul %x, %wk, %z, %z : (tensor<1x8x64xf32>, tensor<1x64x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x64xf32>
    %kt = tosa.transpose %k {perms = array<i32: 0, 2, 1>} : (tensor<1x8x64xf32>) -> tensor<1x64x8xf32>
    %s = tosa.matmul %q, %kt, %z, %z : (tensor<1x8x64xf32>, tensor<1x64x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x8xf32>
    // becomes
    %q = tosa.matmul %x, %wq, %z, %z {qopt.role = #qopt.role<attention_qkv>} : ...
    %k = tosa.matmul %x, %wk, %z, %z {qopt.role = #qopt.role<attention_qkv>} : ...
    %kt = tosa.transpose %k {perms = array<i32: 0, 2, 1>} : ...
    %s = tosa.matmul %q, %kt, %z, %z {qopt.role = #qopt.role<attention_scores>} : ...
    ```
  }];
  let statistics = [
    Statistic<"numClassified", "classified-ops", "Ops given a role">,
  ];
  let dependentDialects = ["qopt::QOptDialect"];
}

def QuantizePass : Pass<"qopt-quantize", "mlir::ModuleOp"> {
  let summary = "Quantize the weights (and activations) of float matmuls with RTN";
  let description = [{
    Replaces every `tosa.matmul` whose right operand is a constant weight
    matrix with a `qopt.matmul` over packed weights quantized by
    round-to-nearest under `precision` (see `qopt --precision`):

    - weight-only schemes (`w8a16`, `w4a16-g32`, `nf4-g64`, `fp8`, `f16`, ...)
      keep float activations;
    - `w8a8` quantizes activations per token at run time
      (`qopt.dynamic_quantize`);
    - `w8a8-static` quantizes them per tensor with a scale calibrated ahead
      of time: the activation must come from a `qopt.observe` carrying
      `absmax` (run calibration first), else the pass fails naming the node.

    With `algorithm=gptq` the weights are chosen by GPTQ against the
    Hessian XᵀX that calibration stored on the input's `qopt.observe`
    (`gram`); with `algorithm=awq` the matmuls that share an input get one
    set of activation-aware input-channel scales s (searched on `gram` and
    `channel_mean_abs`): their weights become Q(W·diag(s)) and the shared
    input is multiplied by 1/s once (an elementwise op that fuses into its
    producer). Both fall back to RTN with a warning where a matmul's
    weights sit on the left (im2col convolutions), and fail naming the node
    when the statistics are missing.

    With `outliers=keep-float` and integer activations (`w8a8`,
    `w8a8-static`, `w4a8`; rtn weights), every matmul whose
    `qopt.outliers` (from `qopt-detect-outliers`) lists input channels O is
    decomposed as LLM.int8 does: the integer product runs over the other
    channels (weights quantized with the O columns zeroed, activation
    quantizers given `exclude_channels = O`, so the outliers widen neither
    scale; a static range is capped at the largest calibrated channel
    abs-max outside O), and `qopt.matmul` adds the float product of the O
    activation columns with their float weights (its outlier operands).
    `clip` (quantize the outliers with the rest, clipped by the calibrated
    range) and `none` (the default) leave the matmuls as they are.

    With `weight-scales=f16`, weight-only integer, NF4 and FP8 products
    store their scales as f16 (`w4a16-g32` then costs 4.5 bits per weight
    instead of 5): each scale is rounded to a half when it is chosen (RTN,
    the clip search and GPTQ's refits alike), so the codes are picked
    against the value the kernel multiplies by. Products with integer
    activations keep f32 scales.

    Embedding gathers and norms are not matmuls and stay float. The final
    classifier (a matmul whose result reaches the function's return through
    shape ops only) stays float unless `quantize-classifier` is set; embedding
    tables stay float unless `quantize-embeddings` is set. Ops whose
    ONNX node name matches the `exclude` regex stay float. Each new op carries
    a `#qopt.precision` attribute, and keeps the ONNX node's location.

    With `quantize-attention` (precisions with integer activations), every
    float `tosa.matmul` whose operands are both activations (attention's
    Q·Kᵀ and P·V) becomes an exact int8 × int8 → i32 `tosa.matmul` (tagged
    `qopt.precision`) and a float rescale `float(acc) · (s_a · s_b)`. With
    `attention-scales=dynamic` (the default, also under `w8a8-static`) the
    left operand gets one scale per row and the right one per column, at
    run time (`qopt.dynamic_quantize` per token, the right operand
    transposed so its columns are rows): both factor out of the sum over k.
    With `attention-scales=static` each operand gets one calibrated scale
    (absmax / 127 from the probes `qopt-insert-observers` puts on them,
    `qopt.quantize`); a missing range is an error naming the node.

    ```mlir
    %y = tosa.matmul %q, %kt, %z, %z : (tensor<8x64x8xf32>, tensor<8x8x64xf32>, ...) -> tensor<8x64x64xf32>
    // with precision=w8a8-static quantize-attention=true becomes
    %qa, %sa, %za = qopt.dynamic_quantize %q per_token : tensor<8x64x8xf32> -> tensor<8x64x8xi8>, tensor<8x64x1xf32>, tensor<8x64x1xi8>
    %k = tosa.transpose %kt {perms = array<i32: 0, 2, 1>} : (tensor<8x8x64xf32>) -> tensor<8x64x8xf32>
    %qk, %sb, %zb = qopt.dynamic_quantize %k per_token : ...
    %qb = tosa.transpose %qk {perms = array<i32: 0, 2, 1>} : (tensor<8x64x8xi8>) -> tensor<8x8x64xi8>
    %acc = tosa.matmul %qa, %qb, %z8, %z8 {qopt.precision = #qopt.precision<...>} : (...) -> tensor<8x64x64xi32>
    %y = linalg.generic ... ins(%acc, %sa, %sb ...) // float(acc) * (sa[b, m] * sb[b, n])
    ```

    ```mlir
    %w = arith.constant dense<...> : tensor<64x32xf32>
    %b = tosa.reshape %w, %shape : (tensor<64x32xf32>, !tosa.shape<3>) -> tensor<1x64x32xf32>
    %y = tosa.matmul %a, %b, %za, %zb : (...) -> tensor<1x8x32xf32>
    // with precision=w4a16-g32 becomes
    %y = qopt.matmul %a, %packed scales(%scales) {k = 64 : i64, precision = #qopt.precision<"w4a16-g32", ...>,
           scheme = #qopt.scheme<int4, group 32, sym>} : (...) -> tensor<1x8x32xf32>
    ```
  }];
  let options = [
    Option<"precision", "precision", "std::string", /*default=*/"\"w8a16\"",
           "Precision of quantized matmuls (w8a16, w4a16-g32, nf4-g64, w8a8, ...)">,
    Option<"exclude", "exclude", "std::string", /*default=*/"\"\"",
           "Regex over ONNX node names of ops to keep float">,
    Option<"quantizeClassifier", "quantize-classifier", "bool",
           /*default=*/"false", "Also quantize the final classifier">,
    Option<"quantizeEmbeddings", "quantize-embeddings", "bool",
           /*default=*/"false",
           "Also quantize embedding tables (constant tosa.gather tables) into "
           "qopt.embedding with the weights' integer scheme">,
    Option<"algorithm", "algorithm", "std::string", /*default=*/"\"rtn\"",
           "How integer weights are chosen: rtn, gptq (needs `gram` on the "
           "input's qopt.observe) or awq (needs `gram` and "
           "`channel_mean_abs`; weight-only precisions)">,
    Option<"gptqDampening", "gptq-dampening", "double", /*default=*/"0.01",
           "GPTQ: fraction of mean(diag H) added to H's diagonal">,
    Option<"gptqActOrder", "gptq-act-order", "bool", /*default=*/"true",
           "GPTQ: quantize columns in descending diag(H) order (static "
           "groups)">,
    Option<"gptqScaleGrid", "gptq-scale-grid", "int", /*default=*/"10",
           "GPTQ: grid size of the activation-aware input-scale search "
           "(alpha in [0, 1]; 0 disables it)">,
    Option<"showProgress", "show-progress", "bool", /*default=*/"false",
           "Draw a progress bar over the layers GPTQ or AWQ search (stderr)">,
    Option<"releaseWeights", "release-weights", "bool", /*default=*/"false",
           "Free each float weight once its product is quantized (the "
           "module must be the only IR of its context: a clone would read "
           "the freed weights as empty)">,
    Option<"gptqRefineRounds", "gptq-refine-rounds", "int", /*default=*/"4",
           "GPTQ: rounds of code steps and group-scale refits on the same "
           "objective after the sweep (0: the sweep's result)">,
    Option<"clipSearch", "clip-search", "bool", /*default=*/"false",
           "GPTQ: choose each group's clipping ratio on H before the sweep">,
    Option<"clipSearchBelowBits", "clip-search-below-bits", "int",
           /*default=*/"0",
           "GPTQ: search clipping (as clip-search) for the ops whose weights "
           "have fewer bits than this, each op by its own precision (0: "
           "none beyond clip-search)">,
    Option<"weightScales", "weight-scales", "std::string",
           /*default=*/"\"f32\"",
           "Storage of weight-only products' scales: f32, or f16 (half the "
           "bytes; every scale is chosen as a half, so codes match it)">,
    Option<"outliers", "outliers", "std::string", /*default=*/"\"none\"",
           "Outlier input channels (qopt.outliers): keep-float computes "
           "them in float beside the integer product; clip or none quantize "
           "them with the rest">,
    Option<"quantizeAttention", "quantize-attention", "bool",
           /*default=*/"false",
           "Also quantize products of two activations (attention scores) to "
           "int8 x int8 -> i32 (precisions with integer activations)">,
    Option<"attentionScales", "attention-scales", "std::string",
           /*default=*/"\"dynamic\"",
           "Scales of the activation products' operands: dynamic (per row of "
           "the left, per column of the right, at run time) or static (one "
           "calibrated scale per operand)">,
  ];
  let dependentDialects = ["qopt::QOptDialect", "mlir::arith::ArithDialect",
                           "mlir::tosa::TosaDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def AssignPrecisionPass : Pass<"qopt-assign-precision", "mlir::ModuleOp"> {
  let summary = "Give every quantizable op a precision from a recipe";
  let description = [{
    Classifies the quantizable ops by role (as `qopt-classify-layers` does)
    and gives each a `qopt.assign` (`#qopt.assignment`) from `recipe`: a
    built-in name (`balanced`, `quality`, `compact`, `edge-int8`, adapted to
    the target's capabilities) or a YAML/JSON file of ordered rules (see
    docs/quantization.md, "Recipes"). Ops no rule sets take the recipe's
    `default`, else `precision`. Later rules win, field by field. The
    target is described by its capability lists (`native`, `emulated`,
    `int8-dot`, what `qopt --print-targets` shows): a precision it cannot
    run is an error naming the rule, one it emulates is said in the reason.
    `qopt-quantize` then quantizes each op at its assignment.

    ```mlir
    %y = tosa.matmul %x, %w, %za, %zb : ...
    // with recipe=balanced on an x86 VNNI target, for an FFN down projection:
    %y = tosa.matmul %x, %w, %za, %zb {qopt.assign = #qopt.assignment<precision = "w8a8",
           reason = "balanced rule 4: FFN down reads the gated product, ...">, qopt.role = ...} : ...
    ```
  }];
  let options = [
    Option<"recipe", "recipe", "std::string", /*default=*/"\"balanced\"",
           "A built-in recipe name or a recipe file">,
    Option<"precision", "precision", "std::string", /*default=*/"\"\"",
           "Precision of ops no rule sets when the recipe has no default "
           "(empty: float)">,
    Option<"exclude", "exclude", "std::string", /*default=*/"\"\"",
           "Regex over ONNX node names of ops to keep float">,
    ListOption<"native", "native", "std::string",
               "Precision families the target runs natively">,
    ListOption<"emulated", "emulated", "std::string",
               "Precision families the target runs by decoding in kernels">,
    Option<"int8Dot", "int8-dot", "bool", /*default=*/"false",
           "The target has int8 dot products (VNNI, dp4a, sdot)">,
  ];
  let dependentDialects = ["qopt::QOptDialect"];
}

def DetectOutliersPass : Pass<"qopt-detect-outliers", "mlir::ModuleOp"> {
  let summary = "Find the outlier channels of every quantized matmul's input";
  let description = [{
    Reads the per-channel abs-max that calibration recorded on each
    `qopt.observe` in front of matmuls (`channel_absmax`) and marks the
    input channels that are outliers: above `threshold` in magnitude
    (LLM.int8's criterion, 6.0 by default) and above `ratio` times the
    median channel. Every matmul reading that input gets a
    `qopt.outliers = #qopt.outliers<...>` attribute with the channels, the
    median, the largest ratio to it and the share of a per-tensor int8
    range that only the outliers use. Probes without channel statistics are
    skipped. The quality report lists the result per ONNX node; SmoothQuant
    and the mixed-precision decomposition act on it.

    ```mlir
    %x = qopt.observe %a {id = "wq:in", channel_absmax = dense<[0.5, 9.0, 0.4, 0.6]> : tensor<4xf32>} : tensor<1x8x4xf32>
    %y = tosa.matmul %x, %w, %z, %z : ...
    // becomes
    %y = tosa.matmul %x, %w, %z, %z {qopt.outliers = #qopt.outliers<channels = [1],
           threshold = 6.0, ratio = 8.0, median = 0.55, max_ratio = 16.4, range_fraction = 0.93>} : ...
    ```
  }];
  let options = [
    Option<"threshold", "threshold", "double", /*default=*/"6.0",
           "Smallest abs-max of an outlier channel">,
    Option<"ratio", "ratio", "double", /*default=*/"8.0",
           "Smallest ratio of an outlier channel's abs-max to the median "
           "channel's">,
  ];
  let statistics = [
    Statistic<"numOutlierChannels", "outlier-channels",
              "Outlier input channels found">,
  ];
  let dependentDialects = ["qopt::QOptDialect"];
}

def SmoothPass : Pass<"qopt-smooth", "mlir::ModuleOp"> {
  let summary = "SmoothQuant: migrate activation outliers into the weights";
  let description = [{
    For every group of float matmuls with constant weights that read one
    calibrated input (a `qopt.observe` with `channel_absmax` and
    `sample_rows`), chooses per-input-channel scales
    s_j = max|x_j|^α / max|W_j|^(1-α) with α searched on a grid over [0, 1]
    (or fixed by `alpha`) to minimise the int8 product's error on the
    sample rows, and rewrites x Wᵀ as (x / s)(W · diag(s))ᵀ: every weight of
    the group is scaled, and x is divided by s once. The division is folded
    into the input's producer when that is an elementwise product with a
    constant per-channel vector (RMSNorm's or LayerNorm's weight);
    otherwise it is an elementwise op of its own, which fuses into the
    producer. The scaled input gets a probe of its own carrying the
    smoothed range (`absmax`) and the transformed statistics, so static
    quantization and GPTQ that follow see the smoothed tensor. Groups where
    no α beats the unsmoothed layer are left alone. The float model is
    unchanged up to rounding.

    ```mlir
    %x = qopt.observe %a {id = "wq:in", channel_absmax = ..., sample_rows = ...} : tensor<1x8x64xf32>
    %y = tosa.matmul %x, %w, %z, %z : ...
    // becomes
    %x = qopt.observe %a {...}
    %xs = linalg.generic ... ins(%x, %inverse_s) ... arith.mulf
    %p = qopt.observe %xs {id = "wq:in:smoothed", absmax = ...}
    %y = tosa.matmul %p, %w_times_s, %z, %z : ...
    ```
  }];
  let options = [
    Option<"alpha", "alpha", "double", /*default=*/"-1.0",
           "Migration strength in [0, 1]; negative: searched per layer">,
    Option<"perToken", "per-token", "bool", /*default=*/"false",
           "Activations will be quantized per token at run time (else one "
           "static per-tensor scale)">,
  ];
  let statistics = [
    Statistic<"numSmoothed", "smoothed-inputs", "Inputs smoothed">,
  ];
  let dependentDialects = ["qopt::QOptDialect", "mlir::arith::ArithDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def InsertObserversPass : Pass<"qopt-insert-observers", "mlir::ModuleOp"> {
  let summary = "Put calibration probes where quantization decisions need statistics";
  let description = [{
    Inserts a `qopt.observe` on the input of every matmul `qopt-quantize`
    would quantize (same `exclude` and `quantize-classifier` rules): static
    activation scales, and next the outlier analysis, are chosen from these
    statistics. One probe serves all matmuls sharing an input (Q, K and V
    projections); its id is `<first consumer's ONNX node>:in`. With
    `observe-outputs`, each such matmul's result is observed too
    (`<node>:out`), which the quality report compares between the float and
    the quantized model. With `quantize-attention`, the float matmuls of two
    activations (attention scores) are observed as well: their results with
    `observe-outputs`, and with `attention-scales=static` both operands
    (`<node>:a`, `<node>:b`), whose ranges become the static scales.

    ```mlir
    %y = tosa.matmul %x, %w, %za, %zb : (...) -> tensor<1x8x64xf32> loc("/l0/wq/MatMul")
    // becomes
    %o = qopt.observe %x {id = "/l0/wq/MatMul:in"} : tensor<1x8x64xf32>
    %y = tosa.matmul %o, %w, %za, %zb : (...) -> tensor<1x8x64xf32> loc("/l0/wq/MatMul")
    ```
  }];
  let options = [
    Option<"exclude", "exclude", "std::string", /*default=*/"\"\"",
           "Regex over ONNX node names of ops that stay float (not observed)">,
    Option<"quantizeClassifier", "quantize-classifier", "bool",
           /*default=*/"false", "Also observe the final classifier">,
    Option<"observeOutputs", "observe-outputs", "bool", /*default=*/"false",
           "Also observe each candidate matmul's result">,
    Option<"quantizeAttention", "quantize-attention", "bool",
           /*default=*/"false",
           "Also observe matmuls of two activations (as qopt-quantize's "
           "quantize-attention)">,
    Option<"attentionScales", "attention-scales", "std::string",
           /*default=*/"\"dynamic\"",
           "static: also observe both operands of those matmuls">,
  ];
  let dependentDialects = ["qopt::QOptDialect"];
}

def ExposeObserversPass : Pass<"qopt-expose-observers", "mlir::ModuleOp"> {
  let summary = "Turn calibration probes into extra model outputs";
  let description = [{
    Removes every `qopt.observe` of an f32 tensor from the entry function
    and returns the observed value as an extra result named
    `qopt.observe:<id>`, so the instrumented model compiled for the host
    hands each observed tensor to the calibration runtime on every run.
    Probes with the same id are exposed once.

    ```mlir
    func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32> {qopt.name = "y"}) {
      %o = qopt.observe %x {id = "a"} : tensor<4xf32>
      %y = math.exp %o : tensor<4xf32>
      return %y : tensor<4xf32>
    }
    // becomes
    func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32> {qopt.name = "y"},
        tensor<4xf32> {qopt.dtype = "float32", qopt.name = "qopt.observe:a"}) {
      %y = math.exp %x : tensor<4xf32>
      return %y, %x : tensor<4xf32>, tensor<4xf32>
    }
    ```
  }];
}

def StaticKVCachePass : Pass<"qopt-static-kv-cache", "mlir::ModuleOp"> {
  let summary = "Turn a growing KV cache into a fixed-capacity (optionally int8) one";
  let description = [{
    Decoder graphs exported for one decode step return
    `present = concat(past, new)` along the sequence axis, one slot longer
    than `past`: a static-shape artifact could then run one past length
    only. This pass gives such a graph a fixed capacity C, the exported
    present length at the imported past length (past + 1), with the number
    of valid slots given by the integer input named `position`:

    - `past` takes the shape of `present` ([..., C, head_dim]), and every
      returned concatenation of a `past` argument and one new row becomes
      `past` with the row written at slot `position` (clamped to
      [0, C-1]): the caller feeds each step's `present` back as the next
      step's `past`, starting from zeroed caches;
    - the attention reads that written cache instead of the concatenation
      (same type, so no op downstream changes), and the scores of the slots
      after `position` are set to -inf before the softmax: slots not yet
      written, or stale from an earlier sequence, get zero weight. They
      must hold finite values (zeros to start with stay so).

    The scores are found by following the slot axis from the concatenation
    through reshapes, transposes and broadcasts (GQA's head repeat) to
    `tosa.matmul`s: one that has the axis in its result is masked, one that
    contracts over it (the weighted sum of values) needs no mask. A graph
    without this pattern fails naming the node where it breaks.

    With `dtype=int8`, each cache argument and result becomes int8 with one
    f32 scale per (batch, head, slot) next to it (`<name>.scale`, the cache
    shape without its last dim): the new row is quantized symmetrically
    (`qopt.dynamic_quantize per_token`: absmax / 127) when written, and the
    attention reads the cached rows dequantized and the new row as
    computed. The layout is recorded on the function as `qopt.kv_cache`
    (capacity, dtype, position input, the cache and scale names) for the
    artifact's manifest.

    ```mlir
    %kv = tensor.concat dim(2) %past, %row
        : (tensor<1x4x511x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x512x8xf32>
    %s = tosa.matmul %q, %kT, %z, %z : (...) -> tensor<8x1x512xf32>   // via %kv
    return %logits, %kv : tensor<1x1x512xf32>, tensor<1x4x512x8xf32>
    // becomes (dtype=float), with %past : tensor<1x4x512x8xf32>
    %slot = arith.minsi (arith.maxsi %position, 0), 511
    %kv = tensor.insert_slice %row into %past[0, 0, %slot, 0] [1, 4, 1, 8] [1, 1, 1, 1]
        : tensor<1x4x1x8xf32> into tensor<1x4x512x8xf32>
    %s = tosa.matmul %q, %kT, %z, %z : (...) -> tensor<8x1x512xf32>   // via %kv
    %m = linalg.generic ins(%s) ... { select(index(2) <= %slot, %s, -inf) }
    return %logits, %kv : tensor<1x1x512xf32>, tensor<1x4x512x8xf32>
    ```
  }];
  let options = [
    Option<"dtype", "dtype", "std::string", /*default=*/"\"float\"",
           "Element type of the cache tensors: float (as exported) or int8 "
           "(per-slot, per-head scales)">,
    Option<"positionInput", "position-input", "std::string",
           /*default=*/"\"position\"",
           "Name of the integer input holding the decode position: the "
           "slot the new row goes to (slots up to it are valid)">,
  ];
  let dependentDialects = ["qopt::QOptDialect", "mlir::arith::ArithDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

#endif // QOPT_TRANSFORMS_PASSES
