// conv_transpose_gemm: ConvTranspose as one GEMM per group over every image at once, with the
// weight as GemmPacked's packed B (packed once, like every other weight):
//   colsT [N*HW x (M/g)*kH*kW] = X_g^T [N*HW x C/g] * W_g [C/g x (M/g)*kH*kW],
// W_g being rows [g*C/g, (g+1)*C/g) of W [C, M/g, kH, kW] as stored. X^T is a pixel-major copy of
// the input in the workspace; each group's A is a column slice of it. col2im then scatter-adds
// every colsT row (one input pixel, all its taps) into the output planes, which a task owns
// whole (bias first, fused activation last), so the summation order is fixed whatever the pool.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"
#include "backend/cpu/transpose_f32.h"

namespace refit::cpu {
namespace {

constexpr int64_t kPixelChunk = 32;  // input pixels per NCHW -> NHWC transpose task
constexpr int64_t kMaxWorkspaceFloats = int64_t(16) << 20;  // 64 MiB

int64_t RoundUp16(int64_t floats) { return (floats + 15) / 16 * 16; }

// Row stride of a GEMM operand with `cols` columns; a multiple of 1 KiB gets one extra cache
// line so that the rows of a micro-tile do not share a 4 KiB alias set.
int64_t RowStride(int64_t cols) { return cols % 256 == 0 ? cols + 16 : cols; }

// Ceil division for a possibly negative numerator and a positive divisor.
int64_t CeilDiv(int64_t a, int64_t b) { return a <= 0 ? -((-a) / b) : (a + b - 1) / b; }

// Workspace and weight geometry shared by the tactic (PackWeight) and its kernel (Run).
struct GemmGeometry {
  GemmGeometry(const ConvTransposeParams& p, const GemmKernelInfo& info)
      : ldx(RowStride(p.in_c)),
        ldc(RowStride(p.col_cols())),
        m(p.batch * p.in_size()),
        b_block(RoundUp16(int64_t(PackedBSize(info, p.in_c_per_group(), p.col_cols())))),
        xt_floats(RoundUp16(m * ldx)),
        c_floats(RoundUp16(m * ldc)) {}
  int64_t ldx;                  // row stride of the pixel-major input copy
  int64_t ldc;                  // row stride of colsT
  int64_t m;                    // batch * in_size: every image in one GEMM
  int64_t b_block;              // floats of one group's packed B
  int64_t xt_floats, c_floats;  // workspace parts
};

// Adds the colsT entries of output map j of one group, image n, into `plane` (out_h x out_w).
void Col2ImPlane(const ConvTransposeParams& p, const float* cols, int64_t ldc, int64_t n, int64_t j,
                 float* plane) {
  const int64_t ks = p.kernel_size();
  for (int64_t iy = 0; iy < p.in_h; ++iy) {
    const float* row0 = cols + (n * p.in_size() + iy * p.in_w) * ldc + j * ks;
    for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
      const int64_t oy = iy * p.stride_h + ky * p.dilation_h - p.pad_top;
      if (oy < 0 || oy >= p.out_h) continue;
      float* yrow = plane + oy * p.out_w;
      for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
        // ox = ix * stride_w + off must lie in [0, out_w).
        const int64_t off = kx * p.dilation_w - p.pad_left;
        const int64_t ix_begin = std::max<int64_t>(0, CeilDiv(-off, p.stride_w));
        const int64_t last = p.out_w - 1 - off;
        if (last < 0) continue;
        const int64_t ix_end = std::min(p.in_w, last / p.stride_w + 1);
        const float* src = row0 + ky * p.kernel_w + kx;
        for (int64_t ix = ix_begin; ix < ix_end; ++ix) {
          yrow[ix * p.stride_w + off] += src[ix * ldc];
        }
      }
    }
  }
}

class ConvTransposeGemmKernel : public backend::Kernel {
 public:
  ConvTransposeGemmKernel(const ConvTransposeParams& p, const GemmKernelInfo& info)
      : p_(p), info_(info), geo_(p, info) {}

  size_t workspace_bytes() const override {
    return size_t(geo_.xt_floats + geo_.c_floats) * sizeof(float);
  }

  Status Run(const backend::KernelIo& io) const override {
    const auto [x, packed_w, bias, y] = ConvOperandsOf(io);
    float* xt = static_cast<float*>(io.workspace);
    float* cols = xt + geo_.xt_floats;
    const int64_t ci = p_.in_c, in_hw = p_.in_size(), osize = p_.out_size();
    const int64_t cg = p_.in_c_per_group(), mg = p_.out_c_per_group();

    // NCHW -> NHWC, in pixel chunks of every image.
    const int64_t pixel_chunks = (in_hw + kPixelChunk - 1) / kPixelChunk;
    ParallelFor(io.pool, p_.batch * pixel_chunks, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t n = t / pixel_chunks, j0 = t % pixel_chunks * kPixelChunk;
        TransposeF32(x + n * ci * in_hw + j0, in_hw, ci, std::min(kPixelChunk, in_hw - j0),
                     xt + (n * in_hw + j0) * geo_.ldx, geo_.ldx);
      }
    });
    const bool has_act = p_.act.kind != ir::ActivationKind::kNone;
    for (int64_t g = 0; g < p_.group; ++g) {
      GemmPacked(info_, geo_.m, p_.col_cols(), cg, xt + g * cg, geo_.ldx,
                 packed_w + g * geo_.b_block, nullptr, cols, geo_.ldc, Activation::kNone, io.pool);
      // One task per output plane (image n, map j of this group).
      ParallelFor(io.pool, p_.batch * mg, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          const int64_t n = t / mg, j = t % mg, oc = g * mg + j;
          float* plane = y + (n * p_.out_c + oc) * osize;
          std::fill(plane, plane + osize, bias != nullptr ? bias[oc] : 0.0f);
          Col2ImPlane(p_, cols, geo_.ldc, n, j, plane);
          if (has_act) BiasActivationSerial(p_.act, nullptr, plane, 1, osize, osize);
        }
      });
    }
    return Status::Ok();
  }

 private:
  ConvTransposeParams p_;
  GemmKernelInfo info_;
  GemmGeometry geo_;
};

class ConvTransposeGemmTactic : public backend::Tactic {
 public:
  ConvTransposeGemmTactic(const ConvTransposeParams& p, const GemmKernelInfo& info)
      : p_(p), info_(info) {}
  std::string name() const override { return "conv_transpose_gemm/" + info_.Name(); }
  std::string required_features() const override { return info_.RequiredFeatures().ToString(); }

  // W [C, M/g, kh, kw]: group g's rows already are B = W_g [C/g x (M/g)*kh*kw]; pack each.
  bool KeepsWeightLayout(size_t input) const override { return input != 1; }

  StatusOr<backend::TensorDesc> PackedType(size_t input,
                                           const backend::TensorDesc& value) const override {
    if (input != 1) return value;
    return backend::TensorDesc{DataType::kF32, Shape({p_.group * GemmGeometry(p_, info_).b_block})};
  }

  StatusOr<Tensor> PackWeight(size_t input, const Tensor& value) const override {
    if (input != 1) return Tactic::PackWeight(input, value);
    const GemmGeometry geo(p_, info_);
    const int64_t cg = p_.in_c_per_group(), ng = p_.col_cols();
    if (value.dtype() != DataType::kF32 || value.NumElements() != p_.in_c * ng) {
      return InvalidArgument("conv_transpose_gemm: weight of " +
                             std::to_string(value.NumElements()) + " elements, expected f32 [" +
                             std::to_string(p_.in_c) + ", " + std::to_string(p_.out_c_per_group()) +
                             ", " + std::to_string(p_.kernel_h) + ", " +
                             std::to_string(p_.kernel_w) + "]");
    }
    REFIT_ASSIGN_OR_RETURN(Tensor packed,
                           Tensor::Create(DataType::kF32, Shape({p_.group * geo.b_block})));
    const float* w = value.data_as<float>();
    float* out = packed.mutable_data_as<float>();
    for (int64_t g = 0; g < p_.group; ++g) {
      float* block = out + g * geo.b_block;
      PackB(info_, w + g * cg * ng, ng, /*trans_b=*/false, cg, ng, block);
      const int64_t used = int64_t(PackedBSize(info_, cg, ng));
      std::fill(block + used, block + geo.b_block, 0.0f);  // deterministic padding
    }
    return packed;
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    REFIT_RETURN_IF_ERROR(CheckGemmKernel(info_, DetectCpuFeatures()));
    return std::unique_ptr<backend::Kernel>(new ConvTransposeGemmKernel(p_, info_));
  }

 private:
  ConvTransposeParams p_;
  GemmKernelInfo info_;
};

}  // namespace

void AddConvTransposeGemmTactics(const backend::LayerDesc& layer, const ConvTransposeParams& p,
                                 TacticList* out, bool every_isa) {
  (void)layer;
  const std::vector<GemmKernelInfo>& kernels = DetectedGemmKernels();
  for (const GemmKernelInfo& info : kernels) {
    // Only the direct-A kernels of the best ISA, as conv_gemm_t: A is read in place from the
    // pixel-major input copy.
    if (info.pack_a || (info.isa != kernels.front().isa && !every_isa)) continue;
    const GemmGeometry geo(p, info);
    if (geo.xt_floats + geo.c_floats > kMaxWorkspaceFloats) return;
    out->push_back(std::make_unique<ConvTransposeGemmTactic>(p, info));
  }
}

}  // namespace refit::cpu
