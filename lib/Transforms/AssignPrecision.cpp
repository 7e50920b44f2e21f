//===- AssignPrecision.cpp - Per-layer precisions from a recipe -----------===//
//
// qopt-assign-precision: every quantizable op gets a `qopt.assign` from a
// recipe's rules (matched by layer role, ONNX node name, op kind and block
// index), checked against what the target runs. qopt-quantize then follows
// the assignments.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Target/Target.h"
#include "qopt/Transforms/LayerRoles.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"
#include "qopt/Transforms/Recipe.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "llvm/Support/Regex.h"

namespace qopt {
#define GEN_PASS_DEF_ASSIGNPRECISIONPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {

namespace {

/// The op kind a recipe's `op` criterion names.
std::string opKind(Operation *op, LayerRole role) {
  if (isa<tosa::GatherOp>(op))
    return "embedding";
  if (role == LayerRole::AttentionScores)
    return "attention";
  if (isa<tosa::MatMulOp>(op))
    return "matmul";
  return "conv";
}

bool matches(const RecipeRule &rule, const LayerAssignment &a,
             int64_t blocks) {
  if (!rule.roles.empty() && !llvm::is_contained(rule.roles, a.role))
    return false;
  if (!rule.opKinds.empty() && !llvm::is_contained(rule.opKinds, a.kind))
    return false;
  if (!rule.nameRegex.empty() &&
      !llvm::Regex("^(" + rule.nameRegex + ")$").match(a.node))
    return false;
  if (!rule.layers.empty() &&
      !llvm::any_of(rule.layers, [&](int64_t l) {
        return (l < 0 ? blocks + l : l) == a.layer;
      }))
    return false;
  return true;
}

} // namespace

FailureOr<std::vector<LayerAssignment>>
assignPrecisions(ModuleOp module, const Recipe &recipe,
                 const TargetCapabilities &caps, StringRef defaultPrecision,
                 StringRef exclude) {
  MLIRContext *ctx = module.getContext();
  std::optional<llvm::Regex> excludeRe;
  if (!exclude.empty())
    excludeRe.emplace(exclude);
  llvm::DenseMap<Operation *, LayerRole> roles = classifyLayerRoles(module);
  // The quantizable ops in program order.
  std::vector<LayerAssignment> out;
  module.walk([&](Operation *op) {
    auto it = roles.find(op);
    // Ops quantized already (a pre-quantized ONNX model) keep theirs.
    if (it == roles.end() || isa<MatMulOp, Conv2DOp, EmbeddingOp>(op))
      return;
    LayerAssignment a;
    a.op = op;
    a.node = onnxNodeName(op->getLoc());
    a.role = layerRoleName(it->second).str();
    a.kind = opKind(op, it->second);
    auto bytesOf = [](Value v) {
      auto t = cast<RankedTensorType>(v.getType());
      return t.getNumElements() * int64_t(t.getElementTypeBitWidth()) / 8;
    };
    if (auto mm = dyn_cast<tosa::MatMulOp>(op)) {
      if (std::optional<QuantizableMatMul> m = analyzeMatMul(mm))
        a.floatBytes = 4 * m->n * m->k;
    } else if (auto gather = dyn_cast<tosa::GatherOp>(op)) {
      a.floatBytes = bytesOf(gather.getValues());
    } else if (op->getNumOperands() >= 2) {
      a.floatBytes = bytesOf(op->getOperand(1)); // a convolution's weights
    }
    out.push_back(std::move(a));
  });
  // Block indices: attention blocks hold two activation products each.
  llvm::StringMap<int64_t> perRole;
  for (const LayerAssignment &a : out)
    ++perRole[a.role];
  int64_t blocks = perRole.lookup("attention_scores") / 2;
  llvm::StringMap<int64_t> seen;
  for (size_t i = 0; i < out.size(); ++i) {
    LayerAssignment &a = out[i];
    int64_t count = perRole.lookup(a.role), ordinal = seen[a.role]++;
    if (blocks > 0 && count % blocks == 0)
      a.layer = ordinal / (count / blocks);
    else
      a.layer = int64_t(i);
  }
  int64_t layerCount = blocks > 0 ? blocks : int64_t(out.size());

  std::string base = !recipe.defaultPrecision.empty()
                         ? recipe.defaultPrecision
                         : defaultPrecision.empty() ? "float"
                                                    : defaultPrecision.str();
  std::vector<int64_t> hits(recipe.rules.size(), 0);
  bool failedAny = false;
  for (LayerAssignment &a : out) {
    a.precision = base;
    a.algorithm = recipe.defaultAlgorithm;
    a.reason = recipe.defaultPrecision.empty()
                   ? "the compile's precision"
                   : "recipe " + recipe.name + ": default";
    std::optional<int64_t> group;
    const RecipeRule *setter = nullptr;
    for (size_t r = 0; r < recipe.rules.size(); ++r) {
      const RecipeRule &rule = recipe.rules[r];
      if (!matches(rule, a, layerCount))
        continue;
      ++hits[r];
      std::string why = rule.where + (rule.note.empty() ? "" : ": " + rule.note);
      if (rule.precision) {
        a.precision = *rule.precision;
        a.reason = why;
        a.setByRule = true;
        a.fixedByRule = rule.fixes;
        setter = &rule;
        group.reset();
      }
      if (rule.algorithm) {
        a.algorithm = *rule.algorithm;
        if (!rule.precision)
          a.reason += "; algorithm from " + rule.where;
      }
      if (rule.groupSize) {
        group = rule.groupSize;
        if (!rule.precision)
          a.reason += "; group from " + rule.where;
      }
    }
    // As with one --precision, embeddings, the classifier and attention
    // scores stay float unless a rule says otherwise.
    if (!a.setByRule && (a.role == "embedding" || a.role == "classifier" ||
                         a.role == "attention_scores")) {
      a.precision = "float";
      a.reason = "no rule sets this " + a.role + ", which stays float by default";
      continue;
    }
    if (excludeRe && excludeRe->match(a.node)) {
      a.precision = "float";
      a.reason = "--exclude";
      continue;
    }
    if (a.precision == "float")
      continue;
    if (group) {
      a.precision = withGroupSize(a.precision, *group);
      std::string error;
      if (!parsePrecision(a.precision, error)) {
        emitError(a.op->getLoc())
            << "recipe " << recipe.name << ": group " << *group << " gives "
            << error;
        failedAny = true;
        continue;
      }
    }
    Support support = precisionSupport(a.precision, caps);
    if (support == Support::None) {
      emitError(a.op->getLoc())
          << (setter ? setter->where : "recipe " + recipe.name + " default")
          << ": the target cannot run precision '" << a.precision
          << "' (it runs " << llvm::join(caps.nativePrecisions, ", ")
          << (caps.emulatedPrecisions.empty()
                  ? std::string()
                  : "; emulated: " + llvm::join(caps.emulatedPrecisions, ", "))
          << ")";
      failedAny = true;
      continue;
    }
    a.emulated = support == Support::Emulated;
    std::string error;
    std::optional<PrecisionSpec> spec = parsePrecision(a.precision, error);
    if (!spec) {
      emitError(a.op->getLoc()) << error;
      failedAny = true;
      continue;
    }
    // Op kinds that have no kernel at this precision stay float, said so.
    auto keepFloat = [&](const std::string &why) {
      a.reason = a.precision + " asked (" + a.reason + "), kept float: " + why;
      a.precision = "float";
      a.emulated = false;
    };
    bool packedInt = spec->weights.kind == quant::WeightKind::Int ||
                     spec->weights.kind == quant::WeightKind::NF4;
    if (a.kind == "embedding" && !packedInt)
      keepFloat("embedding tables take integer or nf4 codes");
    else if (a.kind == "attention" &&
             spec->activations == ActivationMode::Float)
      keepFloat("a product of two activations has no weights; it needs "
                "integer activations");
    else if (a.kind == "conv" && !quantizesConvolutions(*spec) &&
             a.role != "conv" && a.role != "conv_pointwise")
      keepFloat("depthwise and grouped convolutions are quantized at 8-bit "
                "per-channel weights with int8 activations only");
  }
  if (failedAny)
    return failure();
  for (size_t r = 0; r < recipe.rules.size(); ++r)
    if (!hits[r] && recipe.rules[r].warnUnmatched)
      emitWarning(UnknownLoc::get(ctx))
          << recipe.rules[r].where << ": the rule matches no op";
  for (LayerAssignment &a : out)
    a.op->setAttr(QOptDialect::kAssignAttrName,
                  AssignmentAttr::get(ctx, a.precision, a.algorithm,
                                      a.reason + (a.emulated
                                                      ? " (emulated)"
                                                      : "")));
  return out;
}

namespace {

struct AssignPrecisionPass
    : impl::AssignPrecisionPassBase<AssignPrecisionPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    TargetCapabilities caps;
    caps.nativePrecisions.assign(native.begin(), native.end());
    caps.emulatedPrecisions.assign(emulated.begin(), emulated.end());
    caps.int8DotProduct = int8Dot;
    std::optional<Recipe> parsed;
    std::string diagnostics;
    if (llvm::is_contained(builtinRecipeNames(), recipe)) {
      parsed = builtinRecipe(recipe, caps);
      if (!parsed)
        diagnostics = "recipe " + recipe + " needs what the target lacks";
    } else {
      parsed = parseRecipeFile(recipe, diagnostics);
    }
    if (!parsed) {
      emitError(UnknownLoc::get(&getContext()))
          << StringRef(diagnostics).rtrim();
      return signalPassFailure();
    }
    if (failed(assignPrecisions(module, *parsed, caps, precision, exclude)))
      signalPassFailure();
  }
};

} // namespace
} // namespace qopt
