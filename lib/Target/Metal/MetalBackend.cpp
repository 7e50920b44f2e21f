//===- MetalBackend.cpp - GPU kernels as Metal Shading Language -----------===//
//
// The Metal target compiles exactly what the SPIR-V target compiles (the
// shared GPU pipeline, then SPIR-V for a Vulkan-like environment without
// integer dot product or float64) and translates each kernel's SPIR-V to
// MSL with SPIRV-Cross's C API: descriptor set 0 binding b becomes
// [[buffer(b)]], so a dispatch's bindings are its buffer indices; each
// kernel function is named after its kernel (the dispatch list's `entry`).
// The artifact: model.metal (every kernel), weights.bin, manifest.json
// (the dispatch list, threadgroup counts and sizes from the strategy) and
// model.h, the same dispatch list as plain C for a Metal host. Nothing
// here runs Metal (docs/gpu.md says what is checked instead).
//
//===----------------------------------------------------------------------===//

#include "qopt/Target/Metal/MetalTarget.h"
#include "qopt/QOptDialect.h"
#include "qopt/Target/Artifact.h"
#include "qopt/Target/GPU/GPUPipeline.h"
#include "qopt/Target/SPIRV/SPIRVTarget.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <spirv_cross_c.h>

using namespace mlir;

namespace qopt::metal {

namespace {

/// One kernel's SPIR-V as MSL: its function renamed to `kernel`, binding b
/// of set 0 at [[buffer(b)]], and its buffer block types named after the
/// kernel (so the kernels of one model.metal do not collide).
FailureOr<std::string> toMSL(ArrayRef<uint32_t> words, StringRef kernel,
                             StringRef entry, bool ios, std::string &error) {
  spvc_context ctx = nullptr;
  if (spvc_context_create(&ctx) != SPVC_SUCCESS) {
    error = "SPIRV-Cross: cannot create a context";
    return failure();
  }
  auto fail = [&](const char *what) -> FailureOr<std::string> {
    error = std::string("SPIRV-Cross: ") + what + ": " +
            spvc_context_get_last_error_string(ctx);
    spvc_context_destroy(ctx);
    return failure();
  };
  spvc_parsed_ir ir = nullptr;
  if (spvc_context_parse_spirv(ctx, words.data(), words.size(), &ir) !=
      SPVC_SUCCESS)
    return fail("cannot parse the kernel's SPIR-V");
  spvc_compiler compiler = nullptr;
  if (spvc_context_create_compiler(ctx, SPVC_BACKEND_MSL, ir,
                                   SPVC_CAPTURE_MODE_TAKE_OWNERSHIP,
                                   &compiler) != SPVC_SUCCESS)
    return fail("cannot create the MSL compiler");
  spvc_compiler_options options = nullptr;
  spvc_compiler_create_compiler_options(compiler, &options);
  spvc_compiler_options_set_uint(options, SPVC_COMPILER_OPTION_MSL_VERSION,
                                 SPVC_MAKE_MSL_VERSION(2, 3, 0));
  spvc_compiler_options_set_uint(options, SPVC_COMPILER_OPTION_MSL_PLATFORM,
                                 ios ? SPVC_MSL_PLATFORM_IOS
                                     : SPVC_MSL_PLATFORM_MACOS);
  if (spvc_compiler_install_compiler_options(compiler, options) !=
      SPVC_SUCCESS)
    return fail("cannot set the MSL options");

  spvc_resources resources = nullptr;
  if (spvc_compiler_create_shader_resources(compiler, &resources) !=
      SPVC_SUCCESS)
    return fail("cannot reflect the kernel's buffers");
  const spvc_reflected_resource *list = nullptr;
  size_t count = 0;
  spvc_resources_get_resource_list_for_type(
      resources, SPVC_RESOURCE_TYPE_STORAGE_BUFFER, &list, &count);
  for (size_t i = 0; i < count; ++i) {
    unsigned set = spvc_compiler_get_decoration(compiler, list[i].id,
                                                SpvDecorationDescriptorSet);
    unsigned binding =
        spvc_compiler_get_decoration(compiler, list[i].id, SpvDecorationBinding);
    spvc_msl_resource_binding rb;
    spvc_msl_resource_binding_init(&rb);
    rb.stage = SpvExecutionModelGLCompute;
    rb.desc_set = set;
    rb.binding = binding;
    rb.msl_buffer = binding;
    if (spvc_compiler_msl_add_resource_binding(compiler, &rb) != SPVC_SUCCESS)
      return fail("cannot map a binding to a buffer index");
    std::string type = (kernel + "_buffer" + llvm::Twine(binding)).str();
    std::string var = ("buffer" + llvm::Twine(binding)).str();
    spvc_compiler_set_name(compiler, list[i].base_type_id, type.c_str());
    spvc_compiler_set_name(compiler, list[i].id, var.c_str());
  }
  if (spvc_compiler_rename_entry_point(compiler, entry.str().c_str(),
                                       kernel.str().c_str(),
                                       SpvExecutionModelGLCompute) !=
      SPVC_SUCCESS)
    return fail("cannot rename the entry point");
  const char *source = nullptr;
  if (spvc_compiler_compile(compiler, &source) != SPVC_SUCCESS)
    return fail("cannot translate the kernel to MSL");
  std::string out = source;
  spvc_context_destroy(ctx);
  return out;
}

/// model.h: the dispatch list as C constants.
std::string modelHeader(const llvm::json::Array &dispatches,
                        int64_t workspaceBytes, int64_t weightsBytes) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "/* Generated by qopt: the dispatches of model.metal, in order.\n"
        " * Each dispatch runs `function` over threadgroups[] threadgroups "
        "of\n * threads_per_threadgroup[] threads; binding i of a dispatch "
        "is\n * [[buffer(i)]]: `bytes` bytes at `offset` of one buffer: the "
        "weights\n * (weights.bin, uploaded once), the workspace, or input "
        "/ output\n * `index`. Run them in order with a barrier between "
        "each two. */\n"
        "#ifndef QOPT_MODEL_METAL_H\n#define QOPT_MODEL_METAL_H\n\n"
        "#include <stdint.h>\n\n"
        "typedef enum {\n  QOPT_METAL_WEIGHTS,\n  QOPT_METAL_WORKSPACE,\n"
        "  QOPT_METAL_INPUT,\n  QOPT_METAL_OUTPUT\n} qopt_metal_buffer;\n\n"
        "typedef struct {\n  qopt_metal_buffer buffer;\n  uint32_t index;\n"
        "  uint64_t offset;\n  uint64_t bytes;\n} qopt_metal_binding;\n\n"
        "typedef struct {\n  const char *function;\n"
        "  uint32_t threadgroups[3];\n  uint32_t threads_per_threadgroup[3];\n"
        "  uint32_t num_bindings;\n  const qopt_metal_binding *bindings;\n"
        "} qopt_metal_dispatch;\n\n";
  os << "#define QOPT_MODEL_WEIGHTS_BYTES " << weightsBytes << "ull\n";
  os << "#define QOPT_MODEL_WORKSPACE_BYTES " << workspaceBytes << "ull\n";
  os << "#define QOPT_MODEL_NUM_DISPATCHES " << dispatches.size() << "u\n\n";
  auto kind = [](StringRef b) {
    if (b == "weights")
      return "QOPT_METAL_WEIGHTS";
    if (b == "workspace")
      return "QOPT_METAL_WORKSPACE";
    if (b == "input")
      return "QOPT_METAL_INPUT";
    return "QOPT_METAL_OUTPUT";
  };
  auto triple = [&](const llvm::json::Array *a) {
    std::string s;
    for (size_t i = 0; a && i < a->size(); ++i)
      s += (i ? ", " : "") +
           std::to_string((*a)[i].getAsInteger().value_or(0));
    return s;
  };
  for (size_t d = 0; d < dispatches.size(); ++d) {
    const llvm::json::Object *o = dispatches[d].getAsObject();
    os << "static const qopt_metal_binding qopt_model_bindings_" << d
       << "[] = {\n";
    for (const llvm::json::Value &b : *o->getArray("bindings")) {
      const llvm::json::Object *bo = b.getAsObject();
      os << "  {" << kind(*bo->getString("buffer")) << ", "
         << *bo->getInteger("index") << ", " << *bo->getInteger("offset")
         << ", " << *bo->getInteger("bytes") << "},\n";
    }
    os << "};\n";
  }
  os << "\nstatic const qopt_metal_dispatch qopt_model_dispatches[] = {\n";
  for (size_t d = 0; d < dispatches.size(); ++d) {
    const llvm::json::Object *o = dispatches[d].getAsObject();
    os << "  {\"" << *o->getString("entry") << "\", {"
       << triple(o->getArray("workgroups")) << "}, {"
       << triple(o->getArray("workgroup_size")) << "}, "
       << o->getArray("bindings")->size() << ", qopt_model_bindings_" << d
       << "},\n";
  }
  os << "};\n\n#endif /* QOPT_MODEL_METAL_H */\n";
  return text;
}

class MetalBackend final : public TargetBackend {
public:
  StringRef name() const override { return "metal"; }
  StringRef description() const override {
    return "Metal Shading Language for Apple GPUs (from the SPIR-V kernels "
           "through SPIRV-Cross; compiled, not run, here): model.metal, "
           "model.h and a dispatch list";
  }
  std::vector<std::string> exampleTriples() const override {
    return {"air64-apple-macos", "air64-apple-ios"};
  }
  bool acceptsTriple(StringRef triple) const override {
    return triple.starts_with("air64-apple-macos") ||
           triple.starts_with("air64-apple-ios");
  }
  std::vector<std::string> processorNames() const override {
    return {"generic"};
  }
  FailureOr<TargetAttr> resolve(MLIRContext *context, StringRef triple,
                                StringRef cpu, StringRef features,
                                std::string &error) const override {
    if (!acceptsTriple(triple)) {
      error = "the metal target compiles for air64-apple-macos or "
              "air64-apple-ios, not '" +
              triple.str() + "'";
      return failure();
    }
    if (cpu.empty() || cpu == "native")
      cpu = "generic";
    if (cpu != "generic") {
      error = "unknown Metal device '" + cpu.str() + "' (known: generic)";
      return failure();
    }
    for (StringRef f : {"+dotprod", "+float64"})
      if (features.contains(f)) {
        error = "the metal target has no '" + f.drop_front().str() +
                "' feature (MSL has no integer dot product and no double)";
        return failure();
      }
    std::string all = kDefaultFeatures;
    if (!features.empty())
      all += "," + features.str();
    return TargetAttr::get(context, name(), triple, cpu, all);
  }
  TargetCapabilities capabilities(TargetAttr target) const override {
    TargetCapabilities caps;
    caps.vectorBits = 0;
    // Metal has no int8 dot product: integer products are emulated.
    gpu::addGPUPrecisions(caps);
    // macOS: the M2's 10-core GPU (fp16 at the fp32 rate; no int8 dot
    // product in Metal, so integer products run at the fp32 rate). Apple
    // publishes no such figures for its phone GPUs.
    if (!target || target.getTriple().starts_with("air64-apple-macos"))
      caps.peaks = quant::publishedPeaks(
          "published figures of the Apple M2 (10-core GPU)", 3.6, 3.6, 0, 100,
          /*int8Native=*/false, /*fp16Native=*/true);
    else
      caps.noPeaksReason = "none: no published figures for iOS GPUs";
    return caps;
  }
  void buildPipeline(OpPassManager &pm, TargetAttr target) const override {
    gpu::GPUStrategy strategy;
    gpu::buildGPUTensorPipeline(pm);
    gpu::buildGPUBufferPipeline(pm, strategy);
    gpu::buildGPUMappingPipeline(pm, strategy);
    spirv::buildSPIRVPipeline(pm, target);
  }
  void registerPipelines() const override { spirv::registerSPIRVPipelines(); }

  LogicalResult serialize(ModuleOp module, const SerializeOptions &options,
                          ArtifactWriter &writer) const override {
    auto target =
        module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
    bool ios = target && target.getTriple().contains("-ios");
    std::string metal =
        "// Generated by qopt from the model's SPIR-V kernels through "
        "SPIRV-Cross.\n// One kernel function per dispatch kind; model.h "
        "and manifest.json\n// list the dispatches.\n\n";
    std::string file = options.name + ".metal";
    bool first = true;
    spirv::GPUKernelSink sink;
    sink.kernel = [&](StringRef kernel, StringRef entry,
                      ArrayRef<uint32_t> words,
                      Location loc) -> FailureOr<std::string> {
      std::string error;
      FailureOr<std::string> msl = toMSL(words, kernel, entry, ios, error);
      if (failed(msl))
        return emitError(loc) << "kernel '" << kernel << "': " << error;
      // Every translation starts with the same includes and `using`.
      StringRef text = *msl;
      if (!first) {
        size_t at = text.find("using namespace metal;\n");
        if (at != StringRef::npos)
          text = text.drop_front(at + strlen("using namespace metal;\n"));
      }
      first = false;
      metal += "// ---- kernel " + kernel.str() + "\n" + text.str() + "\n";
      return file;
    };
    sink.finish = [&](llvm::json::Array &dispatches, int64_t workspaceBytes,
                      int64_t weightsBytes) -> LogicalResult {
      // The MSL function is the kernel's name; no capabilities to check.
      for (llvm::json::Value &d : dispatches) {
        llvm::json::Object *o = d.getAsObject();
        std::string kernel = o->getString("kernel")->str();
        (*o)["entry"] = kernel;
        o->erase("capabilities");
      }
      if (llvm::Error e = writer.addFile(file, metal, "metal")) {
        emitError(module.getLoc()) << llvm::toString(std::move(e));
        return failure();
      }
      if (llvm::Error e = writer.addFile(
              options.name + ".h",
              modelHeader(dispatches, workspaceBytes, weightsBytes),
              "metal-header")) {
        emitError(module.getLoc()) << llvm::toString(std::move(e));
        return failure();
      }
      return success();
    };
    return spirv::serializeGPUArtifact(module, options, writer, name(),
                                       capabilities(target), &sink);
  }
};

} // namespace

std::unique_ptr<TargetBackend> createMetalBackend() {
  return std::make_unique<MetalBackend>();
}

} // namespace qopt::metal
