//===- DispatchList.cpp - The host side of a GPU artifact -----------------===//
//
// Resolves each kernel operand of the host function's launches to a range
// of one runtime buffer, for the dispatch list of every GPU target.
//
//===----------------------------------------------------------------------===//

#include "qopt/Target/GPU/DispatchList.h"
#include "qopt/QOptDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;

namespace qopt::gpu {

int64_t bytesOf(MemRefType type) {
  int64_t bits = type.getElementType().getIntOrFloatBitWidth();
  return type.getNumElements() * std::max<int64_t>(1, (bits + 7) / 8);
}

FailureOr<std::vector<BufferBinding>> bindEntryArguments(func::FuncOp entry,
                                                         int64_t weightsBytes,
                                                         int64_t workspaceBytes,
                                                         StringRef targetName) {
  std::vector<BufferBinding> bindings;
  unsigned numInputs = 0, numOutputs = 0;
  for (unsigned i = 0; i < entry.getNumArguments(); ++i) {
    auto role =
        entry.getArgAttrOfType<ArgRoleAttr>(i, QOptDialect::kArgRoleAttrName);
    if (!role)
      return entry.emitError() << "internal error: argument " << i
                               << " of the entry has no declared role";
    BufferBinding b;
    auto type = dyn_cast<MemRefType>(entry.getArgumentTypes()[i]);
    switch (role.getValue()) {
    case ArgRole::Weights:
      b = {"weights", 0, 0, weightsBytes};
      break;
    case ArgRole::Workspace:
      b = {"workspace", 0, 0, workspaceBytes};
      break;
    case ArgRole::Input:
    case ArgRole::Output:
      if (!type || !type.hasStaticShape())
        return entry.emitError()
               << "the " << targetName << " target needs static shapes; "
               << "argument " << i << " is " << entry.getArgumentTypes()[i];
      b = {role.getValue() == ArgRole::Input ? "input" : "output",
           role.getValue() == ArgRole::Input ? numInputs++ : numOutputs++, 0,
           bytesOf(type)};
      break;
    }
    bindings.push_back(b);
  }
  return bindings;
}

FailureOr<BufferBinding> resolveBuffer(Value value, func::FuncOp entry,
                                       ArrayRef<BufferBinding> argBindings) {
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    if (arg.getOwner()->getParentOp() != entry.getOperation())
      return failure();
    return argBindings[arg.getArgNumber()];
  }
  Operation *def = value.getDefiningOp();
  auto type = dyn_cast<MemRefType>(value.getType());
  if (!def || !type)
    return failure();
  if (auto view = dyn_cast<memref::ViewOp>(def)) {
    FailureOr<BufferBinding> base =
        resolveBuffer(view.getSource(), entry, argBindings);
    std::optional<int64_t> shift = getConstantIntValue(view.getByteShift());
    if (failed(base) || !shift || !type.hasStaticShape())
      return failure();
    base->offset += *shift;
    base->bytes = bytesOf(type);
    return base;
  }
  // Reshapes of a contiguous buffer alias it from its start.
  if (isa<memref::CollapseShapeOp, memref::ExpandShapeOp, memref::CastOp>(
          def)) {
    FailureOr<BufferBinding> base =
        resolveBuffer(def->getOperand(0), entry, argBindings);
    if (failed(base) || !type.hasStaticShape() ||
        !type.getLayout().isIdentity())
      return failure();
    base->bytes = bytesOf(type);
    return base;
  }
  // A subview's kernel indexes its source with the subview's own offset
  // and strides (its layout), so it binds the whole source.
  if (auto sub = dyn_cast<memref::SubViewOp>(def))
    return resolveBuffer(sub.getSource(), entry, argBindings);
  return failure();
}

FailureOr<std::vector<mlir::gpu::LaunchFuncOp>>
collectLaunches(func::FuncOp entry, StringRef targetName) {
  std::vector<mlir::gpu::LaunchFuncOp> launches;
  for (Operation &op : entry.getBody().front()) {
    if (isa<arith::ConstantOp, memref::ViewOp, memref::CollapseShapeOp,
            memref::ExpandShapeOp, memref::SubViewOp, memref::CastOp,
            func::ReturnOp>(op))
      continue;
    auto launch = dyn_cast<mlir::gpu::LaunchFuncOp>(op);
    if (!launch)
      return op.emitError()
             << "'" << op.getName() << "' has no GPU lowering for the "
             << targetName << " target: it would run on the host, which "
             << targetName << " artifacts do not have";
    launches.push_back(launch);
  }
  return launches;
}

FailureOr<llvm::json::Object>
describeLaunch(mlir::gpu::LaunchFuncOp launch, func::FuncOp entry,
               ArrayRef<BufferBinding> argBindings, StringRef targetName) {
  auto counts = [&](mlir::gpu::KernelDim3 dims, llvm::json::Array &out) {
    for (Value v : {dims.x, dims.y, dims.z}) {
      std::optional<int64_t> c = getConstantIntValue(v);
      if (!c)
        return false;
      out.push_back(*c);
    }
    return true;
  };
  llvm::json::Array groups, groupSize;
  if (!counts(launch.getGridSizeOperandValues(), groups) ||
      !counts(launch.getBlockSizeOperandValues(), groupSize))
    return launch.emitError() << "the " << targetName
                              << " target needs static workgroup counts and "
                                 "sizes";
  llvm::json::Array bindings;
  unsigned slot = 0;
  for (Value operand : launch.getKernelOperands()) {
    FailureOr<BufferBinding> b = resolveBuffer(operand, entry, argBindings);
    if (failed(b))
      return launch.emitError()
             << "kernel operand " << slot << " (" << operand.getType()
             << ") is not a view of a runtime buffer";
    bindings.push_back(llvm::json::Object{{"binding", slot++},
                                          {"buffer", b->buffer},
                                          {"index", b->index},
                                          {"offset", b->offset},
                                          {"bytes", b->bytes}});
  }
  return llvm::json::Object{{"workgroups", std::move(groups)},
                            {"workgroup_size", std::move(groupSize)},
                            {"bindings", std::move(bindings)}};
}

LogicalResult mergeKernelModules(ModuleOp module, StringRef name) {
  SmallVector<mlir::gpu::GPUModuleOp> kernelModules(
      module.getOps<mlir::gpu::GPUModuleOp>());
  if (kernelModules.empty())
    return success();
  if (module.lookupSymbol(name))
    return module.emitError() << "internal error: the kernel module name '"
                              << name << "' is taken";
  OpBuilder builder(kernelModules.front());
  auto merged = mlir::gpu::GPUModuleOp::create(builder, module.getLoc(), name);
  Block &body = merged.getBodyRegion().front();
  // (module, kernel) -> the kernel's name in the merged module.
  llvm::DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
  for (mlir::gpu::GPUModuleOp kernels : kernelModules) {
    for (Operation &op : llvm::make_early_inc_range(*kernels.getBody())) {
      auto func = dyn_cast<mlir::gpu::GPUFuncOp>(op);
      if (!func)
        return op.emitError()
               << "internal error: '" << op.getName()
               << "' beside the kernels of '" << kernels.getName() << "'";
      StringAttr oldName = func.getNameAttr();
      func->moveBefore(&body, body.end());
      // Module names are unique symbols of `module`, so kernels named
      // after them are unique in the merged module.
      SymbolTable::setSymbolName(func, kernels.getNameAttr());
      renamed[{kernels.getNameAttr(), oldName}] = kernels.getNameAttr();
    }
  }
  WalkResult result = module.walk([&](mlir::gpu::LaunchFuncOp launch) {
    auto it =
        renamed.find({launch.getKernelModuleName(), launch.getKernelName()});
    if (it == renamed.end()) {
      launch.emitError() << "internal error: launch of an unknown kernel";
      return WalkResult::interrupt();
    }
    launch.setKernelAttr(SymbolRefAttr::get(
        merged.getNameAttr(), {FlatSymbolRefAttr::get(it->second)}));
    return WalkResult::advance();
  });
  if (result.wasInterrupted())
    return failure();
  for (mlir::gpu::GPUModuleOp kernels : kernelModules)
    kernels.erase();
  // Launches of kernels in one module need it to say it holds kernels.
  module->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  return success();
}

} // namespace qopt::gpu
