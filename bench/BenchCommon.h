//===- BenchCommon.h - What the benchmarks share ----------------*- C++ -*-===//
//
// Building a kernel benchmark's function: weights as dense_resource
// constants (as in a compiled model), compiled for this machine through the
// whole x86 pipeline and loaded through qrt.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_BENCH_BENCHCOMMON_H
#define QOPT_BENCH_BENCHCOMMON_H

#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/qrt.h"
#include "qopt/Target/Target.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/FileSystem.h"

#include <string>

namespace qopt::bench {

/// A constant op holding `size` bytes at `bytes` as a dense_resource of
/// `type`.
inline mlir::Value resourceConstant(mlir::OpBuilder &b, mlir::Location loc,
                                    mlir::RankedTensorType type,
                                    llvm::StringRef name, const void *bytes,
                                    size_t size) {
  auto blob = mlir::HeapAsmResourceBlob::allocateAndCopyWithAlign(
      llvm::ArrayRef<char>(static_cast<const char *>(bytes), size), 64,
      /*dataIsMutable=*/false);
  return mlir::arith::ConstantOp::create(
      b, loc, type,
      mlir::DenseResourceElementsAttr::get(type, name, std::move(blob)));
}

/// Compiles `module` for this machine, its target features followed by
/// `extraFeatures` ("-avx512f,..." to compile for a lower ISA level), into
/// a new temporary folder `dir`, and loads it (null on failure).
inline qrt_model *compileAndLoad(mlir::ModuleOp module,
                                 const std::string &extraFeatures,
                                 std::string &dir) {
  llvm::SmallString<128> p;
  llvm::sys::fs::createUniqueDirectory("qopt-bench", p);
  dir = std::string(p);
  registerBuiltinTargets();
  if (mlir::failed(attachHostTarget(module)))
    return nullptr;
  if (!extraFeatures.empty()) {
    auto host = module->getAttrOfType<TargetAttr>(QOptDialect::kTargetAttrName);
    module->setAttr(QOptDialect::kTargetAttrName,
                    TargetAttr::get(module.getContext(), host.getBackend(),
                                    host.getTriple(), host.getCpu(),
                                    (host.getFeatures() + "," + extraFeatures)
                                        .str()));
  }
  if (mlir::failed(compileArtifact(module, SerializeOptions(), dir + "/a",
                                   /*force=*/false)))
    return nullptr;
  char err[512];
  return qrt_load((dir + "/a").c_str(), err, sizeof err);
}

} // namespace qopt::bench

#endif // QOPT_BENCH_BENCHCOMMON_H
