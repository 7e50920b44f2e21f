//===- QOptDialect.h - The qopt dialect -------------------------*- C++ -*-===//

#ifndef QOPT_DIALECT_QOPTDIALECT_H
#define QOPT_DIALECT_QOPTDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "QOptDialect.h.inc"
#include "QOptEnums.h.inc"

namespace qopt::quant {
struct WeightScheme;
} // namespace qopt::quant

#define GET_ATTRDEF_CLASSES
#include "QOptAttrs.h.inc"

#define GET_OP_CLASSES
#include "QOptOps.h.inc"

#endif // QOPT_DIALECT_QOPTDIALECT_H
