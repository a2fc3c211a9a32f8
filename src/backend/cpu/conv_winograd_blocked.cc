// conv_winograd "/in16c_out16c": Winograd F(r x r, 3x3), r = 2 or 4 (conv_winograd.cc), on
// channel-blocked activations (NCHW16c, AVX-512), so that a CNN whose 3x3 layers run by Winograd
// stays blocked end to end: the stride-2 layers, pointwise downsamples and pools between its stages
// run blocked (conv_nchwc, pool) at well under their plain cost, and no reorder runs between them.
//
// The transforms run one tile's 16 channels per vector (conv_winograd_blocked_avx512.cc), so the
// GEMM's roles swap from the plain tactic's: per position xi, M_xi^T [tiles x M] = V_xi^T [tiles x
// C] * U_xi^T, the input transform's V_xi^T read in place as A (a tile's 16 channels of a block
// contiguous, tiles C floats apart) and the weight packed once as B (gemm_packed.h's layout, per
// position). The output transform adds the bias and a fused residual (read blocked, as the output)
// and applies Relu or Clip (other activations run after it, over the chunk's rows).
//
// Tiles go by chunks of tile rows sized so that a chunk's V and M stay in cache, as in the plain
// tactic; with a thread pool, the threads take whole chunks (so each writes its own rows, as the
// blocked layers around it split their work) when there are enough of them, and otherwise share
// each chunk's transforms (by channel block) and its GEMMs (by position).
//
// A refit packs U = G g G^T straight into the GEMM's B layout, per position (per input channel,
// the transforms of a panel's filters eight output channels at a time, so each position's panel is
// written front to back): no tuning, and one pass over the weight.
#include <algorithm>
#include <memory>
#include <string>

#include "backend/cpu/activation_block.h"
#include "backend/cpu/conv_epilogue.h"
#include "backend/cpu/conv_isa.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/conv_winograd_tactic.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"

namespace refit::cpu {
namespace {

constexpr int64_t kBlock = 16;
constexpr int64_t kChunkBytes = int64_t(2) << 20;  // one chunk's V and M

int64_t RoundUp(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

struct BlockedOps {
  void (*input)(const internal::WinogradBlockedInput&);
  void (*output)(const internal::WinogradBlockedOutput&);
  bool (*pack)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*);
};
BlockedOps BlockedOpsFor(int r) {
  if (r == 2) {
    return {internal::WinogradBlockedInput2Avx512, internal::WinogradBlockedOutput2Avx512,
            internal::WinogradPackB2Avx2};
  }
  return {internal::WinogradBlockedInput4Avx512, internal::WinogradBlockedOutput4Avx512,
          internal::WinogradPackB4Avx2};
}

struct BlockedGeometry {
  BlockedGeometry(const ConvParams& p, const GemmKernelInfo& info, int r) {
    positions = (r + 2) * (r + 2);
    tiles_h = (p.out_h + r - 1) / r;
    tiles_w = (p.out_w + r - 1) / r;
    const int64_t per_tile = positions * (p.in_c + p.out_c) * int64_t(sizeof(float));
    const int64_t want = std::max<int64_t>(info.mr, kChunkBytes / per_tile);
    chunk_rows = std::clamp<int64_t>(want / tiles_w, 1, tiles_h);
    chunks = (tiles_h + chunk_rows - 1) / chunk_rows;
    chunk_rows = (tiles_h + chunks - 1) / chunks;  // chunks of even size
    const int64_t tc_max = chunk_rows * tiles_w;
    v_floats = RoundUp(tc_max * p.in_c, 16);
    m_floats = RoundUp(tc_max * p.out_c, 16);
    unit_floats = positions * (v_floats + m_floats);
    // Positions' matrices a multiple of 4 KiB apart would start in the same cache sets, and the
    // pack writes all of them at once: one more line keeps them apart.
    b_floats = RoundUp(int64_t(PackedBSize(info, p.in_c, p.out_c)), 16);
    if (b_floats % 1024 == 0) b_floats += 16;
  }
  int64_t positions, tiles_h, tiles_w, chunk_rows, chunks;
  int64_t v_floats, m_floats, unit_floats;
  int64_t b_floats;  // one position's packed U_xi^T
};

class BlockedWinogradKernel : public backend::Kernel {
 public:
  BlockedWinogradKernel(const ConvParams& p, const GemmKernelInfo& info, int r)
      : p_(p), info_(info), r_(r), ops_(BlockedOpsFor(r)), geo_(p, info, r) {}

  size_t workspace_bytes() const override { return size_t(geo_.unit_floats) * sizeof(float); }

  Status Run(const backend::KernelIo& io) const override {
    const auto [x, u, bias, y] = ConvOperandsOf(io);
    const float* z = p_.residual ? io.inputs[ir::kResidualInput]->data_as<float>() : nullptr;
    RunUnits(io.pool, p_.batch * geo_.chunks, size_t(geo_.unit_floats),
             static_cast<float*>(io.workspace),
             [&](int64_t unit, float* scratch, ThreadPool* pool) {
               RunUnit(unit, x, u, bias, z, y, scratch, pool);
             });
    return Status::Ok();
  }

 private:
  // Chunk `unit % chunks` of image `unit / chunks`, on `pool` (null: the calling thread).
  void RunUnit(int64_t unit, const float* x, const float* u, const float* bias, const float* z,
               float* y, float* scratch, ThreadPool* pool) const {
    const int64_t n = unit / geo_.chunks, ty0 = unit % geo_.chunks * geo_.chunk_rows;
    const int64_t rows = std::min(geo_.chunk_rows, geo_.tiles_h - ty0);
    const int64_t tiles = rows * geo_.tiles_w;
    const int64_t c_in = p_.in_c, c_out = p_.out_c;
    float* v = scratch;
    float* m = scratch + geo_.positions * geo_.v_floats;
    ParallelFor(pool, c_in / kBlock, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        ops_.input({x + (n * c_in + b * kBlock) * p_.in_size(), p_.in_h, p_.in_w, p_.pad_top,
                    p_.pad_left, ty0, rows, geo_.tiles_w, v + b * kBlock, geo_.v_floats, c_in});
      }
    });
    ParallelFor(pool, geo_.positions, [&](int64_t begin, int64_t end) {
      for (int64_t xi = begin; xi < end; ++xi) {
        GemmPacked(info_, tiles, c_out, c_in, v + xi * geo_.v_floats, c_in, u + xi * geo_.b_floats,
                   nullptr, m + xi * geo_.m_floats, c_out, Activation::kNone, nullptr);
      }
    });
    const bool inline_act =
        p_.act.kind == ir::ActivationKind::kRelu || p_.act.kind == ir::ActivationKind::kClip;
    const int64_t oy0 = r_ * ty0, out_rows = std::min(r_ * rows, p_.out_h - oy0);
    ParallelFor(pool, c_out / kBlock, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t plane = (n * c_out + b * kBlock) * p_.out_size();
        ops_.output({m + b * kBlock, geo_.m_floats, c_out, ty0, rows, geo_.tiles_w,
                     bias != nullptr ? bias + b * kBlock : nullptr,
                     z != nullptr ? z + plane : nullptr,
                     inline_act ? p_.act.kind : ir::ActivationKind::kNone, p_.act.alpha,
                     p_.act.beta, y + plane, p_.out_h, p_.out_w});
        if (inline_act || p_.act.kind == ir::ActivationKind::kNone) continue;
        // The chunk's output rows of the block: contiguous in NCHW16c.
        const int64_t len = out_rows * p_.out_w * kBlock;
        BiasActivationSerial(p_.act, nullptr, y + plane + oy0 * p_.out_w * kBlock, 1, len, len);
      }
    });
  }

  ConvParams p_;
  GemmKernelInfo info_;
  int r_;
  BlockedOps ops_;
  BlockedGeometry geo_;
};

class BlockedWinogradTactic : public WinogradTacticBase {
 public:
  // Runs the GEMM kernel's, the transforms' (AVX-512) and the weight transform's (AVX2, FMA)
  // features.
  BlockedWinogradTactic(const ConvParams& p, const GemmKernelInfo& info, int r)
      : WinogradTacticBase(p, info, r, info.RequiredFeatures().Union(Avx512KernelFeatures()),
                           "conv_winograd/in16c_out16c"),
        geo_(p, info, r) {}
  // "conv_winograd/f4_avx512_12x32_kc256_mc192_directa/in16c_out16c".
  std::string name() const override {
    return "conv_winograd/f" + std::to_string(r_) + "_" + info_.Name() +
           BlockedIoSuffix(int(kBlock), int(kBlock));
  }
  int InputBlock() const override { return int(kBlock); }
  int OutputBlock() const override { return int(kBlock); }
  // A fused residual is read in the output's layout.
  int InputBlockAt(size_t input) const override {
    if (input == ir::kResidualInput && p_.residual) return OutputBlock();
    return Tactic::InputBlockAt(input);
  }

  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    REFIT_RETURN_IF_ERROR(CheckRunnable());
    return std::unique_ptr<backend::Kernel>(new BlockedWinogradKernel(p_, info_, r_));
  }

 protected:
  // W [M, C, 3, 3] -> per position xi, U_xi^T [C x M] packed as the GEMM's B.
  int64_t PackedFloats() const override { return geo_.positions * geo_.b_floats; }
  bool PackInto(const float* w, const float* row_scale, float* out) const override {
    return BlockedOpsFor(r_).pack(w, p_.out_c, p_.in_c, row_scale, info_.nr, geo_.b_floats, out);
  }

 private:
  BlockedGeometry geo_;
};

}  // namespace

void AddConvWinogradBlockedTactics(const backend::LayerDesc&, const ConvParams& p, TacticList* out,
                                   bool every_isa) {
  if (ActivationBlock() != kBlock || p.group != 1 || p.kernel_h != 3 || p.kernel_w != 3 ||
      p.stride_h != 1 || p.stride_w != 1 || p.dilation_h != 1 || p.dilation_w != 1 ||
      p.in_c % kBlock != 0 || p.out_c % kBlock != 0) {
    return;
  }
  const CpuFeatures& cpu = DetectCpuFeatures();
  if (!cpu.Covers(Avx512KernelFeatures()) || !cpu.avx2 || !cpu.fma) return;
  const std::vector<GemmKernelInfo>& kernels = DetectedGemmKernels();
  for (int r : {4, 2}) {
    for (const GemmKernelInfo& info : kernels) {
      // As the plain tactic: the best ISA's direct-A kernels only (A, V_xi^T, is read in place).
      if (info.pack_a || (info.isa != kernels.front().isa && !every_isa)) continue;
      out->push_back(std::make_unique<BlockedWinogradTactic>(p, info, r));
    }
  }
}

}  // namespace refit::cpu
