//===- Recipe.cpp - Per-layer precision recipes ---------------------------===//
//
// The built-in recipes and the recipe file reader. Files are YAML (JSON is
// its subset), read with LLVM's YAML parser so that every message names the
// line of the key or value it is about.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Recipe.h"
#include "qopt/Target/Target.h"
#include "qopt/Transforms/LayerRoles.h"
#include "qopt/Transforms/Quantization.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/YAMLParser.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace qopt {

namespace {

bool isLayerRoleName(StringRef name) {
  return parseLayerRole(name).has_value();
}

/// "embedding, attention_qkv, ..." for messages.
std::string layerRoleNameList() {
  std::string out;
  for (uint32_t i = 0; i <= getMaxEnumValForLayerRole(); ++i)
    if (std::optional<LayerRole> role = symbolizeLayerRole(i))
      out += (out.empty() ? "" : ", ") + layerRoleName(*role).str();
  return out;
}

} // namespace

std::string precisionFamily(StringRef precision) {
  SmallVector<StringRef> parts;
  precision.split(parts, '-');
  if (parts.empty())
    return "";
  if (parts[0] == "w8a8" && parts.size() > 1 && parts[1] == "static")
    return "w8a8-static";
  return parts[0].str();
}

std::string withGroupSize(StringRef precision, int64_t groupSize) {
  SmallVector<StringRef> parts;
  precision.split(parts, '-');
  std::string out;
  bool placed = false;
  for (StringRef p : parts) {
    bool isGroup = p.size() > 1 && p[0] == 'g' &&
                   llvm::all_of(p.drop_front(), llvm::isDigit);
    if (isGroup) {
      placed = true;
      if (groupSize > 0)
        out += "-g" + std::to_string(groupSize);
      continue;
    }
    // The group goes before -asym, as parsePrecision writes it.
    if (p == "asym" && !placed) {
      placed = true;
      if (groupSize > 0)
        out += "-g" + std::to_string(groupSize);
    }
    out += (out.empty() ? "" : "-") + p.str();
  }
  if (!placed && groupSize > 0)
    out += "-g" + std::to_string(groupSize);
  return out;
}

Support precisionSupport(StringRef precision, const TargetCapabilities &caps) {
  if (precision == "float" || precision == "f32")
    return Support::Native;
  std::string family = precisionFamily(precision);
  if (llvm::is_contained(caps.nativePrecisions, family))
    return Support::Native;
  if (llvm::is_contained(caps.emulatedPrecisions, family))
    return Support::Emulated;
  return Support::None;
}

std::vector<std::string> builtinRecipeNames() {
  return {"balanced", "quality", "compact", "edge-int8"};
}

namespace {

RecipeRule rule(std::string where, std::vector<std::string> roles,
                std::string precision, std::string note) {
  RecipeRule r;
  r.where = std::move(where);
  r.roles = std::move(roles);
  r.precision = std::move(precision);
  r.note = std::move(note);
  return r;
}

} // namespace

std::optional<Recipe> builtinRecipe(StringRef name,
                                    const TargetCapabilities &caps) {
  auto runs = [&](StringRef p) {
    return precisionSupport(p, caps) != Support::None;
  };
  // Integer activations pay only where int8 products are one instruction
  // (VNNI, dp4a, sdot): elsewhere weight-only precisions are the fast ones.
  bool int8 = caps.int8DotProduct && runs("w8a8") && runs("w4a8-g32");
  Recipe r;
  r.name = name.str();
  auto add = [&](std::vector<std::string> roles, std::string precision,
                 std::string note) {
    r.rules.push_back(rule(name.str() + " rule " +
                               std::to_string(r.rules.size() + 1),
                           std::move(roles), std::move(precision),
                           std::move(note)));
  };
  if (name == "balanced") {
    // The layer-wise table of practice: embeddings and norms float,
    // attention projections int8, FFN 4-bit weights with int8 activations,
    // the most sensitive FFN product (down) and the classifier in 8 bits.
    r.defaultPrecision = int8 ? "w4a8-g32-asym" : "w4a16-g32-asym";
    add({"embedding"}, "float", "embeddings stay float (a gather moves "
                                "one row per token: nothing to gain)");
    add({"attention_qkv", "attention_output"}, int8 ? "w8a8" : "w8a16",
        "attention projections in 8 bits");
    add({"ffn_up", "ffn_gate"}, int8 ? "w4a8-g32-asym" : "w4a16-g32-asym",
        "FFN up/gate: 4-bit weights with zero points" +
            std::string(int8 ? " and int8 activations" : ""));
    add({"ffn_down"}, int8 ? "w8a8" : "w8a16",
        "FFN down reads the gated product, whose outliers 4 bits lose");
    add({"attention_scores"}, "float", "attention scores stay float");
    add({"classifier"}, "w8a16",
        "the classifier in 8-bit weights, float activations (its errors "
        "reach every logit)");
    add({"conv_pointwise", "conv"}, int8 ? "w8a8" : "w8a16",
        "convolutions in 8 bits");
    add({"conv_depthwise"}, int8 ? "w8a8" : "float",
        "depthwise convolutions: 8 bits where int8 runs natively");
    return r;
  }
  if (name == "quality") {
    // Int8 everywhere it is safe: the projections and convolutions; the
    // classifier and attention scores stay float.
    r.defaultPrecision = int8 ? "w8a8" : "w8a16";
    add({"embedding", "classifier", "attention_scores"}, "float",
        "kept float: small or sensitive");
    return r;
  }
  if (name == "compact") {
    // The smallest weights the budget search finds within a quality
    // budget: --objective=size under --max-loss (by default a mean KL of
    // 0.01 nats per token, about a 1 % perplexity increase), over the
    // weight-only family; embeddings, classifier and attention scores float.
    r.defaultPrecision = "w4a16-g32";
    r.objective = "size";
    r.maxLoss = 0.01;
    add({"embedding", "classifier", "attention_scores"}, "float",
        "kept float");
    return r;
  }
  if (name == "edge-int8") {
    // Integer-only inference: static int8 activations and int8 weights on
    // every product, embeddings in int8 too.
    if (!runs("w8a8-static"))
      return std::nullopt;
    r.defaultPrecision = "w8a8-static";
    add({"embedding"}, "w8a16", "int8 embedding table");
    add({"attention_scores"}, "w8a8-static", "integer attention scores");
    add({"classifier"}, "w8a8-static", "integer classifier");
    return r;
  }
  return std::nullopt;
}

namespace {

/// Reads one recipe document, reporting through the SourceMgr.
class RecipeReader {
public:
  RecipeReader(SourceMgr &sm, StringRef bufferName, raw_ostream &os)
      : sm(sm), bufferName(bufferName), os(os) {}

  bool failed = false;

  void error(yaml::Node *node, const Twine &message) {
    failed = true;
    sm.PrintMessage(os, node->getSourceRange().Start, SourceMgr::DK_Error,
                    message);
  }
  void warning(SMLoc loc, const Twine &message) {
    sm.PrintMessage(os, loc, SourceMgr::DK_Warning, message);
  }

  std::string where(yaml::Node *node) {
    unsigned line = sm.FindLineNumber(node->getSourceRange().Start);
    return (bufferName + ":" + Twine(line)).str();
  }

  std::optional<std::string> scalar(yaml::Node *node) {
    auto *s = dyn_cast_or_null<yaml::ScalarNode>(node);
    if (!s) {
      error(node, "expected a single value");
      return std::nullopt;
    }
    SmallString<32> storage;
    return s->getValue(storage).str();
  }

  /// A value or a list of values.
  std::optional<std::vector<std::string>> scalars(yaml::Node *node) {
    std::vector<std::string> out;
    if (auto *seq = dyn_cast<yaml::SequenceNode>(node)) {
      for (yaml::Node &item : *seq) {
        std::optional<std::string> v = scalar(&item);
        if (!v)
          return std::nullopt;
        out.push_back(*v);
      }
      return out;
    }
    std::optional<std::string> v = scalar(node);
    if (!v)
      return std::nullopt;
    out.push_back(*v);
    return out;
  }

  std::optional<int64_t> integer(yaml::Node *node) {
    std::optional<std::string> v = scalar(node);
    if (!v)
      return std::nullopt;
    int64_t out;
    if (StringRef(*v).getAsInteger(10, out)) {
      error(node, "expected an integer, got '" + *v + "'");
      return std::nullopt;
    }
    return out;
  }

  std::optional<bool> boolean(yaml::Node *node) {
    std::optional<std::string> v = scalar(node);
    if (!v)
      return std::nullopt;
    if (*v == "true" || *v == "yes" || *v == "on")
      return true;
    if (*v == "false" || *v == "no" || *v == "off")
      return false;
    error(node, "expected true or false, got '" + *v + "'");
    return std::nullopt;
  }

  bool checkPrecision(yaml::Node *node, const std::string &p) {
    if (p == "float")
      return true;
    std::string message;
    if (!parsePrecision(p, message)) {
      error(node, message + " (or float)");
      return false;
    }
    return true;
  }

  bool checkAlgorithm(yaml::Node *node, const std::string &a) {
    if (parseWeightAlgorithm(a))
      return true;
    error(node, "unknown algorithm '" + a + "' (expected rtn, gptq or awq)");
    return false;
  }

  void readMatch(yaml::Node *node, RecipeRule &r) {
    auto *map = dyn_cast<yaml::MappingNode>(node);
    if (!map) {
      error(node, "'match' takes a mapping (role, name, op, layer)");
      return;
    }
    for (yaml::KeyValueNode &kv : *map) {
      std::optional<std::string> key = scalar(kv.getKey());
      if (!key)
        continue;
      yaml::Node *value = kv.getValue();
      if (*key == "role") {
        if (auto v = scalars(value)) {
          for (const std::string &role : *v)
            if (!isLayerRoleName(role))
              error(value, "unknown role '" + role + "' (expected one of " +
                               layerRoleNameList() + ")");
          r.roles = *v;
        }
      } else if (*key == "name") {
        if (auto v = scalar(value)) {
          std::string reError;
          if (!Regex(*v).isValid(reError))
            error(value, "bad name regex '" + *v + "': " + reError);
          r.nameRegex = *v;
        }
      } else if (*key == "op") {
        if (auto v = scalars(value)) {
          for (const std::string &k : *v)
            if (!llvm::is_contained(
                    {"matmul", "conv", "embedding", "attention"}, k))
              error(value, "unknown op '" + k +
                               "' (expected matmul, conv, embedding or "
                               "attention)");
          r.opKinds = *v;
        }
      } else if (*key == "layer") {
        if (auto *seq = dyn_cast<yaml::SequenceNode>(value)) {
          for (yaml::Node &item : *seq)
            if (auto i = integer(&item))
              r.layers.push_back(*i);
        } else if (auto i = integer(value)) {
          r.layers.push_back(*i);
        }
      } else {
        error(kv.getKey(), "unknown match key '" + *key +
                               "' (expected role, name, op or layer)");
      }
    }
  }

  void readRule(yaml::Node *node, Recipe &recipe) {
    auto *map = dyn_cast<yaml::MappingNode>(node);
    if (!map) {
      error(node, "a rule is a mapping (match, precision, algorithm, group, "
                  "keep-float)");
      return;
    }
    RecipeRule r;
    r.where = where(node);
    bool hasMatch = false, keepFloat = false;
    for (yaml::KeyValueNode &kv : *map) {
      std::optional<std::string> key = scalar(kv.getKey());
      if (!key)
        continue;
      yaml::Node *value = kv.getValue();
      if (*key == "match") {
        hasMatch = true;
        readMatch(value, r);
      } else if (*key == "precision") {
        if (auto v = scalar(value); v && checkPrecision(value, *v))
          r.precision = *v;
      } else if (*key == "algorithm") {
        if (auto v = scalar(value); v && checkAlgorithm(value, *v))
          r.algorithm = *v;
      } else if (*key == "group") {
        if (auto v = integer(value)) {
          if (*v < 0 || (*v > 0 && *v % 8 != 0))
            error(value, "group must be 0 (per channel) or a positive "
                         "multiple of 8");
          else
            r.groupSize = *v;
        }
      } else if (*key == "keep-float") {
        if (auto v = boolean(value))
          keepFloat = *v;
      } else if (*key == "note") {
        if (auto v = scalar(value))
          r.note = *v;
      } else {
        error(kv.getKey(), "unknown rule key '" + *key +
                               "' (expected match, precision, algorithm, "
                               "group, keep-float or note)");
      }
    }
    if (keepFloat) {
      if (r.precision && *r.precision != "float")
        error(node, "keep-float and precision '" + *r.precision +
                        "' contradict each other");
      r.precision = "float";
    }
    if (!hasMatch)
      error(node, "a rule needs a 'match' (use match: {} for every op)");
    if (!r.precision && !r.algorithm && !r.groupSize)
      error(node, "the rule sets nothing (precision, algorithm, group or "
                  "keep-float)");
    recipe.rules.push_back(std::move(r));
  }

  std::optional<Recipe> read(yaml::Stream &stream) {
    Recipe recipe;
    recipe.name = bufferName.str();
    auto doc = stream.begin();
    if (doc == stream.end() || !doc->getRoot()) {
      failed = true;
      os << bufferName << ": error: the recipe is empty\n";
      return std::nullopt;
    }
    auto *root = dyn_cast<yaml::MappingNode>(doc->getRoot());
    if (!root) {
      error(doc->getRoot(), "a recipe is a mapping with 'rules' (and "
                            "optionally 'default', 'algorithm', 'smooth')");
      return std::nullopt;
    }
    for (yaml::KeyValueNode &kv : *root) {
      std::optional<std::string> key = scalar(kv.getKey());
      if (!key)
        continue;
      yaml::Node *value = kv.getValue();
      if (*key == "rules") {
        auto *seq = dyn_cast<yaml::SequenceNode>(value);
        if (!seq) {
          error(value, "'rules' is a list of rules");
          continue;
        }
        for (yaml::Node &item : *seq)
          readRule(&item, recipe);
      } else if (*key == "default") {
        if (auto v = scalar(value); v && checkPrecision(value, *v))
          recipe.defaultPrecision = *v;
      } else if (*key == "algorithm") {
        if (auto v = scalar(value); v && checkAlgorithm(value, *v))
          recipe.defaultAlgorithm = *v;
      } else if (*key == "smooth") {
        if (auto v = boolean(value))
          recipe.smooth = *v;
      } else if (*key == "name") {
        if (auto v = scalar(value))
          recipe.name = *v;
      } else {
        error(kv.getKey(), "unknown recipe key '" + *key +
                               "' (expected rules, default, algorithm, "
                               "smooth or name)");
      }
    }
    if (++doc != stream.end()) {
      failed = true;
      os << bufferName << ": error: a recipe file holds one document\n";
    }
    if (failed || stream.failed())
      return std::nullopt;
    return recipe;
  }

private:
  SourceMgr &sm;
  StringRef bufferName;
  raw_ostream &os;
};

} // namespace

std::optional<Recipe> parseRecipe(StringRef text, StringRef bufferName,
                                  std::string &diagnostics) {
  raw_string_ostream os(diagnostics);
  SourceMgr sm;
  sm.AddNewSourceBuffer(MemoryBuffer::getMemBufferCopy(text, bufferName),
                        SMLoc());
  // Messages go through the SourceMgr with the buffer's name and line.
  sm.setDiagHandler(
      [](const SMDiagnostic &d, void *context) {
        d.print(nullptr, *static_cast<raw_ostream *>(context),
                /*ShowColors=*/false);
      },
      &os);
  yaml::Stream stream(sm.getMemoryBuffer(1)->getMemBufferRef(), sm,
                      /*ShowColors=*/false);
  RecipeReader reader(sm, bufferName, os);
  return reader.read(stream);
}

std::optional<Recipe> parseRecipeFile(StringRef path,
                                      std::string &diagnostics) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> file = MemoryBuffer::getFile(path);
  if (!file) {
    diagnostics = (path + ": error: cannot read the recipe: " +
                   file.getError().message() + "\n")
                      .str();
    return std::nullopt;
  }
  return parseRecipe((*file)->getBuffer(), path, diagnostics);
}

} // namespace qopt
