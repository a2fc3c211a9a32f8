#include "backend/cpu/gemm_packed.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include <xmmintrin.h>

#include "backend/cpu/gemm_microkernel.h"
#include "backend/cpu/transpose_f32.h"

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

// Default cache blocking per kernel shape, best guess first per ISA. KC keeps the KC x NR slab of B
// that the micro-panels of A sweep over within L1 (32-48 KiB); MC x KC of packed A fits in L2.
// clang-format off
constexpr Blocking kKernels[] = {
    {GemmIsa::kAvx512, 12, 32, 256, 192},
    {GemmIsa::kAvx512, 8, 48, 192, 192},
    {GemmIsa::kAvx512, 6, 32, 256, 144},
    {GemmIsa::kAvx2, 6, 16, 256, 168},
    {GemmIsa::kAvx2, 4, 24, 256, 128},
};
// clang-format on

MicroKernelFn FindMicroKernel(const GemmKernelInfo& info, bool direct_a) {
  return info.isa == GemmIsa::kAvx512 ? internal::FindAvx512MicroKernel(info.mr, info.nr, direct_a)
                                      : internal::FindAvx2MicroKernel(info.mr, info.nr, direct_a);
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

// Packs one panel from a transposed source, scaled: panel[p][j] = src[j * ldb + p] * scale[j] for
// j < cols, zero for cols <= j < nr. Works in k blocks with 4x4 SSE transposes (SSE is baseline
// x86-64): the reads are short contiguous runs of `cols` rows and the writes stay within a few
// KiB, which also avoids the 4 KiB set aliasing a column-at-a-time walk hits when ldb is a power
// of two. Returns false when a value written is not finite (x - x is NaN exactly for a non-finite
// x; the bits of every such difference are OR-ed together).
bool PackScaledTransposedPanel(const float* src, int64_t ldb, int64_t k, int64_t cols, int64_t nr,
                               const float* scale, float* panel) {
  constexpr int64_t kBlock = 64;
  const int64_t cols4 = cols / 4 * 4;
  __m128 bad = _mm_setzero_ps();
  float bad_tail = 0.0f;
  for (int64_t p0 = 0; p0 < k; p0 += kBlock) {
    const int64_t p1 = std::min(k, p0 + kBlock);
    const int64_t p1_4 = p0 + (p1 - p0) / 4 * 4;
    for (int64_t j = 0; j < cols4; j += 4) {
      const float* s = src + j * ldb;
      const __m128 f0 = _mm_set1_ps(scale[j]), f1 = _mm_set1_ps(scale[j + 1]);
      const __m128 f2 = _mm_set1_ps(scale[j + 2]), f3 = _mm_set1_ps(scale[j + 3]);
      for (int64_t p = p0; p < p1_4; p += 4) {
        __m128 r0 = _mm_mul_ps(_mm_loadu_ps(s + p), f0);
        __m128 r1 = _mm_mul_ps(_mm_loadu_ps(s + ldb + p), f1);
        __m128 r2 = _mm_mul_ps(_mm_loadu_ps(s + 2 * ldb + p), f2);
        __m128 r3 = _mm_mul_ps(_mm_loadu_ps(s + 3 * ldb + p), f3);
        bad = _mm_or_ps(bad, _mm_or_ps(_mm_or_ps(_mm_sub_ps(r0, r0), _mm_sub_ps(r1, r1)),
                                       _mm_or_ps(_mm_sub_ps(r2, r2), _mm_sub_ps(r3, r3))));
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(panel + p * nr + j, r0);
        _mm_storeu_ps(panel + (p + 1) * nr + j, r1);
        _mm_storeu_ps(panel + (p + 2) * nr + j, r2);
        _mm_storeu_ps(panel + (p + 3) * nr + j, r3);
      }
      for (int64_t p = p1_4; p < p1; ++p) {
        for (int64_t jj = j; jj < j + 4; ++jj) {
          const float v = src[jj * ldb + p] * scale[jj];
          bad_tail += v - v;
          panel[p * nr + jj] = v;
        }
      }
    }
    for (int64_t j = cols4; j < cols; ++j) {
      for (int64_t p = p0; p < p1; ++p) {
        const float v = src[j * ldb + p] * scale[j];
        bad_tail += v - v;
        panel[p * nr + j] = v;
      }
    }
    for (int64_t p = p0; p < p1; ++p) std::fill(panel + p * nr + cols, panel + p * nr + nr, 0.0f);
  }
  return _mm_movemask_ps(_mm_cmpneq_ps(bad, _mm_setzero_ps())) == 0 && bad_tail == 0.0f;
}

// The same unscaled: the panel is the transpose of `cols` rows of B^T by TransposeF32 (8x8 AVX2
// blocks where this CPU has them; with `check`, the values checked in registers, false when one
// is not finite), and the columns past `cols` zeros.
bool PackTransposedPanel(const float* src, int64_t ldb, int64_t k, int64_t cols, int64_t nr,
                         float* panel, bool check) {
  bool finite = true;
  if (check) {
    finite = TransposeF32Finite(src, ldb, cols, k, panel, nr);
  } else {
    TransposeF32(src, ldb, cols, k, panel, nr);
  }
  if (cols < nr) {
    for (int64_t p = 0; p < k; ++p) std::fill(panel + p * nr + cols, panel + (p + 1) * nr, 0.0f);
  }
  return finite;
}

struct GemmPlan {
  MicroKernelFn packed_kernel;  // A from a packed panel
  MicroKernelFn direct_kernel;  // A in place; null when the tactic packs A
  int mr, nr;
  int64_t m, n, k, kc, mc;
  int64_t n_panels = 0, panels_per_task = 0, n_tasks_per_row = 0;
  const float* a;
  int64_t lda;
  const float* packed_b;  // panels (PackB), or with direct_b B itself, rows ldb floats apart
  bool direct_b = false;
  int64_t ldb = 0;
  const float* bias;
  float* c;
  int64_t ldc;
  int64_t vw;             // the kernel's vector width
  int64_t vector_stride;  // floats from one vector of a row of C to the next (vw: contiguous)
  Activation act;
  bool accumulate_c;  // the first K pass adds to C as well
  const float* row_bias;
};

// Tiles that stick out of C (or whose bias would be read past n) go through a full-size scratch
// tile, so the micro-kernels only ever handle whole MR x NR tiles.
void RunEdgeTile(const GemmPlan& g, MicroKernelFn kernel, int64_t kb, const float* a_panel,
                 const float* b_panel, int64_t ldb, float* c_tile, int64_t rows, int64_t cols,
                 TileEpilogue ep) {
  alignas(64) float tile[kMaxTile];
  alignas(64) float bias[kMaxTile];
  alignas(64) float row_bias[kMaxTile];
  // Row i's columns [j, j + n) of C, n within one vector (C may be column-blocked).
  auto c_at = [&](int64_t i, int64_t j) { return c_tile + i * g.ldc + j / g.vw * g.vector_stride; };
  if (ep.accumulate) {
    std::fill(tile, tile + g.mr * g.nr, 0.0f);  // the kernel reads the whole tile
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; j += g.vw) {
        std::memcpy(tile + i * g.nr + j, c_at(i, j), std::min(g.vw, cols - j) * sizeof(float));
      }
    }
  }
  if (ep.bias != nullptr) {
    std::memcpy(bias, ep.bias, cols * sizeof(float));
    std::fill(bias + cols, bias + g.nr, 0.0f);
    ep.bias = bias;
  }
  if (ep.row_bias != nullptr) {
    std::memcpy(row_bias, ep.row_bias, rows * sizeof(float));
    std::fill(row_bias + rows, row_bias + g.mr, 0.0f);
    ep.row_bias = row_bias;
  }
  TileEpilogue tile_ep = ep;
  tile_ep.vector_stride = g.vw;  // the scratch tile's rows are contiguous
  kernel(kb, a_panel, g.lda, b_panel, ldb, tile, g.nr, tile_ep);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; j += g.vw) {
      std::memcpy(c_at(i, j), tile + i * g.nr + j, std::min(g.vw, cols - j) * sizeof(float));
    }
  }
}

// One task: rows [row0, row0 + mc) of C times panels [p0, p1) of B, over all of K. With direct_b,
// a panel of whole NR columns is read from B in place; the ragged last one is packed into b_pack
// (kc x NR floats, zero-padded), so no kernel reads past B's last column.
void RunTask(const GemmPlan& g, int64_t row0, int64_t p0, int64_t p1, float* a_pack,
             float* b_pack) {
  const int64_t rows = std::min(g.mc, g.m - row0);
  int64_t k0 = 0;
  do {  // at least once, so k == 0 still writes act(bias)
    const int64_t kb = std::min(g.kc, g.k - k0);
    const float* a_block = g.a + row0 * g.lda + k0;
    const int64_t full_rows = rows / g.mr * g.mr;
    if (g.direct_kernel == nullptr) {
      PackA(a_block, g.lda, rows, kb, g.mr, a_pack);
    } else if (full_rows < rows) {
      // Direct A would read past the last row: the ragged panel alone is packed (zero-padded).
      PackA(a_block + full_rows * g.lda, g.lda, rows - full_rows, kb, g.mr, a_pack);
    }
    TileEpilogue ep{k0 > 0 || g.accumulate_c, k0 + kb >= g.k, nullptr, g.act};
    ep.vector_stride = g.vector_stride;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t col0 = p * g.nr;
      const int64_t cols = std::min<int64_t>(g.nr, g.n - col0);
      const float* b_panel = g.packed_b + p * g.k * g.nr + k0 * g.nr;
      int64_t ldb = g.nr;
      if (g.direct_b) {
        b_panel = g.packed_b + k0 * g.ldb + col0;
        ldb = g.ldb;
        if (cols < g.nr) {
          for (int64_t r = 0; r < kb; ++r) {
            std::memcpy(b_pack + r * g.nr, b_panel + r * g.ldb, cols * sizeof(float));
            std::fill(b_pack + r * g.nr + cols, b_pack + (r + 1) * g.nr, 0.0f);
          }
          b_panel = b_pack;
          ldb = g.nr;
        }
      }
      ep.bias = g.bias != nullptr ? g.bias + col0 : nullptr;
      for (int64_t i = 0; i < rows; i += g.mr) {
        float* c_tile = g.c + (row0 + i) * g.ldc + col0 / g.vw * g.vector_stride;
        const int64_t tile_rows = std::min<int64_t>(g.mr, rows - i);
        ep.row_bias = g.row_bias != nullptr ? g.row_bias + row0 + i : nullptr;
        const bool direct = g.direct_kernel != nullptr && i < full_rows;
        const MicroKernelFn kernel = direct ? g.direct_kernel : g.packed_kernel;
        const float* a_panel = direct                       ? a_block + i * g.lda
                               : g.direct_kernel != nullptr ? a_pack
                                                            : a_pack + i * kb;
        if (tile_rows == g.mr && cols == g.nr) {
          kernel(kb, a_panel, g.lda, b_panel, ldb, c_tile, g.ldc, ep);
        } else {
          RunEdgeTile(g, kernel, kb, a_panel, b_panel, ldb, c_tile, tile_rows, cols, ep);
        }
      }
    }
    k0 += kb;
  } while (k0 < g.k);
}

}  // namespace

std::string GemmKernelInfo::Name() const {
  return std::string(isa == GemmIsa::kAvx512 ? "avx512_" : "avx2_") + std::to_string(mr) + "x" +
         std::to_string(nr) + "_kc" + std::to_string(kc) + "_mc" + std::to_string(mc) +
         (pack_a ? "" : "_directa");
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
  if (FindMicroKernel(info, !info.pack_a) == nullptr) {
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

const std::vector<GemmKernelInfo>& DetectedGemmKernels() {
  static const std::vector<GemmKernelInfo> kernels = AvailableGemmKernels(DetectCpuFeatures());
  return kernels;
}

std::vector<GemmKernelInfo> AvailableGemmKernels(const CpuFeatures& cpu) {
  std::vector<GemmKernelInfo> out;
  for (const Blocking& b : kKernels) {
    for (bool pack_a : {true, false}) {
      GemmKernelInfo info{b.isa, b.mr, b.nr, b.kc, b.mc, pack_a};
      // The feature test first: CheckGemmKernel's message for a kernel this CPU cannot run costs
      // more than the rest of listing (every layer of every engine load lists these).
      if (cpu.Covers(info.RequiredFeatures()) && CheckGemmKernel(info, cpu).ok()) {
        out.push_back(info);
      }
    }
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
  if (!trans_b) {
    // A few rows at a time across every panel: each row of B is read front to back (a wide B
    // read panel by panel would stride by ldb on every row, missing the TLB and the prefetcher).
    constexpr int64_t kRows = 16;
    for (int64_t p0 = 0; p0 < k; p0 += kRows) {
      const int64_t p1 = std::min(k, p0 + kRows);
      for (int64_t col0 = 0; col0 < n; col0 += nr) {
        const int64_t cols = std::min(nr, n - col0);
        float* panel = packed + (col0 / nr) * k * nr;
        for (int64_t p = p0; p < p1; ++p) {
          float* dst = panel + p * nr;
          std::memcpy(dst, b + p * ldb + col0, cols * sizeof(float));
          std::fill(dst + cols, dst + nr, 0.0f);
        }
      }
    }
    return;
  }
  for (int64_t col0 = 0; col0 < n; col0 += nr) {
    const int64_t cols = std::min(nr, n - col0);
    PackTransposedPanel(b + col0 * ldb, ldb, k, cols, nr, packed, /*check=*/false);
    packed += k * nr;
  }
}

bool PackBScaledTransposed(const GemmKernelInfo& info, const float* b, int64_t ldb, int64_t k,
                           int64_t n, const float* scale, float* packed) {
  const int64_t nr = info.nr;
  bool finite = true;
  for (int64_t col0 = 0; col0 < n; col0 += nr) {
    const int64_t cols = std::min(nr, n - col0);
    finite &= scale != nullptr ? PackScaledTransposedPanel(b + col0 * ldb, ldb, k, cols, nr,
                                                           scale + col0, packed)
                               : PackTransposedPanel(b + col0 * ldb, ldb, k, cols, nr, packed,
                                                     /*check=*/true);
    packed += k * nr;
  }
  return finite;
}

namespace {

// GemmPacked, or with direct_b GemmDirectB (b: B itself, rows ldb floats apart).
void GemmImpl(const GemmKernelInfo& info, int64_t m, int64_t n, int64_t k, const float* a,
              int64_t lda, const float* b, bool direct_b, int64_t ldb, const float* bias, float* c,
              int64_t ldc, Activation act, ThreadPool* pool, bool accumulate_c,
              const float* row_bias, int64_t c_vector_stride) {
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
  GemmPlan g{.packed_kernel = FindMicroKernel(info, false),
             .direct_kernel = info.pack_a ? nullptr : FindMicroKernel(info, true),
             .mr = info.mr,
             .nr = info.nr,
             .m = m,
             .n = n,
             .k = k,
             .kc = kc,
             .mc = info.mc,
             .a = a,
             .lda = lda,
             .packed_b = b,
             .direct_b = direct_b,
             .ldb = ldb,
             .bias = bias,
             .c = c,
             .ldc = ldc,
             .vw = GemmVectorWidth(info),
             .vector_stride = c_vector_stride > 0 ? c_vector_stride : GemmVectorWidth(info),
             .act = act,
             .accumulate_c = accumulate_c,
             .row_bias = row_bias};
  g.n_panels = (n + g.nr - 1) / g.nr;
  g.panels_per_task = std::max<int64_t>(1, kNcColumns / g.nr);
  int64_t m_blocks = (m + g.mc - 1) / g.mc;
  // Below a few microseconds of work, waking another thread costs more than it saves.
  constexpr double kMinParallelFlops = 1 << 18;
  if (2.0 * double(m) * double(n) * double(k) < kMinParallelFlops) pool = nullptr;
  const int threads = pool != nullptr ? pool->num_threads() : 1;
  const auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  if (threads > 1) {
    // Blocks of A of equal size (160 rows as 80 + 80, not 128 + 32): the pool hands each thread
    // a contiguous run of tasks, so one short block leaves a thread idle. Neither the blocking
    // nor the task split changes any output bit: each element still sums K in the same passes.
    g.mc = std::min<int64_t>(g.mc, ceil_div(ceil_div(m, m_blocks), g.mr) * g.mr);
    m_blocks = ceil_div(m, g.mc);
  }
  // Split N finer only when M alone does not give every thread a couple of tasks.
  while (g.panels_per_task > 1 &&
         m_blocks * ceil_div(g.n_panels, g.panels_per_task) < 2 * threads) {
    g.panels_per_task = (g.panels_per_task + 1) / 2;
  }
  if (threads > 1) {
    // Tasks of equal width (131 panels as 33 + 33 + 33 + 32, not 42 + 42 + 42 + 5), and, while
    // there are few of them, as many as the threads divide evenly.
    int64_t n_tasks = ceil_div(g.n_panels, g.panels_per_task);
    while ((m_blocks * n_tasks) % threads != 0 && m_blocks * n_tasks < 8 * threads &&
           n_tasks < g.n_panels) {
      ++n_tasks;
    }
    g.panels_per_task = ceil_div(g.n_panels, n_tasks);
  }
  g.n_tasks_per_row = ceil_div(g.n_panels, g.panels_per_task);
  const size_t a_pack_floats = size_t(g.mc) * size_t(g.kc);
  const size_t b_pack_floats = direct_b ? size_t(g.kc) * size_t(g.nr) : 0;
  ParallelFor(pool, m_blocks * g.n_tasks_per_row,
              [&g, a_pack_floats, b_pack_floats](int64_t begin, int64_t end) {
                thread_local ScratchFloats pack;
                float* a = pack.Get(a_pack_floats + b_pack_floats);
                for (int64_t t = begin; t < end; ++t) {
                  const int64_t mb = t / g.n_tasks_per_row;
                  const int64_t p0 = (t % g.n_tasks_per_row) * g.panels_per_task;
                  RunTask(g, mb * g.mc, p0, std::min(g.n_panels, p0 + g.panels_per_task), a,
                          a + a_pack_floats);
                }
              });
}

}  // namespace

void GemmPacked(const GemmKernelInfo& info, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* packed_b, const float* bias, float* c, int64_t ldc,
                Activation act, ThreadPool* pool, bool accumulate_c, const float* row_bias,
                int64_t c_vector_stride) {
  GemmImpl(info, m, n, k, a, lda, packed_b, /*direct_b=*/false, info.nr, bias, c, ldc, act, pool,
           accumulate_c, row_bias, c_vector_stride);
}

int GemmVectorWidth(const GemmKernelInfo& info) { return info.isa == GemmIsa::kAvx512 ? 16 : 8; }

void GemmDirectB(const GemmKernelInfo& info, int64_t m, int64_t n, int64_t k, const float* a,
                 int64_t lda, const float* b, int64_t ldb, const float* bias, float* c, int64_t ldc,
                 Activation act, ThreadPool* pool, bool accumulate_c, const float* row_bias) {
  GemmImpl(info, m, n, k, a, lda, b, /*direct_b=*/true, ldb, bias, c, ldc, act, pool, accumulate_c,
           row_bias, /*c_vector_stride=*/0);
}

void RunUnits(ThreadPool* pool, int64_t units, size_t scratch_floats, float* workspace,
              const std::function<void(int64_t, float*, ThreadPool*)>& fn) {
  const int threads = pool != nullptr ? pool->num_threads() : 1;
  if (threads > 1 && units >= threads && (units % threads == 0 || units >= 4 * threads)) {
    ParallelFor(pool, threads, [&](int64_t begin, int64_t end) {
      thread_local ScratchFloats unit_scratch;
      float* mine = unit_scratch.Get(scratch_floats);
      for (int64_t t = begin; t < end; ++t) {
        for (int64_t u = units * t / threads; u < units * (t + 1) / threads; ++u) {
          fn(u, mine, nullptr);
        }
      }
    });
    return;
  }
  for (int64_t u = 0; u < units; ++u) fn(u, workspace, pool);
}

void ScratchFloats::Free::operator()(float* p) const {
  ::operator delete[](p, std::align_val_t(64));
}

float* ScratchFloats::Get(size_t floats) {
  floats = std::max<size_t>(floats, 1);
  if (capacity_ < floats) {
    buffer_.reset(new (std::align_val_t(64)) float[floats]);
    capacity_ = floats;
  }
  return buffer_.get();
}

}  // namespace refit::cpu
