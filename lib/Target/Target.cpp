//===- Target.cpp - The target registry and target-independent compile ----===//

#include "qopt/Target/Target.h"
#include "qopt/QOptDialect.h"
#include "qopt/SignatureAttrs.h"
#include "qopt/Target/Artifact.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

#include <mutex>

using namespace mlir;

namespace qopt {

TargetBackend::~TargetBackend() = default;

FailureOr<TargetAttr> TargetBackend::host(MLIRContext *) const {
  return failure();
}

llvm::json::Object TargetCapabilities::toJSON() const {
  llvm::json::Object o{
      {"vector_bits", int64_t(vectorBits)},
      {"int8_dot_product", int8DotProduct},
      {"matrix_units", matrixUnits},
      {"half_weight_scales", halfWeightScales},
      {"native_precisions", llvm::json::Array(nativePrecisions)},
      {"emulated_precisions", llvm::json::Array(emulatedPrecisions)}};
  if (peaks)
    o["peaks"] = peaksToJSON(*peaks);
  else if (!noPeaksReason.empty())
    o["peaks"] = noPeaksReason;
  return o;
}

llvm::json::Object peaksToJSON(const quant::MachinePeaks &peaks) {
  // Rounded to 3 significant digits: nominal figures claim no more.
  auto round3 = [](double v) {
    if (v <= 0)
      return 0.0;
    double scale = std::pow(10.0, std::floor(std::log10(v)) - 2);
    return std::round(v / scale) * scale;
  };
  return llvm::json::Object{{"fp32_gflops", round3(peaks.fp32Flops / 1e9)},
                            {"fp16_gflops", round3(peaks.fp16Flops / 1e9)},
                            {"int8_gops", round3(peaks.int8Ops / 1e9)},
                            {"bandwidth_gbs", round3(peaks.bandwidth / 1e9)},
                            {"int8_native", peaks.int8Native},
                            {"fp16_native", peaks.fp16Native},
                            {"source", peaks.source}};
}

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::unique_ptr<TargetBackend>> backends;
};

Registry &registry() {
  static Registry r;
  return r;
}

} // namespace

bool registerTargetBackend(std::unique_ptr<TargetBackend> backend) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto &b : r.backends)
    if (b->name() == backend->name())
      return false;
  r.backends.push_back(std::move(backend));
  return true;
}

std::vector<const TargetBackend *> registeredTargets() {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<const TargetBackend *> out;
  for (const auto &b : r.backends)
    out.push_back(b.get());
  return out;
}

const TargetBackend *lookupTargetByName(StringRef name) {
  for (const TargetBackend *b : registeredTargets())
    if (b->name() == name)
      return b;
  return nullptr;
}

const TargetBackend *lookupTargetByTriple(StringRef triple,
                                          std::string &error) {
  std::vector<const TargetBackend *> all = registeredTargets();
  for (const TargetBackend *b : all)
    if (b->acceptsTriple(triple))
      return b;
  std::string known;
  llvm::raw_string_ostream os(known);
  for (const TargetBackend *b : all) {
    os << (known.empty() ? "" : "; ") << b->name() << ": ";
    llvm::interleaveComma(b->exampleTriples(), os);
  }
  error = "unknown target '" + triple.str() +
          "'; this build compiles for: " + known +
          " (qopt --print-targets lists them)";
  return nullptr;
}

FailureOr<TargetAttr> hostTarget(MLIRContext *context, std::string &error) {
  context->getOrLoadDialect<QOptDialect>();
  for (const TargetBackend *b : registeredTargets())
    if (FailureOr<TargetAttr> host = b->host(context); succeeded(host))
      return host;
  error = "no registered target runs on this machine (calibration and the "
          "quality report execute the model here)";
  return failure();
}

LogicalResult externalizeWeightsToBlob(ModuleOp module, int64_t threshold,
                                       int64_t alignment,
                                       std::vector<char> &blob,
                                       std::vector<WeightLayoutEntry> &entries) {
  // The function, not the pass: the pass would also attach the blob to the
  // module, a second copy of every weight.
  std::vector<WeightEntry> moved;
  if (failed(externalizeWeights(module, /*entryFunction=*/"", threshold,
                                alignment, blob, moved)))
    return failure();
  for (WeightEntry &e : moved)
    entries.push_back({std::move(e.name), e.offset, e.bytes});
  return success();
}

LogicalResult attachHostTarget(ModuleOp module) {
  std::string error;
  FailureOr<TargetAttr> host = hostTarget(module.getContext(), error);
  if (failed(host))
    return module.emitError() << error;
  module->setAttr(QOptDialect::kTargetAttrName, *host);
  return success();
}

FailureOr<std::pair<const TargetBackend *, TargetAttr>>
moduleTarget(ModuleOp module) {
  auto target = module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
  if (!target)
    return module.emitError()
           << "the module has no " << QOptDialect::kTargetAttrName
           << " attribute: the target must be chosen before lowering";
  const TargetBackend *backend = lookupTargetByName(target.getBackend());
  if (!backend)
    return module.emitError() << "target backend '" << target.getBackend()
                              << "' is not registered in this build";
  return std::make_pair(backend, target);
}

void printTargets(MLIRContext *context, llvm::raw_ostream &os) {
  auto printPeaks = [&](const TargetCapabilities &caps, StringRef indent) {
    if (!caps.peaks) {
      if (!caps.noPeaksReason.empty())
        os << indent << "cost model: " << caps.noPeaksReason << "\n";
      return;
    }
    const quant::MachinePeaks &p = *caps.peaks;
    os << indent << "cost model: " << p.source << "\n"
       << indent
       << llvm::formatv("  fp32 {0:f0} GFLOPS, fp16 {1:f0}{2}, int8 {3:f0} "
                        "GOPS{4}, {5:f0} GB/s\n",
                        p.fp32Flops / 1e9, p.fp16Flops / 1e9,
                        p.fp16Native ? "" : " (at fp32)", p.int8Ops / 1e9,
                        p.int8Native ? "" : " (at fp32)", p.bandwidth / 1e9);
  };
  std::string hostError;
  FailureOr<TargetAttr> host = hostTarget(context, hostError);
  os << "Registered targets:\n";
  for (const TargetBackend *b : registeredTargets()) {
    os << "\n  " << b->name() << ": " << b->description() << "\n";
    os << "    triples: ";
    llvm::interleaveComma(b->exampleTriples(), os);
    os << "\n    processors: ";
    llvm::interleaveComma(b->processorNames(), os);
    os << "\n";
    auto describe = [&](StringRef label, TargetAttr target) {
      TargetCapabilities caps = b->capabilities(target);
      os << "    " << label << " (" << target.getCpu() << "): "
         << caps.vectorBits << "-bit vectors, int8 dot product "
         << (caps.int8DotProduct ? "yes" : "no") << ", matrix units "
         << (caps.matrixUnits ? "yes" : "no") << "\n      native: ";
      llvm::interleaveComma(caps.nativePrecisions, os);
      os << "\n      emulated: ";
      llvm::interleaveComma(caps.emulatedPrecisions, os);
      os << "\n";
      printPeaks(caps, "      ");
    };
    if (succeeded(host) && host->getBackend() == b->name()) {
      describe("this machine", *host);
      if (const quant::MachinePeaks *measured = b->measuredHostPeaks())
        os << "      measured: " << measured->source << "\n";
      continue;
    }
    // Other backends: the cost model's figures for each processor.
    std::vector<std::string> triples = b->exampleTriples();
    for (const std::string &cpu : b->processorNames()) {
      std::string error;
      FailureOr<TargetAttr> t =
          triples.empty()
              ? FailureOr<TargetAttr>(failure())
              : b->resolve(context, triples.front(), cpu, "", error);
      if (failed(t))
        continue;
      os << "    " << cpu << ":\n";
      printPeaks(b->capabilities(*t), "      ");
    }
  }
  if (failed(host))
    os << "\n" << hostError << "\n";
}

//===----------------------------------------------------------------------===//
// Signature and artifact
//===----------------------------------------------------------------------===//

static std::string dtypeName(Type e) {
  if (e.isF32())
    return "float32";
  if (e.isF64())
    return "float64";
  if (e.isF16())
    return "float16";
  if (e.isBF16())
    return "bfloat16";
  if (e.isInteger(1))
    return "bool";
  if (auto i = dyn_cast<IntegerType>(e)) {
    std::string bits = std::to_string(i.getWidth());
    return (i.isUnsigned() ? "uint" : "int") + bits;
  }
  return "unknown";
}

LogicalResult describeSignature(ModuleOp module,
                                std::vector<TensorInfo> &inputs,
                                std::vector<TensorInfo> &outputs) {
  FailureOr<func::FuncOp> entry = lookupEntryFunction(module);
  if (failed(entry))
    return failure();
  func::FuncOp fn = *entry;
  auto describe = [&](Type t, DictionaryAttr attrs, unsigned idx,
                      const char *kind, TensorInfo &info) -> LogicalResult {
    auto rt = dyn_cast<RankedTensorType>(t);
    if (!rt || !rt.hasStaticShape())
      return fn.emitError() << kind << " " << idx
                            << " must be a statically shaped tensor, got "
                            << t;
    auto name = attrs ? attrs.getAs<StringAttr>(QOptDialect::kNameAttrName) : StringAttr();
    auto dtype = attrs ? attrs.getAs<StringAttr>(QOptDialect::kDTypeAttrName) : StringAttr();
    info.name = name ? name.str() : std::string(kind) + std::to_string(idx);
    info.dtype = dtype ? dtype.str() : dtypeName(rt.getElementType());
    info.shape.assign(rt.getShape().begin(), rt.getShape().end());
    if (auto bound = attrs ? attrs.getAs<IntegerAttr>(kIndexBoundAttrName)
                           : IntegerAttr()) {
      info.indexBound = bound.getInt();
      if (auto node = attrs.getAs<StringAttr>(kIndexNodeAttrName))
        info.indexNode = node.str();
    }
    return success();
  };
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    TensorInfo info;
    if (failed(describe(fn.getArgument(i).getType(), fn.getArgAttrDict(i), i,
                        "input", info)))
      return failure();
    inputs.push_back(info);
  }
  for (unsigned i = 0; i < fn.getNumResults(); ++i) {
    TensorInfo info;
    if (failed(describe(fn.getResultTypes()[i], fn.getResultAttrDict(i), i,
                        "output", info)))
      return failure();
    outputs.push_back(info);
  }
  return success();
}

llvm::json::Array tensorsToJSON(ArrayRef<TensorInfo> tensors) {
  llvm::json::Array arr;
  for (const TensorInfo &t : tensors) {
    llvm::json::Object o{{"name", t.name},
                         {"dtype", t.dtype},
                         {"shape", llvm::json::Array(t.shape)}};
    if (t.indexBound > 0) {
      // qrt refuses values outside [-index_bound, index_bound).
      o["index_bound"] = t.indexBound;
      o["index_node"] = t.indexNode;
    }
    arr.push_back(std::move(o));
  }
  return arr;
}

LogicalResult compileArtifact(ModuleOp module, const SerializeOptions &options,
                              StringRef outDir, bool force,
                              ArtifactExtras extras) {
  Location loc = module.getLoc();
  auto target = moduleTarget(module);
  if (failed(target))
    return failure();
  if (llvm::Error e = checkArtifactDestination(outDir, "", force))
    return emitError(loc) << llvm::toString(std::move(e));
  std::vector<TensorInfo> inputs, outputs;
  if (failed(describeSignature(module, inputs, outputs)))
    return failure();
  auto writer = ArtifactWriter::create(outDir, force);
  if (!writer)
    return emitError(loc) << llvm::toString(writer.takeError());
  llvm::json::Object &manifest = (*writer)->manifest();
  manifest["name"] = options.name;
  manifest["inputs"] = tensorsToJSON(inputs);
  manifest["outputs"] = tensorsToJSON(outputs);
  if (failed(target->first->serialize(module, options, **writer)))
    return failure();
  for (auto &kv : extras.manifest)
    manifest[kv.first] = std::move(kv.second);
  for (const auto &[name, contents] : extras.files) {
    StringRef role = StringRef(name).starts_with("report") ? "report" : "extra";
    if (llvm::Error e = (*writer)->addFile(name, contents, role))
      return emitError(loc) << llvm::toString(std::move(e));
  }
  if (llvm::Error e = (*writer)->commit())
    return emitError(loc) << llvm::toString(std::move(e));
  return success();
}

} // namespace qopt
