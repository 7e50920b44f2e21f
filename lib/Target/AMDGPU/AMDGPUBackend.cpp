//===- AMDGPUBackend.cpp - The AMD (HSA code object) target backend -------===//
//
// Runs the shared GPU pipeline, merges its kernels into one gpu.module,
// lowers it through MLIR's ROCDL dialect and ROCDL target to an HSA code
// object (LLVM's AMDGPU backend, then ld.lld), and turns the host function
// into the manifest's launch list. The W8A8 kernel's four-code dot products
// become v_dot4_i32_i8 (gfx90a, gfx942) or v_dot4_i32_iu8 (gfx11). The
// ROCm root the ROCDL target looks in is assembled from Debian's
// rocm-device-libs bitcode and ld.lld-22; the kernels call no device
// library function (math calls resolve to LLVM intrinsics), so the bitcode
// is linked only when a future kernel needs it.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Target/AMDGPU/AMDGPUTarget.h"
#include "qopt/Target/Artifact.h"
#include "qopt/Target/GPU/ByteDotProduct.h"
#include "qopt/Target/GPU/CodeObjectArtifact.h"
#include "qopt/Target/GPU/DeviceFunctions.h"
#include "qopt/Target/GPU/DispatchList.h"
#include "qopt/Target/GPU/GPUPipeline.h"

#include "mlir/Conversion/GPUToROCDL/GPUToROCDLPass.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/ROCDLDialect.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/ROCDL/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/ROCDL/ROCDLToLLVMIRTranslation.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/TargetParser/Triple.h"

#include <cstdlib>

using namespace mlir;

namespace qopt::amdgpu {

namespace {

/// A processor, its wave size, which int8 dot instruction it has, and the
/// cost model's figures: a representative part's published fp32 (vector,
/// no dual issue) and memory bandwidth, packed fp16 at twice that, and
/// int8 as v_dot4 on every lane per cycle, 8 operations each (qopt's
/// kernels use no matrix cores yet).
struct Processor {
  const char *name;
  bool wave64;
  /// gfx11 has the mixed-sign v_dot4_i32_iu8 (llvm.amdgcn.sudot4) instead
  /// of v_dot4_i32_i8 (llvm.amdgcn.sdot4).
  bool mixedSignDot;
  gpu::PartFigures figures;
};
constexpr Processor kProcessors[] = {
    {"gfx90a",
     true,
     false,
     {"MI250X, one GCD (110 CUs, 1.7 GHz)", 23.9, 47.9, 95.7, 1638}},
    {"gfx942",
     true,
     false,
     {"MI300X (304 CUs, 2.1 GHz)", 81.7, 163.4, 326.9, 5300}},
    {"gfx1100",
     false,
     true,
     {"Radeon RX 7900 XTX (96 CUs, 2.5 GHz)", 30.7, 61.4, 122.9, 960}}};
constexpr const char *kKnownFeatures[] = {"dotprod"};
constexpr const char *kKernelModule = "qopt_kernels";

const Processor *lookupProcessor(StringRef name) {
  for (const Processor &p : kProcessors)
    if (name == p.name)
      return &p;
  return nullptr;
}

std::string knownProcessors() {
  std::string list;
  for (const Processor &p : kProcessors)
    list += (list.empty() ? "" : ", ") + std::string(p.name);
  return list;
}

/// The ocml functions GPU-to-ROCDL calls that are LLVM intrinsics.
constexpr gpu::DeviceFunction kDeviceIntrinsics[] = {
    {"__ocml_fabs_f32", "llvm.intr.fabs"},
    {"__ocml_fabs_f64", "llvm.intr.fabs"},
    {"__ocml_sqrt_f32", "llvm.intr.sqrt"},
    {"__ocml_sqrt_f64", "llvm.intr.sqrt"},
    {"__ocml_floor_f32", "llvm.intr.floor"},
    {"__ocml_floor_f64", "llvm.intr.floor"},
    {"__ocml_ceil_f32", "llvm.intr.ceil"},
    {"__ocml_ceil_f64", "llvm.intr.ceil"},
    {"__ocml_rint_f32", "llvm.intr.roundeven"},
    {"__ocml_rint_f64", "llvm.intr.roundeven"},
    {"__ocml_round_f32", "llvm.intr.round"},
    {"__ocml_round_f64", "llvm.intr.round"},
    {"__ocml_trunc_f32", "llvm.intr.trunc"},
    {"__ocml_trunc_f64", "llvm.intr.trunc"},
    {"__ocml_fma_f32", "llvm.intr.fma"},
    {"__ocml_fma_f64", "llvm.intr.fma"},
    {"__ocml_copysign_f32", "llvm.intr.copysign"},
    {"__ocml_copysign_f64", "llvm.intr.copysign"},
    {"__ocml_fmax_f32", "llvm.intr.maxnum"},
    {"__ocml_fmax_f64", "llvm.intr.maxnum"},
    {"__ocml_fmin_f32", "llvm.intr.minnum"},
    {"__ocml_fmin_f64", "llvm.intr.minnum"},
    {"__ocml_rsqrt_f32", ""},
    {"__ocml_rsqrt_f64", ""}};

struct DotProductPass
    : PassWrapper<DotProductPass, OperationPass<mlir::gpu::GPUModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(DotProductPass)
  DotProductPass() = default;
  DotProductPass(const DotProductPass &other) : PassWrapper(other) {}
  explicit DotProductPass(bool mixed) { mixedSign = mixed; }
  StringRef getArgument() const override { return "qopt-amdgpu-dot-product"; }
  StringRef getDescription() const override {
    return "Signed int8 four-way dot products (the W8A8 kernel's K step) to "
           "llvm.amdgcn.sdot4 (v_dot4_i32_i8), or llvm.amdgcn.sudot4 on gfx11, "
           "the running sum folded in";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect, vector::VectorDialect>();
  }
  void runOnOperation() override {
    bool mixed = mixedSign;
    RewritePatternSet patterns(&getContext());
    gpu::populateByteDotProductPatterns(
        patterns,
        [mixed](OpBuilder &b, Location loc, Value lhs, Value rhs,
                Value acc) -> Value {
          // The instructions take the four bytes packed in one i32.
          auto packed = [&](Value bytes) -> Value {
            Value word = vector::BitCastOp::create(
                b, loc, VectorType::get({1}, b.getI32Type()), bytes);
            return vector::ExtractOp::create(b, loc, word, 0);
          };
          Value noClamp = arith::ConstantIntOp::create(b, loc, 0, 1);
          if (mixed) {
            Value isSigned = arith::ConstantIntOp::create(b, loc, 1, 1);
            return LLVM::CallIntrinsicOp::create(
                       b, loc, b.getI32Type(),
                       b.getStringAttr("llvm.amdgcn.sudot4"),
                       ValueRange{isSigned, packed(lhs), isSigned, packed(rhs),
                                  acc, noClamp})
                .getResult(0);
          }
          return LLVM::CallIntrinsicOp::create(
                     b, loc, b.getI32Type(),
                     b.getStringAttr("llvm.amdgcn.sdot4"),
                     ValueRange{packed(lhs), packed(rhs), acc, noClamp})
              .getResult(0);
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
  Option<bool> mixedSign{*this, "mixed-sign",
                         llvm::cl::desc("Use sudot4 (gfx11)"),
                         llvm::cl::init(false)};
};

struct MergeKernelsPass
    : PassWrapper<MergeKernelsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MergeKernelsPass)
  StringRef getArgument() const override { return "qopt-amdgpu-merge-kernels"; }
  StringRef getDescription() const override {
    return "Every outlined kernel into one gpu.module (one HSA code object "
           "with a kernel per launch)";
  }
  void runOnOperation() override {
    if (failed(gpu::mergeKernelModules(getOperation(), kKernelModule)))
      signalPassFailure();
  }
};

struct ResolveDeviceFunctionsPass
    : PassWrapper<ResolveDeviceFunctionsPass,
                  OperationPass<mlir::gpu::GPUModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ResolveDeviceFunctionsPass)
  StringRef getArgument() const override {
    return "qopt-amdgpu-resolve-device-functions";
  }
  StringRef getDescription() const override {
    return "Calls of ocml functions that are LLVM intrinsics (fabs, sqrt, "
           "floor, ...) to those intrinsics, rsqrt to 1 / sqrt; any other "
           "ocml call is an error at its op";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect>();
  }
  void runOnOperation() override {
    if (failed(gpu::resolveDeviceFunctionCalls(getOperation(), "__ocml_",
                                               kDeviceIntrinsics, "amdgpu",
                                               "ROCm device library")))
      signalPassFailure();
  }
};

void appendHSASerialization(MLIRContext *ctx) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerROCDLDialectTranslation(registry);
  ROCDL::registerROCDLTargetInterfaceExternalModels(registry);
  ctx->appendDialectRegistry(registry);
}

llvm::json::Array enabledFeatures(TargetAttr target) {
  llvm::json::Array out;
  for (const char *f : kKnownFeatures)
    if (target.hasFeature(f))
      out.push_back(f);
  return out;
}

/// ld.lld for the HSA link: ld.lld-22 on PATH or LLVM's own.
std::optional<std::string> findLinker() {
  for (const char *name : {"ld.lld-22", "ld.lld"})
    if (llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName(name))
      return *path;
  if (llvm::sys::fs::can_execute("/usr/lib/llvm-22/bin/ld.lld"))
    return std::string("/usr/lib/llvm-22/bin/ld.lld");
  return std::nullopt;
}

/// The device libraries' bitcode folder: $ROCM_PATH/amdgcn/bitcode, else
/// Debian's rocm-device-libs.
std::optional<std::string> findDeviceLibraries() {
  SmallVector<std::string> candidates;
  if (const char *rocm = std::getenv("ROCM_PATH"))
    candidates.push_back((llvm::Twine(rocm) + "/amdgcn/bitcode").str());
  candidates.push_back("/usr/lib/x86_64-linux-gnu/amdgcn/bitcode");
  candidates.push_back("/opt/rocm/amdgcn/bitcode");
  for (const std::string &dir : candidates)
    if (llvm::sys::fs::is_directory(dir))
      return dir;
  return std::nullopt;
}

class AMDGPUBackend final : public TargetBackend {
public:
  StringRef name() const override { return "amdgpu"; }
  StringRef description() const override {
    return "AMD GPUs (gfx90a, gfx942, gfx1100) through HSA: one code object "
           "(model.hsaco) and a launch list in manifest.json";
  }
  std::vector<std::string> exampleTriples() const override {
    return {"amdgcn-amd-amdhsa"};
  }
  bool acceptsTriple(StringRef tripleName) const override {
    llvm::Triple triple(tripleName);
    return triple.getArch() == llvm::Triple::amdgcn &&
           triple.getOS() == llvm::Triple::AMDHSA;
  }
  std::vector<std::string> processorNames() const override {
    std::vector<std::string> names;
    for (const Processor &p : kProcessors)
      names.push_back(p.name);
    return names;
  }

  FailureOr<TargetAttr> resolve(MLIRContext *context, StringRef triple,
                                StringRef cpu, StringRef features,
                                std::string &error) const override {
    if (!acceptsTriple(triple)) {
      error = "the amdgpu target compiles for amdgcn-amd-amdhsa, not '" +
              triple.str() + "'";
      return failure();
    }
    if (cpu.empty() || cpu == "native")
      cpu = kDefaultProcessor;
    if (!lookupProcessor(cpu)) {
      error = "unknown AMD GPU '" + cpu.str() +
              "' (known: " + knownProcessors() + ")";
      return failure();
    }
    SmallVector<StringRef> parts;
    features.split(parts, ',', -1, /*KeepEmpty=*/false);
    for (StringRef f : parts) {
      StringRef bare = f.trim();
      if (!bare.consume_front("+") && !bare.consume_front("-")) {
        error = "AMDGPU feature '" + f.str() + "' needs a '+' or '-'";
        return failure();
      }
      if (!llvm::is_contained(kKnownFeatures, bare)) {
        error = "unknown AMDGPU feature '" + bare.str() + "' (known: dotprod)";
        return failure();
      }
    }
    std::string all = kDefaultFeatures;
    if (!features.empty())
      all += "," + features.str();
    return TargetAttr::get(context, name(), triple, cpu, all);
  }

  TargetCapabilities capabilities(TargetAttr target) const override {
    TargetCapabilities caps;
    caps.vectorBits = 0; // Wavefronts are not used yet.
    caps.int8DotProduct = target && target.hasFeature("dotprod");
    gpu::addGPUPrecisions(caps);
    if (const Processor *p = lookupProcessor(
            target ? target.getCpu() : StringRef(kDefaultProcessor)))
      caps.peaks =
          gpu::publishedPeaks(p->figures, "matrix cores", caps.int8DotProduct);
    return caps;
  }

  void buildPipeline(OpPassManager &pm, TargetAttr target) const override {
    gpu::GPUStrategy strategy = amdgpuStrategy();
    gpu::buildGPUTensorPipeline(pm);
    gpu::buildGPUBufferPipeline(pm, strategy);
    gpu::buildGPUMappingPipeline(pm, strategy);
    buildAMDGPUKernelPipeline(pm, target);
  }

  void registerPipelines() const override { registerAMDGPUPipelines(); }

  LogicalResult serialize(ModuleOp module, const SerializeOptions &options,
                          ArtifactWriter &writer) const override;

  /// 128 work-items per workgroup (two wave64 or four wave32 wavefronts).
  static gpu::GPUStrategy amdgpuStrategy() {
    gpu::GPUStrategy strategy;
    strategy.workgroupSize = 128;
    return strategy;
  }
};

} // namespace

void buildAMDGPUKernelPipeline(OpPassManager &pm, TargetAttr target) {
  StringRef chip = target ? target.getCpu() : StringRef(kDefaultProcessor);
  const Processor *processor = lookupProcessor(chip);
  if (!processor)
    processor = &kProcessors[0];
  bool dotprod = target ? target.hasFeature("dotprod") : true;

  pm.addPass(std::make_unique<MergeKernelsPass>());
  OpPassManager &kernels = pm.nest<mlir::gpu::GPUModuleOp>();
  if (dotprod)
    kernels.addPass(std::make_unique<DotProductPass>(processor->mixedSignDot));
  kernels.addPass(gpu::createSimplifyMathPass());
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(memref::createExpandStridedMetadataPass());
  kernels.addPass(arith::createArithExpandOpsPass());
  ConvertGpuOpsToROCDLOpsOptions rocdl;
  rocdl.chipset = processor->name;
  rocdl.indexBitwidth = 64;
  // One pointer per buffer, as for NVPTX: shapes and layouts are static.
  rocdl.useBarePtrCallConv = true;
  rocdl.runtime = mlir::gpu::amd::Runtime::HIP;
  kernels.addPass(createConvertGpuOpsToROCDLOps(rocdl));
  kernels.addPass(std::make_unique<ResolveDeviceFunctionsPass>());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  GpuROCDLAttachTargetOptions attach;
  attach.chip = processor->name;
  attach.optLevel = 3;
  attach.wave64Flag = processor->wave64;
  pm.addPass(createGpuROCDLAttachTarget(attach));
}

void registerAMDGPUPipelines() {
  gpu::registerGPUPipelines();
  PassRegistration<DotProductPass>();
  PassRegistration<MergeKernelsPass>();
  PassRegistration<ResolveDeviceFunctionsPass>();
  gpu::registerSimplifyMathPass();
  PassPipelineRegistration<>(
      "qopt-amdgpu-kernel-pipeline",
      "AMDGPU stage 4: outlined gpu kernels to one ROCDL gpu.module with its "
      "#rocdl.target (the module's #qopt.target, else gfx90a, +dotprod)",
      [](OpPassManager &pm) { buildAMDGPUKernelPipeline(pm, TargetAttr()); });
  PassPipelineRegistration<>(
      "qopt-amdgpu-pipeline",
      "The whole AMDGPU pipeline from graph IR to the ROCDL gpu.module "
      "(weights stay embedded)",
      [](OpPassManager &pm) {
        gpu::GPUStrategy strategy = AMDGPUBackend::amdgpuStrategy();
        gpu::buildGPUTensorPipeline(pm);
        gpu::buildGPUBufferPipeline(pm, strategy);
        gpu::buildGPUMappingPipeline(pm, strategy);
        buildAMDGPUKernelPipeline(pm, TargetAttr());
      });
}

LogicalResult AMDGPUBackend::serialize(ModuleOp module,
                                       const SerializeOptions &options,
                                       ArtifactWriter &writer) const {
  Location loc = module.getLoc();
  auto target = module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
  assert(target && "compileArtifact checks the target");

  // The ROCm root the ROCDL target reads: amdgcn/bitcode (the device
  // libraries) and llvm/bin/ld.lld, as links in a scratch folder.
  std::optional<std::string> lld = findLinker();
  if (!lld)
    return emitError(loc) << "amdgpu: no ld.lld (install lld-22): it links "
                             "the HSA code object";
  SmallString<128> root;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueDirectory("qopt-rocm", root))
    return emitError(loc) << "amdgpu: cannot create a scratch folder: "
                          << ec.message();
  // The links point at system files: remove them, never what they name.
  llvm::scope_exit removeRoot([&] { (void)removeTreeNoFollow(root); });
  CleanupOnInterrupt rootGuard(root);
  SmallString<128> bin(root);
  llvm::sys::path::append(bin, "llvm", "bin");
  SmallString<128> linkPath(bin);
  llvm::sys::path::append(linkPath, "ld.lld");
  if (llvm::sys::fs::create_directories(bin) ||
      llvm::sys::fs::create_link(*lld, linkPath))
    return emitError(loc) << "amdgpu: cannot prepare the ROCm root in " << root;
  if (std::optional<std::string> libs = findDeviceLibraries()) {
    SmallString<128> amdgcn(root);
    llvm::sys::path::append(amdgcn, "amdgcn");
    SmallString<128> bitcode(amdgcn);
    llvm::sys::path::append(bitcode, "bitcode");
    if (llvm::sys::fs::create_directories(amdgcn) ||
        llvm::sys::fs::create_link(*libs, bitcode))
      return emitError(loc) << "amdgpu: cannot link the device libraries "
                               "into "
                            << root;
  }

  gpu::CodeObjectTarget codeTarget;
  codeTarget.backendName = name().str();
  codeTarget.strategy = amdgpuStrategy();
  codeTarget.buildKernelPipeline = [&](OpPassManager &pm) {
    buildAMDGPUKernelPipeline(pm, target);
  };
  codeTarget.prepareContext = appendHSASerialization;
  codeTarget.format = mlir::gpu::CompilationTarget::Binary;
  codeTarget.toolkitPath = root.str().str();
  codeTarget.codeFile = options.name + ".hsaco";
  codeTarget.writeCode = [&](StringRef hsaco, ArtifactWriter &writer,
                             llvm::json::Object &targetEntry,
                             Location loc) -> LogicalResult {
    auto failWith = [&](llvm::Error e) {
      return emitError(loc) << llvm::toString(std::move(e));
    };
    if (llvm::Error e = writer.addFile(codeTarget.codeFile, hsaco, "hsaco"))
      return failWith(std::move(e));
    return success();
  };

  llvm::json::Object targetEntry{
      {"backend", name().str()},
      {"triple", target.getTriple().str()},
      {"cpu", target.getCpu().str()},
      {"features", enabledFeatures(target)},
      {"wavefront_size", lookupProcessor(target.getCpu())->wave64 ? 64 : 32},
      {"capabilities", capabilities(target).toJSON()}};
  return gpu::serializeCodeObjectArtifact(module, options, writer, codeTarget,
                                          std::move(targetEntry));
}

std::unique_ptr<TargetBackend> createAMDGPUBackend() {
  return std::make_unique<AMDGPUBackend>();
}

} // namespace qopt::amdgpu
