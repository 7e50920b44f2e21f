//===- GraphPlan.h - Node order and names of an ONNX graph ------*- C++ -*-===//
//
// Exporters and graph rewriters do not always write graphs the way the ONNX
// spec asks: nodes out of topological order (the float16 converter appends
// its Casts at the end), nodes without names or with the same name, nodes
// whose outputs nothing reads. Before converting a graph the importer plans
// it: every node gets a unique name for diagnostics, the nodes that matter
// are put in a stable topological order, and the rest are set aside.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_FRONTEND_ONNX_GRAPHPLAN_H
#define QOPT_LIB_FRONTEND_ONNX_GRAPHPLAN_H

#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/StringSet.h"

#include <onnx/onnx_pb.h>

#include <set>
#include <string>
#include <vector>

namespace qopt::onnx_frontend {

/// Unique names of every node of a model, subgraphs included. A node keeps
/// its own name unless an earlier node has it already (then it gets a
/// `_<k>` suffix); a node without a name is called `<op_type>_<index>`,
/// prefixed inside a subgraph by the owning node's name and the attribute
/// that holds the subgraph (`If_3/then_branch/Add_0`).
class NodeNames {
public:
  explicit NodeNames(const onnx::GraphProto &root);

  /// The name of `node`, which must belong to the model named at
  /// construction.
  llvm::StringRef of(const onnx::NodeProto &node) const;

private:
  void assign(const onnx::GraphProto &graph, llvm::StringRef prefix,
              llvm::StringSet<> &explicitNames, llvm::StringSet<> &taken);

  llvm::DenseMap<const onnx::NodeProto *, std::string> names;
};

/// The nodes of one graph in the order the importer converts them.
struct GraphPlan {
  /// Nodes that contribute to a graph output, in a topological order that
  /// keeps the file order wherever the file order is already valid.
  std::vector<const onnx::NodeProto *> order;
  /// Nodes none of whose outputs reach a graph output, in file order.
  std::vector<const onnx::NodeProto *> unused;
};

/// Names of the values that `graph`'s nodes (and their subgraphs, at any
/// depth) read from enclosing scopes.
void collectOuterReferences(const onnx::GraphProto &graph,
                            std::set<std::string> &out);

/// Plans `graph`. A name that is neither a graph input, an initializer nor a
/// node output must satisfy `isOuterValue` (a value of an enclosing scope).
/// Fails with a diagnostic, at the node concerned, on a value read but never
/// defined, a value defined twice, or a cycle (whose nodes it names).
mlir::FailureOr<GraphPlan>
planGraph(mlir::MLIRContext &ctx, const onnx::GraphProto &graph,
          const NodeNames &names,
          llvm::function_ref<bool(llvm::StringRef)> isOuterValue);

/// The subgraph attributes (`then_branch`, `body`, ...) of `node`.
std::vector<std::pair<llvm::StringRef, const onnx::GraphProto *>>
subgraphsOf(const onnx::NodeProto &node);

} // namespace qopt::onnx_frontend

#endif // QOPT_LIB_FRONTEND_ONNX_GRAPHPLAN_H
