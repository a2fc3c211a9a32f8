#include "backend/reference/kernel.h"

namespace refit::reference {

StatusOr<const Tensor*> KernelContext::RequiredInput(size_t i) const {
  const Tensor* t = input(i);
  if (t == nullptr) return Error("required input " + std::to_string(i) + " is missing");
  return t;
}

Status KernelContext::Error(const std::string& message) const {
  return InvalidArgument("node '" + node.name + "' (" + node.op_type + "): " + message);
}

StatusOr<Tensor*> KernelContext::AllocateOutput(size_t i, DataType dtype, Shape shape) {
  if (i >= outputs.size()) return Error("output " + std::to_string(i) + " does not exist");
  auto t = Tensor::Create(dtype, std::move(shape));
  if (!t.ok()) return t.status().WithContext("node '" + node.name + "' (" + node.op_type + ")");
  outputs[i] = std::move(t).value();
  return &outputs[i];
}

const KernelRegistry& KernelRegistry::Default() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    RegisterElementwiseUnaryOps(*r);
    RegisterElementwiseBinaryOps(*r);
    RegisterActivationOps(*r);
    RegisterCastOps(*r);
    RegisterShapeOps(*r);
    RegisterIndexingOps(*r);
    RegisterConvOps(*r);
    RegisterPoolOps(*r);
    RegisterMatMulOps(*r);
    RegisterNormalizationOps(*r);
    RegisterReductionOps(*r);
    RegisterSoftmaxOps(*r);
    RegisterResizeOps(*r);
    RegisterRefitElementwiseOps(*r);
    RegisterRefitNormOps(*r);
    return r;
  }();
  return *registry;
}

void KernelRegistry::Register(const std::string& op_type, KernelFn fn, int since_opset) {
  kernels_[op_type][since_opset] = fn;
}

void KernelRegistry::Register(const std::string& domain, const std::string& op_type, KernelFn fn,
                              int since_opset) {
  if (domain.empty() || domain == "ai.onnx") {
    Register(op_type, fn, since_opset);
    return;
  }
  domain_kernels_[domain][op_type][since_opset] = fn;
}

KernelFn KernelRegistry::Find(const std::string& op_type, const std::string& domain,
                              int64_t opset) const {
  const std::map<std::string, std::map<int, KernelFn>>* table = &kernels_;
  if (!domain.empty() && domain != "ai.onnx") {
    auto d = domain_kernels_.find(domain);
    if (d == domain_kernels_.end()) return nullptr;
    table = &d->second;
  }
  auto it = table->find(op_type);
  if (it == table->end()) return nullptr;
  KernelFn best = nullptr;
  for (const auto& [since, fn] : it->second) {
    if (since <= opset) best = fn;
  }
  return best;
}

std::vector<std::string> KernelRegistry::OpTypes() const {
  std::vector<std::string> ops;
  for (const auto& [op, _] : kernels_) ops.push_back(op);
  return ops;
}

}  // namespace refit::reference
