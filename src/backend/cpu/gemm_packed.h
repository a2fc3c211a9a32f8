// Packed f32 GEMM with our own register-blocked micro-kernels: the CPU backend's "own" GEMM
// tactics.
//
// C[m x n] = act(A[m x k] * B[k x n] + bias[n]), row-major, f32 throughout.
//
// B is the weight: it is packed once, at build or refit time, into the layout of one micro-kernel
// (PackB) and then used by every run (GemmPacked). The layout depends only on the kernel's NR, so
// kernels that share NR share packed weights; it does not depend on KC, MC or the thread count.
// Packed layout: ceil(n / NR) panels, panel p holding columns [p*NR, p*NR + NR) as k rows of NR
// consecutive floats (K-major); columns past n are zero.
//
// Results do not depend on the thread count: every element of C is summed in the same order
// whatever the pool (a tile belongs to exactly one task). Summation order differs from a naive
// GEMM, so compare with a tolerance proportional to sum_k |a||b|.
//
// Thread safety: all functions are reentrant; GemmPacked may run concurrently on the same packed B.
// It must not be called from inside a ParallelFor on the same pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "base/thread_pool.h"
#include "refit/status.h"

namespace refit::cpu {

enum class GemmIsa { kAvx2, kAvx512 };

// Fused epilogue applied after the bias. kRelu6 clips to [0, 6]. NaN propagates through both.
enum class Activation { kNone, kRelu, kRelu6 };

// Names one micro-kernel and its cache blocking; recorded in the engine as the tactic.
struct GemmKernelInfo {
  GemmIsa isa = GemmIsa::kAvx2;
  int mr = 0;  // rows of C per micro-tile
  int nr = 0;  // columns of C per micro-tile (a multiple of the vector width)
  int kc = 0;  // depth of one pass over K; the packed A block is mc x kc
  int mc = 0;  // rows of A per block (packed into mc x kc when pack_a); a multiple of mr
  // Pack each mc x kc block of A into MR-row panels first (pays off when many NR panels reuse it);
  // otherwise the micro-kernel reads A in place, which wins when n spans only a few panels.
  bool pack_a = true;

  // Stable identifier, e.g. "avx512_12x32_kc256_mc192", "avx2_6x16_kc256_mc168_directa".
  std::string Name() const;
  // The features a CPU needs to run this kernel.
  CpuFeatures RequiredFeatures() const;
  bool operator==(const GemmKernelInfo&) const = default;
};

// OK when this build has a micro-kernel for (isa, mr, nr), kc > 0, mc is a positive multiple of mr,
// and `cpu` covers the kernel's features. Call it on every GemmKernelInfo read from an engine file.
Status CheckGemmKernel(const GemmKernelInfo& info, const CpuFeatures& cpu);

// Every kernel (with its default KC, MC) that `cpu` can run, best guess first.
std::vector<GemmKernelInfo> AvailableGemmKernels(const CpuFeatures& cpu);
// AvailableGemmKernels(DetectCpuFeatures()), listed once per process: every GEMM and convolution
// layer of every build and engine load lists them.
const std::vector<GemmKernelInfo>& DetectedGemmKernels();

// A growing, 64-byte aligned float buffer kept across calls. Declared `thread_local`, one per
// use, it gives each thread scratch of its own without a heap allocation on the hot path.
class ScratchFloats {
 public:
  // At least `floats` floats (at least one); the contents are not kept when it grows.
  float* Get(size_t floats);

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float[], Free> buffer_;
  size_t capacity_ = 0;
};

// Runs fn(unit, scratch, inner_pool) for every unit in [0, units) (a convolution's images, or
// chunks of them). With a pool of several threads and units that share evenly over them (a
// multiple of the thread count, or at least four per thread), each thread takes a contiguous run
// of whole units with a thread_local scratch of `scratch_floats` floats and a null inner_pool: one
// fork-join for the layer. Otherwise the units run one after another on the calling thread with
// `workspace` (at least scratch_floats floats) as scratch and inner_pool = pool, which then shares
// each unit's own work. Must not be called from inside a ParallelFor on the same pool.
void RunUnits(ThreadPool* pool, int64_t units, size_t scratch_floats, float* workspace,
              const std::function<void(int64_t, float*, ThreadPool*)>& fn);

// Number of floats (not bytes) PackB writes for a k x n weight.
size_t PackedBSize(const GemmKernelInfo& info, int64_t k, int64_t n);

// Packs op(B) (k x n) into `packed` (PackedBSize floats, 64-byte alignment recommended). B is
// stored k x n with row stride ldb >= n, or n x k with ldb >= k when trans_b. Deterministic: every
// float of `packed` is written, padding included. Needs no particular CPU features.
void PackB(const GemmKernelInfo& info, const float* b, int64_t ldb, bool trans_b, int64_t k,
           int64_t n, float* packed);

// PackB with trans_b for B = (diag(scale) * S)^T, S stored n x k with row stride ldb >= k: row j
// of S (column j of B) times scale[j], scaled while packed (S itself when scale is null). Exactly
// PackB's bytes for the product computed first. Returns false when a value packed is not finite
// (`packed` then holds it), so a refit needs no separate scan of S.
bool PackBScaledTransposed(const GemmKernelInfo& info, const float* b, int64_t ldb, int64_t k,
                           int64_t n, const float* scale, float* packed);

// C = act(A * B + row_bias + bias), or with accumulate_c, C = act(C + A * B + row_bias + bias)
// (C read first). `row_bias` has m floats (one per row of C: a convolution's per-output-channel
// bias) or is null; `bias` has n floats or is null. A is m x k with row stride lda >= k; C is
// m x n with ldc >= n; only the first n columns of each row of C are read and written. `packed_b`
// came from PackB with a kernel of the same NR (or any writer of that layout). Preconditions:
// CheckGemmKernel(info, DetectCpuFeatures()) is OK (violations abort); C overlaps neither A nor
// packed_b. k == 0 gives C = act(row_bias + bias) (act(C + row_bias + bias) when accumulating).
// `c_vector_stride` > 0: C is column-blocked by the kernel's vector width V (GemmVectorWidth):
// element (i, j) at c + (j / V) * c_vector_stride + i * ldc + j % V (ldc then usually V), as a
// convolution's NCHW16c output is with C = [pixels x channels], V = 16, c_vector_stride = 16 * HW.
void GemmPacked(const GemmKernelInfo& info, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* packed_b, const float* bias, float* c, int64_t ldc,
                Activation act, ThreadPool* pool, bool accumulate_c = false,
                const float* row_bias = nullptr, int64_t c_vector_stride = 0);

// Floats per vector of the kernel's ISA: 16 (AVX-512) or 8 (AVX2).
int GemmVectorWidth(const GemmKernelInfo& info);

// GemmPacked with B (k x n, row stride ldb >= n) read in place instead of packed: for a B used
// once (an activation, as a pointwise convolution's input) packing costs a whole extra pass over
// it. Panels of whole NR columns are read straight from B (k rows, ldb apart); the ragged last
// one is copied into a small zero-padded buffer. Exactly GemmPacked's result for PackB(B) (the
// same products, summed in the same order). B must not overlap C.
void GemmDirectB(const GemmKernelInfo& info, int64_t m, int64_t n, int64_t k, const float* a,
                 int64_t lda, const float* b, int64_t ldb, const float* bias, float* c, int64_t ldc,
                 Activation act, ThreadPool* pool, bool accumulate_c = false,
                 const float* row_bias = nullptr);

}  // namespace refit::cpu
