//===- Target.h - Target backends and their registry ------------*- C++ -*-===//
//
// A target backend turns the graph IR into code for one kind of machine: it
// says which triples and CPU/GPU names it accepts, what the machine runs
// natively, how to lower a module whose `qopt.target` attribute names it,
// and which files it adds to the artifact. The driver and the tools talk to
// backends only through this interface and the registry; adding a target
// is a folder under lib/Target and one registration line (docs/targets.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_TARGET_H
#define QOPT_TARGET_TARGET_H

#include "qopt/QOptDialect.h"
#include "qopt/Quant/CostModel.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qopt {

class ArtifactWriter;
struct WeightLayoutEntry;

/// What a target machine runs and how well: the basis for default
/// precisions and for the report's "emulated" notes.
struct TargetCapabilities {
  /// Widest SIMD register (x86) or subgroup width in bits.
  unsigned vectorBits = 0;
  /// Integer dot products of 8-bit operands into 32-bit accumulators (VNNI,
  /// dp4a, sdot).
  bool int8DotProduct = false;
  /// Matrix units (tensor cores, AMX, XMX).
  bool matrixUnits = false;
  /// Weight-only products read float16 scales (widened in registers), so
  /// the quantizer stores them at half the bytes by default.
  bool halfWeightScales = false;
  /// Precisions whose arithmetic the machine executes directly.
  std::vector<std::string> nativePrecisions;
  /// Precisions that run by decoding to a wider type inside the kernels.
  std::vector<std::string> emulatedPrecisions;
  /// The cost model's roofline for this description: nominal figures of
  /// the processor (its vector units on x86, a named part's published
  /// figures on GPUs); none where the description does not fix a machine.
  std::optional<quant::MachinePeaks> peaks;
  /// Why `peaks` is empty, for the manifest and --print-targets.
  std::string noPeaksReason;

  llvm::json::Object toJSON() const;
};

/// `peaks` in GFLOPS/GOPS/GB/s with its source (--print-targets and the
/// manifest).
llvm::json::Object peaksToJSON(const quant::MachinePeaks &peaks);

/// What every backend's serializer may use beyond the module.
struct SerializeOptions {
  /// Prefix of the exported symbols and stem of the code files.
  std::string name = "model";
  /// Keep weights inside the code instead of weights.bin.
  bool embedWeights = false;
  /// Constants smaller than this stay in the code.
  int64_t weightThresholdBytes = 1024;
  /// Optimization level (0-3).
  unsigned optLevel = 3;
  /// Also write intermediate IR into the artifact.
  bool keepIntermediates = false;
  /// Print the time of each stage to stderr.
  bool verbose = false;
  /// Remark on every op the target leaves scalar (not vectorized), at its
  /// ONNX node.
  bool reportScalarOps = false;
  /// A host-only helper model (calibration, the quality report): compile
  /// fast rather than well.
  bool helperModel = false;
  /// The module is the only IR alive in its context (the driver's final
  /// compile): constants that move into weights.bin leave memory then,
  /// instead of staying next to their copy in the blob.
  bool soleModule = false;
};

/// One target: a plugin registered with `registerTargetBackend`.
class TargetBackend {
public:
  virtual ~TargetBackend();

  /// Short name used in `qopt.target` and manifests ("x86").
  virtual llvm::StringRef name() const = 0;
  /// One line for `qopt --print-targets`.
  virtual llvm::StringRef description() const = 0;
  /// Example triples this backend accepts (for listings and errors).
  virtual std::vector<std::string> exampleTriples() const = 0;
  /// Whether `triple` belongs to this backend.
  virtual bool acceptsTriple(llvm::StringRef triple) const = 0;
  /// CPU/GPU names accepted by `-mcpu` (a sample where LLVM knows many).
  virtual std::vector<std::string> processorNames() const = 0;

  /// Resolves the user's triple, CPU ("native" or empty: this machine, if
  /// the backend can run here) and extra features into the description
  /// stored on the module, with every feature the CPU implies spelled out.
  virtual llvm::FailureOr<TargetAttr>
  resolve(mlir::MLIRContext *context, llvm::StringRef triple,
          llvm::StringRef cpu, llvm::StringRef features,
          std::string &error) const = 0;

  /// The description of the machine qopt runs on, when this backend can
  /// execute code here (calibration and the quality report need one).
  virtual llvm::FailureOr<TargetAttr> host(mlir::MLIRContext *context) const;

  /// What a machine of this description runs natively.
  virtual TargetCapabilities capabilities(TargetAttr target) const = 0;

  /// The cost model's figures for the machine qopt runs on, measured
  /// (once per process), when this backend can execute code here; the
  /// driver uses them instead of the nominal ones of capabilities() when
  /// the target is this machine.
  virtual const quant::MachinePeaks *measuredHostPeaks() const {
    return nullptr;
  }

  /// Adds the passes that lower a graph-IR module carrying `target` as
  /// far as MLIR goes for this target (qopt-opt's pipeline).
  virtual void buildPipeline(mlir::OpPassManager &pm,
                             TargetAttr target) const = 0;

  /// Registers this backend's named pipelines with MLIR's pass registry
  /// (qopt-opt), so FileCheck tests can run each stage.
  virtual void registerPipelines() const {}

  /// Lowers `module` (graph IR with a `qopt.target` naming this backend)
  /// and adds the code files to `writer`, with the manifest entries that
  /// describe them. Errors go through the module's diagnostic engine.
  virtual mlir::LogicalResult serialize(mlir::ModuleOp module,
                                        const SerializeOptions &options,
                                        ArtifactWriter &writer) const = 0;
};

/// One input or output of a compiled model.
struct TensorInfo {
  std::string name;
  std::string dtype; // ONNX/numpy-style name: "float32", "int64", ...
  std::vector<int64_t> shape;
  /// For an input whose values index an axis (qopt.index_bound): its size,
  /// and the ONNX node; 0 otherwise.
  int64_t indexBound = 0;
  std::string indexNode;
};

/// Reads the inputs and outputs of the module's one public function (with
/// the `qopt.name`/`qopt.dtype` attributes the importer writes).
mlir::LogicalResult describeSignature(mlir::ModuleOp module,
                                      std::vector<TensorInfo> &inputs,
                                      std::vector<TensorInfo> &outputs);

/// The manifest's "inputs"/"outputs" entries.
llvm::json::Array tensorsToJSON(llvm::ArrayRef<TensorInfo> tensors);

/// What an artifact holds beyond the backend's code.
struct ArtifactExtras {
  /// Manifest entries (quantization, kv_cache, ...).
  llvm::json::Object manifest;
  /// Files (name, contents), such as the quality report.
  std::vector<std::pair<std::string, std::string>> files;
};

/// Compiles `module` (graph IR carrying `qopt.target`) with its backend and
/// writes the artifact folder `outDir` through ArtifactWriter. `force`
/// allows replacing what is not a qopt artifact (checkArtifactDestination).
mlir::LogicalResult compileArtifact(mlir::ModuleOp module,
                                    const SerializeOptions &options,
                                    llvm::StringRef outDir, bool force,
                                    ArtifactExtras extras = {});

/// Moves the module's constant buffers of at least `threshold` bytes into
/// one blob (qopt-externalize-weights, each entry aligned to `alignment`)
/// and returns the blob and where each constant lies in it; the module
/// keeps neither attribute. The serializers' shared first step.
mlir::LogicalResult
externalizeWeightsToBlob(mlir::ModuleOp module, int64_t threshold,
                         int64_t alignment, std::vector<char> &blob,
                         std::vector<WeightLayoutEntry> &entries);

/// Adds a backend to the registry; a second backend with the same name
/// replaces nothing and is an error (returns false).
bool registerTargetBackend(std::unique_ptr<TargetBackend> backend);

/// Registers the backends built into this binary (idempotent; defined in
/// lib/Target/BuiltinTargets.cpp, the one place that lists them). Tools
/// and the driver call it before using the registry.
void registerBuiltinTargets();

/// Every registered backend, in registration order.
std::vector<const TargetBackend *> registeredTargets();

/// The backend registered under `name`, or null.
const TargetBackend *lookupTargetByName(llvm::StringRef name);

/// The backend that accepts `triple`, or null with `error` listing the
/// registered backends and their triples.
const TargetBackend *lookupTargetByTriple(llvm::StringRef triple,
                                          std::string &error);

/// The backend that compiles for the machine qopt runs on, and its
/// description (calibration and the quality report run there).
llvm::FailureOr<TargetAttr> hostTarget(mlir::MLIRContext *context,
                                       std::string &error);

/// Sets the module's `qopt.target` to the host's.
mlir::LogicalResult attachHostTarget(mlir::ModuleOp module);

/// Reads the module's `qopt.target` and its backend, or emits an error.
mlir::FailureOr<std::pair<const TargetBackend *, TargetAttr>>
moduleTarget(mlir::ModuleOp module);

/// Prints the registry with capabilities (`qopt --print-targets`).
void printTargets(mlir::MLIRContext *context, llvm::raw_ostream &os);

} // namespace qopt

#endif // QOPT_TARGET_TARGET_H
