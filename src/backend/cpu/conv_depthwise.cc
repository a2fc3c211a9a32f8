// Direct depthwise convolution (group == C == M): one channel plane per task. Each plane is first
// copied into a zero-padded, stride-phase-split layout (conv_isa.h) so the inner loops need no
// bounds checks and read consecutive inputs for consecutive outputs whatever the stride.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_im2col.h"
#include "backend/cpu/conv_isa.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_features.h"

namespace refit::cpu {
namespace {

constexpr int64_t kMaxTaps = 128;  // the kernels' tap offset tables

}  // namespace

void internal::DepthwiseTapOffsets(int64_t kernel_h, int64_t kernel_w, int64_t dilation_h,
                                   int64_t dilation_w, int64_t stride_w, int64_t phase_len,
                                   int64_t* out) {
  const int64_t row_len = stride_w * phase_len;
  for (int64_t ky = 0; ky < kernel_h; ++ky) {
    for (int64_t kx = 0; kx < kernel_w; ++kx) {
      const int64_t c = kx * dilation_w;
      out[ky * kernel_w + kx] =
          ky * dilation_h * row_len + (c % stride_w) * phase_len + c / stride_w;
    }
  }
}

namespace {

void PlaneScalar(const internal::DepthwisePlane& p) {
  const int64_t* off = p.taps;
  const int64_t taps = p.kernel_h * p.kernel_w, row_len = p.stride_w * p.phase_len;
  for (int64_t oy = 0; oy < p.out_h; ++oy) {
    const float* base = p.plane + oy * p.stride_h * row_len;
    for (int64_t ox = 0; ox < p.out_w; ++ox) {
      float acc = p.bias;
      for (int64_t t = 0; t < taps; ++t) acc += p.weights[t] * base[off[t] + ox];
      if (p.act == ir::ActivationKind::kRelu) acc = acc < 0.0f ? 0.0f : acc;
      if (p.act == ir::ActivationKind::kClip) acc = std::min(std::max(acc, p.clip_lo), p.clip_hi);
      p.out[oy * p.out_w + ox] = acc;
    }
  }
}

class DepthwiseKernel : public backend::Kernel {
 public:
  DepthwiseKernel(const ConvParams& p, bool avx2)
      : p_(p), layout_(p), avx2_(avx2), taps_(size_t(p.kernel_size())) {
    internal::DepthwiseTapOffsets(p.kernel_h, p.kernel_w, p.dilation_h, p.dilation_w, p.stride_w,
                                  layout_.phase_len, taps_.data());
  }

  size_t workspace_bytes() const override {
    return size_t(p_.in_c * layout_.plane_floats) * sizeof(float);
  }

  Status Run(const backend::KernelIo& io) const override {
    const float* x = io.inputs[0]->data_as<float>();
    const float* w = io.inputs[1]->data_as<float>();
    const float* bias =
        io.inputs.size() > 2 && io.inputs[2] != nullptr ? io.inputs[2]->data_as<float>() : nullptr;
    float* y = io.outputs[0]->mutable_data_as<float>();
    float* planes = static_cast<float*>(io.workspace);
    // Relu and Clip ride in the kernel; NaN-propagating min/max match ir::ApplyActivation.
    const bool inline_act =
        p_.act.kind == ir::ActivationKind::kRelu || p_.act.kind == ir::ActivationKind::kClip;
    const ir::FusedActivation after = inline_act ? ir::FusedActivation{} : p_.act;
    // Images one after another: the workspace holds one prepared plane per channel.
    for (int64_t n = 0; n < p_.batch; ++n) {
      ParallelFor(io.pool, p_.in_c, [&](int64_t begin, int64_t end) {
        // One prepared plane per chunk, reused channel after channel, so it stays in cache.
        float* plane = planes + begin * layout_.plane_floats;
        for (int64_t c = begin; c < end; ++c) {
          FillPhasePlanes(p_, layout_, x + (n * p_.in_c + c) * p_.in_size(), 0, 1, plane);
          float* out = y + (n * p_.out_c + c) * p_.out_size();
          const internal::DepthwisePlane args{plane,
                                              layout_.phase_len,
                                              taps_.data(),
                                              w + c * p_.kernel_size(),
                                              bias != nullptr ? bias[c] : 0.0f,
                                              out,
                                              p_.out_h,
                                              p_.out_w,
                                              p_.kernel_h,
                                              p_.kernel_w,
                                              p_.stride_h,
                                              p_.stride_w,
                                              p_.dilation_h,
                                              p_.dilation_w,
                                              inline_act ? p_.act.kind : ir::ActivationKind::kNone,
                                              p_.act.alpha,
                                              p_.act.beta};
          if (avx2_) {
            internal::DepthwisePlaneAvx2(args);
          } else {
            PlaneScalar(args);
          }
          BiasActivationSerial(after, nullptr, out, 1, p_.out_size(), p_.out_size());
        }
      });
    }
    return Status::Ok();
  }

 private:
  ConvParams p_;
  PhaseLayout layout_;
  bool avx2_;
  std::vector<int64_t> taps_;  // DepthwisePlane::taps
};

class DepthwiseTactic : public backend::Tactic {
 public:
  DepthwiseTactic(const ConvParams& p, bool avx2) : p_(p), avx2_(avx2) {}
  std::string name() const override {
    return avx2_ ? "conv_depthwise/avx2" : "conv_depthwise/scalar";
  }
  std::string required_features() const override { return avx2_ ? "avx,avx2,fma" : ""; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new DepthwiseKernel(p_, avx2_));
  }

 private:
  ConvParams p_;
  bool avx2_;
};

}  // namespace

void AddConvDepthwiseTactics(const backend::LayerDesc& layer, const ConvParams& p,
                             TacticList* out) {
  if (!p.depthwise() || p.kernel_size() > kMaxTaps) return;
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.avx && cpu.avx2 && cpu.fma) out->push_back(std::make_unique<DepthwiseTactic>(p, true));
  out->push_back(std::make_unique<DepthwiseTactic>(p, false));
}

}  // namespace refit::cpu
