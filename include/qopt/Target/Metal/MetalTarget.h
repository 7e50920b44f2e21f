//===- MetalTarget.h - The Metal target backend -----------------*- C++ -*-===//
//
// The GPU pipeline's kernels as Metal Shading Language: the same SPIR-V
// kernels the Vulkan target runs, translated by SPIRV-Cross (its C API),
// with buffer indices matching the dispatch list (docs/gpu.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_METAL_METALTARGET_H
#define QOPT_TARGET_METAL_METALTARGET_H

#include "qopt/Target/Target.h"

#include <memory>

namespace qopt::metal {

/// Features of the SPIR-V kernels that become MSL: no integer dot product
/// (MSL has no such instruction) and no float64 (MSL has no double).
inline constexpr const char *kDefaultFeatures = "+float16,+int16,+int64,+int8";

/// The backend registered for `air64-apple-macos*` and `air64-apple-ios*`.
std::unique_ptr<TargetBackend> createMetalBackend();

} // namespace qopt::metal

#endif // QOPT_TARGET_METAL_METALTARGET_H
