//===- Cuda.cpp - qrt's CUDA backend --------------------------------------===//
//
// The CUDA driver API, declared here with the few types it needs and
// resolved from libcuda.so.1 at run time. A program is the primary context
// of one device, one module (the artifact's cubin when it was assembled for
// this device's processor family, else its PTX, JIT-compiled by the
// driver), one device allocation per runtime buffer and a stream: the
// kernels run in order on the stream, so each sees what the one before
// wrote. Every kernel parameter is one device address: the base of the
// binding's buffer plus its offset.
//
//===----------------------------------------------------------------------===//

#include "Cuda.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace qrt::cuda {

namespace {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;

constexpr CUresult kSuccess = 0;
constexpr int kComputeCapabilityMajor = 75;
constexpr int kComputeCapabilityMinor = 76;
constexpr int kJitErrorLogBuffer = 5;
constexpr int kJitErrorLogBufferSizeBytes = 6;

/// The driver entry points qrt uses, from libcuda.so.1.
struct Driver {
  void *library = nullptr;
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int *);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                                 void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);

  std::string describe(CUresult rc) const {
    const char *name = nullptr, *text = nullptr;
    if (cuGetErrorName)
      cuGetErrorName(rc, &name);
    if (cuGetErrorString)
      cuGetErrorString(rc, &text);
    std::string out = name ? name : "CUDA error " + std::to_string(rc);
    if (text)
      out += std::string(" (") + text + ")";
    return out;
  }
};

/// The driver, loaded and initialized once per process; null with `error`
/// when libcuda.so.1 or a device is missing.
const Driver *driver(std::string &error) {
  static Driver loaded;
  static std::string loadError;
  static bool once = [] {
    const char *name = std::getenv("QRT_CUDA_LIBRARY");
    if (!name || !*name)
      name = "libcuda.so.1";
    loaded.library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!loaded.library) {
      const char *why = dlerror();
      loadError = std::string("cannot load the CUDA driver (") + name +
                  "): " + (why ? why : "not found") +
                  "; running an nvptx artifact needs an NVIDIA driver";
      return true;
    }
    bool missing = false;
    std::string missingName;
    auto bind = [&](auto &fn, const char *symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(loaded.library, symbol));
      if (!fn && !missing) {
        missing = true;
        missingName = symbol;
      }
    };
    bind(loaded.cuInit, "cuInit");
    bind(loaded.cuDriverGetVersion, "cuDriverGetVersion");
    bind(loaded.cuDeviceGetCount, "cuDeviceGetCount");
    bind(loaded.cuDeviceGet, "cuDeviceGet");
    bind(loaded.cuDeviceGetName, "cuDeviceGetName");
    bind(loaded.cuDeviceGetAttribute, "cuDeviceGetAttribute");
    bind(loaded.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    bind(loaded.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
    bind(loaded.cuCtxSetCurrent, "cuCtxSetCurrent");
    bind(loaded.cuModuleLoadDataEx, "cuModuleLoadDataEx");
    bind(loaded.cuModuleUnload, "cuModuleUnload");
    bind(loaded.cuModuleGetFunction, "cuModuleGetFunction");
    bind(loaded.cuMemAlloc, "cuMemAlloc_v2");
    bind(loaded.cuMemFree, "cuMemFree_v2");
    bind(loaded.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
    bind(loaded.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
    bind(loaded.cuStreamCreate, "cuStreamCreate");
    bind(loaded.cuStreamDestroy, "cuStreamDestroy_v2");
    bind(loaded.cuStreamSynchronize, "cuStreamSynchronize");
    bind(loaded.cuLaunchKernel, "cuLaunchKernel");
    bind(loaded.cuGetErrorName, "cuGetErrorName");
    bind(loaded.cuGetErrorString, "cuGetErrorString");
    if (missing) {
      loadError = std::string("the CUDA driver (") + name + ") lacks " +
                  missingName + ": it is older than CUDA 11";
      return true;
    }
    if (CUresult rc = loaded.cuInit(0); rc != kSuccess)
      loadError = "the CUDA driver found no usable device (cuInit: " +
                  loaded.describe(rc) + ")";
    return true;
  }();
  (void)once;
  if (!loadError.empty()) {
    error = loadError;
    return nullptr;
  }
  return &loaded;
}

/// "sm_86" -> 86; 0 for anything else.
int processorNumber(const std::string &name) {
  if (name.rfind("sm_", 0) != 0)
    return 0;
  return std::atoi(name.c_str() + 3);
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

} // namespace

class Program {
public:
  const Driver *cu = nullptr;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  CUstream stream = nullptr;
  std::string name;
  CUdeviceptr weights = 0, workspace = 0;
  std::vector<CUdeviceptr> inputs, outputs;
  std::vector<uint64_t> inputBytes, outputBytes;
  struct Launch {
    CUfunction function = nullptr;
    unsigned grid[3], block[3];
    /// One device address per kernel parameter.
    std::vector<CUdeviceptr> arguments;
  };
  std::vector<Launch> launches;

  ~Program() {
    if (!cu)
      return;
    cu->cuCtxSetCurrent(context);
    if (stream)
      cu->cuStreamDestroy(stream);
    for (CUdeviceptr p : inputs)
      cu->cuMemFree(p);
    for (CUdeviceptr p : outputs)
      cu->cuMemFree(p);
    if (weights)
      cu->cuMemFree(weights);
    if (workspace)
      cu->cuMemFree(workspace);
    if (module)
      cu->cuModuleUnload(module);
    if (context)
      cu->cuDevicePrimaryCtxRelease(device);
  }
};

void destroy(Program *program) { delete program; }

const std::string &deviceName(const Program &program) { return program.name; }

static bool describeDevice(const Driver &cu, int index, CUdevice &device,
                           std::string &name, int &sm, std::string &error) {
  if (CUresult rc = cu.cuDeviceGet(&device, index); rc != kSuccess) {
    error = "CUDA device " + std::to_string(index) + ": " + cu.describe(rc);
    return false;
  }
  char text[256] = {0};
  cu.cuDeviceGetName(text, sizeof(text) - 1, device);
  int major = 0, minor = 0;
  cu.cuDeviceGetAttribute(&major, kComputeCapabilityMajor, device);
  cu.cuDeviceGetAttribute(&minor, kComputeCapabilityMinor, device);
  sm = major * 10 + minor;
  name = std::string(text) + " (sm_" + std::to_string(sm) + ")";
  return true;
}

bool listDevices(std::vector<std::string> &names, std::string &error) {
  const Driver *cu = driver(error);
  if (!cu)
    return false;
  int count = 0;
  if (CUresult rc = cu->cuDeviceGetCount(&count); rc != kSuccess) {
    error = "cuDeviceGetCount: " + cu->describe(rc);
    return false;
  }
  for (int i = 0; i < count; ++i) {
    CUdevice device;
    std::string name;
    int sm = 0;
    if (!describeDevice(*cu, i, device, name, sm, error))
      return false;
    names.push_back(name);
  }
  return true;
}

ProgramPtr load(const gpu::Plan &plan, std::string &error) {
  const Driver *cu = driver(error);
  if (!cu)
    return nullptr;
  int count = 0;
  if (CUresult rc = cu->cuDeviceGetCount(&count); rc != kSuccess || !count) {
    error = rc != kSuccess ? "cuDeviceGetCount: " + cu->describe(rc)
                           : "the CUDA driver reports no device";
    return nullptr;
  }
  int index = 0;
  if (const char *wanted = std::getenv("QRT_CUDA_DEVICE"); wanted && *wanted) {
    char *end = nullptr;
    long value = std::strtol(wanted, &end, 10);
    if (*end || value < 0 || value >= count) {
      error = std::string("QRT_CUDA_DEVICE='") + wanted +
              "' is not a device index (0 to " + std::to_string(count - 1) +
              ")";
      return nullptr;
    }
    index = (int)value;
  }
  ProgramPtr program(new Program);
  int sm = 0;
  if (!describeDevice(*cu, index, program->device, program->name, sm, error))
    return nullptr;
  int wantedSm = processorNumber(plan.processor);
  if (!wantedSm) {
    error = "the artifact names no NVIDIA processor ('" + plan.processor +
            "' in target.cpu)";
    return nullptr;
  }
  if (wantedSm > sm) {
    error = "the artifact was compiled for " + plan.processor +
            ", newer than CUDA device " + std::to_string(index) + ", " +
            program->name + " (recompile with -mcpu=sm_" + std::to_string(sm) +
            ")";
    return nullptr;
  }
  if (CUresult rc =
          cu->cuDevicePrimaryCtxRetain(&program->context, program->device);
      rc != kSuccess) {
    error = "cannot create a CUDA context on " + program->name + ": " +
            cu->describe(rc);
    return nullptr;
  }
  program->cu = cu;
  cu->cuCtxSetCurrent(program->context);

  // A cubin runs on its processor's family from that minor version on
  // (sm_80 code on sm_86, not on sm_90); the PTX anywhere newer.
  std::string code, file;
  if (!plan.binaryFile.empty() && sm / 10 == wantedSm / 10)
    file = plan.binaryFile;
  else if (!plan.dispatches.empty())
    file = plan.dispatches.front().file;
  if (!file.empty()) {
    if (!readFile(plan.dir + "/" + file, code)) {
      error = "cannot read " + plan.dir + "/" + file;
      return nullptr;
    }
    code.push_back('\0'); // PTX is read as a C string.
    char log[4096] = {0};
    int options[] = {kJitErrorLogBuffer, kJitErrorLogBufferSizeBytes};
    void *values[] = {log, reinterpret_cast<void *>(sizeof(log) - 1)};
    if (CUresult rc = cu->cuModuleLoadDataEx(&program->module, code.data(), 2,
                                             options, values);
        rc != kSuccess) {
      error = "the CUDA driver cannot load " + file + " on " + program->name +
              ": " + cu->describe(rc) + (log[0] ? std::string(": ") + log : "");
      return nullptr;
    }
  }

  auto allocate = [&](uint64_t bytes, CUdeviceptr &out) {
    // Empty buffers still get an address to pass.
    if (CUresult rc = cu->cuMemAlloc(&out, bytes ? bytes : 256);
        rc != kSuccess) {
      error = "cannot allocate " + std::to_string(bytes) + " bytes on " +
              program->name + ": " + cu->describe(rc);
      return false;
    }
    return true;
  };
  if (!allocate(plan.weightsBytes, program->weights) ||
      !allocate(plan.workspaceBytes, program->workspace))
    return nullptr;
  if (plan.weightsBytes) {
    if (CUresult rc =
            cu->cuMemcpyHtoD(program->weights, plan.weights, plan.weightsBytes);
        rc != kSuccess) {
      error = "cannot upload the weights: " + cu->describe(rc);
      return nullptr;
    }
  }
  program->inputBytes = plan.inputBytes;
  program->outputBytes = plan.outputBytes;
  for (uint64_t bytes : plan.inputBytes)
    if (!allocate(bytes, program->inputs.emplace_back()))
      return nullptr;
  for (uint64_t bytes : plan.outputBytes)
    if (!allocate(bytes, program->outputs.emplace_back()))
      return nullptr;
  if (CUresult rc = cu->cuStreamCreate(&program->stream, 0); rc != kSuccess) {
    error = "cannot create a CUDA stream: " + cu->describe(rc);
    return nullptr;
  }

  for (const gpu::Dispatch &d : plan.dispatches) {
    Program::Launch launch;
    if (CUresult rc = cu->cuModuleGetFunction(&launch.function, program->module,
                                              d.entry.c_str());
        rc != kSuccess) {
      error = "the artifact's code has no kernel '" + d.entry +
              "': " + cu->describe(rc);
      return nullptr;
    }
    for (int i = 0; i < 3; ++i) {
      launch.grid[i] = d.workgroups[i];
      launch.block[i] = d.workgroupSize[i];
    }
    for (const gpu::Binding &b : d.bindings) {
      CUdeviceptr base = 0;
      uint64_t size = 0;
      switch (b.buffer) {
      case gpu::BufferKind::Weights:
        base = program->weights, size = plan.weightsBytes;
        break;
      case gpu::BufferKind::Workspace:
        base = program->workspace, size = plan.workspaceBytes;
        break;
      case gpu::BufferKind::Input:
        if (b.index >= program->inputs.size()) {
          error = "a binding names input " + std::to_string(b.index) +
                  ", which the model does not have";
          return nullptr;
        }
        base = program->inputs[b.index], size = plan.inputBytes[b.index];
        break;
      case gpu::BufferKind::Output:
        if (b.index >= program->outputs.size()) {
          error = "a binding names output " + std::to_string(b.index) +
                  ", which the model does not have";
          return nullptr;
        }
        base = program->outputs[b.index], size = plan.outputBytes[b.index];
        break;
      }
      if (b.offset > size || b.bytes > size - b.offset) {
        error = "a binding of kernel '" + d.entry +
                "' reaches past the end of its buffer";
        return nullptr;
      }
      launch.arguments.push_back(base + b.offset);
    }
    program->launches.push_back(std::move(launch));
  }
  return program;
}

bool run(Program &program, const void *const *inputs, void *const *outputs,
         std::string &error) {
  const Driver &cu = *program.cu;
  cu.cuCtxSetCurrent(program.context);
  for (size_t i = 0; i < program.inputs.size(); ++i)
    if (program.inputBytes[i])
      if (CUresult rc = cu.cuMemcpyHtoD(program.inputs[i], inputs[i],
                                        program.inputBytes[i]);
          rc != kSuccess) {
        error = "cannot copy input " + std::to_string(i) +
                " to the device: " + cu.describe(rc);
        return false;
      }
  for (Program::Launch &launch : program.launches) {
    std::vector<void *> params;
    for (CUdeviceptr &arg : launch.arguments)
      params.push_back(&arg);
    if (CUresult rc = cu.cuLaunchKernel(
            launch.function, launch.grid[0], launch.grid[1], launch.grid[2],
            launch.block[0], launch.block[1], launch.block[2],
            /*sharedMemBytes=*/0, program.stream, params.data(), nullptr);
        rc != kSuccess) {
      error = "cuLaunchKernel: " + cu.describe(rc);
      return false;
    }
  }
  if (CUresult rc = cu.cuStreamSynchronize(program.stream); rc != kSuccess) {
    error = "a kernel failed: " + cu.describe(rc);
    return false;
  }
  for (size_t i = 0; i < program.outputs.size(); ++i)
    if (program.outputBytes[i])
      if (CUresult rc = cu.cuMemcpyDtoH(outputs[i], program.outputs[i],
                                        program.outputBytes[i]);
          rc != kSuccess) {
        error = "cannot copy output " + std::to_string(i) +
                " from the device: " + cu.describe(rc);
        return false;
      }
  return true;
}

} // namespace qrt::cuda
