//===- LayerRoles.cpp - What each quantizable op does in its model --------===//
//
// Roles come from how values flow between the quantizable ops, never from
// node names: an exporter may call a query projection "ffn" or nothing at
// all. Two views of the flow serve the rules:
//
// - the source of a value: the value it is a transformed copy of, seen
//   backwards through ops that move, reshape, cast or scale data and
//   through elementwise ops whose other inputs are constants or copies of
//   the same source (a bias, SiLU's x * sigmoid(x), a rotary embedding's
//   rotations and sums). Where two different sources meet (a residual add,
//   SwiGLU's product, a normalization dividing by a reduction), the meeting
//   op's result is a source of its own;
// - what a projection's result reaches forwards through views and
//   elementwise ops of any inputs (a KV cache concatenated with past keys),
//   stopping at reductions and at the next product.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/LayerRoles.h"
#include "qopt/QOptDialect.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Transforms/Quantization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "qopt-classify-layers"

namespace qopt {
#define GEN_PASS_DEF_CLASSIFYLAYERSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace qopt {

StringRef layerRoleName(LayerRole role) { return stringifyLayerRole(role); }

std::optional<LayerRole> parseLayerRole(StringRef name) {
  return symbolizeLayerRole(name);
}

namespace {

/// Forward walks give up after this many ops: a projection reaches its
/// attention product within a few dozen, and the walk must stay linear in
/// the size of the model.
constexpr unsigned kForwardBudget = 256;

/// Ops that pass one tensor on with its values unchanged or moved: the data
/// operand they read.
Value viewedOperand(Operation *op) {
  if (isa<tosa::ReshapeOp, tosa::TransposeOp, tosa::CastOp, tosa::SliceOp,
          tosa::TileOp, tosa::PadOp, tensor::CollapseShapeOp,
          tensor::ExpandShapeOp, tensor::ExtractSliceOp, tensor::PadOp,
          tensor::CastOp, ObserveOp, QuantizeOp, DequantizeOp,
          DynamicQuantizeOp>(op))
    return op->getOperand(0);
  if (isa<linalg::TransposeOp, linalg::BroadcastOp, linalg::CopyOp>(op))
    return cast<linalg::LinalgOp>(op).getDpsInputOperand(0)->get();
  return {};
}

/// A linalg.generic that computes each output element from input elements
/// at most (all loops parallel): elementwise arithmetic, broadcasts,
/// transpositions.
bool isParallelGeneric(Operation *op) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  return generic && generic->getNumResults() == 1 &&
         generic.getNumParallelLoops() == generic.getNumLoops();
}

/// The tensors an elementwise-like op combines: its data inputs. Empty for
/// other ops.
SmallVector<Value> combinedInputs(Operation *op) {
  if (isParallelGeneric(op))
    return llvm::to_vector(cast<linalg::GenericOp>(op).getDpsInputs());
  if (op->hasTrait<OpTrait::tosa::TosaElementwiseOperator>() ||
      isa<tosa::ConcatOp, tensor::ConcatOp, tensor::InsertSliceOp>(op))
    return llvm::to_vector(op->getOperands());
  return {};
}

/// Whether an elementwise-like op applies a nonlinear function (sigmoid,
/// tanh, erf, a clamp, a power) rather than sums and scalings.
bool isNonlinear(Operation *op) {
  if (auto generic = dyn_cast<linalg::GenericOp>(op))
    return llvm::any_of(
        generic.getBody()->without_terminator(), [](Operation &inner) {
          return !isa<arith::AddFOp, arith::SubFOp, arith::MulFOp,
                      arith::DivFOp, arith::NegFOp, arith::ConstantOp,
                      arith::ExtFOp, arith::TruncFOp>(inner);
        });
  return op->hasTrait<OpTrait::tosa::TosaElementwiseOperator>() &&
         !isa<tosa::AddOp, tosa::SubOp, tosa::MulOp, tosa::NegateOp>(op);
}

/// A float product whose weight is a constant on the right (y = x W): a
/// linear layer, before or after quantization.
Value linearLayerInput(Operation *op) {
  if (auto mm = dyn_cast<tosa::MatMulOp>(op)) {
    if (!isQuantizationCandidate(mm, nullptr, /*includeClassifier=*/true))
      return {};
    std::optional<QuantizableMatMul> m = analyzeMatMul(mm);
    return m->weightOnLeft ? Value() : m->activation;
  }
  if (auto mm = dyn_cast<MatMulOp>(op))
    return mm.getInput();
  return {};
}

/// The convolution role of `op`, if it is a convolution with constant
/// weights.
std::optional<LayerRole> convolutionRole(Operation *op) {
  int64_t groups, channelsPerGroup, kh, kw;
  if (std::optional<QuantizableConv> conv = analyzeConvolution(op)) {
    groups = conv->groups;
    channelsPerGroup = conv->channelsPerGroup;
    kh = conv->kernel[0];
    kw = conv->kernel[1];
  } else if (auto conv = dyn_cast<Conv2DOp>(op)) {
    ArrayRef<int64_t> shape = conv.getWeight().getType().getShape();
    groups = conv.getGroup();
    channelsPerGroup = shape[1];
    kh = shape[2];
    kw = shape[3];
  } else if (auto mm = dyn_cast<tosa::MatMulOp>(op)) {
    // A convolution that qopt-decompose-convolutions already turned into an
    // im2col product (weights on the left); its kernel is folded into K.
    std::optional<QuantizableMatMul> m = analyzeMatMul(mm);
    if (!m || !m->weightOnLeft)
      return std::nullopt;
    return LayerRole::Conv;
  } else {
    return std::nullopt;
  }
  if (groups == 1 && kh == 1 && kw == 1)
    return LayerRole::ConvPointwise;
  if (groups > 1 && channelsPerGroup == 1)
    return LayerRole::ConvDepthwise;
  return LayerRole::Conv;
}

bool isEmbedding(Operation *op) {
  if (auto gather = dyn_cast<tosa::GatherOp>(op))
    return isConstantBehindReshapes(gather.getValues());
  return isa<EmbeddingOp>(op);
}

/// What a value is a transformed copy of (see the file comment). A null
/// root means a constant.
struct Source {
  Value root;
  /// Whether a nonlinear function lies between the root and the value.
  bool nonlinear = false;
};

class LayerRoleAnalysis {
public:
  explicit LayerRoleAnalysis(ModuleOp module) {
    module.walk([&](func::FuncOp func) {
      if (!func.isExternal())
        analyze(func.getBody().front());
    });
  }

  llvm::DenseMap<Operation *, LayerRole> takeRoles() {
    return std::move(roles);
  }

private:
  void analyze(Block &block);
  void traceSources(Block &block);
  bool reachesActivationProduct(Value projection) const;
  void assignFeedForward(Operation *down, Value input);
  void assign(Operation *op, LayerRole role) { roles.try_emplace(op, role); }

  Source sourceOf(Value v) const {
    auto it = sources.find(v);
    return it == sources.end() ? Source{v} : it->second;
  }
  Operation *rootOp(Value v) const {
    Value root = sourceOf(v).root;
    return root ? root.getDefiningOp() : nullptr;
  }

  llvm::DenseMap<Value, Source> sources;
  llvm::DenseMap<Operation *, Value> linearLayers; // op -> activation input
  llvm::DenseSet<Operation *> activationProducts;
  llvm::DenseMap<Operation *, LayerRole> roles;
};

void LayerRoleAnalysis::traceSources(Block &block) {
  // SSA order is a topological order: every operand's source is known
  // before its users are visited.
  for (Operation &op : block) {
    if (op.hasTrait<OpTrait::ConstantLike>()) {
      for (Value r : op.getResults())
        sources[r] = Source{};
      continue;
    }
    if (Value data = viewedOperand(&op)) {
      Source s = sourceOf(data);
      for (Value r : op.getResults())
        sources[r] = s;
      continue;
    }
    SmallVector<Value> inputs = combinedInputs(&op);
    if (inputs.empty())
      continue; // its results are sources of their own
    Source combined;
    bool meets = false;
    for (Value input : inputs) {
      Source s = sourceOf(input);
      if (!s.root)
        continue;
      if (combined.root && combined.root != s.root) {
        meets = true;
        break;
      }
      combined.root = s.root;
      combined.nonlinear |= s.nonlinear;
    }
    if (meets)
      continue;
    if (combined.root)
      combined.nonlinear |= isNonlinear(&op);
    sources[op.getResult(0)] = combined;
  }
}

bool LayerRoleAnalysis::reachesActivationProduct(Value projection) const {
  SmallVector<Value> worklist{projection};
  llvm::SmallPtrSet<Operation *, 32> visited;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    for (Operation *user : v.getUsers()) {
      if (!visited.insert(user).second)
        continue;
      if (visited.size() > kForwardBudget)
        return false;
      if (activationProducts.contains(user))
        return true;
      if (viewedOperand(user) || !combinedInputs(user).empty())
        llvm::append_range(worklist, user->getResults());
    }
  }
  return false;
}

/// `down` reads `input`: if that is the product of a gated unit (SwiGLU,
/// GeGLU) or an activation function of another linear layer, `down` is a
/// feed-forward down projection and the layers feeding it up (and gate)
/// projections.
void LayerRoleAnalysis::assignFeedForward(Operation *down, Value input) {
  Source in = sourceOf(input);
  Operation *merge = in.root ? in.root.getDefiningOp() : nullptr;
  if (!merge)
    return;
  if (linearLayers.contains(merge)) {
    if (merge != down && in.nonlinear) {
      assign(down, LayerRole::FFNDown);
      assign(merge, LayerRole::FFNUp);
    }
    return;
  }
  // The gated product: two linear layers of one input, one of them through
  // the gate's nonlinearity, multiplied elementwise.
  auto isMultiply = [](Operation *op) {
    if (isa<tosa::MulOp>(op))
      return true;
    auto generic = dyn_cast<linalg::GenericOp>(op);
    return generic && isParallelGeneric(op) &&
           llvm::hasSingleElement(generic.getBody()->without_terminator()) &&
           isa<arith::MulFOp>(generic.getBody()->front());
  };
  if (!isMultiply(merge))
    return;
  SmallVector<Value> factors;
  for (Value v : combinedInputs(merge))
    if (sourceOf(v).root)
      factors.push_back(v);
  if (factors.size() != 2)
    return;
  Source a = sourceOf(factors[0]), b = sourceOf(factors[1]);
  Operation *ma = a.root.getDefiningOp(), *mb = b.root.getDefiningOp();
  if (!ma || !mb || !linearLayers.contains(ma) || !linearLayers.contains(mb) ||
      a.nonlinear == b.nonlinear)
    return;
  Value inA = sourceOf(linearLayers.lookup(ma)).root;
  Value inB = sourceOf(linearLayers.lookup(mb)).root;
  if (!inA || inA != inB)
    return;
  assign(down, LayerRole::FFNDown);
  assign(a.nonlinear ? ma : mb, LayerRole::FFNGate);
  assign(a.nonlinear ? mb : ma, LayerRole::FFNUp);
}

void LayerRoleAnalysis::analyze(Block &block) {
  traceSources(block);
  SmallVector<Operation *> linearOrder;
  for (Operation &op : block) {
    if (isEmbedding(&op)) {
      assign(&op, LayerRole::Embedding);
    } else if (std::optional<LayerRole> role = convolutionRole(&op)) {
      assign(&op, *role);
    } else if (Value input = linearLayerInput(&op)) {
      linearLayers[&op] = input;
      linearOrder.push_back(&op);
    } else if (auto mm = dyn_cast<tosa::MatMulOp>(op);
               mm && isActivationProduct(mm, nullptr)) {
      activationProducts.insert(&op);
      assign(&op, LayerRole::AttentionScores);
    }
  }

  // The output layer first, as qopt-quantize sees it; then attention, whose
  // signature (a product of two activations) is the least ambiguous.
  for (Operation *op : linearOrder) {
    if (feedsReturnOnly(op->getResult(0)))
      assign(op, LayerRole::Classifier);
    else if (reachesActivationProduct(op->getResult(0)))
      assign(op, LayerRole::AttentionQKV);
    else if (activationProducts.contains(rootOp(linearLayers.lookup(op))))
      assign(op, LayerRole::AttentionOutput);
  }
  for (Operation *op : linearOrder)
    assignFeedForward(op, linearLayers.lookup(op));

  // A head behind a bias or a softmax: nothing quantizable after it.
  llvm::DenseSet<Operation *> feedsLayer;
  for (Operation &op : llvm::reverse(block)) {
    bool feeds = llvm::any_of(op.getUsers(), [&](Operation *user) {
      return roles.contains(user) || linearLayers.contains(user) ||
             feedsLayer.contains(user);
    });
    if (feeds)
      feedsLayer.insert(&op);
  }
  for (Operation *op : linearOrder) {
    bool head = !op->use_empty() && !feedsLayer.contains(op);
    assign(op, head ? LayerRole::Classifier : LayerRole::Other);
    LLVM_DEBUG(llvm::dbgs() << onnxNodeName(op->getLoc()) << ": "
                            << layerRoleName(roles.lookup(op)) << "\n");
  }
}

} // namespace

llvm::DenseMap<Operation *, LayerRole> classifyLayerRoles(ModuleOp module) {
  return LayerRoleAnalysis(module).takeRoles();
}

namespace {

struct ClassifyLayersPass : impl::ClassifyLayersPassBase<ClassifyLayersPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    for (auto [op, role] : classifyLayerRoles(getOperation())) {
      op->setAttr(QOptDialect::kRoleAttrName, LayerRoleAttr::get(ctx, role));
      ++numClassified;
    }
  }
};

} // namespace
} // namespace qopt
