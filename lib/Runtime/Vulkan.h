//===- Vulkan.h - qrt's Vulkan backend (internal) ---------------*- C++ -*-===//
//
// Runs a SPIR-V artifact's dispatch list through Vulkan. libvulkan.so.1 is
// dlopen()ed when a SPIR-V artifact is loaded, so qrt links no Vulkan
// library and the CPU path works on machines without one.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_VULKAN_H
#define QOPT_LIB_RUNTIME_VULKAN_H

#include "DispatchPlan.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qrt::vulkan {

using gpu::Binding;
using gpu::BufferKind;
using gpu::Dispatch;
using gpu::Plan;

/// A loaded program: device, buffers (weights uploaded), pipelines and one
/// pre-recorded command buffer holding every dispatch.
class Program;

/// Frees a program.
void destroy(Program *program);

struct ProgramDeleter {
  void operator()(Program *p) const { destroy(p); }
};
using ProgramPtr = std::unique_ptr<Program, ProgramDeleter>;

/// Loads `plan` onto the Vulkan device chosen by QRT_VULKAN_DEVICE (an
/// index or a substring of the device name; default: the first device).
ProgramPtr load(const Plan &plan, std::string &error);

/// Copies the inputs in, runs the command buffer, copies the outputs out.
bool run(Program &program, const void *const *inputs, void *const *outputs,
         std::string &error);

/// The names of the Vulkan devices, in QRT_VULKAN_DEVICE's numbering;
/// false with `error` when Vulkan itself is missing.
bool listDevices(std::vector<std::string> &names, std::string &error);

/// The device's name as Vulkan reports it.
const std::string &deviceName(const Program &program);

} // namespace qrt::vulkan

#endif // QOPT_LIB_RUNTIME_VULKAN_H
