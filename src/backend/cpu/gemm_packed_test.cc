#include "backend/cpu/gemm_packed.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "backend/reference/ref_gemm.h"

namespace refit::cpu {

// gtest prints parameters with this instead of raw bytes.
void PrintTo(const GemmKernelInfo& info, std::ostream* os) { *os << info.Name(); }

namespace {

constexpr int64_t kDims[] = {1, 3, 7, 16, 17, 33, 64, 65, 127, 255};
constexpr float kPadSentinel = 12345.0f;

std::vector<float> RandomVector(size_t count, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(gen);
  return v;
}

float ApplyAct(float x, Activation act) {
  if (act == Activation::kNone || std::isnan(x)) return x;
  x = x < 0.0f ? 0.0f : x;
  return act == Activation::kRelu6 && x > 6.0f ? 6.0f : x;
}

ThreadPool* TwoThreads() {
  static ThreadPool* pool = new ThreadPool(2);
  return pool;
}

struct GemmCase {
  int64_t m, n, k;
  bool trans_b = false;
  bool bias = false;
  Activation act = Activation::kNone;
  int threads = 1;
  int64_t lda_pad = 0, ldb_pad = 0, ldc_pad = 0;
};

std::string Describe(const GemmCase& c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " trans_b=" + std::to_string(c.trans_b) + " bias=" + std::to_string(c.bias) +
         " act=" + std::to_string(int(c.act)) + " threads=" + std::to_string(c.threads) +
         " pads=" + std::to_string(c.lda_pad) + "," + std::to_string(c.ldb_pad) + "," +
         std::to_string(c.ldc_pad);
}

// Runs one case through PackB + GemmPacked and compares with the reference GEMM; returns the
// number of mismatching elements (reporting the first).
int64_t CheckCase(const GemmKernelInfo& info, const GemmCase& c, uint32_t seed) {
  const int64_t lda = c.k + c.lda_pad, ldc = c.n + c.ldc_pad;
  const int64_t b_rows = c.trans_b ? c.n : c.k, b_cols = c.trans_b ? c.k : c.n;
  const int64_t ldb = b_cols + c.ldb_pad;
  const std::vector<float> a = RandomVector(c.m * lda, seed);
  const std::vector<float> b = RandomVector(b_rows * ldb, seed + 1);
  const std::vector<float> bias = RandomVector(c.n, seed + 2);

  std::vector<float> packed(PackedBSize(info, c.k, c.n));
  PackB(info, b.data(), ldb, c.trans_b, c.k, c.n, packed.data());
  std::vector<float> out(c.m * ldc, kPadSentinel);
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) out[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
  }
  GemmPacked(info, c.m, c.n, c.k, a.data(), lda, packed.data(), c.bias ? bias.data() : nullptr,
             out.data(), ldc, c.act, c.threads == 1 ? nullptr : TwoThreads());

  // Oracle: dense copies through RefGemm, plus sum_k |a||b| for the error bound.
  std::vector<float> a_dense(c.m * c.k), b_dense(b_rows * b_cols);
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t p = 0; p < c.k; ++p) a_dense[i * c.k + p] = a[i * lda + p];
  }
  for (int64_t i = 0; i < b_rows; ++i) {
    for (int64_t j = 0; j < b_cols; ++j) b_dense[i * b_cols + j] = b[i * ldb + j];
  }
  std::vector<float> ref(c.m * c.n), mag(c.m * c.n);
  reference::RefGemm(nullptr, false, c.trans_b, c.m, c.n, c.k, a_dense.data(), b_dense.data(),
                     ref.data());
  for (float& x : a_dense) x = std::fabs(x);
  for (float& x : b_dense) x = std::fabs(x);
  reference::RefGemm(nullptr, false, c.trans_b, c.m, c.n, c.k, a_dense.data(), b_dense.data(),
                     mag.data());

  int64_t bad = 0;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = out[i * ldc + j];
      if (j >= c.n) {
        if (got != kPadSentinel && bad++ == 0) {
          ADD_FAILURE() << Describe(c) << ": wrote padding C[" << i << "][" << j << "]";
        }
        continue;
      }
      const float bias_j = c.bias ? bias[j] : 0.0f;
      const float want = ApplyAct(ref[i * c.n + j] + bias_j, c.act);
      // Summation order differs; the bias add may round once more.
      const float tol = 1e-4f * (mag[i * c.n + j] + std::fabs(bias_j)) + 1e-30f;
      if (!(std::fabs(got - want) <= tol) && bad++ == 0) {
        ADD_FAILURE() << Describe(c) << ": C[" << i << "][" << j << "] = " << got << ", want "
                      << want << " (tolerance " << tol << ")";
      }
    }
  }
  return bad;
}

class GemmKernelTest : public testing::TestWithParam<GemmKernelInfo> {};

// Every M, N, K edge combination, both B layouts; bias, activation, threads and strides rotate
// with the shape so that each is exercised on small and large, aligned and ragged shapes.
TEST_P(GemmKernelTest, MatchesReferenceOnEdgeShapes) {
  const GemmKernelInfo& info = GetParam();
  int64_t failures = 0;
  uint32_t index = 0;
  for (int64_t m : kDims) {
    for (int64_t n : kDims) {
      for (int64_t k : kDims) {
        for (bool trans_b : {false, true}) {
          GemmCase c{m, n, k, trans_b};
          const uint32_t r = index * 2654435761u >> 7;  // decorrelate options from the dims
          c.bias = r & 1;
          c.act = static_cast<Activation>((r >> 1) % 3);
          c.threads = 1 + int((r >> 3) & 1);
          c.lda_pad = (r >> 4) % 3 == 0 ? 0 : 5;
          c.ldb_pad = (r >> 6) & 1 ? 0 : 3;
          c.ldc_pad = (r >> 7) & 1 ? 0 : 7;
          failures += CheckCase(info, c, 1000 + index) > 0;
          ++index;
          if (failures > 5) FAIL() << "stopping after " << failures << " failing shapes";
        }
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

// The full cross product of options on a few ragged shapes.
TEST_P(GemmKernelTest, MatchesReferenceForEveryOption) {
  const GemmKernelInfo& info = GetParam();
  const int64_t shapes[][3] = {{17, 33, 65}, {255, 127, 7}, {1, 65, 255}, {64, 64, 64}};
  uint32_t seed = 7;
  for (const auto& s : shapes) {
    for (bool trans_b : {false, true}) {
      for (bool bias : {false, true}) {
        for (Activation act : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
          for (int threads : {1, 2}) {
            GemmCase c{s[0], s[1], s[2], trans_b, bias, act, threads, 2, 1, 9};
            EXPECT_EQ(CheckCase(info, c, seed++), 0);
          }
        }
      }
    }
  }
}

// Large enough that K spans several KC passes and M several MC blocks.
TEST_P(GemmKernelTest, MatchesReferenceAcrossCacheBlocks) {
  const GemmKernelInfo& info = GetParam();
  GemmCase c{2 * info.mc + 5, 3 * info.nr + 1, 2 * info.kc + 3, false, true, Activation::kRelu6, 2};
  EXPECT_EQ(CheckCase(info, c, 99), 0);
  c.trans_b = true;
  c.threads = 1;
  EXPECT_EQ(CheckCase(info, c, 100), 0);
}

TEST_P(GemmKernelTest, ResultDoesNotDependOnThreadCount) {
  const GemmKernelInfo& info = GetParam();
  const int64_t m = 255, n = 127, k = 2 * info.kc + 1;
  const std::vector<float> a = RandomVector(m * k, 3), b = RandomVector(k * n, 4);
  std::vector<float> packed(PackedBSize(info, k, n));
  PackB(info, b.data(), n, false, k, n, packed.data());
  std::vector<float> c1(m * n), c2(m * n);
  GemmPacked(info, m, n, k, a.data(), k, packed.data(), nullptr, c1.data(), n, Activation::kNone,
             nullptr);
  GemmPacked(info, m, n, k, a.data(), k, packed.data(), nullptr, c2.data(), n, Activation::kNone,
             TwoThreads());
  EXPECT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)), 0);
}

TEST_P(GemmKernelTest, EmptyKGivesActivatedBias) {
  const GemmKernelInfo& info = GetParam();
  const std::vector<float> bias = {-1.0f, 0.5f, 7.0f};
  std::vector<float> c(2 * 3, 99.0f);
  GemmPacked(info, 2, 3, 0, nullptr, 0, nullptr, bias.data(), c.data(), 3, Activation::kRelu6,
             nullptr);
  EXPECT_EQ(c, (std::vector<float>{0.0f, 0.5f, 6.0f, 0.0f, 0.5f, 6.0f}));
}

// accumulate_c adds A * B to what C holds (a per-row bias here), across several K passes and
// edge tiles, before the column bias and the activation; padding past n stays untouched.
TEST_P(GemmKernelTest, AccumulatesIntoC) {
  const GemmKernelInfo& info = GetParam();
  for (int64_t k : {int64_t{0}, int64_t{7}, 2 * int64_t{info.kc} + 3}) {
    for (int threads : {1, 2}) {
      const int64_t m = info.mr + 3, n = 2 * info.nr + 5, ldc = n + 2;
      const std::vector<float> a = RandomVector(m * k, 21), b = RandomVector(k * n, 22);
      const std::vector<float> row_bias = RandomVector(m, 23), col_bias = RandomVector(n, 24);
      std::vector<float> packed(PackedBSize(info, k, n));
      PackB(info, b.data(), n, false, k, n, packed.data());
      std::vector<float> c(m * ldc, kPadSentinel);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = row_bias[i];
      }
      GemmPacked(info, m, n, k, a.data(), k, packed.data(), col_bias.data(), c.data(), ldc,
                 Activation::kRelu, threads == 1 ? nullptr : TwoThreads(), /*accumulate_c=*/true);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < ldc; ++j) {
          if (j >= n) {
            ASSERT_EQ(c[i * ldc + j], kPadSentinel) << "i=" << i << " j=" << j;
            continue;
          }
          double sum = row_bias[i] + col_bias[j], mag = 2;
          for (int64_t p = 0; p < k; ++p) {
            sum += double(a[i * k + p]) * b[p * n + j];
            mag += std::fabs(a[i * k + p] * b[p * n + j]);
          }
          ASSERT_NEAR(c[i * ldc + j], std::max(sum, 0.0), 1e-5 * mag)
              << "k=" << k << " threads=" << threads << " i=" << i << " j=" << j;
        }
      }
    }
  }
}

// row_bias adds one value per row of C in the last K pass, beside the column bias, over edge
// tiles (m not a multiple of MR), two row blocks and several K passes, with and without
// accumulating into C.
TEST_P(GemmKernelTest, RowBias) {
  const GemmKernelInfo& info = GetParam();
  for (int64_t k : {int64_t{0}, int64_t{7}, 2 * int64_t{info.kc} + 3}) {
    for (bool accumulate : {false, true}) {
      for (int threads : {1, 2}) {
        const int64_t m = info.mc + 2 * info.mr + 1, n = info.nr + 5, ldc = n + 2;  // 2 blocks
        const std::vector<float> a = RandomVector(m * k, 31), b = RandomVector(k * n, 32);
        const std::vector<float> row_bias = RandomVector(m, 33), col_bias = RandomVector(n, 34);
        const std::vector<float> c0 = RandomVector(m * ldc, 35);
        std::vector<float> packed(PackedBSize(info, k, n));
        PackB(info, b.data(), n, false, k, n, packed.data());
        std::vector<float> c(m * ldc, kPadSentinel);
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            c[i * ldc + j] = accumulate ? c0[i * ldc + j] : std::numeric_limits<float>::quiet_NaN();
          }
        }
        GemmPacked(info, m, n, k, a.data(), k, packed.data(), col_bias.data(), c.data(), ldc,
                   Activation::kRelu6, threads == 1 ? nullptr : TwoThreads(), accumulate,
                   row_bias.data());
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < ldc; ++j) {
            if (j >= n) {
              ASSERT_EQ(c[i * ldc + j], kPadSentinel) << "i=" << i << " j=" << j;
              continue;
            }
            double sum = row_bias[i] + col_bias[j] + (accumulate ? c0[i * ldc + j] : 0.0);
            double mag = 3;
            for (int64_t p = 0; p < k; ++p) {
              sum += double(a[i * k + p]) * b[p * n + j];
              mag += std::fabs(a[i * k + p] * b[p * n + j]);
            }
            ASSERT_NEAR(c[i * ldc + j], std::clamp(sum, 0.0, 6.0), 1e-5 * mag)
                << "k=" << k << " accumulate=" << accumulate << " threads=" << threads << " i=" << i
                << " j=" << j;
          }
        }
      }
    }
  }
}

// GemmDirectB reads B in place: the same bits as PackB + GemmPacked, for ragged last panels, row
// strides past n, several K passes and M blocks, every epilogue option and both thread counts;
// and it never reads B past its last column (B sits at the end of its buffer).
TEST_P(GemmKernelTest, DirectBMatchesPackedB) {
  const GemmKernelInfo& info = GetParam();
  const int64_t ms[] = {1, int64_t{info.mr}, info.mc + 2 * info.mr + 1};
  const int64_t ns[] = {1, int64_t{info.nr}, 3 * int64_t{info.nr} + 5};
  const int64_t ks[] = {0, 7, 2 * int64_t{info.kc} + 3};
  int cases = 0;
  for (int64_t m : ms) {
    for (int64_t n : ns) {
      for (int64_t k : ks) {
        const int variant = cases++;
        const int64_t ldb = n + (variant % 3 == 0 ? 0 : 9), ldc = n + 2;
        const bool accumulate = variant % 2 == 1, bias = variant % 4 < 2;
        const Activation act = variant % 3 == 1 ? Activation::kRelu : Activation::kNone;
        ThreadPool* pool = variant % 5 < 2 ? nullptr : TwoThreads();
        const std::vector<float> a = RandomVector(m * k, 41);
        // B's last row ends exactly at the end of the vector (no slack past column n).
        std::vector<float> b = RandomVector(k == 0 ? 0 : (k - 1) * ldb + n, 42);
        const std::vector<float> row_bias = RandomVector(m, 43), col_bias = RandomVector(n, 44);
        const std::vector<float> c0 = RandomVector(m * ldc, 45);
        std::vector<float> packed(PackedBSize(info, k, n));
        PackB(info, b.data(), ldb, false, k, n, packed.data());
        std::vector<float> want(c0), got(c0);
        GemmPacked(info, m, n, k, a.data(), k, packed.data(), bias ? col_bias.data() : nullptr,
                   want.data(), ldc, act, pool, accumulate, row_bias.data());
        GemmDirectB(info, m, n, k, a.data(), k, b.data(), ldb, bias ? col_bias.data() : nullptr,
                    got.data(), ldc, act, pool, accumulate, row_bias.data());
        ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
            << "m=" << m << " n=" << n << " k=" << k << " ldb=" << ldb;
      }
    }
  }
}

// A column-blocked C (c_vector_stride): every element exactly where the plain GEMM puts it, moved
// to (j / V) * stride + i * V + j % V; nothing else written (the gaps keep their poison).
TEST_P(GemmKernelTest, ColumnBlockedCMatchesPlainC) {
  const GemmKernelInfo& info = GetParam();
  const int64_t v = GemmVectorWidth(info);
  const int64_t ms[] = {1, int64_t{info.mr} + 1, info.mc + 2 * info.mr + 1};
  const int64_t ns[] = {v, int64_t{info.nr}, 3 * int64_t{info.nr} + v, int64_t{info.nr} + 3};
  const int64_t ks[] = {0, 7, 2 * int64_t{info.kc} + 3};
  int cases = 0;
  for (int64_t m : ms) {
    for (int64_t n : ns) {
      for (int64_t k : ks) {
        const int variant = cases++;
        const bool accumulate = variant % 2 == 1, bias = variant % 4 < 2;
        const Activation act = variant % 3 == 1 ? Activation::kRelu6 : Activation::kNone;
        ThreadPool* pool = variant % 5 < 2 ? nullptr : TwoThreads();
        const int64_t blocks = (n + v - 1) / v, stride = m * v + 8;  // a gap between blocks
        const std::vector<float> a = RandomVector(m * k, 51), b = RandomVector(k * n, 52);
        const std::vector<float> row_bias = RandomVector(m, 53), col_bias = RandomVector(n, 54);
        const std::vector<float> c0 = RandomVector(m * n, 55);
        std::vector<float> packed(PackedBSize(info, k, n));
        PackB(info, b.data(), n, false, k, n, packed.data());
        std::vector<float> want(c0);
        std::vector<float> got(size_t(blocks * stride), 1e30f);
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) got[j / v * stride + i * v + j % v] = c0[i * n + j];
        }
        GemmPacked(info, m, n, k, a.data(), k, packed.data(), bias ? col_bias.data() : nullptr,
                   want.data(), n, act, pool, accumulate, row_bias.data());
        GemmPacked(info, m, n, k, a.data(), k, packed.data(), bias ? col_bias.data() : nullptr,
                   got.data(), v, act, pool, accumulate, row_bias.data(), stride);
        int64_t wrong = 0, touched = 0;
        std::vector<bool> is_element(got.size(), false);
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            const int64_t at = j / v * stride + i * v + j % v;
            is_element[size_t(at)] = true;
            wrong += std::memcmp(&got[at], &want[i * n + j], sizeof(float)) != 0;
          }
        }
        for (size_t x = 0; x < got.size(); ++x) touched += !is_element[x] && got[x] != 1e30f;
        ASSERT_EQ(wrong, 0) << "m=" << m << " n=" << n << " k=" << k;
        ASSERT_EQ(touched, 0) << "m=" << m << " n=" << n << " k=" << k << ": gaps written";
      }
    }
  }
}

TEST_P(GemmKernelTest, NanPropagatesThroughActivation) {
  const GemmKernelInfo& info = GetParam();
  std::vector<float> a = {std::numeric_limits<float>::quiet_NaN(), 1.0f};  // 2 x 1
  const std::vector<float> b = {2.0f};                                     // 1 x 1
  std::vector<float> packed(PackedBSize(info, 1, 1));
  PackB(info, b.data(), 1, false, 1, 1, packed.data());
  for (Activation act : {Activation::kRelu, Activation::kRelu6}) {
    std::vector<float> c(2, 0.0f);
    GemmPacked(info, 2, 1, 1, a.data(), 1, packed.data(), nullptr, c.data(), 1, act, nullptr);
    EXPECT_TRUE(std::isnan(c[0]));
    EXPECT_EQ(c[1], 2.0f);
  }
}

TEST_P(GemmKernelTest, PackingIsDeterministicAndFollowsTheLayout) {
  const GemmKernelInfo& info = GetParam();
  const int64_t k = 5, n = info.nr + 3;
  const std::vector<float> b = RandomVector(k * n, 11);
  std::vector<float> first(PackedBSize(info, k, n), 1.0f), second(first.size(), -2.0f);
  ASSERT_EQ(first.size(), size_t(2 * k * info.nr));
  PackB(info, b.data(), n, false, k, n, first.data());
  PackB(info, b.data(), n, false, k, n, second.data());
  EXPECT_EQ(first, second);
  for (int64_t p = 0; p < k; ++p) {
    for (int64_t j = 0; j < 2 * info.nr; ++j) {
      const float want = j < n ? b[p * n + j] : 0.0f;
      ASSERT_EQ(first[(j / info.nr) * k * info.nr + p * info.nr + j % info.nr], want)
          << "k=" << p << " column=" << j;
    }
  }
  // The transposed source packs to the same bytes.
  std::vector<float> bt(n * k), third(first.size(), 3.0f);
  for (int64_t p = 0; p < k; ++p) {
    for (int64_t j = 0; j < n; ++j) bt[j * k + p] = b[p * n + j];
  }
  PackB(info, bt.data(), k, true, k, n, third.data());
  EXPECT_EQ(first, third);
}

// PackBScaledTransposed against PackB of the product computed first, bit for bit: k and n across
// the transpose's 8x8 blocks and 64-row k blocks with ragged ends, a row stride past k, with and
// without scale. A NaN or infinity anywhere in the source is reported (and still packed).
TEST_P(GemmKernelTest, ScaledTransposedPackMatchesPackOfTheProduct) {
  const GemmKernelInfo& info = GetParam();
  for (const auto& [k, n] : {std::pair<int64_t, int64_t>{1, 1},
                             {7, 5},
                             {8, 8},
                             {65, 19},
                             {130, info.nr + 9},
                             {200, 3 * info.nr}}) {
    SCOPED_TRACE("k=" + std::to_string(k) + " n=" + std::to_string(n));
    const int64_t ldb = k + 3;
    const std::vector<float> s = RandomVector(size_t(n * ldb), 21);  // n x k, rows ldb apart
    std::vector<float> scale = RandomVector(size_t(n), 22);
    for (const bool scaled : {false, true}) {
      std::vector<float> product(size_t(k * n));  // k x n: B = (diag(scale) S)^T
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t p = 0; p < k; ++p) {
          product[p * n + j] = scaled ? s[j * ldb + p] * scale[j] : s[j * ldb + p];
        }
      }
      std::vector<float> want(PackedBSize(info, k, n), 7.0f), got(want.size(), -7.0f);
      PackB(info, product.data(), n, false, k, n, want.data());
      EXPECT_TRUE(PackBScaledTransposed(info, s.data(), ldb, k, n, scaled ? scale.data() : nullptr,
                                        got.data()));
      ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
    }
    for (const float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      std::vector<float> with_bad = s;
      with_bad[(n - 1) * ldb + (k - 1)] = bad;  // the last element packed
      std::vector<float> got(PackedBSize(info, k, n));
      EXPECT_FALSE(PackBScaledTransposed(info, with_bad.data(), ldb, k, n, nullptr, got.data()));
      // A finite value times a scale can overflow: reported too.
      std::vector<float> big = s;
      big[0] = 3e38f;
      std::vector<float> ten(size_t(n), 10.0f);
      EXPECT_FALSE(PackBScaledTransposed(info, big.data(), ldb, k, n, ten.data(), got.data()));
    }
  }
}

std::string KernelName(const testing::TestParamInfo<GemmKernelInfo>& info) {
  return info.param.Name();
}

INSTANTIATE_TEST_SUITE_P(Available, GemmKernelTest,
                         testing::ValuesIn(AvailableGemmKernels(DetectCpuFeatures())), KernelName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GemmKernelTest);

TEST(GemmKernelsTest, TwoBlockingsPerSupportedIsa) {
  const CpuFeatures& cpu = DetectCpuFeatures();
  int avx2 = 0, avx512 = 0;
  for (const GemmKernelInfo& info : AvailableGemmKernels(cpu)) {
    (info.isa == GemmIsa::kAvx2 ? avx2 : avx512)++;
    EXPECT_TRUE(cpu.Covers(info.RequiredFeatures())) << info.Name();
  }
  if (cpu.avx2 && cpu.fma) {
    EXPECT_GE(avx2, 2);
  }
  if (cpu.avx512f && cpu.avx512bw && cpu.avx512dq && cpu.avx512vl) {
    EXPECT_GE(avx512, 2);
  }
  EXPECT_TRUE(AvailableGemmKernels(CpuFeatures()).empty());
}

TEST(GemmKernelsTest, CheckRejectsWhatCannotRun) {
  CpuFeatures all;
  all.avx = all.avx2 = all.fma = true;
  all.avx512f = all.avx512bw = all.avx512dq = all.avx512vl = true;
  const GemmKernelInfo good{GemmIsa::kAvx2, 6, 16, 256, 168};
  EXPECT_EQ(good.Name(), "avx2_6x16_kc256_mc168");
  EXPECT_EQ(good.RequiredFeatures().ToString(), "avx,avx2,fma");
  EXPECT_TRUE(CheckGemmKernel(good, all).ok());
  EXPECT_FALSE(CheckGemmKernel({GemmIsa::kAvx2, 5, 16, 256, 165}, all).ok());  // no 5x16
  EXPECT_FALSE(CheckGemmKernel({GemmIsa::kAvx2, 6, 16, 256, 100}, all).ok());  // mc % mr
  EXPECT_FALSE(CheckGemmKernel({GemmIsa::kAvx2, 6, 16, 0, 168}, all).ok());    // kc
  const Status missing = CheckGemmKernel({GemmIsa::kAvx512, 12, 32, 384, 192}, CpuFeatures());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("avx512f"), std::string::npos) << missing.ToString();
}

}  // namespace
}  // namespace refit::cpu
