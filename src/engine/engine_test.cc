// The runtime: loading equals building, refit through CreateWeightSet, input checks, the memory
// plan of a real model, and concurrent runs.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine/engine_test_util.h"

namespace refit::engine {
namespace {

using namespace testing;  // NOLINT: the engine test helpers

TEST(EngineTest, FromBuildEqualsFromBytesBitExactly) {
  for (EngineMode mode : {EngineMode::kRefittable, EngineMode::kStatic}) {
    const ir::Graph g = TinyCnn();
    const TensorMap inputs = LoadSafetensors(TinyCnnDir() + "/inputs.safetensors");
    auto built = BuildEngine(CloneGraph(g), FastOptions(mode));
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    auto bytes = SerializeEngine(*built);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    auto from_build = MustOpen(Engine::FromBuild(std::move(built).value()));
    auto from_bytes = MustOpen(Engine::FromBytes(*bytes, "tiny_cnn engine"));
    ASSERT_TRUE(from_build && from_bytes);
    EXPECT_EQ(from_bytes->file_bytes(), bytes->size());
    EXPECT_TRUE(Contains(from_bytes->metadata(), "\"producer\""));
    EXPECT_EQ(from_build->plan().layers.size(), from_bytes->plan().layers.size());
    for (size_t l = 0; l < from_build->plan().layers.size(); ++l) {
      EXPECT_EQ(from_build->plan().layers[l].tactic, from_bytes->plan().layers[l].tactic);
    }
    ExpectBitEqual(RunOk(*from_build, inputs), RunOk(*from_bytes, inputs));
    // The codec loses nothing: the loaded plan serializes as the built one (whose slot offsets
    // SerializeEngine assigns on its copy).
    // A load leaves the tuner's timings to TimedPlan; the builder's plan has them.
    size_t timed_layers = 0;
    for (const PlanLayer& l : from_build->plan().layers) timed_layers += !l.timings.empty();
    EXPECT_GT(timed_layers, 0u);
    for (const PlanLayer& l : from_bytes->plan().layers) EXPECT_TRUE(l.timings.empty());
    auto timed = from_bytes->TimedPlan();
    ASSERT_TRUE(timed.ok()) << timed.status().ToString();
    Plan loaded = **timed;
    for (WeightSlot& s : loaded.slots) s.offset = 0;
    EXPECT_TRUE(SerializePlan(from_build->plan()) == SerializePlan(loaded));
    EXPECT_TRUE(SerializeTactics(from_build->plan()) == SerializeTactics(loaded));
    EXPECT_TRUE(SerializeRefitMap(from_build->plan()) == SerializeRefitMap(loaded));
    // A loaded engine writes its tactics and refit map sections as it read them: written back
    // in its own mode, it is the file it was loaded from, byte for byte.
    auto again = from_bytes->Serialize(mode);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(*again == *bytes);
    if (mode == EngineMode::kRefittable) {
      // Through a stripped file and back (the cache's path): the same sections again.
      auto stripped = from_bytes->Serialize(EngineMode::kStripped);
      ASSERT_TRUE(stripped.ok()) << stripped.status().ToString();
      auto entry = MustOpen(Engine::FromBytes(*stripped, "stripped tiny_cnn engine"));
      ASSERT_NE(entry, nullptr);
      auto filled = entry->Serialize(EngineMode::kRefittable, from_bytes->weights());
      ASSERT_TRUE(filled.ok()) << filled.status().ToString();
      EXPECT_TRUE(*filled == *bytes);
    }
  }
}

TEST(EngineTest, RefitWithNewWeightsGivesTheirReferenceOutputs) {
  const ir::Graph g = HandGraph();
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  const TensorMap before = RunOk(*e, inputs);
  const ir::Graph g2 = WithNewWeights(g, 500);
  auto ws = e->CreateWeightSet(LookupIn(g2));
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  EXPECT_TRUE((*ws)->complete());
  // Creating a set changes nothing until it is set.
  ExpectBitEqual(before, RunOk(*e, inputs));
  ASSERT_TRUE(e->SetWeights(*ws).ok());
  const TensorMap after = RunOk(*e, inputs);
  ExpectClose(Reference(g2, inputs), after, 1e-5);
  EXPECT_FALSE(AllClose(before.at("out"), after.at("out"), 1e-2));  // the weights did matter
  // Back to the original weights: bit-exactly the original outputs (packing is deterministic).
  ASSERT_TRUE(e->SetWeights(*e->CreateWeightSet(LookupIn(g))).ok());
  ExpectBitEqual(before, RunOk(*e, inputs));
}

TEST(EngineTest, RefitTinyCnnStrippedFromNewWeights) {
  const ir::Graph g = TinyCnn();
  const TensorMap inputs = LoadSafetensors(TinyCnnDir() + "/inputs.safetensors");
  auto e = BuildAndLoad(g, FastOptions(EngineMode::kStripped));
  ASSERT_NE(e, nullptr);
  const ir::Graph g2 = WithNewWeights(g, 77);
  ASSERT_TRUE(e->SetWeights(*e->CreateWeightSet(LookupIn(g2))).ok());
  ExpectClose(Reference(g2, inputs), RunOk(*e, inputs));
}

TEST(EngineTest, CreateWeightSetNamesEveryProblemAndChangesNothing) {
  const ir::Graph g = HandGraph();
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  const TensorMap before = RunOk(*e, inputs);
  auto weights_before = e->weights();

  auto check = [&](TensorMap sources, std::vector<std::string> wanted) {
    auto ws = e->CreateWeightSet(LookupIn(sources));
    ASSERT_FALSE(ws.ok());
    EXPECT_EQ(ws.status().code(), StatusCode::kInvalidArgument);
    for (const std::string& w : wanted) {
      EXPECT_TRUE(Contains(ws.status().message(), w)) << w << "\n" << ws.status().message();
    }
    EXPECT_EQ(e->weights(), weights_before);
    ExpectBitEqual(before, RunOk(*e, inputs));
  };
  auto all = [&] {
    TensorMap m;
    for (const auto& [name, t] : g.weights) m.emplace(name, t.Clone());
    return m;
  };
  TensorMap missing = all();
  missing.erase("bn.var");
  check(std::move(missing), {"'bn.var': missing", "f32[4]"});
  TensorMap shape = all();
  shape["fc.w"] = RandomTensor(Shape{144, 8}, 3);
  check(std::move(shape), {"'fc.w'", "expected f32[8,144]", "found f32[144,8]"});
  TensorMap dtype = all();
  dtype["scale"] = Tensor::FromVector<double>(Shape{8}, std::vector<double>(8, 1.0));
  check(std::move(dtype), {"'scale'", "found f64[8]"});
  TensorMap three = all();
  three.erase("conv.w");
  three["conv.b"] = RandomTensor(Shape{5}, 4);
  three["bn.beta"] = Tensor::FromVector<double>(Shape{4}, std::vector<double>(4, 1.0));
  check(std::move(three),
        {"3 source weight problems", "'conv.w': missing", "'conv.b'", "'bn.beta'"});
}

TEST(EngineTest, SetWeightsRefusesAForeignSet) {
  auto e = BuildAndLoad(HandGraph(), FastOptions());
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->SetWeights(nullptr).ok());
  EXPECT_FALSE(e->SetWeights(std::make_shared<WeightSet>()).ok());
  // A set of another engine of the very same plan (same slot count and shapes) is refused too:
  // sets belong to the engine that packed them.
  auto other = BuildAndLoad(HandGraph(), FastOptions());
  ASSERT_NE(other, nullptr);
  ASSERT_EQ(other->weights()->slots.size(), e->weights()->slots.size());
  Status foreign = e->SetWeights(other->weights());
  EXPECT_FALSE(foreign.ok());
  EXPECT_TRUE(Contains(foreign.message(), "does not belong")) << foreign.ToString();
}

TEST(EngineTest, NewInstanceSharesThePlanAndRefitsOnItsOwn) {
  const ir::Graph g = HandGraph();
  auto e = BuildAndLoad(g, FastOptions(EngineMode::kStripped));
  ASSERT_NE(e, nullptr);
  auto second = MustOpen(e->NewInstance(EngineOptions{2}));
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(&second->plan(), &e->plan());  // shared, not copied
  EXPECT_EQ(second->weights(), e->weights());
  EXPECT_FALSE(second->Run(Views(HandInputs())).ok());  // stripped: no weights yet
  // Each instance gets its own weights; neither sees the other's.
  const ir::Graph g2 = WithNewWeights(g, 7);
  auto set1 = e->CreateWeightSet(LookupIn(g));
  auto set2 = second->CreateWeightSet(LookupIn(g2));
  ASSERT_TRUE(set1.ok() && set2.ok());
  ASSERT_TRUE(e->SetWeights(*set1).ok());
  ASSERT_TRUE(second->SetWeights(*set2).ok());
  const TensorMap out1 = RunOk(*e, HandInputs());
  const TensorMap out2 = RunOk(*second, HandInputs());
  ExpectClose(Reference(g, HandInputs()), out1);
  ExpectClose(Reference(g2, HandInputs()), out2);
  // Sets move between instances of one plan, and the instance outlives the engine it came from.
  ASSERT_TRUE(second->SetWeights(*set1).ok());
  e.reset();
  ExpectBitEqual(out1, RunOk(*second, HandInputs()));
  EXPECT_FALSE(second->NewInstance(EngineOptions{0}).ok());
}

// A plan's max_threads (the builder's thread check) survives the file and caps every load and
// instance, whatever EngineOptions asks; without it, an engine runs on the threads asked for.
TEST(EngineTest, MaxThreadsCapsEveryLoadAndInstance) {
  const ir::Graph g = HandGraph();
  const TensorMap inputs = HandInputs();
  for (int32_t max_threads : {0, 1, 2}) {
    auto built = BuildEngine(CloneGraph(g), FastOptions());
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    built->plan.max_threads = max_threads;
    auto bytes = SerializeEngine(*built);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    // Absent from the file when 0 (the files of earlier builds read as before).
    EXPECT_EQ(Contains(*bytes, "max_threads"), max_threads > 0);
    auto e = MustOpen(Engine::FromBytes(*bytes, "capped engine", EngineOptions{3}));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->plan().max_threads, max_threads);
    const int want = max_threads > 0 ? max_threads : 3;
    EXPECT_EQ(e->threads(), want);
    auto instance = MustOpen(e->NewInstance(EngineOptions{4}));
    ASSERT_NE(instance, nullptr);
    EXPECT_EQ(instance->threads(), max_threads > 0 ? max_threads : 4);
    auto one = MustOpen(e->NewInstance(EngineOptions{1}));
    ASSERT_NE(one, nullptr);
    EXPECT_EQ(one->threads(), 1);
    ExpectClose(Reference(g, inputs), RunOk(*e, inputs), 1e-5);
    ExpectClose(Reference(g, inputs), RunOk(*instance, inputs), 1e-5);
  }
}

TEST(EngineTest, RunInputErrorsAreClear) {
  auto e = BuildAndLoad(HandGraph(), FastOptions());
  ASSERT_NE(e, nullptr);
  auto expect_error = [&](const TensorMap& in, std::vector<std::string> wanted) {
    auto r = e->Run(Views(in));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    for (const std::string& w : wanted) {
      EXPECT_TRUE(Contains(r.status().message(), w)) << w << "\n" << r.status().message();
    }
  };
  expect_error({}, {"missing input 'x'"});
  TensorMap shape;
  shape.emplace("x", RandomTensor(Shape{1, 3, 6, 7}, 1));
  expect_error(shape, {"'x'", "[1,3,6,7]", "[1,3,6,6]", "--input"});
  TensorMap dtype;
  dtype.emplace("x", Tensor::FromVector<double>(Shape{1, 3, 6, 6}, std::vector<double>(108, 0)));
  expect_error(dtype, {"'x'", "f64", "f32"});
  TensorMap extra = HandInputs();
  extra.emplace("y", RandomTensor(Shape{2}, 1));
  expect_error(extra, {"'y' is not an input"});
  // A failed run leaves the engine usable.
  ExpectClose(Reference(HandGraph(), HandInputs()), RunOk(*e, HandInputs()), 1e-5);
}

// No two values live at the same step share a byte of the arena (beyond memory_planner_test's
// synthetic lifetimes: the lifetimes the builder derives for a real model), except a shape-only
// layer's output and its input, which are one buffer (Tactic::AliasesInput): the group lives from
// its first write to its last read.
TEST(EngineTest, TinyCnnArenaNeverOverlapsLiveValues) {
  auto built = BuildEngine(TinyCnn(), FastOptions());
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  const Plan& p = built->plan;
  const int32_t n = int32_t(p.values.size());
  std::vector<int32_t> first(n, -2), last(n, -2), root(n);
  for (int32_t v = 0; v < n; ++v) root[v] = v;
  for (int32_t v : p.inputs) first[v] = last[v] = -1;
  int aliased = 0;
  for (size_t l = 0; l < p.layers.size(); ++l) {
    for (const LayerInput& in : p.layers[l].inputs) {
      if (in.kind == LayerInput::Kind::kValue) last[in.index] = int32_t(l);
    }
    for (int32_t o : p.layers[l].outputs) {
      if (o >= 0) first[o] = last[o] = int32_t(l);
    }
    if (p.layers[l].tactic == "reshape/alias") {
      const int32_t in = p.layers[l].inputs[0].index, out = p.layers[l].outputs[0];
      root[out] = root[in];
      EXPECT_EQ(p.values[out].offset, p.values[in].offset) << p.values[out].name;
      ++aliased;
    }
  }
  for (int32_t v : p.outputs) last[v] = int32_t(p.layers.size());
  EXPECT_GE(aliased, 1);  // tiny_cnn's Flatten
  // Lifetimes of the groups (a value alone is its own group).
  for (int32_t v = 0; v < n; ++v) {
    const int32_t r = root[v];
    if (r == v) continue;
    first[r] = std::min(first[r], first[v]);
    last[r] = std::max(last[r], last[v]);
  }
  uint64_t live_sum_max = 0;
  for (int32_t step = -1; step <= int32_t(p.layers.size()); ++step) {
    uint64_t live = 0;
    for (int32_t v = 0; v < n; ++v) {
      if (root[v] == v && first[v] <= step && step <= last[v] && !p.values[v].dynamic) {
        live += uint64_t(p.values[v].shape.NumElements()) * DataTypeSize(p.values[v].dtype);
      }
    }
    live_sum_max = std::max(live_sum_max, live);
  }
  int pairs = 0;
  for (int32_t a = 0; a < n; ++a) {
    const PlanValue& va = p.values[a];
    ASSERT_NE(first[a], -2) << "value '" << va.name << "' is never written";
    ASSERT_FALSE(va.dynamic) << va.name;
    const uint64_t ba = uint64_t(va.shape.NumElements()) * DataTypeSize(va.dtype);
    EXPECT_EQ(va.offset % 64, 0) << va.name;
    EXPECT_LE(uint64_t(va.offset) + ba, p.arena_bytes) << va.name;
    if (root[a] != a) continue;
    for (int32_t b = a + 1; b < n; ++b) {
      const PlanValue& vb = p.values[b];
      if (root[b] != b || !(first[a] <= last[b] && first[b] <= last[a])) continue;
      const uint64_t bb = uint64_t(vb.shape.NumElements()) * DataTypeSize(vb.dtype);
      if (ba == 0 || bb == 0) continue;
      ++pairs;
      EXPECT_TRUE(uint64_t(va.offset) + ba <= uint64_t(vb.offset) ||
                  uint64_t(vb.offset) + bb <= uint64_t(va.offset))
          << "'" << va.name << "' and '" << vb.name << "' are live together and overlap";
    }
  }
  EXPECT_GE(pairs, int(p.layers.size()) - 1 - aliased);  // each layer's input and output at least
  // Reuse happens: the arena is below the sum of all values, and not below the live peak.
  uint64_t total = 0;
  for (const PlanValue& v : p.values)
    total += uint64_t(v.shape.NumElements()) * DataTypeSize(v.dtype);
  EXPECT_LT(p.arena_bytes, total);
  EXPECT_GE(p.arena_bytes, live_sum_max);
}

// A chain of shape-only layers (Reshape, Flatten, Unsqueeze) shares one buffer with the value it
// starts from, and outputs still match the reference; a graph output at the end of the chain too.
TEST(EngineTest, ShapeOnlyChainsShareOneBuffer) {
  ir::Graph g;
  g.name = "chain";
  g.opset = 17;
  AddInput(g, "x", {2, 3, 4});
  g.nodes.push_back(MakeNode("Relu", {"x"}, {"r"}, "relu"));
  AddConstantNode(g, "shape_const", "shape", Tensor::FromVector<int64_t>(Shape{3}, {2, 12, 1}));
  g.nodes.push_back(MakeNode("Reshape", {"r", "shape"}, {"a"}, "reshape"));
  g.nodes.push_back(MakeNode("Flatten", {"a"}, {"b"}, "flatten"));
  AddConstantNode(g, "axes_const", "axes", Tensor::FromVector<int64_t>(Shape{1}, {0}));
  g.nodes.push_back(MakeNode("Unsqueeze", {"b", "axes"}, {"c"}, "unsqueeze"));
  g.nodes.push_back(MakeNode("Sigmoid", {"c"}, {"out"}, "sigmoid"));
  AddOutput(g, "out");
  AddOutput(g, "c");
  auto built = BuildEngine(passes::testing::CloneGraph(g), FastOptions());
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  const Plan& p = built->plan;
  int64_t relu_offset = -1;
  int aliased = 0;
  for (const PlanLayer& layer : p.layers) {
    if (layer.node.name == "relu") relu_offset = p.values[layer.outputs[0]].offset;
  }
  for (const PlanLayer& layer : p.layers) {
    if (layer.tactic != "reshape/alias") continue;
    ++aliased;
    EXPECT_EQ(p.values[layer.outputs[0]].offset, relu_offset) << layer.node.name;
  }
  EXPECT_EQ(aliased, 3);
  auto e = Engine::FromBuild(std::move(built).value());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  TensorMap in;
  in.emplace("x", RandomTensor(Shape{2, 3, 4}, 5));
  const TensorMap want = Reference(g, in), got = RunOk(**e, in);
  ExpectClose(want, got);  // the sigmoid is a vector approximation
  ASSERT_EQ(got.count("c"), 1u);
  EXPECT_EQ(std::memcmp(got.at("c").data(), want.at("c").data(), want.at("c").nbytes()), 0);
}

// Several threads run one engine at once (each with its own input); every output must equal the
// single-threaded run bit for bit. Also run under ThreadSanitizer (label "concurrency").
void RunConcurrently(const Engine& e, int threads, int runs_each) {
  const TensorMap base = LoadSafetensors(TinyCnnDir() + "/inputs.safetensors");
  std::vector<TensorMap> inputs(threads), expected(threads);
  for (int t = 0; t < threads; ++t) {
    for (const auto& [name, x] : base) {
      Tensor y = x.Clone();
      for (int64_t i = 0; i < y.NumElements(); ++i) y.mutable_data_as<float>()[i] *= float(t + 1);
      inputs[t].emplace(name, std::move(y));
    }
    expected[t] = RunOk(e, inputs[t]);
  }
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int r = 0; r < runs_each; ++r) {
        auto out = e.Run(Views(inputs[t]));
        if (!out.ok()) {
          ++failures;
          continue;
        }
        for (const auto& [name, want] : expected[t]) {
          const Tensor& got = out->at(name);
          if (std::memcmp(got.data(), want.data(), want.nbytes()) != 0) ++mismatches;
        }
      }
    });
  }
  for (std::thread& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(EngineConcurrency, ParallelRunsAreBitExact) {
  auto e = BuildAndLoad(TinyCnn(), FastOptions());
  ASSERT_NE(e, nullptr);
  RunConcurrently(*e, 4, 8);
}

TEST(EngineConcurrency, ParallelRunsShareTheEnginePool) {
  std::string bytes;
  ASSERT_NE(BuildAndLoad(TinyCnn(), FastOptions(), &bytes), nullptr);
  EngineOptions two;
  two.threads = 2;
  auto e = MustOpen(Engine::FromBytes(bytes, "tiny_cnn", two));
  ASSERT_NE(e, nullptr);
  RunConcurrently(*e, 3, 6);
}

// Runs racing SetWeights see the old set or the new one, never a mix.
TEST(EngineConcurrency, SetWeightsDuringRunsIsAtomic) {
  const ir::Graph g = HandGraph();
  const TensorMap inputs = HandInputs();
  auto e = BuildAndLoad(g, FastOptions());
  ASSERT_NE(e, nullptr);
  auto old_set = e->weights();
  auto new_set = *e->CreateWeightSet(LookupIn(WithNewWeights(g, 300)));
  const TensorMap old_out = RunOk(*e, inputs);
  ASSERT_TRUE(e->SetWeights(new_set).ok());
  const TensorMap new_out = RunOk(*e, inputs);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, runs{0};
  std::vector<std::thread> runners;
  for (int t = 0; t < 3; ++t) {
    runners.emplace_back([&] {
      while (!stop.load()) {
        auto out = e->Run(Views(inputs));
        ++runs;
        if (!out.ok()) {
          ++bad;
          continue;
        }
        const Tensor& got = out->at("out");
        const size_t n = got.nbytes();
        if (std::memcmp(got.data(), old_out.at("out").data(), n) != 0 &&
            std::memcmp(got.data(), new_out.at("out").data(), n) != 0) {
          ++bad;
        }
      }
    });
  }
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(e->SetWeights(i % 2 ? new_set : old_set).ok());
  while (runs.load() < 30) std::this_thread::yield();
  stop = true;
  for (std::thread& th : runners) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace refit::engine
