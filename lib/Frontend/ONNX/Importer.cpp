//===- Importer.cpp - ONNX graph to MLIR -----------------------------------===//
//
// Plans an ONNX graph (see GraphPlan.h), then hands every node, in
// topological order, to the converter registered for its (domain, op type,
// opset). Unsupported ops are all collected and reported at once before
// anything is emitted. Subgraphs (If branches, Loop and Scan bodies) are
// imported in a scope of their own that sees every value of the enclosing
// graphs.
//
//===----------------------------------------------------------------------===//

#include "qopt/Frontend/ONNX/Importer.h"
#include "qopt/SignatureAttrs.h"

#include "Builders.h"
#include "GraphPlan.h"
#include "ImportContext.h"
#include "qopt/QOptDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <google/protobuf/io/coded_stream.h>
#include <onnx/defs/parser.h>
#include <onnx/defs/schema.h>

#include <deque>
#include <limits>
#include <map>
#include <set>

using namespace mlir;

namespace qopt::onnx_frontend {

//===----------------------------------------------------------------------===//
// Converter table
//===----------------------------------------------------------------------===//

static const std::vector<ConverterEntry> &converterTable() {
  static const std::vector<ConverterEntry> table = [] {
    std::vector<ConverterEntry> t;
    appendElementwiseConverters(t);
    appendMatMulConverters(t);
    appendConvPoolConverters(t);
    appendShapeConverters(t);
    appendIndexingConverters(t);
    appendSamplingConverters(t);
    appendReductionConverters(t);
    appendNormalizationConverters(t);
    appendQuantizationConverters(t);
    appendControlFlowConverters(t);
    appendRecurrentConverters(t);
    appendContribConverters(t);
    return t;
  }();
  return table;
}

/// The table entry for `opType` in `domain` at `opset`, or null.
static const ConverterEntry *lookupConverter(StringRef domain,
                                             StringRef opType, int opset) {
  const ConverterEntry *best = nullptr;
  for (const ConverterEntry &e : converterTable()) {
    if (domain != e.domain || opType != e.opType)
      continue;
    if (e.sinceVersion <= opset && (!best || e.sinceVersion > best->sinceVersion))
      best = &e;
  }
  return best;
}

static StringRef normalizeDomain(StringRef domain) {
  return domain == "ai.onnx" ? StringRef("") : domain;
}

/// The default domain's opsets the importer accepts.
static constexpr int kMinDefaultOpset = 1, kMaxDefaultOpset = 22;

/// True if a node of `opType` in `domain` converts at the model's `opset`
/// for that domain (-1 when the model imports no opset for it).
static bool isSupportedOperator(StringRef domain, StringRef opType, int opset) {
  if (opset < 0)
    return false;
  if (domain.empty() && (opset < kMinDefaultOpset || opset > kMaxDefaultOpset))
    return false;
  return lookupConverter(domain, opType, opset) != nullptr;
}

std::vector<SupportedOperator> supportedOperators() {
  std::map<std::pair<std::string, std::string>, int> first;
  for (const ConverterEntry &e : converterTable()) {
    auto [it, inserted] =
        first.try_emplace({e.domain, e.opType}, e.sinceVersion);
    if (!inserted)
      it->second = std::min(it->second, e.sinceVersion);
  }
  std::vector<SupportedOperator> out;
  for (auto &[key, since] : first) {
    bool isDefault = key.first.empty();
    out.push_back({key.first, key.second,
                   isDefault ? std::max(since, kMinDefaultOpset) : since,
                   isDefault ? kMaxDefaultOpset : 0});
  }
  return out;
}

/// The model's opset for each domain it imports (the default domain as "").
static std::map<std::string, int> readOpsets(const onnx::ModelProto &model) {
  std::map<std::string, int> opsets;
  for (const auto &op : model.opset_import())
    opsets[normalizeDomain(op.domain()).str()] = (int)op.version();
  // IR version 3 and older models may omit the default domain.
  opsets.try_emplace("", 9);
  return opsets;
}

/// Adds the operators of `plan`'s nodes, and of the nodes of their
/// subgraphs at any depth, to `uses`.
static LogicalResult collectOperators(
    MLIRContext &ctx, const GraphPlan &plan, const NodeNames &names,
    const std::map<std::string, int> &opsets,
    std::map<std::pair<std::string, std::string>, OperatorUse> &uses,
    unsigned &unusedNodes) {
  unusedNodes += plan.unused.size();
  for (const onnx::NodeProto *node : plan.order) {
    std::string domain = normalizeDomain(node->domain()).str();
    OperatorUse &use = uses[{domain, node->op_type()}];
    if (use.opType.empty()) {
      auto it = opsets.find(domain);
      use.domain = domain;
      use.opType = node->op_type();
      use.opset = it == opsets.end() ? -1 : it->second;
      use.supported = isSupportedOperator(domain, use.opType, use.opset);
    }
    use.nodes.push_back(names.of(*node).str());
    for (auto [attr, sub] : subgraphsOf(*node)) {
      // Values from enclosing scopes are checked when the subgraph is
      // imported; here only its operators matter.
      FailureOr<GraphPlan> subPlan =
          planGraph(ctx, *sub, names, [](StringRef) { return true; });
      if (failed(subPlan) ||
          failed(collectOperators(ctx, *subPlan, names, opsets, uses,
                                  unusedNodes)))
        return failure();
    }
  }
  return success();
}

/// Plans the model's main graph and lists the operators it would convert.
static FailureOr<OperatorReport> reportOperators(MLIRContext &ctx,
                                                 const onnx::ModelProto &model,
                                                 const NodeNames &names,
                                                 GraphPlan *mainPlan) {
  FailureOr<GraphPlan> plan =
      planGraph(ctx, model.graph(), names, [](StringRef) { return false; });
  if (failed(plan))
    return failure();
  OperatorReport report;
  std::map<std::string, int> opsets = readOpsets(model);
  report.opsets.assign(opsets.begin(), opsets.end());
  std::map<std::pair<std::string, std::string>, OperatorUse> uses;
  if (failed(collectOperators(ctx, *plan, names, opsets, uses,
                              report.unusedNodes)))
    return failure();
  for (auto &[key, use] : uses)
    report.operators.push_back(std::move(use));
  if (mainPlan)
    *mainPlan = std::move(*plan);
  return report;
}

bool OperatorReport::allSupported() const {
  return llvm::all_of(operators,
                      [](const OperatorUse &u) { return u.supported; });
}

static std::string domainName(StringRef domain) {
  return domain.empty() ? "ai.onnx" : domain.str();
}

//===----------------------------------------------------------------------===//
// GraphImporter
//===----------------------------------------------------------------------===//

class GraphImporter {
public:
  GraphImporter(MLIRContext &ctx, const onnx::ModelProto &model,
                StringRef baseDir, const ImportOptions &options)
      : ctx(ctx), model(model), baseDir(baseDir.str()), options(options),
        builder(&ctx), names(model.graph()) {}

  OwningOpRef<ModuleOp> run();

  /// The value `name` of the innermost scope that defines it.
  TensorRef &lookup(const std::string &name) {
    TensorRef *ref = find(name);
    assert(ref && "value not defined in any scope");
    return *ref;
  }
  bool has(const std::string &name) { return find(name) != nullptr; }
  void define(const std::string &name, TensorRef ref) {
    widenHalf(ref);
    scopes.back()[name] = std::move(ref);
  }
  Value materialize(TensorRef &ref, Location loc);
  size_t resourceThreshold() const { return options.resourceThresholdBytes; }
  FailureOr<SmallVector<TensorRef>>
  importSubgraph(const onnx::GraphProto &graph, ArrayRef<TensorRef> inputs);
  /// See NodeContext::noteIndexOperand. Several nodes indexing with one
  /// input keep the smallest axis.
  void noteIndexInput(Value v, int64_t size, StringRef node) {
    auto arg = dyn_cast<BlockArgument>(v);
    if (!arg || arg.getOwner() != entryBlock || size <= 0)
      return;
    auto [it, inserted] =
        indexBounds.try_emplace(arg.getArgNumber(), size, node.str());
    if (!inserted && size < it->second.first)
      it->second = {size, node.str()};
  }
  StringRef nodeName(const onnx::NodeProto &node) { return names.of(node); }
  /// See NodeContext::notePaddedOutput.
  void notePadded(const std::string &value, std::string what) {
    padded[value] = std::move(what);
  }

private:
  void widenHalf(TensorRef &ref);
  LogicalResult checkOpset();
  LogicalResult checkSupportedOps(const OperatorReport &report);
  LogicalResult importInitializers(const onnx::GraphProto &graph);
  LogicalResult importInputs(const onnx::GraphProto &graph, func::FuncOp fn,
                             SmallVectorImpl<Type> &argTypes);
  LogicalResult importNodes(const GraphPlan &plan);
  LogicalResult importNode(const onnx::NodeProto &node);
  Location nodeLoc(const onnx::NodeProto &node) {
    return NameLoc::get(StringAttr::get(&ctx, names.of(node)));
  }
  int opsetFor(StringRef domain) const {
    auto it = opsets.find(normalizeDomain(domain).str());
    return it == opsets.end() ? -1 : it->second;
  }
  TensorRef *find(const std::string &name) {
    for (auto scope = scopes.rbegin(); scope != scopes.rend(); ++scope) {
      auto it = scope->find(name);
      if (it != scope->end())
        return &it->second;
    }
    return nullptr;
  }

  MLIRContext &ctx;
  const onnx::ModelProto &model;
  std::string baseDir;
  const ImportOptions &options;
  OpBuilder builder;
  NodeNames names;
  std::map<std::string, int> opsets;
  /// The main graph's values, then one scope per subgraph being imported. A
  /// deque, so references into outer scopes survive pushes.
  std::deque<std::unordered_map<std::string, TensorRef>> scopes;
  Block *entryBlock = nullptr;
  /// The graph's arguments (name, declared element type), in order.
  SmallVector<std::pair<std::string, DType>> argInfo;
  bool remarkedHalfAsFloat = false;
  bool importingInitializers = false;
  /// Graph inputs used as indices: argument number -> (axis size, node).
  llvm::DenseMap<unsigned, std::pair<int64_t, std::string>> indexBounds;
  /// Values padded past ONNX's result (NonMaxSuppression's selection):
  /// name -> what the padding is.
  llvm::StringMap<std::string> padded;
};

static bool isHalfDType(DType t) { return t == DType::F16 || t == DType::BF16; }

/// The largest tensor qopt compiles, in bytes (kMaxBufferBytes).
static constexpr uint64_t kMaxTensorBytes = kMaxBufferBytes;

/// Refuses a tensor whose element count or byte size overflows int64 or
/// exceeds kMaxTensorBytes, naming it as `what` (the code after would
/// compute sizes, buffers and workspace offsets that wrap around).
static LogicalResult checkTensorSize(Location loc, const Twine &what,
                                     ArrayRef<int64_t> shape, DType dtype) {
  int64_t numel = 1;
  bool overflow = false;
  for (int64_t d : shape)
    overflow |= d < 0 || __builtin_mul_overflow(numel, d, &numel);
  uint64_t bits = std::max(dtypeBits(dtype), 1u), bytes = 0;
  if (!overflow)
    overflow = __builtin_mul_overflow((uint64_t)numel, bits, &bytes);
  bytes = (bytes + 7) / 8;
  if (overflow)
    return emitError(loc) << what << " has shape " << shapeToString(shape)
                          << ", whose element count or byte size overflows "
                             "a 64-bit integer";
  if (bytes > kMaxTensorBytes)
    return emitError(loc) << what << " has shape " << shapeToString(shape)
                          << " (" << bytes << " bytes of "
                          << dtypeName(dtype)
                          << "), more than any machine can hold (qopt "
                             "compiles tensors up to 2^47 bytes)";
  return success();
}

/// Under halfAsFloat every value is defined as float32 instead of a half
/// type. Widening is exact, so host values stay foldable; IR values get an
/// extf where they are defined (at the builder's insertion point).
void GraphImporter::widenHalf(TensorRef &ref) {
  if (!options.halfAsFloat || !isHalfDType(ref.dtype))
    return;
  // Weights and values folded at import are no half-precision compute.
  if (!remarkedHalfAsFloat && ref.value && !importingInitializers) {
    remarkedHalfAsFloat = true;
    emitRemark(UnknownLoc::get(&ctx))
        << "computing " << dtypeName(ref.dtype)
        << " ops in float32, rounding to " << dtypeName(ref.dtype)
        << " at Casts and graph outputs (--keep-fp16 computes in half "
           "precision)";
  }
  if (ref.host)
    ref.host = ref.host->castTo(DType::F32);
  if (ref.value)
    ref.value =
        emitCast(builder, ref.value.getLoc(), ref.value, ref.dtype, DType::F32);
  ref.declared = ref.dtype;
  ref.dtype = DType::F32;
}

Value GraphImporter::materialize(TensorRef &ref, Location loc) {
  if (ref.value)
    return ref.value;
  assert(ref.host && "value with neither IR nor host contents");
  // Constants go at the top of the function so they dominate every use.
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(entryBlock);
  ref.value = emitConstant(builder, loc, *ref.host, resourceThreshold());
  return ref.value;
}

LogicalResult GraphImporter::checkOpset() {
  opsets = readOpsets(model);
  int version = opsets[""];
  if (version < kMinDefaultOpset || version > kMaxDefaultOpset)
    return emitError(UnknownLoc::get(&ctx))
           << "unsupported ONNX opset " << version
           << " for the default domain (qopt imports opsets "
              "9-17; 1-8 and 18-22 are best effort)";
  return success();
}

LogicalResult GraphImporter::checkSupportedOps(const OperatorReport &report) {
  if (report.allSupported())
    return success();
  unsigned numMissing = llvm::count_if(
      report.operators, [](const OperatorUse &u) { return !u.supported; });
  auto diag = emitError(UnknownLoc::get(&ctx))
              << "the model uses " << numMissing << " unsupported operator(s):";
  for (const OperatorUse &use : report.operators) {
    if (use.supported)
      continue;
    diag << "\n  " << domainName(use.domain) << "::" << use.opType << " (opset "
         << use.opset << ") used by " << use.nodes.size() << " node(s): ";
    for (size_t k = 0; k < use.nodes.size() && k < 8; ++k)
      diag << (k ? ", " : "") << use.nodes[k];
    if (use.nodes.size() > 8)
      diag << ", ...";
  }
  return failure();
}

LogicalResult GraphImporter::importInitializers(const onnx::GraphProto &graph) {
  importingInitializers = true;
  llvm::scope_exit done([&] { importingInitializers = false; });
  // Initializers past this size are weights, not shape data: they go
  // straight from their bytes into a dense_resource blob instead of being
  // widened into a HostTensor.
  constexpr int64_t kHostElementLimit = 1 << 16;
  for (const onnx::TensorProto &init : graph.initializer()) {
    HostTensor t;
    std::string error;
    // Saturating: dims whose product overflows go the weight path, whose
    // reader says so.
    int64_t numel = 1;
    for (int64_t d : init.dims())
      if (__builtin_mul_overflow(numel, std::max<int64_t>(d, 0), &numel))
        numel = std::numeric_limits<int64_t>::max();
    if (numel > kHostElementLimit && (DType)init.data_type() != DType::Bool) {
      std::vector<char> bytes;
      bool available;
      Location loc = NameLoc::get(StringAttr::get(&ctx, init.name()));
      if (failed(readTensorBytes(init, baseDir, bytes, available, error)))
        return emitError(loc) << "cannot read initializer '" << init.name()
                              << "': " << error;
      if (available) {
        TensorRef ref;
        ref.dtype = (DType)init.data_type();
        ref.shape.assign(init.dims().begin(), init.dims().end());
        auto type = RankedTensorType::get(ref.shape,
                                          dtypeToMLIR(&ctx, ref.dtype));
        OpBuilder::InsertionGuard guard(builder);
        builder.setInsertionPointToStart(entryBlock);
        ref.value = emitResourceConstant(builder, loc, type, bytes);
        define(init.name(), std::move(ref));
        continue;
      }
    }
    if (failed(readTensorProto(init, baseDir, t, error)))
      return emitError(NameLoc::get(StringAttr::get(&ctx, init.name())))
             << "cannot read initializer '" << init.name() << "': " << error;
    TensorRef ref;
    ref.dtype = t.dtype;
    ref.shape = t.shape;
    ref.host = std::move(t);
    define(init.name(), std::move(ref));
  }
  return success();
}

LogicalResult GraphImporter::importInputs(const onnx::GraphProto &graph,
                                          func::FuncOp fn,
                                          SmallVectorImpl<Type> &argTypes) {
  llvm::StringSet<> used, inputNames;
  for (const onnx::ValueInfoProto &vi : graph.input())
    inputNames.insert(vi.name());
  // A NAME=N spec that names no input gives a symbolic dimension its value.
  llvm::StringMap<int64_t> dims = options.dimValues;
  for (auto &entry : options.inputShapes)
    if (!inputNames.contains(entry.getKey()) && entry.getValue().size() == 1)
      dims[entry.getKey()] = entry.getValue()[0];
  for (auto &entry : options.frozenInputs)
    if (!inputNames.contains(entry.first))
      return emitError(UnknownLoc::get(&ctx))
             << "--freeze-input names '" << entry.first
             << "', which is not an input of the model";
  for (auto &entry : options.inputShapes)
    if (!inputNames.contains(entry.getKey()) && !dims.count(entry.getKey()))
      return emitError(UnknownLoc::get(&ctx))
             << "--input-shape names '" << entry.getKey()
             << "', which is not an input of the model";
  for (const onnx::ValueInfoProto &vi : graph.input()) {
    if (has(vi.name()))
      continue; // An initializer listed as input (IR version < 4).
    auto frozen = options.frozenInputs.find(vi.name());
    if (frozen != options.frozenInputs.end()) {
      // Specialized to a constant: shape tensors passed as inputs.
      const auto &tt = vi.type().tensor_type();
      Location loc = NameLoc::get(StringAttr::get(&ctx, vi.name()));
      DType dtype = (DType)frozen->second.dtype;
      if ((DType)tt.elem_type() != dtype)
        return emitError(loc) << "--freeze-input for '" << vi.name()
                              << "' has type " << dtypeName(dtype)
                              << " but the input is "
                              << dtypeName((DType)tt.elem_type());
      HostTensor value;
      if (!HostTensor::fromBytes(dtype, frozen->second.shape,
                                 frozen->second.data, value))
        return emitError(loc) << "--freeze-input for '" << vi.name()
                              << "': data does not match its shape";
      TensorRef ref;
      ref.dtype = dtype;
      ref.shape = value.shape;
      ref.host = std::move(value);
      define(vi.name(), std::move(ref));
      used.insert(vi.name());
      continue;
    }
    Location loc = NameLoc::get(StringAttr::get(&ctx, vi.name()));
    if (!vi.type().has_tensor_type())
      return emitError(loc) << "graph input '" << vi.name()
                            << "' is not a tensor (sequences, maps and "
                               "optionals are not supported)";
    const auto &tt = vi.type().tensor_type();
    DType dtype = (DType)tt.elem_type();
    if (!isSupportedDType(dtype))
      return emitError(loc) << "graph input '" << vi.name()
                            << "' has unsupported element type "
                            << tt.elem_type();
    SmallVector<int64_t> shape;
    auto given = options.inputShapes.find(vi.name());
    if (given != options.inputShapes.end()) {
      used.insert(vi.name());
      shape.assign(given->second.begin(), given->second.end());
      if (tt.has_shape() && tt.shape().dim_size() != (int)shape.size())
        return emitError(loc)
               << "--input-shape for '" << vi.name() << "' has rank "
               << shape.size() << " but the model declares rank "
               << tt.shape().dim_size();
      if (tt.has_shape()) {
        for (int d = 0; d < tt.shape().dim_size(); ++d) {
          const auto &dim = tt.shape().dim(d);
          if (dim.has_dim_value() && dim.dim_value() != shape[d])
            return emitError(loc)
                   << "--input-shape for '" << vi.name() << "' sets dimension "
                   << d << " to " << shape[d] << " but the model fixes it to "
                   << dim.dim_value();
        }
      }
    } else {
      if (!tt.has_shape())
        return emitError(loc) << "graph input '" << vi.name()
                              << "' has no declared shape: give one with "
                                 "--input-shape "
                              << vi.name() << "=<d0>x<d1>...";
      for (int d = 0; d < tt.shape().dim_size(); ++d) {
        const auto &dim = tt.shape().dim(d);
        if (dim.has_dim_value() && dim.dim_value() > 0) {
          shape.push_back(dim.dim_value());
          continue;
        }
        auto named = dim.has_dim_param() ? dims.find(dim.dim_param())
                                         : dims.end();
        if (named != dims.end()) {
          shape.push_back(named->second);
          continue;
        }
        return emitError(loc)
               << "graph input '" << vi.name() << "' has dynamic dimension "
               << d
               << (dim.has_dim_param() ? " ('" + dim.dim_param() + "')"
                                       : std::string())
               << ": give a static shape with --input-shape " << vi.name()
               << "=<d0>x<d1>..."
               << (dim.has_dim_param() ? " or --input-shape " +
                                             dim.dim_param() + "=<n>"
                                       : std::string());
      }
    }
    for (int64_t d : shape)
      if (d < 0)
        return emitError(loc) << "graph input '" << vi.name()
                              << "' has a negative dimension in "
                              << shapeToString(shape);
    if (failed(checkTensorSize(loc, "graph input '" + vi.name() + "'", shape,
                               dtype)))
      return failure();
    auto type = RankedTensorType::get(shape, dtypeToMLIR(&ctx, dtype));
    argTypes.push_back(type);
    Value arg = entryBlock->addArgument(type, loc);
    argInfo.push_back({vi.name(), dtype});
    TensorRef ref;
    ref.value = arg;
    ref.dtype = dtype;
    ref.shape = shape;
    define(vi.name(), std::move(ref));
  }
  return success();
}

/// Checks `node`'s inputs against the ONNX schema of its op at `opset`
/// where libonnx has one: how many input slots it may have and which of
/// them must not be empty. Past the newest opset libonnx knows (17), the
/// schema found is an older version of the op: its required inputs still
/// hold (ONNX 18-22 only add optional ones), its maximum may not. Ops
/// without a schema (contrib domains) rely on their converter and on
/// NodeContext::input.
static LogicalResult checkArity(const onnx::NodeProto &node, StringRef domain,
                                int opset, Location loc) {
  const onnx::OpSchema *schema = onnx::OpSchemaRegistry::Schema(
      node.op_type(), opset, domain.str());
  if (!schema)
    return success();
  const auto &ranges =
      onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto range = ranges.find(domain.str());
  bool exact = range != ranges.end() && opset <= range->second.second;
  int numInputs = node.input_size();
  if (numInputs < schema->min_input())
    return emitError(loc) << node.op_type() << " (opset " << opset
                          << ") needs at least " << schema->min_input()
                          << " input(s); the node has " << numInputs;
  if (exact && numInputs > schema->max_input())
    return emitError(loc) << node.op_type() << " (opset " << opset
                          << ") takes at most " << schema->max_input()
                          << " input(s); the node has " << numInputs;
  const auto &formals = schema->inputs();
  for (int i = 0; i < numInputs && i < (int)formals.size(); ++i) {
    if (!node.input(i).empty() ||
        formals[i].GetOption() != onnx::OpSchema::Single)
      continue;
    return emitError(loc) << node.op_type() << " (opset " << opset
                          << "): input " << i << " ('" << formals[i].GetName()
                          << "') is required but the node leaves it empty";
  }
  return success();
}

namespace {
/// Thrown by NodeContext::input after its diagnostic when a converter asks
/// for an input the node does not have; importNode catches it. Converters
/// read their inputs straight-line, so unwinding out of them keeps every
/// converter safe without a presence check before each read.
struct MissingInputError {};
} // namespace

LogicalResult GraphImporter::importNode(const onnx::NodeProto &node) {
  Location loc = nodeLoc(node);
  StringRef domain = normalizeDomain(node.domain());
  int opset = opsetFor(domain);
  assert(llvm::all_of(
             node.input(),
             [&](const std::string &in) { return in.empty() || has(in); }) &&
         "the plan orders producers before their readers");
  if (failed(checkArity(node, domain, opset, loc)))
    return failure();
  for (const std::string &in : node.input()) {
    auto it = padded.find(in);
    if (it != padded.end())
      return emitError(loc)
             << node.op_type() << " reads '" << in << "', which is "
             << it->second
             << "; only a graph output can carry it (its readers would see "
                "the padding as data)";
  }
  NodeContext nctx(*this, node, opset, builder, loc);
  const ConverterEntry *entry = lookupConverter(domain, node.op_type(), opset);
  assert(entry && "unsupported ops are rejected before conversion");
  try {
    if (entry->fold) {
      FailureOr<bool> folded = entry->fold(nctx);
      if (failed(folded))
        return failure();
      if (*folded)
        return success();
    }
    if (failed(entry->convert(nctx)))
      return failure();
  } catch (const MissingInputError &) {
    return failure();
  }
  for (int i = 0; i < node.output_size(); ++i) {
    if (node.output(i).empty())
      continue;
    if (!has(node.output(i)))
      return emitError(loc) << "internal error: " << node.op_type()
                            << " converter did not define output " << i;
    const TensorRef &out = lookup(node.output(i));
    if (failed(checkTensorSize(loc,
                               Twine(node.op_type()) + " output " + Twine(i) +
                                   " ('" + node.output(i) + "')",
                               out.shape, out.dtype)))
      return failure();
  }
  return success();
}

LogicalResult GraphImporter::importNodes(const GraphPlan &plan) {
  if (options.verbose)
    for (const onnx::NodeProto *node : plan.unused)
      emitRemark(nodeLoc(*node))
          << "dropped " << node->op_type()
          << " node: none of its outputs reaches a graph output";
  for (const onnx::NodeProto *node : plan.order)
    if (failed(importNode(*node)))
      return failure();
  return success();
}

FailureOr<SmallVector<TensorRef>>
GraphImporter::importSubgraph(const onnx::GraphProto &graph,
                              ArrayRef<TensorRef> inputs) {
  assert(inputs.size() == (size_t)graph.input_size() &&
         "one value per subgraph input");
  FailureOr<GraphPlan> plan =
      planGraph(ctx, graph, names, [&](StringRef v) { return has(v.str()); });
  if (failed(plan))
    return failure();
  scopes.emplace_back();
  llvm::scope_exit leaveScope([&] { scopes.pop_back(); });
  for (auto [vi, ref] : llvm::zip(graph.input(), inputs))
    define(vi.name(), ref);
  if (failed(importInitializers(graph)) || failed(importNodes(*plan)))
    return failure();
  SmallVector<TensorRef> outputs;
  for (const onnx::ValueInfoProto &vi : graph.output())
    outputs.push_back(lookup(vi.name()));
  return outputs;
}

OwningOpRef<ModuleOp> GraphImporter::run() {
  if (failed(checkOpset()))
    return nullptr;
  const onnx::GraphProto &graph = model.graph();
  GraphPlan plan;
  FailureOr<OperatorReport> report = reportOperators(ctx, model, names, &plan);
  if (failed(report) || failed(checkSupportedOps(*report)))
    return nullptr;

  Location moduleLoc = NameLoc::get(StringAttr::get(
      &ctx, graph.name().empty() ? "onnx_graph" : graph.name()));
  OwningOpRef<ModuleOp> module = ModuleOp::create(moduleLoc);
  builder.setInsertionPointToEnd(module->getBody());
  auto fn = func::FuncOp::create(builder, moduleLoc, options.functionName,
                                 builder.getFunctionType({}, {}));
  entryBlock = fn.addEntryBlock();
  builder.setInsertionPointToEnd(entryBlock);

  scopes.emplace_back();
  if (failed(importInitializers(graph)))
    return nullptr;
  SmallVector<Type> argTypes;
  if (failed(importInputs(graph, fn, argTypes)))
    return nullptr;
  ArrayRef<std::pair<std::string, DType>> inputInfo = argInfo;

  if (failed(importNodes(plan)))
    return nullptr;

  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  SmallVector<std::pair<std::string, DType>> outputInfo;
  for (const onnx::ValueInfoProto &vi : graph.output()) {
    TensorRef &ref = lookup(vi.name());
    Location loc = NameLoc::get(StringAttr::get(&ctx, vi.name()));
    Value v = materialize(ref, loc);
    DType dtype = ref.dtype;
    // A half output computed in float32 rounds once, here.
    auto declared = (DType)vi.type().tensor_type().elem_type();
    if (options.halfAsFloat && isHalfDType(declared) && dtype == DType::F32) {
      v = emitCast(builder, loc, v, dtype, declared);
      dtype = declared;
    }
    results.push_back(v);
    resultTypes.push_back(v.getType());
    outputInfo.push_back({vi.name(), dtype});
  }
  func::ReturnOp::create(builder, moduleLoc, results);
  fn.setFunctionType(builder.getFunctionType(argTypes, resultTypes));
  for (size_t i = 0; i < inputInfo.size(); ++i) {
    fn.setArgAttr(i, QOptDialect::kNameAttrName, builder.getStringAttr(inputInfo[i].first));
    fn.setArgAttr(i, QOptDialect::kDTypeAttrName,
                  builder.getStringAttr(dtypeName(inputInfo[i].second)));
    auto bound = indexBounds.find(i);
    if (bound != indexBounds.end()) {
      fn.setArgAttr(i, kIndexBoundAttrName,
                    builder.getI64IntegerAttr(bound->second.first));
      fn.setArgAttr(i, kIndexNodeAttrName,
                    builder.getStringAttr(bound->second.second));
    }
  }
  for (size_t i = 0; i < outputInfo.size(); ++i) {
    fn.setResultAttr(i, QOptDialect::kNameAttrName,
                     builder.getStringAttr(outputInfo[i].first));
    fn.setResultAttr(i, QOptDialect::kDTypeAttrName,
                     builder.getStringAttr(dtypeName(outputInfo[i].second)));
  }
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

//===----------------------------------------------------------------------===//
// NodeContext
//===----------------------------------------------------------------------===//

bool NodeContext::hasInput(unsigned i) const {
  return i < (unsigned)node.input_size() && !node.input(i).empty();
}

const TensorRef &NodeContext::input(unsigned i) const {
  if (!hasInput(i)) {
    emitError(loc) << node.op_type() << ": input " << i
                   << (i < (unsigned)node.input_size()
                           ? " is empty but required"
                           : " is missing (the node has " +
                                 std::to_string(node.input_size()) +
                                 " input(s))");
    throw MissingInputError();
  }
  return importer.lookup(node.input(i));
}

const HostTensor *NodeContext::host(unsigned i) const {
  const TensorRef &ref = input(i);
  return ref.host ? &*ref.host : nullptr;
}

Value NodeContext::value(unsigned i) {
  return importer.materialize(const_cast<TensorRef &>(input(i)), loc);
}

RankedTensorType NodeContext::type(unsigned i) const {
  return tensorType(input(i).shape, input(i).dtype);
}

bool NodeContext::hasOutput(unsigned i) const {
  return i < (unsigned)node.output_size() && !node.output(i).empty();
}

void NodeContext::setOutput(unsigned i, Value v, DType dtype) {
  if (!hasOutput(i))
    return;
  TensorRef ref;
  ref.value = v;
  ref.dtype = dtype;
  auto type = cast<RankedTensorType>(v.getType());
  ref.shape.assign(type.getShape().begin(), type.getShape().end());
  importer.define(node.output(i), std::move(ref));
}

void NodeContext::setOutputRef(unsigned i, TensorRef ref) {
  if (hasOutput(i))
    importer.define(node.output(i), std::move(ref));
}

void NodeContext::setHostOutput(unsigned i, HostTensor t) {
  if (!hasOutput(i))
    return;
  TensorRef ref;
  ref.dtype = t.dtype;
  ref.shape = t.shape;
  ref.host = std::move(t);
  importer.define(node.output(i), std::move(ref));
}

const onnx::AttributeProto *NodeContext::findAttr(StringRef name) const {
  for (const auto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

bool NodeContext::hasAttr(StringRef name) const { return findAttr(name); }

int64_t NodeContext::attrInt(StringRef name, int64_t dflt) const {
  const auto *a = findAttr(name);
  return a ? a->i() : dflt;
}

float NodeContext::attrFloat(StringRef name, float dflt) const {
  const auto *a = findAttr(name);
  if (!a)
    return dflt;
  // ONNX's text parser stores `x: float = 10` as an INT attribute.
  if (a->type() == onnx::AttributeProto::INT)
    return static_cast<float>(a->i());
  return a->f();
}

std::string NodeContext::attrString(StringRef name, StringRef dflt) const {
  const auto *a = findAttr(name);
  return a ? a->s() : dflt.str();
}

std::optional<std::vector<int64_t>>
NodeContext::attrInts(StringRef name) const {
  const auto *a = findAttr(name);
  if (!a)
    return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

std::optional<std::vector<float>>
NodeContext::attrFloats(StringRef name) const {
  const auto *a = findAttr(name);
  if (!a)
    return std::nullopt;
  return std::vector<float>(a->floats().begin(), a->floats().end());
}

const onnx::TensorProto *NodeContext::attrTensor(StringRef name) const {
  const auto *a = findAttr(name);
  return a && a->has_t() ? &a->t() : nullptr;
}

const onnx::GraphProto *NodeContext::attrGraph(StringRef name) const {
  const auto *a = findAttr(name);
  return a && a->has_g() ? &a->g() : nullptr;
}

Value NodeContext::materialize(TensorRef &ref) {
  return importer.materialize(ref, loc);
}

FailureOr<SmallVector<TensorRef>>
importSubgraph(NodeContext &ctx, const onnx::GraphProto &graph,
               ArrayRef<TensorRef> inputs) {
  return ctx.importer.importSubgraph(graph, inputs);
}

FailureOr<std::optional<std::vector<int64_t>>>
NodeContext::intsFromAttrOrInput(StringRef name, unsigned inputIdx) {
  if (auto ints = attrInts(name))
    return std::optional<std::vector<int64_t>>(*ints);
  if (!hasInput(inputIdx))
    return std::optional<std::vector<int64_t>>();
  const HostTensor *t = host(inputIdx);
  if (!t) {
    (void)fail(Twine("input ") + Twine(inputIdx) + " ('" + name +
               "') must be known at compile time; it is computed at run time");
    return failure();
  }
  std::vector<int64_t> out;
  for (int64_t k = 0; k < t->numElements(); ++k)
    out.push_back(t->getI(k));
  return std::optional<std::vector<int64_t>>(out);
}

FailureOr<int64_t> NodeContext::normalizeAxis(int64_t axis, int64_t rank) {
  // A scalar has no axis at all: ONNX's range [-r, r-1] is empty for r = 0.
  if (axis < -rank || axis >= rank) {
    (void)fail(Twine("axis ") + Twine(axis) + " is out of range for rank " +
               Twine(rank) + (rank == 0 ? " (a scalar has no axes)" : ""));
    return failure();
  }
  return axis < 0 ? axis + rank : axis;
}

LogicalResult NodeContext::fail(const Twine &message) {
  return emitError(loc) << node.op_type() << ": " << message;
}

void NodeContext::notePaddedOutput(unsigned i, const Twine &what) {
  importer.notePadded(node.output(i), "output " + std::to_string(i) + " of " +
                                          node.op_type() + " '" +
                                          importer.nodeName(node).str() +
                                          "', " + what.str());
}

void NodeContext::noteIndexOperand(unsigned i, int64_t size) {
  if (!hasInput(i) || host(i))
    return;
  importer.noteIndexInput(value(i), size, importer.nodeName(node));
}

//===----------------------------------------------------------------------===//
// Model loading
//===----------------------------------------------------------------------===//

static bool looksLikeText(StringRef buffer, StringRef name) {
  if (name.ends_with(".onnxtxt") || name.ends_with(".txt"))
    return true;
  StringRef trimmed = buffer.ltrim();
  return trimmed.starts_with("<") || trimmed.starts_with("#");
}

bool parseModelProto(MLIRContext &ctx, StringRef buffer, StringRef name,
                     onnx::ModelProto &model) {
  Location loc = FileLineColLoc::get(&ctx, name, 0, 0);
  if (looksLikeText(buffer, name)) {
    // ONNX's text parser does not accept '#' comment lines; drop them so lit
    // tests can carry RUN lines.
    std::string text;
    for (StringRef line : llvm::split(buffer, '\n')) {
      if (line.ltrim().starts_with("#") || line.ltrim().starts_with("//"))
        text += "\n";
      else
        text += line.str() + "\n";
    }
    onnx::OnnxParser parser(text.c_str());
    // ONNX's parser reports most errors in its status but lets the standard
    // library's number conversions throw (a literal like `{0.5, .}` reaches
    // std::stof): both are a malformed model.
    try {
      auto status = parser.Parse(model);
      if (!status.IsOK()) {
        emitError(loc) << "cannot parse ONNX text: " << status.ErrorMessage();
        return false;
      }
    } catch (const std::exception &e) {
      emitError(loc) << "cannot parse ONNX text: a malformed literal ("
                     << e.what() << ")";
      return false;
    }
    return true;
  }
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>(buffer.data()), (int)buffer.size());
  stream.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&stream) ||
      !stream.ConsumedEntireMessage()) {
    emitError(loc) << "not a valid ONNX model (protobuf parse failed; the "
                      "file may be truncated or not an ONNX file)";
    return false;
  }
  if (!model.has_graph()) {
    emitError(loc) << "not a valid ONNX model: it has no graph";
    return false;
  }
  return true;
}

OwningOpRef<ModuleOp> importONNXBuffer(MLIRContext &context, StringRef buffer,
                                       StringRef bufferName, StringRef baseDir,
                                       const ImportOptions &options) {
  DialectRegistry registry;
  registerImporterDialects(registry);
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
  onnx::ModelProto model;
  if (!parseModelProto(context, buffer, bufferName, model))
    return nullptr;
  GraphImporter importer(context, model, baseDir, options);
  return importer.run();
}

/// The contents of `path` (or stdin for "-"), or null with a diagnostic.
static std::unique_ptr<llvm::MemoryBuffer> readModelFile(MLIRContext &context,
                                                         StringRef path) {
  auto file = llvm::MemoryBuffer::getFileOrSTDIN(path, /*IsText=*/false);
  if (!file) {
    emitError(UnknownLoc::get(&context))
        << "cannot open '" << path << "': " << file.getError().message();
    return nullptr;
  }
  return std::move(*file);
}

OwningOpRef<ModuleOp> importONNXFile(MLIRContext &context, StringRef path,
                                     const ImportOptions &options) {
  std::unique_ptr<llvm::MemoryBuffer> file = readModelFile(context, path);
  if (!file)
    return nullptr;
  SmallString<256> dir(path);
  llvm::sys::path::remove_filename(dir);
  return importONNXBuffer(context, file->getBuffer(), path, dir, options);
}

FailureOr<OperatorReport> checkONNXFile(MLIRContext &context, StringRef path) {
  std::unique_ptr<llvm::MemoryBuffer> file = readModelFile(context, path);
  onnx::ModelProto model;
  if (!file || !parseModelProto(context, file->getBuffer(), path, model))
    return failure();
  NodeNames names(model.graph());
  return reportOperators(context, model, names, /*mainPlan=*/nullptr);
}

static std::string operatorName(const std::string &domain,
                                const std::string &opType) {
  return domainName(domain) + "::" + opType;
}

/// The opsets of `opType` that qopt converts, as text ("13-22", "1+").
static std::string supportedRange(StringRef domain, StringRef opType) {
  for (const SupportedOperator &op : supportedOperators())
    if (op.domain == domain && op.opType == opType)
      return op.lastOpset ? std::to_string(op.firstOpset) + "-" +
                                std::to_string(op.lastOpset)
                          : std::to_string(op.firstOpset) + "+";
  return "";
}

void printOperatorReport(const OperatorReport &report, llvm::raw_ostream &os) {
  os << "opsets:";
  for (size_t k = 0; k < report.opsets.size(); ++k)
    os << (k ? ", " : " ") << domainName(report.opsets[k].first) << " "
       << report.opsets[k].second;
  os << "\n";
  size_t width = 0;
  unsigned numSupported = 0;
  for (const OperatorUse &use : report.operators) {
    width = std::max(width, operatorName(use.domain, use.opType).size());
    numSupported += use.supported;
  }
  auto printUse = [&](const OperatorUse &use) {
    os << "  "
       << llvm::left_justify(operatorName(use.domain, use.opType), width)
       << "  opset " << llvm::left_justify(std::to_string(use.opset), 3) << "  "
       << use.nodes.size() << (use.nodes.size() == 1 ? " node" : " nodes");
  };
  os << "supported (" << numSupported << "):\n";
  for (const OperatorUse &use : report.operators) {
    if (!use.supported)
      continue;
    printUse(use);
    os << "\n";
  }
  os << "unsupported (" << report.operators.size() - numSupported << "):\n";
  for (const OperatorUse &use : report.operators) {
    if (use.supported)
      continue;
    printUse(use);
    std::string range = supportedRange(use.domain, use.opType);
    if (use.opset < 0)
      os << " (the model imports no opset of " << domainName(use.domain) << ")";
    else if (!range.empty())
      os << " (qopt supports opsets " << range << ")";
    os << ": ";
    for (size_t k = 0; k < use.nodes.size(); ++k)
      os << (k ? ", " : "") << use.nodes[k];
    os << "\n";
  }
  if (report.unusedNodes)
    os << report.unusedNodes
       << (report.unusedNodes == 1
               ? " node is left out: none of its outputs reaches a graph "
                 "output\n"
               : " nodes are left out: none of their outputs reaches a graph "
                 "output\n");
}

void printSupportedOperators(llvm::raw_ostream &os) {
  os << "| domain | operator | opsets |\n| --- | --- | --- |\n";
  for (const SupportedOperator &op : supportedOperators()) {
    os << "| " << domainName(op.domain) << " | " << op.opType << " | "
       << op.firstOpset;
    if (op.lastOpset)
      os << "-" << op.lastOpset;
    else
      os << " and later";
    os << " |\n";
  }
}

void registerImporterDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, func::FuncDialect, linalg::LinalgDialect,
                  math::MathDialect, scf::SCFDialect, tensor::TensorDialect,
                  tosa::TosaDialect, QOptDialect>();
}

bool parseShapeSpec(StringRef spec, std::string &name,
                    std::vector<int64_t> &shape, std::string &error) {
  auto [lhs, rhs] = spec.rsplit('=');
  if (lhs.empty() || rhs.empty() || lhs == spec) {
    error = "expected NAME=D0xD1x... in '" + spec.str() + "'";
    return false;
  }
  name = lhs.str();
  shape.clear();
  if (rhs == "scalar")
    return true;
  SmallVector<StringRef> dims;
  rhs.split(dims, 'x');
  for (StringRef d : dims) {
    int64_t v;
    if (d.trim().getAsInteger(10, v) || v <= 0) {
      error = "bad dimension '" + d.str() + "' in '" + spec.str() + "'";
      return false;
    }
    shape.push_back(v);
  }
  return true;
}

} // namespace qopt::onnx_frontend
