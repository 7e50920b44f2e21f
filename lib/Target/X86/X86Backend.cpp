//===- X86Backend.cpp - The x86-64 target backend --------------------------===//
//
// Resolves x86 CPUs and their features, runs the three x86 stages, moves
// weights to weights.bin, translates to LLVM IR, adds the C entry point,
// optimizes, emits model.o, links model.so and writes model.h, all through
// the shared ArtifactWriter.
//
//===----------------------------------------------------------------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Runtime/EntryABI.h"
#include "qopt/Target/Artifact.h"
#include "qopt/Target/X86/HostPeaks.h"
#include "qopt/Target/X86/X86Target.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/Threading.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Transforms/Utils/SplitModule.h"

#include <chrono>

#ifndef QOPT_LLD_PATH
#define QOPT_LLD_PATH "/usr/lib/llvm-22/bin/ld.lld"
#endif
#ifndef QOPT_OBJCOPY_PATH
#define QOPT_OBJCOPY_PATH "/usr/lib/llvm-22/bin/llvm-objcopy"
#endif

using namespace mlir;

namespace qopt::x86 {

namespace {

/// Where one argument of the lowered graph function comes from.
struct ArgLayout {
  enum Kind { Weights, Workspace, Input, Output } kind;
  unsigned index; // Position among inputs or outputs.
  std::vector<int64_t> shape;
};

/// Adds the exported constant `<name>_abi` (see qopt/Runtime/EntryABI.h):
/// the buffer sizes and shapes the entry point was compiled for, which qrt
/// checks the manifest against.
void addEntryABI(llvm::Module &module, StringRef abiName, int64_t weightBytes,
                 int64_t workspaceBytes, ArrayRef<TensorInfo> inputs,
                 ArrayRef<TensorInfo> outputs) {
  auto buffers = [](ArrayRef<TensorInfo> list) {
    std::vector<BufferABI> out;
    for (const TensorInfo &t : list)
      out.push_back({t.dtype, t.shape});
    return out;
  };
  std::string text = describeEntryABI(weightBytes, workspaceBytes,
                                      buffers(inputs), buffers(outputs));
  llvm::Constant *init =
      llvm::ConstantDataArray::getString(module.getContext(), text);
  new llvm::GlobalVariable(module, init->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, init, abiName);
}

/// The LLVM tool at `preferred`, else `name` on the PATH.
LogicalResult findTool(StringRef preferred, StringRef name, std::string &path) {
  if (llvm::sys::fs::can_execute(preferred)) {
    path = preferred.str();
    return success();
  }
  auto found = llvm::sys::findProgramByName(name);
  if (!found)
    return failure();
  path = *found;
  return success();
}

void initializeX86LLVM() {
  static bool initialized = [] {
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    return true;
  }();
  (void)initialized;
}

std::unique_ptr<llvm::TargetMachine>
createTargetMachine(TargetAttr target, unsigned optLevel, std::string &error) {
  initializeX86LLVM();
  llvm::Triple triple(target.getTriple());
  const llvm::Target *llvmTarget =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!llvmTarget)
    return nullptr;
  llvm::TargetOptions targetOptions;
  auto tm = std::unique_ptr<llvm::TargetMachine>(
      llvmTarget->createTargetMachine(
          triple, target.getCpu(), target.getFeatures(), targetOptions,
          llvm::Reloc::PIC_, std::nullopt,
          optLevel >= 3   ? llvm::CodeGenOptLevel::Aggressive
          : optLevel == 0 ? llvm::CodeGenOptLevel::None
                          : llvm::CodeGenOptLevel::Default));
  if (!tm)
    error = "cannot create a target machine for '" + target.getTriple().str() +
            "' and CPU '" + target.getCpu().str() + "'";
  return tm;
}

/// Adds `<name>_run(const void *weights, void *workspace,
/// const void *const *inputs, void *const *outputs)`, which builds each
/// memref descriptor from a bare pointer and the static shape, then calls the
/// lowered graph function (whose memref arguments are expanded to allocated
/// pointer, aligned pointer, offset, sizes and strides) as the only thread.
/// With `threaded`, the function is `<name>_run_thread(..., int tid,
/// int nthreads, int64_t *sync)` instead, which `nthreads` threads call at
/// once with the same zeroed `sync[2]` (qopt-parallelize-kernels).
void addEntryWrapper(llvm::Module &module, llvm::Function *graph,
                     StringRef runName, ArrayRef<ArgLayout> args,
                     bool threaded) {
  llvm::LLVMContext &ctx = module.getContext();
  auto *ptrTy = llvm::PointerType::get(ctx, 0);
  auto *i64 = llvm::Type::getInt64Ty(ctx);
  auto *i32 = llvm::Type::getInt32Ty(ctx);
  std::vector<llvm::Type *> params = {ptrTy, ptrTy, ptrTy, ptrTy};
  if (threaded)
    params.insert(params.end(), {i32, i32, ptrTy});
  auto *fnTy = llvm::FunctionType::get(i32, params, false);
  auto *fn = llvm::Function::Create(fnTy, llvm::GlobalValue::ExternalLinkage,
                                    runName, module);
  fn->getArg(0)->setName("weights");
  fn->getArg(1)->setName("workspace");
  fn->getArg(2)->setName("inputs");
  fn->getArg(3)->setName("outputs");
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
  std::vector<llvm::Value *> callArgs;
  auto addDescriptor = [&](llvm::Value *p, ArrayRef<int64_t> shape) {
    callArgs.push_back(p);
    callArgs.push_back(p);
    callArgs.push_back(llvm::ConstantInt::get(i64, 0));
    int64_t stride = 1;
    std::vector<int64_t> strides(shape.size());
    for (int d = (int)shape.size() - 1; d >= 0; --d) {
      strides[d] = stride;
      stride *= shape[d];
    }
    for (int64_t s : shape)
      callArgs.push_back(llvm::ConstantInt::get(i64, s));
    for (int64_t s : strides)
      callArgs.push_back(llvm::ConstantInt::get(i64, s));
  };
  for (const ArgLayout &a : args) {
    llvm::Value *p;
    if (a.kind == ArgLayout::Weights || a.kind == ArgLayout::Workspace) {
      p = fn->getArg(a.kind == ArgLayout::Weights ? 0 : 1);
    } else {
      llvm::Value *table = fn->getArg(a.kind == ArgLayout::Input ? 2 : 3);
      llvm::Value *slot = b.CreateConstGEP1_64(ptrTy, table, a.index);
      p = b.CreateLoad(ptrTy, slot);
    }
    addDescriptor(p, a.shape);
  }
  // The graph's trailing %tid, %nthreads and %sync.
  if (threaded) {
    callArgs.push_back(b.CreateSExt(fn->getArg(4), i64));
    callArgs.push_back(b.CreateSExt(fn->getArg(5), i64));
    addDescriptor(fn->getArg(6), {2});
  } else {
    callArgs.push_back(llvm::ConstantInt::get(i64, 0));
    callArgs.push_back(llvm::ConstantInt::get(i64, 1));
    llvm::Value *sync = b.CreateAlloca(llvm::ArrayType::get(i64, 2));
    b.CreateStore(llvm::ConstantAggregateZero::get(llvm::ArrayType::get(i64, 2)),
                  sync);
    addDescriptor(sync, {2});
  }
  if (graph->getFunctionType()->getNumParams() != callArgs.size())
    llvm::report_fatal_error("internal error: the graph function's "
                             "arguments do not match the entry layout");
  b.CreateCall(graph->getFunctionType(), graph, callArgs);
  b.CreateRet(llvm::ConstantInt::get(i32, 0));
}

std::string headerText(StringRef name, ArrayRef<TensorInfo> inputs,
                       ArrayRef<TensorInfo> outputs, bool embedded,
                       int64_t weightBytes, int64_t workspaceBytes,
                       StringRef triple, StringRef cpu, bool threaded) {
  std::string id = modelSymbolPrefix(name);
  std::string upper;
  for (char c : id)
    upper.push_back(toupper((unsigned char)c));
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "/* " << id << ".h: generated by qopt " << QOPT_VERSION
     << ". Do not edit.\n"
     << " * Target " << triple << ", CPU " << cpu << ".\n"
     << " *\n"
     << " * Call " << id << "_run() with one contiguous, row-major buffer per\n"
     << " * input and output (shapes and types below). The object needs only\n"
     << " * libc and libm. " << (embedded ? "Weights are embedded: pass NULL as "
                                              "`weights`."
                                            : "`weights` points to the contents "
                                              "of weights.bin (64-byte aligned; "
                                              "mmap it).")
     << "\n * `workspace` is " << id << "'s scratch memory: "
     << upper << "_WORKSPACE_BYTES bytes,\n"
     << " * 64-byte aligned, owned by the caller and reused across calls (one\n"
     << " * workspace per concurrent call). The model calls no allocator.\n"
     << " */\n"
     << "#ifndef " << upper << "_H\n#define " << upper << "_H\n\n"
     << "#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
     << "#define " << upper << "_NUM_INPUTS " << inputs.size() << "\n"
     << "#define " << upper << "_NUM_OUTPUTS " << outputs.size() << "\n"
     << "#define " << upper << "_WEIGHTS_BYTES " << weightBytes << "\n"
     << "#define " << upper << "_WORKSPACE_BYTES " << workspaceBytes << "\n\n";
  auto describe = [&](const char *kind, ArrayRef<TensorInfo> list) {
    for (size_t i = 0; i < list.size(); ++i) {
      int64_t n = 1;
      for (int64_t d : list[i].shape)
        n *= d;
      os << "/* " << kind << " " << i << ": \"" << list[i].name << "\" "
         << list[i].dtype << " [";
      llvm::interleaveComma(list[i].shape, os);
      os << "] */\n#define " << upper << "_" << kind << i << "_ELEMENTS " << n
         << "\n";
    }
  };
  describe("INPUT", inputs);
  describe("OUTPUT", outputs);
  os << "\n/* Returns 0 on success. Not reentrant-safe across threads sharing\n"
     << " * output buffers; otherwise thread-safe. */\n"
     << "int " << id << "_run(const void *weights, void *workspace,\n"
     << "    const void *const *inputs, void *const *outputs);\n\n";
  if (threaded)
    os << "/* The same on `nthreads` threads: each calls it at once with its\n"
       << " * `tid` (0 .. nthreads-1) and the same arguments otherwise, `sync`\n"
       << " * pointing to two int64_t that are zero before the first call (they\n"
       << " * are zero again when every call has returned). The threads wait\n"
       << " * for each other by spinning on `sync`; the results are those of\n"
       << " * " << id << "_run() for every nthreads. */\n"
       << "int " << id << "_run_thread(const void *weights, void *workspace,\n"
       << "    const void *const *inputs, void *const *outputs, int tid,\n"
       << "    int nthreads, int64_t *sync);\n\n";
  os << "#ifdef __cplusplus\n}\n#endif\n\n#endif /* " << upper << "_H */\n";
  return s;
}

/// The "+feature" entries of an LLVM feature string, without the '+': what
/// the running CPU must have.
llvm::json::Array enabledFeatures(StringRef features) {
  llvm::json::Array out;
  SmallVector<StringRef> parts;
  features.split(parts, ',', -1, /*KeepEmpty=*/false);
  llvm::sort(parts);
  for (StringRef f : parts)
    if (f.consume_front("+"))
      out.push_back(f.str());
  return out;
}

/// ISA features the host reports (true or false): the ones a manifest lists
/// and qrt checks, as opposed to LLVM's tuning flags.
const llvm::StringMap<bool> &isaFeatures() {
  static const llvm::StringMap<bool> features =
      llvm::sys::getHostCPUFeatures();
  return features;
}

class X86Backend final : public TargetBackend {
public:
  StringRef name() const override { return "x86"; }
  StringRef description() const override {
    return "x86-64 CPUs (AVX2, AVX-512, VNNI): model.so, model.o and model.h "
           "through LLVM";
  }
  std::vector<std::string> exampleTriples() const override {
    return {"x86_64-unknown-linux-gnu", "x86_64-pc-linux-gnu"};
  }
  bool acceptsTriple(StringRef triple) const override {
    return llvm::Triple(triple).getArch() == llvm::Triple::x86_64;
  }
  std::vector<std::string> processorNames() const override {
    return {"native", "x86-64-v2", "x86-64-v3", "x86-64-v4", "znver3",
            "znver4", "znver5", "skylake-avx512", "icelake-server",
            "sapphirerapids", "... (any LLVM x86 CPU)"};
  }

  FailureOr<TargetAttr> resolve(MLIRContext *context, StringRef tripleName,
                                StringRef cpu, StringRef features,
                                std::string &error) const override {
    initializeX86LLVM();
    llvm::Triple triple(tripleName);
    if (!acceptsTriple(tripleName)) {
      error = "the x86 target compiles for x86_64 triples, not '" +
              tripleName.str() + "'";
      return failure();
    }
    const llvm::Target *target =
        llvm::TargetRegistry::lookupTarget(triple, error);
    if (!target)
      return failure();
    std::string resolvedCpu = cpu.str();
    std::string resolvedFeatures;
    if (cpu.empty() || cpu == "native") {
      if (llvm::Triple(llvm::sys::getProcessTriple()).getArch() !=
          llvm::Triple::x86_64) {
        error = "-mcpu=native needs an x86-64 machine: name the CPU";
        return failure();
      }
      resolvedCpu = llvm::sys::getHostCPUName().str();
      SmallVector<std::string> list;
      for (auto &kv : isaFeatures())
        list.push_back((kv.second ? "+" : "-") + kv.getKey().str());
      llvm::sort(list);
      resolvedFeatures = llvm::join(list, ",");
    } else {
      std::unique_ptr<llvm::MCSubtargetInfo> sti(
          target->createMCSubtargetInfo(triple, cpu, features));
      if (!sti || !sti->isCPUStringValid(cpu)) {
        error = "unknown x86 CPU '" + cpu.str() +
                "' (use an LLVM CPU name such as x86-64-v3, znver4 or "
                "sapphirerapids, or native)";
        return failure();
      }
      // Spell out what the CPU implies, so the manifest lists what the
      // artifact needs at run time.
      SmallVector<std::string> list;
      for (auto &kv : isaFeatures())
        if (sti->checkFeatures("+" + kv.getKey().str()))
          list.push_back("+" + kv.getKey().str());
      llvm::sort(list);
      resolvedFeatures = llvm::join(list, ",");
    }
    if (!features.empty())
      resolvedFeatures += (resolvedFeatures.empty() ? "" : ",") + features.str();
    return TargetAttr::get(context, name(), tripleName, resolvedCpu,
                           resolvedFeatures);
  }

  FailureOr<TargetAttr> host(MLIRContext *context) const override {
    llvm::Triple process(llvm::sys::getProcessTriple());
    if (process.getArch() != llvm::Triple::x86_64)
      return failure();
    std::string error;
    return resolve(context, "x86_64-unknown-linux-gnu", "native", "", error);
  }

  TargetCapabilities capabilities(TargetAttr target) const override {
    TargetCapabilities caps;
    bool avx512 = target.hasFeature("avx512f");
    caps.vectorBits = avx512 ? 512 : target.hasFeature("avx2") ? 256 : 128;
    caps.int8DotProduct =
        target.hasFeature("avx512vnni") || target.hasFeature("avxvnni");
    caps.matrixUnits = target.hasFeature("amx-int8");
    // vcvtph2ps widens eight halves at once (every AVX2 machine has it).
    caps.halfWeightScales = target.hasFeature("f16c");
    caps.nativePrecisions = {"f32"};
    if (target.hasFeature("avx512fp16"))
      caps.nativePrecisions.push_back("f16");
    // Weight-only precisions decode to f32 inside the matmul loop.
    caps.emulatedPrecisions = {"f16", "w8a16", "w4a16", "w3a16", "w2a16",
                               "nf4", "fp8"};
    if (target.hasFeature("avx512fp16"))
      caps.emulatedPrecisions.erase(caps.emulatedPrecisions.begin());
    // int8 x int8 products: one instruction per 4 products with VNNI,
    // widening multiplies and adds without.
    for (const char *p : {"w8a8", "w8a8-static", "w4a8"})
      (caps.int8DotProduct ? caps.nativePrecisions : caps.emulatedPrecisions)
          .push_back(p);
    // One core at a nominal 3 GHz and the ~12 GB/s one core streams from
    // DRAM (bench/README.md, qopt-bench-w4-gemv); the driver measures this
    // machine instead when it compiles for it (--cost-peaks).
    // Zen 5 has full-width 512-bit FMA pipes (Zen 4 splits 512-bit work
    // over 256-bit ones).
    caps.peaks = quant::x86NominalPeaks(
        avx512, caps.int8DotProduct, /*ghz=*/3.0, /*bandwidthGBs=*/12.0,
        /*fullWidth512=*/target.getCpu() == "znver5");
    return caps;
  }

  const quant::MachinePeaks *measuredHostPeaks() const override {
    return qopt::x86::measuredHostPeaks();
  }

  void buildPipeline(OpPassManager &pm, TargetAttr target) const override {
    buildX86TensorPipeline(pm, tilingOptionsFor(target));
    buildX86BufferPipeline(pm);
    buildX86LLVMPipeline(pm);
  }

  void registerPipelines() const override { registerX86Pipelines(); }

  LogicalResult serialize(ModuleOp module, const SerializeOptions &options,
                          ArtifactWriter &writer) const override;
};

} // namespace

LogicalResult X86Backend::serialize(ModuleOp module,
                                    const SerializeOptions &options,
                                    ArtifactWriter &writer) const {
  Location loc = module.getLoc();
  MLIRContext *ctx = module.getContext();
  auto target = module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
  assert(target && "compileArtifact checks the target");
  std::vector<TensorInfo> inputs, outputs;
  if (failed(describeSignature(module, inputs, outputs)))
    return failure();
  func::FuncOp entry = *lookupEntryFunction(module); // describeSignature checked it

  std::string error;
  // Helper models run once on a few samples: quick code generation.
  unsigned optLevel = options.helperModel ? std::min(options.optLevel, 1u)
                                          : options.optLevel;
  auto tm = createTargetMachine(target, optLevel, error);
  if (!tm)
    return emitError(loc) << error;
  std::string cpu = target.getCpu().str(), features = target.getFeatures().str();

  // Stage timings for --verbose: compiling a large model takes a while.
  auto clock = std::chrono::steady_clock::now();
  auto stage = [&](const char *what) {
    if (!options.verbose)
      return;
    auto now = std::chrono::steady_clock::now();
    llvm::errs() << llvm::format("qopt: %-38s %7.2f s\n", what,
                                 std::chrono::duration<double>(now - clock).count());
    clock = now;
  };
  PassManager pm(ctx);
  X86TilingOptions tiling = tilingOptionsFor(target);
  tiling.reportScalar = options.reportScalarOps;
  buildX86TensorPipeline(pm, tiling);
  buildX86BufferPipeline(pm);
  if (failed(pm.run(module)))
    return emitError(loc) << "x86 pipeline failed (tensor/buffer stages)";
  stage("tiling, vectorization, bufferization");
  auto int8Kernels = module->getAttrOfType<ArrayAttr>(kInt8KernelsAttrName);

  // Large constants move to weights.bin inside the pass manager; the blob
  // and its layout ride on the module until they are written.
  std::vector<char> blob;
  std::vector<WeightLayoutEntry> layoutEntries;
  if (!options.embedWeights &&
      failed(externalizeWeightsToBlob(module, options.weightThresholdBytes,
                                      /*alignment=*/64, blob, layoutEntries)))
    return failure();
  if (options.soleModule)
    releaseUnreferencedBlobs(module);
  int64_t workspaceBytes = 0;
  if (auto attr = module->getAttrOfType<IntegerAttr>(
          QOptDialect::kWorkspaceBytesAttrName))
    workspaceBytes = attr.getInt();

  // The entry point's argument table, from the declared roles.
  std::vector<ArgLayout> layout;
  unsigned numInputs = 0, numOutputs = 0;
  for (unsigned i = 0; i < entry.getNumArguments(); ++i) {
    auto role =
        entry.getArgAttrOfType<ArgRoleAttr>(i, QOptDialect::kArgRoleAttrName);
    if (!role)
      return emitError(loc) << "internal error: argument " << i
                            << " of the entry has no declared role";
    switch (role.getValue()) {
    case ArgRole::Weights:
      layout.push_back({ArgLayout::Weights, 0, {(int64_t)blob.size()}});
      break;
    case ArgRole::Workspace:
      layout.push_back({ArgLayout::Workspace, 0, {workspaceBytes}});
      break;
    case ArgRole::Input:
      if (numInputs >= inputs.size())
        return emitError(loc) << "internal error: more input arguments than "
                                 "model inputs";
      layout.push_back({ArgLayout::Input, numInputs, inputs[numInputs].shape});
      ++numInputs;
      break;
    case ArgRole::Output:
      if (numOutputs >= outputs.size())
        return emitError(loc) << "internal error: more output arguments than "
                                 "model outputs";
      layout.push_back(
          {ArgLayout::Output, numOutputs, outputs[numOutputs].shape});
      ++numOutputs;
      break;
    }
  }
  if (numInputs != inputs.size() || numOutputs != outputs.size())
    return emitError(loc) << "internal error: the entry takes " << numInputs
                          << " inputs and " << numOutputs
                          << " outputs, the model has " << inputs.size()
                          << " and " << outputs.size();

  // The stem of the code files and of the exported symbols.
  std::string id = modelSymbolPrefix(options.name);
  std::string graphName = id + "_graph";
  entry.setSymName(graphName);

  PassManager lowering(ctx);
  buildX86LLVMPipeline(lowering);
  if (failed(lowering.run(module)))
    return emitError(loc) << "x86 pipeline failed (LLVM lowering)";
  // Kernels qopt-parallelize-kernels split (0: one thread only).
  int64_t threads = 0;
  if (auto attr = module->getAttrOfType<IntegerAttr>(
          QOptDialect::kThreadsAttrName))
    threads = attr.getInt();

  // LLVM IR.
  DialectRegistry registry;
  registerAllToLLVMIRTranslations(registry);
  ctx->appendDialectRegistry(registry);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, options.name);
  if (!llvmModule)
    return emitError(loc) << "translation to LLVM IR failed";
  llvmModule->setTargetTriple(tm->getTargetTriple());
  llvmModule->setDataLayout(tm->createDataLayout());
  llvm::Function *graph = llvmModule->getFunction(graphName);
  if (!graph)
    return emitError(loc) << "internal error: lowered graph function missing";
  std::string runName = id + "_run", threadName = id + "_run_thread";
  addEntryWrapper(*llvmModule, graph, runName, layout, /*threaded=*/false);
  if (threads > 0)
    addEntryWrapper(*llvmModule, graph, threadName, layout, /*threaded=*/true);
  std::string abiName = id + "_abi";
  addEntryABI(*llvmModule, abiName, (int64_t)blob.size(), workspaceBytes,
              inputs, outputs);
  graph->setLinkage(llvm::GlobalValue::InternalLinkage);
  for (llvm::Function &f : *llvmModule)
    if (!f.isDeclaration())
      f.addFnAttr("target-cpu", cpu), f.addFnAttr("target-features", features);

  stage("lowering to LLVM IR");
  auto fail = [&](const Twine &msg) { return emitError(loc) << msg; };
  auto failWith = [&](llvm::Error e) {
    return emitError(loc) << llvm::toString(std::move(e));
  };
  std::string obj = writer.stagedPath(id + ".o");
  // Runs lld or objcopy writing `file` into the staging folder (a full disk
  // is said plainly, naming the file).
  auto runTool = [&](StringRef file, ArrayRef<StringRef> argv,
                     const Twine &what) -> LogicalResult {
    if (llvm::Error e = writer.runTool(file, argv, what))
      return failWith(std::move(e));
    return success();
  };

  // LLVM optimization and code generation take most of a compile: they run
  // on partitions of the module in parallel, merged into one object whose
  // only exported definition is the entry point.
  unsigned partitions =
      options.keepIntermediates
          ? 1
          : std::min(4u, llvm::hardware_concurrency().compute_thread_count());
  if (partitions > 1) {
    std::vector<SmallString<0>> bitcode;
    llvm::SplitModule(
        *llvmModule, partitions,
        [&](std::unique_ptr<llvm::Module> part) {
          SmallString<0> buffer;
          llvm::raw_svector_ostream os(buffer);
          llvm::WriteBitcodeToFile(*part, os);
          bitcode.push_back(std::move(buffer));
        },
        /*PreserveLocals=*/false, /*RoundRobin=*/true);
    std::vector<SmallVector<char, 0>> objects(bitcode.size());
    std::vector<std::string> errors(bitcode.size());
    {
      llvm::DefaultThreadPool pool(llvm::hardware_concurrency(partitions));
      for (size_t i = 0; i < bitcode.size(); ++i)
        pool.async([&, i] {
          llvm::LLVMContext partContext;
          auto part = llvm::parseBitcodeFile(
              llvm::MemoryBufferRef(bitcode[i].str(), "partition"),
              partContext);
          if (!part) {
            errors[i] = llvm::toString(part.takeError());
            return;
          }
          auto partTM = createTargetMachine(target, optLevel, errors[i]);
          if (!partTM)
            return;
          auto optimize = makeOptimizingTransformer(optLevel, 0, partTM.get());
          if (llvm::Error e = optimize(part->get())) {
            errors[i] = "LLVM optimization failed: " + llvm::toString(std::move(e));
            return;
          }
          llvm::raw_svector_ostream os(objects[i]);
          llvm::legacy::PassManager codegen;
          if (partTM->addPassesToEmitFile(codegen, os, nullptr,
                                          llvm::CodeGenFileType::ObjectFile)) {
            errors[i] = "the target cannot emit object files";
            return;
          }
          codegen.run(**part);
        });
      pool.wait();
    }
    for (const std::string &e : errors)
      if (!e.empty())
        return fail(e);
    stage("LLVM optimization and code generation (parallel)");
    SmallVector<std::string> partFiles;
    for (size_t i = 0; i < objects.size(); ++i) {
      std::string part = id + ".part" + std::to_string(i) + ".o";
      partFiles.push_back(writer.stagedPath(part));
      if (llvm::Error e = writer.writeFile(
              part, StringRef(objects[i].data(), objects[i].size())))
        return failWith(std::move(e));
    }
    std::string lld, objcopy;
    if (failed(findTool(QOPT_LLD_PATH, "ld.lld", lld)) ||
        failed(findTool(QOPT_OBJCOPY_PATH, "llvm-objcopy", objcopy)))
      return fail("cannot find ld.lld and llvm-objcopy to merge the object");
    SmallVector<StringRef> merge = {lld, "-r", "-o", obj};
    for (const std::string &f : partFiles)
      merge.push_back(f);
    if (failed(runTool(id + ".o", merge, "merging " + id + ".o")))
      return failure();
    for (const std::string &f : partFiles)
      llvm::sys::fs::remove(f);
    // Partitioning made the internal functions and constants global (hidden):
    // make them local again, so two models link into one program.
    std::string keep = "--keep-global-symbol=" + runName,
                keepABI = "--keep-global-symbol=" + abiName,
                keepThread = "--keep-global-symbol=" + threadName;
    SmallVector<StringRef> localize = {objcopy, keep, keepABI};
    if (threads > 0)
      localize.push_back(keepThread);
    localize.push_back(obj);
    if (failed(runTool(id + ".o", localize,
                       "localizing the symbols of " + id + ".o")))
      return failure();
  } else {
    auto optimize = makeOptimizingTransformer(optLevel, 0, tm.get());
    if (llvm::Error err = optimize(llvmModule.get())) {
      std::string msg = llvm::toString(std::move(err));
      return emitError(loc) << "LLVM optimization failed: " << msg;
    }
    if (options.keepIntermediates) {
      std::string ir;
      llvm::raw_string_ostream os(ir);
      llvmModule->print(os, nullptr);
      if (llvm::Error e = writer.addFile(id + ".ll", ir, "llvm-ir"))
        return failWith(std::move(e));
    }
    stage("LLVM optimization");
    SmallVector<char, 0> object;
    {
      llvm::raw_svector_ostream os(object);
      llvm::legacy::PassManager codegen;
      if (tm->addPassesToEmitFile(codegen, os, nullptr,
                                  llvm::CodeGenFileType::ObjectFile))
        return fail("the target cannot emit object files");
      codegen.run(*llvmModule);
    }
    if (llvm::Error e = writer.writeFile(
            id + ".o", StringRef(object.data(), object.size())))
      return failWith(std::move(e));
    stage("code generation");
  }
  if (llvm::Error e = writer.noteFile(id + ".o", "object"))
    return failWith(std::move(e));

  {
    std::string lld;
    if (failed(findTool(QOPT_LLD_PATH, "ld.lld", lld)))
      return fail("cannot find ld.lld to link " + id + ".so");
    std::string so = writer.stagedPath(id + ".so");
    SmallVector<StringRef> argv = {lld,  "-shared", "--as-needed", "-o", so,
                                   obj, "-lm", "-lc", "-L/usr/lib/x86_64-linux-gnu",
                                   "-L/lib/x86_64-linux-gnu"};
    if (failed(runTool(id + ".so", argv, "linking " + id + ".so")))
      return failure();
  }
  if (llvm::Error e = writer.noteFile(id + ".so", "library"))
    return failWith(std::move(e));

  if (llvm::Error e = writer.setWeights(blob, std::move(layoutEntries),
                                        options.embedWeights))
    return failWith(std::move(e));

  if (llvm::Error e = writer.addFile(
          id + ".h",
          headerText(options.name, inputs, outputs, options.embedWeights,
                     (int64_t)blob.size(), workspaceBytes, target.getTriple(),
                     cpu, threads > 0),
          "header"))
    return failWith(std::move(e));

  llvm::json::Object &manifest = writer.manifest();
  manifest["target"] = llvm::json::Object{
      {"backend", name().str()},
      {"triple", target.getTriple().str()},
      {"cpu", cpu},
      {"features", enabledFeatures(features)},
      {"capabilities", capabilities(target).toJSON()}};
  manifest["entry"] = runName;
  manifest["library"] = id + ".so";
  manifest["object"] = id + ".o";
  manifest["header"] = id + ".h";
  manifest["workspace_bytes"] = workspaceBytes;
  // The compile-time transforms of the constants: the int8 kernels' packed
  // weights (qopt-x86-int8-matmul).
  if (int8Kernels) {
    llvm::json::Array list;
    for (Attribute a : int8Kernels) {
      auto d = cast<DictionaryAttr>(a);
      llvm::json::Object o;
      for (NamedAttribute e : d) {
        if (auto i = dyn_cast<IntegerAttr>(e.getValue()))
          o[e.getName().strref()] = i.getInt();
        else if (auto str = dyn_cast<StringAttr>(e.getValue()))
          o[e.getName().strref()] = str.str();
      }
      list.push_back(std::move(o));
    }
    manifest["int8_kernels"] = std::move(list);
  }
  stage("linking and writing the artifact");
  return success();
}

std::unique_ptr<TargetBackend> createX86Backend() {
  return std::make_unique<X86Backend>();
}

} // namespace qopt::x86
