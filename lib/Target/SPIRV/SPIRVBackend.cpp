//===- SPIRVBackend.cpp - The SPIR-V (Vulkan) target backend
//---------------===//
//
// Runs the shared GPU pipeline, lowers its kernels to SPIR-V for Vulkan,
// serializes one SPIR-V module per kernel and turns the host function (a
// straight sequence of gpu.launch_func over views of the weights and
// workspace buffers) into the manifest's dispatch list, all through the
// shared ArtifactWriter. Anything the host function does besides launching
// kernels is an op without a GPU lowering: it is refused, named, before a
// file is written.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Target/Artifact.h"
#include "qopt/Target/GPU/DispatchList.h"
#include "qopt/Target/GPU/GPUPipeline.h"
#include "qopt/Target/SPIRV/SPIRVTarget.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Conversion/GPUToSPIRV/GPUToSPIRVPass.h"
#include "mlir/Conversion/MathToSPIRV/MathToSPIRVPass.h"
#include "mlir/Conversion/VectorToSPIRV/VectorToSPIRV.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVDialect.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVOps.h"
#include "mlir/Dialect/SPIRV/IR/TargetAndABI.h"
#include "mlir/Dialect/SPIRV/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/SPIRV/Serialization.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/TargetParser/Triple.h"

#include "llvm/ADT/StringSet.h"

#include <chrono>
#include <set>

using namespace mlir;

namespace qopt::spirv {

namespace {

namespace sp = mlir::spirv;

/// The SPIR-V capabilities and extensions a feature string allows.
sp::VerCapExtAttr vceFor(MLIRContext *ctx, const TargetAttr *target,
                         StringRef features) {
  auto has = [&](StringRef f) {
    if (target)
      return target->hasFeature(f);
    return features.contains(("+" + f).str());
  };
  SmallVector<sp::Capability> caps = {sp::Capability::Shader};
  SmallVector<sp::Extension> exts = {
      sp::Extension::SPV_KHR_storage_buffer_storage_class};
  if (has("int8")) {
    caps.append({sp::Capability::Int8, sp::Capability::StorageBuffer8BitAccess,
                 sp::Capability::UniformAndStorageBuffer8BitAccess});
    exts.push_back(sp::Extension::SPV_KHR_8bit_storage);
  }
  if (has("int16")) {
    caps.append(
        {sp::Capability::Int16, sp::Capability::StorageBuffer16BitAccess});
    exts.push_back(sp::Extension::SPV_KHR_16bit_storage);
  }
  if (has("float16"))
    caps.push_back(sp::Capability::Float16);
  if (has("int64"))
    caps.push_back(sp::Capability::Int64);
  if (has("float64"))
    caps.push_back(sp::Capability::Float64);
  // Integer dot product (VK_KHR_shader_integer_dot_product, core and
  // required in Vulkan 1.3): OpSDot on 4 int8 lanes, packed or not.
  if (has("dotprod") && has("int8")) {
    caps.append({sp::Capability::DotProduct,
                 sp::Capability::DotProductInput4x8Bit,
                 sp::Capability::DotProductInput4x8BitPacked});
    exts.push_back(sp::Extension::SPV_KHR_integer_dot_product);
  }
  // SPIR-V 1.3 (Vulkan 1.1): from 1.4 on, entry points must list their
  // storage buffers, which the ABI lowering does only for a 1.4+
  // environment while spirv-update-vce may lower the version below it.
  return sp::VerCapExtAttr::get(sp::Version::V_1_3, caps, exts, ctx);
}

/// The feature an element type's buffers need, if any.
std::optional<StringRef> featureFor(Type type) {
  if (type.isF16() || type.isBF16())
    return StringRef("float16");
  if (type.isF64())
    return StringRef("float64");
  if (auto i = dyn_cast<IntegerType>(type)) {
    if (i.getWidth() == 64)
      return StringRef("int64");
    if (i.getWidth() == 16)
      return StringRef("int16");
    if (i.getWidth() <= 8)
      return StringRef("int8");
  }
  return std::nullopt;
}

struct AttachTargetPass
    : PassWrapper<AttachTargetPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(AttachTargetPass)

  AttachTargetPass() = default;
  AttachTargetPass(const AttachTargetPass &other) : PassWrapper(other) {}
  explicit AttachTargetPass(std::string f) { features = std::move(f); }

  StringRef getArgument() const override { return "qopt-spirv-attach-target"; }
  StringRef getDescription() const override {
    return "Attach the Vulkan SPIR-V target environment and each kernel's "
           "workgroup size";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<sp::SPIRVDialect>();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = module.getContext();
    auto target =
        module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
    std::string allowed =
        target ? target.getFeatures().str()
               : (features.empty() ? std::string(kDefaultFeatures)
                                   : std::string(features));
    TargetAttr *targetPtr = target ? &target : nullptr;
    auto has = [&](StringRef f) {
      return targetPtr ? target.hasFeature(f)
                       : StringRef(allowed).contains(("+" + f).str());
    };
    module->setAttr(sp::getTargetEnvAttrName(),
                    sp::TargetEnvAttr::get(vceFor(ctx, targetPtr, allowed),
                                           sp::getDefaultResourceLimits(ctx),
                                           sp::ClientAPI::Vulkan));
    WalkResult result = module.walk([&](mlir::gpu::GPUFuncOp kernel) {
      if (!kernel.isKernel())
        return WalkResult::advance();
      std::optional<ArrayRef<int32_t>> size = kernel.getKnownBlockSize();
      if (!size) {
        kernel.emitError() << "kernel '" << kernel.getName()
                           << "' has no static workgroup size";
        return WalkResult::interrupt();
      }
      kernel->setAttr(sp::getEntryPointABIAttrName(),
                      sp::getEntryPointABIAttr(ctx, *size));
      for (BlockArgument arg : kernel.getArguments()) {
        auto memref = dyn_cast<MemRefType>(arg.getType());
        if (!memref) {
          kernel.emitError()
              << "kernel '" << kernel.getName() << "' takes a scalar "
              << arg.getType()
              << " argument: the SPIR-V target passes only buffers (push "
                 "constants are not implemented)";
          return WalkResult::interrupt();
        }
        std::optional<StringRef> need = featureFor(memref.getElementType());
        if (need && !has(*need)) {
          kernel.emitError()
              << "a buffer of " << memref.getElementType() << " needs the '"
              << *need << "' feature, which the target excludes";
          return WalkResult::interrupt();
        }
      }
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

  Option<std::string> features{
      *this, "features",
      llvm::cl::desc("Target features when the module has no qopt.target"),
      llvm::cl::init("")};
};

class SPIRVBackend final : public TargetBackend {
public:
  StringRef name() const override { return "spirv"; }
  StringRef description() const override {
    return "SPIR-V compute shaders for Vulkan 1.3 (lavapipe, any Vulkan GPU): "
           "one .spv per kernel and a dispatch list in manifest.json";
  }
  std::vector<std::string> exampleTriples() const override {
    return {"spirv64-unknown-vulkan1.3"};
  }
  bool acceptsTriple(StringRef tripleName) const override {
    llvm::Triple triple(tripleName);
    return (triple.getArch() == llvm::Triple::spirv64 ||
            triple.getArch() == llvm::Triple::spirv) &&
           triple.getOS() == llvm::Triple::Vulkan;
  }
  std::vector<std::string> processorNames() const override {
    return {"generic"};
  }

  FailureOr<TargetAttr> resolve(MLIRContext *context, StringRef triple,
                                StringRef cpu, StringRef features,
                                std::string &error) const override {
    if (!acceptsTriple(triple)) {
      error = "the spirv target compiles for spirv64-unknown-vulkan1.3, not '" +
              triple.str() + "'";
      return failure();
    }
    // A cross target: "native" is the generic Vulkan device.
    if (cpu.empty() || cpu == "native")
      cpu = "generic";
    if (cpu != "generic") {
      error = "unknown SPIR-V device '" + cpu.str() + "' (known: generic)";
      return failure();
    }
    std::string all = kDefaultFeatures;
    if (!features.empty())
      all += "," + features.str();
    return TargetAttr::get(context, name(), triple, cpu, all);
  }

  TargetCapabilities capabilities(TargetAttr target) const override {
    TargetCapabilities caps;
    caps.vectorBits = 0; // Subgroups are not used yet.
    // OpSDot needs both features (vceFor).
    caps.int8DotProduct =
        target && target.hasFeature("dotprod") && target.hasFeature("int8");
    gpu::addGPUPrecisions(caps);
    caps.noPeaksReason = "none: the Vulkan device is picked when the model "
                         "runs (QRT_VULKAN_DEVICE), not at compile time";
    return caps;
  }

  void buildPipeline(OpPassManager &pm, TargetAttr target) const override {
    gpu::GPUStrategy strategy;
    gpu::buildGPUTensorPipeline(pm);
    gpu::buildGPUBufferPipeline(pm, strategy);
    gpu::buildGPUMappingPipeline(pm, strategy);
    buildSPIRVPipeline(pm, target);
  }

  void registerPipelines() const override { registerSPIRVPipelines(); }

  LogicalResult serialize(ModuleOp module, const SerializeOptions &options,
                          ArtifactWriter &writer) const override;
};

/// "+a,-b,+c" → ["a", "c"].
llvm::json::Array enabledFeatures(StringRef features) {
  SmallVector<StringRef> parts;
  features.split(parts, ',', -1, /*KeepEmpty=*/false);
  llvm::StringSet<> on;
  for (StringRef f : parts) {
    if (f.consume_front("+"))
      on.insert(f);
    else if (f.consume_front("-"))
      on.erase(f);
  }
  SmallVector<std::string> sorted;
  for (auto &kv : on)
    sorted.push_back(kv.getKey().str());
  llvm::sort(sorted);
  llvm::json::Array out;
  for (std::string &f : sorted)
    out.push_back(f);
  return out;
}

/// vector.reduction <add> of the product of two sign-extended vector<4xi8>
/// (qopt-gpu-fuse-integer-matmul's four-code step) to OpSDot where the
/// kernel's target environment has the dot-product capabilities; without
/// them the reduction stays plain i32 arithmetic.
struct IntegerDotProductPass
    : PassWrapper<IntegerDotProductPass,
                  OperationPass<mlir::gpu::GPUModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(IntegerDotProductPass)
  StringRef getArgument() const override {
    return "qopt-spirv-integer-dot-product";
  }
  StringRef getDescription() const override {
    return "int8 dot-product reductions to OpSDot where the target "
           "environment allows it";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<sp::SPIRVDialect, vector::VectorDialect>();
  }
  void runOnOperation() override {
    sp::TargetEnvAttr env = sp::lookupTargetEnv(getOperation());
    if (!env)
      return;
    sp::TargetEnv target(env);
    if (!target.allows(sp::Capability::DotProduct))
      return;
    RewritePatternSet patterns(&getContext());
    populateVectorReductionToSPIRVDotProductPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // MLIR's version deduction takes OpSDot and its capabilities for SPIR-V
    // 1.6 (where they are core) and ignores SPV_KHR_integer_dot_product, so
    // a kernel using it is compiled for SPIR-V 1.6, which every Vulkan 1.3
    // device accepts; the other kernels keep 1.3.
    bool usesDot = false;
    getOperation().walk([&](Operation *op) {
      if (isa<sp::SDotOp>(op))
        usesDot = true;
    });
    if (usesDot)
      getOperation()->setAttr(
          sp::getTargetEnvAttrName(),
          sp::TargetEnvAttr::get(
              sp::VerCapExtAttr::get(
                  IntegerAttr::get(IntegerType::get(&getContext(), 32),
                                   static_cast<uint32_t>(sp::Version::V_1_6)),
                  env.getTripleAttr().getCapabilitiesAttr(),
                  env.getTripleAttr().getExtensionsAttr()),
              env.getResourceLimits(), env.getClientAPI(), env.getVendorID(),
              env.getDeviceType(), env.getDeviceID()));
  }
};

} // namespace

void buildSPIRVPipeline(OpPassManager &pm, TargetAttr target) {
  pm.addPass(createAttachTargetPass(target ? target.getFeatures().str() : ""));
  pm.addNestedPass<mlir::gpu::GPUModuleOp>(createConvertMathToSPIRVPass());
  pm.addNestedPass<mlir::gpu::GPUModuleOp>(
      std::make_unique<IntegerDotProductPass>());
  pm.addPass(createConvertGPUToSPIRVPass(/*mapMemorySpace=*/true));
  OpPassManager &spm = pm.nest<sp::ModuleOp>();
  spm.addPass(sp::createSPIRVLowerABIAttributesPass());
  spm.addPass(sp::createSPIRVUpdateVCEPass());
}

std::unique_ptr<Pass> createAttachTargetPass(std::string features) {
  return std::make_unique<AttachTargetPass>(std::move(features));
}

void registerSPIRVPipelines() {
  gpu::registerGPUPipelines();
  PassRegistration<AttachTargetPass>();
  PassRegistration<IntegerDotProductPass>();
  PassPipelineRegistration<>(
      "qopt-spirv-kernel-pipeline",
      "SPIR-V stage 4: outlined gpu kernels to spirv.module (the module's "
      "#qopt.target, else the default features)",
      [](OpPassManager &pm) { buildSPIRVPipeline(pm, TargetAttr()); });
  PassPipelineRegistration<>(
      "qopt-spirv-pipeline",
      "The whole SPIR-V pipeline from graph IR to spirv.module kernels "
      "(weights stay embedded)",
      [](OpPassManager &pm) {
        gpu::GPUStrategy strategy;
        gpu::buildGPUTensorPipeline(pm);
        gpu::buildGPUBufferPipeline(pm, strategy);
        gpu::buildGPUMappingPipeline(pm, strategy);
        buildSPIRVPipeline(pm, TargetAttr());
      });
}

LogicalResult SPIRVBackend::serialize(ModuleOp module,
                                      const SerializeOptions &options,
                                      ArtifactWriter &writer) const {
  auto target = module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
  assert(target && "compileArtifact checks the target");
  return serializeGPUArtifact(module, options, writer, name(),
                              capabilities(target), nullptr);
}

LogicalResult serializeGPUArtifact(ModuleOp module,
                                   const SerializeOptions &options,
                                   ArtifactWriter &writer,
                                   StringRef backendName,
                                   const TargetCapabilities &targetCaps,
                                   GPUKernelSink *sink) {
  Location loc = module.getLoc();
  MLIRContext *ctx = module.getContext();
  auto target = module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
  assert(target && "compileArtifact checks the target");
  std::vector<TensorInfo> inputs, outputs;
  if (failed(describeSignature(module, inputs, outputs)))
    return failure();
  func::FuncOp entry = *lookupEntryFunction(module);

  auto clock = std::chrono::steady_clock::now();
  auto stage = [&](const char *what) {
    if (!options.verbose)
      return;
    auto now = std::chrono::steady_clock::now();
    llvm::errs() << llvm::format(
        "qopt: %-38s %7.2f s\n", what,
        std::chrono::duration<double>(now - clock).count());
    clock = now;
  };
  auto failWith = [&](llvm::Error e) {
    return emitError(loc) << llvm::toString(std::move(e));
  };

  if (options.embedWeights)
    return emitError(loc) << "the spirv target keeps its weights in "
                             "weights.bin (a device buffer); --embed-weights "
                             "is for CPU targets";

  gpu::GPUStrategy strategy;
  {
    PassManager pm(ctx);
    gpu::buildGPUTensorPipeline(pm);
    gpu::buildGPUBufferPipeline(pm, strategy);
    if (failed(pm.run(module)))
      return emitError(loc) << "spirv pipeline failed (tensor/buffer stages)";
  }
  stage("linalg and bufferization");

  // Every constant buffer moves to weights.bin: a kernel reads only what
  // is bound to it, never the host's globals.
  std::vector<char> blob;
  std::vector<WeightLayoutEntry> layoutEntries;
  if (failed(externalizeWeightsToBlob(module, /*threshold=*/0,
                                      strategy.bufferAlignment, blob,
                                      layoutEntries)))
    return failure();
  int64_t workspaceBytes = 0;
  if (auto attr = module->getAttrOfType<IntegerAttr>(
          QOptDialect::kWorkspaceBytesAttrName))
    workspaceBytes = attr.getInt();

  // Each entry argument is one runtime buffer.
  FailureOr<std::vector<gpu::BufferBinding>> argBindings =
      gpu::bindEntryArguments(entry, blob.size(), workspaceBytes, "spirv");
  if (failed(argBindings))
    return failure();

  if (options.keepIntermediates) {
    std::string text;
    llvm::raw_string_ostream os(text);
    module.print(os);
    if (llvm::Error e = writer.addFile(options.name + ".buffers.mlir", text,
                                       "intermediate"))
      return failWith(std::move(e));
  }

  {
    PassManager pm(ctx);
    gpu::buildGPUMappingPipeline(pm, strategy);
    buildSPIRVPipeline(pm, target);
    if (failed(pm.run(module)))
      return emitError(loc) << "spirv pipeline failed (kernel mapping or "
                               "SPIR-V conversion)";
  }
  stage("mapping to workgroups, SPIR-V");

  // The host function: launches over views of the runtime buffers.
  llvm::json::Array dispatches;
  std::vector<std::pair<std::string, std::string>> files;
  llvm::StringMap<std::string> fileOfKernel;
  std::set<std::string> allCapabilities;
  FailureOr<std::vector<mlir::gpu::LaunchFuncOp>> launches =
      gpu::collectLaunches(entry, "spirv");
  if (failed(launches))
    return failure();
  for (mlir::gpu::LaunchFuncOp launch : *launches) {
    StringRef moduleName = launch.getKernelModuleName().getValue();
    auto spvModule =
        module.lookupSymbol<sp::ModuleOp>(("__spv__" + moduleName).str());
    if (!spvModule)
      return launch.emitError() << "internal error: kernel module '"
                                << moduleName << "' was not converted";
    FailureOr<llvm::json::Object> dispatch =
        gpu::describeLaunch(launch, entry, *argBindings, "spirv");
    if (failed(dispatch))
      return failure();
    std::string &file = fileOfKernel[moduleName];
    llvm::json::Array caps;
    if (file.empty()) {
      SmallVector<uint32_t> binary;
      if (failed(sp::serialize(spvModule, binary)))
        return launch.emitError() << "SPIR-V serialization failed";
      if (sink) {
        FailureOr<std::string> named =
            sink->kernel(moduleName, launch.getKernelName().getValue(), binary,
                         launch.getLoc());
        if (failed(named))
          return failure();
        file = *named;
      } else {
        file = options.name + "." + moduleName.str() + ".spv";
        files.emplace_back(file,
                           std::string((const char *)binary.data(),
                                       binary.size() * sizeof(uint32_t)));
      }
    }
    if (auto vce = spvModule.getVceTriple())
      for (sp::Capability c : vce->getCapabilities()) {
        caps.push_back(sp::stringifyCapability(c).str());
        allCapabilities.insert(sp::stringifyCapability(c).str());
      }
    (*dispatch)["kernel"] = moduleName.str();
    (*dispatch)["file"] = file;
    (*dispatch)["entry"] = launch.getKernelName().getValue().str();
    (*dispatch)["capabilities"] = std::move(caps);
    dispatches.push_back(std::move(*dispatch));
  }
  stage("dispatch list and serialization");

  for (auto &[file, contents] : files)
    if (llvm::Error e = writer.addFile(file, contents, "spirv"))
      return failWith(std::move(e));
  if (options.keepIntermediates) {
    std::string text;
    llvm::raw_string_ostream os(text);
    module.print(os);
    if (llvm::Error e =
            writer.addFile(options.name + ".spirv.mlir", text, "intermediate"))
      return failWith(std::move(e));
  }
  if (llvm::Error e = writer.setWeights(blob, std::move(layoutEntries),
                                        /*embedded=*/false,
                                        strategy.bufferAlignment))
    return failWith(std::move(e));

  llvm::json::Array capabilityList;
  for (const std::string &c : allCapabilities)
    capabilityList.push_back(c);
  llvm::json::Object &manifest = writer.manifest();
  manifest["target"] =
      llvm::json::Object{{"backend", backendName.str()},
                         {"triple", target.getTriple().str()},
                         {"cpu", target.getCpu().str()},
                         {"features", enabledFeatures(target.getFeatures())},
                         {"spirv_capabilities", std::move(capabilityList)},
                         {"capabilities", targetCaps.toJSON()}};
  manifest["workspace_bytes"] = workspaceBytes;
  if (sink && failed(sink->finish(dispatches, workspaceBytes, blob.size())))
    return failure();
  manifest["dispatches"] = std::move(dispatches);
  return success();
}

std::unique_ptr<TargetBackend> createSPIRVBackend() {
  return std::make_unique<SPIRVBackend>();
}

} // namespace qopt::spirv
