//===- FuzzONNXImport.cpp - libFuzzer target for the ONNX importer
//---------===//
//
// Feeds arbitrary bytes to the importer as a model file: binary protobuf, or
// ONNX's text syntax when the bytes start with '<'. External data is looked
// up in an empty private folder, so a fuzzed location can only fail. An input
// that imports is also verified. Any crash, sanitizer report, leak or hang is
// a bug: strangers' files must get an error, never more.
//
//===----------------------------------------------------------------------===//

#include "qopt/Frontend/ONNX/Importer.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/FileSystem.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

using namespace mlir;

namespace {
/// One context serves a run of inputs and is replaced after `kReuse` of them,
/// so that what it interns (types, attributes, resource blobs) stays bounded.
constexpr unsigned kReuse = 256;

struct State {
  DialectRegistry registry;
  std::unique_ptr<MLIRContext> context;
  std::string emptyDir;
  unsigned uses = 0;

  MLIRContext &get() {
    if (!context || ++uses > kReuse) {
      context = std::make_unique<MLIRContext>(registry,
                                              MLIRContext::Threading::DISABLED);
      context->loadAllAvailableDialects();
      // Diagnostics are the expected outcome of most inputs: swallow them.
      context->getDiagEngine().registerHandler(
          [](Diagnostic &) { return success(); });
      uses = 1;
    }
    return *context;
  }
};

State *state;
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  state = new State;
  qopt::onnx_frontend::registerImporterDialects(state->registry);
  llvm::SmallString<128> dir;
  if (llvm::sys::fs::createUniqueDirectory("qopt-fuzz-onnx", dir)) {
    std::abort();
  }
  state->emptyDir = dir.str().str();
  std::atexit([] { llvm::sys::fs::remove(state->emptyDir); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &context = state->get();
  qopt::onnx_frontend::ImportOptions options;
  llvm::StringRef buffer(reinterpret_cast<const char *>(data), size);
  OwningOpRef<ModuleOp> module = qopt::onnx_frontend::importONNXBuffer(
      context, buffer, "fuzz.onnx", state->emptyDir, options);
  if (module)
    (void)verify(*module);
  return 0;
}
