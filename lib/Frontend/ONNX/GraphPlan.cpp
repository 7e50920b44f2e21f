//===- GraphPlan.cpp - Node order and names of an ONNX graph --------------===//
//
// Unique node names, a stable topological order (Kahn's algorithm picking
// the lowest file index first, so a valid file order is kept as it is),
// cycle reports that name the nodes of one cycle, and the set of nodes that
// contribute nothing to the graph's outputs.
//
//===----------------------------------------------------------------------===//

#include "GraphPlan.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/StringMap.h"

#include <functional>
#include <queue>

using namespace mlir;

namespace qopt::onnx_frontend {

std::vector<std::pair<StringRef, const onnx::GraphProto *>>
subgraphsOf(const onnx::NodeProto &node) {
  std::vector<std::pair<StringRef, const onnx::GraphProto *>> out;
  for (const onnx::AttributeProto &a : node.attribute()) {
    if (a.has_g())
      out.push_back({a.name(), &a.g()});
    for (const onnx::GraphProto &g : a.graphs())
      out.push_back({a.name(), &g});
  }
  return out;
}

//===----------------------------------------------------------------------===//
// NodeNames
//===----------------------------------------------------------------------===//

static void collectExplicitNames(const onnx::GraphProto &graph,
                                 llvm::StringSet<> &out) {
  for (const onnx::NodeProto &node : graph.node()) {
    if (!node.name().empty())
      out.insert(node.name());
    for (auto [attr, sub] : subgraphsOf(node))
      collectExplicitNames(*sub, out);
  }
}

NodeNames::NodeNames(const onnx::GraphProto &root) {
  llvm::StringSet<> explicitNames, taken;
  collectExplicitNames(root, explicitNames);
  assign(root, "", explicitNames, taken);
}

void NodeNames::assign(const onnx::GraphProto &graph, StringRef prefix,
                       llvm::StringSet<> &explicitNames,
                       llvm::StringSet<> &taken) {
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto &node = graph.node(i);
    bool synthesized = node.name().empty();
    std::string base =
        synthesized ? prefix.str() + node.op_type() + "_" + std::to_string(i)
                    : node.name();
    // A synthesized name must not take a name some later node carries.
    auto isFree = [&](const std::string &n) {
      return !taken.contains(n) && (!synthesized || !explicitNames.contains(n));
    };
    std::string name = base;
    for (int k = 1; !isFree(name); ++k) {
      name = base + "_" + std::to_string(k);
      synthesized = true; // Suffixed names avoid explicit ones too.
    }
    taken.insert(name);
    for (auto [attr, sub] : subgraphsOf(node))
      assign(*sub, name + "/" + attr.str() + "/", explicitNames, taken);
    names[&node] = std::move(name);
  }
}

StringRef NodeNames::of(const onnx::NodeProto &node) const {
  auto it = names.find(&node);
  assert(it != names.end() && "node of another model");
  return it->second;
}

//===----------------------------------------------------------------------===//
// Planning
//===----------------------------------------------------------------------===//

/// Names defined inside `graph` itself: inputs, initializers, node outputs.
static llvm::StringSet<> definedIn(const onnx::GraphProto &graph) {
  llvm::StringSet<> defined;
  for (const onnx::ValueInfoProto &vi : graph.input())
    defined.insert(vi.name());
  for (const onnx::TensorProto &t : graph.initializer())
    defined.insert(t.name());
  for (const onnx::NodeProto &node : graph.node())
    for (const std::string &out : node.output())
      if (!out.empty())
        defined.insert(out);
  return defined;
}

void collectOuterReferences(const onnx::GraphProto &graph,
                            std::set<std::string> &out) {
  llvm::StringSet<> defined = definedIn(graph);
  for (const onnx::NodeProto &node : graph.node()) {
    for (const std::string &in : node.input())
      if (!in.empty() && !defined.contains(in))
        out.insert(in);
    for (auto [attr, sub] : subgraphsOf(node)) {
      std::set<std::string> inner;
      collectOuterReferences(*sub, inner);
      for (const std::string &name : inner)
        if (!defined.contains(name))
          out.insert(name);
    }
  }
  for (const onnx::ValueInfoProto &vi : graph.output())
    if (!defined.contains(vi.name()))
      out.insert(vi.name());
}

FailureOr<GraphPlan> planGraph(MLIRContext &ctx, const onnx::GraphProto &graph,
                               const NodeNames &names,
                               function_ref<bool(StringRef)> isOuterValue) {
  const int n = graph.node_size();
  auto locOf = [&](int i) {
    return NameLoc::get(StringAttr::get(&ctx, names.of(graph.node(i))));
  };
  auto describe = [&](int i) {
    return "'" + names.of(graph.node(i)).str() + "' (" +
           graph.node(i).op_type() + ")";
  };

  llvm::StringSet<> graphValues;
  for (const onnx::ValueInfoProto &vi : graph.input())
    graphValues.insert(vi.name());
  for (const onnx::TensorProto &t : graph.initializer())
    graphValues.insert(t.name());

  llvm::StringMap<int> producer;
  for (int i = 0; i < n; ++i) {
    for (const std::string &out : graph.node(i).output()) {
      if (out.empty())
        continue;
      if (graphValues.contains(out))
        return emitError(locOf(i))
               << graph.node(i).op_type() << " node writes '" << out
               << "', which is also a graph input or initializer";
      auto [it, inserted] = producer.try_emplace(out, i);
      if (!inserted)
        return emitError(locOf(i))
               << "'" << out << "' is an output of both node "
               << describe(it->second) << " and node " << describe(i);
    }
  }

  // producers[i]: the nodes whose outputs node i reads, one entry per read,
  // including the values its subgraphs read from this scope.
  std::vector<SmallVector<int>> producers(n);
  for (int i = 0; i < n; ++i) {
    const onnx::NodeProto &node = graph.node(i);
    std::set<std::string> reads(node.input().begin(), node.input().end());
    for (auto [attr, sub] : subgraphsOf(node))
      collectOuterReferences(*sub, reads);
    for (const std::string &value : reads) {
      if (value.empty())
        continue;
      auto it = producer.find(value);
      if (it != producer.end()) {
        producers[i].push_back(it->second);
        continue;
      }
      if (!graphValues.contains(value) && !isOuterValue(value))
        return emitError(locOf(i))
               << node.op_type() << " node reads '" << value
               << "', which is not a graph input, an initializer or the "
                  "output of any node";
    }
  }

  // Liveness from the graph outputs backwards.
  std::vector<bool> live(n, false);
  std::vector<int> work;
  for (const onnx::ValueInfoProto &vi : graph.output()) {
    auto it = producer.find(vi.name());
    if (it != producer.end()) {
      if (!live[it->second]) {
        live[it->second] = true;
        work.push_back(it->second);
      }
      continue;
    }
    if (!graphValues.contains(vi.name()) && !isOuterValue(vi.name()))
      return emitError(UnknownLoc::get(&ctx))
             << "graph output '" << vi.name()
             << "' is not produced by any node";
  }
  while (!work.empty()) {
    int i = work.back();
    work.pop_back();
    for (int p : producers[i])
      if (!live[p]) {
        live[p] = true;
        work.push_back(p);
      }
  }

  // Kahn's algorithm over the live nodes, lowest file index first.
  std::vector<int> pending(n, 0);
  std::vector<SmallVector<int>> consumers(n);
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  size_t numLive = 0;
  for (int i = 0; i < n; ++i) {
    if (!live[i])
      continue;
    ++numLive;
    for (int p : producers[i]) {
      ++pending[i];
      consumers[p].push_back(i);
    }
    if (!pending[i])
      ready.push(i);
  }
  GraphPlan plan;
  std::vector<bool> placed(n, false);
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    placed[i] = true;
    plan.order.push_back(&graph.node(i));
    for (int c : consumers[i])
      if (--pending[c] == 0)
        ready.push(c);
  }

  if (plan.order.size() != numLive) {
    // Every live node left over reads an output of another one left over:
    // walking from reader to producer must come back to a node it passed.
    int start = 0;
    while (!live[start] || placed[start])
      ++start;
    std::vector<int> path, posInPath(n, -1);
    int cur = start;
    while (posInPath[cur] < 0) {
      posInPath[cur] = path.size();
      path.push_back(cur);
      int next = -1;
      for (int p : producers[cur])
        if (!placed[p]) {
          next = p;
          break;
        }
      assert(next >= 0 && "an unplaced node waits on an unplaced producer");
      cur = next;
    }
    // path[k + 1] produces what path[k] reads: print in data-flow order.
    std::vector<int> cycle(path.begin() + posInPath[cur], path.end());
    std::reverse(cycle.begin(), cycle.end());
    std::rotate(cycle.begin(), llvm::min_element(cycle), cycle.end());
    auto diag = emitError(locOf(cycle.front())) << "the graph has a cycle: ";
    for (int i : cycle)
      diag << describe(i) << " -> ";
    diag << describe(cycle.front())
         << " (each node reads an output of the one before it)";
    return failure();
  }

  for (int i = 0; i < n; ++i)
    if (!live[i])
      plan.unused.push_back(&graph.node(i));
  return plan;
}

} // namespace qopt::onnx_frontend
