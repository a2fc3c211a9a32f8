// Graph passes: rewrites of an ir::Graph that keep its outputs (up to float rounding) and keep
// every weight refittable.
//
// Contract shared by every pass:
// - A pass that changes a weight never computes the new value itself: it adds a derived weight
//   whose WeightRecipe reads SOURCE weights, so refit recomputes it exactly from new sources.
// - graph.weights (the source weights) is never modified, even when no node reads a source any
// more.
// - Nothing that reads a weight is ever folded to a constant (a baked value would go stale on
// refit).
// - On error the graph may be partly rewritten but is still valid; callers that need atomicity
//   run passes on a copy.
// - `report` may be null. Passes are not thread-safe on the same graph.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::passes {

// What the passes did, one entry per rewrite, for `inspect` and tests.
struct PassReport {
  struct Entry {
    std::string pass;
    std::string message;
  };
  std::vector<Entry> entries;

  void Add(const std::string& pass, std::string message);
  int Count(const std::string& pass) const;
  std::string ToString() const;
};

// Evaluates one node on constant inputs (nullptr for absent optional inputs), filling one output
// per node output. Supplied by a layer that owns kernels (the reference backend), so the passes do
// not depend on any backend.
using NodeEvaluator =
    std::function<Status(const ir::Node& node, int64_t opset,
                         const std::vector<const Tensor*>& inputs, std::vector<Tensor>* outputs)>;

// Conv / ConvTranspose / Gemm followed by an inference BatchNormalization that is its only
// consumer: the BN disappears, the producer reads derived weight and bias (bn_scale / bn_bias).
Status FoldBatchNormPass(ir::Graph& g, PassReport* report);
// MatMul(x, W) + Add(bias) with x of rank 2, W a [K,N] weight and bias an [N] or [1,N] weight:
// one Gemm. Higher-rank MatMuls are left alone.
Status MatMulAddToGemmPass(ir::Graph& g, PassReport* report);
// Transpose of a weight whose every consumer is MatMul or Gemm: a derived weight (transpose
// recipe) under the Transpose's output name.
Status FoldWeightTransposePass(ir::Graph& g, PassReport* report);
// Decomposed normalisations as PyTorch exports them: ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div
// (then Mul gamma, Add beta) -> refit.LayerNormalization; Reshape/InstanceNormalization/Reshape/
// Mul gamma/Add beta -> refit.GroupNorm(x, in_scale, in_bias, gamma, beta). Parameters stay inputs.
Status FuseLayerNormPass(ir::Graph& g, PassReport* report);
// Add(Conv(...), Z) with Z an f32 activation of the Conv's output shape, the Conv's output read by
// the Add alone and the Conv without a fused activation: the Conv takes Z as its fused residual
// (ir/fused_ops.h) and the Add's place and output, so a following activation fuses into it too.
Status FuseResidualPass(ir::Graph& g, PassReport* report);
// An activation (Relu, Clip with constant bounds, Sigmoid, SiLU, GELU, HardSwish, HardSigmoid,
// LeakyRelu, Tanh) that alone reads the f32 output of a Conv / ConvTranspose / Gemm / MatMul (or
// a refit GroupNorm / LayerNormalization) becomes that node's fused activation (ir/fused_ops.h).
Status FuseActivationPass(ir::Graph& g, PassReport* report);
// Trees of f32 element-wise operators whose intermediate values nothing else reads -> one
// refit.FusedElementwise node carrying a program (ir/fused_elementwise.h).
Status FuseElementwisePass(ir::Graph& g, PassReport* report);
// Removes nodes none of whose outputs is read (graph outputs are live) and derived weights no
// node reads.
Status EliminateDeadCodePass(ir::Graph& g, PassReport* report);
// Replaces nodes whose inputs are all constants independent of weights (Constant outputs, and
// Shape/Size of statically shaped values) by Constant nodes, evaluating them with `evaluator`.
// Never folds anything reading a weight, random operators, or results above 1M elements; a node
// the evaluator fails on is kept (and noted as skipped).
Status FoldConstantsPass(ir::Graph& g, const NodeEvaluator& evaluator, PassReport* report);

struct PassOptions {
  // When empty, constant folding is skipped.
  NodeEvaluator evaluator;
};

// fold_constants, fold_weight_transpose, matmul_add_to_gemm, fold_batchnorm, fuse_layernorm,
// fuse_activation, fuse_elementwise, eliminate_dead_code, then Graph::Validate().
Status RunDefaultPasses(ir::Graph& g, PassReport* report, const PassOptions& options = {});

}  // namespace refit::passes
