//===- EntryFunction.cpp - The model's entry function ----------------------===//

#include "qopt/Transforms/Passes.h"

using namespace mlir;

namespace qopt {

FailureOr<func::FuncOp> lookupEntryFunction(ModuleOp module) {
  func::FuncOp entry;
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (!fn.isPublic() || fn.isExternal())
      continue;
    if (entry)
      return module.emitError()
             << "expected one public function (the model's entry), found @"
             << entry.getSymName() << " and @" << fn.getSymName();
    entry = fn;
  }
  if (!entry)
    return module.emitError()
           << "expected one public function (the model's entry), found none";
  return entry;
}

} // namespace qopt
