//===- X86Artifact.cpp - Writing x86 artifacts -----------------------------===//
//
// Runs the three x86 stages, moves weights to weights.bin, translates to
// LLVM IR, adds the C entry point, optimizes, emits model.o, links model.so
// and writes model.h and manifest.json: all in a temporary folder renamed
// into place once everything succeeded.
//
//===----------------------------------------------------------------------===//

#include "qopt/Target/X86/X86Target.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

#include <chrono>

#ifndef QOPT_LLD_PATH
#define QOPT_LLD_PATH "/usr/lib/llvm-22/bin/ld.lld"
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

func::FuncOp entryFunction(ModuleOp module) {
  func::FuncOp entry;
  for (auto fn : module.getOps<func::FuncOp>())
    if (!fn.isExternal() && fn.isPublic())
      entry = entry ? func::FuncOp() : fn;
  return entry;
}

/// Removes a folder tree (best effort).
void removeTree(StringRef path) {
  if (llvm::sys::fs::is_directory(path))
    llvm::sys::fs::remove_directories(path);
  else
    llvm::sys::fs::remove(path);
}

LogicalResult writeFile(Location loc, StringRef path, StringRef data) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return emitError(loc) << "cannot write '" << path << "': " << ec.message();
  os << data;
  return success();
}

std::string cIdentifier(StringRef s) {
  std::string out;
  for (char c : s)
    out.push_back(isalnum((unsigned char)c) ? c : '_');
  if (out.empty() || isdigit((unsigned char)out[0]))
    out.insert(out.begin(), '_');
  return out;
}

std::unique_ptr<llvm::TargetMachine>
createTargetMachine(const X86CompileOptions &options, std::string &cpuOut,
                    std::string &featuresOut, std::string &error) {
  static bool initialized = [] {
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    return true;
  }();
  (void)initialized;
  llvm::Triple triple(options.triple);
  if (triple.getArch() != llvm::Triple::x86_64) {
    error = "the x86 target compiles for x86_64 triples, not '" +
            options.triple + "'";
    return nullptr;
  }
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  cpuOut = options.cpu;
  featuresOut = options.features;
  if (cpuOut == "native" || cpuOut.empty()) {
    cpuOut = llvm::sys::getHostCPUName().str();
    llvm::StringMap<bool> hostFeatures = llvm::sys::getHostCPUFeatures();
    std::string f;
    for (auto &kv : hostFeatures)
      f += (f.empty() ? "" : ",") + std::string(kv.second ? "+" : "-") +
           kv.getKey().str();
    featuresOut = featuresOut.empty() ? f : f + "," + featuresOut;
  }
  llvm::TargetOptions targetOptions;
  auto tm = std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpuOut, featuresOut, targetOptions, llvm::Reloc::PIC_,
      std::nullopt,
      options.optLevel >= 3 ? llvm::CodeGenOptLevel::Aggressive
      : options.optLevel == 0 ? llvm::CodeGenOptLevel::None
                              : llvm::CodeGenOptLevel::Default));
  if (!tm)
    error = "cannot create a target machine for '" + options.triple +
            "' and CPU '" + cpuOut + "'";
  return tm;
}

/// Adds `<name>_run(const void *weights, void *workspace,
/// const void *const *inputs,
/// void *const *outputs)`, which builds each memref descriptor from a bare
/// pointer and the static shape, then calls the lowered graph function
/// (whose memref arguments are expanded to allocated pointer, aligned
/// pointer, offset, sizes and strides).
void addEntryWrapper(llvm::Module &module, llvm::Function *graph,
                     StringRef runName, ArrayRef<ArgLayout> args) {
  llvm::LLVMContext &ctx = module.getContext();
  auto *ptrTy = llvm::PointerType::get(ctx, 0);
  auto *i64 = llvm::Type::getInt64Ty(ctx);
  auto *i32 = llvm::Type::getInt32Ty(ctx);
  auto *fnTy =
      llvm::FunctionType::get(i32, {ptrTy, ptrTy, ptrTy, ptrTy}, false);
  auto *fn = llvm::Function::Create(fnTy, llvm::GlobalValue::ExternalLinkage,
                                    runName, module);
  fn->getArg(0)->setName("weights");
  fn->getArg(1)->setName("workspace");
  fn->getArg(2)->setName("inputs");
  fn->getArg(3)->setName("outputs");
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
  std::vector<llvm::Value *> callArgs;
  for (const ArgLayout &a : args) {
    llvm::Value *p;
    if (a.kind == ArgLayout::Weights || a.kind == ArgLayout::Workspace) {
      p = fn->getArg(a.kind == ArgLayout::Weights ? 0 : 1);
    } else {
      llvm::Value *table = fn->getArg(a.kind == ArgLayout::Input ? 2 : 3);
      llvm::Value *slot = b.CreateConstGEP1_64(ptrTy, table, a.index);
      p = b.CreateLoad(ptrTy, slot);
    }
    callArgs.push_back(p);
    callArgs.push_back(p);
    callArgs.push_back(llvm::ConstantInt::get(i64, 0));
    int64_t stride = 1;
    std::vector<int64_t> strides(a.shape.size());
    for (int d = (int)a.shape.size() - 1; d >= 0; --d) {
      strides[d] = stride;
      stride *= a.shape[d];
    }
    for (int64_t s : a.shape)
      callArgs.push_back(llvm::ConstantInt::get(i64, s));
    for (int64_t s : strides)
      callArgs.push_back(llvm::ConstantInt::get(i64, s));
  }
  b.CreateCall(graph->getFunctionType(), graph, callArgs);
  b.CreateRet(llvm::ConstantInt::get(i32, 0));
}

std::string headerText(StringRef name, ArrayRef<TensorInfo> inputs,
                       ArrayRef<TensorInfo> outputs, bool embedded,
                       int64_t weightBytes, int64_t workspaceBytes,
                       StringRef triple, StringRef cpu) {
  std::string id = cIdentifier(name);
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
     << "    const void *const *inputs, void *const *outputs);\n\n"
     << "#ifdef __cplusplus\n}\n#endif\n\n#endif /* " << upper << "_H */\n";
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

llvm::json::Array tensorsJson(ArrayRef<TensorInfo> list) {
  llvm::json::Array arr;
  for (const TensorInfo &t : list) {
    llvm::json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d);
    arr.push_back(llvm::json::Object{
        {"name", t.name}, {"dtype", t.dtype}, {"shape", std::move(shape)}});
  }
  return arr;
}

} // namespace

LogicalResult describeSignature(ModuleOp module, std::vector<TensorInfo> &inputs,
                                std::vector<TensorInfo> &outputs) {
  func::FuncOp fn = entryFunction(module);
  if (!fn)
    return module.emitError() << "expected exactly one public function";
  auto describe = [&](Type t, DictionaryAttr attrs, unsigned idx,
                      const char *kind, TensorInfo &info) -> LogicalResult {
    auto rt = dyn_cast<RankedTensorType>(t);
    if (!rt || !rt.hasStaticShape())
      return fn.emitError() << kind << " " << idx
                            << " must be a statically shaped tensor, got "
                            << t;
    auto name = attrs ? attrs.getAs<StringAttr>("qopt.name") : StringAttr();
    auto dtype = attrs ? attrs.getAs<StringAttr>("qopt.dtype") : StringAttr();
    info.name = name ? name.str() : std::string(kind) + std::to_string(idx);
    if (dtype) {
      info.dtype = dtype.str();
    } else {
      Type e = rt.getElementType();
      info.dtype = e.isF32()         ? "float32"
                   : e.isF64()       ? "float64"
                   : e.isF16()       ? "float16"
                   : e.isInteger(1)  ? "bool"
                   : e.isInteger(8)  ? "int8"
                   : e.isInteger(16) ? "int16"
                   : e.isInteger(32) ? "int32"
                   : e.isInteger(64) ? "int64"
                                     : "unknown";
    }
    info.shape.assign(rt.getShape().begin(), rt.getShape().end());
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

} // namespace qopt::x86

namespace qopt::x86 {

LogicalResult compileToArtifact(ModuleOp module,
                                const X86CompileOptions &options,
                                StringRef outDir) {
  Location loc = module.getLoc();
  MLIRContext *ctx = module.getContext();
  std::vector<TensorInfo> inputs, outputs;
  if (failed(describeSignature(module, inputs, outputs)))
    return failure();
  func::FuncOp entry = entryFunction(module);
  std::string entryName = entry.getSymName().str();

  std::string cpu, features, error;
  auto tm = createTargetMachine(options, cpu, features, error);
  if (!tm)
    return emitError(loc) << error;

  // Stages 1 and 2 on the MLIR module.
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
  buildX86TensorPipeline(pm);
  buildX86BufferPipeline(pm);
  if (failed(pm.run(module)))
    return emitError(loc) << "x86 pipeline failed (tensor/buffer stages)";
  stage("tiling, vectorization, bufferization");

  std::vector<char> blob;
  std::vector<WeightEntry> weightEntries;
  if (!options.embedWeights &&
      failed(externalizeWeights(module, entryName,
                                options.weightThresholdBytes, 64, blob,
                                weightEntries)))
    return failure();
  bool hasWeightsArg = !weightEntries.empty();
  int64_t workspaceBytes = 0;
  if (auto attr = module->getAttrOfType<IntegerAttr>("qopt.workspace_bytes"))
    workspaceBytes = attr.getInt();
  bool hasWorkspaceArg = false;
  for (unsigned i = 0; i < entry.getNumArguments(); ++i)
    hasWorkspaceArg |= (bool)entry.getArgAttr(i, "qopt.workspace");

  // Argument layout of the bufferized entry: [weights], inputs, outputs.
  std::vector<ArgLayout> layout;
  if (hasWeightsArg)
    layout.push_back({ArgLayout::Weights, 0, {(int64_t)blob.size()}});
  if (hasWorkspaceArg)
    layout.push_back({ArgLayout::Workspace, 0, {workspaceBytes}});
  for (unsigned i = 0; i < inputs.size(); ++i)
    layout.push_back({ArgLayout::Input, i, inputs[i].shape});
  for (unsigned i = 0; i < outputs.size(); ++i)
    layout.push_back({ArgLayout::Output, i, outputs[i].shape});
  if (entry.getNumArguments() != layout.size())
    return emitError(loc) << "internal error: bufferized entry has "
                          << entry.getNumArguments() << " arguments, expected "
                          << layout.size();

  std::string graphName = cIdentifier(options.name) + "_graph";
  entry.setSymName(graphName);

  PassManager lowering(ctx);
  buildX86LLVMPipeline(lowering);
  if (failed(lowering.run(module)))
    return emitError(loc) << "x86 pipeline failed (LLVM lowering)";

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
  std::string runName = cIdentifier(options.name) + "_run";
  addEntryWrapper(*llvmModule, graph, runName, layout);
  graph->setLinkage(llvm::GlobalValue::InternalLinkage);
  // Outlined kernels stay separate functions (see OutlineKernelsPass).
  for (llvm::Function &f : *llvmModule)
    if (f.getName().starts_with(graphName + "_k"))
      f.addFnAttr(llvm::Attribute::NoInline);
  for (llvm::Function &f : *llvmModule)
    if (!f.isDeclaration())
      f.addFnAttr("target-cpu", cpu), f.addFnAttr("target-features", features);

  stage("lowering to LLVM IR");
  auto optimize = makeOptimizingTransformer(options.optLevel, 0, tm.get());
  if (llvm::Error err = optimize(llvmModule.get())) {
    std::string msg = llvm::toString(std::move(err));
    return emitError(loc) << "LLVM optimization failed: " << msg;
  }

  // Everything below goes to a temporary folder first.
  SmallString<256> tmpDir(outDir);
  tmpDir += ".partial";
  removeTree(tmpDir);
  if (std::error_code ec = llvm::sys::fs::create_directories(tmpDir))
    return emitError(loc) << "cannot create '" << tmpDir
                          << "': " << ec.message();
  auto fail = [&](const Twine &msg) {
    removeTree(tmpDir);
    return emitError(loc) << msg;
  };
  auto path = [&](StringRef file) {
    SmallString<256> p(tmpDir);
    llvm::sys::path::append(p, file);
    return std::string(p);
  };
  std::string id = cIdentifier(options.name);

  if (options.keepIntermediates) {
    std::string ir;
    llvm::raw_string_ostream os(ir);
    llvmModule->print(os, nullptr);
    if (failed(writeFile(loc, path(id + ".ll"), ir)))
      return fail("cannot write LLVM IR");
  }

  stage("LLVM optimization");
  // model.o
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path(id + ".o"), ec, llvm::sys::fs::OF_None);
    if (ec)
      return fail("cannot write object: " + ec.message());
    llvm::legacy::PassManager codegen;
    if (tm->addPassesToEmitFile(codegen, os, nullptr,
                                llvm::CodeGenFileType::ObjectFile))
      return fail("the target cannot emit object files");
    codegen.run(*llvmModule);
  }

  stage("code generation");
  // model.so
  {
    std::string lld = QOPT_LLD_PATH;
    if (!llvm::sys::fs::can_execute(lld)) {
      auto found = llvm::sys::findProgramByName("ld.lld");
      if (!found)
        return fail("cannot find ld.lld to link " + id + ".so");
      lld = *found;
    }
    std::string obj = path(id + ".o"), so = path(id + ".so");
    SmallVector<StringRef> argv = {lld,  "-shared", "--as-needed", "-o", so,
                                   obj, "-lm", "-lc", "-L/usr/lib/x86_64-linux-gnu",
                                   "-L/lib/x86_64-linux-gnu"};
    std::string errMsg;
    int rc = llvm::sys::ExecuteAndWait(lld, argv, std::nullopt, {}, 0, 0,
                                       &errMsg);
    if (rc != 0)
      return fail("linking " + id + ".so failed (" + lld + "): " + errMsg);
  }

  if (!options.embedWeights) {
    std::error_code ec;
    llvm::raw_fd_ostream os(path("weights.bin"), ec);
    if (ec)
      return fail("cannot write weights.bin: " + ec.message());
    os.write(blob.data(), blob.size());
  }

  if (failed(writeFile(loc, path(id + ".h"),
                       headerText(options.name, inputs, outputs,
                                  options.embedWeights, (int64_t)blob.size(),
                                  workspaceBytes, options.triple, cpu))))
    return fail("cannot write header");

  // manifest.json
  {
    llvm::json::Array weightsList;
    for (const WeightEntry &w : weightEntries)
      weightsList.push_back(llvm::json::Object{
          {"global", w.name}, {"offset", w.offset}, {"bytes", w.bytes}});
    llvm::json::Object manifest{
        {"format", "qopt-artifact"},
        {"format_version", 1},
        {"qopt_version", QOPT_VERSION},
        {"name", options.name},
        {"target",
         llvm::json::Object{{"triple", options.triple},
                            {"cpu", cpu},
                            {"requested_cpu", options.cpu},
                            {"features", enabledFeatures(features)}}},
        {"entry", runName},
        {"library", id + ".so"},
        {"object", id + ".o"},
        {"header", id + ".h"},
        {"weights",
         llvm::json::Object{
             {"file", options.embedWeights ? "" : "weights.bin"},
             {"embedded", options.embedWeights},
             {"bytes", (int64_t)blob.size()},
             {"entries", std::move(weightsList)}}},
        {"workspace_bytes", workspaceBytes},
        {"inputs", tensorsJson(inputs)},
        {"outputs", tensorsJson(outputs)},
    };
    if (options.quantization)
      manifest["quantization"] = llvm::json::Object(*options.quantization);
    if (options.kvCache)
      manifest["kv_cache"] = llvm::json::Object(*options.kvCache);
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest)))
       << "\n";
    if (failed(writeFile(loc, path("manifest.json"), text)))
      return fail("cannot write manifest");
  }

  for (const auto &[name, contents] : options.extraFiles)
    if (failed(writeFile(loc, path(name), contents)))
      return fail("cannot write " + name);

  stage("linking and writing the artifact");
  removeTree(outDir);
  if (std::error_code ec = llvm::sys::fs::rename(tmpDir, outDir))
    return fail("cannot move the artifact to '" + outDir + "': " +
                ec.message());
  return success();
}

} // namespace qopt::x86
