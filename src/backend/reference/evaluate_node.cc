#include "backend/reference/evaluate_node.h"

#include "backend/reference/kernel.h"
#include "ir/fused_ops.h"

namespace refit::reference {

Status ApplyFusedActivation(const ir::Node& node, Tensor& output) {
  REFIT_ASSIGN_OR_RETURN(ir::FusedActivation act, ir::GetFusedActivation(node));
  if (act.kind == ir::ActivationKind::kNone) return Status::Ok();
  if (output.dtype() != DataType::kF32) {
    return Unimplemented("node '" + node.name + "' (" + node.op_type +
                         "): fused activations need f32 outputs, found " +
                         std::string(DataTypeName(output.dtype())));
  }
  float* p = output.mutable_data_as<float>();
  for (int64_t i = 0, n = output.NumElements(); i < n; ++i) p[i] = ir::ApplyActivation(act, p[i]);
  return Status::Ok();
}

Status EvaluateNode(const ir::Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>* outputs, ThreadPool* pool) {
  const KernelFn fn = KernelRegistry::Default().Find(node.op_type, node.domain, opset);
  const std::string label = "node '" + node.name + "' (" +
                            (node.domain.empty() ? "" : node.domain + ".") + node.op_type + ")";
  if (fn == nullptr) {
    return Unimplemented("operator '" + (node.domain.empty() ? "" : node.domain + ".") +
                         node.op_type + "' (node '" + node.name + "', opset " +
                         std::to_string(opset) + ") is not supported");
  }
  // A fused residual (ir/fused_ops.h): the operator runs on its own inputs, the residual is added
  // to its output before the fused activation.
  const bool residual = ir::HasFusedResidual(node);
  const Tensor* z = nullptr;
  std::vector<const Tensor*> own = inputs;
  if (residual) {
    if (inputs.size() <= ir::kResidualInput || inputs[ir::kResidualInput] == nullptr) {
      return InvalidArgument(label + ": a fused residual needs input " +
                             std::to_string(ir::kResidualInput));
    }
    z = inputs[ir::kResidualInput];
    own.resize(ir::kResidualInput);
    while (!own.empty() && own.back() == nullptr) own.pop_back();
  }
  KernelContext ctx{node, opset, own, {}, pool};
  ctx.outputs.resize(node.outputs.size());
  Status s = fn(ctx);
  if (!s.ok()) {
    if (s.message().rfind("node '", 0) == 0) return s;
    return s.WithContext(label);
  }
  for (size_t o = 0; o < node.outputs.size(); ++o) {
    if (!node.outputs[o].empty() && !ctx.outputs[o].defined()) {
      return Internal(label + " left output " + std::to_string(o) + " unset");
    }
  }
  if (residual) {
    Tensor& y = ctx.outputs[0];
    if (y.dtype() != DataType::kF32 || z->dtype() != DataType::kF32 || z->shape() != y.shape()) {
      return InvalidArgument(label + ": the fused residual " + z->shape().ToString() +
                             " must be f32 of the output's shape " + y.shape().ToString());
    }
    float* yp = y.mutable_data_as<float>();
    const float* zp = z->data_as<float>();
    for (int64_t i = 0, n = y.NumElements(); i < n; ++i) yp[i] += zp[i];
  }
  if (!ctx.outputs.empty() && ctx.outputs[0].defined()) {
    REFIT_RETURN_IF_ERROR(ApplyFusedActivation(node, ctx.outputs[0]));
  }
  *outputs = std::move(ctx.outputs);
  return Status::Ok();
}

}  // namespace refit::reference
