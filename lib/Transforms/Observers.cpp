//===- Observers.cpp - Calibration probes: insert and expose --------------===//

#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Regex.h"

namespace qopt {
#define GEN_PASS_DEF_INSERTOBSERVERSPASS
#define GEN_PASS_DEF_EXPOSEOBSERVERSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {
namespace {

struct InsertObserversPass
    : impl::InsertObserversPassBase<InsertObserversPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<llvm::Regex> excludeRe;
    if (!exclude.empty()) {
      excludeRe.emplace(exclude);
      std::string error;
      if (!excludeRe->isValid(error)) {
        emitError(UnknownLoc::get(module.getContext()), "bad --exclude regex '") << exclude << "': " << error;
        return signalPassFailure();
      }
    }
    SmallVector<tosa::MatMulOp> candidates;
    module.walk([&](tosa::MatMulOp op) {
      if (isQuantizationCandidate(op, excludeRe ? &*excludeRe : nullptr,
                                  quantizeClassifier))
        candidates.push_back(op);
    });
    // One probe per distinct input value.
    llvm::DenseMap<Value, Value> observed;
    auto observe = [&](Operation *op, OpOperand &operand,
                       const std::string &id) {
      Value v = operand.get();
      if (v.getDefiningOp<ObserveOp>())
        return false;
      auto it = observed.find(v);
      if (it == observed.end()) {
        OpBuilder b(operand.getOwner());
        auto probe = ObserveOp::create(b, op->getLoc(), v, id);
        it = observed.try_emplace(v, probe.getResult()).first;
      }
      operand.set(it->second);
      return true;
    };
    auto observeOutput = [&](Operation *op, const std::string &node) {
      if (!observeOutputs)
        return;
      OpBuilder b(op->getContext());
      b.setInsertionPointAfter(op);
      Value result = op->getResult(0);
      auto probe = ObserveOp::create(b, op->getLoc(), result, node + ":out");
      result.replaceAllUsesExcept(probe.getResult(), probe);
    };
    auto nodeName = [](Operation *op, StringRef kind) {
      std::string node = onnxNodeName(op->getLoc());
      return node.empty() ? kind.str() : node;
    };
    for (tosa::MatMulOp op : candidates) {
      std::string node = nodeName(op, "matmul");
      std::optional<QuantizableMatMul> m = analyzeMatMul(op);
      OpOperand &input = m->weightOnLeft ? op.getBMutable() : op.getAMutable();
      if (observe(op, input, node + ":in"))
        observeOutput(op, node);
    }
    // Depthwise and grouped convolutions: a probe on the unpadded input.
    SmallVector<Operation *> convs;
    module.walk([&](linalg::LinalgOp op) {
      if (isConvQuantizationCandidate(op, excludeRe ? &*excludeRe : nullptr))
        convs.push_back(op);
    });
    for (Operation *op : convs) {
      std::string node = nodeName(op, "conv");
      if (observe(op, *analyzeConvolution(op)->input, node + ":in"))
        observeOutput(op, node);
    }
    if (!quantizeAttention)
      return;
    std::optional<AttentionScales> scales =
        parseAttentionScales(attentionScales);
    if (!scales) {
      emitError(UnknownLoc::get(module.getContext()),
                "unknown attention-scales '")
          << attentionScales << "' (expected dynamic or static)";
      return signalPassFailure();
    }
    SmallVector<tosa::MatMulOp> products;
    module.walk([&](tosa::MatMulOp op) {
      if (isActivationProduct(op, excludeRe ? &*excludeRe : nullptr))
        products.push_back(op);
    });
    for (tosa::MatMulOp op : products) {
      std::string node = nodeName(op, "matmul");
      // Static scales come from both sides' ranges; run-time ones need no
      // statistics.
      if (*scales == AttentionScales::Static) {
        observe(op, op.getAMutable(), node + ":a");
        observe(op, op.getBMutable(), node + ":b");
      }
      bool observedOutput = llvm::any_of(
          op->getUsers(), [](Operation *u) { return isa<ObserveOp>(u); });
      if (!observedOutput)
        observeOutput(op, node);
    }
  }
};

struct ExposeObserversPass
    : impl::ExposeObserversPassBase<ExposeObserversPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      SmallVector<ObserveOp> probes;
      fn.walk([&](ObserveOp op) { probes.push_back(op); });
      if (probes.empty())
        continue;
      auto ret = cast<func::ReturnOp>(fn.getBody().back().getTerminator());
      SmallVector<Value> exposed;
      SmallVector<Type> types(fn.getFunctionType().getResults());
      llvm::StringSet<> seen;
      unsigned firstNew = types.size();
      SmallVector<std::string> names;
      for (ObserveOp op : probes) {
        Value v = op.getInput();
        op.getResult().replaceAllUsesWith(v);
        bool exposable =
            cast<RankedTensorType>(v.getType()).getElementType().isF32();
        if (exposable && seen.insert(op.getId()).second) {
          exposed.push_back(v);
          types.push_back(v.getType());
          names.push_back(("qopt.observe:" + op.getId()).str());
        }
        op.erase();
      }
      // Read the returned values only now: a probe can be returned directly
      // (a classifier whose product already has the logits' shape).
      SmallVector<Value> results(ret.getOperands());
      results.append(exposed);
      OpBuilder b(ret);
      func::ReturnOp::create(b, ret.getLoc(), results);
      ret.erase();
      SmallVector<DictionaryAttr> resultAttrs;
      fn.getAllResultAttrs(resultAttrs);
      resultAttrs.resize(firstNew);
      MLIRContext *ctx = &getContext();
      for (const std::string &name : names)
        resultAttrs.push_back(DictionaryAttr::get(
            ctx, {NamedAttribute(StringAttr::get(ctx, QOptDialect::kNameAttrName),
                                 StringAttr::get(ctx, name)),
                  NamedAttribute(StringAttr::get(ctx, QOptDialect::kDTypeAttrName),
                                 StringAttr::get(ctx, "float32"))}));
      fn.setFunctionType(
          FunctionType::get(ctx, fn.getFunctionType().getInputs(), types));
      fn.setAllResultAttrs(resultAttrs);
    }
  }
};

} // namespace
} // namespace qopt
