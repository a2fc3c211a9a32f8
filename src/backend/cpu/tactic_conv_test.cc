// Conformance of every CPU Conv tactic against the reference kernel (tactic_test_util.h) over the
// geometry edge cases: odd sizes, strides, dilations, asymmetric and automatic padding, groups,
// depthwise kernels, 1x1, batch > 1, no bias and every fused activation kind.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"
#include "backend/cpu/tactic_test_util.h"
#include "ir/fused_ops.h"

// The cases below name only the fields that differ from ConvSpec's defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu {
namespace {

using testing::CheckAllTactics;
using testing::LayerCase;
using testing::RandomTensor;

struct ConvSpec {
  int64_t n = 1, c = 4, h = 7, w = 5, m = 6, kh = 3, kw = 3;
  int64_t group = 1;
  std::vector<int64_t> strides = {1, 1}, dilations = {1, 1}, pads = {1, 1, 1, 1};
  std::string auto_pad;  // "" leaves the attribute out
  bool bias = true;
  ir::FusedActivation act;
  // A 1-D Conv (NCW): h and kh are not used; strides, dilations and pads take their W entries.
  bool one_d = false;
};

ir::Attribute Ints(std::vector<int64_t> v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

LayerCase MakeConv(const ConvSpec& s, uint32_t seed = 1) {
  LayerCase c;
  c.node.name = "conv";
  c.node.op_type = "Conv";
  c.node.inputs = {"x", "w"};
  c.node.outputs = {"y"};
  ir::Attribute group;
  group.kind = ir::Attribute::Kind::kInt;
  group.i = s.group;
  c.node.attrs.Set("group", group);
  auto w_only = [&](const std::vector<int64_t>& v) {
    return s.one_d ? std::vector<int64_t>{v[1]} : v;
  };
  c.node.attrs.Set("strides", Ints(w_only(s.strides)));
  c.node.attrs.Set("dilations", Ints(w_only(s.dilations)));
  c.node.attrs.Set("kernel_shape", Ints(w_only({s.kh, s.kw})));
  if (s.auto_pad.empty()) {
    c.node.attrs.Set("pads", Ints(s.one_d ? std::vector<int64_t>{s.pads[1], s.pads[3]} : s.pads));
  } else {
    ir::Attribute mode;
    mode.kind = ir::Attribute::Kind::kString;
    mode.s = s.auto_pad;
    c.node.attrs.Set("auto_pad", mode);
  }
  if (s.act.kind != ir::ActivationKind::kNone) ir::SetFusedActivation(c.node, s.act);
  c.inputs.push_back(
      RandomTensor(s.one_d ? Shape{s.n, s.c, s.w} : Shape{s.n, s.c, s.h, s.w}, seed));
  c.inputs.push_back(RandomTensor(
      s.one_d ? Shape{s.m, s.c / s.group, s.kw} : Shape{s.m, s.c / s.group, s.kh, s.kw}, seed + 1));
  c.weight = {false, true};
  if (s.bias) {
    c.node.inputs.push_back("b");
    c.inputs.push_back(RandomTensor(Shape{s.m}, seed + 2));
    c.weight.push_back(true);
  }
  return c;
}

bool HasAvx2() {
  const CpuFeatures& f = DetectCpuFeatures();
  return f.avx && f.avx2 && f.fma;
}

// conv_dnnl and conv_openblas everywhere; conv_gemm (4 kernels) and conv_gemm_t (kConvGemmT
// kernels) or the AVX2 depthwise kernel where the CPU has AVX2; the scalar depthwise kernel
// everywhere.
constexpr int kConvGemmT = 2;
// conv_winograd (at least one kernel) for 3x3, stride-1, undilated, ungrouped layers with AVX2.
bool Winograd(const ConvSpec& s) {
  return !s.one_d && s.group == 1 && s.kh == 3 && s.kw == 3 && s.strides[0] == 1 &&
         s.strides[1] == 1 && s.dilations[0] == 1 && s.dilations[1] == 1;
}
int MinTactics(const ConvSpec& s) {
  const bool depthwise = s.group == s.c && s.group == s.m;
  if (depthwise) return HasAvx2() ? 3 : 2;
  return HasAvx2() ? 6 + kConvGemmT + (Winograd(s) ? 1 : 0) : 2;
}

// conv_winograd's F(4x4, 3x3) transforms scale by up to 8 and 1/24: its documented rounding error
// is several times a direct convolution's (conv_winograd.cc).
double Tolerance(const std::string& tactic) {
  return tactic.rfind("conv_winograd/f4_", 0) == 0 ? 5e-5 : 1e-5;
}

void Check(const ConvSpec& s, uint32_t seed = 1) {
  CheckAllTactics(MakeConv(s, seed), Tolerance, MinTactics(s));
}

TEST(ConvTacticsTest, ListsEveryFamily) {
  LayerCase c = MakeConv({});
  backend::LayerDesc desc = DescOf(c, {Shape{1, 6, 7, 5}});
  std::vector<std::string> names;
  for (const auto& t : CreateCpuBackend()->Tactics(desc)) names.push_back(t->name());
  auto has = [&](const std::string& prefix) {
    for (const std::string& n : names) {
      if (n.rfind(prefix, 0) == 0) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("conv_dnnl"));
  EXPECT_TRUE(has("conv_openblas"));
  if (HasAvx2()) {
    EXPECT_TRUE(has("conv_gemm/avx2_6x16"));
    EXPECT_TRUE(has("conv_gemm_t/"));  // the best ISA only: avx2_ or avx512_
    EXPECT_TRUE(has("conv_winograd/"));
    // oneDNN's direct convolutions take channel-blocked activations on AVX2 and AVX-512.
    EXPECT_TRUE(has("conv_dnnl/blocked"));
  }
  // A wrong planned output shape, or W not a weight slot: no conv tactic.
  desc.outputs[0].shape = Shape{1, 6, 7, 6};
  EXPECT_TRUE(CreateCpuBackend()->Tactics(desc).empty());
  desc.outputs[0].shape = Shape{1, 6, 7, 5};
  desc.weight[1] = false;
  EXPECT_TRUE(CreateCpuBackend()->Tactics(desc).empty());
}

// Tuning lists conv_gemm_t's and conv_winograd's kernels of the best ISA only; a load looks
// tactics up by name among every ISA this machine runs, so an engine tuned on an AVX2 machine
// loads on an AVX-512 one. The lookup builds the named kernel, which runs like any other.
TEST(ConvTacticsTest, LoadsFindTheKernelsOfEveryIsaTheMachineRuns) {
  if (!HasAvx2()) GTEST_SKIP() << "no AVX2: no GEMM kernels";
  LayerCase c = MakeConv({.c = 8, .h = 6, .w = 7, .m = 16});
  backend::LayerDesc desc = DescOf(c, {Shape{1, 16, 6, 7}});
  std::unique_ptr<backend::Backend> cpu = CreateCpuBackend();
  std::vector<std::string> listed;
  for (const auto& t : cpu->Tactics(desc)) listed.push_back(t->name());
  int isas = 0;
  for (const GemmKernelInfo& info : DetectedGemmKernels()) {
    if (info.pack_a) continue;
    isas |= 1 << int(info.isa);
    for (const std::string& name : {"conv_gemm_t/" + info.Name(), "conv_winograd/f2_" + info.Name(),
                                    "conv_winograd/f4_" + info.Name()}) {
      auto found = cpu->FindTactic(desc, name);
      ASSERT_TRUE(found.ok()) << found.status().ToString();
      EXPECT_EQ((*found)->name(), name);
    }
  }
  // On a machine of two ISAs, tuning lists fewer than the lookup finds.
  if (isas == 3) {
    EXPECT_EQ(
        std::count_if(listed.begin(), listed.end(),
                      [](const std::string& n) { return n.starts_with("conv_gemm_t/avx2_"); }),
        0);
  }
}

TEST(ConvTacticsTest, Basic3x3OddSizes) { Check({}); }

// conv_winograd's tiling (F(2x2, 3x3) and F(4x4, 3x3)): output sizes that are not a multiple of
// the tile (a last tile partly outside), tile rows that are not a multiple of 8 tiles (eight tiles
// straddle two packed panels), no padding, asymmetric and wide padding, a 1x1 output, several
// chunks of tile rows (taken whole by threads), batch > 1.
TEST(ConvTacticsTest, WinogradTiles) {
  Check({.n = 2, .c = 5, .h = 9, .w = 11, .m = 7});
  Check({.c = 6, .h = 8, .w = 38, .m = 9, .pads = {0, 0, 0, 0}});
  Check({.c = 3, .h = 10, .w = 7, .m = 4, .pads = {0, 2, 1, 0}});
  Check({.c = 4, .h = 5, .w = 6, .m = 3, .pads = {2, 2, 2, 2}});
  Check({.c = 2, .h = 1, .w = 1, .m = 5});
  Check({.c = 24, .h = 96, .w = 90, .m = 24, .act = {ir::ActivationKind::kRelu}});
  Check({.n = 3, .c = 20, .h = 64, .w = 64, .m = 28, .bias = false});
  Check({.c = 512, .h = 7, .w = 7, .m = 40});  // long sums: F(4x4, 3x3)'s rounding grows with C
  // Weight planes large and 4 KiB-aliased enough to be packed through the staging buffer (its
  // 64-filter chunks: one whole and one of 4, by a masked store), and 128 x 64 for F(2x2, 3x3).
  Check({.c = 68, .h = 4, .w = 5, .m = 64});
  Check({.c = 64, .h = 4, .w = 4, .m = 128});
}

TEST(ConvTacticsTest, Stride2AndOcNotARegisterMultiple) {
  Check({.c = 5, .h = 9, .w = 7, .m = 17, .strides = {2, 2}});
}

// conv_direct (AVX-512): stems of 3 input channels (3x3 stride 2 as MobileNet's, 7x7 stride 2 as
// ResNet's), rows of 1 to 3 register tiles with a ragged end, output channels not a multiple of
// either block (8 or 16), batch > 1, Relu/Clip in the kernel and a Sigmoid after it, and a 1-D
// layer; every variant must be listed and match the reference.
TEST(ConvTacticsTest, DirectStems) {
  const CpuFeatures& f = DetectCpuFeatures();
  if (!(f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl)) GTEST_SKIP() << "no AVX-512";
  const std::vector<ConvSpec> specs = {
      {.c = 3, .h = 23, .w = 45, .m = 13, .strides = {2, 2}},
      {.n = 2,
       .c = 3,
       .h = 30,
       .w = 70,
       .m = 20,
       .kh = 7,
       .kw = 7,
       .strides = {2, 2},
       .pads = {3, 3, 3, 3},
       .act = {ir::ActivationKind::kRelu}},
      {.c = 1, .h = 5, .w = 16, .m = 8, .act = {ir::ActivationKind::kClip, 0.0f, 6.0f}},
      {.c = 16, .h = 6, .w = 33, .m = 25, .bias = false, .act = {ir::ActivationKind::kSigmoid}},
      {.c = 2, .w = 50, .m = 9, .kw = 5, .pads = {0, 2, 0, 2}, .one_d = true},
  };
  for (const ConvSpec& s : specs) {
    std::vector<std::string> names;
    CheckAllTactics(MakeConv(s), Tolerance, MinTactics(s), &names);
    for (const std::string want : {"conv_direct/avx512_c8", "conv_direct/avx512_c16"}) {
      EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
    }
  }
}

// Stride 4 (a ViT's patch embedding): rows wide enough for the phase planes' vector path, with
// and without a left pad.
TEST(ConvTacticsTest, Stride4) {
  Check({.c = 3,
         .h = 12,
         .w = 75,
         .m = 8,
         .kh = 4,
         .kw = 4,
         .strides = {4, 4},
         .pads = {0, 0, 0, 0}});
  Check({.c = 2, .h = 9, .w = 70, .m = 5, .strides = {4, 4}, .pads = {1, 3, 1, 2}});
}

TEST(ConvTacticsTest, Dilation2) {
  Check({.h = 8, .w = 9, .m = 7, .dilations = {2, 2}, .pads = {2, 2, 2, 2}});
}

TEST(ConvTacticsTest, AsymmetricPadsAndStrides) {
  Check(
      {.c = 3, .h = 7, .w = 6, .m = 5, .kh = 3, .kw = 2, .strides = {2, 1}, .pads = {0, 1, 2, 1}});
  Check(
      {.c = 2, .h = 5, .w = 9, .m = 3, .kh = 2, .kw = 4, .strides = {1, 3}, .pads = {1, 0, 0, 2}});
}

TEST(ConvTacticsTest, AutoPad) {
  Check({.h = 7, .w = 5, .kh = 5, .kw = 5, .strides = {2, 2}, .auto_pad = "SAME_UPPER"});
  Check({.h = 7, .w = 6, .kh = 4, .kw = 4, .strides = {2, 2}, .auto_pad = "SAME_LOWER"});
  Check({.h = 6, .w = 7, .kh = 2, .kw = 3, .auto_pad = "SAME_UPPER"});
  Check({.h = 9, .w = 7, .strides = {2, 2}, .auto_pad = "VALID"});
}

TEST(ConvTacticsTest, Groups) {
  Check({.c = 6, .m = 10, .group = 2});
  Check({.c = 6, .h = 5, .w = 5, .m = 9, .kh = 1, .kw = 1, .group = 3, .pads = {0, 0, 0, 0}});
  Check({.c = 8, .h = 9, .w = 9, .m = 16, .group = 8, .strides = {2, 2}});  // multiplier 2
}

TEST(ConvTacticsTest, Pointwise) {
  Check({.c = 16, .m = 24, .kh = 1, .kw = 1, .pads = {0, 0, 0, 0}});
  Check(
      {.c = 7, .h = 9, .w = 9, .m = 5, .kh = 1, .kw = 1, .strides = {2, 2}, .pads = {0, 0, 0, 0}});
  Check({.c = 3, .m = 4, .kh = 1, .kw = 1, .pads = {1, 0, 0, 1}});  // padded 1x1
}

TEST(ConvTacticsTest, BatchAndNoBias) {
  Check({.n = 2, .c = 3, .m = 8, .bias = false});
  Check({.n = 2, .c = 6, .h = 9, .w = 10, .m = 4, .group = 2, .strides = {2, 2}});
  Check({.n = 2, .c = 8, .h = 6, .w = 11, .m = 8, .group = 8});
}

// K spans several KC passes and M several register blocks; N several panels and threads.
TEST(ConvTacticsTest, LargerChannelCounts) {
  Check({.c = 40, .h = 13, .w = 11, .m = 37});
  Check({.c = 64, .h = 6, .w = 6, .m = 70, .kh = 1, .kw = 1, .pads = {0, 0, 0, 0}});
}

// Runs every tactic listed for `s` against the reference (seeded inputs) and returns their names.
std::vector<std::string> CheckAndList(const ConvSpec& s, uint32_t seed) {
  std::vector<std::string> names;
  CheckAllTactics(MakeConv(s, seed), Tolerance, MinTactics(s), &names);
  return names;
}

bool Listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// conv_dnnl/blocked_oc2 and _oc4: each part's primitive writes its slice of output channels
// (NCHW, in place) from its slice of the packed weights and of the bias; the conformance run
// uses 1 and 2 threads, so parts run inline and as pool chunks. (Listed from 2^20 multiply-adds.)
TEST(ConvTacticsTest, DnnlOutputChannelSplits) {
  using K = ir::ActivationKind;
  const ConvSpec specs[] = {
      {.n = 2, .c = 24, .h = 9, .w = 7, .m = 64},
      {.c = 3,
       .h = 23,
       .w = 21,
       .m = 64,
       .kh = 7,
       .kw = 7,
       .strides = {2, 2},
       .pads = {3, 3, 3, 3},
       .act = {K::kRelu}},
      {.c = 48, .h = 7, .w = 7, .m = 96, .bias = false, .act = {K::kClip, 0.0f, 6.0f}},
      {.c = 16, .h = 12, .w = 11, .m = 64, .act = {K::kSigmoid}},
  };
  for (const ConvSpec& s : specs) {
    const std::vector<std::string> names = CheckAndList(s, 40);
    if (!HasAvx2()) continue;  // oneDNN picks blocked layouts on AVX2 and AVX-512
    EXPECT_TRUE(Listed(names, "conv_dnnl/blocked_oc2")) << s.m << " output channels";
    EXPECT_TRUE(Listed(names, "conv_dnnl/blocked_oc4") || s.m % 32 != 0)
        << s.m << " output channels";
  }
}

// conv_dnnl/blocked_n2, _n4 and _n8: one primitive over batch / parts images, each part reading
// and writing its own images (and its own workspace); the conformance run uses 1 and 2 threads,
// so parts run inline and as pool chunks. Listed where the part count divides the batch (and, as
// every split, from 2^20 multiply-adds: each spec has more).
TEST(ConvTacticsTest, DnnlBatchSplits) {
  using K = ir::ActivationKind;
  const ConvSpec specs[] = {
      {.n = 8, .c = 24, .h = 9, .w = 7, .m = 32},
      {.n = 4, .c = 16, .h = 12, .w = 11, .m = 24, .act = {K::kSigmoid}},
      {.n = 2,
       .c = 3,
       .h = 45,
       .w = 43,
       .m = 32,
       .kh = 7,
       .kw = 7,
       .strides = {2, 2},
       .pads = {3, 3, 3, 3},
       .act = {K::kRelu}},
      {.n = 6, .c = 32, .h = 7, .w = 7, .m = 48, .bias = false, .act = {K::kClip, 0.0f, 6.0f}},
      {.n = 4, .c = 64, .h = 16, .w = 16, .m = 64, .kh = 1, .kw = 1, .pads = {0, 0, 0, 0}},
  };
  for (const ConvSpec& s : specs) {
    const std::vector<std::string> names = CheckAndList(s, 41);
    if (!HasAvx2()) continue;  // oneDNN picks blocked layouts on AVX2 and AVX-512
    for (int parts : {2, 4, 8}) {
      const bool divides = s.n % parts == 0;
      EXPECT_EQ(Listed(names, "conv_dnnl/blocked_n" + std::to_string(parts)), divides)
          << s.n << " images, " << parts << " parts";
    }
  }
}

// conv_gemm's _directb variants read a pointwise convolution's input in place (GemmDirectB): run
// on ragged pixel counts (a last panel narrower than NR), groups and batches.
TEST(ConvTacticsTest, PointwiseInputReadInPlace) {
  const ConvSpec specs[] = {
      {.c = 40, .h = 13, .w = 11, .m = 24, .kh = 1, .kw = 1, .pads = {0, 0, 0, 0}},
      {.n = 2,
       .c = 32,
       .h = 7,
       .w = 9,
       .m = 48,
       .kh = 1,
       .kw = 1,
       .group = 2,
       .pads = {0, 0, 0, 0}},
      {.c = 16,
       .h = 1,
       .w = 3,
       .m = 100,
       .kh = 1,
       .kw = 1,
       .pads = {0, 0, 0, 0},
       .act = {ir::ActivationKind::kSigmoid}},
  };
  for (const ConvSpec& s : specs) {
    const std::vector<std::string> names = CheckAndList(s, 50);
    if (!HasAvx2()) continue;
    int direct_b = 0;
    for (const std::string& n : names) direct_b += n.find("_directb") != std::string::npos;
    EXPECT_GE(direct_b, 2) << s.m << " output channels";
  }
}

// Every conv_dnnl variant of a 1x1 convolution packs with our packer (values checked, BatchNorm
// factors applied while packing); the conformance run above compares those bytes with PackWeight's.
TEST(ConvTacticsTest, DnnlPointwiseWeightsPackedByUs) {
  LayerCase c = MakeConv(
      {.n = 2, .c = 64, .h = 14, .w = 14, .m = 96, .kh = 1, .kw = 1, .pads = {0, 0, 0, 0}});
  const backend::LayerDesc desc = DescOf(c, {Shape{2, 96, 14, 14}});
  int dnnl = 0;
  for (const auto& t : CreateCpuBackend()->Tactics(desc)) {
    if (t->name().rfind("conv_dnnl", 0) != 0) continue;
    ++dnnl;
    EXPECT_TRUE(t->PacksScaledRows(1)) << t->name();
    EXPECT_TRUE(t->PacksChecked(1)) << t->name();
    EXPECT_FALSE(t->PacksScaledRows(2)) << t->name();
  }
  EXPECT_GE(dnnl, 1);
  CheckAllTactics(c, Tolerance, 1);
}

// Late-stage CNN shapes: few output pixels, many channels (conv_gemm_t's target). M spans
// several MR tiles with a ragged last one, N several whole NR panels, K several KC passes.
TEST(ConvTacticsTest, SmallSpatialManyChannels) {
  Check({.c = 256, .h = 7, .w = 7, .m = 256});
  Check({.c = 256, .h = 8, .w = 8, .m = 512, .strides = {2, 2}});  // 4x4 output
  Check({.c = 64, .h = 7, .w = 7, .m = 96, .group = 2, .pads = {1, 0, 0, 1}});
  Check({.n = 2, .c = 128, .h = 7, .w = 7, .m = 100, .bias = false});
  Check({.c = 256, .h = 7, .w = 7, .m = 136, .kh = 1, .kw = 1, .pads = {0, 0, 0, 0}});
  Check({.n = 2,
         .c = 48,
         .h = 14,
         .w = 13,
         .m = 72,
         .kh = 1,
         .kw = 1,
         .strides = {2, 2},
         .pads = {0, 0, 0, 0}});  // downsample
  Check({.n = 2,
         .c = 32,
         .h = 5,
         .w = 5,
         .m = 40,
         .kh = 1,
         .kw = 1,
         .group = 4,
         .pads = {0, 0, 0, 0}});
  using K = ir::ActivationKind;
  Check({.c = 64, .h = 4, .w = 4, .m = 80, .act = {K::kRelu}}, 30);
  Check({.c = 64, .h = 4, .w = 4, .m = 80, .bias = false, .act = {K::kClip, 0.0f, 6.0f}}, 31);
  Check({.n = 2, .c = 64, .h = 4, .w = 4, .m = 80, .act = {K::kSilu}}, 32);
}

// Every plane kernel (conv_depthwise/scalar, /avx2, /avx512) and the blocked ones' plane path.
TEST(ConvTacticsTest, Depthwise) {
  for (int64_t k : {3, 5}) {
    for (int64_t s : {1, 2}) {
      SCOPED_TRACE("kernel " + std::to_string(k) + " stride " + std::to_string(s));
      // Widths: a partial vector only, and 32 + 8 + tail outputs per row.
      Check({.c = 5,
             .h = 7,
             .w = 5,
             .m = 5,
             .kh = k,
             .kw = k,
             .group = 5,
             .strides = {s, s},
             .pads = {k / 2, k / 2, k / 2, k / 2}});
      Check({.c = 3,
             .h = 6,
             .w = 47 * s,
             .m = 3,
             .kh = k,
             .kw = k,
             .group = 3,
             .strides = {s, s},
             .pads = {k / 2, k / 2, k / 2, k / 2}});
    }
  }
  Check({.c = 4, .h = 9, .w = 20, .m = 4, .group = 4, .dilations = {2, 2}, .pads = {2, 2, 2, 2}});
  // 64 + 16 + 5 outputs a row: every row step of the 16-wide kernel, and a masked tail.
  Check({.c = 3, .h = 5, .w = 85, .m = 3, .group = 3});
  Check({.c = 3, .h = 11, .w = 23, .m = 3, .kh = 7, .kw = 7, .group = 3, .pads = {3, 3, 3, 3}});
  // Stride 1: asymmetric and no padding, rows of one vector of windows and a bit, a kernel taller
  // than the input, and the activations the kernel applies itself (and one it does not).
  using K = ir::ActivationKind;
  Check({.c = 4, .h = 6, .w = 10, .m = 4, .group = 4, .pads = {0, 2, 1, 0}});
  Check({.c = 4, .h = 5, .w = 12, .m = 4, .group = 4, .pads = {0, 0, 0, 0}});
  Check({.c = 2, .h = 3, .w = 61, .m = 2, .kh = 5, .kw = 5, .group = 2, .pads = {1, 1, 1, 1}});
  Check({.c = 2, .h = 9, .w = 26, .m = 2, .kh = 5, .kw = 5, .group = 2, .pads = {2, 2, 2, 2}});
  Check({.c = 2, .h = 12, .w = 16, .m = 2, .group = 2, .pads = {2, 0, 0, 1}});
  Check({.c = 3, .h = 8, .w = 19, .m = 3, .group = 3, .act = {K::kClip, 0.0f, 6.0f}});
  Check({.n = 2, .c = 3, .h = 8, .w = 40, .m = 3, .group = 3, .act = {K::kRelu}});
  Check({.c = 3, .h = 8, .w = 17, .m = 3, .group = 3, .act = {K::kSilu}});
  Check({.c = 3,
         .h = 10,
         .w = 29,
         .m = 3,
         .kh = 3,
         .kw = 2,
         .group = 3,
         .strides = {3, 3},
         .pads = {0, 1, 2, 0}});
  Check({.c = 4, .h = 8, .w = 13, .m = 4, .group = 4, .strides = {2, 2}, .auto_pad = "SAME_UPPER"});
  Check({.c = 4,
         .h = 8,
         .w = 13,
         .m = 4,
         .group = 4,
         .strides = {2, 2},
         .auto_pad = "VALID",
         .bias = false});
}

// conv_depthwise/avx2_c8 takes whole blocks of 8 channels and leaves the rest to the plane
// kernel; /avx512_c16 takes blocks of 16, then one of 8 where 8 remain, then planes: channel
// counts of one block, blocks and each kind of remainder; output pixel counts that end inside a
// tile of 8, windows cut by every kind of padding, strides, dilation, 5x5 kernels, batches, and
// the activations in the kernel and after it.
TEST(ConvTacticsTest, DepthwiseChannelBlocks) {
  using K = ir::ActivationKind;
  for (int64_t c : {8, 13, 16, 24, 29, 40}) {
    for (int64_t s : {1, 2}) {
      SCOPED_TRACE("channels " + std::to_string(c) + " stride " + std::to_string(s));
      Check({.c = c, .h = 7, .w = 9, .m = c, .group = c, .strides = {s, s}});
      Check({.c = c,
             .h = 12,
             .w = 19,
             .m = c,
             .kh = 5,
             .kw = 5,
             .group = c,
             .strides = {s, s},
             .pads = {2, 1, 0, 3}});
    }
  }
  // Rows so wide that each strip (kept in L1) holds one or two of them.
  Check({.c = 8, .h = 6, .w = 203, .m = 8, .group = 8});
  Check({.c = 8, .h = 9, .w = 301, .m = 8, .kh = 5, .kw = 5, .group = 8, .strides = {2, 2}});
  Check({.c = 16, .h = 3, .w = 3, .m = 16, .group = 16, .pads = {0, 0, 0, 0}});  // 1x1 output
  Check({.c = 8, .h = 10, .w = 11, .m = 8, .group = 8, .dilations = {2, 3}, .pads = {2, 3, 2, 3}});
  Check({.c = 8, .h = 9, .w = 9, .m = 8, .group = 8, .pads = {4, 4, 4, 4}});  // rows of padding
  Check({.n = 2, .c = 16, .h = 6, .w = 14, .m = 16, .group = 16, .act = {K::kClip, 0.0f, 6.0f}});
  Check({.n = 3, .c = 9, .h = 5, .w = 6, .m = 9, .group = 9, .bias = false, .act = {K::kRelu}});
  Check({.c = 8, .h = 8, .w = 17, .m = 8, .group = 8, .act = {K::kSilu}});
}

// 1-D convolutions (audio, sequence models) run on the 2-D tactics with height 1.
TEST(ConvTacticsTest, OneDimensional) {
  Check({.w = 11, .kw = 3, .one_d = true});
  Check({.n = 2,
         .c = 8,
         .w = 40,
         .m = 16,
         .kw = 5,
         .strides = {1, 2},
         .pads = {0, 2, 0, 1},
         .one_d = true});
  Check({.c = 6,
         .w = 30,
         .m = 9,
         .kw = 3,
         .group = 3,
         .dilations = {1, 2},
         .pads = {0, 2, 0, 2},
         .one_d = true});
  Check({.c = 16,
         .w = 21,
         .m = 32,
         .kw = 1,
         .pads = {0, 0, 0, 0},
         .bias = false,
         .act = {ir::ActivationKind::kRelu},
         .one_d = true});
  Check({.c = 8, .w = 45, .m = 8, .kw = 5, .group = 8, .pads = {0, 2, 0, 2}, .one_d = true});
  Check({.c = 8,
         .w = 33,
         .m = 8,
         .kw = 3,
         .group = 8,
         .strides = {1, 2},
         .auto_pad = "SAME_UPPER",
         .one_d = true});
  Check({.c = 4, .w = 17, .m = 6, .kw = 4, .auto_pad = "SAME_LOWER", .one_d = true});
}

TEST(ConvTacticsTest, EveryActivation) {
  using K = ir::ActivationKind;
  const ir::FusedActivation acts[] = {{K::kRelu},
                                      {K::kClip, 0.0f, 6.0f},
                                      {K::kClip, -0.5f, 0.25f},
                                      {K::kSigmoid},
                                      {K::kSilu},
                                      {K::kGelu},
                                      {K::kHardSwish},
                                      {K::kHardSigmoid, 0.2f, 0.5f},
                                      {K::kLeakyRelu, 0.1f},
                                      {K::kTanh}};
  uint32_t seed = 10;
  for (const ir::FusedActivation& act : acts) {
    SCOPED_TRACE(std::string(ir::ActivationName(act.kind)));
    // Four channels of 3x3 taps: sums spread over [-4, 4], both sides of every activation's knees.
    Check({.c = 4, .h = 6, .w = 9, .m = 7, .act = act}, seed++);
    Check({.c = 6, .h = 5, .w = 11, .m = 6, .group = 6, .act = act}, seed++);
    Check({.c = 3,
           .h = 4,
           .w = 4,
           .m = 5,
           .kh = 1,
           .kw = 1,
           .pads = {0, 0, 0, 0},
           .bias = false,
           .act = act},
          seed++);
  }
}

}  // namespace
}  // namespace refit::cpu
