// `refit build --cache` and `refit cache` as a user drives them on the tiny_cnn example: a miss
// then a hit (also for other weights of the same architecture), two builds at once, a corrupted
// entry, listing, pruning and clearing, and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "cli_engine_fixture.h"
#include "cli_weights_util.h"
#include "onnx/onnx_pb.h"
#include "refit/safetensors.h"

namespace refit {
namespace {

class CliCacheTest : public CliEngineTest {
 protected:
  // `build MODEL -o NAME.engine --cache DIR EXTRA`, which must succeed.
  static std::string Build(const std::string& name, const std::string& cache,
                           const std::string& extra = "", const std::string& model = kModel) {
    Result r = Refit("build " + model + " -o " + Path(name + ".engine") + " --cache " + cache +
                     " --quiet" + extra);
    EXPECT_EQ(r.code, 0) << r.out;
    return r.out;
  }

  static std::string RunTo(const std::string& engine, const std::string& extra = "") {
    const std::string out = engine + ".out.safetensors";
    Result r = Refit("run " + engine + " --inputs " + kInputs + " -o " + out + extra);
    EXPECT_EQ(r.code, 0) << r.out;
    return out;
  }

  static std::vector<std::string> Entries(const std::string& cache) {
    std::vector<std::string> out;
    for (const auto& f : fs::directory_iterator(cache)) {
      if (f.path().extension() == ".engine") out.push_back(f.path().string());
    }
    return out;
  }
};

// Not cli_weights_util.h's ReadFile: refit_base defines a ReadFile(const std::string&) returning
// StatusOr, and when the linker picks that one for an out-of-line call the result is garbage.
std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string KeyIn(const std::string& out, const std::string& outcome) {
  std::smatch m;
  const std::regex re(outcome + " ([0-9a-f]{12}) \\('[^']*'\\)");
  return std::regex_search(out, m, re) ? m[1].str() : "";
}

// Largest |a - b| relative to the largest |a|, over every tensor of two output files.
double RelativeDiff(const std::string& a_path, const std::string& b_path) {
  auto a = SafetensorsFile::Open(a_path);
  auto b = SafetensorsFile::Open(b_path);
  EXPECT_TRUE(a.ok() && b.ok());
  if (!a.ok() || !b.ok()) return INFINITY;
  double max_ref = 0, max_diff = 0;
  for (const std::string& name : (*a)->names()) {
    auto x = (*a)->Get(name);
    auto y = (*b)->Get(name);
    if (!x.ok() || !y.ok() || x->NumElements() != y->NumElements()) return INFINITY;
    for (int64_t i = 0; i < x->NumElements(); ++i) {
      max_ref = std::max(max_ref, double(std::fabs(x->data_as<float>()[i])));
      max_diff =
          std::max(max_diff, double(std::fabs(x->data_as<float>()[i] - y->data_as<float>()[i])));
    }
  }
  return max_diff / max_ref;
}

TEST_F(CliCacheTest, Help) {
  Result r = Refit("build --help");
  EXPECT_NE(r.out.find("--cache "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--cache-max-bytes"), std::string::npos) << r.out;
  r = Refit("cache --help");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* sub : {"ls", "prune", "clear"}) {
    EXPECT_NE(r.out.find(sub), std::string::npos) << sub << "\n" << r.out;
  }
  r = Refit("cache ls --help");
  EXPECT_NE(r.out.find("--json"), std::string::npos) << r.out;
  r = Refit("cache prune --help");
  EXPECT_NE(r.out.find("--max-bytes"), std::string::npos) << r.out;
}

TEST_F(CliCacheTest, MissThenHitBothReproduceTheRecordedOutputs) {
  const std::string cache = Path("cache_hit");
  const std::string miss = Build("miss", cache);
  const std::string key = KeyIn(miss, "cache miss");
  ASSERT_EQ(key.size(), 12u) << miss;
  EXPECT_NE(miss.find(" s in all"), std::string::npos) << miss;
  const std::string hit = Build("hit", cache);
  EXPECT_EQ(KeyIn(hit, "cache hit"), key) << hit;
  EXPECT_NE(hit.find("refitted"), std::string::npos) << hit;
  ASSERT_EQ(Entries(cache).size(), 1u);
  EXPECT_EQ(fs::path(Entries(cache)[0]).filename().string().substr(0, 12), key);
  ExpectRecordedOutputs(RunTo(Path("miss.engine")));
  ExpectRecordedOutputs(RunTo(Path("hit.engine")));

  // Stripped and --keep-sources hits: the mode is the caller's, the entry serves both.
  const std::string stripped = Build("hit_stripped", cache, " --mode stripped");
  EXPECT_NE(stripped.find("cache hit"), std::string::npos) << stripped;
  EXPECT_LT(fs::file_size(Path("hit_stripped.engine")), fs::file_size(Path("hit.engine")) / 4);
  ExpectRecordedOutputs(RunTo(Path("hit_stripped.engine"), " --weights " + kModel));
  const std::string kept = Build("hit_kept", cache, " --keep-sources");
  EXPECT_NE(kept.find("cache hit"), std::string::npos) << kept;
  EXPECT_GT(fs::file_size(Path("hit_kept.engine")), fs::file_size(Path("hit.engine")));
  ExpectRecordedOutputs(RunTo(Path("hit_kept.engine")));
}

// Another checkpoint of the architecture hits, and the engine computes with ITS weights.
TEST_F(CliCacheTest, OtherWeightsOfTheSameArchitectureHit) {
  onnx::ModelProto m = LoadModelProto();
  for (onnx::TensorProto& init : *m.mutable_graph()->mutable_initializer()) {
    if (init.data_type() != onnx::TensorProto::FLOAT) continue;
    std::string& raw = *init.mutable_raw_data();
    for (size_t i = 0; i + 4 <= raw.size(); i += 4) {
      float v;
      std::memcpy(&v, raw.data() + i, 4);
      v = v * 1.25f + 0.01f * float(i % 7);
      std::memcpy(raw.data() + i, &v, 4);
    }
  }
  const std::string model2 = Path("model2.onnx");
  SaveModelProto(m, model2);
  const std::string cache = Path("cache_model2");
  Build("m1", cache);
  const std::string out = Build("m2", cache, "", model2);
  EXPECT_NE(out.find("cache hit"), std::string::npos) << out;
  const std::string reference = Path("model2_ref.safetensors");
  Result r = Refit("run " + model2 + " --inputs " + kInputs + " -o " + reference);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string got = RunTo(Path("m2.engine"));
  EXPECT_LE(RelativeDiff(reference, got), 1e-4);
  EXPECT_GT(RelativeDiff(kDir + "/outputs.safetensors", got), 1e-2) << "weights not refitted";
}

TEST_F(CliCacheTest, TwoBuildsAtOnceBuildOnce) {
  const std::string cache = Path("cache_race");
  // Both started before either is waited for.
  std::string script;
  for (const char* i : {"1", "2"}) {
    script += std::string(REFIT_BINARY) + " build " + kModel + " --quiet --cache " + cache;
    script += " -o " + Path(std::string("race") + i + ".engine");
    script += " >" + Path(std::string("race") + i + ".log") + " 2>&1 & p" + i + "=$!; ";
  }
  script += "wait $p1; r1=$?; wait $p2; r2=$?; exit $((r1 + r2))";
  ASSERT_EQ(std::system(script.c_str()), 0) << Slurp(Path("race1.log")) << Slurp(Path("race2.log"));
  const std::string logs = Slurp(Path("race1.log")) + Slurp(Path("race2.log"));
  int misses = 0, hits = 0;
  for (size_t p = logs.find("cache miss"); p != std::string::npos;
       p = logs.find("cache miss", p + 1))
    ++misses;
  for (size_t p = logs.find("cache hit"); p != std::string::npos; p = logs.find("cache hit", p + 1))
    ++hits;
  EXPECT_EQ(misses, 1) << logs;
  EXPECT_EQ(hits, 1) << logs;
  ExpectRecordedOutputs(RunTo(Path("race1.engine")));
  ExpectRecordedOutputs(RunTo(Path("race2.engine")));
}

TEST_F(CliCacheTest, CorruptedEntryIsRebuilt) {
  const std::string cache = Path("cache_corrupt");
  Build("c1", cache);
  ASSERT_EQ(Entries(cache).size(), 1u);
  const std::string entry = Entries(cache)[0];
  {
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = std::streamoff(fs::file_size(entry) / 2);
    f.seekg(middle);
    const char c = char(f.get());
    f.seekp(middle);
    f.put(char(c ^ 0x01));
  }
  const std::string out = Build("c2", cache);
  EXPECT_NE(out.find("cache: corrupt entry rebuilt"), std::string::npos) << out;
  ExpectRecordedOutputs(RunTo(Path("c2.engine")));
  EXPECT_NE(Build("c3", cache).find("cache hit"), std::string::npos);
}

TEST_F(CliCacheTest, ListPruneClear) {
  const std::string cache = Path("cache_ls");
  Build("l1", cache);
  ASSERT_EQ(Entries(cache).size(), 1u);
  const std::string entry = Entries(cache)[0];
  const std::string key = fs::path(entry).stem().string();
  Result r = Refit("cache ls " + cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(key), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 entry"), std::string::npos) << r.out;
  r = Refit("cache ls " + cache + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_EQ(j["entries"].size(), 1u);
  EXPECT_EQ(j["entries"][0]["key"], key);
  EXPECT_EQ(j["entries"][0]["bytes"], fs::file_size(entry));
  EXPECT_EQ(j["total_bytes"], fs::file_size(entry));

  r = Refit("cache prune " + cache + " --max-bytes 0");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("removed 1 entry"), std::string::npos) << r.out;
  EXPECT_TRUE(Entries(cache).empty());
  EXPECT_NE(Refit("cache ls " + cache).out.find("0 entries"), std::string::npos);

  Build("l2", cache);
  r = Refit("cache clear " + cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("removed 1 entry"), std::string::npos) << r.out;
  EXPECT_TRUE(Entries(cache).empty());
  EXPECT_NE(Build("l3", cache).find("cache miss"), std::string::npos);
}

TEST_F(CliCacheTest, AMissChecksTheModelBeforeItBuilds) {
  // The lookup imports the model without onnx::checker (its key covers what the checker checks);
  // a miss imports it again, checked: a model the checker rejects is refused, nothing is stored.
  onnx::ModelProto m = LoadModelProto();
  m.mutable_graph()->mutable_node(0)->set_op_type("NoSuchOperator");
  const std::string bad = Path("no_such_op.onnx");
  SaveModelProto(m, bad);
  const std::string cache = Path("cache_checked");
  Result r = Refit("build " + bad + " -o " + Path("bad.engine") + " --cache " + cache);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("checker"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NoSuchOperator"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(Path("bad.engine")));
  EXPECT_TRUE(Entries(cache).empty());
  // The good model's miss and hit report one key: the checked and unchecked imports agree on it.
  const std::string miss = Build("checked1", cache);
  const std::string hit = Build("checked2", cache);
  EXPECT_NE(KeyIn(miss, "cache miss"), "");
  EXPECT_EQ(KeyIn(hit, "cache hit"), KeyIn(miss, "cache miss")) << miss << hit;
}

TEST_F(CliCacheTest, Errors) {
  const std::string cache = Path("cache_errors");
  Result r =
      Refit("build " + kModel + " -o " + Path("s.engine") + " --mode static --cache " + cache);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--cache"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("static"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(Path("s.engine")));
  r = Refit("build " + kModel + " -o " + Path("s.engine") + " --cache-max-bytes 10");
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_FALSE(fs::exists(Path("s.engine")));
  for (const std::string sub : {"ls", "clear", "prune --max-bytes 1"}) {
    r = Refit("cache " + sub + " " + Path("no_such_cache"));
    EXPECT_EQ(r.code, 1) << sub << ": " << r.out;
    EXPECT_NE(r.out.find("no_such_cache"), std::string::npos) << r.out;
  }
  std::ofstream(Path("a_file")) << "x";
  r = Refit("build " + kModel + " -o " + Path("f.engine") + " --cache " + Path("a_file"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(Path("a_file")), std::string::npos) << r.out;
}

}  // namespace
}  // namespace refit
