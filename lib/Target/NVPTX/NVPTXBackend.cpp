//===- NVPTXBackend.cpp - The NVIDIA (PTX) target backend -----------------===//
//
// Runs the shared GPU pipeline, merges its kernels into one gpu.module,
// lowers it through MLIR's NVVM dialect and NVVM target to PTX (LLVM's
// NVPTX backend, no CUDA toolkit needed), assembles a cubin with ptxas
// when one is installed, and turns the host function into the manifest's
// launch list. The W8A8 kernel's four-code dot products become dp4a.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Target/Artifact.h"
#include "qopt/Target/GPU/ByteDotProduct.h"
#include "qopt/Target/GPU/CodeObjectArtifact.h"
#include "qopt/Target/GPU/DeviceFunctions.h"
#include "qopt/Target/GPU/DispatchList.h"
#include "qopt/Target/GPU/GPUPipeline.h"
#include "qopt/Target/NVPTX/NVPTXTarget.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/TargetParser/Triple.h"

#include <chrono>
#include <cstdlib>

using namespace mlir;

namespace qopt::nvptx {

namespace {

/// A processor, the PTX version its code is written in (the oldest that
/// knows the processor, so the oldest driver that can JIT it), and the
/// cost model's figures: a representative part's published fp32 and
/// memory bandwidth, fp16 without tensor cores (qopt's kernels use none
/// yet), and int8 as dp4a at the integer units' 64 per SM per cycle, 8
/// operations each, at the part's boost clock.
struct Processor {
  const char *name;
  const char *ptxFeature;
  gpu::PartFigures figures;
};
constexpr Processor kProcessors[] = {
    {"sm_80",
     "+ptx70",
     {"A100 SXM4 80GB (108 SMs, 1.41 GHz)", 19.5, 78, 78.0, 2039}},
    {"sm_86", "+ptx71", {"A10 (72 SMs, 1.695 GHz)", 31.2, 31.2, 62.5, 600}},
    {"sm_89", "+ptx78", {"L4 (58 SMs, 2.04 GHz)", 30.3, 30.3, 60.6, 300}},
    {"sm_90", "+ptx78", {"H100 SXM5 (132 SMs, 1.98 GHz)", 67, 134, 134, 3350}}};
constexpr const char *kKnownFeatures[] = {"dotprod"};
/// The one gpu.module every kernel ends up in (the PTX module).
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

struct DotProductPass
    : PassWrapper<DotProductPass, OperationPass<mlir::gpu::GPUModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(DotProductPass)
  StringRef getArgument() const override { return "qopt-nvptx-dot-product"; }
  StringRef getDescription() const override {
    return "Signed int8 four-way dot products (the W8A8 kernel's K step) to "
           "nvvm.dot.accumulate.4way (dp4a), the running sum folded in";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<NVVM::NVVMDialect, arith::ArithDialect>();
  }
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    gpu::populateByteDotProductPatterns(
        patterns,
        [](OpBuilder &b, Location loc, Value lhs, Value rhs,
           Value acc) -> Value {
          auto sign = NVVM::DotAccumulateTypeAttr::get(
              b.getContext(), NVVM::DotAccumulateType::SIGNED);
          return NVVM::DotAccumulate4WayOp::create(b, loc, b.getI32Type(), lhs,
                                                   sign, rhs, sign, acc);
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

struct MergeKernelsPass
    : PassWrapper<MergeKernelsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MergeKernelsPass)
  StringRef getArgument() const override { return "qopt-nvptx-merge-kernels"; }
  StringRef getDescription() const override {
    return "Every outlined kernel into one gpu.module (one PTX module with "
           "an entry point per kernel)";
  }
  void runOnOperation() override {
    if (failed(gpu::mergeKernelModules(getOperation(), kKernelModule)))
      signalPassFailure();
  }
};

/// The libdevice functions GPU-to-NVVM calls for math ops that LLVM's
/// NVPTX backend lowers itself, each as the LLVM intrinsic of the same
/// semantics (libdevice's own definition of it): with them resolved, PTX
/// needs no CUDA toolkit at compile time. The transcendental functions are
/// not here: qopt-math-approximation has already made them polynomials.
constexpr gpu::DeviceFunction kDeviceIntrinsics[] = {
    {"__nv_fabsf", "llvm.intr.fabs"},
    {"__nv_fabs", "llvm.intr.fabs"},
    {"__nv_sqrtf", "llvm.intr.sqrt"},
    {"__nv_sqrt", "llvm.intr.sqrt"},
    {"__nv_floorf", "llvm.intr.floor"},
    {"__nv_floor", "llvm.intr.floor"},
    {"__nv_ceilf", "llvm.intr.ceil"},
    {"__nv_ceil", "llvm.intr.ceil"},
    {"__nv_rintf", "llvm.intr.roundeven"},
    {"__nv_rint", "llvm.intr.roundeven"},
    {"__nv_roundf", "llvm.intr.round"},
    {"__nv_round", "llvm.intr.round"},
    {"__nv_truncf", "llvm.intr.trunc"},
    {"__nv_trunc", "llvm.intr.trunc"},
    {"__nv_fmaf", "llvm.intr.fma"},
    {"__nv_fma", "llvm.intr.fma"},
    {"__nv_copysignf", "llvm.intr.copysign"},
    {"__nv_copysign", "llvm.intr.copysign"},
    {"__nv_fmaxf", "llvm.intr.maxnum"},
    {"__nv_fmax", "llvm.intr.maxnum"},
    {"__nv_fminf", "llvm.intr.minnum"},
    {"__nv_fmin", "llvm.intr.minnum"},
    // libdevice's rsqrt is rsqrt.approx.
    {"__nv_rsqrtf", ""},
    {"__nv_rsqrt", ""}};

struct ResolveDeviceFunctionsPass
    : PassWrapper<ResolveDeviceFunctionsPass,
                  OperationPass<mlir::gpu::GPUModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ResolveDeviceFunctionsPass)
  StringRef getArgument() const override {
    return "qopt-nvptx-resolve-device-functions";
  }
  StringRef getDescription() const override {
    return "Calls of libdevice functions that are LLVM intrinsics (fabs, "
           "sqrt, floor, ...) to those intrinsics, rsqrt to 1 / sqrt; any "
           "other libdevice call is an error at its op";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect>();
  }
  void runOnOperation() override {
    if (failed(gpu::resolveDeviceFunctionCalls(
            getOperation(), "__nv_", kDeviceIntrinsics, "nvptx", "libdevice")))
      signalPassFailure();
  }
};

/// The translations and the #nvvm.target serializer that turning the
/// kernels into PTX needs, whatever registry the context was made with.
void appendPTXSerialization(MLIRContext *ctx) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  ctx->appendDialectRegistry(registry);
}

/// The known features the target has, for the manifest.
llvm::json::Array enabledFeatures(TargetAttr target) {
  llvm::json::Array out;
  for (const char *f : kKnownFeatures)
    if (target.hasFeature(f))
      out.push_back(f);
  return out;
}

class NVPTXBackend final : public TargetBackend {
public:
  StringRef name() const override { return "nvptx"; }
  StringRef description() const override {
    return "NVIDIA GPUs (sm_80 to sm_90) through CUDA: one PTX module "
           "(+ a cubin when ptxas is installed) and a launch list in "
           "manifest.json";
  }
  std::vector<std::string> exampleTriples() const override {
    return {"nvptx64-nvidia-cuda"};
  }
  bool acceptsTriple(StringRef tripleName) const override {
    llvm::Triple triple(tripleName);
    return triple.getArch() == llvm::Triple::nvptx64 &&
           triple.getOS() == llvm::Triple::CUDA;
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
      error = "the nvptx target compiles for nvptx64-nvidia-cuda, not '" +
              triple.str() + "'";
      return failure();
    }
    // A cross target: "native" is the default part.
    if (cpu.empty() || cpu == "native")
      cpu = kDefaultProcessor;
    if (!lookupProcessor(cpu)) {
      error = "unknown NVIDIA GPU '" + cpu.str() +
              "' (known: " + knownProcessors() + ")";
      return failure();
    }
    SmallVector<StringRef> parts;
    features.split(parts, ',', -1, /*KeepEmpty=*/false);
    for (StringRef f : parts) {
      StringRef bare = f.trim();
      if (!bare.consume_front("+") && !bare.consume_front("-")) {
        error = "NVPTX feature '" + f.str() + "' needs a '+' or '-'";
        return failure();
      }
      if (!llvm::is_contained(kKnownFeatures, bare)) {
        error = "unknown NVPTX feature '" + bare.str() + "' (known: dotprod)";
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
    caps.vectorBits = 0; // Warps are not used yet.
    caps.int8DotProduct = target && target.hasFeature("dotprod");
    gpu::addGPUPrecisions(caps);
    if (const Processor *p = lookupProcessor(
            target ? target.getCpu() : StringRef(kDefaultProcessor)))
      caps.peaks =
          gpu::publishedPeaks(p->figures, "tensor cores", caps.int8DotProduct);
    return caps;
  }

  void buildPipeline(OpPassManager &pm, TargetAttr target) const override {
    gpu::GPUStrategy strategy = nvptxStrategy();
    gpu::buildGPUTensorPipeline(pm);
    gpu::buildGPUBufferPipeline(pm, strategy);
    gpu::buildGPUMappingPipeline(pm, strategy);
    buildNVPTXKernelPipeline(pm, target);
  }

  void registerPipelines() const override { registerNVPTXPipelines(); }

  LogicalResult serialize(ModuleOp module, const SerializeOptions &options,
                          ArtifactWriter &writer) const override;

  /// 128 threads (four warps) per block; buffers 256-byte aligned, which
  /// covers every CUDA allocation's alignment guarantee.
  static gpu::GPUStrategy nvptxStrategy() {
    gpu::GPUStrategy strategy;
    strategy.workgroupSize = 128;
    return strategy;
  }
};

/// The PTX functions a kernel calls but PTX does not define (a libdevice
/// routine left by a math op without an LLVM intrinsic): ptxas and the
/// driver would refuse the module.
std::vector<std::string> undefinedFunctions(StringRef ptx) {
  std::vector<std::string> names;
  SmallVector<StringRef> lines;
  ptx.split(lines, '\n');
  for (StringRef line : lines) {
    line = line.trim();
    if (!line.consume_front(".extern .func"))
      continue;
    // ".extern .func (.param .b32 r) __nv_expf(...)" : the name before '('.
    size_t open = line.rfind('(');
    if (line.ends_with(";"))
      line = line.drop_back();
    StringRef head =
        line.take_front(open == StringRef::npos ? line.size() : open);
    if (open != StringRef::npos && head.trim().empty())
      head = line;
    SmallVector<StringRef> words;
    head.split(words, ' ', -1, false);
    if (!words.empty())
      names.push_back(words.back().trim().str());
  }
  return names;
}

} // namespace

std::optional<std::string> findPtxas() {
  if (const char *home = std::getenv("CUDA_HOME")) {
    SmallString<256> path(home);
    llvm::sys::path::append(path, "bin", "ptxas");
    if (llvm::sys::fs::can_execute(path))
      return std::string(path);
  }
  if (llvm::ErrorOr<std::string> onPath = llvm::sys::findProgramByName("ptxas"))
    return *onPath;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return std::string("/usr/local/cuda/bin/ptxas");
  return std::nullopt;
}

void buildNVPTXKernelPipeline(OpPassManager &pm, TargetAttr target) {
  StringRef chip = target ? target.getCpu() : StringRef(kDefaultProcessor);
  const Processor *processor = lookupProcessor(chip);
  if (!processor)
    processor = &kProcessors[0];
  bool dotprod = target ? target.hasFeature("dotprod") : true;

  pm.addPass(std::make_unique<MergeKernelsPass>());
  OpPassManager &kernels = pm.nest<mlir::gpu::GPUModuleOp>();
  if (dotprod)
    kernels.addPass(std::make_unique<DotProductPass>());
  kernels.addPass(gpu::createSimplifyMathPass());
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(memref::createExpandStridedMetadataPass());
  kernels.addPass(arith::createArithExpandOpsPass());
  ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.indexBitwidth = 64;
  // One pointer per buffer: shapes and layouts are static and compiled in,
  // so a launch passes one device address per binding.
  nvvm.useBarePtrCallConv = true;
  kernels.addPass(createConvertGpuOpsToNVVMOps(nvvm));
  kernels.addPass(std::make_unique<ResolveDeviceFunctionsPass>());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  GpuNVVMAttachTargetOptions attach;
  attach.chip = processor->name;
  attach.features = processor->ptxFeature;
  attach.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(attach));
}

void registerNVPTXPipelines() {
  gpu::registerGPUPipelines();
  PassRegistration<DotProductPass>();
  PassRegistration<MergeKernelsPass>();
  PassRegistration<ResolveDeviceFunctionsPass>();
  gpu::registerSimplifyMathPass();
  PassPipelineRegistration<>(
      "qopt-nvptx-kernel-pipeline",
      "NVPTX stage 4: outlined gpu kernels to one NVVM gpu.module with its "
      "#nvvm.target (the module's #qopt.target, else sm_80, +dotprod)",
      [](OpPassManager &pm) { buildNVPTXKernelPipeline(pm, TargetAttr()); });
  PassPipelineRegistration<>(
      "qopt-nvptx-pipeline",
      "The whole NVPTX pipeline from graph IR to the NVVM gpu.module "
      "(weights stay embedded)",
      [](OpPassManager &pm) {
        gpu::GPUStrategy strategy = NVPTXBackend::nvptxStrategy();
        gpu::buildGPUTensorPipeline(pm);
        gpu::buildGPUBufferPipeline(pm, strategy);
        gpu::buildGPUMappingPipeline(pm, strategy);
        buildNVPTXKernelPipeline(pm, TargetAttr());
      });
}

LogicalResult NVPTXBackend::serialize(ModuleOp module,
                                      const SerializeOptions &options,
                                      ArtifactWriter &writer) const {
  auto target = module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
  assert(target && "compileArtifact checks the target");
  const Processor *processor = lookupProcessor(target.getCpu());
  assert(processor && "resolve() accepts only known processors");

  gpu::CodeObjectTarget codeTarget;
  codeTarget.backendName = name().str();
  codeTarget.strategy = nvptxStrategy();
  codeTarget.buildKernelPipeline = [&](OpPassManager &pm) {
    buildNVPTXKernelPipeline(pm, target);
  };
  codeTarget.prepareContext = appendPTXSerialization;
  codeTarget.format = mlir::gpu::CompilationTarget::Assembly;
  codeTarget.codeFile = options.name + ".ptx";
  codeTarget.writeCode = [&](StringRef ptx, ArtifactWriter &writer,
                             llvm::json::Object &targetEntry,
                             Location loc) -> LogicalResult {
    auto failWith = [&](llvm::Error e) {
      return emitError(loc) << llvm::toString(std::move(e));
    };
    std::vector<std::string> undefined = undefinedFunctions(ptx);
    if (!undefined.empty())
      return emitError(loc) << "nvptx: the kernels call '" << undefined.front()
                            << "', which PTX does not define";
    std::string ptxFile = codeTarget.codeFile;
    if (llvm::Error e = writer.addFile(ptxFile, ptx, "ptx"))
      return failWith(std::move(e));
    // A cubin for the processor when ptxas is here; the driver JIT-compiles
    // the PTX otherwise.
    std::optional<std::string> ptxas = findPtxas();
    if (!ptxas)
      return success();
    std::string cubinFile = options.name + ".cubin";
    std::string arch = ("-arch=" + target.getCpu()).str();
    std::string in = writer.stagedPath(ptxFile);
    std::string out = writer.stagedPath(cubinFile);
    StringRef args[] = {*ptxas, arch, "-O3", in, "-o", out};
    if (llvm::Error e = writer.runTool(
            cubinFile, args, "nvptx: assembling the PTX for " + arch.substr(6)))
      return failWith(std::move(e));
    if (llvm::Error e = writer.noteFile(cubinFile, "cubin"))
      return failWith(std::move(e));
    targetEntry["cubin"] = cubinFile;
    return success();
  };

  llvm::json::Object targetEntry{
      {"backend", name().str()},
      {"triple", target.getTriple().str()},
      {"cpu", target.getCpu().str()},
      {"features", enabledFeatures(target)},
      {"ptx_version", StringRef(processor->ptxFeature).drop_front(4).str()},
      {"capabilities", capabilities(target).toJSON()}};
  return gpu::serializeCodeObjectArtifact(module, options, writer, codeTarget,
                                          std::move(targetEntry));
}

std::unique_ptr<TargetBackend> createNVPTXBackend() {
  return std::make_unique<NVPTXBackend>();
}

} // namespace qopt::nvptx
