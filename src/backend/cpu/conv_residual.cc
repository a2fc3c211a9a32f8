// A Conv with a fused residual (ir/fused_ops.h: y = act(conv + bias + z)) on a tactic that knows
// neither: the wrapped tactic runs the convolution alone (listed for the layer without its
// residual and activation), then one pass adds z and applies the activation. That pass costs what
// the Add layer it replaces cost; conv_nchwc adds z in its register tiles instead (no pass).
#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_tactics.h"
#include "ir/fused_ops.h"

namespace refit::cpu {
namespace {

constexpr int64_t kChunk = 16384;  // floats per task of the add pass

class ResidualKernel : public backend::Kernel {
 public:
  ResidualKernel(std::unique_ptr<backend::Kernel> inner, ir::FusedActivation act)
      : inner_(std::move(inner)), act_(act) {}

  size_t workspace_bytes() const override { return inner_->workspace_bytes(); }

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.size() != ir::kResidualInput + 1 || io.inputs[ir::kResidualInput] == nullptr ||
        io.outputs.empty()) {
      return InvalidArgument("conv residual kernel: expected the residual as input 3");
    }
    backend::KernelIo conv = io;
    conv.inputs.resize(ir::kResidualInput);
    REFIT_RETURN_IF_ERROR(inner_->Run(conv));
    const float* z = io.inputs[ir::kResidualInput]->data_as<float>();
    float* y = io.outputs[0]->mutable_data_as<float>();
    const int64_t n = io.outputs[0]->NumElements();
    ParallelFor(io.pool, (n + kChunk - 1) / kChunk, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        const int64_t lo = c * kChunk, len = std::min(kChunk, n - lo);
        AddInPlace(y + lo, z + lo, len);
        if (act_.kind != ir::ActivationKind::kNone) {
          BiasActivationSerial(act_, nullptr, y + lo, 1, len, len);
        }
      }
    });
    return Status::Ok();
  }

 private:
  static void AddInPlace(float* __restrict y, const float* __restrict z, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += z[i];
  }

  std::unique_ptr<backend::Kernel> inner_;
  ir::FusedActivation act_;
};

class ResidualTactic : public backend::Tactic {
 public:
  ResidualTactic(std::unique_ptr<backend::Tactic> inner, ir::FusedActivation act)
      : inner_(std::move(inner)), act_(act) {}

  std::string name() const override { return inner_->name(); }
  std::string required_features() const override { return inner_->required_features(); }
  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    return inner_->PackWeight(input, value);
  }
  bool KeepsWeightLayout(size_t input) const override { return inner_->KeepsWeightLayout(input); }
  int InputBlock() const override { return inner_->InputBlock(); }
  int OutputBlock() const override { return inner_->OutputBlock(); }
  // The residual is read in the output's layout (the add pass is element by element).
  int InputBlockAt(size_t input) const override {
    return input == ir::kResidualInput ? inner_->OutputBlock() : inner_->InputBlockAt(input);
  }
  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    return inner_->PackedType(input, value);
  }
  bool PacksScaledRows(size_t input) const override { return inner_->PacksScaledRows(input); }
  StatusOr<Tensor> PackWeightScaledRows(size_t input, const Tensor& value,
                                        const float* row_scale) const override {
    return inner_->PackWeightScaledRows(input, value, row_scale);
  }
  bool PacksChecked(size_t input) const override { return inner_->PacksChecked(input); }
  StatusOr<Tensor> PackWeightChecked(size_t input, const Tensor& value) const override {
    return inner_->PackWeightChecked(input, value);
  }
  bool PacksTransposed(size_t input) const override { return inner_->PacksTransposed(input); }
  StatusOr<Tensor> PackWeightTransposed(size_t input, const Tensor& source) const override {
    return inner_->PackWeightTransposed(input, source);
  }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    REFIT_ASSIGN_OR_RETURN(std::unique_ptr<backend::Kernel> k, inner_->Instantiate());
    return std::unique_ptr<backend::Kernel>(new ResidualKernel(std::move(k), act_));
  }

 private:
  std::unique_ptr<backend::Tactic> inner_;
  ir::FusedActivation act_;
};

}  // namespace

std::unique_ptr<backend::Tactic> WithResidual(std::unique_ptr<backend::Tactic> inner,
                                              const ir::FusedActivation& act) {
  return std::make_unique<ResidualTactic>(std::move(inner), act);
}

}  // namespace refit::cpu
