// The builder end to end: build -> serialize -> load -> run, against the reference executor on the
// same graph, in every mode; weight computations; input shapes; the timing cache.
#include "engine/builder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "engine/engine_test_util.h"

namespace refit::engine {
namespace {

using namespace testing;  // NOLINT: the engine test helpers

class BuilderModes : public ::testing::TestWithParam<EngineMode> {};

TEST_P(BuilderModes, TinyCnnMatchesReference) {
  const ir::Graph g = TinyCnn();
  const TensorMap inputs = LoadSafetensors(TinyCnnDir() + "/inputs.safetensors");
  std::unique_ptr<Engine> e = BuildAndLoad(g, FastOptions(GetParam()));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->plan().mode, GetParam());
  if (GetParam() == EngineMode::kStripped) {
    auto refused = e->Run(Views(inputs));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_TRUE(Contains(refused.status().message(), "stripped")) << refused.status().message();
    EXPECT_TRUE(Contains(refused.status().message(), "--weights")) << refused.status().message();
    auto ws = e->CreateWeightSet(LookupIn(g));
    ASSERT_TRUE(ws.ok()) << ws.status().ToString();
    ASSERT_TRUE(e->SetWeights(*ws).ok());
  }
  const TensorMap ref = Reference(g, inputs);
  ExpectClose(ref, RunOk(*e, inputs));
  // The outputs PyTorch recorded with the model, too.
  ExpectClose(LoadSafetensors(TinyCnnDir() + "/outputs.safetensors"), RunOk(*e, inputs));
}

TEST_P(BuilderModes, HandGraphMatchesReference) {
  const ir::Graph g = HandGraph();
  const TensorMap inputs = HandInputs();
  std::unique_ptr<Engine> e = BuildAndLoad(g, FastOptions(GetParam()));
  ASSERT_NE(e, nullptr);
  const Plan& plan = e->plan();
  if (GetParam() == EngineMode::kStripped) {
    EXPECT_FALSE(e->Run(Views(inputs)).ok());
    ASSERT_TRUE(e->SetWeights(*e->CreateWeightSet(LookupIn(g))).ok());
  }
  ExpectClose(Reference(g, inputs), RunOk(*e, inputs), 1e-5);
  // The batchnorm folded into the conv, the transpose into the Gemm's weight, MatMul+Add fused.
  for (const PlanLayer& l : plan.layers) {
    EXPECT_NE(l.node.op_type, "BatchNormalization");
    EXPECT_NE(l.node.op_type, "Transpose");
    EXPECT_NE(l.node.op_type, "Constant");
  }
  int refittable = 0, constants = 0, stored = 0;
  for (const WeightSlot& s : plan.slots) {
    refittable += s.refittable;
    constants += !s.refittable;
    stored += s.stored;
    if (s.refittable) {
      for (const std::string& src : s.recipe.Sources()) EXPECT_NE(plan.FindSource(src), nullptr);
    }
  }
  if (GetParam() == EngineMode::kStatic) {
    EXPECT_EQ(refittable, 0);
    EXPECT_TRUE(plan.sources.empty());
    EXPECT_TRUE(plan.weight_computations.empty());
  } else {
    EXPECT_GT(refittable, 0);
    EXPECT_GT(constants, 0);  // the reshape target and the offset constant
    EXPECT_EQ(plan.sources.size(), 9u);
  }
  EXPECT_EQ(stored, GetParam() == EngineMode::kStripped ? constants : int(plan.slots.size()));
}

INSTANTIATE_TEST_SUITE_P(AllModes, BuilderModes,
                         ::testing::Values(EngineMode::kRefittable, EngineMode::kStripped,
                                           EngineMode::kStatic),
                         [](const auto& info) { return std::string(EngineModeName(info.param)); });

TEST(BuilderTest, RecipesRecordTheFusions) {
  auto built = BuildEngine(HandGraph(), FastOptions());
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  std::string recipes;
  for (const WeightSlot& s : built->plan.slots) {
    if (s.refittable) recipes += s.recipe.ToString() + "\n";
  }
  EXPECT_TRUE(Contains(recipes, "bn_scale(conv.w")) << recipes;
  EXPECT_TRUE(Contains(recipes, "bn_bias(reshape(conv.b")) << recipes;
  EXPECT_TRUE(Contains(recipes, "transpose(fc.w, perm=[1,0])")) << recipes;
  EXPECT_GT(built->report.Count("fold_batchnorm"), 0) << built->report.ToString();
  EXPECT_GT(built->report.Count("fold_weight_transpose"), 0) << built->report.ToString();
}

TEST(BuilderTest, WeightComputationKeptWhenRefittableFoldedWhenStatic) {
  const std::vector<std::string> kept = {"square_scale", "reshape_square"};
  auto has_layer = [](const Plan& p, const std::string& name) {
    return std::any_of(p.layers.begin(), p.layers.end(),
                       [&](const PlanLayer& l) { return l.node.name == name; });
  };
  for (EngineMode mode : {EngineMode::kRefittable, EngineMode::kStripped}) {
    auto built = BuildEngine(HandGraph(), FastOptions(mode));
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    EXPECT_EQ(built->plan.weight_computations, kept);
    for (const std::string& name : kept) EXPECT_TRUE(has_layer(built->plan, name)) << name;
    // The square reads the source weight itself, so a refit recomputes it.
    EXPECT_TRUE(std::any_of(built->plan.slots.begin(), built->plan.slots.end(),
                            [](const WeightSlot& s) { return s.name == "scale" && s.refittable; }));
  }
  auto folded = BuildEngine(HandGraph(), FastOptions(EngineMode::kStatic));
  ASSERT_TRUE(folded.ok()) << folded.status().ToString();
  const Plan& sp = folded->plan;
  EXPECT_TRUE(sp.weight_computations.empty());
  for (const std::string& name : kept) EXPECT_FALSE(has_layer(sp, name)) << name;
  // The folded result is a constant slot named after the computation's output.
  EXPECT_TRUE(std::any_of(sp.slots.begin(), sp.slots.end(), [](const WeightSlot& s) {
    return s.name == "sqr" && !s.refittable && s.stored;
  }));
}

// A ViT's class token broadcast to the batch (Expand of a weight to a constant shape), an f16
// weight cast to f32, a BERT's position embedding read at positions 0..n-1 (Gather of consecutive
// constant indices) and a Slice of a weight are recipes, not layers: the refittable engine runs
// what the static one runs, and a refit recomputes them all from the new source weights.
TEST(BuilderTest, WeightLayoutNodesAreRecipes) {
  auto graph = [](uint32_t seed) {
    ir::Graph g;
    g.name = "expand_cast";
    g.opset = 17;
    AddInput(g, "x", {2, 3, 4});
    g.weights.emplace("cls", RandomTensor(Shape{1, 1, 4}, seed));
    std::vector<Half> half;
    for (float v : {0.5f, -1.25f, 2.f, 0.75f}) half.push_back(Half(v * float(seed)));
    g.weights.emplace("scale16", Tensor::FromVector<Half>(Shape{4}, half));
    AddConstantNode(g, "shape_const", "shape", Tensor::FromVector<int64_t>(Shape{3}, {2, 1, 4}));
    g.nodes.push_back(MakeNode("Expand", {"cls", "shape"}, {"cls_b"}, "expand_cls"));
    ir::Node cast = MakeNode("Cast", {"scale16"}, {"scale"}, "cast_scale");
    SetInt(cast, "to", 1);  // FLOAT
    g.nodes.push_back(std::move(cast));
    ir::Node cat = MakeNode("Concat", {"cls_b", "x"}, {"tokens"}, "concat");
    SetInt(cat, "axis", 1);
    g.nodes.push_back(std::move(cat));
    g.nodes.push_back(MakeNode("Mul", {"tokens", "scale"}, {"scaled"}, "scale_tokens"));
    g.weights.emplace("pos", RandomTensor(Shape{6, 4}, seed + 1));
    AddConstantNode(g, "ids_const", "ids", Tensor::FromVector<int64_t>(Shape{1, 4}, {0, 1, 2, 3}));
    g.nodes.push_back(MakeNode("Gather", {"pos", "ids"}, {"pos_rows"}, "gather_pos"));
    g.nodes.push_back(MakeNode("Add", {"scaled", "pos_rows"}, {"placed"}, "add_pos"));
    g.weights.emplace("wide", RandomTensor(Shape{2, 9}, seed + 2));
    for (const auto& [name, v] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
             {"starts", {0, -7}}, {"ends", {INT64_MAX, 6}}, {"axes", {0, 1}}}) {
      AddConstantNode(g, name + "_const", name, Tensor::FromVector<int64_t>(Shape{2}, v));
    }
    g.nodes.push_back(MakeNode("Slice", {"wide", "starts", "ends", "axes"}, {"band"}, "slice"));
    AddConstantNode(g, "row_const", "row", Tensor::FromVector<int64_t>(Shape{3}, {2, 1, 4}));
    g.nodes.push_back(MakeNode("Reshape", {"band", "row"}, {"band3"}, "reshape_band"));
    g.nodes.push_back(MakeNode("Add", {"placed", "band3"}, {"out"}, "add_band"));
    AddOutput(g, "out");
    return g;
  };
  const ir::Graph g = graph(1);
  TensorMap in;
  in.emplace("x", RandomTensor(Shape{2, 3, 4}, 5));
  auto built = BuildEngine(CloneGraph(g), FastOptions());
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_TRUE(built->plan.weight_computations.empty());
  std::string recipes;
  for (const WeightSlot& s : built->plan.slots) {
    if (s.refittable) recipes += s.recipe.ToString() + "; ";
  }
  EXPECT_TRUE(Contains(recipes, "expand(cls, shape=[2,1,4])")) << recipes;
  EXPECT_TRUE(Contains(recipes, "cast(scale16, f32)")) << recipes;
  EXPECT_TRUE(Contains(recipes, "reshape(slice(pos, axis=0, 0:4), shape=[1,4,4])")) << recipes;
  EXPECT_TRUE(Contains(recipes, "slice(wide, axis=1, 2:6)")) << recipes;
  auto folded = BuildEngine(CloneGraph(g), FastOptions(EngineMode::kStatic));
  ASSERT_TRUE(folded.ok()) << folded.status().ToString();
  EXPECT_EQ(built->plan.layers.size(), folded->plan.layers.size());
  auto e = Engine::FromBuild(std::move(built).value());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ExpectClose(Reference(g, in), RunOk(**e, in), 1e-6);
  const ir::Graph g2 = graph(3);
  auto set = (*e)->CreateWeightSet(LookupIn(g2));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_TRUE((*e)->SetWeights(*set).ok());
  ExpectClose(Reference(g2, in), RunOk(**e, in), 1e-6);
}

TEST(BuilderTest, InputShapeErrors) {
  BuildOptions unknown = FastOptions();
  unknown.input_shapes["y"] = {1, 3, 6, 6};
  auto r = BuildEngine(HandGraph(), unknown);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "'y'")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "'x'")) << r.status().message();  // lists the inputs

  BuildOptions rank = FastOptions();
  rank.input_shapes["x"] = {1, 3, 6};
  r = BuildEngine(HandGraph(), rank);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "rank 3")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "rank 4")) << r.status().message();

  BuildOptions fixed = FastOptions();
  fixed.input_shapes["x"] = {1, 3, 7, 6};
  r = BuildEngine(HandGraph(), fixed);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "dimension 2 is 7")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "fixes it to 6")) << r.status().message();

  BuildOptions same = FastOptions();  // agreeing with the model is fine
  same.input_shapes["x"] = {1, 3, 6, 6};
  EXPECT_TRUE(BuildEngine(HandGraph(), same).ok());
}

// y = Relu(x) + w with a symbolic batch dim.
ir::Graph SymbolicGraph() {
  ir::Graph g;
  g.name = "sym";
  g.opset = 17;
  AddInput(g, "x", {-1, 5});
  g.inputs[0].dim_params[0] = "batch";
  g.weights.emplace("w", RandomTensor(Shape{5}, 3));
  g.nodes.push_back(MakeNode("Relu", {"x"}, {"r"}));
  g.nodes.push_back(MakeNode("Add", {"r", "w"}, {"y"}));
  AddOutput(g, "y");
  return g;
}

TEST(BuilderTest, SymbolicDimsDefaultToOneWithANote) {
  auto built = BuildEngine(SymbolicGraph(), FastOptions());
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  const Plan& p = built->plan;
  EXPECT_EQ(p.values[p.inputs[0]].shape, Shape({1, 5}));
  ASSERT_EQ(built->stats.notes.size(), 1u);
  EXPECT_TRUE(Contains(built->stats.notes[0], "'batch'")) << built->stats.notes[0];
  EXPECT_TRUE(Contains(built->stats.notes[0], "set to 1")) << built->stats.notes[0];

  BuildOptions four = FastOptions();
  four.input_shapes["x"] = {4, 5};
  built = BuildEngine(SymbolicGraph(), four);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->plan.values[built->plan.inputs[0]].shape, Shape({4, 5}));
  EXPECT_TRUE(built->stats.notes.empty());
  // And it runs at that shape, matching the reference.
  ir::Graph g = SymbolicGraph();
  auto e = MustOpen(Engine::FromBuild(std::move(built).value()));
  TensorMap in;
  in.emplace("x", RandomTensor(Shape{4, 5}, 8));
  ExpectClose(Reference(g, in), RunOk(*e, in), 1e-6);
}

class TimingCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/refit_timing_cache_" + std::to_string(getpid()) + ".json";
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

TEST_F(TimingCacheTest, SecondBuildTimesNothing) {
  BuildOptions o = FastOptions();
  o.timing_cache_path = path_;
  auto first = BuildEngine(TinyCnn(), o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_GT(first->stats.tactics_timed, 0);
  EXPECT_GT(first->stats.timed_layers, 0);
  EXPECT_EQ(first->stats.cache_hits, 0);
  ASSERT_TRUE(std::filesystem::exists(path_));

  auto second = BuildEngine(TinyCnn(), o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->stats.tactics_timed, 0);
  EXPECT_EQ(second->stats.timed_layers, 0);
  EXPECT_EQ(second->stats.cache_hits, first->stats.timed_layers);
  ASSERT_EQ(first->plan.layers.size(), second->plan.layers.size());
  int from_cache = 0;
  for (size_t l = 0; l < first->plan.layers.size(); ++l) {
    const PlanLayer& a = first->plan.layers[l];
    const PlanLayer& b = second->plan.layers[l];
    EXPECT_EQ(a.tactic, b.tactic) << a.node.name;
    EXPECT_FALSE(a.from_timing_cache) << a.node.name;
    from_cache += b.from_timing_cache;
  }
  EXPECT_EQ(from_cache, second->stats.cache_hits);
}

// Two 3x3 convolutions of 16 channels and a residual sum: Conv, Relu, Conv, Add, Relu, then a
// global pool. Its residual joint gives the layout selection plans to choose between.
ir::Graph ResidualGraph() {
  ir::Graph g;
  g.name = "residual";
  g.opset = 17;
  AddInput(g, "x", {1, 16, 12, 12});
  for (const char* name : {"a", "b"}) {
    g.weights.emplace(std::string(name) + ".w", RandomTensor(Shape{16, 16, 3, 3}, 7, -0.2f, 0.2f));
    g.weights.emplace(std::string(name) + ".b", RandomTensor(Shape{16}, 8));
  }
  ir::Node a = MakeNode("Conv", {"x", "a.w", "a.b"}, {"ha"}, "conv_a");
  SetInts(a, "pads", {1, 1, 1, 1});
  g.nodes.push_back(std::move(a));
  g.nodes.push_back(MakeNode("Relu", {"ha"}, {"h"}, "relu_a"));
  ir::Node b = MakeNode("Conv", {"h", "b.w", "b.b"}, {"hb"}, "conv_b");
  SetInts(b, "pads", {1, 1, 1, 1});
  g.nodes.push_back(std::move(b));
  g.nodes.push_back(MakeNode("Add", {"hb", "h"}, {"s"}, "residual"));
  g.nodes.push_back(MakeNode("Relu", {"s"}, {"r"}, "relu_b"));
  g.nodes.push_back(MakeNode("GlobalAveragePool", {"r"}, {"out"}, "pool"));
  AddOutput(g, "out");
  return g;
}

bool HasNote(const BuildStats& stats, const std::string& start) {
  return std::any_of(stats.notes.begin(), stats.notes.end(),
                     [&](const std::string& n) { return n.rfind(start, 0) == 0; });
}

// The plan check builds the best layout plans and times them end to end; the engine it keeps
// matches the reference; a second build takes its verdict from the timing cache; one candidate
// means no check.
TEST_F(TimingCacheTest, PlanAndTacticChecksTimeOnceAndTheCacheRemembers) {
  BuildOptions o = FastOptions();
  o.timing_cache_path = path_;
  o.plan_candidates = 3;
  o.plan_margin = 100.0;    // every plan the search met is a candidate
  o.tactic_margin = 100.0;  // every layer with a second tactic of its blocks tries it
  const ir::Graph g = ResidualGraph();
  auto first = BuildEngine(ResidualGraph(), o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  bool blocked = false;
  for (const PlanLayer& l : first->plan.layers) {
    for (const TacticTiming& t : l.timings) blocked = blocked || Contains(t.tactic, "16c");
    for (const TacticTiming& t : l.timings) blocked = blocked || Contains(t.tactic, "8c");
  }
  if (!blocked) GTEST_SKIP() << "no channel-blocked tactic on this CPU: one layout plan only";
  EXPECT_GE(first->stats.plans_timed, 2);
  EXPECT_LE(first->stats.plans_timed, 3);
  EXPECT_TRUE(HasNote(first->stats, "plan check: ")) << first->stats.notes.size();
  // The engine file's metadata keeps the verdict (what inspect shows).
  const std::string meta = EngineMetadata(*first);
  EXPECT_TRUE(Contains(meta, "\"plans_timed\": " + std::to_string(first->stats.plans_timed)))
      << meta;
  EXPECT_TRUE(Contains(meta, "plan check: ")) << meta;
  // The tactic check ran on the kept plan: its convolutions have several tactics of each layout.
  EXPECT_TRUE(HasNote(first->stats, "tactic check: ")) << first->stats.notes.size();
  EXPECT_TRUE(Contains(meta, "tactic check: ")) << meta;
  std::vector<std::string> tactics;
  for (const PlanLayer& l : first->plan.layers) tactics.push_back(l.tactic);
  auto e = Engine::FromBuild(std::move(first).value());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  TensorMap inputs;
  inputs.emplace("x", RandomTensor(Shape{1, 16, 12, 12}, 99));
  ExpectClose(Reference(g, inputs), RunOk(**e, inputs), 1e-4);

  auto second = BuildEngine(ResidualGraph(), o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->stats.plans_timed, 0);
  EXPECT_EQ(second->stats.timed_layers, 0);
  EXPECT_TRUE(HasNote(second->stats, "plan check (from the timing cache): "));
  EXPECT_TRUE(HasNote(second->stats, "tactic check (from the timing cache): "));
  EXPECT_FALSE(HasNote(second->stats, "tactic check: "));
  ASSERT_EQ(second->plan.layers.size(), tactics.size());
  for (size_t l = 0; l < tactics.size(); ++l) {
    EXPECT_EQ(second->plan.layers[l].tactic, tactics[l]) << second->plan.layers[l].node.name;
  }

  o.plan_candidates = 1;
  auto single = BuildEngine(ResidualGraph(), o);
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  EXPECT_EQ(single->stats.plans_timed, 0);
  EXPECT_FALSE(HasNote(single->stats, "plan check"));
  EXPECT_FALSE(HasNote(single->stats, "tactic check"));
}

// The thread check (threads above 1): the engine timed end to end on its threads and on one, the
// verdict in the plan's max_threads and a note; a second build takes it from the timing cache; one
// thread, or one plan candidate, means no check.
TEST_F(TimingCacheTest, ThreadCheckTimesOnceAndTheCacheRemembers) {
  BuildOptions o = FastOptions();
  o.timing_cache_path = path_;
  o.threads = 2;
  const ir::Graph g = ResidualGraph();
  auto first = BuildEngine(ResidualGraph(), o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->stats.threads_timed);
  EXPECT_TRUE(HasNote(first->stats, "thread check: 1 thread ")) << first->stats.notes.size();
  const int32_t verdict = first->plan.max_threads;
  EXPECT_TRUE(verdict == 0 || verdict == 1) << verdict;
  const std::string runs_on = verdict == 1 ? "runs on 1 thread" : "runs on 2 threads";
  bool named = false;
  for (const std::string& n : first->stats.notes) named = named || Contains(n, runs_on);
  EXPECT_TRUE(named) << runs_on;
  EXPECT_TRUE(Contains(EngineMetadata(*first), "thread check: ")) << EngineMetadata(*first);
  auto e = Engine::FromBuild(std::move(first).value(), EngineOptions{2});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->threads(), verdict == 1 ? 1 : 2);
  TensorMap inputs;
  inputs.emplace("x", RandomTensor(Shape{1, 16, 12, 12}, 99));
  ExpectClose(Reference(g, inputs), RunOk(**e, inputs), 1e-4);

  auto second = BuildEngine(ResidualGraph(), o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->stats.threads_timed);
  EXPECT_TRUE(HasNote(second->stats, "thread check (from the timing cache): " + runs_on))
      << second->stats.notes.size();
  EXPECT_EQ(second->plan.max_threads, verdict);

  for (auto [threads, candidates] : {std::pair{1, 3}, std::pair{2, 1}}) {
    o.threads = threads;
    o.plan_candidates = candidates;
    auto none = BuildEngine(ResidualGraph(), o);
    ASSERT_TRUE(none.ok()) << none.status().ToString();
    EXPECT_FALSE(none->stats.threads_timed);
    EXPECT_FALSE(HasNote(none->stats, "thread check")) << threads << " " << candidates;
    EXPECT_EQ(none->plan.max_threads, 0);
  }
}

TEST_F(TimingCacheTest, MalformedCacheIsAClearError) {
  for (const char* text : {"this is not json", "{\"format\": 99, \"entries\": {}}",
                           "{\"format\": 1, \"entries\": {\"k\": {\"tactic\": 3}}}"}) {
    std::ofstream(path_) << text;
    BuildOptions o = FastOptions();
    o.timing_cache_path = path_;
    auto r = BuildEngine(HandGraph(), o);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_TRUE(Contains(r.status().message(), path_)) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), "timing cache")) << r.status().message();
  }
}

}  // namespace
}  // namespace refit::engine
