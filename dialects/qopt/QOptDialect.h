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

namespace qopt {
/// The largest buffer a model may need, in bytes: 2^47, the user address
/// space of x86-64 (and of AArch64 with 48-bit addresses); no machine holds
/// more. The importer refuses larger tensors, memory planning a larger
/// workspace.
inline constexpr int64_t kMaxBufferBytes = int64_t(1) << 47;
} // namespace qopt

#define GET_ATTRDEF_CLASSES
#include "QOptAttrs.h.inc"

#define GET_OP_CLASSES
#include "QOptOps.h.inc"

#endif // QOPT_DIALECT_QOPTDIALECT_H
