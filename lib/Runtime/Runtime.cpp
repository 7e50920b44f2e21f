//===- Runtime.cpp - qopt runtime (qrt) ------------------------------------===//
//
// Loads an artifact: parses manifest.json, maps weights.bin read-only and
// dlopen()s the model library. Running is a single call into the generated
// `<name>_run` entry point.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qrt.h"
#include "qopt/Runtime/DTypes.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/TargetParser/Host.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct TensorDesc {
  std::string name, dtype;
  std::vector<int64_t> shape;
  size_t elementSize = 0, numElements = 1;
};

using RunFn = int (*)(const void *, void *, const void *const *, void *const *);

} // namespace

struct qrt_model {
  void *library = nullptr;
  RunFn run = nullptr;
  void *weights = nullptr;
  size_t weightsBytes = 0;
  void *workspace = nullptr;
  std::vector<TensorDesc> inputs, outputs;
  std::string target;
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
    out.push_back(std::move(d));
  }
  return true;
}

extern "C" qrt_model *qrt_load(const char *dir, char *error,
                               size_t error_size) {
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
  if (const auto *t = m->getObject("target"))
    if (auto backend = t->getString("backend"); backend && *backend != "x86") {
      setError(error, error_size,
               "the artifact was compiled for the '" + backend->str() +
                   "' target; this runtime runs x86 artifacts");
      return nullptr;
    }
  auto model = std::make_unique<qrt_model>();
  std::string err;
  if (!parseTensors(m->getArray("inputs"), model->inputs, err) ||
      !parseTensors(m->getArray("outputs"), model->outputs, err)) {
    setError(error, error_size, err);
    return nullptr;
  }
  if (const auto *t = m->getObject("target")) {
    model->target = (t->getString("triple").value_or("") + " " +
                     t->getString("cpu").value_or(""))
                        .str();
    // Refuse code this CPU cannot execute rather than die of SIGILL.
    if (const auto *features = t->getArray("features")) {
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
  std::string lib = m->getString("library").value_or("").str();
  std::string entry = m->getString("entry").value_or("").str();
  llvm::SmallString<256> libPath(dir);
  llvm::sys::path::append(libPath, lib);
  llvm::SmallString<256> absLib;
  if (llvm::sys::fs::real_path(libPath.str(), absLib))
    absLib = libPath;
  model->library = dlopen(absLib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!model->library) {
    setError(error, error_size, std::string("cannot load ") + absLib.c_str() +
                                    ": " + dlerror());
    qrt_free(model.release());
    return nullptr;
  }
  model->run = (RunFn)dlsym(model->library, entry.c_str());
  if (!model->run) {
    setError(error, error_size,
             "entry point '" + entry + "' not found in " + lib);
    qrt_free(model.release());
    return nullptr;
  }
  return model.release();
}

extern "C" void qrt_free(qrt_model *model) {
  if (!model)
    return;
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

extern "C" int qrt_run(qrt_model *model, const void *const *inputs,
                       void *const *outputs) {
  return model->run(model->weights, model->workspace, inputs, outputs);
}

extern "C" const char *qrt_target(const qrt_model *model) {
  return model->target.c_str();
}
