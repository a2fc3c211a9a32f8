// BatchNormalization tactic ("batchnorm/affine") for the inference form that no pass folded into
// a convolution or GEMM (after a Concat, an Add, on a network input, in an MLP): X of rank >= 2
// and f32, per-channel scale, B, mean and variance (weight slots or values), only Y asked for.
// Each run turns the four vectors into a = scale / sqrt(var + epsilon) and b = B - mean * a (in
// double, one pass over C: the vectors may have been refitted), then writes y = x * a + b plane by
// plane, planes shared over the pool when the layer is large.
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

struct BatchNormSpec {
  int64_t n = 0, channels = 0, inner = 0;
  float epsilon = 1e-5f;
  std::string label;
};

class BatchNormKernel : public backend::Kernel {
 public:
  explicit BatchNormKernel(BatchNormSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.size() != 5 || io.outputs.empty() || io.outputs[0] == nullptr) {
      return InvalidArgument(s_.label + ": expected X, scale, B, mean, var and an output");
    }
    for (size_t i = 0; i < 5; ++i) {
      const int64_t want = i == 0 ? s_.n * s_.channels * s_.inner : s_.channels;
      if (io.inputs[i] == nullptr || io.inputs[i]->dtype() != DataType::kF32 ||
          io.inputs[i]->NumElements() != want) {
        return InvalidArgument(s_.label + ": input " + std::to_string(i) +
                               " of another type or size than planned");
      }
    }
    const float* scale = io.inputs[1]->data_as<float>();
    const float* bias = io.inputs[2]->data_as<float>();
    const float* mean = io.inputs[3]->data_as<float>();
    const float* var = io.inputs[4]->data_as<float>();
    std::vector<float> a(size_t(s_.channels)), b(size_t(s_.channels));
    for (int64_t c = 0; c < s_.channels; ++c) {
      const double k = double(scale[c]) / std::sqrt(double(var[c]) + double(s_.epsilon));
      a[size_t(c)] = float(k);
      b[size_t(c)] = float(double(bias[c]) - double(mean[c]) * k);
    }
    const float* x = io.inputs[0]->data_as<float>();
    float* y = io.outputs[0]->mutable_data_as<float>();
    const int64_t planes = s_.n * s_.channels, inner = s_.inner;
    internal::ParallelRows(io.pool, planes, planes * inner * 8, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const float ka = a[size_t(p % s_.channels)], kb = b[size_t(p % s_.channels)];
        const float* src = x + p * inner;
        float* dst = y + p * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] = src[i] * ka + kb;
      }
    });
    return Status::Ok();
  }

 private:
  BatchNormSpec s_;
};

}  // namespace

void AddBatchNormTactics(const backend::LayerDesc& layer, TacticList* out) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() || node.op_type != "BatchNormalization" || node.inputs.size() != 5) {
    return;
  }
  // Inference only: training mode (an attribute from opset 14, asked-for statistics before) and
  // the per-element statistics of `spatial = 0` (before opset 9) stay on the reference.
  auto training = node.attrs.GetInt("training_mode", 0);
  auto spatial = node.attrs.GetInt("spatial", 1);
  auto epsilon = node.attrs.GetFloat("epsilon", 1e-5f);
  if (!training.ok() || *training != 0 || !spatial.ok() || (layer.opset < 9 && *spatial == 0) ||
      !epsilon.ok()) {
    return;
  }
  for (size_t o = 1; o < node.outputs.size(); ++o) {
    if (!node.outputs[o].empty()) return;
  }
  const backend::TensorDesc& x = layer.input(0);
  if (!x.present() || x.dtype != DataType::kF32 || x.shape.rank() < 2 || layer.outputs.empty() ||
      layer.outputs[0].dtype != DataType::kF32 || layer.outputs[0].shape != x.shape) {
    return;
  }
  BatchNormSpec s;
  s.n = x.shape[0];
  s.channels = x.shape[1];
  s.inner = 1;
  for (size_t a = 2; a < x.shape.rank(); ++a) s.inner *= x.shape[a];
  for (size_t i = 1; i < 5; ++i) {
    const backend::TensorDesc& p = layer.input(i);
    if (!p.present() || p.dtype != DataType::kF32 || p.shape.NumElements() != s.channels ||
        p.shape.rank() != 1) {
      return;
    }
  }
  s.epsilon = *epsilon;
  s.label = layer.Label();
  out->push_back(std::make_unique<internal::SpecTactic<BatchNormSpec, BatchNormKernel>>(
      "batchnorm/affine", std::move(s)));
}

}  // namespace refit::cpu
