//===- FuzzManifest.cpp - libFuzzer target for artifact loading
//------------===//
//
// Writes the input as manifest.json into a private copy of a real artifact
// (the folder QOPT_FUZZ_ARTIFACT names; without it an empty folder, where
// loading can get no further than the manifest's own checks) and loads it
// with qrt_load. A manifest that loads must describe the compiled code
// exactly, so a load that succeeds is also run, on zeroed buffers of the
// sizes the manifest gives: an edited manifest that slipped through would
// show up here as a heap overflow.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qrt.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {
std::string dir;
std::vector<std::string> copied;
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  llvm::SmallString<128> d;
  if (llvm::sys::fs::createUniqueDirectory("qopt-fuzz-manifest", d))
    std::abort();
  dir = d.str().str();
  if (const char *src = std::getenv("QOPT_FUZZ_ARTIFACT")) {
    std::error_code ec;
    for (llvm::sys::fs::directory_iterator it(src, ec), end; it != end && !ec;
         it.increment(ec)) {
      llvm::StringRef name = llvm::sys::path::filename(it->path());
      if (name == "manifest.json")
        continue;
      std::string to = dir + "/" + name.str();
      if (llvm::sys::fs::copy_file(it->path(), to)) {
        std::fprintf(stderr, "cannot copy %s\n", it->path().c_str());
        std::abort();
      }
      copied.push_back(to);
    }
    if (ec || copied.empty()) {
      std::fprintf(stderr, "QOPT_FUZZ_ARTIFACT=%s is not an artifact folder\n",
                   src);
      std::abort();
    }
  }
  std::atexit([] {
    for (const std::string &f : copied)
      std::remove(f.c_str());
    std::remove((dir + "/manifest.json").c_str());
    llvm::sys::fs::remove(dir);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = dir + "/manifest.json";
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(data, 1, size, f) != size)
    std::abort();
  std::fclose(f);
  char error[512];
  qrt_model *model = qrt_load(dir.c_str(), error, sizeof error);
  if (!model)
    return 0;
  std::vector<std::vector<char>> buffers;
  std::vector<const void *> inputs;
  std::vector<void *> outputs;
  for (size_t i = 0, e = qrt_num_inputs(model); i < e; ++i) {
    qrt_tensor_info info;
    if (qrt_input_info(model, i, &info) != 0)
      std::abort();
    buffers.emplace_back(info.num_elements * info.element_size);
    inputs.push_back(buffers.back().data());
  }
  for (size_t i = 0, e = qrt_num_outputs(model); i < e; ++i) {
    qrt_tensor_info info;
    if (qrt_output_info(model, i, &info) != 0)
      std::abort();
    buffers.emplace_back(info.num_elements * info.element_size);
    outputs.push_back(buffers.back().data());
  }
  (void)qrt_run(model, inputs.data(), outputs.data());
  qrt_free(model);
  return 0;
}
