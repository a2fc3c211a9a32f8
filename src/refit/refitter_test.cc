#include "refit/refitter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "refit/refit_test_util.h"

namespace refit::refitter {
namespace {

using namespace testing;  // NOLINT

TEST(RefitterTest, ListsTheRefittableSourceWeights) {
  const ir::Graph g = HandGraph();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  Refitter r(e.get());
  std::set<std::string> names;
  for (const WeightPrototype& p : r.weights()) {
    names.insert(p.name);
    const Tensor* w = g.FindWeight(p.name);
    ASSERT_NE(w, nullptr) << p.name;
    EXPECT_EQ(p.shape, w->shape()) << p.name;
    EXPECT_EQ(p.dtype, w->dtype()) << p.name;
  }
  // "scale" only feeds a weight computation kept at run time: it is a slot of its own.
  EXPECT_EQ(names, (std::set<std::string>{"bn.beta", "bn.gamma", "bn.mean", "bn.var", "conv.b",
                                          "conv.w", "fc.b", "fc.w", "scale"}));
}

TEST(RefitterTest, FullRefitGivesTheNewWeightsOutputsAndBackIsBitExact) {
  const ir::Graph g = HandGraph();
  const ir::Graph g2 = WithNewWeights(g, 500);
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  const TensorMap before = RunOk(*e, inputs);
  Refitter r(e.get());
  SetAll(r, g2);
  EXPECT_TRUE(r.Missing().empty());
  auto report = r.Apply();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->weights, int(r.weights().size()));
  EXPECT_EQ(report->slots, report->refittable_slots);
  EXPECT_GT(report->bytes, 0u);
  EXPECT_TRUE(r.Pending().empty());
  const TensorMap after = RunOk(*e, inputs);
  ExpectClose(Reference(g2, inputs), after);
  // A -> B -> A: exactly the original outputs.
  SetAll(r, g);
  ASSERT_TRUE(r.Apply().ok());
  ExpectBitEqual(before, RunOk(*e, inputs));
}

TEST(RefitterTest, PartialRefitRecomputesOnlyTouchedSlotsAndSharesTheRest) {
  const ir::Graph g = HandGraph();
  ir::Graph g2 = CloneGraph(g);
  g2.weights.at("fc.w") = RandomTensor(Shape{8, 144}, 901);
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  auto old_set = e->weights();
  Refitter r(e.get());
  ASSERT_TRUE(r.SetWeight("fc.w", g2.weights.at("fc.w").view()).ok());
  EXPECT_TRUE(r.Missing().empty());  // the transposed MatMul weight reads fc.w alone
  auto report = r.Apply();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->weights, 1);
  EXPECT_EQ(report->slots, 1);
  auto new_set = e->weights();
  ASSERT_NE(new_set, old_set);
  int changed = 0;
  for (size_t s = 0; s < new_set->slots.size(); ++s) {
    if (new_set->slots[s] != old_set->slots[s]) {
      ++changed;
      EXPECT_EQ(e->plan().slots[s].recipe.Sources(), std::vector<std::string>{"fc.w"});
    }
  }
  EXPECT_EQ(changed, 1);
  ExpectClose(Reference(g2, inputs), RunOk(*e, inputs));
}

TEST(RefitterTest, BatchNormTensorsMustComeTogether) {
  const ir::Graph g = HandGraph();
  const ir::Graph g2 = WithNewWeights(g, 700);
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  auto old_set = e->weights();
  Refitter r(e.get());
  ASSERT_TRUE(r.SetWeight("conv.w", g2.weights.at("conv.w").view()).ok());
  // conv.w's folded slot reads gamma and var; gamma also feeds the folded bias, which reads
  // conv.b, beta and mean: the closure is the whole BatchNorm.
  EXPECT_EQ(r.Missing(),
            (std::vector<std::string>{"bn.beta", "bn.gamma", "bn.mean", "bn.var", "conv.b"}));
  auto failed = r.Apply();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(failed.status().message(), "'bn.var' f32" + Shape{4}.ToString()))
      << failed.status().message();
  EXPECT_EQ(e->weights(), old_set);
  EXPECT_EQ(r.Pending(), std::vector<std::string>{"conv.w"});  // kept for another try
  ASSERT_TRUE(SetFrom(r, g2, r.Missing()));
  auto report = r.Apply();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->slots, 2);  // the folded weight and the folded bias
  ir::Graph expected = CloneGraph(g);
  for (const std::string& n : kHandConvSources) expected.weights.at(n) = g2.weights.at(n).Clone();
  ExpectClose(Reference(expected, inputs), RunOk(*e, inputs));
}

TEST(RefitterTest, TiedWeightRefitsEverySlotThatReadsIt) {
  const ir::Graph g = TiedGraph();
  const ir::Graph g2 = WithNewWeights(g, 40);
  const TensorMap inputs = TiedInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  Refitter r(e.get());
  ASSERT_TRUE(r.SetWeight("tied", g2.weights.at("tied").view()).ok());
  auto report = r.Apply();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->slots, 2);
  ir::Graph expected = CloneGraph(g);
  expected.weights.at("tied") = g2.weights.at("tied").Clone();
  ExpectClose(Reference(expected, inputs), RunOk(*e, inputs));
}

TEST(RefitterTest, BadWeightsAreNamedAndChangeNothing) {
  const ir::Graph g = HandGraph();
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  const TensorMap before = RunOk(*e, inputs);
  auto old_set = e->weights();
  Refitter r(e.get());

  Status s = r.SetWeight("no.such.weight", g.weights.at("fc.b").view());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(s.message(), "'no.such.weight'")) << s.message();

  const Tensor wrong_shape = RandomTensor(Shape{8, 143}, 3);
  s = r.SetWeight("fc.w", wrong_shape.view());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "'fc.w': expected f32" + Shape{8, 144}.ToString() +
                                        ", found f32" + Shape{8, 143}.ToString()))
      << s.message();

  const Tensor wrong_dtype = Tensor::FromVector<double>(Shape{8}, std::vector<double>(8, 1.0));
  s = r.SetWeight("fc.b", wrong_dtype.view());
  EXPECT_TRUE(Contains(s.message(),
                       "expected f32" + Shape{8}.ToString() + ", found f64" + Shape{8}.ToString()))
      << s.message();
  EXPECT_TRUE(r.Pending().empty());

  // NaN and infinity: named with the element, refused at Apply, nothing swapped.
  Tensor nan_w = g.weights.at("fc.w").Clone();
  nan_w.mutable_data_as<float>()[37] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(r.SetWeight("fc.w", nan_w.view()).ok());
  Tensor inf_b = g.weights.at("fc.b").Clone();
  inf_b.mutable_data_as<float>()[7] = -std::numeric_limits<float>::infinity();
  ASSERT_TRUE(r.SetWeight("fc.b", inf_b.view()).ok());
  auto failed = r.Apply();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(Contains(failed.status().message(), "'fc.b' element 7"))
      << failed.status().ToString();
  EXPECT_TRUE(Contains(failed.status().message(), "'fc.w' element 37"))
      << failed.status().ToString();
  EXPECT_EQ(e->weights(), old_set);
  ExpectBitEqual(before, RunOk(*e, inputs));
  r.Clear();
  EXPECT_TRUE(r.Pending().empty());

  // NaN in a BatchNorm-folded conv weight (checked through the folded result) is named too.
  ir::Graph g3 = CloneGraph(g);
  g3.weights.at("conv.w").mutable_data_as<float>()[11] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(SetFrom(r, g3, kHandConvSources));
  failed = r.Apply();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(Contains(failed.status().message(), "'conv.w' element 11"))
      << failed.status().ToString();
  EXPECT_EQ(e->weights(), old_set);
  r.Clear();

  // A BatchNorm variance of exactly -eps: the folded scale divides by zero.
  ir::Graph g2 = CloneGraph(g);
  float* var = g2.weights.at("bn.var").mutable_data_as<float>();
  for (int i = 0; i < 4; ++i) var[i] = -1e-5f;
  ASSERT_TRUE(SetFrom(r, g2, kHandConvSources));
  failed = r.Apply();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(Contains(failed.status().message(), "not finite")) << failed.status().ToString();
  EXPECT_EQ(e->weights(), old_set);
  ExpectBitEqual(before, RunOk(*e, inputs));
}

// A slot over 1 MiB that is a checked copy of its source is copied in chunks by every refit
// thread: the copy is exact, and a NaN or infinity is named at its first element across chunks,
// leaving the engine as it was.
TEST(RefitterTest, LargeCopiedSlotIsSplitOverThreads) {
  constexpr int64_t kN = 320000;  // 1.2 MiB of f32, five 256 KiB chunks
  ir::Graph g;
  g.name = "large_add";
  g.opset = 17;
  AddInput(g, "x", {1, kN});
  g.weights.emplace("big", RandomTensor(Shape{1, kN}, 5));
  g.nodes.push_back(MakeNode("Add", {"x", "big"}, {"y"}, "add"));
  AddOutput(g, "y");
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  TensorMap inputs;
  inputs.emplace("x", Tensor::FromVector<float>(Shape{1, kN}, std::vector<float>(kN, 0.0f)));
  RefitterOptions options;
  options.threads = 2;
  Refitter r(e.get(), options);

  const Tensor next = RandomTensor(Shape{1, kN}, 9);
  ASSERT_TRUE(r.SetWeight("big", next.view()).ok());
  ASSERT_TRUE(r.Apply().ok());
  const TensorMap out = RunOk(*e, inputs);
  ASSERT_EQ(out.at("y").nbytes(), next.nbytes());
  EXPECT_EQ(std::memcmp(out.at("y").data(), next.data(), next.nbytes()), 0);  // x + w = w

  const std::shared_ptr<const engine::WeightSet> old_set = e->weights();
  Tensor bad = next.Clone();
  bad.mutable_data_as<float>()[250000] = std::numeric_limits<float>::quiet_NaN();
  bad.mutable_data_as<float>()[131073] = std::numeric_limits<float>::infinity();
  ASSERT_TRUE(r.SetWeight("big", bad.view()).ok());
  auto failed = r.Apply();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(Contains(failed.status().message(), "'big' element 131073"))
      << failed.status().ToString();
  EXPECT_EQ(e->weights(), old_set);
  EXPECT_TRUE(SameBytes(out, RunOk(*e, inputs)));
}

TEST(RefitterTest, SetWeightsFromAMapIsAllOrNothing) {
  const ir::Graph g = HandGraph();
  const ir::Graph g2 = WithNewWeights(g, 321);
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  Refitter r(e.get());
  ASSERT_TRUE(r.SetWeight("fc.b", g2.weights.at("fc.b").view()).ok());
  std::map<std::string, TensorView> bad;
  for (const auto& [name, t] : g2.weights) bad[name] = t.view();
  const Tensor wrong = RandomTensor(Shape{2, 2}, 5);
  bad["fc.w"] = wrong.view();
  bad["bogus"] = wrong.view();
  Status s = r.SetWeights(bad);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "2 weight(s)")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "'fc.w'")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "'bogus'")) << s.message();
  EXPECT_EQ(r.Pending(), std::vector<std::string>{"fc.b"});  // as before the call
  std::map<std::string, TensorView> good;
  for (const auto& [name, t] : g2.weights) good[name] = t.view();
  ASSERT_TRUE(r.SetWeights(good).ok());
  ASSERT_TRUE(r.Apply().ok());
  ExpectClose(Reference(g2, inputs), RunOk(*e, inputs));
}

TEST(RefitterTest, StrippedEngineNeedsEveryWeightThenRuns) {
  const ir::Graph g = HandGraph();
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions(engine::EngineMode::kStripped));
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->Run(Views(inputs)).ok());
  Refitter r(e.get());
  EXPECT_EQ(r.Missing().size(), r.weights().size());
  ASSERT_TRUE(r.SetWeight("fc.b", g.weights.at("fc.b").view()).ok());
  auto failed = r.Apply();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(Contains(failed.status().message(), "'conv.w'")) << failed.status().ToString();
  SetAll(r, g);
  ASSERT_TRUE(r.Apply().ok());
  ExpectClose(Reference(g, inputs), RunOk(*e, inputs));
}

TEST(RefitterTest, StaticEngineHasNothingToRefit) {
  const ir::Graph g = HandGraph();
  auto e = BuildAndLoad(g, FastOptions(engine::EngineMode::kStatic));
  ASSERT_NE(e, nullptr);
  Refitter r(e.get());
  EXPECT_TRUE(r.weights().empty());
  Status s = r.SetWeight("fc.w", g.weights.at("fc.w").view());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(s.message(), "static")) << s.message();
}

TEST(RefitterTest, OwnedWeightsOutliveTheCaller) {
  const ir::Graph g = TiedGraph();
  const ir::Graph g2 = WithNewWeights(g, 60);
  const TensorMap inputs = TiedInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  Refitter r(e.get());
  {
    auto t = std::make_shared<const Tensor>(g2.weights.at("tied").Clone());
    ASSERT_TRUE(r.SetWeight("tied", t).ok());
  }
  ASSERT_TRUE(r.Apply().ok());
  ir::Graph expected = CloneGraph(g);
  expected.weights.at("tied") = g2.weights.at("tied").Clone();
  ExpectClose(Reference(expected, inputs), RunOk(*e, inputs));
}

}  // namespace
}  // namespace refit::refitter
