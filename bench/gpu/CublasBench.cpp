//===- CublasBench.cpp - Vendor baselines for the GPU benchmarks ----------===//
//
// Times, on CUDA device 0 (QRT_CUDA_DEVICE picks another), what
// bench/gpu/run-on-device.sh compares qopt's kernels with:
//
//   copy                     device-to-device copy bandwidth (GB/s)
//   hgemv M K N              cuBLAS FP16 GEMM (cublasGemmEx, f32 compute)
//   igemm M K N              cuBLAS int8 GEMM (cublasGemmEx, s8 x s8 -> s32,
//                            the cuBLASLt int8 kernels behind it)
//
// libcuda.so.1, libcublas.so and libcublasLt are dlopen()ed from the CUDA
// toolkit ($CUDA_HOME/lib64, /usr/local/cuda/lib64, the loader's path), so
// nothing links against them. Each prints one line: the median time of
// `runs` launches (CUDA events) and the bandwidth or throughput. Without a
// driver, a device or the libraries it says so and exits 1.
//
//   qopt-bench-cublas copy|hgemv M K N|igemm M K N [runs]
//
//===----------------------------------------------------------------------===//

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using CUresult = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUevent = struct CUevent_st *;
using CUstream = struct CUstream_st *;
using cublasHandle_t = struct cublasContext *;

// cuBLAS and CUDA enum values (cublas_api.h, library_types.h).
constexpr int kOpN = 0, kOpT = 1;
constexpr int kR16F = 2, kR32F = 0, kR8I = 3, kR32I = 10;
constexpr int kCompute32F = 68, kCompute32I = 72;
constexpr int kGemmDefault = -1;

struct Cuda {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGet)(int *, int);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, int);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*cuMemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*cuCtxSynchronize)();
};

struct Cublas {
  int (*create)(cublasHandle_t *);
  int (*gemmEx)(cublasHandle_t, int, int, int, int, int, const void *,
                const void *, int, int, const void *, int, int, const void *,
                void *, int, int, int, int);
};

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "qopt-bench-cublas: %s\n", message.c_str());
  std::exit(1);
}

void *openLibrary(const std::vector<std::string> &names) {
  std::vector<std::string> dirs;
  if (const char *home = std::getenv("CUDA_HOME"))
    dirs.push_back(std::string(home) + "/lib64/");
  dirs.push_back("/usr/local/cuda/lib64/");
  dirs.push_back("");
  for (const std::string &dir : dirs)
    for (const std::string &name : names)
      if (void *lib = dlopen((dir + name).c_str(), RTLD_NOW | RTLD_GLOBAL))
        return lib;
  return nullptr;
}

template <typename Fn> void bind(void *lib, Fn &fn, const char *symbol) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (!fn)
    fail(std::string("missing ") + symbol);
}

void check(CUresult rc, const char *what) {
  if (rc != 0)
    fail(std::string(what) + " failed (CUDA error " + std::to_string(rc) + ")");
}

/// Median milliseconds of `runs` calls of `body`, each timed with events.
template <typename Body> double medianMs(const Cuda &cu, int runs, Body body) {
  CUevent start, stop;
  check(cu.cuEventCreate(&start, 0), "cuEventCreate");
  check(cu.cuEventCreate(&stop, 0), "cuEventCreate");
  body(); // Warm-up (and cuBLAS's heuristics).
  check(cu.cuCtxSynchronize(), "cuCtxSynchronize");
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    cu.cuEventRecord(start, nullptr);
    body();
    cu.cuEventRecord(stop, nullptr);
    check(cu.cuEventSynchronize(stop), "a timed launch");
    float ms = 0;
    cu.cuEventElapsedTime(&ms, start, stop);
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    fail("usage: qopt-bench-cublas copy|hgemv M K N|igemm M K N [runs]");
  std::string what = argv[1];
  bool gemm = what == "hgemv" || what == "igemm";
  if (!gemm && what != "copy")
    fail("unknown measurement '" + what + "' (known: copy, hgemv, igemm)");
  if (gemm && argc < 5)
    fail(what + " needs M K N");
  int argRuns = gemm ? 5 : 2;
  int runs = argc > argRuns ? std::atoi(argv[argRuns]) : 50;
  if (runs < 1)
    fail("runs must be positive");

  void *cudaLib = openLibrary({"libcuda.so.1"});
  if (!cudaLib)
    fail("cannot load the CUDA driver (libcuda.so.1): no NVIDIA driver here");
  Cuda cu;
  bind(cudaLib, cu.cuInit, "cuInit");
  bind(cudaLib, cu.cuDeviceGet, "cuDeviceGet");
  bind(cudaLib, cu.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  bind(cudaLib, cu.cuCtxSetCurrent, "cuCtxSetCurrent");
  bind(cudaLib, cu.cuMemAlloc, "cuMemAlloc_v2");
  bind(cudaLib, cu.cuMemsetD8, "cuMemsetD8_v2");
  bind(cudaLib, cu.cuMemcpyDtoD, "cuMemcpyDtoD_v2");
  bind(cudaLib, cu.cuEventCreate, "cuEventCreate");
  bind(cudaLib, cu.cuEventRecord, "cuEventRecord");
  bind(cudaLib, cu.cuEventSynchronize, "cuEventSynchronize");
  bind(cudaLib, cu.cuEventElapsedTime, "cuEventElapsedTime_v2");
  bind(cudaLib, cu.cuCtxSynchronize, "cuCtxSynchronize");
  if (cu.cuInit(0) != 0)
    fail("cuInit failed: no usable CUDA device");
  int deviceIndex = 0;
  if (const char *d = std::getenv("QRT_CUDA_DEVICE"))
    deviceIndex = std::atoi(d);
  int device;
  check(cu.cuDeviceGet(&device, deviceIndex), "cuDeviceGet");
  CUcontext ctx;
  check(cu.cuDevicePrimaryCtxRetain(&ctx, device), "cuDevicePrimaryCtxRetain");
  check(cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");

  auto allocate = [&](size_t bytes) {
    CUdeviceptr p;
    check(cu.cuMemAlloc(&p, bytes), "cuMemAlloc");
    check(cu.cuMemsetD8(p, 1, bytes), "cuMemsetD8");
    return p;
  };

  if (what == "copy") {
    size_t bytes = size_t(1) << 30;
    CUdeviceptr a = allocate(bytes), b = allocate(bytes);
    double ms = medianMs(cu, runs, [&] { cu.cuMemcpyDtoD(b, a, bytes); });
    // A copy reads and writes every byte.
    std::printf("copy %zu MiB: %.4f ms, %.1f GB/s\n", bytes >> 20, ms,
                2.0 * bytes / (ms * 1e6));
    return 0;
  }

  long m = std::atol(argv[2]), k = std::atol(argv[3]), n = std::atol(argv[4]);
  if (m < 1 || k < 1 || n < 1)
    fail("M, K and N must be positive");
  // cuBLAS needs cuBLASLt beside it; load it first so the loader finds it.
  openLibrary({"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"});
  void *blasLib =
      openLibrary({"libcublas.so.13", "libcublas.so.12", "libcublas.so"});
  if (!blasLib)
    fail("cannot load cuBLAS (libcublas.so from $CUDA_HOME/lib64 or "
         "/usr/local/cuda/lib64)");
  Cublas blas;
  bind(blasLib, blas.create, "cublasCreate_v2");
  bind(blasLib, blas.gemmEx, "cublasGemmEx");
  cublasHandle_t handle;
  if (blas.create(&handle) != 0)
    fail("cublasCreate failed");

  // Row-major Y[M,N] = X[M,K] W[K,N] is column-major Y^T = W^T X^T:
  // cuBLAS's m = N, n = M; W is given transposed (N x K, the "TN" layout
  // the int8 kernels want).
  bool int8 = what == "igemm";
  size_t elem = int8 ? 1 : 2, outElem = int8 ? 4 : 2;
  CUdeviceptr w = allocate(size_t(k) * n * elem);
  CUdeviceptr x = allocate(size_t(k) * m * elem);
  CUdeviceptr y = allocate(size_t(m) * n * outElem);
  float alphaF = 1, betaF = 0;
  int alphaI = 1, betaI = 0;
  int status = 0;
  double ms = medianMs(cu, runs, [&] {
    status = blas.gemmEx(handle, kOpT, kOpN, (int)n, (int)m, (int)k,
                         int8 ? (const void *)&alphaI : (const void *)&alphaF,
                         (void *)w, int8 ? kR8I : kR16F, (int)k, (void *)x,
                         int8 ? kR8I : kR16F, (int)k,
                         int8 ? (const void *)&betaI : (const void *)&betaF,
                         (void *)y, int8 ? kR32I : kR16F, (int)n,
                         int8 ? kCompute32I : kCompute32F, kGemmDefault);
  });
  if (status != 0)
    fail("cublasGemmEx returned " + std::to_string(status));
  double bytes =
      double(k) * n * elem + double(k) * m * elem + double(m) * n * outElem;
  std::printf("%s %ldx%ldx%ld: %.4f ms, %.1f GB/s, %.2f TOPS\n", what.c_str(),
              m, k, n, ms, bytes / (ms * 1e6), 2.0 * m * k * n / (ms * 1e9));
  return 0;
}
