// Conformance of the normalisation tactics: LayerNormalization (ONNX and refit domains, several
// axes and parameter shapes), refit.GroupNorm and InstanceNormalization, odd sizes, fused
// activations on the refit-domain nodes.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/tactic_test_util.h"
#include "ir/fused_ops.h"

namespace refit::cpu {
namespace {

using testing::CheckAllTactics;
using testing::LayerCase;
using testing::RandomTensor;

// The AVX2 runner where this CPU has it, and the baseline one.
const int kTactics = DetectCpuFeatures().avx2 && DetectCpuFeatures().fma ? 2 : 1;

ir::Node Node(const std::string& op, size_t inputs, const std::string& domain = "") {
  ir::Node n;
  n.op_type = op;
  n.domain = domain;
  n.name = "n_" + op;
  for (size_t i = 0; i < inputs; ++i) n.inputs.push_back("in" + std::to_string(i));
  n.outputs = {"out"};
  return n;
}

void SetInt(ir::Node& n, const std::string& key, int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  n.attrs.Set(key, a);
}

// Input with an offset so the mean is far from 0 (what makes one-pass statistics fail).
Tensor Shifted(Shape s, uint32_t seed, float shift) {
  Tensor t = RandomTensor(std::move(s), seed);
  for (int64_t i = 0; i < t.NumElements(); ++i) t.mutable_data_as<float>()[i] += shift;
  return t;
}

struct LnCase {
  std::vector<int64_t> x;
  int64_t axis;
  std::vector<int64_t> scale;  // empty: absent (refit domain only)
  bool bias;
};

TEST(TacticNormTest, LayerNormalization) {
  const std::vector<LnCase> cases = {
      {{2, 5, 8}, -1, {8}, true},      {{3, 7, 13}, 1, {7, 13}, true},   {{4, 33}, -1, {33}, false},
      {{2, 3, 4, 5}, 2, {4, 5}, true}, {{1, 129, 768}, -1, {768}, true}, {{6, 1}, -1, {1}, true},
  };
  for (const char* domain : {"", "refit"}) {
    for (const LnCase& lc : cases) {
      SCOPED_TRACE(std::string(domain) + " axis " + std::to_string(lc.axis) + " " +
                   Shape(lc.x).ToString());
      LayerCase c;
      c.node = Node("LayerNormalization", lc.bias ? 3 : 2, domain);
      SetInt(c.node, "axis", lc.axis);
      c.inputs.push_back(Shifted(Shape(lc.x), 1, 3.f));
      c.inputs.push_back(RandomTensor(Shape(lc.scale), 2));
      if (lc.bias) c.inputs.push_back(RandomTensor(Shape(lc.scale), 3));
      c.weight = {false, true, true};
      EXPECT_GE(CheckAllTactics(c, 1e-5, kTactics), kTactics);
    }
  }
}

TEST(TacticNormTest, RefitLayerNormWithoutScaleAndWithGelu) {
  LayerCase c;
  c.node = Node("LayerNormalization", 1, ir::kRefitDomain);
  c.inputs.push_back(RandomTensor(Shape{3, 50}, 4));
  EXPECT_GE(CheckAllTactics(c, 1e-5, kTactics), kTactics);
  ir::SetFusedActivation(c.node, {ir::ActivationKind::kGelu, 0, 0});
  EXPECT_GE(CheckAllTactics(c, 1e-5, kTactics), kTactics);
}

TEST(TacticNormTest, GroupNormEveryActivation) {
  using K = ir::ActivationKind;
  const std::vector<ir::FusedActivation> acts = {
      {K::kNone, 0, 0},       {K::kRelu, 0, 0},         {K::kSilu, 0, 0},
      {K::kSigmoid, 0, 0},    {K::kTanh, 0, 0},         {K::kGelu, 0, 0},
      {K::kHardSwish, 0, 0},  {K::kLeakyRelu, 0.1f, 0}, {K::kHardSigmoid, 0.2f, 0.5f},
      {K::kClip, -0.5f, 0.5f}};
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, 6, 7, 5}, {1, 32, 9, 9}, {3, 4, 11}}) {
    for (int64_t groups : {int64_t(1), int64_t(2), shape[1]}) {
      for (const ir::FusedActivation& act : acts) {
        SCOPED_TRACE(Shape(shape).ToString() + " groups " + std::to_string(groups) + " " +
                     std::string(ir::ActivationName(act.kind)));
        LayerCase c;
        c.node = Node("GroupNorm", 5, ir::kRefitDomain);
        SetInt(c.node, "num_groups", groups);
        if (act.kind != K::kNone) ir::SetFusedActivation(c.node, act);
        c.inputs.push_back(Shifted(Shape(shape), 5, -2.f));
        c.inputs.push_back(RandomTensor(Shape{groups}, 6));
        c.inputs.push_back(RandomTensor(Shape{groups}, 7));
        c.inputs.push_back(RandomTensor(Shape{shape[1], 1, 1}, 8));
        c.inputs.push_back(RandomTensor(Shape{shape[1]}, 9));
        c.weight = {false, true, true, true, true};
        EXPECT_GE(CheckAllTactics(c, 1e-5, kTactics), kTactics);
      }
    }
  }
}

TEST(TacticNormTest, InstanceNormalization) {
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, 5, 9, 11}, {1, 3, 100}, {4, 16, 1, 1}, {1, 8, 3, 5, 7}}) {
    SCOPED_TRACE(Shape(shape).ToString());
    LayerCase c;
    c.node = Node("InstanceNormalization", 3);
    c.inputs.push_back(Shifted(Shape(shape), 10, 5.f));
    c.inputs.push_back(RandomTensor(Shape{shape[1]}, 11));
    c.inputs.push_back(RandomTensor(Shape{shape[1]}, 12));
    c.weight = {false, true, true};
    EXPECT_GE(CheckAllTactics(c, 1e-5, kTactics), kTactics);
  }
}

TEST(TacticNormTest, DeclinesStatisticsOutputs) {
  ir::Node n = Node("LayerNormalization", 2);
  n.outputs.push_back("mean");
  backend::LayerDesc d;
  d.node = &n;
  d.opset = 17;
  d.inputs = {{DataType::kF32, Shape{2, 4}, false}, {DataType::kF32, Shape{4}, false}};
  d.outputs = {{DataType::kF32, Shape{2, 4}, false}, {DataType::kF32, Shape{2, 1}, false}};
  EXPECT_TRUE(CreateCpuBackend()->Tactics(d).empty());
}

}  // namespace
}  // namespace refit::cpu
