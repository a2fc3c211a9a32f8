// conv_winograd: a 3x3, stride-1, undilated, ungrouped convolution by Winograd's minimal
// filtering F(r x r, 3x3), r = 2 or 4 (Lavin and Gray, 2016). Each r x r block of outputs (a tile)
// is A^T [(G g G^T) . (B^T d B)] A over its (r + 2)^2 input patch d: per output channel and tile,
// (r + 2)^2 products per input channel instead of 9 r^2 (16 for 36 at r = 2, 36 for 144 at
// r = 4). Summed over input channels, the element-wise products are (r + 2)^2 GEMMs,
// M_xi [M x tiles] = U_xi [M x C] * V_xi [C x tiles], run by GemmPacked.
//
// U = G g G^T is the packed weight ([(r + 2)^2, M, C], computed at build and refit time: a refit
// is a copy through this transform, no tuning). The input transform reads a phase plane
// (conv_im2col.h) of each channel and writes V into GemmPacked's packed-B layout through a staging
// row per position, whole vectors only (with masked stores, vmaskmovps, the input transform took
// 0.32 ms of the 0.9 ms of ResNet-18's 128-channel layer at one thread on an AMD EPYC; the layer
// now takes 0.73 ms); the output
// transform adds the bias and applies Relu or Clip (other activations run after it). Tiles go
// by chunks of tile rows sized so that a chunk's V and M stay in cache; with a thread pool, the
// threads take whole chunks when there are enough of them, and otherwise share each chunk's
// transforms (by channel) and its GEMMs.
//
// Rounding differs from a direct convolution: the transforms add and scale. F(2x2, 3x3) stays
// within a few ulp of the sum of |products|; F(4x4, 3x3), whose transforms scale by up to 8 and
// 1/24, within some 10-100 ulp. The tuner picks by speed; both meet the conformance tolerance.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_isa.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/conv_winograd_tactic.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"

namespace refit::cpu {
namespace {

constexpr int64_t kChunkBytes = int64_t(2) << 20;  // one chunk's V and M

int64_t RoundUp(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

// The transforms of F(r x r, 3x3).
struct WinogradOps {
  void (*input)(const internal::WinogradInput&);
  void (*output)(const internal::WinogradOutput&);
  bool (*pack)(const float*, int64_t, int64_t, const float*, float*);
};
WinogradOps OpsFor(int r) {
  if (r == 2) {
    return {internal::WinogradInput2Avx2, internal::WinogradOutput2Avx2,
            internal::WinogradPack2Avx2};
  }
  return {internal::WinogradInput4Avx2, internal::WinogradOutput4Avx2, internal::WinogradPack4Avx2};
}

struct WinogradGeometry {
  WinogradGeometry(const ConvParams& p, const GemmKernelInfo& info, int r) {
    positions = (r + 2) * (r + 2);
    tiles_h = (p.out_h + r - 1) / r;
    tiles_w = (p.out_w + r - 1) / r;
    const int64_t per_tile = positions * (p.in_c + p.out_c) * int64_t(sizeof(float));
    const int64_t want = std::max<int64_t>(info.nr, kChunkBytes / per_tile);
    chunk_rows = std::clamp<int64_t>(want / tiles_w, 1, tiles_h);
    chunks = (tiles_h + chunk_rows - 1) / chunk_rows;
    chunk_rows = (tiles_h + chunks - 1) / chunks;  // chunks of even size
    const int64_t tc_max = chunk_rows * tiles_w;
    v_floats = RoundUp(int64_t(PackedBSize(info, p.in_c, tc_max)), 16);
    ld = RoundUp(tc_max, 8);
    m_floats = RoundUp(p.out_c * ld, 16);
    unit_floats = positions * (v_floats + m_floats) + 16;  // + the output transform's read slack
    phase_len = RoundUp(tiles_w + 9, 8);
    plane_floats = (r * chunk_rows + 2) * r * phase_len;
  }
  int64_t positions, tiles_h, tiles_w, chunk_rows, chunks;
  int64_t v_floats, ld, m_floats, unit_floats;
  int64_t phase_len, plane_floats;
};

class WinogradKernel : public backend::Kernel {
 public:
  WinogradKernel(const ConvParams& p, const GemmKernelInfo& info, int r)
      : p_(p), info_(info), r_(r), ops_(OpsFor(r)), geo_(p, info, r) {}

  size_t workspace_bytes() const override { return size_t(geo_.unit_floats) * sizeof(float); }

  Status Run(const backend::KernelIo& io) const override {
    const float* x = io.inputs[0]->data_as<float>();
    const float* u = io.inputs[1]->data_as<float>();
    const float* bias =
        io.inputs.size() > 2 && io.inputs[2] != nullptr ? io.inputs[2]->data_as<float>() : nullptr;
    float* y = io.outputs[0]->mutable_data_as<float>();
    // Whole chunks per thread when they share evenly; otherwise the threads share each chunk.
    RunUnits(io.pool, p_.batch * geo_.chunks, size_t(geo_.unit_floats),
             static_cast<float*>(io.workspace),
             [&](int64_t unit, float* scratch, ThreadPool* pool) {
               RunUnit(unit, x, u, bias, y, scratch, pool);
             });
    return Status::Ok();
  }

 private:
  // Chunk `unit % chunks` of image `unit / chunks`, on `pool` (null: the calling thread).
  void RunUnit(int64_t unit, const float* x, const float* u, const float* bias, float* y,
               float* scratch, ThreadPool* pool) const {
    const int64_t n = unit / geo_.chunks, ty0 = unit % geo_.chunks * geo_.chunk_rows;
    const int64_t rows = std::min(geo_.chunk_rows, geo_.tiles_h - ty0);
    const int64_t tiles = rows * geo_.tiles_w;
    const int64_t c_in = p_.in_c, c_out = p_.out_c;
    float* v = scratch;
    float* m = scratch + geo_.positions * geo_.v_floats;
    ParallelFor(pool, c_in, [&](int64_t begin, int64_t end) {
      thread_local ScratchFloats plane_scratch, stage_scratch;
      float* plane = plane_scratch.Get(size_t(geo_.plane_floats));
      const int64_t stage_len = internal::WinogradStageLen(tiles, info_.nr);
      float* stage = stage_scratch.Get(size_t(geo_.positions * stage_len));
      for (int64_t c = begin; c < end; ++c) {
        // Padded row 0 of the plane is input row r * ty0 - pad_top.
        internal::PhasePlaneFillAvx2({x + (n * c_in + c) * p_.in_size(), p_.in_h, p_.in_w,
                                      p_.pad_top - r_ * ty0, p_.pad_left, r_ * rows + 2,
                                      geo_.phase_len, r_, plane});
        ops_.input({plane, geo_.phase_len, rows, geo_.tiles_w, c, c_in, info_.nr, geo_.v_floats, v,
                    stage, stage_len});
      }
    });
    ParallelFor(pool, geo_.positions, [&](int64_t begin, int64_t end) {
      for (int64_t xi = begin; xi < end; ++xi) {
        GemmPacked(info_, c_out, tiles, c_in, u + xi * c_out * c_in, c_in, v + xi * geo_.v_floats,
                   nullptr, m + xi * geo_.m_floats, geo_.ld, Activation::kNone, nullptr);
      }
    });
    const bool inline_act =
        p_.act.kind == ir::ActivationKind::kRelu || p_.act.kind == ir::ActivationKind::kClip;
    const ir::FusedActivation after = inline_act ? ir::FusedActivation{} : p_.act;
    const int64_t oy0 = r_ * ty0, out_rows = std::min(r_ * rows, p_.out_h - oy0);
    ParallelFor(pool, c_out, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        float* yo = y + ((n * c_out + o) * p_.out_h + oy0) * p_.out_w;
        ops_.output({m + o * geo_.ld, geo_.m_floats, rows, geo_.tiles_w,
                     bias != nullptr ? bias[o] : 0.0f,
                     inline_act ? p_.act.kind : ir::ActivationKind::kNone, p_.act.alpha,
                     p_.act.beta, yo, out_rows, p_.out_w});
        BiasActivationSerial(after, nullptr, yo, out_rows, p_.out_w, p_.out_w);
      }
    });
  }

  ConvParams p_;
  GemmKernelInfo info_;
  int r_;
  WinogradOps ops_;
  WinogradGeometry geo_;
};

class WinogradTactic : public WinogradTacticBase {
 public:
  WinogradTactic(const ConvParams& p, const GemmKernelInfo& info, int r)
      : WinogradTacticBase(p, info, r, Features(info), "conv_winograd") {}
  // "conv_winograd/f2_avx2_6x16_kc256_mc168_directa": F(2x2, 3x3) with that GEMM kernel.
  std::string name() const override {
    return "conv_winograd/f" + std::to_string(r_) + "_" + info_.Name();
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    REFIT_RETURN_IF_ERROR(CheckRunnable());
    return std::unique_ptr<backend::Kernel>(new WinogradKernel(p_, info_, r_));
  }

 protected:
  // W [M, C, 3, 3] -> U [(r + 2)^2, M, C]: U_xi[m][c] = (G g G^T)[i][j] of filter g = W[m, c].
  // Listed only where AVX2 runs.
  int64_t PackedFloats() const override { return (r_ + 2) * (r_ + 2) * p_.out_c * p_.in_c; }
  bool PackInto(const float* w, const float* row_scale, float* out) const override {
    return OpsFor(r_).pack(w, p_.out_c, p_.in_c, row_scale, out);
  }

 private:
  // The GEMM kernel's features and the transforms' AVX2 and FMA.
  static CpuFeatures Features(const GemmKernelInfo& info) {
    CpuFeatures f = info.RequiredFeatures();
    f.avx = f.avx2 = f.fma = true;
    return f;
  }
};

}  // namespace

WinogradTacticBase::WinogradTacticBase(const ConvParams& p, const GemmKernelInfo& info, int r,
                                       CpuFeatures features, std::string label)
    : p_(p), info_(info), r_(r), features_(features), label_(std::move(label)) {}

StatusOr<backend::TensorDesc> WinogradTacticBase::PackedType(
    size_t input, const backend::TensorDesc& value) const {
  if (input != 1) return value;
  return backend::TensorDesc{DataType::kF32, Shape({PackedFloats()})};
}

StatusOr<Tensor> WinogradTacticBase::PackWeight(size_t input, const Tensor& value) const {
  if (input != 1) return Tactic::PackWeight(input, value);
  return Pack(value, nullptr, /*checked=*/false);
}

StatusOr<Tensor> WinogradTacticBase::PackWeightChecked(size_t input, const Tensor& value) const {
  if (input != 1) return Tactic::PackWeightChecked(input, value);
  return Pack(value, nullptr, /*checked=*/true);
}

StatusOr<Tensor> WinogradTacticBase::PackWeightScaledRows(size_t input, const Tensor& value,
                                                          const float* row_scale) const {
  if (input != 1) return Tactic::PackWeightScaledRows(input, value, row_scale);
  return Pack(value, row_scale, /*checked=*/true);
}

Status WinogradTacticBase::CheckRunnable() const {
  const CpuFeatures& cpu = DetectCpuFeatures();
  REFIT_RETURN_IF_ERROR(CheckGemmKernel(info_, cpu));
  if (!cpu.Covers(features_)) {
    return FailedPrecondition(label_ + " needs " + features_.ToString());
  }
  return Status::Ok();
}

StatusOr<Tensor> WinogradTacticBase::Pack(const Tensor& value, const float* row_scale,
                                          bool checked) const {
  const int64_t c_in = p_.in_c, c_out = p_.out_c;
  if (value.dtype() != DataType::kF32 || value.NumElements() != c_out * c_in * 9) {
    return InvalidArgument("conv_winograd: weight of " + std::to_string(value.NumElements()) +
                           " elements, expected f32 [" + std::to_string(c_out) + ", " +
                           std::to_string(c_in) + ", 3, 3]");
  }
  REFIT_ASSIGN_OR_RETURN(Tensor packed,
                         Tensor::Uninitialized(DataType::kF32, Shape({PackedFloats()})));
  if (!PackInto(value.data_as<float>(), row_scale, packed.mutable_data_as<float>()) && checked) {
    return InvalidArgument("conv_winograd: a weight value is not finite");
  }
  return packed;
}

void AddConvWinogradTactics(const backend::LayerDesc& layer, const ConvParams& p, TacticList* out,
                            bool every_isa) {
  if (p.group != 1 || p.kernel_h != 3 || p.kernel_w != 3 || p.stride_h != 1 || p.stride_w != 1 ||
      p.dilation_h != 1 || p.dilation_w != 1) {
    return;
  }
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (!cpu.avx || !cpu.avx2 || !cpu.fma) return;
  const std::vector<GemmKernelInfo>& kernels = DetectedGemmKernels();
  for (int r : {4, 2}) {
    for (const GemmKernelInfo& info : kernels) {
      // The best ISA's direct-A kernels only: A (U_xi) is read in place, and the packing variants
      // timed no faster on the target shapes (tuning time stays bounded).
      if (info.pack_a || (info.isa != kernels.front().isa && !every_isa)) continue;
      out->push_back(std::make_unique<WinogradTactic>(p, info, r));
    }
  }
}

}  // namespace refit::cpu
