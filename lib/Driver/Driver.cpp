//===- Driver.cpp - The qopt compile pipeline as a library -----------------===//

#include "InstrumentedModel.h"
#include "qopt/Driver/Driver.h"
#include "qopt/Frontend/ONNX/Exporter.h"
#include "qopt/Driver/Report.h"
#include "qopt/Driver/Sensitivity.h"
#include "qopt/Calibration/Statistics.h"
#include "qopt/QOptDialect.h"
#include "qopt/Target/Artifact.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"
#include "qopt/Transforms/Recipe.h"
#include "qopt/Runtime/TensorFile.h"

#include <chrono>
#include <map>

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Iterators.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;

namespace qopt {

void registerQOptDialects(DialectRegistry &registry) {
  registerAllDialects(registry);
  registry.insert<QOptDialect>();
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
}

void printDiagnostic(Diagnostic &diag, StringRef toolName,
                     llvm::raw_ostream &os) {
  const char *kind = diag.getSeverity() == DiagnosticSeverity::Error
                         ? "error"
                     : diag.getSeverity() == DiagnosticSeverity::Warning
                         ? "warning"
                     : diag.getSeverity() == DiagnosticSeverity::Remark
                         ? "remark"
                         : "note";
  os << toolName << ": ";
  llvm::WithColor(os, diag.getSeverity() == DiagnosticSeverity::Error
                          ? llvm::HighlightColor::Error
                          : llvm::HighlightColor::Note)
      << kind << ": ";
  std::string node = onnxNodeName(diag.getLocation());
  if (!node.empty())
    os << "node '" << node << "': ";
  os << diag.str() << "\n";
  // Remarks are one line each (no op dump).
  if (diag.getSeverity() == DiagnosticSeverity::Remark)
    return;
  for (Diagnostic &note : diag.getNotes())
    os << "  note: " << note.str() << "\n";
}

void installDiagnosticPrinter(MLIRContext &context, StringRef toolName) {
  std::string tool = toolName.str();
  context.getDiagEngine().registerHandler([tool](Diagnostic &diag) {
    printDiagnostic(diag, tool, llvm::errs());
    return success();
  });
}

LogicalResult applyShapeSpecs(MLIRContext &context, ArrayRef<std::string> specs,
                              onnx_frontend::ImportOptions &options) {
  for (const std::string &s : specs) {
    std::string name, error;
    std::vector<int64_t> shape;
    if (!onnx_frontend::parseShapeSpec(s, name, shape, error))
      return emitError(UnknownLoc::get(&context)) << "--input-shape: " << error;
    options.inputShapes[name] = shape;
  }
  return success();
}

LogicalResult applyFreezeSpecs(MLIRContext &context,
                               ArrayRef<std::string> specs,
                               onnx_frontend::ImportOptions &options) {
  for (const std::string &spec : specs) {
    auto [name, file] = StringRef(spec).split('=');
    if (name.empty() || file.empty())
      return emitError(UnknownLoc::get(&context))
             << "--freeze-input: expected NAME=file.npy in '" << spec << "'";
    auto tensors = io::readTensorFile(file);
    if (!tensors)
      return emitError(UnknownLoc::get(&context))
             << "--freeze-input: " << llvm::toString(tensors.takeError());
    if (tensors->size() != 1)
      return emitError(UnknownLoc::get(&context))
             << "--freeze-input: " << file << " must hold one tensor";
    io::Tensor &t = (*tensors)[0];
    int type = io::onnxDataType(t.dtype);
    if (!type)
      return emitError(UnknownLoc::get(&context))
             << "--freeze-input: unsupported dtype " << t.dtype;
    onnx_frontend::FrozenInput frozen;
    frozen.dtype = type;
    frozen.shape = t.shape;
    frozen.data = std::move(t.data);
    options.frozenInputs[name.str()] = std::move(frozen);
  }
  return success();
}

LogicalResult quantizeGraph(ModuleOp module, const QuantizeOptions &options,
                            llvm::json::Object &summary,
                            std::vector<QuantizedLayer> &quantized) {
  PassManager pm(module.getContext());
  QuantizePassOptions passOptions;
  passOptions.precision = options.precision;
  passOptions.exclude = options.exclude;
  passOptions.quantizeClassifier = options.quantizeClassifier;
  passOptions.quantizeEmbeddings = options.quantizeEmbeddings;
  passOptions.quantizeAttention = options.quantizeAttention;
  passOptions.attentionScales = options.attentionScales;
  passOptions.algorithm = options.algorithm.empty() ? "rtn" : options.algorithm;
  passOptions.gptqDampening = options.gptqDampening;
  passOptions.gptqScaleGrid = options.gptqScaleGrid;
  passOptions.gptqActOrder = options.gptqActOrder;
  if (options.clipSearch) {
    passOptions.clipSearch = *options.clipSearch;
  } else {
    // Below 4 bits clipping pays; each op by its own precision (a recipe or
    // the search mixes them), as the sensitivity measurement does.
    passOptions.clipSearchBelowBits = 4;
  }
  passOptions.outliers = options.outliers;
  passOptions.weightScales =
      options.weightScales.empty() ? "f32" : options.weightScales;
  passOptions.gptqRefineRounds = options.gptqRefineRounds;
  passOptions.showProgress = options.showProgress;
  passOptions.releaseWeights = options.releaseWeights;
  pm.addPass(createQuantizePass(passOptions));
  if (failed(pm.run(module)))
    return failure();
  llvm::json::Array layers;
  int64_t floatBytes = 0, quantizedBytes = 0;
  quantized = collectQuantizedLayers(module);
  for (const QuantizedLayer &l : quantized) {
    floatBytes += l.floatBytes;
    quantizedBytes += l.quantizedBytes;
    llvm::json::Object layer{{"node", l.node},
                             {"op", l.op},
                             {"precision", l.precision},
                             {"algorithm", l.algorithm},
                             {"scheme", l.scheme},
                             {"float_bytes", l.floatBytes},
                             {"quantized_bytes", l.quantizedBytes}};
    if (l.outliers) {
      llvm::json::Array channels;
      for (int64_t c : l.outliers->channels)
        channels.push_back(c);
      layer["outlier_channels"] = std::move(channels);
    }
    if (l.floatChannels) {
      layer["outliers"] = "keep-float";
      layer["float_channels"] = l.floatChannels;
    }
    layers.push_back(std::move(layer));
  }
  summary["precision"] = options.precision;
  summary["algorithm"] = passOptions.algorithm;
  if (!options.exclude.empty())
    summary["exclude"] = options.exclude;
  summary["outliers"] = options.outliers;
  summary["weight_scales"] = passOptions.weightScales;
  summary["quantized_weight_bytes"] = quantizedBytes;
  summary["float_weight_bytes_of_quantized_ops"] = floatBytes;
  summary["layers"] = std::move(layers);
  return success();
}

std::string resolveWeightAlgorithm(const PrecisionSpec &spec,
                                   StringRef requested, bool haveCalibration,
                                   std::string &why) {
  if (!requested.empty()) {
    why = "requested";
    return requested.str();
  }
  bool integer = spec.weights.kind == quant::WeightKind::Int;
  if (!integer) {
    why = "default for " + spec.name;
    return "rtn";
  }
  if (spec.weights.bits >= 8) {
    why = "default for 8-bit weights (rtn loses little there)";
    return "rtn";
  }
  if (!haveCalibration) {
    why = "default without calibration data (give --calib for gptq)";
    return "rtn";
  }
  why = "default for sub-8-bit weights with calibration data";
  return "gptq";
}

/// Adds the cost model's estimate to every matmul of the manifest's
/// quantization layers (`summary["layers"]`, in `quantized`'s order): its
/// time at the stored precision and in float, and which bound holds; and
/// the sums over them. The search's own estimates (summary["search"]) are
/// made before quantization from the candidates' nominal sizes; these use
/// the bytes actually stored.
static void addCostEstimates(llvm::json::Object &summary,
                             ArrayRef<QuantizedLayer> quantized,
                             const quant::MachinePeaks &peaks) {
  llvm::json::Array *layers = summary.getArray("layers");
  if (!layers || layers->size() != quantized.size())
    return;
  double total = 0, floatTotal = 0;
  for (auto [json, l] : llvm::zip(*layers, quantized)) {
    if (l.op != "matmul" || !l.n || !l.k)
      continue;
    quant::MatMulShape shape;
    shape.batch = l.batch;
    shape.m = l.m;
    shape.n = l.n;
    shape.k = l.k;
    quant::LayerCost cost = quant::estimateMatMul(
        shape,
        precisionCost(l.precision, l.n, l.k, /*halfScales=*/false,
                      l.quantizedBytes),
        peaks);
    quant::LayerCost floatCost = quant::estimateMatMul(
        shape, precisionCost("float", l.n, l.k, /*halfScales=*/false), peaks);
    llvm::json::Object *o = json.getAsObject();
    (*o)["estimated_seconds"] = cost.seconds;
    (*o)["float_estimated_seconds"] = floatCost.seconds;
    (*o)["bound"] = cost.memoryBound ? "memory" : "compute";
    total += cost.seconds;
    floatTotal += floatCost.seconds;
  }
  summary["estimated_seconds"] = total;
  summary["float_estimated_seconds"] = floatTotal;
  summary["cost_model_peaks"] = peaks.source;
}

/// Strings, integers, arrays and dictionaries of an attribute as JSON (the
/// KV cache layout the pass records for the manifest).
static llvm::json::Value attributeToJSON(Attribute attr) {
  if (auto s = dyn_cast<StringAttr>(attr))
    return s.str();
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return i.getInt();
  if (auto array = dyn_cast<ArrayAttr>(attr)) {
    llvm::json::Array out;
    for (Attribute a : array)
      out.push_back(attributeToJSON(a));
    return out;
  }
  if (auto dict = dyn_cast<DictionaryAttr>(attr)) {
    llvm::json::Object out;
    for (NamedAttribute a : dict)
      out[a.getName().str()] = attributeToJSON(a.getValue());
    return out;
  }
  llvm_unreachable("the KV cache layout holds strings, integers, arrays and "
                   "dictionaries");
}

FailureOr<TargetAttr> resolveTarget(MLIRContext &context,
                                    const TargetOptions &options) {
  registerBuiltinTargets();
  context.getOrLoadDialect<QOptDialect>();
  std::string error;
  const TargetBackend *backend = lookupTargetByTriple(options.triple, error);
  if (!backend)
    return emitError(UnknownLoc::get(&context)) << error;
  FailureOr<TargetAttr> target = backend->resolve(
      &context, options.triple, options.cpu, options.features, error);
  if (failed(target))
    return emitError(UnknownLoc::get(&context)) << error;
  return target;
}

namespace {

/// Times the phases of one compile: a line as each starts (on a terminal
/// while progress is shown, or with -v) and a table at the end (-v).
class PhaseTimer {
public:
  PhaseTimer(bool verbose, bool showProgress,
             const std::function<bool(StringRef)> &onPhase)
      : verbose(verbose),
        announce(verbose || (showProgress && llvm::errs().is_displayed())),
        onPhase(onPhase) {}

  /// Starts `phase`; false when the caller's onPhase asks to stop.
  bool begin(StringRef phase) {
    end();
    if (onPhase && !onPhase(phase))
      return false;
    if (announce)
      llvm::errs() << "qopt: " << phase << "\n";
    current = phase.str();
    start = std::chrono::steady_clock::now();
    return true;
  }

  void end() {
    if (current.empty())
      return;
    double secs = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - start)
                      .count();
    // Phases that recur (GPTQ rounds) add up in one row.
    auto it = llvm::find_if(phases, [&](auto &p) { return p.first == current; });
    if (it == phases.end())
      phases.push_back({current, secs});
    else
      it->second += secs;
    current.clear();
  }

  void printTable() {
    end();
    if (!verbose)
      return;
    double total = 0;
    llvm::errs() << "qopt: phase                                      seconds\n";
    for (auto &[phase, secs] : phases) {
      llvm::errs() << llvm::format("qopt:   %-40s %7.2f\n", phase.c_str(), secs);
      total += secs;
    }
    llvm::errs() << llvm::format("qopt:   %-40s %7.2f\n", "total", total);
  }

private:
  bool verbose, announce;
  const std::function<bool(StringRef)> &onPhase;
  std::string current;
  std::chrono::steady_clock::time_point start;
  std::vector<std::pair<std::string, double>> phases;
};

} // namespace

namespace {

/// What a compile's precisions need of calibration and the checks: from
/// one --precision, or from every op's assignment under a recipe.
struct PrecisionUse {
  bool anyStatic = false;
  bool anyIntegerActivations = false;

  static PrecisionUse of(const PrecisionSpec &spec) {
    PrecisionUse use;
    use.anyStatic = spec.activations == ActivationMode::Static;
    use.anyIntegerActivations = spec.activations != ActivationMode::Float;
    return use;
  }
  static PrecisionUse of(llvm::ArrayRef<LayerAssignment> assignments) {
    PrecisionUse use;
    for (const LayerAssignment &a : assignments) {
      std::string error;
      std::optional<PrecisionSpec> spec = parsePrecision(a.precision, error);
      if (!spec)
        continue;
      PrecisionUse one = of(*spec);
      use.anyStatic |= one.anyStatic;
      use.anyIntegerActivations |= one.anyIntegerActivations;
    }
    return use;
  }
};

/// The precision used where the driver needs one for a recipe compile
/// without --precision: the most common one among the assignments.
std::string representativePrecision(llvm::ArrayRef<LayerAssignment> list) {
  llvm::StringMap<int> counts;
  std::string best = "w8a16";
  int most = 0;
  for (const LayerAssignment &a : list) {
    if (a.precision == "float")
      continue;
    int c = ++counts[a.precision];
    if (c > most) {
      most = c;
      best = a.precision;
    }
  }
  return best;
}

/// Reads the compile's recipe (built in, adapted to the target, or a file)
/// and gives every quantizable op its qopt.assign (assignPrecisions). The
/// assignments go into the manifest summary.
FailureOr<Recipe> assignFromRecipe(ModuleOp module, const CompileOptions &options,
                                   StringRef defaultPrecision,
                                   TargetAttr target, llvm::json::Object &summary,
                                   std::vector<LayerAssignment> &assignments) {
  MLIRContext *context = module.getContext();
  const TargetBackend *backend = lookupTargetByName(target.getBackend());
  TargetCapabilities caps = backend->capabilities(target);
  StringRef name = options.quantize.recipe;
  std::optional<Recipe> recipe;
  std::string diagnostics;
  if (name.empty()) {
    // A budget search without a recipe: the defaults of a single
    // --precision (classifier, embeddings and attention scores float unless
    // asked for), every other layer open to the search.
    const QuantizeOptions &q = options.quantize;
    recipe.emplace();
    recipe->name = "search";
    // Embeddings, the classifier and attention scores stay float unless
    // asked for, as assignPrecisions leaves what no rule sets; asked for,
    // they take the search's starting precision and are searched too.
    auto take = [&](const char *role, const char *flag) {
      RecipeRule rule;
      rule.where = flag;
      rule.roles = {role};
      rule.precision = defaultPrecision.str();
      rule.note = "searched";
      rule.warnUnmatched = false;
      rule.fixes = false;
      recipe->rules.push_back(rule);
    };
    if (q.quantizeClassifier)
      take("classifier", "--quantize-classifier");
    if (q.quantizeEmbeddings)
      take("embedding", "--quantize-embeddings");
    if (q.quantizeAttention)
      take("attention_scores", "--quantize-attention");
  } else if (llvm::is_contained(builtinRecipeNames(), name)) {
    recipe = builtinRecipe(name, caps);
    if (!recipe)
      return emitError(UnknownLoc::get(context))
             << "recipe " << name << " needs integer activations, which the "
             << target.getBackend() << " target does not run";
  } else if (!llvm::sys::fs::exists(name)) {
    return emitError(UnknownLoc::get(context))
           << "--recipe=" << name << ": no such file, and not a built-in "
           << "recipe (" << llvm::join(builtinRecipeNames(), ", ") << ")";
  } else {
    recipe = parseRecipeFile(name, diagnostics);
    if (!recipe)
      return emitError(UnknownLoc::get(context))
             << "--recipe: " << StringRef(diagnostics).rtrim();
  }
  FailureOr<std::vector<LayerAssignment>> assigned = assignPrecisions(
      module, *recipe, caps, defaultPrecision, options.quantize.exclude);
  if (failed(assigned))
    return failure();
  assignments = std::move(*assigned);
  if (!name.empty())
    summary["recipe"] = recipe->name;
  return *recipe;
}

/// The manifest's list of every quantizable op's assignment.
llvm::json::Array assignmentsToJSON(llvm::ArrayRef<LayerAssignment> list) {
  llvm::json::Array out;
  for (const LayerAssignment &a : list)
    out.push_back(llvm::json::Object{{"node", a.node},
                                     {"role", a.role},
                                     {"op", a.kind},
                                     {"layer", a.layer},
                                     {"precision", a.precision},
                                     {"algorithm", a.algorithm},
                                     {"reason", a.reason},
                                     {"emulated", a.emulated}});
  return out;
}

} // namespace

LogicalResult compileModel(MLIRContext &context, const CompileOptions &options) {
  registerBuiltinTargets();
  FailureOr<TargetAttr> target = resolveTarget(context, options.target);
  if (failed(target))
    return failure();
  bool writeArtifact = options.emitGraphIR.empty();
  if (writeArtifact)
    if (llvm::Error e = checkArtifactDestination(
            options.outDir, options.modelPath, options.force))
      return emitError(UnknownLoc::get(&context)) << llvm::toString(std::move(e));
  PhaseTimer phases(options.verbose, options.calibration.showProgress,
                    options.onPhase);
  auto stopped = [&](StringRef phase) {
    return emitError(UnknownLoc::get(&context))
           << "compile stopped before " << phase;
  };
  std::string importing =
      "importing " + llvm::sys::path::filename(options.modelPath).str();
  if (!phases.begin(importing))
    return stopped(importing);
  onnx_frontend::ImportOptions importOptions = options.import;
  importOptions.halfAsFloat = !options.keepHalfPrecision;
  OwningOpRef<ModuleOp> module =
      onnx_frontend::importONNXFile(context, options.modelPath, importOptions);
  if (!module)
    return failure();
  ArtifactExtras extras;
  if (!options.emitONNX.empty() && !options.kvCache.empty())
    return emitError(UnknownLoc::get(&context))
           << "--emit-onnx writes the model's own graph, which has no fixed "
              "KV cache: drop --kv-cache";
  if (!options.kvCache.empty()) {
    if (options.kvCache != "float" && options.kvCache != "int8")
      return emitError(UnknownLoc::get(&context))
             << "unknown --kv-cache '" << options.kvCache
             << "' (expected float or int8)";
    PassManager pm(&context);
    StaticKVCachePassOptions kv;
    kv.dtype = options.kvCache;
    pm.addPass(createStaticKVCachePass(kv));
    if (failed(pm.run(*module)))
      return failure();
    for (auto fn : module->getOps<func::FuncOp>())
      if (auto layout = fn->getAttrOfType<DictionaryAttr>(QOptDialect::kKVCacheAttrName))
        extras.manifest["kv_cache"] = attributeToJSON(layout);
  }
  if (!options.quantize.precision.empty() || !options.quantize.recipe.empty() ||
      options.quantize.searchesBudget()) {
    // The calibration data, read and checked before anything is compiled.
    if (failed(validateCalibrationData(
            *module, options.calibration,
            std::max(options.quantize.reportSamples,
                     options.quantize.sensitivitySamples))))
      return failure();
    llvm::json::Object summary;
    std::string error;
    // With a recipe, --precision is the precision of what the recipe leaves
    // open; the checks below that need one precision use the widest use.
    std::string basePrecision = options.quantize.precision;
    std::vector<LayerAssignment> assignments;
    bool recipeSmooth = false;
    std::optional<std::string> recipeObjective;
    std::optional<double> recipeMaxLoss;
    bool search = options.quantize.searchesBudget() ||
                  builtinRecipeSearches(options.quantize.recipe);
    if (!options.quantize.recipe.empty() || search) {
      if (!phases.begin("assigning precisions"))
        return stopped("assigning precisions");
      // A search without --precision starts its open layers at the first
      // candidate (the weight-only family's by default).
      if (basePrecision.empty() && search)
        basePrecision = options.quantize.candidates.empty()
                            ? "w4a16-g32"
                            : StringRef(options.quantize.candidates)
                                  .split(',')
                                  .first.trim()
                                  .str();
      FailureOr<Recipe> recipe = assignFromRecipe(
          *module, options, basePrecision, *target, summary, assignments);
      if (failed(recipe))
        return failure();
      recipeSmooth = recipe->smooth.value_or(false);
      recipeObjective = recipe->objective;
      recipeMaxLoss = recipe->maxLoss;
      if (basePrecision.empty())
        basePrecision = representativePrecision(assignments);
    }
    std::optional<PrecisionSpec> spec = parsePrecision(basePrecision, error);
    if (!spec)
      return emitError(UnknownLoc::get(&context)) << error;
    PrecisionUse use = assignments.empty()
                           ? PrecisionUse::of(*spec)
                           : PrecisionUse::of(assignments);
    // The search's candidates, each with the algorithm a single-precision
    // compile would give it.
    std::vector<SensitivityCandidate> candidates;
    TargetCapabilities caps =
        lookupTargetByName(target->getBackend())->capabilities(*target);
    if (search) {
      if (options.calibration.data.empty())
        return emitError(UnknownLoc::get(&context))
               << "the precision search (--avg-bits, --max-weight-bytes, "
                  "--max-loss) measures each layer on data: give --calib=DATA";
      if (!options.quantize.objective.empty() &&
          !llvm::is_contained({"quality", "size", "speed"},
                              options.quantize.objective))
        return emitError(UnknownLoc::get(&context))
               << "unknown --objective '" << options.quantize.objective
               << "' (expected quality, size or speed)";
      std::vector<std::string> names;
      if (options.quantize.candidates.empty()) {
        names = defaultCandidates(*spec, caps);
      } else {
        SmallVector<StringRef> parts;
        StringRef(options.quantize.candidates).split(parts, ',', -1, false);
        for (StringRef p : parts)
          names.push_back(p.trim().str());
      }
      for (const std::string &name : names) {
        if (name == "float")
          continue; // always a candidate, with no loss
        std::optional<PrecisionSpec> c = parsePrecision(name, error);
        if (!c)
          return emitError(UnknownLoc::get(&context))
                 << "--candidates: " << error;
        if (precisionSupport(name, caps) == Support::None)
          return emitError(UnknownLoc::get(&context))
                 << "--candidates: the " << target->getBackend()
                 << " target cannot run '" << name << "'";
        std::string why;
        candidates.push_back(
            {name, resolveWeightAlgorithm(*c, options.quantize.algorithm,
                                          /*haveCalibration=*/true, why)});
        PrecisionUse one = PrecisionUse::of(*c);
        use.anyStatic |= one.anyStatic;
        use.anyIntegerActivations |= one.anyIntegerActivations;
      }
      if (candidates.empty())
        return emitError(UnknownLoc::get(&context))
               << "--candidates: no precision to search over";
    }
    bool isStatic = use.anyStatic;
    bool haveData = !options.calibration.data.empty();
    QuantizeOptions quantize = options.quantize;
    quantize.showProgress = options.calibration.showProgress;
    if (quantize.weightScales.empty())
      quantize.weightScales = caps.halfWeightScales ? "f16" : "f32";
    if (quantize.weightScales != "f16" && quantize.weightScales != "f32")
      return emitError(UnknownLoc::get(&context))
             << "unknown --weight-scales '" << quantize.weightScales
             << "' (expected f16 or f32)";
    // A searching recipe's objective and budget, unless given.
    if (recipeObjective && options.quantize.objective.empty() &&
        !options.quantize.searchesBudget())
      quantize.objective = *recipeObjective;
    if (recipeMaxLoss && !options.quantize.searchesBudget())
      quantize.maxLoss = recipeMaxLoss;
    // With a loss budget alone the least loss is float everywhere: the
    // smallest configuration within it is what is asked for.
    if (quantize.objective.empty())
      quantize.objective = quantize.maxLoss && !quantize.avgBits &&
                                   !quantize.maxWeightBytes
                               ? "size"
                               : "quality";
    quantize.precision = basePrecision;
    std::optional<OutlierHandling> outliers =
        parseOutlierHandling(quantize.outliers);
    if (!outliers)
      return emitError(UnknownLoc::get(&context))
             << "unknown --outliers '" << quantize.outliers
             << "' (expected keep-float, clip or none)";
    bool keepFloat = *outliers == OutlierHandling::KeepFloat;
    std::string algorithmWhy;
    quantize.algorithm = resolveWeightAlgorithm(
        *spec, options.quantize.algorithm,
        haveData || !options.calibration.tablePath.empty(), algorithmWhy);
    std::optional<WeightAlgorithm> algorithm =
        parseWeightAlgorithm(quantize.algorithm);
    if (!algorithm)
      return emitError(UnknownLoc::get(&context))
             << "unknown --algorithm '" << quantize.algorithm
             << "' (expected rtn, gptq or awq)";
    bool haveStatistics = haveData || !options.calibration.tablePath.empty();
    StatisticsNeeds needs;
    needs.gram = *algorithm != WeightAlgorithm::RTN &&
                 spec->weights.kind == quant::WeightKind::Int;
    bool anyGPTQ = *algorithm == WeightAlgorithm::GPTQ && needs.gram;
    // Under a recipe each op resolves its own algorithm, as a single
    // precision would.
    if (!assignments.empty()) {
      needs.gram = anyGPTQ = false;
      for (LayerAssignment &a : assignments) {
        std::optional<PrecisionSpec> opSpec =
            parsePrecision(a.precision, error);
        if (!opSpec)
          continue;
        if (a.algorithm.empty()) {
          std::string why;
          a.algorithm = resolveWeightAlgorithm(
              *opSpec, options.quantize.algorithm, haveStatistics, why);
        }
        bool integer = opSpec->weights.kind == quant::WeightKind::Int;
        if (integer && a.algorithm != "rtn")
          needs.gram = true;
        if (integer && a.algorithm == "gptq")
          anyGPTQ = true;
        a.op->setAttr(QOptDialect::kAssignAttrName,
                      AssignmentAttr::get(&context, a.precision, a.algorithm,
                                          a.reason + (a.emulated
                                                          ? " (emulated)"
                                                          : "")));
      }
      for (const SensitivityCandidate &c : candidates) {
        std::optional<PrecisionSpec> cs = parsePrecision(c.precision, error);
        bool integer = cs && cs->weights.kind == quant::WeightKind::Int;
        if (integer && c.algorithm != "rtn")
          needs.gram = true;
        if (integer && c.algorithm == "gptq")
          anyGPTQ = true;
      }
      algorithmWhy = "per layer (recipe); sub-8-bit integer weights take "
                     "gptq with calibration data, others rtn";
      summary["assignments"] = assignmentsToJSON(assignments);
    }
    bool smooth = quantize.smooth || recipeSmooth;
    quantize.smooth = smooth;
    if (smooth)
      needs.sampleRows = kSmoothSampleRows;
    if ((needs.gram || smooth) && !haveStatistics)
      return emitError(UnknownLoc::get(&context))
             << (smooth ? std::string("--smooth")
                        : "--algorithm=" + quantize.algorithm)
             << " needs calibration data: give --calib=DATA or "
                "--calib-table=FILE";
    if (assignments.empty() && *algorithm == WeightAlgorithm::AWQ &&
        spec->activations != ActivationMode::Float)
      return emitError(UnknownLoc::get(&context))
             << "--algorithm=awq is for weight-only precisions; '"
             << spec->name << "' quantizes activations (use gptq or rtn)";
    if (smooth && !use.anyIntegerActivations)
      return emitError(UnknownLoc::get(&context))
             << "--smooth migrates activation outliers into the weights for "
                "integer activations; '"
             << spec->name << "' keeps activations float (use w8a8 or "
                              "w8a8-static, or --algorithm=awq)";
    std::optional<AttentionScales> attentionScales =
        parseAttentionScales(quantize.attentionScales);
    if (!attentionScales)
      return emitError(UnknownLoc::get(&context))
             << "unknown --attention-scales '" << quantize.attentionScales
             << "' (expected dynamic or static)";
    if (quantize.quantizeAttention && !use.anyIntegerActivations)
      return emitError(UnknownLoc::get(&context))
             << "--quantize-attention multiplies int8 activations; '"
             << spec->name << "' keeps activations float (use w8a8 or "
                              "w8a8-static)";
    if (quantize.quantizeAttention &&
        *attentionScales == AttentionScales::Static && !haveStatistics)
      return emitError(UnknownLoc::get(&context))
             << "--attention-scales=static needs calibration data: give "
                "--calib=DATA or --calib-table=FILE";
    if (keepFloat) {
      if (!use.anyIntegerActivations)
        return emitError(UnknownLoc::get(&context))
               << "--outliers=keep-float splits products with integer "
                  "activations; '"
               << spec->name
               << "' keeps activations float (use w8a8 or w8a8-static)";
      if (!haveStatistics)
        return emitError(UnknownLoc::get(&context))
               << "--outliers=keep-float needs calibration data to find the "
                  "outlier channels: give --calib=DATA or --calib-table=FILE";
      if (smooth)
        return emitError(UnknownLoc::get(&context))
               << "--outliers=keep-float and --smooth both handle activation "
                  "outliers: choose one";
    }
    // Convolutions reach the quantizer and the target as convolutions when
    // the precision has a convolution form (W8A8); otherwise group-1 ones
    // are quantized as their im2col products (weight-only qopt.matmul), and
    // depthwise and grouped ones stay float. With a recipe, each
    // convolution's own assignment decides.
    if (!assignments.empty() || !quantizesConvolutions(*spec)) {
      PassManager pm(&context);
      DecomposeConvolutionsPassOptions decompose;
      decompose.denseOnly = true;
      pm.addPass(createDecomposeConvolutionsPass(decompose));
      if (failed(pm.run(*module)))
        return failure();
    }
    summary["algorithm_choice"] = algorithmWhy;
    if (failed(checkCalibrationOptions(&context, options.calibration)))
      return failure();
    // Probes on quantized ops' inputs (ranges, outliers, Hessians) and, with
    // data, on their outputs (the quality report).
    bool calibrate =
        isStatic || needs.gram || smooth || haveStatistics || search;
    // Calibration's compiled model, run again as the report's float side.
    std::unique_ptr<InstrumentedModel> calibrationModel;
    // The search's measured sensitivities, and the graph before it chose
    // (for another attempt under --max-loss).
    SensitivityTable sensitivity;
    OwningOpRef<ModuleOp> beforeSearch;
    std::vector<LayerAssignment> assignmentsBeforeSearch;
    // The search's sensitivities are cached in --calib-table beside the
    // statistics, under a key of what they were measured from; read before
    // calibration rewrites the table.
    std::string cacheKey;
    bool sensitivityCached = false;
    const std::string &tablePath = options.calibration.tablePath;
    if (search && !tablePath.empty()) {
      cacheKey = sensitivityCacheKey(*module, quantize, options.calibration,
                                     candidates);
      if (llvm::sys::fs::exists(tablePath)) {
        auto table = calib::CalibrationTable::load(tablePath);
        const llvm::json::Object *cache =
            table && table->sensitivity ? table->sensitivity->getAsObject()
                                        : nullptr;
        if (!table)
          llvm::consumeError(table.takeError());
        std::optional<SensitivityTable> cached;
        if (cache && cache->getString("key") == cacheKey)
          if (const llvm::json::Object *t = cache->getObject("table"))
            cached = SensitivityTable::fromCacheJSON(*t);
        if (cached) {
          sensitivity = std::move(*cached);
          sensitivityCached = true;
          if (options.calibration.showProgress)
            llvm::errs() << "qopt: sensitivities from " << tablePath
                         << " (measured in "
                         << llvm::format("%.1f", sensitivity.seconds)
                         << " s on " << sensitivity.samples << " samples)\n";
        }
      }
    }
    if (calibrate) {
      PassManager pm(&context);
      InsertObserversPassOptions observe;
      observe.exclude = options.quantize.exclude;
      observe.quantizeClassifier = options.quantize.quantizeClassifier;
      observe.quantizeAttention = options.quantize.quantizeAttention;
      // Probes on the ops a recipe quantizes beyond the defaults.
      for (const LayerAssignment &a : assignments) {
        if (a.precision == "float")
          continue;
        observe.quantizeClassifier |= a.role == "classifier";
        observe.quantizeAttention |= a.kind == "attention";
      }
      observe.attentionScales = options.quantize.attentionScales;
      observe.observeOutputs = haveData;
      pm.addPass(createInsertObserversPass(observe));
      if (failed(pm.run(*module)))
        return failure();
      if (!phases.begin("calibrating"))
        return stopped("calibrating");
      if (failed(calibrateGraph(*module, quantize, options.calibration,
                                options.codegen, needs, summary,
                                &calibrationModel)))
        return failure();
      PassManager analysis(&context);
      DetectOutliersPassOptions outliers;
      outliers.threshold = quantize.outlierThreshold;
      outliers.ratio = quantize.outlierRatio;
      analysis.addPass(createDetectOutliersPass(outliers));
      if (failed(analysis.run(*module)))
        return failure();
      if (search) {
        if (!phases.begin("searching precisions"))
          return stopped("searching precisions");
        if (quantize.maxLoss) {
          beforeSearch = module->clone();
          assignmentsBeforeSearch = assignments;
        }
        if (failed(searchPrecisions(*module, quantize, options.calibration,
                                    *target, caps, candidates, assignments,
                                    summary, sensitivity)))
          return failure();
        summary["assignments"] = assignmentsToJSON(assignments);
        if (auto *searched = summary.getObject("search"))
          (*searched)["sensitivity_cached"] = sensitivityCached;
        if (!cacheKey.empty()) {
          // Calibration has just rewritten the table (the search needs
          // --calib): put the cache, read or measured, back into it.
          auto table = calib::CalibrationTable::load(tablePath);
          llvm::Error saved = llvm::Error::success();
          if (table) {
            table->sensitivity = llvm::json::Object{
                {"key", cacheKey}, {"table", sensitivity.toCacheJSON()}};
            saved = table->save(tablePath);
          } else {
            saved = table.takeError();
          }
          if (saved)
            llvm::WithColor::warning(llvm::errs(), "qopt")
                << "the sensitivities were not cached in " << tablePath << ": "
                << llvm::toString(std::move(saved)) << "\n";
        }
      }
    }
    QualityReport report;
    // Under --max-loss the chosen configuration is measured (the report)
    // and, when its loss is over the budget, searched again with the
    // measured-over-predicted ratio (the layers' errors add up to more than
    // the sum of their sensitivities), up to kMaxSearchAttempts times.
    constexpr int kMaxSearchAttempts = 3;
    double lossCorrection = 1.0;
    llvm::json::Array attempts;
    for (int attempt = 1;; ++attempt) {
      if (attempt > 1) {
        module = beforeSearch->clone();
        assignments = assignmentsBeforeSearch;
        if (!phases.begin("searching precisions"))
          return stopped("searching precisions");
        if (failed(searchPrecisions(*module, quantize, options.calibration,
                                    *target, caps, candidates, assignments,
                                    summary, sensitivity, lossCorrection)))
          return failure();
        summary["assignments"] = assignmentsToJSON(assignments);
      }
      OwningOpRef<ModuleOp> floatModule;
      if (haveData && options.emitGraphIR.empty())
        floatModule = module->clone();
      if (smooth) {
        PassManager pm(&context);
        SmoothPassOptions smoothOptions;
        smoothOptions.alpha = quantize.smoothAlpha;
        smoothOptions.perToken = spec->activations == ActivationMode::Dynamic;
        pm.addPass(createSmoothPass(smoothOptions));
        if (failed(pm.run(*module)))
          return failure();
      }
      std::vector<QuantizedLayer> quantized;
      // Later GPTQ rounds need data (a saved table holds float-model
      // statistics only).
      unsigned rounds =
          anyGPTQ && haveData ? std::max(1u, quantize.gptqRounds) : 1;
      for (unsigned round = 1;; ++round) {
        OwningOpRef<ModuleOp> unquantized;
        if (round < rounds)
          unquantized = module->clone();
        std::string quantizing = assignments.empty()
                                     ? "quantizing (" + quantize.algorithm + ")"
                                     : "quantizing (per layer)";
        if (!phases.begin(quantizing))
          return stopped(quantizing);
        QuantizeOptions now = quantize;
        now.releaseWeights = !floatModule && !unquantized && !beforeSearch;
        if (failed(quantizeGraph(*module, now, summary, quantized)))
          return failure();
        if (round == rounds)
          break;
        if (options.calibration.showProgress)
          llvm::errs() << "qopt: gptq round " << round + 1
                       << ": Hessians through the quantized layers\n";
        CalibrationOptions again = options.calibration;
        again.tablePath.clear();
        llvm::json::Object ignored;
        if (!phases.begin("calibrating"))
          return stopped("calibrating");
        if (failed(calibrateGraph(*module, quantize, again, options.codegen,
                                  needs, ignored)))
          return failure();
        copyInputStatistics(*module, *unquantized);
        module = std::move(unquantized);
      }
      summary["gptq_rounds"] = int64_t(rounds);
      FailureOr<std::optional<quant::MachinePeaks>> peaks =
          targetPeaks(*target, caps, quantize.costPeaks);
      if (failed(peaks))
        return failure();
      if (*peaks)
        addCostEstimates(summary, quantized, **peaks);
      else if (!caps.noPeaksReason.empty())
        summary["cost_model_peaks"] = caps.noPeaksReason;
      // Under a recipe: every weight of the model's quantizable ops, stored
      // (quantized bytes, or float for the ops kept float), against float.
      int64_t modelBytes = 0, floatModelBytes = 0;
      for (const LayerAssignment &a : assignments) {
        floatModelBytes += a.floatBytes;
        int64_t stored = a.floatBytes;
        for (QuantizedLayer &l : quantized)
          if (a.node == l.node && a.precision == l.precision) {
            l.role = a.role;
            l.reason = a.reason;
            stored = l.quantizedBytes;
          }
        modelBytes += stored;
      }
      if (!assignments.empty()) {
        summary["weight_bytes"] = modelBytes;
        summary["float_weight_bytes"] = floatModelBytes;
      }

      report = QualityReport();
      report.model = llvm::sys::path::filename(options.modelPath).str();
      report.precision = !options.quantize.recipe.empty()
                             ? "recipe " + options.quantize.recipe
                         : search ? std::string("per-layer search")
                                  : options.quantize.precision;
      report.algorithm = quantize.algorithm;
      if (auto *searched = summary.getObject("search")) {
        report.predictedLoss = searched->getNumber("predicted_loss");
        if (auto unit = searched->getString("loss_unit"))
          report.lossMetric = unit->str();
      }
      report.algorithmChoice = algorithmWhy;
      report.outlierThreshold = quantize.outlierThreshold;
      report.outlierRatio = quantize.outlierRatio;
      // The search's measured sensitivity of each layer at its choice.
      std::map<std::string, double> layerSensitivity;
      if (auto *searched = summary.getObject("search"))
        if (auto *searchedLayers = searched->getArray("layers"))
          for (const llvm::json::Value &v : *searchedLayers)
            if (auto *o = v.getAsObject())
              if (auto node = o->getString("node"))
                if (auto loss = o->getNumber("predicted_loss"))
                  layerSensitivity[node->str()] = *loss;
      for (QuantizedLayer &l : quantized) {
        report.floatWeightBytes += l.floatBytes;
        report.quantizedWeightBytes += l.quantizedBytes;
        LayerQuality q{std::move(l), std::nullopt, std::nullopt, std::nullopt};
        auto found = layerSensitivity.find(q.layer.node);
        if (found != layerSensitivity.end())
          q.sensitivity = found->second;
        report.layers.push_back(std::move(q));
      }
      // Measuring needs two more compiles: not when only the graph is wanted.
      if (haveData && options.emitGraphIR.empty()) {
        OwningOpRef<ModuleOp> quantizedModule(module->clone());
        if (!phases.begin("measuring quality (report)"))
          return stopped("measuring quality (report)");
        if (failed(measureQuality(
                *floatModule, *quantizedModule, options.calibration,
                options.quantize.reportSamples, options.codegen, report,
                calibrationModel.get())))
          return failure();
      }
      // The measured loss of the configuration in the search's metric.
      auto *searched = summary.getObject("search");
      std::optional<double> budget =
          searched ? searched->getNumber("loss_budget") : std::nullopt;
      std::optional<double> measured;
      if (searched && !report.outputs.empty()) {
        const OutputQuality &out = report.outputs.front();
        if (sensitivity.metric == "kl")
          measured = out.kl;
        else
          measured = std::pow(10.0, -out.sqnrDb / 10.0);
      }
      if (!budget || !measured)
        break;
      double predicted =
          *searched->getNumber("predicted_loss") * lossCorrection;
      attempts.push_back(llvm::json::Object{
          {"loss_correction", lossCorrection},
          {"predicted_loss", predicted},
          {"measured_loss", *measured},
          {"average_bits", *searched->getNumber("average_bits")}});
      if (*measured <= *budget || attempt == kMaxSearchAttempts ||
          predicted <= 0) {
        if (*measured > *budget)
          llvm::errs() << llvm::formatv(
              "qopt: warning: the measured loss {0:e3} is over --max-loss's "
              "{1:e3} after {2} searches (the closest found)\n",
              *measured, *budget, attempt);
        break;
      }
      // Tighten by what the sum missed, and a little more so the next
      // attempt lands inside rather than on the edge.
      lossCorrection *= 1.05 * *measured / predicted;
      if (options.calibration.showProgress)
        llvm::errs() << llvm::formatv(
            "qopt: measured loss {0:e3} is over the budget {1:e3} (predicted "
            "{2:e3}): searching again with the sensitivities scaled by "
            "{3:F3}\n",
            *measured, *budget, predicted, lossCorrection);
    }
    if (!attempts.empty())
      if (auto *searched = summary.getObject("search"))
        (*searched)["attempts"] = std::move(attempts);
    if (options.printReport)
      report.print(llvm::errs());
    std::string json;
    llvm::raw_string_ostream os(json);
    os << llvm::formatv("{0:2}", report.toJSON()) << "\n";
    extras.files.push_back({"report.json", json});
    extras.files.push_back({"report.html", report.toHTML()});
    extras.manifest["quantization"] = std::move(summary);
    // The clones of the search and the report are gone: the float weights
    // that quantization replaced can leave memory before code generation
    // (a 1 B model's are 4.4 GB).
    // Backwards, so that a constant's dead users (reshapes, transposes)
    // go before it is looked at.
    module->walk<WalkOrder::PostOrder, ReverseIterator>([](Operation *op) {
      if (isOpTriviallyDead(op))
        op->erase();
    });
    int64_t freed = releaseUnreferencedBlobs(*module);
    if (options.verbose && freed)
      llvm::errs() << llvm::formatv(
          "qopt: released {0:F1} MiB of replaced float weights\n",
          freed / 1048576.0);
  }
  // The export is built before the artifact, so that what it cannot write
  // fails the compile early, and written after it.
  std::optional<onnx_frontend::ExportSummary> exported;
  if (!options.emitONNX.empty()) {
    if (!phases.begin("exporting ONNX"))
      return stopped("exporting ONNX");
    FailureOr<onnx_frontend::ExportSummary> built =
        onnx_frontend::exportQuantizedONNX(*module, options.modelPath);
    if (failed(built))
      return failure();
    exported = std::move(*built);
  }
  auto writeExport = [&]() -> LogicalResult {
    if (!exported)
      return success();
    if (failed(onnx_frontend::writeExportedONNX(context, *exported,
                                                options.modelPath,
                                                options.emitONNX)))
      return failure();
    std::string smoothed;
    if (exported->smoothFolded + exported->smoothMul)
      smoothed = llvm::formatv("; activation scales (SmoothQuant, GPTQ/AWQ): "
                               "{0} folded into the model's producer, {1} as "
                               "a Mul",
                               exported->smoothFolded, exported->smoothMul);
    llvm::errs() << llvm::formatv(
        "qopt: wrote {0} ({1} MatMulNBits, {2} QDQ and {3} dequantized "
        "products{4}, {5:F1} KiB)\n",
        options.emitONNX, exported->matMulNBits, exported->qdq,
        exported->dequantized, smoothed, exported->bytes.size() / 1024.0);
    return success();
  };
  if (!options.emitGraphIR.empty()) {
    if (failed(writeExport()))
      return failure();
    std::string err;
    auto out = mlir::openOutputFile(options.emitGraphIR, &err);
    if (!out)
      return emitError(UnknownLoc::get(&context)) << err;
    // Keep locations: they carry the ONNX node names through qopt-opt.
    module->print(out->os(), OpPrintingFlags().enableDebugInfo());
    out->keep();
    phases.printTable();
    return success();
  }
  std::string compiling = "compiling for " + target->getBackend().str() + " (" +
                          target->getCpu().str() + ")";
  if (!phases.begin(compiling))
    return stopped(compiling);
  (*module)->setAttr(QOptDialect::kTargetAttrName, *target);
  SerializeOptions codegen = options.codegen;
  codegen.soleModule = true;
  if (failed(compileArtifact(*module, codegen, options.outDir, options.force,
                             std::move(extras))))
    return failure();
  if (failed(writeExport()))
    return failure();
  phases.printTable();
  return success();
}

} // namespace qopt
