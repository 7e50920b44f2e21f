//===- FuzzTensorFile.cpp - libFuzzer target for .npy/.npz/.pb readers
//-----===//
//
// The first byte picks the reader (.npy, .npz or .pb, as the file name's
// extension does for users); the rest is written to a private file of that
// name and read with io::readTensorFile, which calibration data, frozen
// inputs and qopt-run's inputs all go through.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/TensorFile.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
std::string dir;
const char *const kNames[] = {"t.npy", "t.npz", "t.pb"};
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  llvm::SmallString<128> d;
  if (llvm::sys::fs::createUniqueDirectory("qopt-fuzz-tensor", d))
    std::abort();
  dir = d.str().str();
  std::atexit([] {
    for (const char *name : kNames)
      std::remove((dir + "/" + name).c_str());
    llvm::sys::fs::remove(dir);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  std::string path = dir + "/" + kNames[data[0] % 3];
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    std::abort();
  if (size > 1 && std::fwrite(data + 1, 1, size - 1, f) != size - 1)
    std::abort();
  std::fclose(f);
  auto tensors = qopt::io::readTensorFile(path);
  if (!tensors) {
    llvm::consumeError(tensors.takeError());
    return 0;
  }
  // Touch every byte the reader claims to hold.
  volatile unsigned char sink = 0;
  for (const qopt::io::Tensor &t : *tensors) {
    if (t.data.size() != t.numElements() * t.elementSize())
      std::abort();
    for (char c : t.data)
      sink ^= (unsigned char)c;
  }
  (void)sink;
  return 0;
}
