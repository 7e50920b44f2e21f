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
    `weights-file`; at run time it is memory-mapped, so weights are never
    copied and the compiled object stays small.

    ```mlir
    memref.global "private" constant @w : memref<64x64xf32> = dense_resource<blob>
    func.func @main(%x: memref<1x64xf32>, %out: memref<1x64xf32>) {
      %w = memref.get_global @w : memref<64x64xf32>
      ...
    }
    // becomes
    func.func @main(%weights: memref<?xi8>, %x: memref<1x64xf32>, %out: memref<1x64xf32>) {
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
           "Function that receives the weights argument">,
  ];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect"];
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
  let summary = "Outline each linalg op of the entry function into a kernel";
  let description = [{
    A whole model lowers to one function with hundreds of loop nests, and
    LLVM's loop passes are superlinear in function size (IndVarSimplify alone
    took 5 s on stories260k). This pass moves every linalg op of the entry
    function, on buffers, into its own private `noinline` function named after
    the op's ONNX node, and calls it. Small functions keep LLVM fast and
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
  let dependentDialects = ["mlir::func::FuncDialect"];
}

#endif // QOPT_TRANSFORMS_PASSES
