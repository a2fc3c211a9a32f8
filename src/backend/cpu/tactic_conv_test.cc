// Conformance of every CPU Conv tactic against the reference kernel (tactic_test_util.h) over the
// geometry edge cases: odd sizes, strides, dilations, asymmetric and automatic padding, groups,
// 1x1, batch > 1, no bias and every fused activation kind (depthwise kernels:
// tactic_conv_depthwise_test.cc; channel-blocked activations and fused residuals:
// tactic_conv_blocked_test.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_packed.h"
#include "backend/cpu/tactic_conv_test_util.h"
#include "backend/cpu/tactic_test_util.h"
#include "ir/fused_ops.h"

// The cases below name only the fields that differ from ConvSpec's defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu {
namespace {

using namespace conv_testing;  // NOLINT(build/namespaces): the cases' vocabulary

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
