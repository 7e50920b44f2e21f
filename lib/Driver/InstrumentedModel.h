//===- InstrumentedModel.h - A model compiled with its probes ---*- C++ -*-===//
//
// Calibration and the quality report both compile a graph with its
// qopt.observe probes as extra outputs for the host and run it through qrt.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_DRIVER_INSTRUMENTEDMODEL_H
#define QOPT_LIB_DRIVER_INSTRUMENTEDMODEL_H

#include "qopt/Calibration/Calibrate.h"
#include "qopt/Support/Interrupt.h"
#include "qopt/Target/Target.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SmallString.h"

#include <optional>

namespace qopt {

/// A loaded artifact of `module` with every probe exposed, in a temporary
/// folder removed on destruction.
struct InstrumentedModel {
  llvm::SmallString<128> dir;
  /// Removes `dir` if the compile is interrupted.
  CleanupOnInterrupt dirGuard;
  qrt_model *model = nullptr;
  std::optional<calib::OutputBuffers> outs;

  InstrumentedModel() = default;
  InstrumentedModel(const InstrumentedModel &) = delete;
  InstrumentedModel &operator=(const InstrumentedModel &) = delete;
  ~InstrumentedModel();

  /// Exposes the probes of `module` (modified in place: pass a clone),
  /// compiles it for the host target (whatever the user's target is: it
  /// runs here) as a quick helper model, and loads it. `name` names it in
  /// errors and the artifact.
  mlir::LogicalResult build(mlir::ModuleOp module,
                            const SerializeOptions &codegen,
                            llvm::StringRef name);
};

} // namespace qopt

#endif // QOPT_LIB_DRIVER_INSTRUMENTEDMODEL_H
