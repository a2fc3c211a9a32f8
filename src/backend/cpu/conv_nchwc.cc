// conv_nchwc: direct convolution on channel-blocked activations (NCHW16c), the layout oneDNN's and
// ONNX Runtime's (MLAS NCHWc) fastest CPU convolutions run in. For each output row and group of
// NB blocks of 16 output channels, register tiles of NB x OW pixels accumulate every tap and input
// channel (conv_isa.h: NchwcConvRow); nothing is copied or transformed first, so a 3x3 layer of 64
// channels runs at the FMA units' rate where im2col + GEMM and Winograd pay for their copies.
//
// Any kernel size, stride, dilation and padding of an ungrouped layer whose output channels are a
// multiple of 16. The input is NCHW16c ("in16c", its channels a multiple of 16) or plain NCHW,
// read in place (a CNN's 3-channel stem) or, for a pointwise layer, transposed once into an
// NCHW16c workspace of the columns it reads; the output NCHW16c ("out16c") or NCHW, the latter
// computed as an NCHW16c row in scratch and transposed to its planes (16 x 16 in registers; with
// the tiles' own NCHW stores, by gathers, ResNet-18's 7x7 stem tuned at 1.24 ms against 0.77 ms
// blocked at two threads, through the transposed row at 0.77 against 0.68). The weight is packed
// per block of 16 output channels, [M / 16][C / b][kh][kw][b][16] for input block b (16, or 1 for
// plain input): a refit is a copy through this permutation. A fused residual (y = act(conv + bias +
// z)) is added to the tiles before their activation (a plain one transposed into a blocked row
// first).
//
// Units of work are (image, output row, group of NB blocks) for a blocked output and (image, group,
// row) for a plain one; the pool gives each thread a contiguous range. The threads so split an
// image's work as the layers around them do, and each reads what it wrote itself (on this 2-vCPU
// machine a 3-layer stem, depthwise and pointwise engine ran 0.33 ms against 0.44 ms when the
// blocked layers split by channels while their neighbours split by rows): a blocked activation by
// rows (conv_depthwise, pool, the tuner's placement of a blocked input), a plain one by
// contiguous channels (conv_winograd's transforms, the plain tactics).
#include <algorithm>
#include <memory>
#include <string>

#include "backend/cpu/activation_block.h"
#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_isa.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"

namespace refit::cpu {
namespace {

constexpr int64_t kBlock = 16;

// A register tiling of the AVX-512 row kernels.
struct NchwcTiling {
  int nb, ow;
  void (*row)(const internal::NchwcConvRow&);
};
constexpr NchwcTiling kTilings[] = {{4, 6, internal::NchwcConvRow4x6Avx512},
                                    {2, 12, internal::NchwcConvRow2x12Avx512}};

class NchwcKernel : public backend::Kernel {
 public:
  NchwcKernel(const ConvParams& p, NchwcTiling tiling, int in_block, bool out_blocked)
      : p_(p),
        tiling_(tiling),
        in_block_(in_block),
        out_blocked_(out_blocked),
        staged_input_(in_block == 1 && p.in_c % kBlock == 0 && p.kernel_h == 1 && p.kernel_w == 1 &&
                      p.pad_top == 0 && p.pad_left == 0 && p.pad_bottom == 0 && p.pad_right == 0) {}

  size_t workspace_bytes() const override {
    return staged_input_ ? size_t(p_.batch * p_.in_c * p_.out_size()) * sizeof(float) : 0;
  }

  Status Run(const backend::KernelIo& io) const override {
    const auto [x, w, bias, y] = ConvOperandsOf(io);
    const float* z = p_.residual ? io.inputs[ir::kResidualInput]->data_as<float>() : nullptr;
    const int64_t blocks = p_.out_c / kBlock;
    const int64_t groups = (blocks + tiling_.nb - 1) / tiling_.nb;
    const int64_t w_block = p_.in_c * p_.kernel_size() * kBlock;
    const int64_t out_plane = p_.out_size();
    const bool inline_act =
        p_.act.kind == ir::ActivationKind::kRelu || p_.act.kind == ir::ActivationKind::kClip;
    // A plain input of a pointwise layer: the columns and rows it reads (every stride-th) are
    // transposed once into the workspace, an NCHW16c image of the output's size read with stride 1
    // (a 1x1 kernel's weights pack alike for either block).
    const float* in = x;
    int64_t in_h = p_.in_h, in_w = p_.in_w, stride_h = p_.stride_h, stride_w = p_.stride_w;
    int in_block = in_block_;
    if (staged_input_) {
      float* staged = static_cast<float*>(io.workspace);
      const int64_t in_blocks = p_.in_c / kBlock;
      ParallelFor(io.pool, p_.batch * in_blocks * p_.out_h, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) {
          const int64_t oy = u % p_.out_h, nb = u / p_.out_h;  // nb: image and block
          internal::NchwcPlanesToRowAvx512(
              x + nb * kBlock * p_.in_size() + oy * p_.stride_h * p_.in_w, 1, p_.out_w,
              p_.in_size(), p_.stride_w, staged + (nb * p_.out_h + oy) * p_.out_w * kBlock);
        }
      });
      in = staged;
      in_h = p_.out_h, in_w = p_.out_w, stride_h = 1, stride_w = 1;
      in_block = int(kBlock);
    }
    ParallelFor(io.pool, p_.batch * groups * p_.out_h, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        // (image, row, group) for a blocked output, (image, group, row) for a plain one.
        const int64_t n = u / groups / p_.out_h;
        const int64_t g = out_blocked_ ? u % groups : u / p_.out_h % groups;
        const int64_t oy = out_blocked_ ? u / groups % p_.out_h : u % p_.out_h;
        const int64_t b0 = g * tiling_.nb, nb = std::min<int64_t>(tiling_.nb, blocks - b0);
        // Block b0's first channel, output row oy: NCHW16c or NCHW.
        const int64_t y_off =
            (n * p_.out_c + b0 * kBlock) * out_plane + oy * p_.out_w * (out_blocked_ ? kBlock : 1);
        float* y_row = y + y_off;
        // A plain output: the row is computed blocked into scratch (the kernel's whole-vector
        // stores) and transposed to its planes afterwards; a residual, transposed into scratch
        // first, is added there in the same layout.
        const bool staged = !out_blocked_;
        thread_local ScratchFloats row_scratch, residual_scratch;
        const size_t row_floats = size_t(tiling_.nb * kBlock * p_.out_w);
        float* staged_row = staged ? row_scratch.Get(row_floats) : nullptr;
        float* staged_z = staged && z != nullptr ? residual_scratch.Get(row_floats) : nullptr;
        if (staged_z != nullptr) {
          internal::NchwcPlanesToRowAvx512(z + y_off, nb, p_.out_w, out_plane, 1, staged_z);
        }
        const float* image = in + n * p_.in_c * in_h * in_w;
        const internal::NchwcConvRow r{image,
                                       in_block,
                                       p_.in_c / in_block,
                                       in_h,
                                       in_w,
                                       p_.kernel_h,
                                       p_.kernel_w,
                                       stride_h,
                                       stride_w,
                                       p_.dilation_h,
                                       p_.dilation_w,
                                       p_.pad_top,
                                       p_.pad_left,
                                       w + b0 * w_block,
                                       w_block,
                                       bias != nullptr ? bias + b0 * kBlock : nullptr,
                                       staged ? staged_row : y_row,
                                       staged_z != nullptr ? staged_z
                                       : z != nullptr      ? z + y_off
                                                           : nullptr,
                                       staged ? p_.out_w * kBlock : out_plane * kBlock,
                                       oy,
                                       p_.out_w,
                                       nb,
                                       inline_act ? p_.act.kind : ir::ActivationKind::kNone,
                                       p_.act.alpha,
                                       p_.act.beta};
        tiling_.row(r);
        if (staged) internal::NchwcRowToPlanesAvx512(staged_row, nb, p_.out_w, y_row, out_plane);
        if (inline_act || p_.act.kind == ir::ActivationKind::kNone) continue;
        for (int64_t b = 0; b < nb; ++b) {
          if (out_blocked_) {
            BiasActivationSerial(p_.act, nullptr, y_row + b * out_plane * kBlock, 1,
                                 p_.out_w * kBlock, p_.out_w * kBlock);
          } else {
            BiasActivationSerial(p_.act, nullptr, y_row + b * kBlock * out_plane, kBlock, p_.out_w,
                                 out_plane);
          }
        }
      }
    });
    return Status::Ok();
  }

 private:
  ConvParams p_;
  NchwcTiling tiling_;
  int in_block_;
  bool out_blocked_;
  bool staged_input_;  // see Run
};

class NchwcTactic : public backend::Tactic {
 public:
  NchwcTactic(const ConvParams& p, NchwcTiling tiling, int in_block, bool out_blocked)
      : p_(p), tiling_(tiling), in_block_(in_block), out_blocked_(out_blocked) {}

  // "conv_nchwc/avx512_4x6/in16c_out16c": that register tiling, input and output blocks.
  std::string name() const override {
    return "conv_nchwc/avx512_" + std::to_string(tiling_.nb) + "x" + std::to_string(tiling_.ow) +
           BlockedIoSuffix(InputBlock(), OutputBlock());
  }
  std::string required_features() const override { return Avx512KernelFeatures().ToString(); }
  int InputBlock() const override { return in_block_ == 1 ? 0 : in_block_; }
  int OutputBlock() const override { return out_blocked_ ? int(kBlock) : 0; }
  // A fused residual is read in the output's layout.
  int InputBlockAt(size_t input) const override {
    if (input == ir::kResidualInput && p_.residual) return OutputBlock();
    return Tactic::InputBlockAt(input);
  }

  // W [M, C, kh, kw] -> [M / 16][C / b][kh][kw][b][16].
  bool KeepsWeightLayout(size_t input) const override { return input != 1; }
  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input != 1) return value;
    return backend::TensorDesc{DataType::kF32, Shape({p_.out_c * p_.col_rows()})};
  }
  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input != 1) return Tactic::PackWeight(input, value);
    const int64_t taps = p_.kernel_size(), c_in = p_.in_c, b = in_block_;
    if (value.dtype() != DataType::kF32 || value.NumElements() != p_.out_c * p_.col_rows()) {
      return InvalidArgument("conv_nchwc: weight of " + std::to_string(value.NumElements()) +
                             " elements, expected f32 [" + std::to_string(p_.out_c) + ", " +
                             std::to_string(c_in) + ", " + std::to_string(p_.kernel_h) + ", " +
                             std::to_string(p_.kernel_w) + "]");
    }
    REFIT_ASSIGN_OR_RETURN(
        Tensor packed, Tensor::Uninitialized(DataType::kF32, Shape({p_.out_c * p_.col_rows()})));
    const float* w = value.data_as<float>();
    float* out = packed.mutable_data_as<float>();
    // Destination order: output block, input block, tap, input channel in block, output channel.
    for (int64_t m = 0; m < p_.out_c; ++m) {
      float* block = out + m / kBlock * kBlock * c_in * taps + m % kBlock;
      for (int64_t c = 0; c < c_in; ++c) {
        const float* src = w + (m * c_in + c) * taps;
        float* dst = block + (c / b * taps * b + c % b) * kBlock;
        for (int64_t t = 0; t < taps; ++t) dst[t * b * kBlock] = src[t];
      }
    }
    return packed;
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    if (!DetectCpuFeatures().Covers(Avx512KernelFeatures())) {
      return FailedPrecondition("conv_nchwc needs AVX-512");
    }
    return std::unique_ptr<backend::Kernel>(new NchwcKernel(p_, tiling_, in_block_, out_blocked_));
  }

 private:
  ConvParams p_;
  NchwcTiling tiling_;
  int in_block_;
  bool out_blocked_;
};

}  // namespace

void AddConvNchwcTactics(const backend::LayerDesc&, const ConvParams& p, TacticList* out) {
  // 16-channel blocks are the AVX-512 layout (ActivationBlock()); the plain output's scatter
  // indexes channels with 32-bit offsets.
  if (ActivationBlock() != kBlock || p.group != 1 || p.out_c % kBlock != 0) return;
  if (p.out_size() * kBlock >= (int64_t(1) << 31)) return;
  const bool in_blocked = p.in_c % kBlock == 0;
  for (const NchwcTiling& tiling : kTilings) {
    for (bool out_blocked : {true, false}) {
      if (in_blocked) out->push_back(std::make_unique<NchwcTactic>(p, tiling, kBlock, out_blocked));
      out->push_back(std::make_unique<NchwcTactic>(p, tiling, 1, out_blocked));
    }
  }
}

}  // namespace refit::cpu
