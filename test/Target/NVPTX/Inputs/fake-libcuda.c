/* A stand-in for libcuda.so.1 with one device and no execution, so that
 * qrt's CUDA error paths are tested where there is no NVIDIA driver:
 * FAKE_CUDA_INIT is what cuInit returns (100: CUDA_ERROR_NO_DEVICE),
 * FAKE_CUDA_SM the device's compute capability (default 86). Loading code
 * fails as a driver that cannot JIT the PTX would. */
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
static int envInt(const char *name, int fallback) {
  const char *v = getenv(name);
  return v && *v ? atoi(v) : fallback;
}
CUresult cuInit(unsigned flags) { (void)flags; return envInt("FAKE_CUDA_INIT", 0); }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int *n) { *n = 1; return 0; }
CUresult cuDeviceGet(int *d, int i) { *d = i; return i == 0 ? 0 : 101; }
CUresult cuDeviceGetName(char *name, int len, int d) {
  (void)d;
  strncpy(name, "Fake GPU", len);
  return 0;
}
CUresult cuDeviceGetAttribute(int *v, int attr, int d) {
  (void)d;
  int sm = envInt("FAKE_CUDA_SM", 86);
  *v = attr == 75 ? sm / 10 : attr == 76 ? sm % 10 : 0;
  return 0;
}
static int context;
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { (void)d; *c = &context; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int d) { (void)d; return 0; }
CUresult cuCtxSetCurrent(void *c) { (void)c; return 0; }
CUresult cuModuleLoadDataEx(void **m, const void *image, unsigned n, int *options,
                            void **values) {
  (void)m; (void)image;
  for (unsigned i = 0; i < n; ++i)
    if (options[i] == 5)
      strcpy((char *)values[i], "fake driver: no JIT here");
  return 218;
}
CUresult cuModuleUnload(void *m) { (void)m; return 0; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
  (void)f; (void)m; (void)name;
  return 500;
}
CUresult cuMemAlloc_v2(unsigned long long *p, size_t n) { *p = (unsigned long long)malloc(n); return 0; }
CUresult cuMemFree_v2(unsigned long long p) { free((void *)p); return 0; }
CUresult cuMemcpyHtoD_v2(unsigned long long d, const void *s, size_t n) { memcpy((void *)d, s, n); return 0; }
CUresult cuMemcpyDtoH_v2(void *d, unsigned long long s, size_t n) { memcpy(d, (void *)s, n); return 0; }
CUresult cuStreamCreate(void **s, unsigned f) { (void)f; *s = &context; return 0; }
CUresult cuStreamDestroy_v2(void *s) { (void)s; return 0; }
CUresult cuStreamSynchronize(void *s) { (void)s; return 0; }
CUresult cuLaunchKernel(void *f, unsigned a, unsigned b, unsigned c, unsigned d,
                        unsigned e, unsigned g, unsigned h, void *s, void **p,
                        void **x) {
  (void)f; (void)a; (void)b; (void)c; (void)d; (void)e; (void)g; (void)h;
  (void)s; (void)p; (void)x;
  return 0;
}
CUresult cuGetErrorName(CUresult rc, const char **name) {
  *name = rc == 100 ? "CUDA_ERROR_NO_DEVICE"
        : rc == 218 ? "CUDA_ERROR_INVALID_PTX" : "CUDA_ERROR_UNKNOWN";
  return 0;
}
CUresult cuGetErrorString(CUresult rc, const char **text) {
  *text = rc == 100 ? "no CUDA-capable device is detected"
        : rc == 218 ? "a PTX JIT compilation failed" : "unknown error";
  return 0;
}
