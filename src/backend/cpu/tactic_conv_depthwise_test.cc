// Conformance of the depthwise Conv tactics (conv_depthwise/*) against the reference kernel: the
// plane kernels, the channel-blocked kernels and their channel-blocked inputs and outputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/tactic_conv_test_util.h"

// The cases below name only the fields that differ from ConvSpec's defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu {
namespace {

using namespace conv_testing;  // NOLINT(build/namespaces): the cases' vocabulary

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

// The blocked kernel of the machine's activation block also reads and writes channel-blocked
// activations (NCHW16c with AVX-512, NCHW8c with AVX2), listed as "/in16c", "/out16c" and
// "/in16c_out16c": every pair over strides, padding that cuts windows, 5x5 kernels, rows that
// take several strips, batches and the activations in the kernel and after it.
TEST(ConvTacticsTest, DepthwiseBlockedActivations) {
  const int b = ActivationBlock();
  if (b == 0) GTEST_SKIP() << "no blocked kernels without AVX2";
  const std::string in = "/in" + std::to_string(b) + "c", out = "/out" + std::to_string(b) + "c";
  using K = ir::ActivationKind;
  std::vector<ConvSpec> cases;
  for (int64_t s : {1, 2}) {
    cases.push_back({.c = b, .h = 7, .w = 9, .m = b, .group = b, .strides = {s, s}});
    cases.push_back({.n = 2,
                     .c = 3 * b,
                     .h = 12,
                     .w = 19,
                     .m = 3 * b,
                     .kh = 5,
                     .kw = 5,
                     .group = 3 * b,
                     .strides = {s, s},
                     .pads = {2, 1, 0, 3},
                     .act = {K::kClip, 0.0f, 6.0f}});
  }
  cases.push_back({.c = 2 * b, .h = 9, .w = 301, .m = 2 * b, .group = 2 * b, .act = {K::kRelu}});
  cases.push_back({.c = b, .h = 8, .w = 17, .m = b, .group = b, .bias = false, .act = {K::kSilu}});
  for (const ConvSpec& spec : cases) {
    std::vector<std::string> names;
    CheckAllTactics(MakeConv(spec), Tolerance, MinTactics(spec), &names);
    for (const std::string& suffix : {in, out, in + "_" + out.substr(1)}) {
      EXPECT_EQ(
          std::count_if(names.begin(), names.end(),
                        [&](const std::string& n) {
                          return n.rfind("conv_depthwise/", 0) == 0 && n.size() > suffix.size() &&
                                 n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
                        }),
          1)
          << "no single conv_depthwise tactic ending in " << suffix;
    }
  }
  // A channel count that is not a multiple of the block lists none of them.
  std::vector<std::string> names;
  const int64_t c = b + b / 2;
  const ConvSpec odd{.c = c, .h = 5, .w = 6, .m = c, .group = c};
  CheckAllTactics(MakeConv(odd), Tolerance, MinTactics(odd), &names);
  for (const std::string& n : names) EXPECT_EQ(n.find("/in"), std::string::npos) << n;
  for (const std::string& n : names) EXPECT_EQ(n.find("/out"), std::string::npos) << n;
}

}  // namespace
}  // namespace refit::cpu
