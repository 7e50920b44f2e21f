//===- X86Target.h - x86-64 pipeline and artifact writer --------*- C++ -*-===//
//
// The x86 target lowers the graph IR (TOSA/linalg on tensors) to LLVM and
// writes an artifact folder: model.so, model.o, model.h, weights.bin and
// manifest.json. The same path compiles instrumented models for calibration.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_X86_X86TARGET_H
#define QOPT_TARGET_X86_X86TARGET_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>
#include <vector>

namespace qopt::x86 {

/// What `qopt` compiles for and how.
struct X86CompileOptions {
  /// LLVM target triple of the artifact.
  std::string triple = "x86_64-unknown-linux-gnu";
  /// CPU to tune and select instructions for: "native" (the compiling
  /// machine), or an LLVM CPU name such as "znver4" or "x86-64-v4".
  std::string cpu = "native";
  /// Extra LLVM target features ("+avx512f,...").
  std::string features;
  /// Prefix of the exported C symbols (`<name>_run`) and file names.
  std::string name = "model";
  /// Keep weights inside the object instead of weights.bin.
  bool embedWeights = false;
  /// Constants smaller than this stay in the object.
  int64_t weightThresholdBytes = 1024;
  /// LLVM optimization level (0-3).
  unsigned optLevel = 3;
  /// Print the time of each compile stage to stderr.
  bool verbose = false;
  /// Also keep the intermediate IR files (graph.mlir, llvm.ll) in the
  /// artifact folder.
  bool keepIntermediates = false;
  /// What quantization chose (precision, per-layer schemes), recorded in
  /// the manifest under "quantization" when set.
  std::optional<llvm::json::Object> quantization;
  /// The KV cache layout (capacity, dtype, cache and scale names), recorded
  /// in the manifest under "kv_cache" when set.
  std::optional<llvm::json::Object> kvCache;
  /// More files (name, contents) written into the artifact folder, such as
  /// the quality report.
  std::vector<std::pair<std::string, std::string>> extraFiles;
};

/// One input or output of a compiled model.
struct TensorInfo {
  std::string name;
  std::string dtype; // ONNX/numpy-style name: "float32", "int64", ...
  std::vector<int64_t> shape;
};

/// Stage 1: TOSA → linalg on tensors, elementwise fusion, tiling and
/// vectorization for AVX-512.
void buildX86TensorPipeline(mlir::OpPassManager &pm);
/// Stage 2: bufferization with results as out-parameters and deallocation.
void buildX86BufferPipeline(mlir::OpPassManager &pm);
/// Stage 3: memref/vector/scf/math → LLVM dialect.
void buildX86LLVMPipeline(mlir::OpPassManager &pm);

/// Registers `qopt-x86-pipeline` (all stages) and one pipeline per stage.
void registerX86Pipelines();

/// Compiles `module` (one function with `qopt.name`/`qopt.dtype` argument and
/// result attributes, as the importer writes it) into the artifact folder
/// `outDir`. The folder is written under a temporary name and renamed at the
/// end, so a failed compile leaves no partial artifact. Errors go through
/// the module's diagnostic engine.
mlir::LogicalResult compileToArtifact(mlir::ModuleOp module,
                                      const X86CompileOptions &options,
                                      llvm::StringRef outDir);

/// Reads inputs/outputs of the entry function.
mlir::LogicalResult describeSignature(mlir::ModuleOp module,
                                      std::vector<TensorInfo> &inputs,
                                      std::vector<TensorInfo> &outputs);

} // namespace qopt::x86

#endif // QOPT_TARGET_X86_X86TARGET_H
