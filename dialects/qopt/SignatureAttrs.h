//===- SignatureAttrs.h - Index bounds of a model's inputs ------*- C++ -*-===//
//
// Argument attributes of a model's entry function, next to qopt.name and
// qopt.dtype (QOptBase.td): a graph input whose values are indices (token
// ids into an embedding table, say) carries the size of the axis it indexes
// and the ONNX node that does it. The importer writes them, the artifact
// writer copies them into the manifest, and the runtime refuses run-time
// values outside [-bound, bound) instead of letting the code clamp them.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_SIGNATUREATTRS_H
#define QOPT_DIALECT_SIGNATUREATTRS_H

#include "llvm/ADT/StringRef.h"

namespace qopt {

/// An IntegerAttr (i64, positive): the indexed axis's size.
inline constexpr llvm::StringLiteral kIndexBoundAttrName = "qopt.index_bound";
/// A StringAttr: the name of the ONNX node the input indexes through.
inline constexpr llvm::StringLiteral kIndexNodeAttrName = "qopt.index_node";

} // namespace qopt

#endif // QOPT_DIALECT_SIGNATUREATTRS_H
