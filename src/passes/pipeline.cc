// The default pass pipeline. Order matters: constants first (so shape arithmetic is settled), then
// weight transposes become derived weights, which lets MatMul + Add become Gemm, which lets a
// following BatchNormalization fold. Normalisations are recognised before activations fuse (so a
// GroupNorm can take its SiLU), residual Adds into a Conv before activations (so the Relu after a
// ResNet block's sum fuses into its Conv too), activations before element-wise trees (a Conv's Relu
// is better fused into the Conv than left as a one-op tree); dead code last collects what the
// others orphaned (Constant nodes whose scalars were inlined).
#include "passes/passes.h"

namespace refit::passes {

Status RunDefaultPasses(ir::Graph& g, PassReport* report, const PassOptions& options) {
  if (options.evaluator) REFIT_RETURN_IF_ERROR(FoldConstantsPass(g, options.evaluator, report));
  REFIT_RETURN_IF_ERROR(FoldWeightTransposePass(g, report));
  REFIT_RETURN_IF_ERROR(MatMulAddToGemmPass(g, report));
  REFIT_RETURN_IF_ERROR(FoldBatchNormPass(g, report));
  REFIT_RETURN_IF_ERROR(FuseLayerNormPass(g, report));
  REFIT_RETURN_IF_ERROR(FuseResidualPass(g, report));
  REFIT_RETURN_IF_ERROR(FuseActivationPass(g, report));
  REFIT_RETURN_IF_ERROR(FuseElementwisePass(g, report));
  REFIT_RETURN_IF_ERROR(EliminateDeadCodePass(g, report));
  Status s = g.Validate();
  if (!s.ok()) return Internal("graph invalid after passes: " + s.message());
  return Status::Ok();
}

}  // namespace refit::passes
