// Softmax and LogSoftmax tactics (f32): "softmax/avx2" (vectorised exp) and "softmax/generic".
// Opset 13 normalises along one axis; before opset 13 the input is seen as 2-D,
// [prod(dims[:axis]), prod(dims[axis:])], and every row is normalised as a whole.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/softmax_kernels.h"

namespace refit::cpu {
namespace {

// The input as [outer, len, inner]: rows of len elements spaced inner apart.
struct SoftmaxLayout {
  bool log = false;
  int64_t outer = 1, len = 1, inner = 1;
};

std::optional<SoftmaxLayout> ParseSoftmax(const backend::LayerDesc& layer) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() || (node.op_type != "Softmax" && node.op_type != "LogSoftmax")) {
    return std::nullopt;
  }
  const backend::TensorDesc& x = layer.input(0);
  if (x.dtype != DataType::kF32 || layer.outputs.size() != 1 ||
      layer.outputs[0].dtype != DataType::kF32 || layer.outputs[0].shape != x.shape) {
    return std::nullopt;
  }
  const int64_t rank = int64_t(x.shape.rank());
  const bool coerce_2d = layer.opset < 13;
  StatusOr<int64_t> axis = node.attrs.GetInt("axis", coerce_2d ? 1 : -1);
  if (!axis.ok() || rank == 0 || *axis < -rank || *axis > (coerce_2d ? rank : rank - 1)) {
    return std::nullopt;
  }
  const int64_t a = *axis < 0 ? *axis + rank : *axis;
  SoftmaxLayout l;
  l.log = node.op_type == "LogSoftmax";
  for (int64_t d = 0; d < a; ++d) l.outer *= x.shape[size_t(d)];
  if (coerce_2d) {
    for (int64_t d = a; d < rank; ++d) l.len *= x.shape[size_t(d)];
  } else {
    l.len = x.shape[size_t(a)];
    for (int64_t d = a + 1; d < rank; ++d) l.inner *= x.shape[size_t(d)];
  }
  if (l.len == 0 || l.outer * l.inner == 0) return std::nullopt;  // nothing to normalise
  return l;
}

// One row in plain C++: float exp, double sum.
void SoftmaxRowGeneric(const float* x, float* y, int64_t len, int64_t stride, bool log) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t k = 0; k < len; ++k) max = std::max(max, x[k * stride]);
  double sum = 0;
  for (int64_t k = 0; k < len; ++k) {
    const float e = std::exp(x[k * stride] - max);
    if (!log) y[k * stride] = e;
    sum += e;
  }
  if (log) {
    const float shift = max + float(std::log(sum));
    for (int64_t k = 0; k < len; ++k) y[k * stride] = x[k * stride] - shift;
  } else {
    const float scale = float(1.0 / sum);
    for (int64_t k = 0; k < len; ++k) y[k * stride] *= scale;
  }
}

CpuFeatures Avx2Fma() {
  CpuFeatures f;
  f.avx = f.avx2 = f.fma = true;
  return f;
}

class SoftmaxKernel : public backend::Kernel {
 public:
  SoftmaxKernel(SoftmaxLayout l, bool avx2) : l_(l), avx2_(avx2) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.empty()) {
      return InvalidArgument("softmax kernel: expected one input and one output");
    }
    const float* x = io.inputs[0]->data_as<float>();
    float* y = io.outputs[0]->mutable_data_as<float>();
    // Work items: whole rows when they are contiguous, else blocks of 8 adjacent rows.
    const int64_t blocks = l_.inner == 1 ? 1 : (l_.inner + 7) / 8;
    ParallelFor(io.pool, l_.outer * blocks, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t b = t / blocks, i0 = t % blocks * 8;
        const int64_t base = b * l_.len * l_.inner + i0;
        if (l_.inner == 1) {
          if (avx2_) {
            internal::SoftmaxRowAvx2(x + base, y + base, l_.len, l_.log);
          } else {
            SoftmaxRowGeneric(x + base, y + base, l_.len, 1, l_.log);
          }
          continue;
        }
        const int64_t count = std::min<int64_t>(8, l_.inner - i0);
        if (avx2_) {
          internal::SoftmaxColumnsAvx2(x + base, y + base, l_.len, l_.inner, count, l_.log);
        } else {
          for (int64_t i = 0; i < count; ++i) {
            SoftmaxRowGeneric(x + base + i, y + base + i, l_.len, l_.inner, l_.log);
          }
        }
      }
    });
    return Status::Ok();
  }

 private:
  SoftmaxLayout l_;
  bool avx2_;
};

class SoftmaxTactic : public backend::Tactic {
 public:
  SoftmaxTactic(SoftmaxLayout l, bool avx2) : l_(l), avx2_(avx2) {}
  std::string name() const override { return avx2_ ? "softmax/avx2" : "softmax/generic"; }
  std::string required_features() const override { return avx2_ ? Avx2Fma().ToString() : ""; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    if (avx2_ && !DetectCpuFeatures().Covers(Avx2Fma())) {
      return FailedPrecondition("softmax/avx2 needs CPU features '" + Avx2Fma().ToString() +
                                "'; this CPU lacks '" + DetectCpuFeatures().Missing(Avx2Fma()) +
                                "'");
    }
    return std::unique_ptr<backend::Kernel>(new SoftmaxKernel(l_, avx2_));
  }

 private:
  SoftmaxLayout l_;
  bool avx2_;
};

}  // namespace

void AddSoftmaxTactics(const backend::LayerDesc& layer, TacticList* out) {
  const std::optional<SoftmaxLayout> l = ParseSoftmax(layer);
  if (!l) return;
  if (DetectCpuFeatures().Covers(Avx2Fma())) {
    out->push_back(std::make_unique<SoftmaxTactic>(*l, true));
  }
  out->push_back(std::make_unique<SoftmaxTactic>(*l, false));
}

}  // namespace refit::cpu
