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

// conv_depthwise/scalar, /avx2 and /avx512 (one channel plane at a time, 8 or 16 outputs of a row
// to a vector), /avx2_c8 (blocks of 8 channels, vectorised across them) and /avx512_c16 (blocks of
// 16). The channels past the last whole block go by blocks of 8 where 8 remain, then plane by plane
// (with AVX2).
enum class DepthwiseVariant { kScalar, kAvx2, kAvx512, kAvx2Blocked, kAvx512Blocked };

// A blocked kernel's geometry for blocks of `lanes` channels: output rows per strip (its padded
// input and outputs in 32 KiB, the L1 cache) and the tap offsets in the padded strip.
struct BlockGeometry {
  int64_t lanes = 0, strip_rows = 1;
  std::vector<int64_t> taps;  // internal::DepthwiseBlock::tap_offsets
};

class DepthwiseKernel : public backend::Kernel {
 public:
  // in_block / out_block: channel-blocked input / output (backend::Tactic::InputBlock), each 0
  // or the blocked variant's channel block, which then takes every channel.
  DepthwiseKernel(const ConvParams& p, DepthwiseVariant v, int in_block, int out_block)
      : p_(p),
        layout_(p),
        variant_(v),
        taps_(size_t(p.kernel_size())),
        in_blocked_(in_block > 0),
        out_blocked_(out_block > 0) {
    internal::DepthwiseTapOffsets(p.kernel_h, p.kernel_w, p.dilation_h, p.dilation_w, p.stride_w,
                                  layout_.phase_len, taps_.data());
    window_rows_ = (p.kernel_h - 1) * p.dilation_h + 1;
    pad_cols_ = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1;
    if (v == DepthwiseVariant::kAvx512Blocked) {
      wide_ = Geometry(16);
      wide_channels_ = p.in_c / 16 * 16;
    }
    if (v == DepthwiseVariant::kAvx2Blocked ||
        (v == DepthwiseVariant::kAvx512Blocked && !in_blocked_ && !out_blocked_)) {
      narrow_ = Geometry(8);
      narrow_channels_ = (p.in_c - wide_channels_) / 8 * 8;
    }
  }

  // Planes and blocks are prepared in per-thread scratch: no workspace.
  size_t workspace_bytes() const override { return 0; }

  Status Run(const backend::KernelIo& io) const override {
    const auto [x, w, bias, y] = ConvOperandsOf(io);
    // Relu and Clip ride in the kernel; NaN-propagating min/max match ir::ApplyActivation.
    const bool inline_act =
        p_.act.kind == ir::ActivationKind::kRelu || p_.act.kind == ir::ActivationKind::kClip;
    const ir::FusedActivation after = inline_act ? ir::FusedActivation{} : p_.act;
    if (wide_channels_ > 0) {
      RunBlocks(wide_, 0, wide_channels_, x, w, bias, y, inline_act, after, io.pool);
    }
    if (narrow_channels_ > 0) {
      RunBlocks(narrow_, wide_channels_, wide_channels_ + narrow_channels_, x, w, bias, y,
                inline_act, after, io.pool);
    }
    const int64_t first = blocked_channels();
    if (first == p_.in_c) return Status::Ok();
    // (image, channel) units, image-major, each thread with one prepared plane of its own that
    // it reuses channel after channel (it stays in cache). With a batch the threads share
    // evenly, a thread so computes whole images: the pixels the GEMM tactics around it give that
    // thread too (RunUnits), so activations stay in its core's cache from layer to layer.
    const int64_t channels = p_.in_c - first;
    ParallelFor(io.pool, p_.batch * channels, [&](int64_t begin, int64_t end) {
      thread_local ScratchFloats scratch;
      float* plane = scratch.Get(size_t(layout_.plane_floats));
      for (int64_t u = begin; u < end; ++u) {
        const int64_t n = u / channels, c = first + u % channels;
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
        if (variant_ == DepthwiseVariant::kScalar) {
          PlaneScalar(args);
        } else if (variant_ == DepthwiseVariant::kAvx512) {
          internal::DepthwisePlaneAvx512(args);
        } else {
          internal::DepthwisePlaneAvx2(args);
        }
        BiasActivationSerial(after, nullptr, out, 1, p_.out_size(), p_.out_size());
      }
    });
    return Status::Ok();
  }

 private:
  // Channels the blocked variants run in blocks (none for the per-channel variants).
  int64_t blocked_channels() const { return wide_channels_ + narrow_channels_; }

  // Pixels from one padded row of a DepthwiseBlock strip to the next.
  int64_t row_pixels() const { return pad_cols_ + internal::kDepthwiseBlockRowSlack; }

  BlockGeometry Geometry(int64_t lanes) const {
    BlockGeometry g;
    g.lanes = lanes;
    const int64_t pixel_bytes = lanes * int64_t(sizeof(float));
    auto strip_bytes = [&](int64_t rows) {
      return ((rows - 1) * p_.stride_h + window_rows_) * row_pixels() * pixel_bytes +
             rows * p_.out_w * pixel_bytes;
    };
    while (g.strip_rows < p_.out_h && strip_bytes(g.strip_rows + 1) <= 32 * 1024) ++g.strip_rows;
    for (int64_t ky = 0; ky < p_.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < p_.kernel_w; ++kx) {
        g.taps.push_back(lanes * (ky * p_.dilation_h * row_pixels() + kx * p_.dilation_w));
      }
    }
    return g;
  }

  // Every (image, block of g.lanes channels in [c_begin, c_end)) as one unit, each thread with
  // its own scratch.
  void RunBlocks(const BlockGeometry& g, int64_t c_begin, int64_t c_end, const float* x,
                 const float* w, const float* bias, float* y, bool inline_act,
                 const ir::FusedActivation& after, ThreadPool* pool) const {
    const int64_t blocks = (c_end - c_begin) / g.lanes;
    const size_t padded_floats =
        size_t(((g.strip_rows - 1) * p_.stride_h + window_rows_) * row_pixels() * g.lanes);
    // The outputs, and a tile of 8 pixels of slack: the 16-channel kernel's last partial tile of
    // a strip reads (and never stores) up to 7 pixels past it.
    const size_t floats = padded_floats + size_t((g.strip_rows * p_.out_w + 8) * g.lanes);
    // Units (image, part of the rows, block), blocks innermost: with a blocked output and fewer
    // images than threads, each thread's units are the same rows of every block, as the blocked
    // layers around it split them (conv_nchwc), so a thread reads what it wrote itself; with a
    // plain output, whole blocks (contiguous channels, as the plain tactics split).
    const int64_t threads = pool != nullptr ? pool->num_threads() : 1;
    const int64_t parts = !out_blocked_ || p_.batch >= threads
                              ? 1
                              : std::min(p_.out_h, (threads + p_.batch - 1) / p_.batch);
    ParallelFor(pool, p_.batch * parts * blocks, [&](int64_t begin, int64_t end) {
      thread_local ScratchFloats scratch;
      float* buf = scratch.Get(floats);
      for (int64_t u = begin; u < end; ++u) {
        const int64_t n = u / blocks / parts, part = u / blocks % parts;
        const int64_t c = c_begin + u % blocks * g.lanes;
        float* out = y + (n * p_.out_c + c) * p_.out_size();
        const internal::DepthwiseBlock b{x + (n * p_.in_c + c) * p_.in_size(),
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
                                         g.taps.data(),
                                         inline_act ? p_.act.kind : ir::ActivationKind::kNone,
                                         p_.act.alpha,
                                         p_.act.beta,
                                         g.strip_rows,
                                         window_rows_,
                                         pad_cols_,
                                         buf,
                                         buf + padded_floats,
                                         in_blocked_,
                                         out_blocked_,
                                         p_.out_h * part / parts,
                                         p_.out_h * (part + 1) / parts};
        if (g.lanes == 16) {
          internal::DepthwiseBlock16Avx512(b);
        } else {
          internal::DepthwiseBlock8Avx2(b);
        }
        if (parts == 1) {
          BiasActivationSerial(after, nullptr, out, g.lanes, p_.out_size(), p_.out_size());
        } else {  // a blocked output: this unit's rows of the block, contiguous
          const int64_t row_floats = p_.out_w * g.lanes;
          const int64_t n_floats = (b.row_end - b.row_begin) * row_floats;
          BiasActivationSerial(after, nullptr, out + b.row_begin * row_floats, 1, n_floats,
                               n_floats);
        }
      }
    });
  }

  ConvParams p_;
  PhaseLayout layout_;
  DepthwiseVariant variant_;
  std::vector<int64_t> taps_;                        // DepthwisePlane::taps
  int64_t window_rows_ = 1, pad_cols_ = 1;           // DepthwiseBlock's
  BlockGeometry wide_, narrow_;                      // blocks of 16 and of 8 channels
  int64_t wide_channels_ = 0, narrow_channels_ = 0;  // channels run in each
  bool in_blocked_ = false, out_blocked_ = false;
};

CpuFeatures RequiredFeatures(DepthwiseVariant v) {
  if (v == DepthwiseVariant::kAvx512Blocked || v == DepthwiseVariant::kAvx512) {
    return Avx512KernelFeatures();
  }
  CpuFeatures f;
  if (v == DepthwiseVariant::kScalar) return f;
  f.avx = f.avx2 = f.fma = true;
  return f;
}

class DepthwiseTactic : public backend::Tactic {
 public:
  DepthwiseTactic(const ConvParams& p, DepthwiseVariant v, int in_block = 0, int out_block = 0)
      : p_(p), v_(v), in_block_(in_block), out_block_(out_block) {}
  std::string name() const override {
    return VariantName() + BlockedIoSuffix(in_block_, out_block_);
  }
  int InputBlock() const override { return in_block_; }
  int OutputBlock() const override { return out_block_; }
  std::string required_features() const override { return RequiredFeatures(v_).ToString(); }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new DepthwiseKernel(p_, v_, in_block_, out_block_));
  }

 private:
  std::string VariantName() const {
    switch (v_) {
      case DepthwiseVariant::kScalar:
        return "conv_depthwise/scalar";
      case DepthwiseVariant::kAvx2:
        return "conv_depthwise/avx2";
      case DepthwiseVariant::kAvx512:
        return "conv_depthwise/avx512";
      case DepthwiseVariant::kAvx2Blocked:
        return "conv_depthwise/avx2_c8";
      case DepthwiseVariant::kAvx512Blocked:
        return "conv_depthwise/avx512_c16";
    }
    return "";
  }

  ConvParams p_;
  DepthwiseVariant v_;
  int in_block_, out_block_;
};

}  // namespace

void AddConvDepthwiseTactics(const backend::LayerDesc& layer, const ConvParams& p,
                             TacticList* out) {
  if (!p.depthwise() || p.kernel_size() > kMaxTaps) return;
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (cpu.Covers(RequiredFeatures(DepthwiseVariant::kAvx2))) {
    out->push_back(std::make_unique<DepthwiseTactic>(p, DepthwiseVariant::kAvx2));
    if (cpu.Covers(RequiredFeatures(DepthwiseVariant::kAvx512))) {
      out->push_back(std::make_unique<DepthwiseTactic>(p, DepthwiseVariant::kAvx512));
    }
    const bool blockable = p.kernel_size() <= internal::kMaxDepthwiseBlockTaps;
    if (blockable && p.in_c >= 8) {
      out->push_back(std::make_unique<DepthwiseTactic>(p, DepthwiseVariant::kAvx2Blocked));
    }
    if (blockable && p.in_c >= 16 &&
        cpu.Covers(RequiredFeatures(DepthwiseVariant::kAvx512Blocked))) {
      out->push_back(std::make_unique<DepthwiseTactic>(p, DepthwiseVariant::kAvx512Blocked));
    }
    // The blocked kernel of the machine's activation block, reading and writing blocked layouts.
    if (blockable) {
      for (const auto& [in_block, out_block] : BlockedIoPairs(p)) {
        const DepthwiseVariant v = std::max(in_block, out_block) == 16
                                       ? DepthwiseVariant::kAvx512Blocked
                                       : DepthwiseVariant::kAvx2Blocked;
        out->push_back(std::make_unique<DepthwiseTactic>(p, v, in_block, out_block));
      }
    }
  }
  out->push_back(std::make_unique<DepthwiseTactic>(p, DepthwiseVariant::kScalar));
}

}  // namespace refit::cpu
