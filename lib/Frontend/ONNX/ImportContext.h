//===- ImportContext.h - State shared by the ONNX op converters -*- C++ -*-===//
//
// The importer walks an ONNX graph node by node. Each node is handed to a
// converter (one file per op family) through a NodeContext, which gives
// typed access to the node's inputs, attributes and outputs. Inputs whose
// values are known at import time carry a HostTensor, so shape arithmetic
// folds away before any IR is emitted.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_FRONTEND_ONNX_IMPORTCONTEXT_H
#define QOPT_LIB_FRONTEND_ONNX_IMPORTCONTEXT_H

#include "HostTensor.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Location.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringMap.h"

#include <onnx/onnx_pb.h>

#include <functional>
#include <optional>

namespace qopt::onnx_frontend {

/// One ONNX value during import: its static type and, when known at import
/// time, its contents. `value` is materialized lazily for host-only values.
struct TensorRef {
  mlir::Value value;
  std::optional<HostTensor> host;
  DType dtype = DType::Undefined;
  llvm::SmallVector<int64_t> shape;
  /// The half type (float16, bfloat16) the model gives a value that
  /// ImportOptions::halfAsFloat made float32; Undefined otherwise.
  DType declared = DType::Undefined;
};

class GraphImporter;

/// A node being converted.
class NodeContext {
public:
  NodeContext(GraphImporter &importer, const onnx::NodeProto &node, int opset,
              mlir::OpBuilder &builder, mlir::Location loc)
      : importer(importer), node(node), opset(opset), b(builder), loc(loc) {}

  GraphImporter &importer;
  const onnx::NodeProto &node;
  /// Opset version of the node's domain in this model.
  int opset;
  mlir::OpBuilder &b;
  mlir::Location loc;

  llvm::StringRef opType() const { return node.op_type(); }
  /// Number of input slots (including empty optional ones).
  unsigned numInputs() const { return node.input_size(); }
  /// True if input `i` exists and is not an omitted optional input.
  bool hasInput(unsigned i) const;
  const TensorRef &input(unsigned i) const;
  DType dtype(unsigned i) const { return input(i).dtype; }
  llvm::ArrayRef<int64_t> shape(unsigned i) const { return input(i).shape; }
  int64_t rank(unsigned i) const { return input(i).shape.size(); }
  /// The host value of input `i`, or null when it is only known at run time.
  const HostTensor *host(unsigned i) const;
  /// The MLIR value of input `i` (materializing a constant if needed).
  mlir::Value value(unsigned i);
  /// The element type the model gives input `i` (its half type where
  /// ImportOptions::halfAsFloat computes it in float32).
  DType declaredDType(unsigned i) const {
    const TensorRef &ref = input(i);
    return ref.declared != DType::Undefined ? ref.declared : ref.dtype;
  }
  /// The tensor type of input `i`.
  mlir::RankedTensorType type(unsigned i) const;

  unsigned numOutputs() const { return node.output_size(); }
  bool hasOutput(unsigned i) const;
  void setOutput(unsigned i, mlir::Value v, DType dtype);
  void setHostOutput(unsigned i, HostTensor t);
  /// Makes output `i` the value `ref` (an IR value, a host value or both).
  void setOutputRef(unsigned i, TensorRef ref);
  /// The MLIR value of `ref` (materializing a constant if needed).
  mlir::Value materialize(TensorRef &ref);

  bool hasAttr(llvm::StringRef name) const;
  int64_t attrInt(llvm::StringRef name, int64_t dflt) const;
  float attrFloat(llvm::StringRef name, float dflt) const;
  std::string attrString(llvm::StringRef name, llvm::StringRef dflt) const;
  std::optional<std::vector<int64_t>> attrInts(llvm::StringRef name) const;
  std::optional<std::vector<float>> attrFloats(llvm::StringRef name) const;
  const onnx::TensorProto *attrTensor(llvm::StringRef name) const;
  /// The subgraph held by attribute `name`, or null.
  const onnx::GraphProto *attrGraph(llvm::StringRef name) const;

  /// Reads an int64 list either from attribute `name` (older opsets) or
  /// from input `inputIdx` (newer opsets); the input must be known at import
  /// time. Returns std::nullopt if neither is present; fails (with a
  /// diagnostic) when the input is only known at run time.
  mlir::FailureOr<std::optional<std::vector<int64_t>>>
  intsFromAttrOrInput(llvm::StringRef name, unsigned inputIdx);

  /// Normalizes a possibly negative axis for rank `rank`; emits an error and
  /// fails when out of range.
  mlir::FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank);

  /// Emits an error at the node (its name and op type are in the location
  /// and the message) and returns failure.
  mlir::LogicalResult fail(const llvm::Twine &message);

  /// Records that input `i` indexes an axis of `size` elements (Gather's
  /// indices). When it is a graph input, the model's entry records the
  /// bound (qopt.index_bound/qopt.index_node) and the runtime refuses
  /// values outside [-size, size) with an error naming this node, as ONNX
  /// Runtime does; values computed inside the graph stay clamped.
  void noteIndexOperand(unsigned i, int64_t size);

  /// Records that output `i` carries padding where ONNX's result is
  /// shorter (`what` says how, e.g. "padded with rows of -1"): it may be a
  /// graph output, and a node that reads it is an error naming both.
  void notePaddedOutput(unsigned i, const llvm::Twine &what);

  mlir::MLIRContext *ctx() const { return b.getContext(); }
  mlir::Type elemType(DType t) const { return dtypeToMLIR(ctx(), t); }
  mlir::RankedTensorType tensorType(llvm::ArrayRef<int64_t> shape,
                                    DType t) const {
    return mlir::RankedTensorType::get(shape, elemType(t));
  }

private:
  const onnx::AttributeProto *findAttr(llvm::StringRef name) const;
};

using ConvertFn = mlir::LogicalResult (*)(NodeContext &);

/// Evaluates a node on the host at import time: true when it set the
/// node's outputs (host values), false when the node has to be converted to
/// IR (an input is only known at run time, or the result is too large),
/// failure after a diagnostic for a user error.
using FoldFn = mlir::FailureOr<bool> (*)(NodeContext &);

/// One entry of the converter table: an op of the default ONNX domain (or
/// another domain, e.g. "com.microsoft"), handled from `sinceVersion` on,
/// converted by `convert` unless `fold` (when set) evaluates it first.
struct ConverterEntry {
  const char *domain;
  const char *opType;
  int sinceVersion;
  ConvertFn convert;
  FoldFn fold = nullptr;
};

/// Whether `t` is an ONNX index element type (int32 or int64).
inline bool isIndexDType(DType t) { return t == DType::I32 || t == DType::I64; }

/// Fails with a diagnostic unless inputs 0..n-1 are all given.
inline mlir::LogicalResult requireInputs(NodeContext &ctx, unsigned n) {
  for (unsigned i = 0; i < n; ++i)
    if (!ctx.hasInput(i))
      return ctx.fail("missing required input " + std::to_string(i));
  return mlir::success();
}

/// Each op family contributes its converters.
void appendElementwiseConverters(std::vector<ConverterEntry> &table);
void appendMatMulConverters(std::vector<ConverterEntry> &table);
void appendConvPoolConverters(std::vector<ConverterEntry> &table);
void appendShapeConverters(std::vector<ConverterEntry> &table);
void appendIndexingConverters(std::vector<ConverterEntry> &table);
void appendSamplingConverters(std::vector<ConverterEntry> &table);
void appendReductionConverters(std::vector<ConverterEntry> &table);
void appendNormalizationConverters(std::vector<ConverterEntry> &table);
void appendQuantizationConverters(std::vector<ConverterEntry> &table);
void appendControlFlowConverters(std::vector<ConverterEntry> &table);
void appendRecurrentConverters(std::vector<ConverterEntry> &table);
void appendContribConverters(std::vector<ConverterEntry> &table);

/// numpy matmul of `a` and `b` (1-D operands promoted) in element type
/// `t`, as tosa.matmul for floats with a shared constant right operand
/// folded into M (the form the quantizer recognizes as a weight product).
/// Fails with a diagnostic on mismatched shapes. (OpsMatMul.cpp)
mlir::FailureOr<mlir::Value> emitMatMul(NodeContext &ctx, mlir::Value a,
                                        mlir::Value b, DType t);

/// (x - mean) / sqrt(var + eps) over `axes` of a float tensor, with the mean
/// and inverse standard deviation (reduced dims kept as size 1).
/// (OpsNormalization.cpp)
struct Normalized {
  mlir::Value y, mean, invStd;
};
Normalized normalizeMeanVariance(mlir::OpBuilder &b, mlir::Location loc,
                                 mlir::Value x, llvm::ArrayRef<int64_t> axes,
                                 double eps);

/// Imports `graph`, a subgraph attribute of `ctx`'s node, at the builder's
/// insertion point, in a scope of its own that sees every value visible to
/// the node. `inputs` binds the subgraph's inputs, one value each (a Loop
/// body's iteration number, condition and carried values). Returns the
/// subgraph's outputs; fails with a diagnostic.
mlir::FailureOr<llvm::SmallVector<TensorRef>>
importSubgraph(NodeContext &ctx, const onnx::GraphProto &graph,
               llvm::ArrayRef<TensorRef> inputs = {});

/// Spatial window parameters shared by convolutions and pools.
struct Window {
  llvm::SmallVector<int64_t> kernel, strides, dilations, padBegin, padEnd;
};
/// Reads strides/dilations/pads/auto_pad of a node over spatial input dims
/// `in` with kernel `kernel`, computing explicit pads (SAME_* as ONNX
/// defines them). Emits an error and fails on bad values.
mlir::FailureOr<Window> readWindow(NodeContext &ctx,
                                   llvm::ArrayRef<int64_t> in,
                                   llvm::ArrayRef<int64_t> kernel);

/// Offsets, sizes and strides of every dimension of a Slice node.
struct SliceSpec {
  llvm::SmallVector<int64_t> offsets, sizes, strides;
};
/// Resolves a Slice node's arguments (attribute form before opset 10,
/// inputs after; inputs must be known at import time). Unsliced dims get
/// their full range. Emits an error and fails on bad arguments.
mlir::FailureOr<SliceSpec> resolveSlice(NodeContext &ctx);

/// Host folders (HostEval.cpp), the `fold` fields of their ops' entries.
/// Shape, Size and Constant need no input values; the others fold when
/// every input is known.
mlir::FailureOr<bool> foldShape(NodeContext &ctx);
mlir::FailureOr<bool> foldSize(NodeContext &ctx);
mlir::FailureOr<bool> foldConstant(NodeContext &ctx);
mlir::FailureOr<bool> foldIdentity(NodeContext &ctx);
mlir::FailureOr<bool> foldCast(NodeContext &ctx);
mlir::FailureOr<bool> foldCastLike(NodeContext &ctx);
mlir::FailureOr<bool> foldArith(NodeContext &ctx);
mlir::FailureOr<bool> foldCompareOp(NodeContext &ctx);
mlir::FailureOr<bool> foldNot(NodeContext &ctx);
mlir::FailureOr<bool> foldUnaryMath(NodeContext &ctx);
mlir::FailureOr<bool> foldWhere(NodeContext &ctx);
mlir::FailureOr<bool> foldMinMax(NodeContext &ctx);
mlir::FailureOr<bool> foldReshapeLike(NodeContext &ctx);
mlir::FailureOr<bool> foldConcat(NodeContext &ctx);
mlir::FailureOr<bool> foldGather(NodeContext &ctx);
mlir::FailureOr<bool> foldSlice(NodeContext &ctx);
mlir::FailureOr<bool> foldRange(NodeContext &ctx);
mlir::FailureOr<bool> foldConstantOfShape(NodeContext &ctx);
mlir::FailureOr<bool> foldExpand(NodeContext &ctx);
mlir::FailureOr<bool> foldTranspose(NodeContext &ctx);
mlir::FailureOr<bool> foldTrilu(NodeContext &ctx);
mlir::FailureOr<bool> foldNonZero(NodeContext &ctx);
mlir::FailureOr<bool> foldUnique(NodeContext &ctx);
mlir::FailureOr<bool> foldScatter(NodeContext &ctx);
mlir::FailureOr<bool> foldGatherND(NodeContext &ctx);

/// Parses `buffer` (binary protobuf, or ONNX text when `name` or the
/// contents say so) into `model`; false with a diagnostic naming `name`.
bool parseModelProto(mlir::MLIRContext &ctx, llvm::StringRef buffer,
                     llvm::StringRef name, onnx::ModelProto &model);

/// Reads the raw little-endian bytes of a TensorProto stored as raw_data or
/// external data, without widening them (large weights). Returns failure
/// with `error` set when the data is malformed; sets `available` to false
/// (and succeeds) for typed-field tensors, which need readTensorProto.
mlir::LogicalResult readTensorBytes(const onnx::TensorProto &proto,
                                    llvm::StringRef baseDir,
                                    std::vector<char> &bytes, bool &available,
                                    std::string &error);

/// Reads a TensorProto (inline or external data) into a HostTensor.
mlir::LogicalResult readTensorProto(const onnx::TensorProto &proto,
                                    llvm::StringRef baseDir, HostTensor &out,
                                    std::string &error);

} // namespace qopt::onnx_frontend

#endif // QOPT_LIB_FRONTEND_ONNX_IMPORTCONTEXT_H
