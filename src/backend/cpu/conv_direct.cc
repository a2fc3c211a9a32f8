// conv_direct: direct convolution for layers with few input channels, a CNN's stem above all (3
// channels, 3x3 or 7x7 windows, stride 2). There conv_gemm's im2col matrix has only 27 or 147 rows
// but as many columns as output pixels: it is written and read back at more cost than its
// arithmetic, and the GEMM's short K leaves the micro-kernel mostly loading and storing tiles.
// Here each image's input channels become phase planes once (conv_im2col.h: zero-padded, split by
// column stride, so every tap reads consecutive outputs' inputs from consecutive floats), and each
// (output row, block of CH output channels) accumulates all its taps in registers: one vector
// load of a tap's inputs serves the tile's 8 or 16 channels (8 channels x 32 pixels, or 16 x 16:
// for a 3x3 stem the latter is about 15% faster, fewer loads per FMA), and the row is stored
// once, with bias and Relu/Clip.
//
// The weight is packed per block of CH output channels, tap-major ([taps][CH], zeros past the last
// channel), so a tap's CH weights are one contiguous run. Units of work are (output row, channel
// block), row-major, split over the pool; with a batch the threads share evenly, whole images per
// thread instead, each with planes of its own. Ungrouped layers only.
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

// Input channels up to which the tactic is offered: beyond, im2col's K is long enough for the
// GEMM tactics, and a row's taps would no longer keep their weights in L1.
constexpr int64_t kMaxInChannels = 16;
constexpr int64_t kMaxTaps = 512;

class ConvDirectKernel : public backend::Kernel {
 public:
  ConvDirectKernel(const ConvParams& p, int ch)
      : p_(p), ch_(ch), layout_(p), tap_off_(Im2ColRowOffsets(p, layout_)) {}

  size_t workspace_bytes() const override {
    return size_t(p_.in_c * layout_.plane_floats) * sizeof(float);
  }

  Status Run(const backend::KernelIo& io) const override {
    const auto [x, w, bias, y] = ConvOperandsOf(io);
    // Whole images per thread when they share evenly (each with planes of its own), otherwise the
    // threads share each image's planes and rows.
    RunUnits(io.pool, p_.batch, workspace_bytes() / sizeof(float),
             static_cast<float*>(io.workspace), [&](int64_t n, float* planes, ThreadPool* pool) {
               RunImage(n, x, w, bias, y, planes, pool);
             });
    return Status::Ok();
  }

 private:
  // Image n on `pool` (null: the calling thread), with `planes` as its phase planes.
  void RunImage(int64_t n, const float* x, const float* w, const float* bias, float* y,
                float* planes, ThreadPool* pool) const {
    const int64_t taps = p_.col_rows(), blocks = (p_.out_c + ch_ - 1) / ch_;
    const int64_t row_len = p_.stride_w * layout_.phase_len;
    const bool inline_act =
        p_.act.kind == ir::ActivationKind::kRelu || p_.act.kind == ir::ActivationKind::kClip;
    ParallelFor(pool, p_.in_c, [&](int64_t begin, int64_t end) {
      FillPhasePlanes(p_, layout_, x + n * p_.in_c * p_.in_size(), begin, end, planes);
    });
    ParallelFor(pool, p_.out_h * blocks, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t oy = u / blocks, c0 = u % blocks * ch_;
        const int64_t channels = std::min<int64_t>(ch_, p_.out_c - c0);
        float block_bias[16] = {};
        if (bias != nullptr) std::copy(bias + c0, bias + c0 + channels, block_bias);
        float* out = y + (n * p_.out_c + c0) * p_.out_size() + oy * p_.out_w;
        const internal::DirectConvRow r{planes + oy * p_.stride_h * row_len,
                                        tap_off_.data(),
                                        taps,
                                        w + c0 * taps,
                                        block_bias,
                                        out,
                                        p_.out_size(),
                                        p_.out_w,
                                        channels,
                                        inline_act ? p_.act.kind : ir::ActivationKind::kNone,
                                        p_.act.alpha,
                                        p_.act.beta};
        if (ch_ == 8) {
          internal::DirectConvRow8Avx512(r);
        } else {
          internal::DirectConvRow16Avx512(r);
        }
        if (!inline_act) {
          BiasActivationSerial(p_.act, nullptr, out, channels, p_.out_w, p_.out_size());
        }
      }
    });
  }

  ConvParams p_;
  int ch_;
  PhaseLayout layout_;
  std::vector<int64_t> tap_off_;  // per tap (c, ky, kx), see Im2ColRowOffsets
};

class ConvDirectTactic : public backend::Tactic {
 public:
  ConvDirectTactic(const ConvParams& p, int ch) : p_(p), ch_(ch) {}
  std::string name() const override { return "conv_direct/avx512_c" + std::to_string(ch_); }
  std::string required_features() const override { return Avx512KernelFeatures().ToString(); }

  // W [M, C, kh, kw] -> blocks of ch_ output channels, each [taps][ch_].
  bool KeepsWeightLayout(size_t input) const override { return input != 1; }

  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input != 1) return value;
    return backend::TensorDesc{DataType::kF32, Shape({PackedFloats()})};
  }

  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input != 1) return Tactic::PackWeight(input, value);
    const int64_t taps = p_.col_rows();
    if (value.dtype() != DataType::kF32 || value.NumElements() != p_.out_c * taps) {
      return InvalidArgument("conv_direct: weight of " + std::to_string(value.NumElements()) +
                             " elements, expected f32 [" + std::to_string(p_.out_c) + ", " +
                             std::to_string(p_.in_c) + ", " + std::to_string(p_.kernel_h) + ", " +
                             std::to_string(p_.kernel_w) + "]");
    }
    REFIT_ASSIGN_OR_RETURN(Tensor packed, Tensor::Create(DataType::kF32, Shape({PackedFloats()})));
    const float* w = value.data_as<float>();
    float* out = packed.mutable_data_as<float>();
    for (int64_t m = 0; m < p_.out_c; ++m) {
      float* block = out + m / ch_ * ch_ * taps + m % ch_;
      for (int64_t t = 0; t < taps; ++t) block[t * ch_] = w[m * taps + t];
    }
    return packed;
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    if (!DetectCpuFeatures().Covers(Avx512KernelFeatures())) {
      return FailedPrecondition("conv_direct needs AVX-512");
    }
    return std::unique_ptr<backend::Kernel>(new ConvDirectKernel(p_, ch_));
  }

 private:
  int64_t PackedFloats() const { return (p_.out_c + ch_ - 1) / ch_ * ch_ * p_.col_rows(); }

  ConvParams p_;
  int ch_;
};

}  // namespace

void AddConvDirectTactics(const backend::LayerDesc&, const ConvParams& p, TacticList* out) {
  if (p.group != 1 || p.in_c > kMaxInChannels || p.col_rows() > kMaxTaps || p.pointwise()) return;
  if (!DetectCpuFeatures().Covers(Avx512KernelFeatures())) return;
  for (int ch : {8, 16}) out->push_back(std::make_unique<ConvDirectTactic>(p, ch));
}

}  // namespace refit::cpu
