// Bad engine files: each a clear error naming the file, never a crash. Truncations and bit flips
// (the container's checksums), another format version, plans that are well-formed CBOR with valid
// checksums but lie, and engines tuned for CPU features this machine lacks.
#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_features.h"
#include "engine/engine_file.h"
#include "engine/engine_test_util.h"

namespace refit::engine {
namespace {

using namespace testing;  // NOLINT: the engine test helpers
using Json = nlohmann::json;

const std::string& TinyEngineBytes() {
  static const std::string* bytes = [] {
    auto* s = new std::string;
    EXPECT_NE(BuildAndLoad(TinyCnn(), FastOptions(), s), nullptr);
    return s;
  }();
  return *bytes;
}

struct Range {
  SectionKind kind;
  uint64_t offset, size;
};

// The section table as docs/engine-format.md lays it out.
std::vector<Range> Sections(const std::string& bytes) {
  uint32_t count;
  uint64_t table;
  std::memcpy(&count, bytes.data() + 12, 4);
  std::memcpy(&table, bytes.data() + 24, 8);
  std::vector<Range> out;
  for (uint32_t i = 0; i < count; ++i) {
    const char* e = bytes.data() + table + i * 40;
    uint32_t kind;
    Range r;
    std::memcpy(&kind, e, 4);
    std::memcpy(&r.offset, e + 8, 8);
    std::memcpy(&r.size, e + 16, 8);
    r.kind = SectionKind(kind);
    out.push_back(r);
  }
  return out;
}

void ExpectRefused(const std::string& bytes, const std::string& what,
                   StatusCode code = StatusCode::kDataLoss) {
  auto e = Engine::FromBytes(bytes, "bad engine");
  ASSERT_FALSE(e.ok()) << what;
  EXPECT_EQ(e.status().code(), code) << what << ": " << e.status().ToString();
  EXPECT_TRUE(Contains(e.status().message(), "bad engine")) << what << ": " << e.status().message();
}

TEST(EngineCorruption, TruncatedAtManyLengths) {
  const std::string& bytes = TinyEngineBytes();
  ASSERT_FALSE(bytes.empty());
  std::vector<size_t> lengths;
  for (size_t n = 0; n < 300; ++n) lengths.push_back(n);
  for (size_t n = 300; n < bytes.size(); n += bytes.size() / 97) lengths.push_back(n);
  for (const Range& r : Sections(bytes)) {
    for (uint64_t n : {r.offset, r.offset + 1, r.offset + r.size / 2, r.offset + r.size - 1}) {
      if (n < bytes.size()) lengths.push_back(n);
    }
  }
  lengths.push_back(bytes.size() - 1);
  for (size_t n : lengths) {
    auto e = Engine::FromBytes(bytes.substr(0, n), "bad engine");
    ASSERT_FALSE(e.ok()) << "kept " << n << " of " << bytes.size();
    EXPECT_TRUE(Contains(e.status().message(), "truncated")) << e.status().message();
    EXPECT_TRUE(Contains(e.status().message(), "bad engine")) << e.status().message();
  }
  // From a file, the error names the path.
  const std::string path = ::testing::TempDir() + "/refit_truncated_" + std::to_string(getpid());
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto e = Engine::Open(path);
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(Contains(e.status().message(), path)) << e.status().message();
  std::filesystem::remove(path);
}

TEST(EngineCorruption, BitFlipsInEverySection) {
  const std::string& bytes = TinyEngineBytes();
  std::vector<Range> ranges = Sections(bytes);
  ASSERT_EQ(ranges.size(), 5u);               // metadata, plan, tactics, refit map, weights
  ranges.push_back({SectionKind(0), 0, 64});  // the header
  uint64_t table;
  std::memcpy(&table, bytes.data() + 24, 8);
  ranges.push_back({SectionKind(0), table, 5 * 40});  // the table
  for (const Range& r : ranges) {
    ASSERT_GT(r.size, 0u);
    for (uint64_t at : {r.offset, r.offset + r.size / 3, r.offset + r.size - 1}) {
      for (int bit : {0, 5}) {
        std::string copy = bytes;
        copy[at] = char(copy[at] ^ (1 << bit));
        ExpectRefused(copy, "section " + std::string(SectionKindName(r.kind)) + " byte " +
                                std::to_string(at) + " bit " + std::to_string(bit));
      }
    }
  }
}

// Padding between and after the sections is not checksummed, but must be zero: a non-zero byte
// anywhere in it (first, middle and last byte of each gap, which the checker reads a word at a
// time) is refused at its exact offset.
TEST(EngineCorruption, NonZeroPadding) {
  const std::string& bytes = TinyEngineBytes();
  uint32_t count;
  uint64_t table;
  std::memcpy(&count, bytes.data() + 12, 4);
  std::memcpy(&table, bytes.data() + 24, 8);
  std::vector<std::pair<uint64_t, uint64_t>> used = {{0, 64}, {table, table + count * 40}};
  for (const Range& r : Sections(bytes)) used.push_back({r.offset, r.offset + r.size});
  std::sort(used.begin(), used.end());
  std::vector<uint64_t> offsets;
  uint64_t covered = 0;
  used.push_back({bytes.size(), bytes.size()});
  for (const auto& [begin, end] : used) {
    if (begin > covered) {
      for (uint64_t at : {covered, covered + (begin - covered) / 2, begin - 1}) {
        offsets.push_back(at);
      }
    }
    covered = std::max(covered, end);
  }
  ASSERT_GE(offsets.size(), 6u) << "the weights section's 4096 alignment leaves padding";
  for (uint64_t at : offsets) {
    std::string bad = bytes;
    ASSERT_EQ(bad[at], 0) << at;
    bad[at] = 1;
    auto e = Engine::FromBytes(bad, "bad engine");
    ASSERT_FALSE(e.ok()) << at;
    EXPECT_TRUE(Contains(e.status().message(), "non-zero padding at offset " + std::to_string(at)))
        << e.status().message();
  }
}

TEST(EngineCorruption, AnotherFormatVersion) {
  std::string bytes = TinyEngineBytes();
  const uint32_t version = kEngineFormatVersion + 1;
  std::memcpy(bytes.data() + 8, &version, 4);
  const uint64_t h = XXH64(bytes.data(), 40, 0);
  std::memcpy(bytes.data() + 40, &h, 8);
  ExpectRefused(bytes, "version", StatusCode::kFailedPrecondition);
  auto e = Engine::FromBytes(bytes, "bad engine");
  EXPECT_TRUE(Contains(e.status().message(), "version " + std::to_string(version)));
  EXPECT_TRUE(Contains(e.status().message(), "rebuild")) << e.status().message();
}

// The engine's sections re-sealed after `edit` changed the decoded plan and tactics: checksums
// are valid, only the content lies.
std::string Rewrite(const std::string& bytes, const std::function<void(Json&, Json&)>& edit) {
  auto f = EngineFile::FromBytes(bytes, "good engine");
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  const std::string_view plan = *(*f)->Section(SectionKind::kPlan);
  const std::string_view tactics = *(*f)->Section(SectionKind::kTactics);
  Json p = Json::from_cbor(plan.begin(), plan.end());
  Json t = Json::parse(tactics.begin(), tactics.end());
  edit(p, t);
  EngineFileWriter w;
  w.AddSection(SectionKind::kMetadata, std::string(*(*f)->Section(SectionKind::kMetadata)));
  const std::vector<uint8_t> cbor = Json::to_cbor(p);
  w.AddSection(SectionKind::kPlan, std::string(cbor.begin(), cbor.end()));
  w.AddSection(SectionKind::kTactics, t.dump());
  if ((*f)->Has(SectionKind::kRefitMap)) {
    w.AddSection(SectionKind::kRefitMap, std::string(*(*f)->Section(SectionKind::kRefitMap)));
  }
  w.AddSection(SectionKind::kWeights, std::string(*(*f)->Section(SectionKind::kWeights)), 4096);
  return std::move(w.Serialize()).value();
}

TEST(EngineCorruption, UnchangedRewriteLoads) {
  // The control for the lies below: re-sealing alone breaks nothing.
  const std::string same = Rewrite(TinyEngineBytes(), [](Json&, Json&) {});
  EXPECT_TRUE(Engine::FromBytes(same, "resealed").ok());
}

// The first layer input of `kind` (1 value, 2 slot): {layer, input}.
std::pair<size_t, size_t> FirstInput(const Json& p, int kind) {
  for (size_t l = 0; l < p["layers"].size(); ++l) {
    const Json& ins = p["layers"][l]["inputs"];
    for (size_t i = 0; i < ins.size(); ++i) {
      if (ins[i]["kind"] == kind) return {l, i};
    }
  }
  ADD_FAILURE() << "no input of kind " << kind;
  return {0, 0};
}

TEST(EngineCorruption, PlansThatLie) {
  struct Lie {
    std::string name;
    std::function<void(Json&, Json&)> edit;
    std::string message;
  };
  const std::vector<Lie> lies = {
      {"value index out of range",
       [](Json& p, Json&) {
         auto [l, i] = FirstInput(p, 1);
         p["layers"][l]["inputs"][i]["index"] = 100000;
       },
       "value index 100000 out of range"},
      {"slot index out of range",
       [](Json& p, Json&) {
         auto [l, i] = FirstInput(p, 2);
         p["layers"][l]["inputs"][i]["index"] = 4096;
       },
       "slot index 4096 out of range"},
      {"graph output out of range", [](Json& p, Json&) { p["outputs"][0] = -3; },
       "graph output index -3"},
      {"slot beyond the weights section",
       [](Json& p, Json&) { p["slots"][0]["offset"] = uint64_t(1) << 30; },
       "lies outside the weights section"},
      {"value beyond the arena",
       [](Json& p, Json&) { p["values"][1]["offset"] = p["arena_bytes"].get<uint64_t>() + 64; },
       "outside the activation arena"},
      {"unknown tactic",
       [](Json& p, Json& t) {
         p["layers"][0]["tactic"] = "no_such_tactic";
         t["names"].push_back("no_such_tactic");
         t["layers"][0][0] = t["names"].size() - 1;
       },
       "no_such_tactic"},
      {"unknown backend", [](Json& p, Json&) { p["layers"][0]["backend"] = "gpu"; },
       "unknown backend 'gpu'"},
      {"input count differs",
       [](Json& p, Json&) {
         p["layers"][0]["inputs"].push_back({{"kind", 0}, {"index", -1}});
       },
       "input count differs"},
      {"slot not read by its layer", [](Json& p, Json&) { p["slots"][0]["input"] = 0; },
       "is not the input its layer reads"},
      {"unknown mode", [](Json& p, Json&) { p["mode"] = "sideways"; }, "sideways"},
      {"unknown cpu feature", [](Json& p, Json&) { p["layers"][0]["features"] = "avx9000"; },
       "avx9000"},
      {"no workspace", [](Json& p, Json&) { p["workspace_bytes"] = 0; }, ""},
      {"value dtype garbage", [](Json& p, Json&) { p["values"][0]["dtype"] = 1234; }, "dtype"},
      {"layers missing", [](Json& p, Json&) { p.erase("layers"); }, "layers"},
      {"plan is an array",
       [](Json& p, Json&) {
         p = Json::array({1, 2, 3});
       },
       "malformed"},
  };
  for (const Lie& lie : lies) {
    SCOPED_TRACE(lie.name);
    const std::string bytes = Rewrite(TinyEngineBytes(), lie.edit);
    auto e = Engine::FromBytes(bytes, "bad engine");
    if (lie.name == "no workspace" && e.ok()) continue;  // no tactic of this build needs any
    ASSERT_FALSE(e.ok());
    EXPECT_TRUE(Contains(e.status().message(), "bad engine")) << e.status().message();
    EXPECT_TRUE(Contains(e.status().message(), lie.message)) << e.status().message();
  }
}

// The tactics section `t` (names table, pairs) in the first form engines were written with:
// {layers: [{from_timing_cache, layer, tactic, timings: [{median_us, tactic}]}]}.
Json ObjectForm(const Json& t) {
  Json layers = Json::array();
  for (const Json& l : t["layers"]) {
    Json timings = Json::array();
    for (size_t i = 0; i + 1 < l[2].size(); i += 2) {
      timings.push_back(
          {{"tactic", t["names"][l[2][i].get<size_t>()]}, {"median_us", l[2][i + 1]}});
    }
    layers.push_back({{"layer", "a layer"},
                      {"tactic", t["names"][l[0].get<size_t>()]},
                      {"from_timing_cache", l[1]},
                      {"timings", std::move(timings)}});
  }
  return Json{{"layers", std::move(layers)}};
}

// Engines written with the first form of the tactics section read the same timings.
TEST(EngineCorruption, FirstTacticsFormReadsTheSameTimings) {
  auto now = Engine::FromBytes(TinyEngineBytes(), "now");
  auto first = Engine::FromBytes(
      Rewrite(TinyEngineBytes(), [](Json&, Json& t) { t = ObjectForm(t); }), "first form");
  ASSERT_TRUE(now.ok() && first.ok());
  auto a = (*now)->TimedPlan();
  auto b = (*first)->TimedPlan();
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << b.status().ToString();
  ASSERT_EQ((*a)->layers.size(), (*b)->layers.size());
  size_t timings = 0;
  for (size_t i = 0; i < (*a)->layers.size(); ++i) {
    const PlanLayer& x = (*a)->layers[i];
    const PlanLayer& y = (*b)->layers[i];
    EXPECT_EQ(x.from_timing_cache, y.from_timing_cache);
    ASSERT_EQ(x.timings.size(), y.timings.size());
    for (size_t k = 0; k < x.timings.size(); ++k) {
      EXPECT_EQ(x.timings[k].tactic, y.timings[k].tactic);
      EXPECT_EQ(x.timings[k].median_us, y.timings[k].median_us);
    }
    timings += x.timings.size();
  }
  EXPECT_GT(timings, (*a)->layers.size());  // the tuner timed several tactics per layer
}

// The tactics section holds only the tuner's timings, which a load does not read: a lie there
// loads and runs, and is refused, naming the file, where the timings are first used (TimedPlan:
// inspect, writing the engine out).
TEST(EngineCorruption, TacticsSectionsThatLie) {
  const std::vector<std::pair<std::function<void(Json&, Json&)>, std::string>> lies = {
      {[](Json&, Json& t) {
         t["names"].push_back("something_else");
         t["layers"][0][0] = t["names"].size() - 1;
       },
       "names another tactic"},
      {[](Json&, Json& t) { t["layers"][0][0] = t["names"].size(); }, "no tactic of the table"},
      {[](Json&, Json& t) { t["layers"][0][2][0] = -1; }, "no tactic of the table"},
      {[](Json&, Json& t) { t["layers"][0][2].push_back(0); }, "name/time pairs"},
      {[](Json&, Json& t) { t["layers"][0][2][1] = "fast"; }, "timings"},
      {[](Json&, Json& t) { t["layers"][0][1] = 1; }, "cached"},
      {[](Json&, Json& t) { t["layers"][0].erase(1); }, "[tactic, cached, timings]"},
      {[](Json&, Json& t) { t["names"][0] = 3; }, "not a string"},
      {[](Json&, Json& t) { t["layers"].erase(0); }, "layer count differs"},
      {[](Json&, Json& t) { t["layers"][0][2] = 7; }, "timings"},
      {[](Json&, Json& t) { t = Json::array(); }, "malformed tactics section"},
      // The first form, names spelled out per layer, read the same way.
      {[](Json&, Json& t) {
         t = ObjectForm(t);
         t["layers"][0]["tactic"] = "something_else";
       },
       "names another tactic"},
      {[](Json&, Json& t) {
         t = ObjectForm(t);
         t["layers"][0]["timings"] = 7;
       },
       "timings"},
  };
  for (const auto& [edit, message] : lies) {
    SCOPED_TRACE(message);
    auto e = Engine::FromBytes(Rewrite(TinyEngineBytes(), edit), "bad engine");
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    const TensorMap inputs = LoadSafetensors(TinyCnnDir() + "/inputs.safetensors");
    EXPECT_FALSE(RunOk(**e, inputs).empty());
    for (const Status& refused :
         {(*e)->TimedPlan().status(), (*e)->Serialize(EngineMode::kStripped).status()}) {
      EXPECT_EQ(refused.code(), StatusCode::kDataLoss) << refused.ToString();
      EXPECT_TRUE(Contains(refused.message(), "bad engine")) << refused.message();
      EXPECT_TRUE(Contains(refused.message(), message)) << refused.message();
    }
  }
}

// A stored slot whose recorded packed type is not what its tactic packs to: the kernel would read
// past the bytes the plan accounts for. Engine::Init checks every slot's packed type against its
// tactic's PackedType before any kernel runs.
TEST(EngineCorruption, PackedTypeThatLies) {
  const std::string bytes = Rewrite(TinyEngineBytes(), [](Json& p, Json&) {
    for (Json& s : p["slots"]) {
      int64_t elements = 1;
      for (const Json& d : s["packed_shape"]) elements *= d.get<int64_t>();
      if (elements > 1) {
        s["packed_shape"] = Json::array({1});
        return;
      }
    }
    ADD_FAILURE() << "no slot of more than one element";
  });
  ExpectRefused(bytes, "packed shape");
}

TEST(EngineCorruption, RefitMapThatLies) {
  auto built = BuildEngine(HandGraph(), FastOptions(EngineMode::kStripped));
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  // A source prototype of another shape: the recipe no longer yields the slot's type.
  BuiltEngine lying = std::move(built).value();
  for (SourcePrototype& s : lying.plan.sources) {
    if (s.name == "fc.w") s.shape = Shape({4, 288});
  }
  auto bytes = SerializeEngine(lying);
  ASSERT_TRUE(bytes.ok());
  ExpectRefused(*bytes, "prototype");
  auto e = Engine::FromBytes(*bytes, "bad engine");
  EXPECT_TRUE(Contains(e.status().message(), "does not produce the slot's type"))
      << e.status().message();
}

TEST(EngineCorruption, CpuFeaturesThisMachineLacks) {
  const cpu::CpuFeatures& here = cpu::DetectCpuFeatures();
  // The brief's pair when this CPU lacks either; otherwise whatever it lacks.
  std::string lacking = "avx512fp16,amx-tile";
  if (here.avx512fp16 && here.amx_tile) {
    lacking = here.Missing(*cpu::CpuFeatures::Parse(
        "avx,avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512bf16,avx512fp16,"
        "amx-tile"));
  }
  if (lacking.empty()) GTEST_SKIP() << "this CPU has every feature refit knows";
  auto built = BuildEngine(HandGraph(), FastOptions());
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  built->plan.layers[0].features = lacking;
  auto bytes = SerializeEngine(*built);
  ASSERT_TRUE(bytes.ok());
  const std::string path = ::testing::TempDir() + "/refit_future_cpu_" + std::to_string(getpid());
  std::ofstream(path, std::ios::binary) << *bytes;
  auto e = Engine::Open(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition) << e.status().ToString();
  const std::string& m = e.status().message();
  EXPECT_TRUE(Contains(m, path)) << m;
  EXPECT_TRUE(Contains(m, "lacks '" + here.Missing(*cpu::CpuFeatures::Parse(lacking)) + "'")) << m;
  if (!here.avx512fp16) {
    EXPECT_TRUE(Contains(m, "avx512fp16")) << m;
  }
  if (!here.amx_tile) {
    EXPECT_TRUE(Contains(m, "amx-tile")) << m;
  }
  EXPECT_TRUE(Contains(m, "Rebuild")) << m;
}

}  // namespace
}  // namespace refit::engine
