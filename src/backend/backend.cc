#include "backend/backend.h"

namespace refit::backend {

const TensorDesc& LayerDesc::input(size_t i) const {
  static const TensorDesc kAbsent;
  return i < inputs.size() ? inputs[i] : kAbsent;
}

std::string LayerDesc::Label() const {
  return "node '" + node->name + "' (" + (node->domain.empty() ? "" : node->domain + ".") +
         node->op_type + ")";
}

StatusOr<Tensor> Tactic::PackWeight(size_t input, const Tensor& value) const {
  return Tensor::CopyOf(value.view());
}

StatusOr<TensorDesc> Tactic::PackedType(size_t input, const TensorDesc& value) const {
  if (KeepsWeightLayout(input)) return value;
  REFIT_ASSIGN_OR_RETURN(Tensor zero, Tensor::Create(value.dtype, value.shape));
  REFIT_ASSIGN_OR_RETURN(Tensor packed, PackWeight(input, zero));
  return TensorDesc{packed.dtype(), packed.shape(), false};
}

StatusOr<Tensor> Tactic::PackWeightScaledRows(size_t input, const Tensor& value,
                                              const float* row_scale) const {
  return Unimplemented("tactic '" + name() + "' does not pack scaled rows");
}

StatusOr<Tensor> Tactic::PackWeightChecked(size_t input, const Tensor& value) const {
  return Unimplemented("tactic '" + name() + "' does not pack with a finiteness check");
}

StatusOr<Tensor> Tactic::PackWeightTransposed(size_t input, const Tensor& source) const {
  return Unimplemented("tactic '" + name() + "' does not pack transposed weights");
}

StatusOr<std::unique_ptr<Tactic>> Backend::FindTactic(const LayerDesc& layer,
                                                      const std::string& name) const {
  for (std::unique_ptr<Tactic>& t : Tactics(layer)) {
    if (t->name() == name) return std::move(t);
  }
  return NotFound(layer.Label() + ": backend '" + this->name() + "' has no tactic '" + name +
                  "' for this layer on this machine");
}

}  // namespace refit::backend
