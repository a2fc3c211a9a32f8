// Conformance of the CPU Conv tactics that read or write channel-blocked activations, and of fused
// residuals, against the reference kernel (tactic_test_util.h): conv_dnnl and conv_gemm_t on
// blocked activations, every conv_nchwc tiling and layout, blocked conv_winograd, a fused residual
// in every family, and a pointwise layer's input read in place (the other cases:
// tactic_conv_test.cc).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/activation_block.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/tactic_conv_test_util.h"
#include "backend/cpu/tactic_test_util.h"
#include "ir/fused_ops.h"

// The cases below name only the fields that differ from ConvSpec's defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu {
namespace {

using namespace conv_testing;  // NOLINT(build/namespaces): the cases' vocabulary

// conv_dnnl/blocked with channel-blocked activations ("/in16c", "/out16c", "/in16c_out16c" with
// AVX-512; 8c with AVX2) uses them as they are, with no reorder, as do its splits by output
// channels and by images (and conv_gemm_t reads and writes them by whole blocks): 3x3 and 1x1,
// strides, batches, a fused and an unfused activation, and a channel count that is not a multiple
// of the block.
TEST(ConvTacticsTest, DnnlBlockedActivations) {
  const int b = ActivationBlock();
  if (b == 0) GTEST_SKIP() << "no blocked layouts without AVX2";
  using K = ir::ActivationKind;
  const std::string in = "conv_dnnl/blocked/in" + std::to_string(b) + "c";
  const std::string out = "conv_dnnl/blocked/out" + std::to_string(b) + "c";
  const std::string both = in + "_out" + std::to_string(b) + "c";
  const ConvSpec specs[] = {
      {.c = 2 * b, .h = 9, .w = 7, .m = b, .act = {K::kRelu}},
      {.n = 2, .c = b, .h = 12, .w = 11, .m = 3 * b, .strides = {2, 2}, .act = {K::kSigmoid}},
      {.c = 4 * b, .h = 14, .w = 14, .m = b, .kh = 1, .kw = 1, .pads = {0, 0, 0, 0}},
      {.c = 3 * b,
       .h = 7,
       .w = 7,
       .m = 2 * b,
       .kh = 1,
       .kw = 1,
       .pads = {0, 0, 0, 0},
       .bias = false,
       .act = {K::kClip, 0.0f, 6.0f}},
  };
  const std::string io = "/in" + std::to_string(b) + "c_out" + std::to_string(b) + "c";
  for (const ConvSpec& s : specs) {
    const std::vector<std::string> names = CheckAndList(s, 42);
    EXPECT_TRUE(Listed(names, in)) << s.c << " -> " << s.m;
    EXPECT_TRUE(Listed(names, out)) << s.c << " -> " << s.m;
    EXPECT_TRUE(Listed(names, both)) << s.c << " -> " << s.m;
    // conv_gemm_t's pixel-major copy of the input and move back out copy whole blocks instead.
    const auto gemm_t_io = std::count_if(names.begin(), names.end(), [&](const std::string& n) {
      return n.rfind("conv_gemm_t/", 0) == 0 && n.size() > io.size() &&
             n.compare(n.size() - io.size(), io.size(), io) == 0;
    });
    EXPECT_EQ(gemm_t_io, 1) << s.c << " -> " << s.m;
  }
  // The splits too: by output channels (a blocked output at batch 1 only) and by images.
  const std::vector<std::string> one = CheckAndList({.c = 2 * b, .h = 14, .w = 14, .m = 4 * b}, 44);
  EXPECT_TRUE(Listed(one, "conv_dnnl/blocked_oc2" + io));
  EXPECT_TRUE(Listed(one, "conv_dnnl/blocked_oc2/out" + std::to_string(b) + "c"));
  const std::vector<std::string> two =
      CheckAndList({.n = 2, .c = 2 * b, .h = 14, .w = 14, .m = 2 * b, .act = {K::kSilu}}, 45);
  EXPECT_TRUE(Listed(two, "conv_dnnl/blocked_n2" + io));
  EXPECT_TRUE(Listed(two, "conv_dnnl/blocked_oc2/in" + std::to_string(b) + "c"));
  EXPECT_FALSE(Listed(two, "conv_dnnl/blocked_oc2" + io));
  // Only the side whose channels are a multiple of the block can be blocked.
  const std::vector<std::string> names = CheckAndList({.c = b + b / 2, .m = b}, 43);
  EXPECT_FALSE(Listed(names, in));
  EXPECT_FALSE(Listed(names, both));
  EXPECT_TRUE(Listed(names, out));
}

// conv_nchwc (AVX-512): every tiling with blocked and plain input and output, over rows whose
// interior is several whole tiles and a ragged one, narrower than a tile, or empty (every pixel's
// window leaves the input); padding wider than the window (all-padding rows and columns); strides,
// dilations, asymmetric pads, 1x1 (a plain input staged blocked, its strides 1, 2 and 3), a 7x7
// 3-channel stem; output blocks that fill no whole group of 4 or 2; batch 2; Relu/Clip in the
// kernel and other activations after it.
TEST(ConvTacticsTest, NchwcDirect) {
  if (ActivationBlock() != 16) GTEST_SKIP() << "conv_nchwc needs AVX-512";
  using K = ir::ActivationKind;
  const ConvSpec specs[] = {
      {.c = 32, .h = 9, .w = 31, .m = 48, .act = {K::kRelu}},
      {.n = 2, .c = 16, .h = 11, .w = 13, .m = 80, .strides = {2, 2}, .act = {K::kSilu}},
      {.c = 16, .h = 7, .w = 7, .m = 32, .dilations = {2, 2}, .pads = {2, 1, 2, 3}},
      {.c = 16, .h = 3, .w = 4, .m = 16, .kh = 3, .kw = 3, .pads = {4, 5, 3, 2}, .bias = false},
      {.c = 48, .h = 8, .w = 8, .m = 64, .kh = 1, .kw = 1, .strides = {2, 2}, .pads = {0, 0, 0, 0}},
      // Pointwise, plain input staged blocked: every other column over a whole 16 and a ragged
      // part, and every third column (gathered).
      {.c = 32,
       .h = 7,
       .w = 37,
       .m = 16,
       .kh = 1,
       .kw = 1,
       .strides = {3, 2},
       .pads = {0, 0, 0, 0}},
      {.n = 2,
       .c = 16,
       .h = 5,
       .w = 50,
       .m = 32,
       .kh = 1,
       .kw = 1,
       .strides = {1, 3},
       .pads = {0, 0, 0, 0},
       .act = {K::kSigmoid}},
      {.c = 3,
       .h = 30,
       .w = 45,
       .m = 64,
       .kh = 7,
       .kw = 7,
       .strides = {2, 2},
       .pads = {3, 3, 3, 3},
       .act = {K::kClip, 0.0f, 6.0f}},
      {.c = 16,
       .h = 5,
       .w = 26,
       .m = 16,
       .kh = 2,
       .kw = 5,
       .strides = {1, 3},
       .pads = {0, 2, 1, 0}},
  };
  uint32_t seed = 60;
  for (const ConvSpec& s : specs) {
    SCOPED_TRACE(std::to_string(s.c) + " -> " + std::to_string(s.m) + ", " + std::to_string(s.kh) +
                 "x" + std::to_string(s.kw));
    const std::vector<std::string> names = CheckAndList(s, seed++);
    for (const std::string tiling : {"conv_nchwc/avx512_4x6", "conv_nchwc/avx512_2x12"}) {
      EXPECT_TRUE(Listed(names, tiling));
      EXPECT_TRUE(Listed(names, tiling + "/out16c"));
      EXPECT_EQ(Listed(names, tiling + "/in16c"), s.c % 16 == 0);
      EXPECT_EQ(Listed(names, tiling + "/in16c_out16c"), s.c % 16 == 0);
    }
  }
  // Output channels must fill whole blocks; grouped layers go to other tactics.
  for (const ConvSpec& s : {ConvSpec{.c = 16, .m = 24}, ConvSpec{.c = 16, .m = 32, .group = 2}}) {
    for (const std::string& n : CheckAndList(s, seed++)) {
      EXPECT_NE(n.rfind("conv_nchwc/", 0), 0u) << n;
    }
  }
}

// A fused residual (y = act(conv + bias + z)): conv_nchwc adds z in its tiles, blocked or plain
// (transposed into a blocked row), every other family under WithResidual's add pass, z read in the
// output's layout; with and without a bias, Relu in the kernel and SiLU after the sum, 1x1 and
// strided, batch 2; a ResNet downsample (1x1, stride 2, input channels a multiple of 16: a plain
// input row transposed into a blocked one too).
TEST(ConvTacticsTest, FusedResidual) {
  using K = ir::ActivationKind;
  const ConvSpec specs[] = {
      {.c = 32, .h = 9, .w = 13, .m = 32, .act = {K::kRelu}, .residual = true},
      {.n = 2,
       .c = 16,
       .h = 10,
       .w = 11,
       .m = 48,
       .strides = {2, 2},
       .bias = false,
       .act = {K::kSilu},
       .residual = true},
      {.c = 24, .h = 7, .w = 6, .m = 16, .kh = 1, .kw = 1, .pads = {0, 0, 0, 0}, .residual = true},
      {.n = 2,
       .c = 32,
       .h = 9,
       .w = 21,
       .m = 48,
       .kh = 1,
       .kw = 1,
       .strides = {2, 2},
       .pads = {0, 0, 0, 0},
       .act = {K::kRelu},
       .residual = true},
      {.c = 5, .h = 6, .w = 9, .m = 7, .act = {K::kClip, 0.0f, 6.0f}, .residual = true},
      {.c = 6, .h = 5, .w = 8, .m = 6, .group = 6, .act = {K::kRelu}, .residual = true},
  };
  uint32_t seed = 80;
  for (const ConvSpec& s : specs) {
    SCOPED_TRACE(std::to_string(s.c) + " -> " + std::to_string(s.m));
    const std::vector<std::string> names = CheckAndList(s, seed++);
    if (ActivationBlock() == 16 && s.m % 16 == 0 && s.group == 1) {
      EXPECT_TRUE(Listed(names, "conv_nchwc/avx512_4x6/out16c"));
      EXPECT_TRUE(Listed(names, "conv_nchwc/avx512_2x12"));
    }
  }
  // Without the attribute set, a fourth input is no Conv the tactics know.
  LayerCase c = MakeConv({.residual = true});
  ir::Attribute off;
  off.kind = ir::Attribute::Kind::kInt;
  off.i = 0;
  c.node.attrs.Set(ir::kResidualAttr, off);
  EXPECT_TRUE(CreateCpuBackend()->Tactics(DescOf(c, {Shape{1, 6, 7, 5}})).empty());
}

// conv_winograd on NCHW16c activations ("/in16c_out16c", AVX-512): F(2x2, 3x3) and F(4x4, 3x3)
// over output sizes that are not a multiple of the tile, no, asymmetric and wide padding, a 1x1
// output, several chunks of tile rows, batch > 1; a fused residual (with Relu in the output
// transform, and SiLU after it), Clip, and no bias. Channels that are not multiples of 16 list
// none.
TEST(ConvTacticsTest, WinogradBlocked) {
  if (ActivationBlock() != 16) GTEST_SKIP() << "blocked conv_winograd needs AVX-512";
  using K = ir::ActivationKind;
  const ConvSpec specs[] = {
      {.c = 16, .h = 9, .w = 11, .m = 32},
      {.n = 2, .c = 32, .h = 8, .w = 13, .m = 16, .pads = {0, 0, 0, 0}, .act = {K::kRelu}},
      {.c = 16, .h = 10, .w = 7, .m = 16, .pads = {0, 2, 1, 0}, .bias = false},
      {.c = 16, .h = 5, .w = 6, .m = 16, .pads = {2, 2, 2, 2}, .act = {K::kClip, 0.0f, 6.0f}},
      {.c = 16, .h = 1, .w = 1, .m = 16},
      {.c = 64, .h = 56, .w = 56, .m = 64, .act = {K::kRelu}, .residual = true},
      {.n = 2, .c = 32, .h = 14, .w = 14, .m = 48, .act = {K::kSilu}, .residual = true},
      {.c = 256, .h = 7, .w = 7, .m = 32},  // long sums: F(4x4, 3x3)'s rounding grows with C
  };
  uint32_t seed = 120;
  for (const ConvSpec& s : specs) {
    SCOPED_TRACE(std::to_string(s.c) + " -> " + std::to_string(s.m) + ", " + std::to_string(s.h) +
                 "x" + std::to_string(s.w));
    const std::vector<std::string> names = CheckAndList(s, seed++);
    size_t blocked = 0;
    for (const std::string& n : names) {
      if (n.starts_with("conv_winograd/") && n.ends_with("/in16c_out16c")) ++blocked;
    }
    EXPECT_GE(blocked, 2u);  // F(2x2, 3x3) and F(4x4, 3x3)
  }
  for (const ConvSpec& s : {ConvSpec{.c = 16, .m = 24}, ConvSpec{.c = 8, .m = 16}}) {
    for (const std::string& n : CheckAndList(s, seed++))
      EXPECT_FALSE(n.ends_with("/in16c_out16c") && n.starts_with("conv_winograd/")) << n;
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

}  // namespace
}  // namespace refit::cpu
