// conv_gemm_t: the convolution as the transposed GEMM, one per group over every image at once,
//   C [N*HW x M/g] = A [N*HW x K] * B [K x M/g],  B = W_g^T, A = im2row(X),
// for the small-spatial, many-channel layers (late CNN stages, batch 1) where conv_gemm's
// [M x HW] GEMM has only a few, ragged N panels: here the channels are the GEMM's N, so the
// panels are many and whole, and HW only has to fill MR-row tiles.
//
// K runs (ky, kx, c), not ONNX's (c, ky, kx): PackWeight permutes W once while packing it, so
// each tap of an im2row row is one contiguous copy of cg channels from a pixel-major (NHWC) copy
// of the input. A 1x1 stride-1 unpadded convolution uses that copy as A directly. Bias is per
// column and Relu/Relu6 are GemmPacked's own epilogue; the result is transposed back to NCHW,
// with any other activation applied to each block right after its transpose. With a
// channel-blocked input (backend::Tactic::InputBlock) the pixel-major copy of the input copies
// whole blocks of channels instead of transposing; a channel-blocked output of an ungrouped layer
// whose block is the kernel's vector width is written by the GEMM itself, column vectors a block
// plane apart (GemmPacked's c_vector_stride), with no result buffer and no move at all (grouped
// layers copy whole blocks out of it).
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"
#include "backend/cpu/transpose_f32.h"
#include "base/finite.h"

namespace refit::cpu {
namespace {

constexpr int64_t kPixelChunk = 32;    // input pixels per NCHW -> NHWC transpose task
constexpr int64_t kChannelChunk = 32;  // output channels per C -> NCHW transpose task
constexpr int64_t kRowChunk = 16;      // im2row rows per task
// Beyond this the im2row matrix alone would dwarf the activations; conv_gemm covers such layers.
constexpr int64_t kMaxWorkspaceFloats = int64_t(16) << 20;

int64_t RoundUp16(int64_t floats) { return (floats + 15) / 16 * 16; }

// Pixels [j0, j0 + pixels) of one image's channel-blocked input x ([c / block][hw][block]) into
// rows of xt (pixel j at xt + j * ldx, channel-major within the row): whole blocks copied.
void CopyBlocksToRows(const float* x, int64_t block, int64_t c, int64_t hw, int64_t j0,
                      int64_t pixels, float* xt, int64_t ldx) {
  for (int64_t j = j0; j < j0 + pixels; ++j) {
    for (int64_t b = 0; b < c / block; ++b) {
      std::memcpy(xt + j * ldx + b * block, x + (b * hw + j) * block,
                  size_t(block) * sizeof(float));
    }
  }
}

// Channels [o0, o0 + len) (whole blocks) of one image's pixel-major GEMM result c ([hw][oc]) into
// the channel-blocked output, yb pointing at block o0 / block.
void CopyRowsToBlocks(const float* c, int64_t oc, int64_t hw, int64_t o0, int64_t len,
                      int64_t block, float* yb) {
  for (int64_t b = 0; b < len / block; ++b) {
    for (int64_t j = 0; j < hw; ++j) {
      std::memcpy(yb + (b * hw + j) * block, c + j * oc + o0 + b * block,
                  size_t(block) * sizeof(float));
    }
  }
}

// The first direct-A kernel of the best ISA: the one listed first.
const GemmKernelInfo& FirstDirectA(const std::vector<GemmKernelInfo>& kernels) {
  for (const GemmKernelInfo& info : kernels) {
    if (!info.pack_a && info.isa == kernels.front().isa) return info;
  }
  return kernels.front();
}

// Row stride of a GEMM operand with `cols` columns. A multiple of 1 KiB would put every fourth row
// of a direct-A micro-tile in the same 4 KiB alias set (C = 256, 512, ... channels), so such
// strides get one extra cache line.
int64_t RowStride(int64_t cols) { return cols % 256 == 0 ? cols + 16 : cols; }

// Workspace and weight geometry shared by the tactic (PackWeight) and its kernel (Run).
struct GemmTGeometry {
  explicit GemmTGeometry(const ConvParams& p, const GemmKernelInfo& info)
      : k_group(p.col_rows()),
        ldx(RowStride(p.in_c)),
        lda(p.pointwise() ? ldx : RowStride(p.group * p.col_rows())),
        m(p.batch * p.out_size()),
        b_block(RoundUp16(int64_t(PackedBSize(info, p.col_rows(), p.out_c_per_group())))),
        xt_floats(RoundUp16(p.batch * p.in_size() * ldx)),
        a_floats(p.pointwise() ? 0 : RoundUp16(m * lda)),
        c_floats(RoundUp16(m * p.out_c)) {}
  int64_t k_group;  // GEMM K of one group: cg * kernel_size
  int64_t ldx;      // row stride of the pixel-major input copy (in_c floats used)
  int64_t lda;      // an im2row row holds every group's K
  int64_t m;        // batch * out_size: every image in one GEMM
  int64_t b_block;  // floats of one group's packed B
  int64_t xt_floats, a_floats, c_floats;  // workspace parts
};

// im2row rows [row_begin, row_end): row (n, oy, ox) holds, group by group, each tap (ky, kx) as
// cg consecutive channels read from the pixel-major input `xt`, zeros in the padding.
void Im2RowRows(const ConvParams& p, int64_t ldx, int64_t lda, const float* xt, int64_t row_begin,
                int64_t row_end, float* a) {
  const int64_t cg = p.in_c_per_group(), kg = p.col_rows(), hw = p.out_size();
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t n = r / hw, oy = r % hw / p.out_w, ox = r % p.out_w;
    float* row = a + r * lda;
    for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
      const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dilation_h;
      for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
        const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dilation_w;
        const int64_t tap = (ky * p.kernel_w + kx) * cg;
        const bool inside = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
        const float* src = xt + ((n * p.in_h + iy) * p.in_w + ix) * ldx;
        for (int64_t g = 0; g < p.group; ++g) {
          float* dst = row + g * kg + tap;
          if (inside) {
            std::memcpy(dst, src + g * cg, size_t(cg) * sizeof(float));
          } else {
            std::fill(dst, dst + cg, 0.0f);
          }
        }
      }
    }
  }
}

class ConvGemmTKernel : public backend::Kernel {
 public:
  ConvGemmTKernel(const ConvParams& p, const GemmKernelInfo& info, int in_block, int out_block)
      : p_(p),
        info_(info),
        geo_(p, info),
        native_act_(NativeGemmActivation(p.act)),
        in_block_(in_block),
        out_block_(out_block) {}

  size_t workspace_bytes() const override {
    return size_t(geo_.xt_floats + geo_.a_floats + geo_.c_floats) * sizeof(float);
  }

  Status Run(const backend::KernelIo& io) const override {
    const auto [x, packed_w, bias, y] = ConvOperandsOf(io);
    float* xt = static_cast<float*>(io.workspace);
    float* a = xt + geo_.xt_floats;
    float* cbuf = a + geo_.a_floats;
    const int64_t ci = p_.in_c, oc = p_.out_c, in_hw = p_.in_size(), hw = p_.out_size();

    // NCHW (or channel-blocked) -> NHWC, in pixel chunks of every image.
    const int64_t pixel_chunks = (in_hw + kPixelChunk - 1) / kPixelChunk;
    ParallelFor(io.pool, p_.batch * pixel_chunks, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t n = t / pixel_chunks, j0 = t % pixel_chunks * kPixelChunk;
        const int64_t pixels = std::min(kPixelChunk, in_hw - j0);
        if (in_block_ > 0) {
          CopyBlocksToRows(x + n * ci * in_hw, in_block_, ci, in_hw, j0, pixels,
                           xt + n * in_hw * geo_.ldx, geo_.ldx);
        } else {
          TransposeF32(x + n * ci * in_hw + j0, in_hw, ci, pixels, xt + (n * in_hw + j0) * geo_.ldx,
                       geo_.ldx);
        }
      }
    });
    if (!p_.pointwise()) {
      const int64_t row_chunks = (geo_.m + kRowChunk - 1) / kRowChunk;
      ParallelFor(io.pool, row_chunks, [&](int64_t begin, int64_t end) {
        Im2RowRows(p_, geo_.ldx, geo_.lda, xt, begin * kRowChunk, std::min(end * kRowChunk, geo_.m),
                   a);
      });
    }
    const float* a_all = p_.pointwise() ? xt : a;
    if (out_block_ > 0 && p_.group == 1 && GemmVectorWidth(info_) == out_block_) {
      // The GEMM writes each image's channel blocks itself: [HW x OC] with its column vectors
      // (16 channels) out_block * hw floats apart is exactly the blocked output.
      for (int64_t n = 0; n < p_.batch; ++n) {
        GemmPacked(info_, hw, oc, geo_.k_group, a_all + n * hw * geo_.lda, geo_.lda, packed_w, bias,
                   y + n * oc * hw, out_block_, native_act_.value_or(Activation::kNone), io.pool,
                   /*accumulate_c=*/false, /*row_bias=*/nullptr,
                   /*c_vector_stride=*/out_block_ * hw);
      }
      if (!native_act_.has_value()) {
        BiasActivation(p_.act, nullptr, y, 1, p_.batch * oc * hw, p_.batch * oc * hw, io.pool);
      }
      return Status::Ok();
    }
    const int64_t mg = p_.out_c_per_group();
    for (int64_t g = 0; g < p_.group; ++g) {
      // The bias always rides in the GEMM; a non-native activation follows the transpose.
      GemmPacked(info_, geo_.m, mg, geo_.k_group, a_all + g * geo_.k_group, geo_.lda,
                 packed_w + g * geo_.b_block, bias != nullptr ? bias + g * mg : nullptr,
                 cbuf + g * mg, oc, native_act_.value_or(Activation::kNone), io.pool);
    }
    // [N*HW x OC] -> NCHW, in channel chunks of every image.
    const int64_t channel_chunks = (oc + kChannelChunk - 1) / kChannelChunk;
    ParallelFor(io.pool, p_.batch * channel_chunks, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t n = t / channel_chunks, o0 = t % channel_chunks * kChannelChunk;
        const int64_t len = std::min(kChannelChunk, oc - o0);
        float* yb = y + (n * oc + o0) * hw;
        if (out_block_ > 0) {
          // Channels [o0, o0 + len) are whole blocks (oc and kChannelChunk are multiples of the
          // block): one contiguous run of len * hw floats of the blocked output.
          CopyRowsToBlocks(cbuf + n * hw * oc, oc, hw, o0, len, out_block_, yb);
          if (!native_act_.has_value()) {
            BiasActivationSerial(p_.act, nullptr, yb, 1, len * hw, len * hw);
          }
          continue;
        }
        TransposeF32(cbuf + n * hw * oc + o0, oc, hw, len, yb, hw);
        if (!native_act_.has_value()) BiasActivationSerial(p_.act, nullptr, yb, len, hw, hw);
      }
    });
    return Status::Ok();
  }

 private:
  ConvParams p_;
  GemmKernelInfo info_;
  GemmTGeometry geo_;
  std::optional<Activation> native_act_;
  int in_block_, out_block_;
};

class ConvGemmTTactic : public backend::Tactic {
 public:
  ConvGemmTTactic(const ConvParams& p, const GemmKernelInfo& info, int in_block = 0,
                  int out_block = 0)
      : p_(p), info_(info), in_block_(in_block), out_block_(out_block) {}
  std::string name() const override {
    return "conv_gemm_t/" + info_.Name() + BlockedIoSuffix(in_block_, out_block_);
  }
  int InputBlock() const override { return in_block_; }
  int OutputBlock() const override { return out_block_; }
  std::string required_features() const override { return info_.RequiredFeatures().ToString(); }

  // W [M, cg, kh, kw] -> per group, B = W_g^T with K reordered to (ky, kx, c), packed.
  bool KeepsWeightLayout(size_t input) const override { return input != 1; }

  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input != 1) return value;
    return backend::TensorDesc{DataType::kF32,
                               Shape({p_.group * GemmTGeometry(p_, info_).b_block})};
  }

  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input != 1) return Tactic::PackWeight(input, value);
    return Pack(value, nullptr);
  }

  bool PacksScaledRows(size_t input) const override { return input == 1; }
  StatusOr<Tensor> PackWeightScaledRows(size_t input, const Tensor& value,
                                        const float* row_scale) const override {
    if (input != 1) return Tactic::PackWeightScaledRows(input, value, row_scale);
    return Pack(value, row_scale);
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    REFIT_RETURN_IF_ERROR(CheckGemmKernel(info_, DetectCpuFeatures()));
    return std::unique_ptr<backend::Kernel>(new ConvGemmTKernel(p_, info_, in_block_, out_block_));
  }

 private:
  // W [M, cg, kh, kw] (times row_scale[m] when given) -> per group, B = W_g^T with K reordered
  // to (ky, kx, c), packed.
  StatusOr<Tensor> Pack(const Tensor& value, const float* row_scale) const {
    const GemmTGeometry geo(p_, info_);
    const int64_t cg = p_.in_c_per_group(), mg = p_.out_c_per_group(), ks = p_.kernel_size();
    const int64_t kg = geo.k_group;
    if (value.dtype() != DataType::kF32 || value.NumElements() != p_.out_c * kg) {
      return InvalidArgument("conv_gemm_t: weight of " + std::to_string(value.NumElements()) +
                             " elements, expected f32 [" + std::to_string(p_.out_c) + ", " +
                             std::to_string(cg) + ", " + std::to_string(p_.kernel_h) + ", " +
                             std::to_string(p_.kernel_w) + "]");
    }
    // Every float is written below (PackB, then the padding).
    REFIT_ASSIGN_OR_RETURN(Tensor packed,
                           Tensor::Uninitialized(DataType::kF32, Shape({p_.group * geo.b_block})));
    const float* w = value.data_as<float>();
    float* out = packed.mutable_data_as<float>();
    // One panel (nr output channels) at a time: its rows are permuted (and scaled) into a scratch
    // block that stays in cache, then packed from there, so the weight is read and the panel
    // written once.
    const int64_t nr = info_.nr;
    std::vector<float> rows(size_t(nr * kg));
    for (int64_t g = 0; g < p_.group; ++g) {
      float* block = out + g * geo.b_block;
      if (ks == 1) {
        // A 1x1 kernel needs no reordering: the group's [mg, cg] rows are B^T as they stand, packed
        // (and scaled) straight from the weight.
        const float* wg = w + g * mg * kg;
        if (row_scale == nullptr) {
          PackB(info_, wg, kg, /*trans_b=*/true, kg, mg, block);
        } else if (!PackBScaledTransposed(info_, wg, kg, kg, mg, row_scale + g * mg, block)) {
          return InvalidArgument("conv_gemm_t: a scaled weight is not finite");
        }
        const int64_t used = int64_t(PackedBSize(info_, kg, mg));
        std::fill(block + used, block + geo.b_block, 0.0f);  // deterministic padding
        continue;
      }
      for (int64_t col0 = 0; col0 < mg; col0 += nr) {
        const int64_t cols = std::min(nr, mg - col0);
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t m = g * mg + col0 + j;
          const float* src = w + m * kg;      // (c, tap) order
          float* dst = rows.data() + j * kg;  // (tap, c) order
          if (ks == 1) {
            std::memcpy(dst, src, size_t(kg) * sizeof(float));
          } else {
            TransposeF32(src, ks, cg, ks, dst, cg);  // [cg x ks] -> [ks x cg]
          }
          if (row_scale != nullptr) {
            const float f = row_scale[m];
            for (int64_t x = 0; x < kg; ++x) dst[x] *= f;
          }
        }
        if (row_scale != nullptr &&
            FirstNonFinite(TensorView(DataType::kF32, Shape{cols * kg}, rows.data())) >= 0) {
          return InvalidArgument("conv_gemm_t: a scaled weight is not finite");
        }
        PackB(info_, rows.data(), kg, /*trans_b=*/true, kg, cols, block + (col0 / nr) * kg * nr);
      }
      const int64_t used = int64_t(PackedBSize(info_, kg, mg));
      std::fill(block + used, block + geo.b_block, 0.0f);  // deterministic padding
    }
    return packed;
  }

  ConvParams p_;
  GemmKernelInfo info_;
  int in_block_, out_block_;
};

}  // namespace

void AddConvGemmTTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out,
                         bool every_isa) {
  if (p.depthwise()) return;
  const std::vector<GemmKernelInfo>& kernels = DetectedGemmKernels();
  for (const GemmKernelInfo& info : kernels) {
    // Only the direct-A kernels of the best ISA: A is read in place from im2row rows, and the
    // packing variants timed no faster on the target shapes (tuning time stays bounded).
    if (info.pack_a || (info.isa != kernels.front().isa && !every_isa)) continue;
    const GemmTGeometry geo(p, info);
    if (geo.xt_floats + geo.a_floats + geo.c_floats > kMaxWorkspaceFloats) return;
    out->push_back(std::make_unique<ConvGemmTTactic>(p, info));
    // The channel-blocked variants, of the first (best-guess) kernel only: tuning time.
    if (&info != &FirstDirectA(kernels)) continue;
    for (const auto& [in_block, out_block] : BlockedIoPairs(p)) {
      if (kChannelChunk % std::max(in_block, out_block) != 0) continue;
      out->push_back(std::make_unique<ConvGemmTTactic>(p, info, in_block, out_block));
    }
  }
}

}  // namespace refit::cpu
