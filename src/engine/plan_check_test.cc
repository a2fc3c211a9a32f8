// The plan check's parts: timing engines in turns, and its timing cache key.
#include "engine/plan_check.h"

#include <gtest/gtest.h>

#include <chrono>
#include <tuple>
#include <vector>

#include "engine/engine_test_util.h"

namespace refit::engine::internal {
namespace {

using namespace testing;  // NOLINT: the engine test helpers

TEST(PlanCheckTest, TimesEveryEngineInTurns) {
  const ir::Graph g = HandGraph();
  const TensorMap inputs = HandInputs();
  std::unique_ptr<Engine> a = BuildAndLoad(g, FastOptions());
  std::unique_ptr<Engine> b = BuildAndLoad(g, FastOptions());
  ASSERT_TRUE(a != nullptr && b != nullptr);
  PlanCheckOptions o;
  o.min_rounds = 3;
  o.max_rounds = 4;
  o.min_seconds = 0;
  auto ms = TimeInTurns({a.get(), b.get()}, Views(inputs), o);
  ASSERT_TRUE(ms.ok()) << ms.status().ToString();
  ASSERT_EQ(ms->size(), 2u);
  for (const std::vector<double>& runs : *ms) {
    EXPECT_EQ(runs.size(), 3u) << "no time asked for: the least rounds";
    for (double m : runs) EXPECT_GT(m, 0.0);
  }
  // Profiled: every timed run's per-layer times, one per layer of the plan.
  std::vector<std::vector<std::vector<double>>> layer_us;
  ms = TimeInTurns({a.get(), b.get()}, Views(inputs), o, &layer_us);
  ASSERT_TRUE(ms.ok()) << ms.status().ToString();
  ASSERT_EQ(layer_us.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    ASSERT_EQ(layer_us[e].size(), (*ms)[e].size());
    for (const std::vector<double>& run : layer_us[e]) {
      EXPECT_EQ(run.size(), (e == 0 ? a : b)->plan().layers.size());
      double sum = 0;
      for (double us : run) sum += us;
      EXPECT_GT(sum, 0.0);
    }
  }
  // Asked for more time than max_rounds take: max_rounds.
  o.min_seconds = 60;
  ms = TimeInTurns({a.get()}, Views(inputs), o);
  ASSERT_TRUE(ms.ok()) << ms.status().ToString();
  ASSERT_EQ(ms->size(), 1u);
  EXPECT_EQ((*ms)[0].size(), 4u);
  // A pause before every turn: 3 rounds of 2 turns take at least 6 pauses.
  o.min_seconds = 0;
  o.settle_ms = 20;
  const auto start = std::chrono::steady_clock::now();
  ms = TimeInTurns({a.get(), b.get()}, Views(inputs), o);
  const double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(ms.ok()) << ms.status().ToString();
  EXPECT_GE(elapsed_ms, 6 * 20.0);
  for (const std::vector<double>& runs : *ms) EXPECT_EQ(runs.size(), 3u);
  // Runs before each turn's timed one, for as long as asked: again at least 6 times that long.
  o.settle_ms = 0;
  o.turn_warmup_ms = 20;
  const auto warm_start = std::chrono::steady_clock::now();
  ms = TimeInTurns({a.get(), b.get()}, Views(inputs), o);
  const double warm_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - warm_start)
          .count();
  EXPECT_GE(warm_ms, 6 * 20.0);
  ASSERT_TRUE(ms.ok()) << ms.status().ToString();
  for (const std::vector<double>& runs : *ms) EXPECT_EQ(runs.size(), 3u);
}

// Round by round against plan 0: a plan is kept only when clearly faster, a slow round does not
// decide, and of several faster plans the fastest is kept.
TEST(PlanCheckTest, KeepsAnotherPlanOnlyWhenClearlyFaster) {
  // Plan 1 runs 5% faster in every round, though the machine slows down over the rounds.
  EXPECT_EQ(KeepFastest({{10, 20, 30, 40, 50}, {9.5, 19, 28.5, 38, 47.5}}, 0.03), 1u);
  // 1% faster: noise, plan 0 stays.
  EXPECT_EQ(KeepFastest({{10, 20, 30, 40, 50}, {9.9, 19.8, 29.7, 39.6, 49.5}}, 0.03), 0u);
  // Plan 1 is 10% slower except in one round where plan 0 hit a stall: plan 0 stays.
  EXPECT_EQ(KeepFastest({{10, 10, 30, 10, 10}, {11, 11, 11, 11, 11}}, 0.03), 0u);
  // Plans 1 and 2 are both faster; plan 2 more.
  EXPECT_EQ(KeepFastest({{10, 10, 10}, {9, 9, 9}, {8, 8, 8}}, 0.03), 2u);
  // Only plan 0, or nothing timed.
  EXPECT_EQ(KeepFastest({{10, 10}}, 0.03), 0u);
  EXPECT_EQ(KeepFastest({{}, {}}, 0.03), 0u);
  EXPECT_DOUBLE_EQ(Median({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(Median({4, 1, 2, 3}), 2.5);
  EXPECT_DOUBLE_EQ(Median({}), 0.0);
  // Round by round: a machine slowing down cancels out; a round of no base time is skipped; the
  // rounds both engines ran are compared; no such round says nothing (1).
  EXPECT_DOUBLE_EQ(MedianRoundRatio({10, 20, 40}, {5, 10, 20}), 0.5);
  EXPECT_DOUBLE_EQ(MedianRoundRatio({0, 10, 10}, {99, 9, 8}), 0.85);
  EXPECT_DOUBLE_EQ(MedianRoundRatio({10, 10}, {12}), 1.2);
  EXPECT_DOUBLE_EQ(MedianRoundRatio({}, {5}), 1.0);
}

// The tactic check's per-layer verdict: only swapped layers, each by the median of its rounds'
// ratios, at least min_gain faster.
TEST(PlanCheckTest, FasterLayersComparesEachSwappedLayerRoundByRound) {
  // Rounds x layers (microseconds). Layer 0 not swapped (faster anyway), layer 1 10% faster,
  // layer 2 1% faster (noise), layer 3 faster in one round only, layer 4 slower.
  const std::vector<std::vector<double>> base = {
      {100, 200, 300, 400, 500}, {100, 210, 300, 400, 500}, {100, 190, 300, 400, 500}};
  const std::vector<std::vector<double>> variant = {
      {50, 180, 297, 200, 600}, {50, 189, 297, 420, 600}, {50, 171, 297, 410, 600}};
  EXPECT_EQ(FasterLayers(base, variant, {4, 1, 2, 3}, 0.03), (std::vector<size_t>{1}));
  EXPECT_EQ(FasterLayers(base, variant, {1, 2}, 0.0), (std::vector<size_t>{1, 2}));
  EXPECT_TRUE(FasterLayers(base, variant, {}, 0.03).empty());
  // No rounds, or a layer index past the profiles: nothing.
  EXPECT_TRUE(FasterLayers({}, {}, {1}, 0.03).empty());
  EXPECT_TRUE(FasterLayers(base, variant, {7}, 0.03).empty());
}

TEST(PlanCheckTest, RefusesNothingToTimeAndNamesAFailingCandidate) {
  const ir::Graph g = HandGraph();
  const TensorMap inputs = HandInputs();
  std::unique_ptr<Engine> good = BuildAndLoad(g, FastOptions());
  std::unique_ptr<Engine> empty = BuildAndLoad(g, FastOptions(EngineMode::kStripped));
  ASSERT_TRUE(good != nullptr && empty != nullptr);
  EXPECT_EQ(TimeInTurns({}, Views(inputs), {}).status().code(), StatusCode::kInvalidArgument);
  PlanCheckOptions bad;
  bad.min_rounds = 0;
  EXPECT_EQ(TimeInTurns({good.get()}, Views(inputs), bad).status().code(),
            StatusCode::kInvalidArgument);
  bad.min_rounds = 5;
  bad.max_rounds = 4;
  EXPECT_EQ(TimeInTurns({good.get()}, Views(inputs), bad).status().code(),
            StatusCode::kInvalidArgument);
  // A stripped engine has no weights to run with.
  auto failed = TimeInTurns({good.get(), empty.get()}, Views(inputs), {});
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(Contains(failed.status().message(), "candidate 1")) << failed.status().message();
}

// Samples where given, synthetic values of the planned dtype and shape elsewhere.
TEST(PlanCheckTest, InputsAreTheSamplesOrSynthetic) {
  Plan plan;
  for (auto [name, dtype, dims] :
       {std::tuple<const char*, DataType, std::vector<int64_t>>{"x", DataType::kF32, {2, 3}},
        {"ids", DataType::kI64, {4}},
        {"given", DataType::kF32, {1}}}) {
    PlanValue v;
    v.name = name;
    v.dtype = dtype;
    v.shape = Shape(dims);
    plan.inputs.push_back(int32_t(plan.values.size()));
    plan.values.push_back(std::move(v));
  }
  const Tensor sample = Tensor::FromVector<float>(Shape{1}, {42.f});
  auto in = MakePlanInputs(plan, {{"given", sample.view()}});
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->views.size(), 3u);
  EXPECT_EQ(in->held.size(), 2u);
  const TensorView& x = in->views.at("x");
  EXPECT_EQ(x.dtype(), DataType::kF32);
  EXPECT_EQ(x.shape(), Shape({2, 3}));
  bool nonzero = false;
  for (int i = 0; i < 6; ++i) {
    const float f = static_cast<const float*>(x.data())[i];
    EXPECT_TRUE(f >= -1.f && f < 1.f) << f;
    nonzero = nonzero || f != 0.f;
  }
  EXPECT_TRUE(nonzero);
  const TensorView& ids = in->views.at("ids");
  EXPECT_EQ(ids.dtype(), DataType::kI64);
  EXPECT_EQ(ids.shape(), Shape({4}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(static_cast<const int64_t*>(ids.data())[i], 0);
  EXPECT_EQ(in->views.at("given").data(), sample.data()) << "the sample itself, not a copy";
}

TEST(PlanCheckTest, KeyCoversLayersAndEachPlansTactics) {
  const std::vector<std::string> layers = {"{\"op\":\"Conv\"}", "{\"op\":\"Relu\"}"};
  const std::vector<std::vector<std::string>> plans = {{"conv_a", "relu"}, {"conv_b", "relu"}};
  const std::string key = PlanCheckKey(layers, plans);
  EXPECT_EQ(PlanCheckKey(layers, plans), key);
  EXPECT_EQ(key.rfind("plan check ", 0), 0u) << key;
  EXPECT_EQ(key.find("Conv"), std::string::npos) << "hashed, not spelled out: " << key;
  EXPECT_NE(PlanCheckKey({layers[0]}, plans), key) << "a layer less";
  EXPECT_NE(PlanCheckKey({layers[1], layers[0]}, plans), key) << "layers in another order";
  EXPECT_NE(PlanCheckKey(layers, {plans[1], plans[0]}), key) << "plans in another order";
  EXPECT_NE(PlanCheckKey(layers, {{"conv_a", "relu"}, {"conv_c", "relu"}}), key) << "a tactic";
  // Where one plan ends and the next begins is part of the key.
  EXPECT_NE(PlanCheckKey(layers, {{"a", "b"}, {"c"}}), PlanCheckKey(layers, {{"a"}, {"b", "c"}}));
}

}  // namespace
}  // namespace refit::engine::internal
