#include "backend/cpu/gemm_packed.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "backend/cpu/gemm_microkernel.h"

namespace refit::cpu {
namespace {

using internal::MicroKernelFn;
using internal::TileEpilogue;

// Columns of B per task: a kc x kNcColumns slab of packed B (256 KiB..1.5 MiB) stays in L2/L3
// while every micro-panel of the A block sweeps over it.
constexpr int64_t kNcColumns = 1024;
constexpr int kMaxTile = 16 * 64;  // the largest MR * NR we build, with room to spare

struct Blocking {
  GemmIsa isa;
  int mr, nr, kc, mc;
};

// Default cache blocking per kernel shape, best guess first per ISA. KC keeps a KC x NR slab of B
// within L1 (32-48 KiB); MC x KC of packed A fits in half of L2.
constexpr Blocking kKernels[] = {
    {GemmIsa::kAvx512, 12, 32, 384, 192},
    {GemmIsa::kAvx512, 8, 48, 256, 192},
    {GemmIsa::kAvx512, 6, 32, 256, 144},
    {GemmIsa::kAvx2, 6, 16, 256, 168},
    {GemmIsa::kAvx2, 4, 24, 256, 128},
};

MicroKernelFn FindMicroKernel(const GemmKernelInfo& info) {
  return info.isa == GemmIsa::kAvx512 ? internal::FindAvx512MicroKernel(info.mr, info.nr)
                                      : internal::FindAvx2MicroKernel(info.mr, info.nr);
}

struct AlignedDelete {
  void operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
using AlignedFloats = std::unique_ptr<float[], AlignedDelete>;
AlignedFloats AllocateAligned(size_t count) {
  return AlignedFloats(new (std::align_val_t(64)) float[std::max<size_t>(count, 1)]);
}

// Packs rows [0, rows) x cols [0, kb) of A into MR-row panels, each kb groups of MR floats; rows
// past `rows` are zero so edge tiles run the full kernel.
void PackA(const float* a, int64_t lda, int64_t rows, int64_t kb, int mr, float* out) {
  for (int64_t r0 = 0; r0 < rows; r0 += mr) {
    const int64_t nrows = std::min<int64_t>(mr, rows - r0);
    for (int64_t i = 0; i < nrows; ++i) {
      const float* src = a + (r0 + i) * lda;
      for (int64_t p = 0; p < kb; ++p) out[p * mr + i] = src[p];
    }
    for (int64_t i = nrows; i < mr; ++i) {
      for (int64_t p = 0; p < kb; ++p) out[p * mr + i] = 0.0f;
    }
    out += kb * mr;
  }
}

struct GemmPlan {
  MicroKernelFn kernel;
  int mr, nr;
  int64_t m, n, k, kc, mc;
  int64_t n_panels, panels_per_task, n_tasks_per_row;
  const float* a;
  int64_t lda;
  const float* packed_b;
  const float* bias;
  float* c;
  int64_t ldc;
  Activation act;
};

// Tiles that stick out of C (or whose bias would be read past n) go through a full-size scratch
// tile, so the micro-kernels only ever handle whole MR x NR tiles.
void RunEdgeTile(const GemmPlan& g, int64_t kb, const float* a_panel, const float* b_panel,
                 float* c_tile, int64_t rows, int64_t cols, TileEpilogue ep) {
  alignas(64) float tile[kMaxTile];
  alignas(64) float bias[kMaxTile];
  if (ep.accumulate) {
    for (int64_t i = 0; i < rows; ++i) std::memcpy(tile + i * g.nr, c_tile + i * g.ldc, cols * 4);
  }
  if (ep.bias != nullptr) {
    std::memcpy(bias, ep.bias, cols * sizeof(float));
    std::fill(bias + cols, bias + g.nr, 0.0f);
    ep.bias = bias;
  }
  g.kernel(kb, a_panel, b_panel, tile, g.nr, ep);
  for (int64_t i = 0; i < rows; ++i) std::memcpy(c_tile + i * g.ldc, tile + i * g.nr, cols * 4);
}

// One task: rows [row0, row0 + mc) of C times panels [p0, p1) of B, over all of K.
void RunTask(const GemmPlan& g, int64_t row0, int64_t p0, int64_t p1, float* a_pack) {
  const int64_t rows = std::min(g.mc, g.m - row0);
  int64_t k0 = 0;
  do {  // at least once, so k == 0 still writes act(bias)
    const int64_t kb = std::min(g.kc, g.k - k0);
    PackA(g.a + row0 * g.lda + k0, g.lda, rows, kb, g.mr, a_pack);
    TileEpilogue ep{k0 > 0, k0 + kb >= g.k, nullptr, g.act};
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t col0 = p * g.nr;
      const int64_t cols = std::min<int64_t>(g.nr, g.n - col0);
      const float* b_panel = g.packed_b + p * g.k * g.nr + k0 * g.nr;
      ep.bias = g.bias != nullptr ? g.bias + col0 : nullptr;
      for (int64_t i = 0; i < rows; i += g.mr) {
        const float* a_panel = a_pack + i * kb;
        float* c_tile = g.c + (row0 + i) * g.ldc + col0;
        const int64_t tile_rows = std::min<int64_t>(g.mr, rows - i);
        if (tile_rows == g.mr && cols == g.nr) {
          g.kernel(kb, a_panel, b_panel, c_tile, g.ldc, ep);
        } else {
          RunEdgeTile(g, kb, a_panel, b_panel, c_tile, tile_rows, cols, ep);
        }
      }
    }
    k0 += kb;
  } while (k0 < g.k);
}

}  // namespace

std::string GemmKernelInfo::Name() const {
  return std::string(isa == GemmIsa::kAvx512 ? "avx512_" : "avx2_") + std::to_string(mr) + "x" +
         std::to_string(nr) + "_kc" + std::to_string(kc) + "_mc" + std::to_string(mc);
}

CpuFeatures GemmKernelInfo::RequiredFeatures() const {
  CpuFeatures f;
  f.avx = true;
  f.fma = true;
  if (isa == GemmIsa::kAvx2) {
    f.avx2 = true;
  } else {
    f.avx512f = f.avx512bw = f.avx512dq = f.avx512vl = true;
  }
  return f;
}

Status CheckGemmKernel(const GemmKernelInfo& info, const CpuFeatures& cpu) {
  if (FindMicroKernel(info) == nullptr) {
    return InvalidArgument("GEMM kernel " + info.Name() + ": no micro-kernel with that ISA and " +
                           std::to_string(info.mr) + "x" + std::to_string(info.nr) +
                           " register blocking in this build");
  }
  if (info.kc <= 0 || info.mc <= 0 || info.mc % info.mr != 0) {
    return InvalidArgument("GEMM kernel " + info.Name() +
                           ": expected kc > 0 and mc a positive multiple of mr");
  }
  if (!cpu.Covers(info.RequiredFeatures())) {
    return FailedPrecondition("GEMM kernel " + info.Name() + " needs CPU features '" +
                              info.RequiredFeatures().ToString() + "'; this CPU lacks '" +
                              cpu.Missing(info.RequiredFeatures()) + "'");
  }
  return Status::Ok();
}

std::vector<GemmKernelInfo> AvailableGemmKernels(const CpuFeatures& cpu) {
  std::vector<GemmKernelInfo> out;
  for (const Blocking& b : kKernels) {
    GemmKernelInfo info{b.isa, b.mr, b.nr, b.kc, b.mc};
    if (CheckGemmKernel(info, cpu).ok()) out.push_back(info);
  }
  return out;
}

size_t PackedBSize(const GemmKernelInfo& info, int64_t k, int64_t n) {
  const int64_t panels = (n + info.nr - 1) / info.nr;
  return size_t(panels) * size_t(k) * size_t(info.nr);
}

void PackB(const GemmKernelInfo& info, const float* b, int64_t ldb, bool trans_b, int64_t k,
           int64_t n, float* packed) {
  const int64_t nr = info.nr;
  for (int64_t col0 = 0; col0 < n; col0 += nr) {
    const int64_t cols = std::min(nr, n - col0);
    if (!trans_b) {
      for (int64_t p = 0; p < k; ++p) {
        float* dst = packed + p * nr;
        std::memcpy(dst, b + p * ldb + col0, cols * sizeof(float));
        std::fill(dst + cols, dst + nr, 0.0f);
      }
    } else {
      // Read each stored row (a column of op(B)) contiguously; the strided writes land in one
      // k x nr panel that stays in cache.
      for (int64_t j = 0; j < cols; ++j) {
        const float* src = b + (col0 + j) * ldb;
        for (int64_t p = 0; p < k; ++p) packed[p * nr + j] = src[p];
      }
      for (int64_t p = 0; p < k; ++p) std::fill(packed + p * nr + cols, packed + p * nr + nr, 0.f);
    }
    packed += k * nr;
  }
}

void GemmPacked(const GemmKernelInfo& info, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* packed_b, const float* bias, float* c, int64_t ldc,
                Activation act, ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  const Status check = CheckGemmKernel(info, DetectCpuFeatures());
  if (!check.ok()) {
    std::fprintf(stderr, "GemmPacked: %s\n", check.ToString().c_str());
    std::abort();
  }
  k = std::max<int64_t>(k, 0);
  // Equal K passes (576 = 288 + 288 rather than 256 + 256 + 64): the short tail pass would cost a
  // full read-modify-write of C for little work.
  const int64_t k_passes = std::max<int64_t>(1, (k + info.kc - 1) / info.kc);
  const int64_t kc = std::max<int64_t>(1, (k + k_passes - 1) / k_passes);
  GemmPlan g{FindMicroKernel(info), info.mr, info.nr, m, n, k, kc, info.mc, 0, 0, 0,
             a, lda, packed_b, bias, c, ldc, act};
  g.n_panels = (n + g.nr - 1) / g.nr;
  g.panels_per_task = std::max<int64_t>(1, kNcColumns / g.nr);
  const int64_t m_blocks = (m + g.mc - 1) / g.mc;
  const int threads = pool != nullptr ? pool->num_threads() : 1;
  // Split N finer only when M alone does not give every thread a couple of tasks.
  while (g.panels_per_task > 1 &&
         m_blocks * ((g.n_panels + g.panels_per_task - 1) / g.panels_per_task) < 2 * threads) {
    g.panels_per_task = (g.panels_per_task + 1) / 2;
  }
  g.n_tasks_per_row = (g.n_panels + g.panels_per_task - 1) / g.panels_per_task;
  const size_t a_pack_floats = size_t(g.mc) * size_t(g.kc);
  ParallelFor(pool, m_blocks * g.n_tasks_per_row, [&g, a_pack_floats](int64_t begin, int64_t end) {
    AlignedFloats a_pack = AllocateAligned(a_pack_floats);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t mb = t / g.n_tasks_per_row;
      const int64_t p0 = (t % g.n_tasks_per_row) * g.panels_per_task;
      RunTask(g, mb * g.mc, p0, std::min(g.n_panels, p0 + g.panels_per_task), a_pack.get());
    }
  });
}

}  // namespace refit::cpu
