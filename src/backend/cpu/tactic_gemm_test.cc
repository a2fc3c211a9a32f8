// Conformance of every CPU Gemm / MatMul tactic against the reference kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"
#include "backend/cpu/tactic_test_util.h"
#include "ir/fused_ops.h"

// Cases are designated initializers that name only what differs from the defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu::testing {
namespace {

using ir::ActivationKind;

ir::Attribute IntAttr(int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  return a;
}
ir::Attribute FloatAttr(float v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloat;
  a.f = v;
  return a;
}

// Tactics expected for a layer: one per packed kernel, one per direct-A kernel reading an
// activation B in place (_directb), OpenBLAS, and oneDNN for a 2-D weight B.
int ExpectedTactics(bool dnnl, bool direct_b) {
  int kernels = 0, direct_a = 0;
  for (const GemmKernelInfo& info : AvailableGemmKernels(DetectCpuFeatures())) {
    ++kernels;
    direct_a += !info.pack_a;
  }
  return kernels + (direct_b ? direct_a : 0) + 1 + (dnnl ? 1 : 0);
}

// With alpha 1, oneDNN also gets B in the weight's own layout when it prefers another one (on
// AVX2, always for transB = 1): one more tactic.
void ExpectTacticCount(int checked, int expected, bool stored_variant_possible) {
  if (stored_variant_possible && checked == expected + 1) return;
  EXPECT_EQ(checked, expected);
}

struct GemmCase {
  int64_t m, n, k;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
  std::vector<int64_t> c_dims;  // empty with has_c: a scalar C
  bool has_c = false;
  bool weight_b = true, weight_c = true;
  ir::FusedActivation act;
};

LayerCase MakeGemm(const GemmCase& g, uint32_t seed) {
  LayerCase c;
  c.node.name = "gemm";
  c.node.op_type = "Gemm";
  c.node.inputs = {"a", "b"};
  c.node.outputs = {"y"};
  c.node.attrs.Set("transA", IntAttr(g.trans_a));
  c.node.attrs.Set("transB", IntAttr(g.trans_b));
  c.node.attrs.Set("alpha", FloatAttr(g.alpha));
  c.node.attrs.Set("beta", FloatAttr(g.beta));
  if (g.act.kind != ActivationKind::kNone) ir::SetFusedActivation(c.node, g.act);
  c.inputs.push_back(RandomTensor(g.trans_a ? Shape{g.k, g.m} : Shape{g.m, g.k}, seed));
  c.inputs.push_back(RandomTensor(g.trans_b ? Shape{g.n, g.k} : Shape{g.k, g.n}, seed + 1));
  c.weight = {false, g.weight_b};
  if (g.has_c) {
    c.node.inputs.push_back("c");
    c.inputs.push_back(RandomTensor(Shape(g.c_dims), seed + 2));
    c.weight.push_back(g.weight_c);
  }
  return c;
}

// gemm_gemv (AVX-512): one to four rows of A against a transB weight B used as stored.
bool Gemv(const GemmCase& g) {
  const CpuFeatures& f = DetectCpuFeatures();
  return f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && g.weight_b && g.trans_b &&
         !g.trans_a && g.alpha == 1.0f && g.m >= 1 && g.m <= 4 && g.k >= 1;
}

void CheckGemm(const GemmCase& g, uint32_t seed = 1, std::vector<std::string>* names = nullptr) {
  SCOPED_TRACE("Gemm m=" + std::to_string(g.m) + " n=" + std::to_string(g.n) +
               " k=" + std::to_string(g.k));
  const int expected = ExpectedTactics(g.weight_b, !g.weight_b && !g.trans_b) + (Gemv(g) ? 1 : 0);
  ExpectTacticCount(CheckAllTactics(MakeGemm(g, seed), 1e-5, expected, names), expected,
                    g.weight_b && g.alpha == 1.0f);
}

// gemm_gemv: 1 to 4 rows (5 is not its case), depths below, at and past one vector and long ones
// (the masked tail), W rows not a multiple of its 4-row blocks and more than one task of 64, every
// C form with beta and an activation through the epilogue. Its W is the weight as stored.
TEST(GemmTactics, GemvRowsAgainstStoredWeight) {
  const int64_t shapes[][2] = {{1, 1}, {3, 15}, {4, 16}, {5, 17}, {130, 1280}, {1000, 33}};
  for (int64_t m = 1; m <= 5; ++m) {
    for (const auto& nk : shapes) {
      std::vector<std::string> names;
      const GemmCase g{.m = m, .n = nk[0], .k = nk[1], .trans_b = true};
      CheckGemm(g, uint32_t(m), &names);
      EXPECT_EQ(std::count(names.begin(), names.end(), "gemm_gemv/avx512"), Gemv(g) ? 1 : 0);
    }
  }
  const int64_t m = 3, n = 21;
  const std::vector<std::vector<int64_t>> forms = {{n}, {m, 1}, {m, n}, {}};
  for (const auto& dims : forms) {
    for (bool weight_c : {true, false}) {
      SCOPED_TRACE("C " + Shape(dims).ToString() + (weight_c ? " weight" : " activation"));
      CheckGemm({.m = m,
                 .n = n,
                 .k = 40,
                 .trans_b = true,
                 .beta = 0.5f,
                 .c_dims = dims,
                 .has_c = true,
                 .weight_c = weight_c,
                 .act = {ActivationKind::kSigmoid, 0, 0}});
    }
  }
}

TEST(GemmTactics, OddSizes) {
  const int64_t sizes[][3] = {{1, 1, 1},   {7, 33, 129}, {33, 7, 1},    {129, 17, 33},
                              {1, 129, 7}, {6, 16, 256}, {13, 40, 300}, {2, 1000, 64}};
  for (const auto& s : sizes) CheckGemm({.m = s[0], .n = s[1], .k = s[2]});
}

TEST(GemmTactics, Transposes) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE(std::string("transA=") + (ta ? "1" : "0") + " transB=" + (tb ? "1" : "0"));
      CheckGemm({.m = 7, .n = 33, .k = 129, .trans_a = ta, .trans_b = tb});
      CheckGemm({.m = 65, .n = 19, .k = 8, .trans_a = ta, .trans_b = tb, .weight_b = false});
    }
  }
}

TEST(GemmTactics, AlphaBetaAndEveryCForm) {
  const int64_t m = 9, n = 21;
  const std::vector<std::vector<int64_t>> forms = {{n}, {1, n}, {m, 1}, {m, n}, {}, {1}, {1, 1}};
  for (const auto& dims : forms) {
    for (bool weight_c : {true, false}) {
      for (float beta : {1.0f, 0.5f}) {
        SCOPED_TRACE("C " + Shape(dims).ToString() + (weight_c ? " weight" : " activation") +
                     " beta=" + std::to_string(beta));
        CheckGemm({.m = m,
                   .n = n,
                   .k = 17,
                   .alpha = 1.0f,
                   .beta = beta,
                   .c_dims = dims,
                   .has_c = true,
                   .weight_c = weight_c});
        CheckGemm({.m = m,
                   .n = n,
                   .k = 17,
                   .alpha = -1.5f,
                   .beta = beta,
                   .c_dims = dims,
                   .has_c = true,
                   .weight_c = weight_c,
                   .act = {ActivationKind::kRelu, 0, 0}});
        CheckGemm({.m = m,
                   .n = n,
                   .k = 17,
                   .trans_b = true,
                   .alpha = 2.0f,
                   .beta = beta,
                   .c_dims = dims,
                   .has_c = true,
                   .weight_b = false,
                   .weight_c = weight_c});
      }
    }
  }
}

TEST(GemmTactics, EveryActivation) {
  const ir::FusedActivation acts[] = {
      {ActivationKind::kRelu, 0, 0},         {ActivationKind::kClip, 0, 6},
      {ActivationKind::kClip, -0.3f, 0.4f},  {ActivationKind::kSigmoid, 0, 0},
      {ActivationKind::kSilu, 0, 0},         {ActivationKind::kGelu, 0, 0},
      {ActivationKind::kHardSwish, 0, 0},    {ActivationKind::kHardSigmoid, 0.2f, 0.5f},
      {ActivationKind::kLeakyRelu, 0.1f, 0}, {ActivationKind::kTanh, 0, 0},
  };
  for (const ir::FusedActivation& act : acts) {
    SCOPED_TRACE("activation " + std::string(ir::ActivationName(act.kind)));
    // Products up to ~|8| reach the activations' saturated tails.
    CheckGemm({.m = 11, .n = 37, .k = 64, .c_dims = {37}, .has_c = true, .act = act});
    CheckGemm({.m = 5,
               .n = 9,
               .k = 3,
               .alpha = 3.0f,
               .beta = 0.5f,
               .c_dims = {5, 9},
               .has_c = true,
               .weight_c = false,
               .act = act});
    CheckGemm({.m = 4, .n = 24, .k = 64, .weight_b = false, .act = act});
  }
}

// MatMul: numpy semantics.
LayerCase MakeMatMul(const Shape& a, const Shape& b, bool weight_b, ir::FusedActivation act,
                     uint32_t seed) {
  LayerCase c;
  c.node.name = "matmul";
  c.node.op_type = "MatMul";
  c.node.inputs = {"a", "b"};
  c.node.outputs = {"y"};
  if (act.kind != ActivationKind::kNone) ir::SetFusedActivation(c.node, act);
  c.inputs.push_back(RandomTensor(a, seed));
  c.inputs.push_back(RandomTensor(b, seed + 1));
  c.weight = {false, weight_b};
  return c;
}

void CheckMatMul(const Shape& a, const Shape& b, bool weight_b, ir::FusedActivation act = {}) {
  SCOPED_TRACE("MatMul " + a.ToString() + " x " + b.ToString() + (weight_b ? " (weight)" : ""));
  const int expected = ExpectedTactics(weight_b && b.rank() == 2, !(weight_b && b.rank() == 2));
  ExpectTacticCount(CheckAllTactics(MakeMatMul(a, b, weight_b, act, 7), 1e-5, expected), expected,
                    weight_b && b.rank() == 2);
}

TEST(MatMulTactics, WeightFoldsLeadingDims) {
  CheckMatMul({1, 8, 128}, {128, 128}, true);
  CheckMatMul({2, 3, 5, 33}, {33, 7}, true);
  CheckMatMul({33}, {33, 129}, true);     // 1-D A: a row vector, dim dropped
  CheckMatMul({4, 7, 1}, {1, 20}, true);  // K = 1
  CheckMatMul({3, 17, 40}, {40, 9}, false);
}

TEST(MatMulTactics, BatchedActivations) {
  CheckMatMul({4, 7, 33}, {4, 33, 9}, false);
  CheckMatMul({2, 2, 16, 8}, {2, 2, 8, 16}, false);  // attention-like
  CheckMatMul({2, 1, 7, 16}, {1, 3, 16, 5}, false);  // both batch dims broadcast
  CheckMatMul({7, 16}, {3, 16, 5}, false);           // 2-D A against a batch of B
  CheckMatMul({5, 3, 1}, {1, 1, 4}, false);          // K = 1
  CheckMatMul({3, 6, 10}, {3, 10, 12}, true);        // a rank-3 weight B is read in place
}

TEST(MatMulTactics, Activations) {
  CheckMatMul({2, 9, 32}, {32, 48}, true, {ActivationKind::kGelu, 0, 0});
  CheckMatMul({2, 9, 32}, {32, 48}, true, {ActivationKind::kClip, 0, 6});
  CheckMatMul({3, 5, 12}, {3, 12, 10}, false, {ActivationKind::kTanh, 0, 0});
  CheckMatMul({3, 5, 12}, {3, 12, 10}, false, {ActivationKind::kRelu, 0, 0});
}

// A transposed weight B (transB = 1, or a MatMul weight a pass transposed) is read by oneDNN as
// stored, so its refit is a copy; CheckAllTactics verifies the layout claim and the packed
// tactics' one-pass transposed packing.
TEST(GemmTactics, TransposedWeightKeptAsStored) {
  std::vector<std::string> names;
  CheckAllTactics(MakeGemm({.m = 1, .n = 40, .k = 72, .trans_b = true}, 3), 1e-5, 1, &names);
  EXPECT_TRUE(std::count(names.begin(), names.end(), "gemm_dnnl/stored_ba") +
                  std::count(names.begin(), names.end(), "gemm_dnnl/ba") ==
              1)
      << ::testing::PrintToString(names);
  names.clear();
  // alpha would have to be folded into B: no stored variant.
  CheckAllTactics(MakeGemm({.m = 1, .n = 40, .k = 72, .trans_b = true, .alpha = 0.5f}, 3), 1e-5, 1,
                  &names);
  EXPECT_EQ(std::count(names.begin(), names.end(), "gemm_dnnl/stored_ba"), 0);
}

TEST(GemmTactics, DeclinesWhatItCannotRun) {
  LayerCase c = MakeMatMul({3, 4}, {4}, true, {}, 1);  // 1-D B
  EXPECT_EQ(CheckAllTactics(c, 1e-5, 0), 0);
}

}  // namespace
}  // namespace refit::cpu::testing
