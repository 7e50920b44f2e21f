//===- Calibration.cpp - Calibrating a graph before quantization ----------===//

#include "InstrumentedModel.h"
#include "qopt/Calibration/Calibrate.h"
#include "qopt/Driver/Driver.h"
#include "qopt/QOptDialect.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/StringMap.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace qopt {
namespace {

/// Compiles a copy of `module` with its observers as outputs, runs it on the
/// calibration samples and fills `table`.
LogicalResult runCalibration(ModuleOp module, const CalibrationOptions &options,
                             const SerializeOptions &codegen,
                             calib::CalibrationTable &table,
                             std::unique_ptr<InstrumentedModel> &instrumented) {
  // Not an ONNX node: errors here speak about the whole model.
  Location loc = UnknownLoc::get(module.getContext());
  OwningOpRef<ModuleOp> copy(module.clone());
  instrumented = std::make_unique<InstrumentedModel>();
  if (failed(instrumented->build(*copy, codegen, "calibration")))
    return failure();
  qrt_model *model = instrumented->model;
  auto samples =
      calib::openSamples(options.data, options.offsets,
                         calib::modelInputs(model), options.firstSample,
                         options.samples);
  if (!samples)
    return emitError(loc) << llvm::toString(samples.takeError());
  if (llvm::Error e = calib::calibrate(model, **samples, table,
                                       options.showProgress))
    return emitError(loc) << llvm::toString(std::move(e));
  return success();
}

} // namespace

LogicalResult checkCalibrationOptions(MLIRContext *context,
                                      const CalibrationOptions &options) {
  Location loc = UnknownLoc::get(context);
  if (!calib::parseRangeMethod(options.method))
    return emitError(loc) << "unknown calibration method '" << options.method
                          << "' (expected minmax, percentile, entropy or mse)";
  if (!(options.percentile > 0 && options.percentile <= 100))
    return emitError(loc) << "--calib-percentile must be in (0, 100], got "
                          << options.percentile;
  return success();
}

LogicalResult validateCalibrationData(ModuleOp module,
                                      const CalibrationOptions &options,
                                      size_t extraSamples) {
  MLIRContext *context = module.getContext();
  Location loc = UnknownLoc::get(context);
  if (failed(checkCalibrationOptions(context, options)))
    return failure();
  if (options.data.empty()) {
    if (!options.offsets.empty())
      return emitError(loc) << "--calib-offsets='" << options.offsets
                            << "' needs --calib=IDS (the token ids)";
    return success();
  }
  if (options.samples == 0)
    return emitError(loc) << "--calib-samples=0: calibration needs at least "
                             "one sample";
  std::vector<TensorInfo> inputs, outputs;
  if (failed(describeSignature(module, inputs, outputs)))
    return failure();
  std::vector<calib::InputSpec> specs;
  for (const TensorInfo &t : inputs)
    specs.push_back({t.name, t.dtype, t.shape});
  auto samples =
      calib::openSamples(options.data, options.offsets, specs,
                         options.firstSample, options.samples + extraSamples);
  if (!samples)
    return emitError(loc) << llvm::toString(samples.takeError());
  for (size_t i = 0; i < (*samples)->size(); ++i) {
    llvm::Expected<calib::Sample> sample = (*samples)->get(i);
    if (!sample)
      return emitError(loc) << llvm::toString(sample.takeError());
  }
  return success();
}

/// Whether a probe feeds a matmul (the input probes, not the report's
/// output probes).
static bool feedsMatMul(ObserveOp op) {
  // Float matmuls before quantization; after it (GPTQ's second round),
  // quantized matmuls and the activation quantizers in front of them.
  return llvm::any_of(op->getUsers(), [](Operation *u) {
    return isa<tosa::MatMulOp, MatMulOp, QuantizeOp, DynamicQuantizeOp>(u);
  });
}

void copyInputStatistics(ModuleOp from, ModuleOp to) {
  llvm::StringMap<ObserveOp> probes;
  from.walk([&](ObserveOp op) { probes[op.getId()] = op; });
  to.walk([&](ObserveOp op) {
    auto it = probes.find(op.getId());
    if (it == probes.end())
      return;
    ObserveOp source = it->second;
    if (auto gram = source.getGramAttr())
      op.setGramAttr(gram);
    if (auto mean = source.getChannelMeanAbsAttr())
      op.setChannelMeanAbsAttr(mean);
  });
}

LogicalResult calibrateGraph(ModuleOp module, const QuantizeOptions &quantize,
                             const CalibrationOptions &options,
                             const SerializeOptions &codegen,
                             const StatisticsNeeds &needs,
                             llvm::json::Object &summary,
                             std::unique_ptr<InstrumentedModel> *keep) {
  // Not an ONNX node: errors here speak about the whole model.
  Location loc = UnknownLoc::get(module.getContext());
  if (failed(checkCalibrationOptions(module.getContext(), options)))
    return failure();
  calib::RangeMethod method = *calib::parseRangeMethod(options.method);
  calib::CalibrationTable table;
  module.walk([&](ObserveOp op) {
    if (!feedsMatMul(op))
      return;
    calib::TensorStats &stats = table.tensors[op.getId().str()];
    stats.wantGram = needs.gram;
    stats.sampleCapacity = needs.sampleRows;
  });
  if (!options.data.empty()) {
    std::unique_ptr<InstrumentedModel> instrumented;
    if (failed(runCalibration(module, options, codegen, table, instrumented)))
      return failure();
    if (keep)
      *keep = std::move(instrumented);
    if (!options.tablePath.empty())
      if (llvm::Error e = table.save(options.tablePath))
        return emitError(loc) << llvm::toString(std::move(e));
  } else if (!options.tablePath.empty()) {
    auto loaded = calib::CalibrationTable::load(options.tablePath);
    if (!loaded)
      return emitError(loc) << llvm::toString(loaded.takeError());
    table = std::move(*loaded);
  } else {
    return emitError(loc) << "precision '" << quantize.precision
                          << "' needs calibration data: give --calib=DATA "
                             "or --calib-table=FILE";
  }

  // Record the chosen range on every probe.
  llvm::json::Array ranges;
  bool missing = false;
  module.walk([&](ObserveOp op) {
    auto it = table.tensors.find(op.getId().str());
    if (it == table.tensors.end() || it->second.empty) {
      op.emitError("the calibration table has no statistics for '")
          << op.getId() << "' (was it made for another model?)";
      missing = true;
      return;
    }
    const calib::TensorStats &stats = it->second;
    double range = stats.range(method, options.percentile);
    op.setAbsmaxAttr(FloatAttr::get(Float32Type::get(op.getContext()), range));
    if (!feedsMatMul(op))
      return;
    MLIRContext *ctx = op.getContext();
    int64_t c = stats.channels();
    op.setChannelAbsmaxAttr(floatTensorAttr(ctx, {c}, stats.channelAbsMax));
    if (needs.sampleRows) {
      if (stats.numSampleRows() == 0) {
        op.emitError("the calibration table has no sample rows for '")
            << op.getId()
            << "': calibrate again with --calib (tables made without "
               "--smooth do not keep them)";
        missing = true;
        return;
      }
      op.setSampleRowsAttr(
          floatTensorAttr(ctx, {stats.numSampleRows(), c}, stats.sampleRows));
    }
    if (needs.gram) {
      if (stats.gram.size() != size_t(c * c)) {
        op.emitError("the calibration table has no Gram matrix for '")
            << op.getId()
            << "': calibrate again with --calib (tables made without "
               "--algorithm=gptq|awq do not keep them)";
        missing = true;
        return;
      }
      op.setGramAttr(doubleTensorAttr(ctx, {c, c}, stats.gram));
      op.setChannelMeanAbsAttr(floatTensorAttr(ctx, {c}, stats.channelMeanAbs()));
    }
    ranges.push_back(llvm::json::Object{{"id", op.getId()},
                                        {"absmax", it->second.absMax()},
                                        {"range", range}});
  });
  if (missing)
    return failure();
  summary["calibration"] = llvm::json::Object{
      {"method", options.method},
      {"percentile", options.percentile},
      {"samples", table.samples},
      {"ranges", std::move(ranges)}};
  return success();
}

} // namespace qopt
