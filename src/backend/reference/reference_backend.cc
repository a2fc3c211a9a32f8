#include "backend/reference/reference_backend.h"

#include <cstring>

#include "backend/reference/evaluate_node.h"
#include "backend/reference/kernel.h"

namespace refit::reference {
namespace {

class ReferenceKernel : public backend::Kernel {
 public:
  ReferenceKernel(const ir::Node* node, int64_t opset) : node_(node), opset_(opset) {}

  Status Run(const backend::KernelIo& io) const override {
    std::vector<Tensor> outs;
    REFIT_RETURN_IF_ERROR(EvaluateNode(*node_, opset_, io.inputs, &outs, io.pool));
    for (size_t o = 0; o < io.outputs.size() && o < outs.size(); ++o) {
      Tensor* dst = io.outputs[o];
      if (dst == nullptr) continue;
      if (!dst->defined()) {  // dynamic shape: the kernel's tensor becomes the value
        *dst = std::move(outs[o]);
        continue;
      }
      if (outs[o].dtype() != dst->dtype() || outs[o].shape() != dst->shape()) {
        return Internal("node '" + node_->name + "' (" + node_->op_type + "): output " +
                        std::to_string(o) + " is " + std::string(DataTypeName(outs[o].dtype())) +
                        outs[o].shape().ToString() + " but the engine planned " +
                        std::string(DataTypeName(dst->dtype())) + dst->shape().ToString() +
                        " (a shape that depends on input values?)");
      }
      std::memcpy(dst->mutable_data(), outs[o].data(), outs[o].nbytes());
    }
    return Status::Ok();
  }

 private:
  const ir::Node* node_;
  int64_t opset_;
};

class ReferenceTactic : public backend::Tactic {
 public:
  ReferenceTactic(const ir::Node* node, int64_t opset) : node_(node), opset_(opset) {}
  std::string name() const override { return kReferenceTactic; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new ReferenceKernel(node_, opset_));
  }

 private:
  const ir::Node* node_;
  int64_t opset_;
};

class ReferenceBackend : public backend::Backend {
 public:
  std::string name() const override { return "reference"; }
  std::vector<std::unique_ptr<backend::Tactic>> Tactics(
      const backend::LayerDesc& layer) const override {
    std::vector<std::unique_ptr<backend::Tactic>> out;
    const ir::Node& n = *layer.node;
    if (KernelRegistry::Default().Find(n.op_type, n.domain, layer.opset) != nullptr) {
      out.push_back(std::make_unique<ReferenceTactic>(layer.node, layer.opset));
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<backend::Backend> CreateReferenceBackend() {
  return std::make_unique<ReferenceBackend>();
}

}  // namespace refit::reference
