//===- Importer.h - ONNX model to MLIR importer -----------------*- C++ -*-===//
//
// Public entry points of qopt's ONNX frontend. The importer reads an ONNX
// model (binary protobuf, or ONNX's textual syntax), specializes every
// dynamic dimension to the shapes given by the user, folds shape
// computations on the host and emits one `func.func` over static tensors in
// TOSA, linalg, tensor, arith, math and scf. Every op's location is a
// NameLoc carrying the ONNX node name. It also answers, without importing,
// which of a model's operators qopt supports.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_FRONTEND_ONNX_IMPORTER_H
#define QOPT_FRONTEND_ONNX_IMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace qopt::onnx_frontend {

/// A graph input fixed to a constant value at compile time.
struct FrozenInput {
  int dtype = 0; // ONNX TensorProto data type
  std::vector<int64_t> shape;
  std::vector<char> data;
};

/// Options that steer one import.
struct ImportOptions {
  /// Static shapes for graph inputs, keyed by input name. They replace the
  /// model's symbolic and unknown dimensions.
  llvm::StringMap<std::vector<int64_t>> inputShapes;
  /// Value used for any symbolic dimension named in `dimValues` (for
  /// example `batch=1`), applied to every input that uses that name.
  llvm::StringMap<int64_t> dimValues;
  /// Graph inputs replaced by constants (name -> raw little-endian data of
  /// the input's declared type and the given shape). Used for shape tensors
  /// that exporters pass as inputs.
  std::map<std::string, FrozenInput> frozenInputs;
  /// Name of the emitted function.
  std::string functionName = "main";
  /// Constants with at least this many bytes become `dense_resource` blobs;
  /// smaller ones stay inline `dense` attributes.
  size_t resourceThresholdBytes = 64;
  /// Emit remarks about what the importer changed in the graph (nodes
  /// dropped because nothing reads their outputs).
  bool verbose = false;
  /// Compute float16 and bfloat16 values in float32: graph inputs, weights
  /// and constants are widened where they enter the graph; explicit Casts to
  /// a half type and the graph outputs still round to it. Emits one remark
  /// when the model has such values.
  bool halfAsFloat = false;
};

/// One operator a model uses: a (domain, op type) at the model's opset for
/// that domain.
struct OperatorUse {
  std::string domain; // "" for the default ONNX domain
  std::string opType;
  int opset = -1; // -1: the model imports no opset for the domain
  bool supported = false;
  /// Names of the nodes that use it (synthesized for unnamed nodes).
  std::vector<std::string> nodes;
};

/// The operators of the nodes a model's import would convert: those that
/// contribute to a graph output, subgraphs included.
struct OperatorReport {
  /// The model's opset per domain ("" for the default domain).
  std::vector<std::pair<std::string, int>> opsets;
  /// Sorted by domain, then op type.
  std::vector<OperatorUse> operators;
  /// Nodes left out because none of their outputs reaches a graph output.
  unsigned unusedNodes = 0;

  bool allSupported() const;
};

/// An operator qopt converts, from opset `firstOpset` to `lastOpset` of its
/// domain (`lastOpset` is 0 when there is no upper bound).
struct SupportedOperator {
  std::string domain; // "" for the default ONNX domain
  std::string opType;
  int firstOpset;
  int lastOpset;
};

/// Every operator the importer converts, sorted by domain, then op type.
std::vector<SupportedOperator> supportedOperators();

/// Reads the model at `path` (binary or text) and reports its operators
/// without importing it. Errors (an unreadable model, a graph with a cycle)
/// are reported through the context's diagnostic engine.
mlir::FailureOr<OperatorReport> checkONNXFile(mlir::MLIRContext &context,
                                              llvm::StringRef path);

/// Prints `report` for people: the supported operators, then the
/// unsupported ones with the nodes that use them.
void printOperatorReport(const OperatorReport &report, llvm::raw_ostream &os);

/// Prints supportedOperators() as a Markdown table (docs/onnx-support.md).
void printSupportedOperators(llvm::raw_ostream &os);

/// Registers every dialect the importer emits into `registry`.
void registerImporterDialects(mlir::DialectRegistry &registry);

/// Parses `--input-shape` style specifications: `name=1x128` (an input's
/// full shape) or `batch=1` is treated by the caller as a dimension value.
/// Returns false and sets `error` on malformed text.
bool parseShapeSpec(llvm::StringRef spec, std::string &name,
                    std::vector<int64_t> &shape, std::string &error);

/// Imports the ONNX model at `path`. Files ending in `.onnxtxt` or `.txt`
/// (or starting with `<`) are read as ONNX's textual syntax. Errors are
/// reported through the context's diagnostic engine; returns null on
/// failure.
mlir::OwningOpRef<mlir::ModuleOp> importONNXFile(mlir::MLIRContext &context,
                                                 llvm::StringRef path,
                                                 const ImportOptions &options);

/// Imports a model held in memory (binary protobuf or text syntax).
/// `baseDir` is where external data files are looked up.
mlir::OwningOpRef<mlir::ModuleOp>
importONNXBuffer(mlir::MLIRContext &context, llvm::StringRef buffer,
                 llvm::StringRef bufferName, llvm::StringRef baseDir,
                 const ImportOptions &options);

} // namespace qopt::onnx_frontend

#endif // QOPT_FRONTEND_ONNX_IMPORTER_H
