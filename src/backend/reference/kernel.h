// The reference executor's kernel interface.
//
// A reference kernel is a plain function over a KernelContext: it reads the node's attributes and
// input tensors, computes the output shapes itself (so data-dependent shapes work), allocates and
// fills ctx.outputs. Kernels are simple and obviously correct: they are the oracle for every
// optimised tactic, so clarity beats speed here. Errors go through ctx.Error(), which names the
// node and operator.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "ir/graph.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::reference {

struct KernelContext {
  const ir::Node& node;
  int64_t opset;                      // default-domain opset of the model
  std::vector<const Tensor*> inputs;  // nullptr for an absent optional input
  std::vector<Tensor> outputs;        // one per node output, filled by the kernel
  ThreadPool* pool = nullptr;         // may be null (single-threaded)

  const ir::AttributeMap& attrs() const { return node.attrs; }
  size_t num_inputs() const { return inputs.size(); }
  // Input i, or nullptr when absent or beyond the node's inputs.
  const Tensor* input(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  // Input i, or an error naming the node when it is absent.
  StatusOr<const Tensor*> RequiredInput(size_t i) const;
  // An error "node 'n' (Op): message".
  Status Error(const std::string& message) const;
  // Allocates output i with the given dtype and shape.
  StatusOr<Tensor*> AllocateOutput(size_t i, DataType dtype, Shape shape);
};

using KernelFn = Status (*)(KernelContext& ctx);

class KernelRegistry {
 public:
  // The registry with every reference operator (built once, immutable, thread-safe to read).
  static const KernelRegistry& Default();

  // Registers op_type (default domain) for opsets >= since_opset. Later registrations with a
  // higher since_opset take precedence for models at or above that opset.
  void Register(const std::string& op_type, KernelFn fn, int since_opset = 1);
  // Registers op_type of a non-default `domain` (e.g. ir::kRefitDomain). `since_opset` compares
  // with the model's default-domain opset, as for Register.
  void Register(const std::string& domain, const std::string& op_type, KernelFn fn,
                int since_opset = 1);
  // The kernel for op_type at `opset`, or nullptr. "" and "ai.onnx" are the default domain.
  KernelFn Find(const std::string& op_type, const std::string& domain, int64_t opset) const;
  // Default-domain operators only.
  std::vector<std::string> OpTypes() const;

 private:
  std::map<std::string, std::map<int, KernelFn>> kernels_;
  // Other domains: domain -> op_type -> since_opset -> kernel.
  std::map<std::string, std::map<std::string, std::map<int, KernelFn>>> domain_kernels_;
};

// One function per operator family file; KernelRegistry::Default() calls each explicitly
// (no static initialisers).
void RegisterElementwiseUnaryOps(KernelRegistry& r);
void RegisterElementwiseBinaryOps(KernelRegistry& r);
void RegisterActivationOps(KernelRegistry& r);
void RegisterCastOps(KernelRegistry& r);
void RegisterShapeOps(KernelRegistry& r);
void RegisterIndexingOps(KernelRegistry& r);
void RegisterConvOps(KernelRegistry& r);
void RegisterPoolOps(KernelRegistry& r);
void RegisterMatMulOps(KernelRegistry& r);
void RegisterNormalizationOps(KernelRegistry& r);
void RegisterReductionOps(KernelRegistry& r);
void RegisterSoftmaxOps(KernelRegistry& r);
void RegisterResizeOps(KernelRegistry& r);
// Nodes the passes create in the refit domain (ir/fused_ops.h): ops_refit_*.cc.
void RegisterRefitElementwiseOps(KernelRegistry& r);
void RegisterRefitNormOps(KernelRegistry& r);

}  // namespace refit::reference
