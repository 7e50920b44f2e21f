//===- Runtime.cpp - qopt runtime (qrt) ------------------------------------===//
//
// Loads an artifact: parses manifest.json, maps weights.bin read-only and
// dlopen()s the model library. Running is a single call into the generated
// `<name>_run` entry point. SPIR-V artifacts run through the Vulkan backend
// (Vulkan.cpp) and NVPTX artifacts through the CUDA backend (Cuda.cpp)
// instead: their manifest's dispatch list is the program.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/DTypes.h"
#include "qopt/Runtime/EntryABI.h"
#include "qopt/Runtime/qrt.h"

#include "Cuda.h"
#include "Vulkan.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"
#include "llvm/TargetParser/Host.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct TensorDesc {
  std::string name, dtype;
  std::vector<int64_t> shape;
  size_t elementSize = 0, numElements = 1;
  /// An input whose values index an axis of this many elements (0: none),
  /// through the ONNX node `indexNode`.
  int64_t indexBound = 0;
  std::string indexNode;
};

using RunFn = int (*)(const void *, void *, const void *const *, void *const *);
using RunThreadFn = int (*)(const void *, void *, const void *const *,
                            void *const *, int, int, int64_t *);

namespace {
/// Threads 1 .. n-1 of a model's runs, parked between runs. Thread 0 is
/// the caller of qrt_run. Each run calls `<prefix>_run_thread` on every
/// thread with the same arguments and the same zeroed barrier words.
class ThreadTeam {
public:
  ThreadTeam(RunThreadFn fn, int n) : fn(fn), n(n) {
    for (int t = 1; t < n; ++t)
      workers.emplace_back([this, t] { work(t); });
  }
  ~ThreadTeam() {
    {
      std::lock_guard<std::mutex> lock(mu);
      quit = true;
    }
    start.notify_all();
    for (std::thread &w : workers)
      w.join();
  }
  int size() const { return n; }

  int run(const void *weights, void *workspace, const void *const *inputs,
          void *const *outputs) {
    sync[0] = sync[1] = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      job = {weights, workspace, inputs, outputs};
      pending = n - 1;
      rcs.assign(n, 0);
      ++generation;
    }
    start.notify_all();
    rcs[0] = fn(weights, workspace, inputs, outputs, 0, n, sync);
    std::unique_lock<std::mutex> lock(mu);
    done.wait(lock, [&] { return pending == 0; });
    for (int rc : rcs)
      if (rc)
        return rc;
    return 0;
  }

private:
  struct Job {
    const void *weights;
    void *workspace;
    const void *const *inputs;
    void *const *outputs;
  };
  void work(int tid) {
    uint64_t seen = 0;
    for (;;) {
      Job j;
      {
        std::unique_lock<std::mutex> lock(mu);
        start.wait(lock, [&] { return quit || generation != seen; });
        if (quit)
          return;
        seen = generation;
        j = job;
      }
      int rc = fn(j.weights, j.workspace, j.inputs, j.outputs, tid, n, sync);
      std::lock_guard<std::mutex> lock(mu);
      rcs[tid] = rc;
      if (--pending == 0)
        done.notify_one();
    }
  }
  RunThreadFn fn;
  int n;
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable start, done;
  Job job{};
  uint64_t generation = 0;
  int pending = 0;
  bool quit = false;
  std::vector<int> rcs;
  alignas(64) int64_t sync[2] = {0, 0};
};
} // namespace

} // namespace

struct qrt_model {
  void *library = nullptr;
  RunFn run = nullptr;
  /// `<prefix>_run_thread`, where the compiled code splits its kernels.
  RunThreadFn runThread = nullptr;
  /// Set while qrt_set_threads asks for more than one thread.
  std::unique_ptr<ThreadTeam> team;
  void *weights = nullptr;
  size_t weightsBytes = 0;
  void *workspace = nullptr;
  std::vector<TensorDesc> inputs, outputs;
  std::string target;
  /// Set for SPIR-V artifacts: the loaded Vulkan program.
  qrt::vulkan::ProgramPtr vulkan;
  /// Set for NVPTX artifacts: the loaded CUDA program.
  qrt::cuda::ProgramPtr cuda;
  std::string device = "cpu";
  /// Why the last qrt_run failed (qrt_last_error).
  std::string lastError;
};

static void setError(char *error, size_t size, const std::string &msg) {
  if (error && size) {
    std::snprintf(error, size, "%s", msg.c_str());
  }
}

static bool parseTensors(const llvm::json::Array *arr,
                         std::vector<TensorDesc> &out, std::string &err) {
  if (!arr) {
    err = "manifest lacks inputs/outputs";
    return false;
  }
  for (const llvm::json::Value &v : *arr) {
    const auto *o = v.getAsObject();
    if (!o) {
      err = "bad tensor entry in manifest";
      return false;
    }
    TensorDesc d;
    if (auto n = o->getString("name"))
      d.name = n->str();
    if (auto t = o->getString("dtype"))
      d.dtype = t->str();
    d.elementSize = qopt::dtypeSizeInBytes(d.dtype);
    if (!d.elementSize) {
      err = "unsupported dtype '" + d.dtype + "' in manifest";
      return false;
    }
    if (const auto *shape = o->getArray("shape"))
      for (const auto &dim : *shape) {
        auto x = dim.getAsInteger();
        if (!x || *x < 0) {
          err = "bad shape in manifest";
          return false;
        }
        d.shape.push_back(*x);
        d.numElements *= *x;
      }
    if (std::optional<int64_t> bound = o->getInteger("index_bound")) {
      if (*bound <= 0 || (d.dtype != "int64" && d.dtype != "int32")) {
        err = "bad index_bound for '" + d.name + "' in manifest";
        return false;
      }
      d.indexBound = *bound;
      d.indexNode = o->getString("index_node").value_or("").str();
    }
    out.push_back(std::move(d));
  }
  return true;
}

/// True for a plain file name inside the artifact folder.
static bool isPlainFileName(llvm::StringRef name) {
  return !name.empty() && !name.contains('/') && !name.starts_with(".");
}

/// Checks every file the manifest lists against the size it records (a
/// truncated model.so would fault inside dlopen, a short weights.bin inside
/// the model) and, when `verifyHashes`, against its SHA-256.
static bool checkFiles(llvm::StringRef dir, const llvm::json::Object &m,
                       bool verifyHashes, std::string &err) {
  const auto *files = m.getArray("files");
  if (!files)
    return true; // Written before qopt recorded sizes.
  for (const llvm::json::Value &v : *files) {
    const auto *o = v.getAsObject();
    std::optional<llvm::StringRef> name =
        o ? o->getString("name") : std::nullopt;
    if (!name || !isPlainFileName(*name)) {
      err = "bad file entry in manifest";
      return false;
    }
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, *name);
    std::optional<int64_t> bytes = o->getInteger("bytes");
    if (!bytes)
      continue;
    struct stat st;
    if (stat(p.c_str(), &st) != 0) {
      err = "the artifact's file " + name->str() + " is missing";
      return false;
    }
    if ((int64_t)st.st_size != *bytes) {
      err = "the artifact's file " + name->str() + " has " +
            std::to_string((long long)st.st_size) +
            " bytes; the manifest records " + std::to_string(*bytes) +
            " (truncated or replaced: recompile)";
      return false;
    }
    std::optional<llvm::StringRef> hash = o->getString("sha256");
    if (!verifyHashes || !hash)
      continue;
    auto contents = llvm::MemoryBuffer::getFile(p, /*IsText=*/false);
    if (!contents) {
      err =
          "cannot read " + p.str().str() + ": " + contents.getError().message();
      return false;
    }
    llvm::StringRef data = (*contents)->getBuffer();
    std::string actual = llvm::toHex(
        llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(
            reinterpret_cast<const uint8_t *>(data.data()), data.size())),
        /*LowerCase=*/true);
    if (actual != *hash) {
      err = "the artifact's file " + name->str() +
            " does not match the SHA-256 the manifest records (corrupt or "
            "replaced: recompile)";
      return false;
    }
  }
  return true;
}

/// Checks that `path` is a 64-bit ELF shared object whose segments all lie
/// within the file: dlopen maps them and a truncated file faults (SIGBUS)
/// instead of failing.
static bool checkSharedObject(const char *path, std::string &err) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0)
      close(fd);
    err = std::string("cannot open ") + path;
    return false;
  }
  std::vector<char> head(std::min<off_t>(st.st_size, 1 << 16));
  ssize_t got = pread(fd, head.data(), head.size(), 0);
  close(fd);
  auto bad = [&](const char *why) {
    err = std::string(path) + " is not a loadable model library (" + why +
          "): the artifact is damaged, recompile";
    return false;
  };
  Elf64_Ehdr eh;
  if (got < (ssize_t)sizeof eh)
    return bad("too short");
  std::memcpy(&eh, head.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_DYN)
    return bad("not a 64-bit ELF shared object");
  uint64_t size = st.st_size;
  uint64_t phEnd = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || phEnd > (uint64_t)got)
    return bad("truncated program headers");
  if (eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize > size)
    return bad("truncated section headers");
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, head.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
      return bad("truncated");
  }
  return true;
}

/// The address of `symbol` when the model library itself defines it (a
/// lookup through the handle would also find its dependencies' symbols,
/// libc's among them); null otherwise.
static void *ownSymbol(void *library, const std::string &symbol) {
  void *p = dlsym(library, symbol.c_str());
  struct link_map *map = nullptr;
  Dl_info info;
  if (!p || dlinfo(library, RTLD_DI_LINKMAP, &map) != 0 || !map ||
      !dladdr(p, &info) || !info.dli_fname ||
      std::strcmp(info.dli_fname, map->l_name) != 0)
    return nullptr;
  return p;
}

/// The dispatch list of a SPIR-V artifact's manifest.
static bool parseDispatches(const llvm::json::Object &m,
                            qrt::vulkan::Plan &plan, std::string &err) {
  const auto *list = m.getArray("dispatches");
  if (!list) {
    err = "the GPU artifact's manifest has no dispatch list";
    return false;
  }
  for (const llvm::json::Value &v : *list) {
    const auto *o = v.getAsObject();
    const auto *groups = o ? o->getArray("workgroups") : nullptr;
    const auto *bindings = o ? o->getArray("bindings") : nullptr;
    if (!o || !groups || groups->size() != 3 || !bindings ||
        !o->getString("file") || !o->getString("entry")) {
      err = "bad dispatch entry in manifest";
      return false;
    }
    qrt::vulkan::Dispatch d;
    d.file = o->getString("file")->str();
    d.entry = o->getString("entry")->str();
    for (int i = 0; i < 3; ++i)
      d.workgroups[i] = (uint32_t)(*groups)[i].getAsInteger().value_or(0);
    if (const auto *size = o->getArray("workgroup_size");
        size && size->size() == 3)
      for (int i = 0; i < 3; ++i)
        d.workgroupSize[i] = (uint32_t)(*size)[i].getAsInteger().value_or(1);
    if (const auto *caps = o->getArray("capabilities"))
      for (const llvm::json::Value &c : *caps)
        if (auto s = c.getAsString())
          d.capabilities.push_back(s->str());
    for (const llvm::json::Value &bv : *bindings) {
      const auto *b = bv.getAsObject();
      if (!b) {
        err = "bad binding in manifest";
        return false;
      }
      qrt::vulkan::Binding binding;
      binding.binding = (uint32_t)b->getInteger("binding").value_or(0);
      binding.index = (uint32_t)b->getInteger("index").value_or(0);
      binding.offset = (uint64_t)b->getInteger("offset").value_or(0);
      binding.bytes = (uint64_t)b->getInteger("bytes").value_or(0);
      llvm::StringRef kind = b->getString("buffer").value_or("");
      if (kind == "weights")
        binding.buffer = qrt::vulkan::BufferKind::Weights;
      else if (kind == "workspace")
        binding.buffer = qrt::vulkan::BufferKind::Workspace;
      else if (kind == "input")
        binding.buffer = qrt::vulkan::BufferKind::Input;
      else if (kind == "output")
        binding.buffer = qrt::vulkan::BufferKind::Output;
      else {
        err = "binding of unknown buffer '" + kind.str() + "' in manifest";
        return false;
      }
      d.bindings.push_back(binding);
    }
    plan.dispatches.push_back(std::move(d));
  }
  return true;
}

extern "C" qrt_model *qrt_load(const char *dir, char *error,
                               size_t error_size) {
  return qrt_load_on_device(dir, nullptr, error, error_size);
}

extern "C" qrt_model *qrt_load_on_device(const char *dir, const char *device,
                                         char *error, size_t error_size) {
  std::string wanted = device ? device : "";
  if (!wanted.empty() && wanted != "cpu" && wanted != "vulkan" &&
      wanted != "cuda") {
    setError(error, error_size,
             "unknown device '" + wanted + "' (known: cpu, vulkan, cuda)");
    return nullptr;
  }
  llvm::SmallString<256> manifestPath(dir);
  llvm::sys::path::append(manifestPath, "manifest.json");
  auto buf = llvm::MemoryBuffer::getFile(manifestPath);
  if (!buf) {
    setError(error, error_size,
             std::string("cannot read ") + manifestPath.c_str() + ": " +
                 buf.getError().message());
    return nullptr;
  }
  auto json = llvm::json::parse((*buf)->getBuffer());
  if (!json) {
    setError(error, error_size,
             "manifest.json is not valid JSON: " +
                 llvm::toString(json.takeError()));
    return nullptr;
  }
  const auto *m = json->getAsObject();
  if (!m || m->getString("format") != "qopt-artifact") {
    setError(error, error_size, "manifest.json is not a qopt artifact");
    return nullptr;
  }
  // Version 1 had no "backend"; both run here.
  int64_t version = m->getInteger("format_version").value_or(1);
  if (version > 2) {
    setError(error, error_size,
             "the artifact's manifest has format version " +
                 std::to_string(version) +
                 ", newer than this runtime reads (2): update qopt");
    return nullptr;
  }
  std::string backend = "x86";
  if (const auto *t = m->getObject("target"))
    backend = t->getString("backend").value_or("x86").str();
  // Where each backend's code runs, and the triple that targets it.
  auto deviceOf = [](const std::string &b) -> std::string {
    return b == "spirv" ? "vulkan" : b == "nvptx" ? "cuda" : "cpu";
  };
  auto tripleFor = [](const std::string &d) -> std::string {
    return d == "vulkan" ? "spirv64-unknown-vulkan1.3"
           : d == "cuda" ? "nvptx64-nvidia-cuda"
                         : "x86_64-unknown-linux-gnu";
  };
  if (backend != "x86" && backend != "spirv" && backend != "nvptx") {
    setError(error, error_size,
             "the artifact was compiled for the '" + backend +
                 "' target; this runtime runs x86, spirv and nvptx "
                 "artifacts");
    return nullptr;
  }
  bool onVulkan = backend == "spirv";
  bool onCuda = backend == "nvptx";
  std::string runsOn = deviceOf(backend);
  if (!wanted.empty() && wanted != runsOn) {
    setError(error, error_size,
             "the artifact was compiled for the '" + backend +
                 "' target, which runs on " + runsOn +
                 ", not on the requested device '" + wanted +
                 "' (recompile with --target=" + tripleFor(wanted) + ")");
    return nullptr;
  }
  auto model = std::make_unique<qrt_model>();
  std::string err;
  if (!parseTensors(m->getArray("inputs"), model->inputs, err) ||
      !parseTensors(m->getArray("outputs"), model->outputs, err)) {
    setError(error, error_size, err);
    return nullptr;
  }
  const char *verify = std::getenv("QRT_VERIFY");
  if (!checkFiles(dir, *m, verify && *verify && std::strcmp(verify, "0"),
                  err)) {
    setError(error, error_size, err);
    return nullptr;
  }
  if (const auto *t = m->getObject("target")) {
    model->target = (t->getString("triple").value_or("") + " " +
                     t->getString("cpu").value_or(""))
                        .str();
    // Refuse code this CPU cannot execute rather than die of SIGILL.
    if (const auto *features = t->getArray("features");
        features && backend == "x86") {
      llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
      std::string missing;
      for (const llvm::json::Value &f : *features) {
        auto name = f.getAsString();
        if (!name)
          continue;
        auto it = host.find(*name);
        if (it == host.end() || !it->second)
          missing += (missing.empty() ? "" : ", ") + name->str();
      }
      if (!missing.empty()) {
        setError(error, error_size,
                 "the artifact was compiled for " + model->target +
                     " and needs CPU features this machine lacks: " + missing +
                     " (recompile with -mcpu=native or an older -mcpu)");
        return nullptr;
      }
    }
  }
  // Weights.
  if (const auto *w = m->getObject("weights")) {
    std::string file = w->getString("file").value_or("").str();
    int64_t bytes = w->getInteger("bytes").value_or(0);
    if (!file.empty() && bytes > 0) {
      llvm::SmallString<256> wp(dir);
      llvm::sys::path::append(wp, file);
      int fd = open(wp.c_str(), O_RDONLY);
      struct stat st;
      if (fd < 0 || fstat(fd, &st) != 0 || st.st_size != bytes) {
        if (fd >= 0)
          close(fd);
        setError(error, error_size,
                 std::string("cannot map ") + wp.c_str() +
                     " (missing, or not the size the manifest records)");
        return nullptr;
      }
      void *p = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
      close(fd);
      if (p == MAP_FAILED) {
        setError(error, error_size, std::string("mmap failed for ") + wp.c_str());
        return nullptr;
      }
      model->weights = p;
      model->weightsBytes = bytes;
    }
  }
  // The model's scratch memory, allocated once and reused by every run.
  int64_t workspaceBytes = m->getInteger("workspace_bytes").value_or(0);
  if (workspaceBytes < 0) {
    setError(error, error_size, "bad workspace_bytes in manifest");
    qrt_free(model.release());
    return nullptr;
  }
  if (onVulkan || onCuda) {
    qrt::gpu::Plan plan;
    plan.dir = dir;
    plan.weights = model->weights;
    plan.weightsBytes = model->weightsBytes;
    plan.workspaceBytes = workspaceBytes;
    for (const TensorDesc &d : model->inputs)
      plan.inputBytes.push_back(d.numElements * d.elementSize);
    for (const TensorDesc &d : model->outputs)
      plan.outputBytes.push_back(d.numElements * d.elementSize);
    if (const auto *t = m->getObject("target")) {
      plan.processor = t->getString("cpu").value_or("").str();
      plan.binaryFile = t->getString("cubin").value_or("").str();
    }
    if (!parseDispatches(*m, plan, err)) {
      setError(error, error_size, err);
      qrt_free(model.release());
      return nullptr;
    }
    if (onCuda) {
      if (!(model->cuda = qrt::cuda::load(plan, err))) {
        setError(error, error_size, err);
        qrt_free(model.release());
        return nullptr;
      }
      model->device = "cuda:" + qrt::cuda::deviceName(*model->cuda);
      return model.release();
    }
    if (!(model->vulkan = qrt::vulkan::load(plan, err))) {
      setError(error, error_size, err);
      qrt_free(model.release());
      return nullptr;
    }
    model->device = "vulkan:" + qrt::vulkan::deviceName(*model->vulkan);
    return model.release();
  }
  std::string lib = m->getString("library").value_or("").str();
  std::string entry = m->getString("entry").value_or("").str();
  // Only the artifact's own entry point is ever called: its name follows
  // from the model's, whatever the manifest's "entry" says.
  std::string prefix =
      qopt::modelSymbolPrefix(m->getString("name").value_or("model").str());
  if (entry != prefix + "_run") {
    setError(error, error_size,
             "the manifest's entry point '" + entry +
                 "' is not the artifact's own ('" + prefix +
                 "_run'): the manifest was edited, recompile");
    qrt_free(model.release());
    return nullptr;
  }
  if (!isPlainFileName(lib)) {
    setError(error, error_size,
             "the manifest's library '" + lib +
                 "' is not a file of the artifact folder");
    qrt_free(model.release());
    return nullptr;
  }
  llvm::SmallString<256> libPath(dir);
  llvm::sys::path::append(libPath, lib);
  llvm::SmallString<256> absLib;
  if (llvm::sys::fs::real_path(libPath.str(), absLib))
    absLib = libPath;
  if (!checkSharedObject(absLib.c_str(), err)) {
    setError(error, error_size, err);
    qrt_free(model.release());
    return nullptr;
  }
  model->library = dlopen(absLib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!model->library) {
    setError(error, error_size, std::string("cannot load ") + absLib.c_str() +
                                    ": " + dlerror());
    qrt_free(model.release());
    return nullptr;
  }
  model->run = (RunFn)ownSymbol(model->library, entry);
  if (!model->run) {
    setError(error, error_size,
             "entry point '" + entry + "' not found in " + lib);
    qrt_free(model.release());
    return nullptr;
  }
  model->runThread =
      (RunThreadFn)ownSymbol(model->library, prefix + "_run_thread");
  // The shapes and sizes the code was compiled for, against the manifest's.
  const char *abi = (const char *)ownSymbol(model->library, prefix + "_abi");
  if (!abi) {
    setError(error, error_size,
             lib + " does not describe its buffers (no " + prefix +
                 "_abi: compiled by an older qopt, recompile)");
    qrt_free(model.release());
    return nullptr;
  }
  auto buffers = [](const std::vector<TensorDesc> &list) {
    std::vector<qopt::BufferABI> out;
    for (const TensorDesc &d : list)
      out.push_back({d.dtype, d.shape});
    return out;
  };
  int64_t manifestWeights = 0;
  if (const auto *w = m->getObject("weights"))
    manifestWeights = w->getInteger("bytes").value_or(0);
  std::string expected =
      qopt::describeEntryABI(manifestWeights, workspaceBytes,
                             buffers(model->inputs), buffers(model->outputs));
  if (expected != abi) {
    setError(error, error_size,
             "the manifest does not match the compiled code in " + lib +
                 " (manifest: " + expected + "; code: " + abi +
                 "): the manifest was edited, recompile");
    qrt_free(model.release());
    return nullptr;
  }
  // Only now, with the size confirmed by the compiled code: an edited
  // manifest must not make the loader ask for any amount of memory.
  if (workspaceBytes > 0) {
    size_t rounded = (workspaceBytes + 63) / 64 * 64;
    model->workspace = aligned_alloc(64, rounded);
    if (!model->workspace) {
      setError(error, error_size,
               "cannot allocate the model's " + std::to_string(rounded) +
                   "-byte workspace");
      qrt_free(model.release());
      return nullptr;
    }
  }
  return model.release();
}

extern "C" void qrt_free(qrt_model *model) {
  if (!model)
    return;
  model->vulkan.reset(); // Before the weights it was uploaded from.
  model->cuda.reset();
  if (model->library)
    dlclose(model->library);
  if (model->weights)
    munmap(model->weights, model->weightsBytes);
  free(model->workspace);
  delete model;
}

extern "C" size_t qrt_num_inputs(const qrt_model *model) {
  return model->inputs.size();
}

extern "C" size_t qrt_num_outputs(const qrt_model *model) {
  return model->outputs.size();
}

static int fillInfo(const std::vector<TensorDesc> &list, size_t index,
                    qrt_tensor_info *info) {
  if (index >= list.size())
    return -1;
  const TensorDesc &d = list[index];
  info->name = d.name.c_str();
  info->dtype = d.dtype.c_str();
  info->rank = (int)d.shape.size();
  info->shape = d.shape.data();
  info->element_size = d.elementSize;
  info->num_elements = d.numElements;
  return 0;
}

extern "C" int qrt_input_info(const qrt_model *model, size_t index,
                              qrt_tensor_info *info) {
  return fillInfo(model->inputs, index, info);
}

extern "C" int qrt_output_info(const qrt_model *model, size_t index,
                               qrt_tensor_info *info) {
  return fillInfo(model->outputs, index, info);
}

/// The first value of index input `d` outside [-bound, bound), as ONNX
/// Runtime refuses them; the compiled code would clamp it.
template <typename T>
static bool checkIndices(const TensorDesc &d, const T *values,
                         std::string &err) {
  for (size_t i = 0; i < d.numElements; ++i) {
    int64_t v = values[i];
    if (v >= -d.indexBound && v < d.indexBound)
      continue;
    err = "input '" + d.name + "' holds " + std::to_string(v) + " at element " +
          std::to_string(i) + ", outside [" + std::to_string(-d.indexBound) +
          ", " + std::to_string(d.indexBound - 1) + "], the indices node '" +
          d.indexNode + "' takes";
    return false;
  }
  return true;
}

extern "C" int qrt_run(qrt_model *model, const void *const *inputs,
                       void *const *outputs) {
  model->lastError.clear();
  for (size_t i = 0; i < model->inputs.size(); ++i) {
    const TensorDesc &d = model->inputs[i];
    if (!d.indexBound)
      continue;
    bool ok = d.dtype == "int64"
                  ? checkIndices(d, static_cast<const int64_t *>(inputs[i]),
                                 model->lastError)
                  : checkIndices(d, static_cast<const int32_t *>(inputs[i]),
                                 model->lastError);
    if (!ok)
      return QRT_ERROR_INDEX;
  }
  if (model->vulkan) {
    if (!qrt::vulkan::run(*model->vulkan, inputs, outputs, model->lastError))
      return QRT_ERROR_DEVICE;
    return 0;
  }
  if (model->cuda) {
    if (!qrt::cuda::run(*model->cuda, inputs, outputs, model->lastError))
      return QRT_ERROR_DEVICE;
    return 0;
  }
  int rc = model->team ? model->team->run(model->weights, model->workspace,
                                          inputs, outputs)
                       : model->run(model->weights, model->workspace, inputs,
                                    outputs);
  if (rc) {
    model->lastError = "the model's entry point returned " + std::to_string(rc);
    return rc;
  }
  return 0;
}

extern "C" int qrt_set_threads(qrt_model *model, int threads) {
  if (threads < 1)
    return QRT_ERROR_ARGUMENT;
  // Device programs and code that does not split run as they are.
  if (!model->runThread || model->vulkan || model->cuda)
    threads = 1;
  if (threads == (model->team ? model->team->size() : 1))
    return threads;
  model->team.reset();
  if (threads > 1)
    model->team = std::make_unique<ThreadTeam>(model->runThread, threads);
  return threads;
}

extern "C" int qrt_threads(const qrt_model *model) {
  return model->team ? model->team->size() : 1;
}

extern "C" const char *qrt_last_error(const qrt_model *model) {
  return model ? model->lastError.c_str() : "";
}

extern "C" size_t qrt_list_devices(char *buffer, size_t size) {
  std::string text = "cpu\n";
  size_t count = 1;
  std::vector<std::string> names;
  std::string err;
  if (!qrt::vulkan::listDevices(names, err))
    text += "# vulkan: " + err + "\n";
  else if (names.empty())
    text += "# vulkan: the loader found no device\n";
  for (size_t i = 0; i < names.size(); ++i, ++count)
    text += "vulkan:" + std::to_string(i) + ": " + names[i] + "\n";
  names.clear();
  if (!qrt::cuda::listDevices(names, err))
    text += "# cuda: " + err + "\n";
  else if (names.empty())
    text += "# cuda: the driver found no device\n";
  for (size_t i = 0; i < names.size(); ++i, ++count)
    text += "cuda:" + std::to_string(i) + ": " + names[i] + "\n";
  setError(buffer, size, text);
  return count;
}

extern "C" const char *qrt_device(const qrt_model *model) {
  return model->device.c_str();
}

extern "C" const char *qrt_target(const qrt_model *model) {
  return model->target.c_str();
}
