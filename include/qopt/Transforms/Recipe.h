//===- Recipe.h - Per-layer precision recipes -------------------*- C++ -*-===//
//
// A recipe is an ordered list of rules that give quantizable ops their
// precision: each rule matches ops by role, ONNX node name, op kind or
// layer index and sets a precision, a weight algorithm, a group size or
// keeps them float. Later rules win, field by field. Recipes are built in
// (`balanced`, `quality`, `compact`, `edge-int8`, adapted to the target's
// capabilities) or read from a YAML or JSON file whose errors name the line.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TRANSFORMS_RECIPE_H
#define QOPT_TRANSFORMS_RECIPE_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>
#include <vector>

namespace qopt {

struct TargetCapabilities;

/// One rule of a recipe.
struct RecipeRule {
  /// Where the rule is written ("recipe.yaml:12", "balanced rule 3").
  std::string where;
  // What it matches (every given criterion must hold).
  std::vector<std::string> roles;   // layer role names (LayerRoles.h)
  std::string nameRegex;            // over the ONNX node name
  std::vector<std::string> opKinds; // matmul, conv, embedding, attention
  std::vector<int64_t> layers;      // block indices; negative from the end
  // What it sets.
  std::optional<std::string> precision; // a --precision name or "float"
  std::optional<std::string> algorithm; // rtn | gptq | awq
  std::optional<int64_t> groupSize;     // replaces the precision's -gN
  /// Why, in words (built-in rules say what practice they follow).
  std::string note;
  /// Warn when the rule matches no op (rules the driver adds do not).
  bool warnUnmatched = true;
  /// Whether a budget search keeps the precisions this rule sets.
  bool fixes = true;
};

/// A parsed recipe.
struct Recipe {
  std::string name; // preset name or file name
  /// The precision of ops no rule sets (empty: the compile's --precision).
  std::string defaultPrecision;
  /// The weight algorithm of ops no rule sets (empty: the default).
  std::string defaultAlgorithm;
  /// SmoothQuant before integer activations (recipe-wide; unset: the
  /// compile's --smooth).
  std::optional<bool> smooth;
  std::vector<RecipeRule> rules;
  /// The budget search's settings, when the recipe asks for one
  /// (`compact`): the objective and the largest loss allowed.
  std::optional<std::string> objective;
  std::optional<double> maxLoss;
};

/// The names of the built-in recipes.
std::vector<std::string> builtinRecipeNames();

/// Whether the built-in recipe `name` runs the budget search (compact).
inline bool builtinRecipeSearches(llvm::StringRef name) {
  return name == "compact";
}

/// The built-in recipe `name` for a target with `caps`, or nullopt.
std::optional<Recipe> builtinRecipe(llvm::StringRef name,
                                    const TargetCapabilities &caps);

/// Parses a recipe file (YAML, or JSON, which is YAML's subset). Errors and
/// warnings are written as "FILE:LINE:COL: error: ..." into `diagnostics`;
/// returns nullopt on an error.
std::optional<Recipe> parseRecipeFile(llvm::StringRef path,
                                      std::string &diagnostics);

/// Parses recipe text (for tests); `bufferName` names it in messages.
std::optional<Recipe> parseRecipe(llvm::StringRef text,
                                  llvm::StringRef bufferName,
                                  std::string &diagnostics);

/// The precision family a target's capability lists use: "w4a16-g32-asym"
/// -> "w4a16", "w8a8-static" -> "w8a8-static", "w4a8-g32" -> "w4a8",
/// "nf4-g64" -> "nf4".
std::string precisionFamily(llvm::StringRef precision);

/// Replaces (or adds) the group size of a precision name: ("w4a16-g32",
/// 128) -> "w4a16-g128"; 0 removes it (per channel).
std::string withGroupSize(llvm::StringRef precision, int64_t groupSize);

/// Whether the target runs `precision` natively, emulated (decoded inside
/// the kernels), or not at all.
enum class Support { Native, Emulated, None };
Support precisionSupport(llvm::StringRef precision,
                         const TargetCapabilities &caps);

/// What qopt-assign-precision decided for one op.
struct LayerAssignment {
  mlir::Operation *op = nullptr;
  std::string node;      // ONNX node name
  std::string role;      // layer role name
  std::string kind;      // matmul, conv, embedding, attention
  int64_t layer = 0;     // block index (see assignPrecisions)
  std::string precision; // a --precision name or "float"
  std::string algorithm; // "" = the compile's default
  std::string reason;    // the rule (or default) that set it, in words
  bool emulated = false; // the target decodes it inside wider kernels
  /// Whether a rule set the precision, and whether a budget search keeps
  /// it (RecipeRule::fixes).
  bool setByRule = false, fixedByRule = false;
  /// Bytes of the op's weights in float (0 for activation products).
  int64_t floatBytes = 0;
};

/// Gives every quantizable op of `module` (the ops qopt-classify-layers
/// gives a role) a `qopt.assign` from `recipe`: the recipe's default (or
/// `defaultPrecision`; empty: float), then every matching rule in order.
/// A rule's `layer` is the op's block index: with attention blocks (two
/// activation products each), the ops of one role are spread evenly over
/// the blocks in program order; otherwise it is the op's ordinal among the
/// quantizable ops. Ops matched by `exclude` stay float. A precision the
/// target cannot run is an error naming the rule; a rule that matches no
/// op is a warning; an op kind a precision has no kernel for (weight-only
/// depthwise convolutions, float-activation attention products, embeddings
/// at non-integer precisions) stays float with the reason said.
mlir::FailureOr<std::vector<LayerAssignment>>
assignPrecisions(mlir::ModuleOp module, const Recipe &recipe,
                 const TargetCapabilities &caps,
                 llvm::StringRef defaultPrecision,
                 llvm::StringRef exclude = "");

} // namespace qopt

#endif // QOPT_TRANSFORMS_RECIPE_H
