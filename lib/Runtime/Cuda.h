//===- Cuda.h - qrt's CUDA backend (internal) -------------------*- C++ -*-===//
//
// Runs an NVPTX artifact's dispatch list through the CUDA driver API.
// libcuda.so.1 is dlopen()ed when an NVPTX artifact is loaded (or the
// devices are listed), so qrt links no NVIDIA library and runs everywhere
// else without one.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_CUDA_H
#define QOPT_LIB_RUNTIME_CUDA_H

#include "DispatchPlan.h"

#include <memory>
#include <string>
#include <vector>

namespace qrt::cuda {

/// A loaded program: context, module (the cubin or the JIT-compiled PTX),
/// device buffers (weights uploaded) and a stream.
class Program;

/// Frees a program.
void destroy(Program *program);

struct ProgramDeleter {
  void operator()(Program *p) const { destroy(p); }
};
using ProgramPtr = std::unique_ptr<Program, ProgramDeleter>;

/// Loads `plan` onto the CUDA device QRT_CUDA_DEVICE names (an index;
/// default 0). Refuses a device older than the plan's processor.
/// QRT_CUDA_LIBRARY replaces the driver library's name (libcuda.so.1).
ProgramPtr load(const gpu::Plan &plan, std::string &error);

/// Copies the inputs in, launches every kernel on the program's stream in
/// order, waits, copies the outputs out.
bool run(Program &program, const void *const *inputs, void *const *outputs,
         std::string &error);

/// "<name> (sm_XY)" for each CUDA device, in QRT_CUDA_DEVICE's numbering;
/// false with `error` when there is no driver.
bool listDevices(std::vector<std::string> &names, std::string &error);

/// The device's name and processor ("NVIDIA H100 80GB HBM3 (sm_90)").
const std::string &deviceName(const Program &program);

} // namespace qrt::cuda

#endif // QOPT_LIB_RUNTIME_CUDA_H
