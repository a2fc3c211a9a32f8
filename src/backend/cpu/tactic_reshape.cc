// The tactic for operators that keep every byte and change only the shape ("reshape/alias"):
// Reshape, Flatten, Squeeze, Unsqueeze and Identity. Its kernel copies the input to the output,
// unless the two are the same bytes: the builder plans such a layer's output at its input's
// offset (the two live as one buffer), so in an engine the layer costs nothing.
#include <cstring>
#include <string>

#include "backend/cpu/cpu_tactics.h"

namespace refit::cpu {
namespace {

struct AliasSpec {
  std::string label;
};

class AliasKernel : public backend::Kernel {
 public:
  explicit AliasKernel(AliasSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.empty() ||
        io.outputs[0] == nullptr || io.outputs[0]->nbytes() != io.inputs[0]->nbytes()) {
      return InvalidArgument(s_.label + ": expected one input and an output of as many bytes");
    }
    if (io.outputs[0]->data() != io.inputs[0]->data() && io.inputs[0]->nbytes() > 0) {
      std::memcpy(io.outputs[0]->mutable_data(), io.inputs[0]->data(), io.inputs[0]->nbytes());
    }
    return Status::Ok();
  }

 private:
  AliasSpec s_;
};

class AliasTactic : public backend::Tactic {
 public:
  explicit AliasTactic(AliasSpec spec) : s_(std::move(spec)) {}
  std::string name() const override { return "reshape/alias"; }
  bool AliasesInput() const override { return true; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new AliasKernel(s_));
  }

 private:
  AliasSpec s_;
};

}  // namespace

void AddReshapeTactics(const backend::LayerDesc& layer, TacticList* out) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() ||
      (node.op_type != "Reshape" && node.op_type != "Flatten" && node.op_type != "Squeeze" &&
       node.op_type != "Unsqueeze" && node.op_type != "Identity")) {
    return;
  }
  const backend::TensorDesc& x = layer.input(0);
  if (!x.present() || layer.is_weight(0) || layer.outputs.size() != 1 ||
      !layer.outputs[0].present() || layer.outputs[0].dtype != x.dtype ||
      layer.outputs[0].shape.NumElements() != x.shape.NumElements()) {
    return;
  }
  out->push_back(std::make_unique<AliasTactic>(AliasSpec{layer.Label()}));
}

}  // namespace refit::cpu
