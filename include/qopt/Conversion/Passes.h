//===- Passes.h - qopt conversions ------------------------------*- C++ -*-===//

#ifndef QOPT_CONVERSION_PASSES_H
#define QOPT_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Transforms/DialectConversion.h"

namespace qopt {

#define GEN_PASS_DECL
#include "qopt/Conversion/Passes.h.inc"

/// Patterns lowering every qopt op to linalg/arith/tensor.
void populateQOptToLinalgPatterns(mlir::RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "qopt/Conversion/Passes.h.inc"

} // namespace qopt

#endif // QOPT_CONVERSION_PASSES_H
