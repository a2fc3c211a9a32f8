// Conformance of every CPU ConvTranspose tactic against the reference kernel
// (tactic_test_util.h): strides with kernels 2, 3 and 4, pads, output_padding, output_shape,
// auto_pad, dilation, groups, batch > 1, odd sizes, no bias and fused activations.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/tactic_test_util.h"
#include "ir/fused_ops.h"

// The cases below name only the fields that differ from ConvTSpec's defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu {
namespace {

using testing::CheckAllTactics;
using testing::LayerCase;
using testing::RandomTensor;

struct ConvTSpec {
  int64_t n = 1, c = 4, h = 5, w = 7, m = 6, kh = 3, kw = 3;
  int64_t group = 1;
  std::vector<int64_t> strides = {2, 2}, dilations = {1, 1}, pads = {1, 1, 1, 1};
  std::vector<int64_t> output_padding;  // empty leaves the attribute out
  std::vector<int64_t> output_shape;    // empty leaves the attribute out
  std::string auto_pad;                 // "" leaves the attribute out
  bool bias = true;
  ir::FusedActivation act;
};

ir::Attribute Ints(std::vector<int64_t> v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

LayerCase MakeConvTranspose(const ConvTSpec& s, uint32_t seed = 1) {
  LayerCase c;
  c.node.name = "convt";
  c.node.op_type = "ConvTranspose";
  c.node.inputs = {"x", "w"};
  c.node.outputs = {"y"};
  ir::Attribute group;
  group.kind = ir::Attribute::Kind::kInt;
  group.i = s.group;
  c.node.attrs.Set("group", group);
  c.node.attrs.Set("strides", Ints(s.strides));
  c.node.attrs.Set("dilations", Ints(s.dilations));
  c.node.attrs.Set("kernel_shape", Ints({s.kh, s.kw}));
  c.node.attrs.Set("pads", Ints(s.pads));
  if (!s.output_padding.empty()) c.node.attrs.Set("output_padding", Ints(s.output_padding));
  if (!s.output_shape.empty()) c.node.attrs.Set("output_shape", Ints(s.output_shape));
  if (!s.auto_pad.empty()) {
    ir::Attribute mode;
    mode.kind = ir::Attribute::Kind::kString;
    mode.s = s.auto_pad;
    c.node.attrs.Set("auto_pad", mode);
  }
  if (s.act.kind != ir::ActivationKind::kNone) ir::SetFusedActivation(c.node, s.act);
  c.inputs.push_back(RandomTensor(Shape{s.n, s.c, s.h, s.w}, seed));
  c.inputs.push_back(RandomTensor(Shape{s.c, s.m / s.group, s.kh, s.kw}, seed + 1));
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

// conv_transpose_gemm takes the direct-A GEMM kernels of the best ISA: 2 on AVX2 machines.
int MinTactics() { return HasAvx2() ? 2 : 0; }

void Check(const ConvTSpec& s, uint32_t seed = 1) {
  CheckAllTactics(MakeConvTranspose(s, seed), 1e-5, MinTactics());
}

std::vector<std::string> TacticNames(const LayerCase& c, const Shape& out) {
  const backend::LayerDesc desc = DescOf(c, {out});
  std::vector<std::string> names;
  for (const auto& t : CreateCpuBackend()->Tactics(desc)) names.push_back(t->name());
  return names;
}

TEST(ConvTransposeTacticsTest, ListsTheFamilyAndChecksTheOutputShape) {
  LayerCase c = MakeConvTranspose({});
  // (5 - 1) * 2 + 3 - 2 = 9, (7 - 1) * 2 + 3 - 2 = 13.
  const std::vector<std::string> names = TacticNames(c, Shape{1, 6, 9, 13});
  if (HasAvx2()) {
    ASSERT_FALSE(names.empty());
    for (const std::string& n : names) EXPECT_EQ(n.rfind("conv_transpose_gemm/avx", 0), 0u) << n;
  }
  EXPECT_TRUE(TacticNames(c, Shape{1, 6, 9, 14}).empty());
  c.weight[1] = false;
  EXPECT_TRUE(TacticNames(c, Shape{1, 6, 9, 13}).empty());
}

TEST(ConvTransposeTacticsTest, Stride2Kernel2) {
  Check({.kh = 2, .kw = 2, .pads = {0, 0, 0, 0}});
  Check({.c = 5, .h = 3, .w = 4, .m = 17, .kh = 2, .kw = 2, .pads = {0, 0, 0, 0}});
}

TEST(ConvTransposeTacticsTest, Stride2Kernel3And4WithPads) {
  Check({});
  Check({.c = 3, .h = 6, .w = 5, .m = 7, .kh = 4, .kw = 4, .pads = {1, 1, 1, 1}});
  Check(
      {.c = 3, .h = 4, .w = 5, .m = 5, .kh = 4, .kw = 3, .strides = {2, 3}, .pads = {2, 0, 1, 1}});
}

TEST(ConvTransposeTacticsTest, OutputPadding) {
  Check({.output_padding = {1, 1}});
  Check({.c = 2,
         .h = 3,
         .w = 5,
         .m = 3,
         .kh = 3,
         .kw = 2,
         .strides = {3, 2},
         .pads = {0, 1, 1, 0},
         .output_padding = {2, 1}});
}

TEST(ConvTransposeTacticsTest, OutputShapeAndAutoPad) {
  Check({.output_shape = {10, 14}});
  Check({.output_shape = {12, 16}});  // larger than the full output: negative padding
  Check({.pads = {0, 0, 0, 0}, .auto_pad = "SAME_UPPER"});
  Check({.kh = 4, .kw = 4, .pads = {0, 0, 0, 0}, .auto_pad = "SAME_LOWER"});
  Check({.pads = {0, 0, 0, 0}, .auto_pad = "VALID"});
}

TEST(ConvTransposeTacticsTest, Dilation2) {
  Check({.h = 6, .w = 5, .m = 5, .dilations = {2, 2}, .pads = {2, 1, 1, 2}});
  Check({.h = 7, .w = 6, .strides = {1, 1}, .dilations = {2, 2}, .pads = {2, 2, 2, 2}});
}

TEST(ConvTransposeTacticsTest, Groups) {
  Check({.c = 4, .m = 6, .group = 2});
  Check({.c = 6, .h = 4, .w = 3, .m = 9, .kh = 4, .kw = 4, .group = 3});
  Check({.c = 8, .m = 8, .group = 8, .pads = {0, 0, 0, 0}});  // depthwise
}

TEST(ConvTransposeTacticsTest, BatchAndNoBias) {
  Check({.n = 2, .bias = false});
  Check({.n = 3, .c = 5, .h = 3, .w = 3, .m = 4, .kh = 4, .kw = 4, .group = 1, .bias = false});
}

TEST(ConvTransposeTacticsTest, ChannelsFillingWholePanels) {
  // 256 input channels hit the padded row stride of the input copy.
  Check({.c = 256, .h = 4, .w = 4, .m = 32, .kh = 2, .kw = 2, .pads = {0, 0, 0, 0}});
}

TEST(ConvTransposeTacticsTest, FusedActivations) {
  using K = ir::ActivationKind;
  for (ir::FusedActivation act :
       {ir::FusedActivation{K::kRelu}, ir::FusedActivation{K::kSilu},
        ir::FusedActivation{K::kClip, 0.0f, 6.0f}, ir::FusedActivation{K::kLeakyRelu, 0.1f},
        ir::FusedActivation{K::kSigmoid}}) {
    SCOPED_TRACE(std::string(ir::ActivationName(act.kind)));
    Check({.n = 2, .group = 2, .act = act});
    Check({.bias = false, .act = act});
  }
}

}  // namespace
}  // namespace refit::cpu
