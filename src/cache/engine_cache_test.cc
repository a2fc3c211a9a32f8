// EngineCache: miss then hit, refit of a hit, corrupted entries, LRU eviction, List/Prune/Clear.
#include "cache/engine_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "base/test_temp_dir.h"
#include "engine/engine_test_util.h"

namespace refit::cache {
namespace {

namespace fs = std::filesystem;
using engine::BuiltEngine;
using engine::Engine;
using engine::EngineMode;
using namespace engine::testing;  // NOLINT(google-build-using-namespace): test helpers

// Builds `g` with FastOptions and counts the calls.
struct CountingBuild {
  const ir::Graph* graph;
  int calls = 0;
  engine::BuildOptions options = FastOptions();
  StatusOr<BuiltEngine> operator()() {
    ++calls;
    return engine::BuildEngine(CloneGraph(*graph), options);
  }
  std::function<StatusOr<BuiltEngine>()> Fn() {
    return [this] { return (*this)(); };
  }
};

std::unique_ptr<EngineCache> MustOpenCache(const std::string& dir, uint64_t max_bytes) {
  auto cache = EngineCache::Open(dir, max_bytes);
  EXPECT_TRUE(cache.ok()) << cache.status().ToString();
  return cache.ok() ? std::move(cache).value() : nullptr;
}

CacheResult MustGet(EngineCache& cache, const std::string& key, CountingBuild& build) {
  auto r = cache.GetOrBuild(key, build.Fn());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : CacheResult();
}

// Refits `e` (stripped, from the cache) from `g`'s weights, as a caller does after a hit.
void RefitFrom(Engine& e, const ir::Graph& g) {
  auto ws = e.CreateWeightSet(LookupIn(g));
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  ASSERT_TRUE(e.SetWeights(*ws).ok());
}

void SetAge(const std::string& path, int seconds_ago) {
  fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::seconds(seconds_ago));
}

class EngineCacheTest : public ::testing::Test {
 protected:
  std::string Dir() const { return tmp_.File("cache"); }
  TestTempDir tmp_;
  const ir::Graph graph_ = HandGraph();
};

TEST_F(EngineCacheTest, MissThenHitAndTheHitRefitsToTheNewWeights) {
  const TensorMap inputs = HandInputs();
  CountingBuild build{&graph_};
  const std::string key = CacheKey(graph_, build.options);
  {
    auto cache = MustOpenCache(Dir(), EngineCache::kDefaultMaxBytes);
    CacheResult miss = MustGet(*cache, key, build);
    EXPECT_EQ(miss.outcome, CacheOutcome::kMiss);
    EXPECT_EQ(build.calls, 1);
    EXPECT_EQ(miss.entry_path, Dir() + "/" + key + ".engine");
    ASSERT_TRUE(fs::exists(miss.entry_path));
    ASSERT_NE(miss.engine, nullptr);
    // A miss engine has every slot of the build: it runs as is.
    ExpectClose(Reference(graph_, inputs), RunOk(*miss.engine, inputs));
    // The entry is stripped.
    auto stored = MustOpen(Engine::Open(miss.entry_path));
    ASSERT_NE(stored, nullptr);
    EXPECT_EQ(stored->plan().mode, EngineMode::kStripped);
    EXPECT_FALSE(stored->weights()->complete());
  }
  // Another process's view: a fresh cache object, other weights of the same architecture.
  const ir::Graph other = WithNewWeights(graph_, 77);
  ASSERT_EQ(CacheKey(other, build.options), key);
  auto cache = MustOpenCache(Dir(), EngineCache::kDefaultMaxBytes);
  CacheResult hit = MustGet(*cache, key, build);
  EXPECT_EQ(hit.outcome, CacheOutcome::kHit);
  EXPECT_EQ(build.calls, 1) << "a hit must not build";
  ASSERT_NE(hit.engine, nullptr);
  EXPECT_FALSE(hit.engine->weights()->complete()) << "a hit is the stripped entry";
  EXPECT_FALSE(hit.engine->Run(Views(inputs)).ok());
  RefitFrom(*hit.engine, other);
  const TensorMap want = Reference(other, inputs);
  ExpectClose(want, RunOk(*hit.engine, inputs));
  // And it differs from the first weights' outputs, so the comparison means something.
  EXPECT_FALSE(AllClose(Reference(graph_, inputs).at("out"), want.at("out"), 1e-3));
}

void ExpectCorruptionRebuilt(const ir::Graph& graph, const std::string& dir,
                             void (*damage)(const std::string& path)) {
  const TensorMap inputs = HandInputs();
  CountingBuild build{&graph};
  const std::string key = CacheKey(graph, build.options);
  auto cache = MustOpenCache(dir, EngineCache::kDefaultMaxBytes);
  CacheResult first = MustGet(*cache, key, build);
  ASSERT_EQ(first.outcome, CacheOutcome::kMiss);
  damage(first.entry_path);
  ASSERT_FALSE(Engine::Open(first.entry_path).ok()) << "the damage must be detectable";

  CacheResult again = MustGet(*cache, key, build);
  EXPECT_EQ(again.outcome, CacheOutcome::kCorruptRebuilt);
  EXPECT_STREQ(CacheOutcomeName(again.outcome), "corrupt entry rebuilt");
  EXPECT_EQ(build.calls, 2) << "a corrupted entry must be rebuilt, never used";
  ASSERT_NE(again.engine, nullptr);
  EXPECT_TRUE(again.engine->weights()->complete()) << "the engine is the fresh build";
  ExpectClose(Reference(graph, inputs), RunOk(*again.engine, inputs));
  // The rebuilt entry replaced the bad one and hits from now on.
  EXPECT_NE(MustOpen(Engine::Open(again.entry_path)), nullptr);
  EXPECT_EQ(MustGet(*cache, key, build).outcome, CacheOutcome::kHit);
  EXPECT_EQ(build.calls, 2);
}

TEST_F(EngineCacheTest, BitFlippedEntryIsRemovedAndRebuilt) {
  ExpectCorruptionRebuilt(graph_, Dir(), [](const std::string& path) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = std::streamoff(fs::file_size(path) / 2);
    f.seekg(middle);
    const char c = char(f.get());
    f.seekp(middle);
    f.put(char(c ^ 0x10));
  });
}

TEST_F(EngineCacheTest, TruncatedEntryIsRemovedAndRebuilt) {
  ExpectCorruptionRebuilt(graph_, Dir(), [](const std::string& path) {
    fs::resize_file(path, fs::file_size(path) - 100);
  });
}

// Entries under keys of their own (the key only names the file; the content may repeat).
std::string FakeKey(char c) { return std::string(32, c); }

TEST_F(EngineCacheTest, EvictsLeastRecentlyUsedAndNeverTheNewEntry) {
  CountingBuild build{&graph_};
  // Every build after the first takes its tactics from the timing cache, so the entries are the
  // same size whatever the machine's load does to the timings.
  build.options.timing_cache_path = tmp_.File("timing_cache.json");
  auto big = MustOpenCache(Dir(), EngineCache::kDefaultMaxBytes);
  for (char c : {'a', 'b', 'c'}) MustGet(*big, FakeKey(c), build);
  const uint64_t entry = fs::file_size(Dir() + "/" + FakeKey('c') + ".engine");
  SetAge(Dir() + "/" + FakeKey('a') + ".engine", 300);  // oldest
  SetAge(Dir() + "/" + FakeKey('b') + ".engine", 200);
  SetAge(Dir() + "/" + FakeKey('c') + ".engine", 100);

  // Room for three and a half entries: storing a fourth evicts exactly the oldest.
  auto small = MustOpenCache(Dir(), entry * 7 / 2);
  MustGet(*small, FakeKey('d'), build);
  EXPECT_FALSE(fs::exists(Dir() + "/" + FakeKey('a') + ".engine"));
  EXPECT_FALSE(fs::exists(Dir() + "/" + FakeKey('a') + ".lock"));
  for (char c : {'b', 'c', 'd'}) EXPECT_TRUE(fs::exists(Dir() + "/" + FakeKey(c) + ".engine")) << c;

  // A hit makes an entry the most recently used: b (older than c) survives, c goes.
  EXPECT_EQ(MustGet(*small, FakeKey('b'), build).outcome, CacheOutcome::kHit);
  auto pruned = small->Prune(entry * 5 / 2);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 1);
  EXPECT_FALSE(fs::exists(Dir() + "/" + FakeKey('c') + ".engine"));
  EXPECT_TRUE(fs::exists(Dir() + "/" + FakeKey('b') + ".engine"));

  // A limit below one entry keeps only the one just stored.
  auto none = MustOpenCache(Dir(), 0);
  CacheResult e = MustGet(*none, FakeKey('e'), build);
  EXPECT_EQ(e.outcome, CacheOutcome::kMiss);
  auto list = none->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].key, FakeKey('e'));
}

TEST_F(EngineCacheTest, ListPruneAndClear) {
  CountingBuild build{&graph_};
  auto cache = MustOpenCache(Dir(), EngineCache::kDefaultMaxBytes);
  for (char c : {'1', '2', '3'}) MustGet(*cache, FakeKey(c), build);
  SetAge(Dir() + "/" + FakeKey('1') + ".engine", 30);
  SetAge(Dir() + "/" + FakeKey('2') + ".engine", 10);
  SetAge(Dir() + "/" + FakeKey('3') + ".engine", 20);
  auto list = cache->List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].key, FakeKey('2'));  // most recently used first
  EXPECT_EQ((*list)[1].key, FakeKey('3'));
  EXPECT_EQ((*list)[2].key, FakeKey('1'));
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  for (const CacheEntry& e : *list) {
    EXPECT_EQ(e.model, "hand");
    EXPECT_EQ(e.bytes, fs::file_size(e.path));
    EXPECT_NEAR(double(e.last_used_unix), double(now), 60.0);
  }
  EXPECT_LT((*list)[0].last_used_unix, int64_t(now) - 5);

  auto pruned = cache->Prune(0);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 3);
  EXPECT_TRUE(cache->List()->empty());

  for (char c : {'4', '5'}) MustGet(*cache, FakeKey(c), build);
  std::ofstream(Dir() + "/." + FakeKey('4') + ".engine.tmp.1.2.3") << "left by a crash";
  std::ofstream(Dir() + "/notes.txt") << "not ours";
  auto cleared = cache->Clear();
  ASSERT_TRUE(cleared.ok()) << cleared.status().ToString();
  EXPECT_EQ(*cleared, 2);
  std::vector<std::string> left;
  for (const auto& f : fs::directory_iterator(Dir())) left.push_back(f.path().filename());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"cache.lock", "notes.txt"}));
}

TEST_F(EngineCacheTest, Errors) {
  std::ofstream(tmp_.File("a_file")) << "x";
  auto not_dir = EngineCache::Open(tmp_.File("a_file"));
  ASSERT_FALSE(not_dir.ok());
  EXPECT_TRUE(Contains(not_dir.status().message(), tmp_.File("a_file")))
      << not_dir.status().ToString();

  auto cache = MustOpenCache(Dir(), EngineCache::kDefaultMaxBytes);
  CountingBuild build{&graph_};
  auto bad_key = cache->GetOrBuild("../escape", build.Fn());
  EXPECT_EQ(bad_key.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(build.calls, 0);

  auto failed = cache->GetOrBuild(
      FakeKey('f'), []() -> StatusOr<BuiltEngine> { return InvalidArgument("node 'n': broken"); });
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(Contains(failed.status().message(), "node 'n': broken"));
  EXPECT_FALSE(fs::exists(Dir() + "/" + FakeKey('f') + ".engine"));

  build.options = FastOptions(EngineMode::kStatic);
  auto statik = cache->GetOrBuild(FakeKey('9'), build.Fn());
  ASSERT_FALSE(statik.ok());
  EXPECT_TRUE(Contains(statik.status().message(), "static")) << statik.status().ToString();
  EXPECT_FALSE(fs::exists(Dir() + "/" + FakeKey('9') + ".engine"));
}

}  // namespace
}  // namespace refit::cache
