//===- EntryABI.h - What an x86 artifact's library says about itself -*- C++
//-*-===//
//
// An x86 artifact's model.so exports two symbols named after the model, and
// a third where its code splits over threads: `<prefix>_run`, the entry
// point, `<prefix>_run_thread`, the same called by N threads at once
// (qopt-parallelize-kernels), and `<prefix>_abi`, a
// NUL-terminated text that describes the buffers the compiled code reads
// and writes (weights and workspace sizes, every input's and output's dtype
// and shape). qrt calls no other symbol and refuses a manifest whose shapes
// or sizes disagree with the descriptor: the manifest is only JSON anyone
// can edit, the descriptor is what the code was compiled for. Shared by the
// x86 backend, which writes it, and qrt, which reads it.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_ENTRYABI_H
#define QOPT_RUNTIME_ENTRYABI_H

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qopt {

/// The C identifier a model's symbols start with: `name` with every
/// character other than a letter or digit made '_', and a '_' in front of a
/// leading digit.
inline std::string modelSymbolPrefix(std::string_view name) {
  std::string out;
  for (char c : name)
    out.push_back(std::isalnum((unsigned char)c) ? c : '_');
  if (out.empty() || std::isdigit((unsigned char)out[0]))
    out.insert(out.begin(), '_');
  return out;
}

/// One input or output buffer of the entry point.
struct BufferABI {
  std::string dtype; // "float32", "int64", ...
  std::vector<int64_t> shape;
};

/// The descriptor text `<prefix>_abi` holds, e.g.
/// "qopt-abi 1; weights 64; workspace 128; in int64[1,8]; out float32[1,8,2]".
inline std::string describeEntryABI(int64_t weightsBytes,
                                    int64_t workspaceBytes,
                                    const std::vector<BufferABI> &inputs,
                                    const std::vector<BufferABI> &outputs) {
  std::string s = "qopt-abi 1; weights " + std::to_string(weightsBytes) +
                  "; workspace " + std::to_string(workspaceBytes);
  auto add = [&](const char *kind, const std::vector<BufferABI> &list) {
    for (const BufferABI &b : list) {
      s += std::string("; ") + kind + " " + b.dtype + "[";
      for (size_t d = 0; d < b.shape.size(); ++d)
        s += (d ? "," : "") + std::to_string(b.shape[d]);
      s += "]";
    }
  };
  add("in", inputs);
  add("out", outputs);
  return s;
}

} // namespace qopt

#endif // QOPT_RUNTIME_ENTRYABI_H
