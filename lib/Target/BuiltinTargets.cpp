//===- BuiltinTargets.cpp - The targets built into qopt --------------------===//
//
// The one list of built-in target backends: adding a target is a folder
// under lib/Target and a line here (docs/targets.md).
//
//===----------------------------------------------------------------------===//

#include "qopt/Target/Target.h"
#include "qopt/Target/AMDGPU/AMDGPUTarget.h"
#include "qopt/Target/Metal/MetalTarget.h"
#include "qopt/Target/NVPTX/NVPTXTarget.h"
#include "qopt/Target/SPIRV/SPIRVTarget.h"
#include "qopt/Target/X86/X86Target.h"

namespace qopt {

void registerBuiltinTargets() {
  static const bool registered = [] {
    registerTargetBackend(x86::createX86Backend());
    registerTargetBackend(spirv::createSPIRVBackend());
    registerTargetBackend(metal::createMetalBackend());
    registerTargetBackend(nvptx::createNVPTXBackend());
    registerTargetBackend(amdgpu::createAMDGPUBackend());
    return true;
  }();
  (void)registered;
}

} // namespace qopt
