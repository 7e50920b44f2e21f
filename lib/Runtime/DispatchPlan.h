//===- DispatchPlan.h - A GPU dispatch list (internal) ----------*- C++ -*-===//
//
// What qrt's GPU backends (Vulkan, CUDA) read from a GPU artifact's
// manifest: the kernels in execution order, each with its grid, block and
// buffer bindings, and the sizes of the runtime buffers.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_DISPATCHPLAN_H
#define QOPT_LIB_RUNTIME_DISPATCHPLAN_H

#include <cstdint>
#include <string>
#include <vector>

namespace qrt::gpu {

/// The runtime buffers a binding can name.
enum class BufferKind { Weights, Workspace, Input, Output };

/// One buffer binding of a dispatch: a range of a runtime buffer.
struct Binding {
  uint32_t binding = 0;
  BufferKind buffer = BufferKind::Workspace;
  uint32_t index = 0; // Position among inputs or outputs.
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

/// One kernel launch of the dispatch list, in execution order.
struct Dispatch {
  std::string file;  // Code file, relative to the artifact folder.
  std::string entry; // Entry point name.
  uint32_t workgroups[3] = {1, 1, 1};
  /// Threads per workgroup (a CUDA block; SPIR-V compiles it in).
  uint32_t workgroupSize[3] = {1, 1, 1};
  std::vector<std::string> capabilities; // SPIR-V capabilities it declares.
  std::vector<Binding> bindings;
};

/// Everything a GPU backend needs from an artifact.
struct Plan {
  std::string dir;
  std::vector<Dispatch> dispatches;
  const void *weights = nullptr;
  uint64_t weightsBytes = 0;
  uint64_t workspaceBytes = 0;
  std::vector<uint64_t> inputBytes, outputBytes;
  /// The processor the code was compiled for (`sm_80`; empty for SPIR-V).
  std::string processor;
  /// A binary for exactly `processor` (model.cubin), if the artifact has one.
  std::string binaryFile;
};

} // namespace qrt::gpu

#endif // QOPT_LIB_RUNTIME_DISPATCHPLAN_H
