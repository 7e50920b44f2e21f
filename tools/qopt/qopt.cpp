//===- qopt.cpp - The qopt compiler driver ---------------------------------===//
//
//   qopt model.onnx --target=x86_64-unknown-linux-gnu -mcpu=native \
//        --input-shape input_ids=1x128 -o out/
//
// Imports an ONNX model, compiles it for the target and writes an artifact
// folder (see docs/tools.md). `qopt --check model.onnx` only reports which
// of the model's operators qopt supports.
//
//===----------------------------------------------------------------------===//

#include "qopt/Calibration/Calibrate.h"
#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Support/Interrupt.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/TargetParser/Triple.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Timer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>

using namespace llvm;

static cl::OptionCategory qoptCategory("qopt options");

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.onnx>"),
                                      cl::cat(qoptCategory));
static cl::opt<bool> checkOnly(
    "check",
    cl::desc("List the model's operators, supported or not at its opsets, "
             "without compiling; exit 1 if any is unsupported"),
    cl::cat(qoptCategory));
static cl::opt<bool> listOps(
    "list-ops",
    cl::desc("Print every supported (domain, operator, opsets) as a Markdown "
             "table and exit"),
    cl::cat(qoptCategory));
static cl::opt<std::string>
    outDir("o", cl::desc("Artifact folder to write (default: <model>.qopt)"),
           cl::value_desc("dir"), cl::cat(qoptCategory));
static cl::opt<bool> force(
    "force",
    cl::desc("Replace what is at -o even if it is a file, a link or a folder "
             "that is not a qopt artifact (never the current folder or the "
             "model's)"),
    cl::cat(qoptCategory));
static cl::opt<std::string>
    target("target",
           cl::desc("Target triple (qopt --print-targets lists the known "
                    "ones)"),
           cl::init("x86_64-unknown-linux-gnu"), cl::cat(qoptCategory));
static cl::opt<bool> printTargets(
    "print-targets",
    cl::desc("List the registered targets and their capabilities, and exit"),
    cl::cat(qoptCategory));
static cl::opt<std::string>
    mcpu("mcpu", cl::desc("Target CPU: native (default) or an LLVM CPU name "
                          "(znver4, sapphirerapids, x86-64-v4, ...)"),
         cl::init("native"), cl::cat(qoptCategory));
static cl::opt<std::string> mattr("mattr",
                                  cl::desc("Extra target features (+f,-g)"),
                                  cl::cat(qoptCategory));
static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Static shape of an input (NAME=D0xD1...) or value of a "
             "symbolic dimension (NAME=N); repeatable"),
    cl::value_desc("spec"), cl::cat(qoptCategory));
static cl::list<std::string> freezeInputs(
    "freeze-input",
    cl::desc("Replace an input by the constant in a .npy file "
             "(NAME=file.npy), e.g. a shape tensor; repeatable"),
    cl::value_desc("spec"), cl::cat(qoptCategory));
static cl::opt<std::string>
    name("name", cl::desc("C symbol prefix and file stem of the artifact"),
         cl::init("model"), cl::cat(qoptCategory));
static cl::opt<bool> embedWeights(
    "embed-weights",
    cl::desc("Keep weights inside the object (self-contained edge build)"),
    cl::cat(qoptCategory));
static cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level"),
                                  cl::init(3), cl::Prefix,
                                  cl::cat(qoptCategory));
static cl::opt<std::string>
    emitGraph("emit-graph",
              cl::desc("Write the imported graph IR to this file ('-' for "
                       "stdout) and stop"),
              cl::value_desc("file"), cl::cat(qoptCategory));
static cl::opt<std::string>
    emitONNX("emit-onnx",
             cl::desc("Also write the quantized model as ONNX for other "
                      "runtimes: QDQ for int8, MatMulNBits for 4-/8-bit "
                      "weights, the rest as the model had it"),
             cl::value_desc("file.onnx"), cl::cat(qoptCategory));
static cl::opt<bool> verbose("v",
                             cl::desc("Print the time of each compile stage "
                                      "and notes on graph clean-up"),
                             cl::cat(qoptCategory));
static cl::opt<bool> remarksMissed(
    "remarks-missed",
    cl::desc("Remark on every op the target left scalar (not vectorized), "
             "at its ONNX node, with the reason"),
    cl::cat(qoptCategory));
static cl::opt<bool> keepFP16(
    "keep-fp16",
    cl::desc("Compute float16/bfloat16 ops in half precision, rounding "
             "after each op (default: in float32, rounding at Casts and "
             "outputs)"),
    cl::cat(qoptCategory));
static cl::opt<bool>
    keepIntermediates("keep-intermediates",
                      cl::desc("Also write the LLVM IR into the artifact"),
                      cl::cat(qoptCategory));

static cl::opt<std::string> precision(
    "precision",
    cl::desc("Quantize matmul weights (and activations): w8a16, w4a16-g32, "
             "w3a16-g64, w2a16-g32 (-asym for zero points), nf4-g64, fp8, f16, "
             "w8a8 (dynamic activations), w8a8-static (needs --calib), "
             "w4a8-g32 (int4 groups x int8 activations in integers; -g64, "
             "-g128, -asym; w4a8-static-g32 needs --calib)"),
    cl::value_desc("name"), cl::cat(qoptCategory));
static cl::opt<std::string> recipe(
    "recipe",
    cl::desc("Per-layer precisions: a built-in recipe (balanced, quality, "
             "edge-int8; adapted to the target) or a YAML/JSON recipe file of "
             "rules (docs/quantization.md); --precision sets what it leaves "
             "open"),
    cl::value_desc("name|file"), cl::cat(qoptCategory));
static cl::opt<std::string> avgBits(
    "avg-bits",
    cl::desc("Choose each layer's precision (measured sensitivity, knapsack) "
             "so the quantized weights average at most this many bits, "
             "scales included; needs --calib"),
    cl::value_desc("bits"), cl::cat(qoptCategory));
static cl::opt<std::string> maxWeightBytes(
    "max-weight-bytes",
    cl::desc("Per-layer search: at most this many bytes of quantized "
             "weights"),
    cl::value_desc("bytes"), cl::cat(qoptCategory));
static cl::opt<std::string> maxLoss(
    "max-loss",
    cl::desc("Per-layer search: at most this model-output loss (mean KL per "
             "token for language models, else output noise/signal), or "
             "ppl:D for a perplexity increase of at most D"),
    cl::value_desc("loss|ppl:D"), cl::cat(qoptCategory));
static cl::opt<std::string> objective(
    "objective",
    cl::desc("What the per-layer search minimises within the budgets: "
             "quality, size or speed (the target's cost model); default: "
             "size under --max-loss alone, quality otherwise"),
    cl::init(""), cl::cat(qoptCategory));
static cl::opt<std::string> costPeaks(
    "cost-peaks",
    cl::desc("The cost model's peaks: nominal (the target description's), "
             "measured (this machine's, timed when the compile starts; the "
             "target must be this machine) or auto (default: measured when "
             "the target is this machine, nominal otherwise)"),
    cl::value_desc("auto|nominal|measured"), cl::init("auto"),
    cl::cat(qoptCategory));
static cl::opt<std::string> candidates(
    "candidates",
    cl::desc("Precisions the per-layer search chooses from, comma-separated "
             "(default: the family of --precision: weight-only w8a16..w2a16, "
             "or w8a8/w4a8 for integer activations); float is always one"),
    cl::value_desc("list"), cl::cat(qoptCategory));
static cl::opt<std::string> sensitivityMode(
    "sensitivity",
    cl::desc("How the precision search measures each layer: isolated (moved "
             "from float, the rest float), in-context (moved from the base "
             "--precision, the rest at it) or auto (default: in context for "
             "--avg-bits / --max-weight-bytes with the quality objective)"),
    cl::value_desc("auto|isolated|in-context"), cl::init("auto"),
    cl::cat(qoptCategory));
static cl::opt<std::string> sensitivityMargin(
    "sensitivity-margin",
    cl::desc("A quality search charges each candidate its measured loss plus "
             "this many standard errors over the samples (0: the losses "
             "alone)"),
    cl::value_desc("n"), cl::init("2"), cl::cat(qoptCategory));
static cl::opt<unsigned> sensitivitySamples(
    "sensitivity-samples",
    cl::desc("Held-out samples the per-layer sensitivity is measured on"),
    cl::init(8), cl::cat(qoptCategory));
static cl::opt<std::string>
    exclude("exclude",
            cl::desc("Keep ops whose ONNX node name matches this regex float"),
            cl::value_desc("regex"), cl::cat(qoptCategory));
static cl::opt<bool> quantizeClassifier(
    "quantize-classifier",
    cl::desc("Also quantize the final classifier (kept float by default)"),
    cl::cat(qoptCategory));
static cl::opt<bool> quantizeAttention(
    "quantize-attention",
    cl::desc("Also quantize the attention score products (matmuls of two "
             "activations) to int8 x int8 -> int32; needs integer "
             "activations (w8a8, w8a8-static)"),
    cl::cat(qoptCategory));
static cl::opt<std::string> attentionScales(
    "attention-scales",
    cl::desc("Scales of --quantize-attention's operands: dynamic (default; "
             "per row and column at run time) or static (calibrated, one "
             "per operand; needs --calib)"),
    cl::init("dynamic"), cl::cat(qoptCategory));

static cl::opt<std::string> calibData(
    "calib",
    cl::desc("Calibration data: a folder of .npy/.npz samples or ONNX "
             "test_data_set_* folders, or a token-id .npy (with "
             "--calib-offsets)"),
    cl::value_desc("path"), cl::cat(qoptCategory));
static cl::opt<std::string> calibOffsets(
    "calib-offsets",
    cl::desc("Story offsets .npy: --calib holds token ids, one story per "
             "sample"),
    cl::value_desc("file"), cl::cat(qoptCategory));
static cl::opt<unsigned> calibFirst(
    "calib-first", cl::desc("First story used for calibration (default 0)"),
    cl::init(0), cl::cat(qoptCategory));
static cl::opt<unsigned> calibSamples(
    "calib-samples", cl::desc("Samples used for calibration (default 100)"),
    cl::init(100), cl::cat(qoptCategory));
static cl::opt<std::string> calibMethod(
    "calib-method",
    cl::desc("How static activation ranges are chosen: minmax, percentile "
             "(default), entropy or mse"),
    cl::init("percentile"), cl::cat(qoptCategory));
static cl::opt<double> calibPercentile(
    "calib-percentile",
    cl::desc("Percentile of |x| covered by the percentile method (default "
             "99.99)"),
    cl::init(99.99), cl::cat(qoptCategory));
static cl::opt<std::string> calibTable(
    "calib-table",
    cl::desc("Calibration table: written after calibrating with --calib; "
             "read instead of calibrating without it; the per-layer "
             "search caches its sensitivities in it"),
    cl::value_desc("file"), cl::cat(qoptCategory));

static cl::opt<bool> quantizeEmbeddings(
    "quantize-embeddings",
    cl::desc("Also quantize embedding tables (kept float by default)"),
    cl::cat(qoptCategory));
static cl::opt<std::string> algorithm(
    "algorithm",
    cl::desc("How integer weights are chosen: rtn, gptq or awq (default: "
             "gptq below 8 bits when --calib or --calib-table is given, "
             "else rtn)"),
    cl::value_desc("name"), cl::cat(qoptCategory));
static cl::opt<int> gptqScaleGrid(
    "gptq-scale-grid",
    cl::desc("GPTQ: points of the activation-aware input-scale search over "
             "alpha in [0, 1] (default 10; 0 disables it)"),
    cl::init(10), cl::cat(qoptCategory));
static cl::opt<double> gptqDampening(
    "gptq-dampening",
    cl::desc("GPTQ: fraction of mean(diag H) added to H's diagonal (default "
             "0.01)"),
    cl::init(0.01), cl::cat(qoptCategory));
static cl::opt<bool> gptqActOrder(
    "gptq-act-order",
    cl::desc("GPTQ: quantize columns by descending diag(H), with static "
             "groups (default true)"),
    cl::init(true), cl::cat(qoptCategory));
static cl::opt<int> gptqRefineRounds(
    "gptq-refine-rounds",
    cl::desc("GPTQ: rounds of single-code steps and group-scale refits on "
             "the layer's output error after the sweep (default 4; 0: off)"),
    cl::init(4), cl::cat(qoptCategory));
static cl::opt<bool> clipSearch(
    "clip-search",
    cl::desc("GPTQ: choose each weight group's clipping ratio on the "
             "calibration Hessian before the sweep (default: on below 4 "
             "bits)"),
    cl::init(false), cl::cat(qoptCategory));
static cl::opt<unsigned> gptqRounds(
    "gptq-rounds",
    cl::desc("GPTQ: rounds of quantization; each later one measures the "
             "Hessians on the model quantized by the one before (default 2)"),
    cl::init(2), cl::cat(qoptCategory));
static cl::opt<std::string> smooth(
    "smooth", cl::ValueOptional,
    cl::desc("SmoothQuant before integer activations (w8a8, w8a8-static): "
             "--smooth searches the migration strength per layer, "
             "--smooth=ALPHA fixes it (0..1); needs calibration data"),
    cl::value_desc("alpha"), cl::cat(qoptCategory));
static cl::opt<double> outlierThreshold(
    "outlier-threshold",
    cl::desc("Smallest channel abs-max that counts as an activation outlier "
             "in the report and for --outliers=keep-float (default 6.0, "
             "LLM.int8's)"),
    cl::init(6.0), cl::cat(qoptCategory));
static cl::opt<double> outlierRatio(
    "outlier-ratio",
    cl::desc("Smallest ratio of an outlier channel's abs-max to the median "
             "channel's (default 8)"),
    cl::init(8.0), cl::cat(qoptCategory));
static cl::opt<std::string> outliers(
    "outliers",
    cl::desc("Outlier input channels of integer-activation products (w8a8, "
             "w8a8-static, w4a8): keep-float computes them in float beside "
             "the int8 product (LLM.int8; needs --calib); clip quantizes "
             "them with the rest, clipped by the calibrated range; none "
             "(default) does nothing special"),
    cl::value_desc("keep-float|clip|none"), cl::init("none"),
    cl::cat(qoptCategory));
static cl::opt<std::string> weightScales(
    "weight-scales",
    cl::desc("Storage of weight-only products' scales: f16 (half the bytes: "
             "w4a16-g32 is 4.5 bits per weight) or f32; default: the "
             "target's (f16 on x86 with F16C)"),
    cl::value_desc("f16|f32"), cl::init(""), cl::cat(qoptCategory));
static cl::opt<unsigned> reportSamples(
    "report-samples",
    cl::desc("Held-out samples the quality report runs on (default 16)"),
    cl::init(16), cl::cat(qoptCategory));

static cl::opt<std::string> kvCache(
    "kv-cache",
    cl::desc("Decoder graphs with past/present tensors: a fixed-capacity KV "
             "cache of past + 1 slots (--input-shape past=511: 512), "
             "float or int8 (per-token, per-head scales)"),
    cl::value_desc("float|int8"), cl::cat(qoptCategory));

// `qopt eval`: perplexity of a compiled language model.
static cl::SubCommand evalCommand(
    "eval", "Measure a compiled language model's perplexity on token ids");
static cl::opt<std::string> evalArtifact(cl::Positional, cl::Required,
                                         cl::desc("<artifact dir>"),
                                         cl::sub(evalCommand));
static cl::opt<std::string> evalIds("ids", cl::Required,
                                    cl::desc("Token ids .npy (int32/int64)"),
                                    cl::value_desc("file"),
                                    cl::sub(evalCommand));
static cl::opt<std::string>
    evalOffsets("offsets", cl::Required,
                cl::desc("Story offsets .npy (stories + 1 boundaries)"),
                cl::value_desc("file"), cl::sub(evalCommand));
static cl::opt<std::string>
    evalStories("stories",
                cl::desc("Half-open story range FIRST:END (default: all)"),
                cl::sub(evalCommand));
static cl::opt<bool> evalDecode(
    "decode",
    cl::desc("Run a --kv-cache artifact token by token, feeding its present "
             "caches back as past"),
    cl::sub(evalCommand));
static cl::opt<bool> evalJson("json",
                              cl::desc("Print the result as one JSON object"),
                              cl::sub(evalCommand));

static int runEval() {
  auto fail = [](const Twine &msg) {
    errs() << "qopt eval: error: " << msg << "\n";
    return 1;
  };
  auto stories = qopt::calib::TokenStories::load(evalIds, evalOffsets);
  if (!stories)
    return fail(toString(stories.takeError()));
  auto range = qopt::calib::parseStoryRange(evalStories, stories->numStories());
  if (!range)
    return fail(toString(range.takeError()));
  size_t first = range->first, end = range->second;
  char err[512];
  qrt_model *model = qrt_load(evalArtifact.c_str(), err, sizeof err);
  if (!model)
    return fail(err);
  auto evaluate = [&]() -> Expected<qopt::calib::PerplexityResult> {
    auto layout = qopt::calib::readKVCacheLayout(evalArtifact);
    if (!evalDecode) {
      if (layout)
        return createStringError("this artifact runs one decode step with a "
                                 "KV cache: evaluate it with --decode");
      consumeError(layout.takeError());
      return qopt::calib::evaluatePerplexity(model, *stories, first, end,
                                             /*showProgress=*/true);
    }
    if (!layout)
      return layout.takeError();
    return qopt::calib::evaluateDecodePerplexity(
        model, *layout, *stories, first, end, /*showProgress=*/true);
  };
  auto result = evaluate();
  qrt_free(model);
  if (!result)
    return fail(toString(result.takeError()));
  if (evalJson) {
    outs() << formatv("{0}\n", json::Value(json::Object{
                                    {"perplexity", result->perplexity},
                                    {"mean_nll", result->meanNLL},
                                    {"predicted_tokens",
                                     int64_t(result->predictedTokens)},
                                    {"first_story", int64_t(first)},
                                    {"end_story", int64_t(end)},
                                    {"seq", result->seq}}));
    return 0;
  }
  qopt::calib::printPerplexity(outs(), *result, first, end);
  return 0;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(qoptCategory);
  cl::AddExtraVersionPrinter(
      [](raw_ostream &os) { os << "qopt " << QOPT_VERSION << "\n"; });
  cl::ParseCommandLineOptions(
      argc, argv,
      "qopt: compile an ONNX model ahead of time into a native artifact\n");
  // After InitLLVM's handlers, so that an interrupted compile first removes
  // its staging and temporary folders, then ends as the signal asks.
  qopt::installInterruptCleanup();
  if (evalCommand)
    return runEval();
  if (listOps) {
    qopt::onnx_frontend::printSupportedOperators(outs());
    return 0;
  }
  if (checkOnly && !inputFile.empty()) {
    mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
    qopt::installDiagnosticPrinter(context, "qopt");
    auto report = qopt::onnx_frontend::checkONNXFile(context, inputFile);
    if (failed(report))
      return 1;
    qopt::onnx_frontend::printOperatorReport(*report, outs());
    return report->allSupported() ? 0 : 1;
  }

  qopt::registerBuiltinTargets();
  mlir::DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  qopt::installDiagnosticPrinter(context, "qopt");
  if (printTargets) {
    qopt::printTargets(&context, outs());
    return 0;
  }
  if (inputFile.empty()) {
    errs() << "qopt: error: no model given (qopt model.onnx ...; see "
              "--help)\n";
    return 1;
  }

  // Flags that would do nothing in this command are said so, rather than
  // silently ignored (a typo'd --precision leaves --calib without effect).
  bool quantizing = !precision.empty() || !recipe.empty() || !avgBits.empty() ||
                    !maxWeightBytes.empty() || !maxLoss.empty();
  const cl::Option *quantizeOnly[] = {&objective,         &costPeaks,
                                      &candidates,        &sensitivityMode,
                                      &sensitivityMargin, &sensitivitySamples,
                                      &exclude,           &quantizeClassifier,
                                      &quantizeAttention, &attentionScales,
                                      &calibData,         &calibOffsets,
                                      &calibFirst,        &calibSamples,
                                      &calibMethod,       &calibPercentile,
                                      &calibTable,        &quantizeEmbeddings,
                                      &algorithm,         &gptqScaleGrid,
                                      &gptqDampening,     &gptqActOrder,
                                      &gptqRefineRounds,  &clipSearch,
                                      &gptqRounds,        &smooth,
                                      &outlierThreshold,  &outlierRatio,
                                      &outliers,          &weightScales,
                                      &reportSamples};
  if (!quantizing)
    for (const cl::Option *o : quantizeOnly)
      if (o->getNumOccurrences())
        errs() << "qopt: warning: --" << o->ArgStr
               << " has no effect without --precision, --recipe or a budget "
                  "(--avg-bits, --max-weight-bytes, --max-loss)\n";
  if (quantizing && calibData.empty())
    for (const cl::Option *o :
         {(const cl::Option *)&calibFirst, (const cl::Option *)&calibSamples,
          (const cl::Option *)&reportSamples})
      if (o->getNumOccurrences())
        errs() << "qopt: warning: --" << o->ArgStr
               << " has no effect without --calib\n";

  qopt::CompileOptions options;
  options.modelPath = inputFile;
  if (failed(qopt::applyShapeSpecs(context, inputShapes, options.import)) ||
      failed(qopt::applyFreezeSpecs(context, freezeInputs, options.import)))
    return 1;
  options.target.triple = target;
  options.target.cpu = mcpu;
  options.target.features = mattr;
  options.codegen.name = name;
  options.codegen.embedWeights = embedWeights;
  options.codegen.optLevel = optLevel;
  options.codegen.keepIntermediates = keepIntermediates;
  options.codegen.reportScalarOps = remarksMissed;
  options.codegen.verbose = verbose;
  options.verbose = verbose;
  options.force = force;
  options.emitGraphIR = emitGraph;
  options.emitONNX = emitONNX;
  options.import.verbose = verbose;
  options.kvCache = kvCache;
  options.keepHalfPrecision = keepFP16;
  options.quantize.precision = precision;
  options.quantize.recipe = recipe;
  auto positive = [](StringRef flag, StringRef text,
                     std::optional<double> &out) {
    if (text.empty())
      return true;
    double v;
    if (text.getAsDouble(v) || !(v > 0) || !std::isfinite(v)) {
      errs() << "qopt: error: --" << flag << "=" << text
             << ": expected a positive number\n";
      return false;
    }
    out = v;
    return true;
  };
  StringRef lossText = maxLoss;
  options.quantize.maxLossIsPerplexity = lossText.consume_front("ppl:");
  if (!positive("avg-bits", avgBits, options.quantize.avgBits) ||
      !positive("max-weight-bytes", maxWeightBytes,
                options.quantize.maxWeightBytes) ||
      !positive("max-loss", lossText, options.quantize.maxLoss))
    return 1;
  options.quantize.objective = objective;
  if (costPeaks != "auto" && costPeaks != "nominal" &&
      costPeaks != "measured") {
    errs() << "qopt: error: --cost-peaks=" << costPeaks
           << ": expected auto, nominal or measured\n";
    return 1;
  }
  options.quantize.costPeaks = costPeaks;
  options.quantize.candidates = candidates;
  options.quantize.sensitivitySamples = sensitivitySamples;
  double margin = 0;
  if (StringRef(sensitivityMargin).getAsDouble(margin) || !(margin >= 0) ||
      !std::isfinite(margin)) {
    errs() << "qopt: error: --sensitivity-margin=" << sensitivityMargin
           << ": expected a number >= 0\n";
    return 1;
  }
  options.quantize.sensitivityMargin = margin;
  options.quantize.sensitivity = sensitivityMode;
  options.quantize.exclude = exclude;
  options.quantize.quantizeClassifier = quantizeClassifier;
  options.quantize.quantizeAttention = quantizeAttention;
  options.quantize.attentionScales = attentionScales;
  options.quantize.reportSamples = reportSamples;
  options.quantize.quantizeEmbeddings = quantizeEmbeddings;
  options.quantize.algorithm = algorithm;
  options.quantize.gptqDampening = gptqDampening;
  options.quantize.gptqScaleGrid = gptqScaleGrid;
  options.quantize.gptqActOrder = gptqActOrder;
  if (clipSearch.getNumOccurrences())
    options.quantize.clipSearch = clipSearch;
  options.quantize.gptqRefineRounds = gptqRefineRounds;
  options.quantize.gptqRounds = gptqRounds;
  options.quantize.outlierThreshold = outlierThreshold;
  options.quantize.outlierRatio = outlierRatio;
  options.quantize.outliers = outliers;
  options.quantize.weightScales = weightScales;
  if (smooth.getNumOccurrences()) {
    options.quantize.smooth = true;
    if (!smooth.empty()) {
      double alpha;
      if (StringRef(smooth).getAsDouble(alpha) || !(alpha >= 0 && alpha <= 1)) {
        errs() << "qopt: error: --smooth=" << smooth
               << ": the migration strength must be a number in [0, 1]\n";
        return 1;
      }
      options.quantize.smoothAlpha = alpha;
    }
  }
  options.calibration.data = calibData;
  options.calibration.offsets = calibOffsets;
  options.calibration.firstSample = calibFirst;
  options.calibration.samples = calibSamples;
  options.calibration.method = calibMethod;
  options.calibration.percentile = calibPercentile;
  options.calibration.tablePath = calibTable;
  if (outDir.empty()) {
    SmallString<256> d(sys::path::filename(inputFile.getValue()));
    sys::path::replace_extension(d, ".qopt");
    options.outDir = std::string(d);
  } else {
    options.outDir = outDir;
  }
  auto start = std::chrono::steady_clock::now();
  if (verbose)
    errs() << "qopt: compiling " << inputFile << " for " << target << " ("
           << mcpu << ")\n";
  if (failed(qopt::compileModel(context, options)))
    return 1;
  if (emitGraph.empty()) {
    double secs = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - start)
                      .count();
    // The files as the manifest lists them.
    std::string files;
    SmallString<256> manifestPath(options.outDir);
    sys::path::append(manifestPath, "manifest.json");
    if (auto buffer = MemoryBuffer::getFile(manifestPath))
      if (Expected<json::Value> manifest = json::parse((*buffer)->getBuffer())) {
        if (const json::Object *m = manifest->getAsObject())
          if (const json::Array *list = m->getArray("files"))
            for (const json::Value &f : *list)
              if (const json::Object *o = f.getAsObject())
                files += o->getString("name").value_or("").str() + ", ";
      } else {
        consumeError(manifest.takeError());
      }
    errs() << "qopt: wrote " << options.outDir << "/ (" << files
           << "manifest.json) in " << format("%.2f", secs) << " s\n";
  }
  return 0;
}
