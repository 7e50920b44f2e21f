//===- LayerRoles.h - Roles of the quantizable ops --------------*- C++ -*-===//
//
// Precision recipes speak of layers by role ("FFN down projections in INT8,
// the classifier in FP16"), and ONNX node names are whatever the exporter
// chose. The roles here are read from the graph's structure instead: where
// a product's result goes and where its input comes from.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TRANSFORMS_LAYERROLES_H
#define QOPT_TRANSFORMS_LAYERROLES_H

#include "qopt/QOptDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"

#include <optional>

namespace qopt {

/// The role of every quantizable op of `module` (graph IR, before
/// quantization, as qopt-classify-layers describes): tosa.matmul with a
/// constant weight, tosa.matmul of two activations, tosa.gather from a
/// constant table, float linalg convolutions with constant weights, and the
/// already quantized qopt.matmul, qopt.conv2d and qopt.embedding. Ops that
/// are none of these are absent from the map.
llvm::DenseMap<mlir::Operation *, LayerRole>
classifyLayerRoles(mlir::ModuleOp module);

/// The role's name as recipes and #qopt.role spell it ("ffn_down").
llvm::StringRef layerRoleName(LayerRole role);

/// The role a name spells (see layerRoleName), if any.
std::optional<LayerRole> parseLayerRole(llvm::StringRef name);

} // namespace qopt

#endif // QOPT_TRANSFORMS_LAYERROLES_H
