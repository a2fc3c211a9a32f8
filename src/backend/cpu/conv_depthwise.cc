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
#include "backend/cpu/gemm_packed.h"

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

// conv_depthwise/scalar, /avx2 (one channel plane at a time) and /avx2_c8 (blocks of 8 channels,
// vectorised across them; the channels past the last whole block go plane by plane).
enum class DepthwiseVariant { kScalar, kAvx2, kAvx2Blocked };

class DepthwiseKernel : public backend::Kernel {
 public:
  DepthwiseKernel(const ConvParams& p, DepthwiseVariant v)
      : p_(p),
        layout_(p),
        avx2_(v != DepthwiseVariant::kScalar),
        blocked_(v == DepthwiseVariant::kAvx2Blocked),
        taps_(size_t(p.kernel_size())) {
    internal::DepthwiseTapOffsets(p.kernel_h, p.kernel_w, p.dilation_h, p.dilation_w, p.stride_w,
                                  layout_.phase_len, taps_.data());
    window_rows_ = (p.kernel_h - 1) * p.dilation_h + 1;
    pad_cols_ = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1;
    // The most output rows per strip whose padded input and outputs fit in 32 KiB (L1).
    auto strip_bytes = [&](int64_t rows) {
      return ((rows - 1) * p.stride_h + window_rows_) * row_pixels() * 32 + rows * p.out_w * 32;
    };
    strip_rows_ = 1;
    while (strip_rows_ < p.out_h && strip_bytes(strip_rows_ + 1) <= 32 * 1024) ++strip_rows_;
    for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
        block_taps_.push_back(8 * (ky * p.dilation_h * row_pixels() + kx * p.dilation_w));
      }
    }
  }

  // One prepared plane per channel that goes plane by plane (the blocked variant's remainder).
  size_t workspace_bytes() const override {
    return size_t((p_.in_c - blocked_channels()) * layout_.plane_floats) * sizeof(float);
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
    const int64_t blocks = blocked_channels() / 8;
    if (blocks > 0) RunBlocks(x, w, bias, y, blocks, inline_act, after, io.pool);
    if (blocks * 8 == p_.in_c) return Status::Ok();
    // Images one after another: the workspace holds one prepared plane per channel.
    for (int64_t n = 0; n < p_.batch; ++n) {
      ParallelFor(io.pool, p_.in_c - blocks * 8, [&](int64_t b, int64_t e) {
        const int64_t begin = blocks * 8 + b, end = blocks * 8 + e;
        // One prepared plane per chunk, reused channel after channel, so it stays in cache.
        float* plane = planes + b * layout_.plane_floats;
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
  // Channels the blocked variant runs in blocks of 8 (none for the per-channel variants).
  int64_t blocked_channels() const { return blocked_ ? p_.in_c / 8 * 8 : 0; }

  // Pixels from one padded row of a DepthwiseBlock8 strip to the next.
  int64_t row_pixels() const { return pad_cols_ + internal::kDepthwiseBlockRowSlack; }

  // Every (image, block of 8 channels) as one unit, each thread with its own scratch.
  void RunBlocks(const float* x, const float* w, const float* bias, float* y, int64_t blocks,
                 bool inline_act, const ir::FusedActivation& after, ThreadPool* pool) const {
    const size_t padded_floats =
        size_t(((strip_rows_ - 1) * p_.stride_h + window_rows_) * row_pixels() * 8);
    const size_t floats = padded_floats + size_t(strip_rows_ * p_.out_w * 8);
    ParallelFor(pool, p_.batch * blocks, [&](int64_t begin, int64_t end) {
      thread_local ScratchFloats scratch;
      float* buf = scratch.Get(floats);
      for (int64_t u = begin; u < end; ++u) {
        const int64_t n = u / blocks, c = u % blocks * 8;
        float* out = y + (n * p_.out_c + c) * p_.out_size();
        const internal::DepthwiseBlock8 b{x + (n * p_.in_c + c) * p_.in_size(),
                                          p_.in_size(),
                                          p_.in_h,
                                          p_.in_w,
                                          p_.pad_top,
                                          p_.pad_left,
                                          w + c * p_.kernel_size(),
                                          bias != nullptr ? bias + c : nullptr,
                                          out,
                                          p_.out_size(),
                                          p_.out_h,
                                          p_.out_w,
                                          p_.kernel_h,
                                          p_.kernel_w,
                                          p_.stride_h,
                                          p_.stride_w,
                                          block_taps_.data(),
                                          inline_act ? p_.act.kind : ir::ActivationKind::kNone,
                                          p_.act.alpha,
                                          p_.act.beta,
                                          strip_rows_,
                                          window_rows_,
                                          pad_cols_,
                                          buf,
                                          buf + padded_floats};
        internal::DepthwiseBlock8Avx2(b);
        BiasActivationSerial(after, nullptr, out, 8, p_.out_size(), p_.out_size());
      }
    });
  }

  ConvParams p_;
  PhaseLayout layout_;
  bool avx2_, blocked_;
  std::vector<int64_t> taps_;                                // DepthwisePlane::taps
  int64_t strip_rows_ = 1, window_rows_ = 1, pad_cols_ = 1;  // DepthwiseBlock8's
  std::vector<int64_t> block_taps_;                          // DepthwiseBlock8::tap_offsets
};

class DepthwiseTactic : public backend::Tactic {
 public:
  DepthwiseTactic(const ConvParams& p, DepthwiseVariant v) : p_(p), v_(v) {}
  std::string name() const override {
    switch (v_) {
      case DepthwiseVariant::kScalar:
        return "conv_depthwise/scalar";
      case DepthwiseVariant::kAvx2:
        return "conv_depthwise/avx2";
      case DepthwiseVariant::kAvx2Blocked:
        return "conv_depthwise/avx2_c8";
    }
    return "";
  }
  std::string required_features() const override {
    return v_ != DepthwiseVariant::kScalar ? "avx,avx2,fma" : "";
  }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new DepthwiseKernel(p_, v_));
  }

 private:
  ConvParams p_;
  DepthwiseVariant v_;
};

}  // namespace

void AddConvDepthwiseTactics(const backend::LayerDesc& layer, const ConvParams& p,
                             TacticList* out) {
  if (!p.depthwise() || p.kernel_size() > kMaxTaps) return;
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.avx && cpu.avx2 && cpu.fma) {
    out->push_back(std::make_unique<DepthwiseTactic>(p, DepthwiseVariant::kAvx2));
    if (p.in_c >= 8 && p.kernel_size() <= internal::kMaxDepthwiseBlockTaps) {
      out->push_back(std::make_unique<DepthwiseTactic>(p, DepthwiseVariant::kAvx2Blocked));
    }
  }
  out->push_back(std::make_unique<DepthwiseTactic>(p, DepthwiseVariant::kScalar));
}

}  // namespace refit::cpu
