//===- Sensitivity.cpp - Per-layer quantization sensitivity ---------------===//
//
// One gated model per candidate precision: every measured layer is kept
// twice, float (f) and quantized at the candidate (q), and its users read
// f + g[l] * (q - f) with g a model input of one gate per layer. With g = 0
// the model is the float model exactly (0 * finite = 0, f + 0 = f); with g
// the l-th unit vector only layer l runs quantized. So a candidate costs one
// compile and (layers + 1) runs per sample instead of one compile per
// layer, and the quantized side is the real kernel the compile would use.
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Sensitivity.h"
#include "qopt/Calibration/Calibrate.h"
#include "qopt/Calibration/Progress.h"
#include "qopt/QOptDialect.h"
#include "qopt/Support/Interrupt.h"
#include "qopt/Target/Target.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/xxhash.h"

#include <chrono>
#include <cmath>

using namespace mlir;

namespace qopt {

static constexpr llvm::StringLiteral kGateInputName = "qopt.sensitivity_gate";

int64_t weightBytesAt(StringRef precision, int64_t n, int64_t k,
                      bool halfScales) {
  std::string error;
  std::optional<PrecisionSpec> spec = parsePrecision(precision, error);
  if (!spec)
    return 4 * n * k;
  const quant::WeightScheme &w = spec->weights;
  if (w.kind == quant::WeightKind::F16)
    return 2 * n * k;
  int64_t groups = w.numGroups(k);
  // Half scales for weight-only products only (qopt-quantize weight-scales).
  int64_t scaleBytes =
      halfScales && spec->activations == ActivationMode::Float ? 2 : 4;
  return n * w.packedRowBytes(k) + n * groups * scaleBytes +
         (w.symmetric ? 0 : n * groups);
}

llvm::json::Object SensitivityTable::toJSON() const {
  llvm::json::Array names, rows;
  for (const SensitivityCandidate &c : candidates)
    names.push_back(c.precision + (c.algorithm.empty() ? "" : "/" + c.algorithm));
  for (size_t l = 0; l < layers.size(); ++l) {
    llvm::json::Array values;
    for (double v : loss[l])
      values.push_back(v);
    rows.push_back(llvm::json::Object{{"node", layers[l]},
                                      {"loss", std::move(values)}});
  }
  llvm::json::Object out{{"metric", metric},
                         {"samples", int64_t(samples)},
                         {"seconds", seconds},
                         {"candidates", std::move(names)},
                         {"layers", std::move(rows)}};
  if (base) {
    out["base"] = base->precision +
                  (base->algorithm.empty() ? "" : "/" + base->algorithm);
    out["base_loss"] = baseLoss.value_or(0);
    out["float_loss"] = llvm::json::Array(floatLoss);
  }
  return out;
}

llvm::json::Object SensitivityTable::toCacheJSON() const {
  auto candidateJSON = [](const SensitivityCandidate &c) {
    return llvm::json::Object{{"precision", c.precision},
                              {"algorithm", c.algorithm}};
  };
  llvm::json::Array cands, names, losses, errors, shapeList;
  for (const SensitivityCandidate &c : candidates)
    cands.push_back(candidateJSON(c));
  for (size_t l = 0; l < layers.size(); ++l) {
    names.push_back(layers[l]);
    losses.push_back(llvm::json::Array(loss[l]));
    errors.push_back(llvm::json::Array(lossError[l]));
    shapeList.push_back(llvm::json::Array{shapes[l].first, shapes[l].second});
  }
  llvm::json::Object out{{"metric", metric},
                         {"samples", int64_t(samples)},
                         {"seconds", seconds},
                         {"candidates", std::move(cands)},
                         {"layers", std::move(names)},
                         {"loss", std::move(losses)},
                         {"shapes", std::move(shapeList)},
                         {"float_loss", llvm::json::Array(floatLoss)}};
  out["loss_error"] = std::move(errors);
  out["float_loss_error"] = llvm::json::Array(floatLossError);
  if (base)
    out["base"] = candidateJSON(*base);
  if (baseLoss)
    out["base_loss"] = *baseLoss;
  if (floatNLL)
    out["float_nll"] = *floatNLL;
  if (calibrationNLL)
    out["calibration_nll"] = *calibrationNLL;
  return out;
}

std::optional<SensitivityTable>
SensitivityTable::fromCacheJSON(const llvm::json::Object &cache) {
  auto candidateOf =
      [](const llvm::json::Value &v) -> std::optional<SensitivityCandidate> {
    const llvm::json::Object *o = v.getAsObject();
    auto p = o ? o->getString("precision") : std::nullopt;
    auto a = o ? o->getString("algorithm") : std::nullopt;
    if (!p || !a)
      return std::nullopt;
    return SensitivityCandidate{p->str(), a->str()};
  };
  auto numbers = [](const llvm::json::Value *v,
                    std::vector<double> &out) -> bool {
    const llvm::json::Array *a = v ? v->getAsArray() : nullptr;
    if (!a)
      return false;
    for (const llvm::json::Value &x : *a) {
      std::optional<double> d = x.getAsNumber();
      if (!d)
        return false;
      out.push_back(*d);
    }
    return true;
  };
  SensitivityTable t;
  auto metric = cache.getString("metric");
  auto samples = cache.getInteger("samples");
  const llvm::json::Array *cands = cache.getArray("candidates");
  const llvm::json::Array *names = cache.getArray("layers");
  const llvm::json::Array *losses = cache.getArray("loss");
  const llvm::json::Array *shapeList = cache.getArray("shapes");
  if (!metric || !samples || *samples < 0 || !cands || !names || !losses ||
      !shapeList || losses->size() != names->size() ||
      shapeList->size() != names->size())
    return std::nullopt;
  t.metric = metric->str();
  t.samples = size_t(*samples);
  t.seconds = cache.getNumber("seconds").value_or(0);
  for (const llvm::json::Value &c : *cands) {
    std::optional<SensitivityCandidate> sc = candidateOf(c);
    if (!sc)
      return std::nullopt;
    t.candidates.push_back(*sc);
  }
  for (size_t l = 0; l < names->size(); ++l) {
    auto name = (*names)[l].getAsString();
    std::vector<double> row, shape;
    if (!name || !numbers(&(*losses)[l], row) ||
        row.size() != t.candidates.size() ||
        !numbers(&(*shapeList)[l], shape) || shape.size() != 2)
      return std::nullopt;
    t.layers.push_back(name->str());
    t.loss.push_back(std::move(row));
    t.shapes.push_back({int64_t(shape[0]), int64_t(shape[1])});
  }
  if (!numbers(cache.get("float_loss"), t.floatLoss))
    return std::nullopt;
  if (const llvm::json::Value *b = cache.get("base")) {
    t.base = candidateOf(*b);
    if (!t.base || t.floatLoss.size() != t.layers.size())
      return std::nullopt;
  }
  // The standard errors, one per loss (a table cached before they were
  // measured is measured again).
  const llvm::json::Array *errors = cache.getArray("loss_error");
  if (!errors || errors->size() != t.layers.size() ||
      !numbers(cache.get("float_loss_error"), t.floatLossError) ||
      t.floatLossError.size() != t.floatLoss.size())
    return std::nullopt;
  for (const llvm::json::Value &e : *errors) {
    std::vector<double> row;
    if (!numbers(&e, row) || row.size() != t.candidates.size())
      return std::nullopt;
    t.lossError.push_back(std::move(row));
  }
  t.baseLoss = cache.getNumber("base_loss");
  t.floatNLL = cache.getNumber("float_nll");
  t.calibrationNLL = cache.getNumber("calibration_nll");
  return t;
}

namespace {

std::vector<tosa::MatMulOp> measuredLayers(ModuleOp module) {
  std::vector<tosa::MatMulOp> out;
  module.walk([&](tosa::MatMulOp op) {
    auto a = op->getAttrOfType<AssignmentAttr>(QOptDialect::kAssignAttrName);
    if (a && a.getPrecision() != "float" && analyzeMatMul(op))
      out.push_back(op);
  });
  return out;
}

/// Blends `floatValue` and `quantValue` by gate[index] (a [layers] f32
/// tensor) in one elementwise generic.
Value blend(OpBuilder &b, Location loc, Value floatValue, Value quantValue,
            Value gate, int64_t index) {
  auto type = cast<RankedTensorType>(floatValue.getType());
  int64_t rank = type.getRank();
  MLIRContext *ctx = b.getContext();
  Value init =
      tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
  SmallVector<AffineMap> maps{
      AffineMap::getMultiDimIdentityMap(rank, ctx),
      AffineMap::getMultiDimIdentityMap(rank, ctx),
      AffineMap::get(rank, 0, getAffineConstantExpr(index, ctx)),
      AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, type, ValueRange{floatValue, quantValue, gate}, ValueRange{init},
      maps, iterators, [](OpBuilder &nb, Location nl, ValueRange args) {
        Value d = arith::SubFOp::create(nb, nl, args[1], args[0]);
        Value s = arith::MulFOp::create(nb, nl, args[2], d);
        Value r = arith::AddFOp::create(nb, nl, args[0], s);
        linalg::YieldOp::create(nb, nl, r);
      });
  return generic.getResult(0);
}

/// Turns `module` into the gated model of `candidate` over `layers` (its
/// measured matmuls): a gate input is appended to the entry function. Gate
/// 0 runs a layer at `base` (float when null), gate 1 at `candidate`.
LogicalResult buildGatedModel(ModuleOp module,
                              const SensitivityCandidate &candidate,
                              const SensitivityCandidate *base,
                              const QuantizeOptions &quantize) {
  MLIRContext *ctx = module.getContext();
  std::vector<tosa::MatMulOp> layers = measuredLayers(module);
  func::FuncOp entry;
  for (auto fn : module.getOps<func::FuncOp>())
    if (fn.isPublic())
      entry = fn;
  if (!entry)
    return emitError(module.getLoc()) << "no public entry function";
  NamedAttrList attrs;
  attrs.set(QOptDialect::kNameAttrName, StringAttr::get(ctx, kGateInputName));
  attrs.set(QOptDialect::kDTypeAttrName, StringAttr::get(ctx, "float32"));
  unsigned gateIndex = entry.getNumArguments();
  auto gateType = RankedTensorType::get({int64_t(layers.size())},
                                        Float32Type::get(ctx));
  if (failed(entry.insertArgument(gateIndex, gateType,
                                  attrs.getDictionary(ctx), entry.getLoc())))
    return emitError(entry.getLoc()) << "cannot add the gate input";
  Value gate = entry.getArgument(gateIndex);
  auto floatAssign = AssignmentAttr::get(ctx, "float", "", "sensitivity");
  auto offAssign = base ? AssignmentAttr::get(ctx, base->precision,
                                              base->algorithm, "sensitivity")
                        : floatAssign;
  auto candidateAssign = AssignmentAttr::get(ctx, candidate.precision,
                                             candidate.algorithm, "sensitivity");
  // Every other quantizable op keeps float: only the gated layers (both
  // their copies) move.
  llvm::DenseSet<Operation *> gated;
  for (auto [index, op] : llvm::enumerate(layers)) {
    OpBuilder b(op);
    b.setInsertionPointAfter(op);
    Operation *offCopy = b.clone(*op);
    gated.insert(op);
    gated.insert(offCopy);
    offCopy->setAttr(QOptDialect::kAssignAttrName, offAssign);
    op->setAttr(QOptDialect::kAssignAttrName, candidateAssign);
    Value blended = blend(b, op.getLoc(), offCopy->getResult(0), op.getResult(),
                          gate, int64_t(index));
    op.getResult().replaceAllUsesExcept(blended, blended.getDefiningOp());
  }
  module.walk([&](Operation *op) {
    if (op->hasAttr(QOptDialect::kAssignAttrName) && !gated.contains(op))
      op->setAttr(QOptDialect::kAssignAttrName, floatAssign);
  });
  // The pass's own precision only checks its options here: every op
  // carries an assignment. A model of float alone needs no quantization.
  const SensitivityCandidate *quantized =
      candidate.precision != "float" ? &candidate : base;
  if (!quantized)
    return success();
  PassManager pm(ctx);
  QuantizePassOptions options;
  options.precision = quantized->precision;
  options.algorithm =
      quantized->algorithm.empty() ? "rtn" : quantized->algorithm;
  options.gptqDampening = quantize.gptqDampening;
  options.gptqScaleGrid = quantize.gptqScaleGrid;
  options.gptqActOrder = quantize.gptqActOrder;
  // As the compile itself: clipping searched below 4 bits, each copy by
  // its own precision, unless asked otherwise.
  if (quantize.clipSearch)
    options.clipSearch = *quantize.clipSearch;
  else
    options.clipSearchBelowBits = 4;
  options.gptqRefineRounds = quantize.gptqRefineRounds;
  options.weightScales =
      quantize.weightScales.empty() ? "f32" : quantize.weightScales;
  pm.addPass(createQuantizePass(options));
  return pm.run(module);
}

/// log-softmax of `n` logits into `out`.
void logSoftmax(const float *x, int64_t n, std::vector<double> &out) {
  out.resize(n);
  double m = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    m = std::max(m, double(x[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i)
    sum += std::exp(double(x[i]) - m);
  double lse = m + std::log(sum);
  for (int64_t i = 0; i < n; ++i)
    out[i] = double(x[i]) - lse;
}

/// Token `i` of an integer id tensor.
int64_t readId(const io::Tensor &ids, int64_t i) {
  if (ids.dtype == "int64")
    return reinterpret_cast<const int64_t *>(ids.data.data())[i];
  if (ids.dtype == "int32")
    return reinterpret_cast<const int32_t *>(ids.data.data())[i];
  return -1;
}

} // namespace

std::vector<Operation *> sensitivityLayers(ModuleOp module) {
  std::vector<Operation *> out;
  for (tosa::MatMulOp op : measuredLayers(module))
    out.push_back(op);
  return out;
}

std::string sensitivityCacheKey(ModuleOp module,
                                const QuantizeOptions &quantize,
                                const CalibrationOptions &data,
                                ArrayRef<SensitivityCandidate> candidates) {
  std::string text;
  llvm::raw_string_ostream os(text);
  for (tosa::MatMulOp op : measuredLayers(module)) {
    QuantizableMatMul m = *analyzeMatMul(op);
    os << onnxNodeName(op.getLoc()) << ' ' << m.activation.getType() << ' '
       << m.n << 'x' << m.k << ' ';
    if (std::optional<std::vector<float>> w = weightRows(m))
      os << llvm::xxh3_64bits(
          ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(w->data()),
                            w->size() * sizeof(float)));
    if (auto assigned =
            op->getAttrOfType<AssignmentAttr>(QOptDialect::kAssignAttrName))
      os << ' ' << assigned;
    os << '\n';
  }
  for (const SensitivityCandidate &c : candidates)
    os << "candidate " << c.precision << '/' << c.algorithm << '\n';
  os << "precision " << quantize.precision << "\nsensitivity "
     << quantize.sensitivity << "\nobjective " << quantize.objective
     << "\nsize-budget " << (quantize.avgBits || quantize.maxWeightBytes)
     << "\nsamples " << quantize.sensitivitySamples << "\nscales "
     << quantize.weightScales << "\nclip "
     << (quantize.clipSearch ? int(*quantize.clipSearch) : -1) << "\ngptq "
     << quantize.gptqDampening << ' ' << quantize.gptqScaleGrid << ' '
     << quantize.gptqActOrder << ' ' << quantize.gptqRefineRounds
     << "\noutliers " << quantize.outliers << ' ' << quantize.outlierThreshold
     << ' ' << quantize.outlierRatio << "\nsmooth " << quantize.smooth << ' '
     << quantize.smoothAlpha << "\ndata " << data.data << ' ' << data.offsets
     << ' ' << data.firstSample << ' ' << data.samples << '\n';
  return llvm::utohexstr(llvm::xxh3_64bits(text), /*LowerCase=*/true, 16);
}

LogicalResult measureSensitivity(ModuleOp module,
                                 ArrayRef<SensitivityCandidate> candidates,
                                 const QuantizeOptions &quantize,
                                 const CalibrationOptions &data, size_t samples,
                                 SensitivityTable &table,
                                 const SensitivityCandidate *base) {
  auto start = std::chrono::steady_clock::now();
  Location loc = UnknownLoc::get(module.getContext());
  std::vector<tosa::MatMulOp> layers = measuredLayers(module);
  table = SensitivityTable();
  table.candidates.assign(candidates.begin(), candidates.end());
  if (base)
    table.base = *base;
  for (tosa::MatMulOp op : layers) {
    QuantizableMatMul m = *analyzeMatMul(op);
    table.layers.push_back(onnxNodeName(op.getLoc()));
    table.shapes.push_back({m.n, m.k});
  }
  table.loss.assign(layers.size(), std::vector<double>(candidates.size(), 0));
  table.lossError.assign(layers.size(),
                         std::vector<double>(candidates.size(), 0));
  if (layers.empty())
    return success();

  // In context, float is measured like any candidate (it is not free
  // there: it takes a layer's error away), and the reference outputs come
  // from a float model of their own.
  std::vector<SensitivityCandidate> measured(candidates.begin(),
                                             candidates.end());
  if (base)
    measured.push_back({"float", ""});
  std::optional<calib::ProgressBar> progress;
  if (data.showProgress)
    progress.emplace("qopt: sensitivity", measured.size() + (base ? 1 : 0),
                     "models");
  size_t done = 0;

  /// One compiled gated model.
  struct GatedModel {
    llvm::SmallString<128> dir;
    CleanupOnInterrupt dirGuard;
    qrt_model *model = nullptr;
    ~GatedModel() {
      if (model)
        qrt_free(model);
      if (!dir.empty())
        llvm::sys::fs::remove_directories(dir);
    }
  };
  auto compileGated = [&](const SensitivityCandidate &candidate,
                          const SensitivityCandidate *off,
                          GatedModel &out) -> LogicalResult {
    OwningOpRef<ModuleOp> gated(module.clone());
    if (failed(buildGatedModel(*gated, candidate, off, quantize)))
      return failure();
    if (failed(attachHostTarget(*gated)))
      return failure();
    if (!createGuardedTempDirectory("qopt-sensitivity", out.dir, out.dirGuard))
      return emitError(loc) << "cannot create a temporary folder for the "
                               "sensitivity model";
    SerializeOptions codegen;
    codegen.name = "sensitivity";
    codegen.helperModel = true;
    std::string artifact = (out.dir + "/model").str();
    if (failed(compileArtifact(*gated, codegen, artifact, /*force=*/false)))
      return failure();
    char err[512];
    out.model = qrt_load(artifact.c_str(), err, sizeof err);
    if (!out.model)
      return emitError(loc) << "cannot load the sensitivity model: " << err;
    return success();
  };

  // The samples: held out from calibration when there are more.
  GatedModel first;
  if (failed(
          compileGated(base ? SensitivityCandidate{"float", ""} : measured[0],
                       nullptr, first)))
    return failure();
  std::vector<calib::InputSpec> inputs = calib::modelInputs(first.model);
  // The gate is the last input; samples feed the others.
  inputs.pop_back();
  auto source = calib::openSamples(data.data, data.offsets, inputs,
                                   data.firstSample + data.samples, samples);
  if (!source) {
    llvm::consumeError(source.takeError());
    source = calib::openSamples(data.data, data.offsets, inputs,
                                data.firstSample, samples);
    if (!source)
      return emitError(loc) << llvm::toString(source.takeError());
  }
  table.samples = (*source)->size();
  calib::OutputBuffers probe(first.model);
  const qrt_tensor_info out = probe.infos[0];
  // A language model: one [1, seq] integer input, [1, seq, vocab] logits.
  bool language = inputs.size() == 1 && inputs[0].shape.size() == 2 &&
                  StringRef(inputs[0].dtype).starts_with("int") &&
                  out.rank == 3 && StringRef(out.dtype) == "float32";
  table.metric = language ? "kl" : "nsr";
  int64_t vocab = language ? out.shape[2] : 1;
  const int64_t elements = int64_t(out.num_elements);
  std::vector<float> gateValues(layers.size(), 0.f);
  std::vector<double> lp, lq;
  // Runs `sample` on `model` with the gates in `gateValues` into `outputs`.
  auto runSample = [&](qrt_model *model, const calib::Sample &sample,
                       calib::OutputBuffers &outputs) -> LogicalResult {
    std::vector<const void *> in;
    for (const io::Tensor &t : sample.inputs)
      in.push_back(t.data.data());
    in.push_back(gateValues.data());
    if (qrt_run(model, in.data(), outputs.pointers.data()) != 0)
      return emitError(loc)
             << "the sensitivity model failed on " << sample.source;
    return success();
  };
  // Language models: the positions of `sample` with logits.
  auto rowsOf = [&](const calib::Sample &sample) -> int64_t {
    return sample.validTokens >= 0
               ? std::min<int64_t>(sample.validTokens, out.shape[1])
               : out.shape[1];
  };
  // Adds the NLL of the sample's true next tokens under logits `r` to
  // `sum` over `count` tokens.
  auto addNLL = [&](const calib::Sample &sample, const float *r, double &sum,
                    size_t &count) {
    const io::Tensor &ids = sample.inputs[0];
    for (int64_t t = 0; t + 1 < rowsOf(sample); ++t) {
      int64_t next = readId(ids, t + 1);
      if (next < 0 || next >= vocab)
        continue;
      logSoftmax(r + t * vocab, vocab, lp);
      sum -= lp[next];
      ++count;
    }
  };
  // The loss of output `q` against the float output `r` of `sample`: the
  // summed KL over its positions, or the squared error.
  auto lossOf = [&](const calib::Sample &sample, const float *r,
                    const float *q) {
    double total = 0;
    if (language) {
      for (int64_t t = 0; t < rowsOf(sample); ++t) {
        logSoftmax(r + t * vocab, vocab, lp);
        logSoftmax(q + t * vocab, vocab, lq);
        double sum = 0;
        for (int64_t v = 0; v < vocab; ++v)
          sum += std::exp(lp[v]) * (lp[v] - lq[v]);
        total += std::max(0.0, sum);
      }
    } else {
      for (int64_t i = 0; i < elements; ++i) {
        double d = double(q[i]) - r[i];
        total += d * d;
      }
    }
    return total;
  };

  // The float outputs of every sample (gate 0 of an isolated model is the
  // float model), its NLL and the loss normaliser.
  std::vector<std::vector<float>> refs;
  size_t positions = 0, predicted = 0;
  double refEnergy = 0, nll = 0;
  {
    calib::OutputBuffers ref(first.model);
    for (size_t s = 0; s < (*source)->size(); ++s) {
      auto sample = (*source)->get(s);
      if (!sample)
        return emitError(loc) << llvm::toString(sample.takeError());
      if (failed(runSample(first.model, *sample, ref)))
        return failure();
      const float *r = ref.asFloats(0);
      refs.emplace_back(r, r + elements);
      if (language) {
        addNLL(*sample, r, nll, predicted);
        positions += rowsOf(*sample);
      } else {
        for (int64_t i = 0; i < elements; ++i)
          refEnergy += double(r[i]) * r[i];
      }
    }
    if (language && predicted)
      table.floatNLL = nll / double(predicted);
    // A perplexity budget is relative to the float model's perplexity over
    // the data, which a handful of samples estimates badly (stories260k:
    // 3.38 on the 8 sensitivity stories, 3.58 on the 100 calibration ones,
    // 4.02 on dev 100-499): the float NLL comes from every calibration
    // sample instead, once.
    if (language) {
      auto all = calib::openSamples(data.data, data.offsets, inputs,
                                    data.firstSample, data.samples);
      if (!all) {
        llvm::consumeError(all.takeError());
      } else {
        double allNLL = 0;
        size_t count = 0;
        for (size_t s = 0; s < (*all)->size(); ++s) {
          auto sample = (*all)->get(s);
          if (!sample)
            return emitError(loc) << llvm::toString(sample.takeError());
          if (failed(runSample(first.model, *sample, ref)))
            return failure();
          addNLL(*sample, ref.asFloats(0), allNLL, count);
        }
        if (count)
          table.calibrationNLL = allNLL / double(count);
      }
    }
  }
  double scale = language ? (positions ? 1.0 / double(positions) : 0)
                          : (refEnergy > 0 ? 1.0 / refEnergy : 0);
  if (progress && base)
    progress->update(++done);

  for (auto [c, candidate] : llvm::enumerate(measured)) {
    GatedModel owned;
    GatedModel *gated = &first;
    if (base || c > 0) {
      if (failed(compileGated(candidate, base, owned)))
        return failure();
      gated = &owned;
    }
    calib::OutputBuffers run(gated->model);
    std::vector<double> loss(layers.size(), 0);
    // Per layer, each sample's loss (in context: its change from the
    // base's on that sample), for the standard errors.
    std::vector<std::vector<double>> perSample(layers.size());
    double baseLoss = 0;
    for (size_t s = 0; s < (*source)->size(); ++s) {
      auto sample = (*source)->get(s);
      if (!sample)
        return emitError(loc) << llvm::toString(sample.takeError());
      const float *r = refs[s].data();
      double sampleBase = 0;
      if (base) {
        std::fill(gateValues.begin(), gateValues.end(), 0.f);
        if (failed(runSample(gated->model, *sample, run)))
          return failure();
        sampleBase = lossOf(*sample, r, run.asFloats(0));
        baseLoss += sampleBase;
      }
      for (size_t l = 0; l < layers.size(); ++l) {
        std::fill(gateValues.begin(), gateValues.end(), 0.f);
        gateValues[l] = 1.f;
        if (failed(runSample(gated->model, *sample, run)))
          return failure();
        double value = lossOf(*sample, r, run.asFloats(0));
        loss[l] += value;
        perSample[l].push_back(value - sampleBase);
      }
    }
    if (base)
      table.baseLoss = baseLoss * scale;
    for (size_t l = 0; l < layers.size(); ++l) {
      // In context: the base's loss shared out evenly plus what this
      // layer's move from the base changes, so a configuration's sum is
      // the base's loss plus its layers' changes.
      double value = base ? (loss[l] - baseLoss) * scale +
                                *table.baseLoss / double(layers.size())
                          : loss[l] * scale;
      // The loss is scale x the sum over the samples of their values: its
      // standard error is scale x sqrt(S x their sample variance).
      double error = 0;
      if (size_t n = perSample[l].size(); n > 1) {
        double mean = 0, var = 0;
        for (double v : perSample[l])
          mean += v / double(n);
        for (double v : perSample[l])
          var += (v - mean) * (v - mean) / double(n - 1);
        error = scale * std::sqrt(double(n) * var);
      }
      if (c < candidates.size()) {
        table.loss[l][c] = value;
        table.lossError[l][c] = error;
      } else {
        table.floatLoss.push_back(value);
        table.floatLossError.push_back(error);
      }
    }
    if (progress)
      progress->update(++done);
  }
  if (progress)
    progress->finish();
  table.seconds = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  return success();
}

} // namespace qopt
