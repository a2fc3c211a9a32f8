// `refit build`, and `run` / `inspect` / `bench` on engines, driven as a user would on the
// tiny_cnn example: outputs against the ones PyTorch recorded, every mode, the timing cache, and
// clear errors for bad --input specs, stripped engines without weights and truncated files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "cli_engine_fixture.h"
#include "cli_test_util.h"
#include "refit/safetensors.h"

namespace refit {
namespace {

TEST_F(CliEngineTest, BuildHelp) {
  Result r = Refit("build --help");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* flag :
       {"--mode", "--input", "--timing-cache", "--threads", "--plan-candidates", "-o"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
  }
}

TEST_F(CliEngineTest, RefittableAndStaticEnginesReproduceTheRecordedOutputs) {
  for (const std::string mode : {"refittable", "static"}) {
    const std::string out = Path("out_" + mode + ".safetensors");
    Result r = Refit("run " + Engine(mode) + " --inputs " + kInputs + " -o " + out);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find(mode + " engine"), std::string::npos) << r.out;
    ExpectRecordedOutputs(out);
  }
}

TEST_F(CliEngineTest, StrippedEngineNeedsWeights) {
  const std::string engine = Engine("stripped");
  EXPECT_LT(fs::file_size(engine), fs::file_size(Engine("refittable")));
  const std::string out = Path("out_stripped.safetensors");
  Result r = Refit("run " + engine + " --inputs " + kInputs + " -o " + out);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--weights"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stripped"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  r = Refit("run " + engine + " --inputs " + kInputs + " -o " + out + " --weights " + kModel);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("refitted"), std::string::npos) << r.out;
  ExpectRecordedOutputs(out);
}

TEST_F(CliEngineTest, InputSpecErrors) {
  const std::string in = InputName();
  struct Case {
    std::string spec, wanted;
  };
  for (const Case& c : std::vector<Case>{{"nope:1x3", "'nope'"},
                                         {in + ":1x3", "rank 2"},
                                         {in + ":1x3x-4", "is not a dimension"},
                                         {"1x3", "expected NAME:DIMxDIM"}}) {
    Result r =
        Refit("build " + kModel + " -o " + Path("bad.engine") + " --quiet --input " + c.spec);
    EXPECT_EQ(r.code, 1) << c.spec << "\n" << r.out;
    EXPECT_NE(r.out.find(c.wanted), std::string::npos) << c.spec << "\n" << r.out;
    EXPECT_FALSE(fs::exists(Path("bad.engine")));
  }
}

// --plan-candidates takes 1 to 16; out of range is a usage error that writes nothing.
TEST_F(CliEngineTest, PlanCandidatesRange) {
  for (const char* n : {"0", "17", "x"}) {
    Result r =
        Refit("build " + kModel + " -o " + Path("bad.engine") + " --quiet --plan-candidates " + n);
    EXPECT_NE(r.code, 0) << n << "\n" << r.out;
    EXPECT_NE(r.out.find("--plan-candidates"), std::string::npos) << n << "\n" << r.out;
    EXPECT_FALSE(fs::exists(Path("bad.engine")));
  }
  Result r =
      Refit("build " + kModel + " -o " + Path("one.engine") + " --quiet --plan-candidates 1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("plan check"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(Path("one.engine")));
}

// A build on two threads runs the thread check and says so; inspect shows the verdict, and run and
// bench use the threads the engine allows (one where the check found one faster).
TEST_F(CliEngineTest, ThreadCheckVerdictIsShownAndKept) {
  const std::string engine = Path("two.engine");
  Result b = Refit("build " + kModel + " -o " + engine + " --threads 2");
  ASSERT_EQ(b.code, 0) << b.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      b.out, m,
      std::regex(
          R"(thread check: 1 thread [0-9.]+ ms against 2 threads [0-9.]+ ms .*: runs on (1 thread|2 threads))")))
      << b.out;
  const bool serial = m[1] == "1 thread";
  EXPECT_NE(b.out.find(", checks "), std::string::npos) << b.out;
  const nlohmann::json j = nlohmann::json::parse(Refit("inspect --json " + engine).out);
  EXPECT_EQ(j["max_threads"], serial ? 1 : 0) << j.dump();
  Result text = Refit("inspect " + engine);
  EXPECT_EQ(text.out.find("runs on at most 1") != std::string::npos, serial) << text.out;
  Result bench = Refit("bench " + engine + " --iterations 3 --threads 2 --json");
  ASSERT_EQ(bench.code, 0) << bench.out;
  const nlohmann::json bj = nlohmann::json::parse(bench.out);
  EXPECT_EQ(bj["threads"], serial ? 1 : 2) << bench.out;
  EXPECT_EQ(bj["threads_asked"], 2) << bench.out;
  const std::string out = Path("out_two.safetensors");
  Result run = Refit("run " + engine + " --threads 2 --inputs " + kInputs + " -o " + out);
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(
      run.out.find(serial ? "1 thread, as its build's thread check found faster" : "2 threads;"),
      std::string::npos)
      << run.out;
  ExpectRecordedOutputs(out);
}

TEST_F(CliEngineTest, TimingCacheMakesTheSecondBuildTimeNothing) {
  const std::string cache = Path("timing.json");
  const std::string build = "build " + kModel + " --quiet --timing-cache " + cache + " -o ";
  Result first = Refit(build + Path("c1.engine"));
  ASSERT_EQ(first.code, 0) << first.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      first.out, m, std::regex(R"((\d+) tactics timed on (\d+) layers, 0 from the timing cache)")))
      << first.out;
  EXPECT_GT(std::stoi(m[1]), 0);
  const int timed_layers = std::stoi(m[2]);
  EXPECT_TRUE(fs::exists(cache));
  Result second = Refit(build + Path("c2.engine"));
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_NE(second.out.find("0 tactics timed on 0 layers, " + std::to_string(timed_layers) +
                            " from the timing cache"),
            std::string::npos)
      << second.out;
  // The second engine chose what the first did.
  Result i1 = Refit("inspect --json " + Path("c1.engine"));
  Result i2 = Refit("inspect --json " + Path("c2.engine"));
  ASSERT_EQ(i1.code, 0);
  ASSERT_EQ(i2.code, 0);
  const auto j1 = nlohmann::json::parse(i1.out), j2 = nlohmann::json::parse(i2.out);
  ASSERT_EQ(j1["layers"].size(), j2["layers"].size());
  for (size_t l = 0; l < j1["layers"].size(); ++l) {
    EXPECT_EQ(j1["layers"][l]["tactic"], j2["layers"][l]["tactic"]);
  }
  // A malformed cache is an error naming it.
  { std::ofstream(cache) << "{ not json"; }
  Result bad = Refit(build + Path("c3.engine"));
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.out.find(cache), std::string::npos) << bad.out;
}

TEST_F(CliEngineTest, InspectEngine) {
  const std::string engine = Engine("refittable");
  Result text = Refit("inspect " + engine);
  ASSERT_EQ(text.code, 0) << text.out;
  for (const char* what : {"(format 2, refittable)", "layers ", "weight slots", "cpu "}) {
    EXPECT_NE(text.out.find(what), std::string::npos) << what << "\n" << text.out;
  }
  Result r = Refit("inspect --json " + engine);
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kind"], "engine");
  EXPECT_EQ(j["mode"], "refittable");
  EXPECT_EQ(j["file_bytes"].get<uint64_t>(), fs::file_size(engine));
  EXPECT_GT(j["weight_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["stored_weight_bytes"], j["weight_bytes"]);
  EXPECT_GT(j["arena_bytes"].get<uint64_t>(), 0u);
  ASSERT_GT(j["layers"].size(), 0u);
  for (const auto& l : j["layers"]) {
    EXPECT_FALSE(l["tactic"].get<std::string>().empty()) << l.dump();
    EXPECT_TRUE(l["backend"] == "cpu" || l["backend"] == "reference") << l.dump();
  }
  ASSERT_GT(j["weight_slots"].size(), 0u);
  int recipes = 0;
  for (const auto& s : j["weight_slots"]) {
    if (!s["refittable"].get<bool>()) continue;
    ++recipes;
    EXPECT_FALSE(s["recipe"].get<std::string>().empty()) << s.dump();
    EXPECT_GT(s["sources"].size(), 0u) << s.dump();
  }
  EXPECT_GT(recipes, 0);
  EXPECT_GT(j["source_weights"].size(), 0u);
  // Static: no recipes; stripped: no refittable bytes in the file.
  const nlohmann::json st = nlohmann::json::parse(Refit("inspect --json " + Engine("static")).out);
  EXPECT_EQ(st["mode"], "static");
  for (const auto& s : st["weight_slots"]) EXPECT_TRUE(s["recipe"].is_null()) << s.dump();
  const nlohmann::json sp =
      nlohmann::json::parse(Refit("inspect --json " + Engine("stripped")).out);
  EXPECT_EQ(sp["mode"], "stripped");
  EXPECT_LT(sp["stored_weight_bytes"].get<uint64_t>(), sp["weight_bytes"].get<uint64_t>());
}

TEST_F(CliEngineTest, BenchEngineJson) {
  Result r = Refit("bench " + Engine("refittable") + " --iterations 3 --warmup 1 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["backend"], "refittable engine");
  EXPECT_EQ(j["iterations"], 3);
  EXPECT_GT(j["median_ms"].get<double>(), 0);
  EXPECT_LE(j["p10_ms"].get<double>(), j["p90_ms"].get<double>());
  EXPECT_EQ(j["warmup"], 1);
  EXPECT_FALSE(j.contains("layers"));
  // --profile lists every layer of the plan, in order, with its tactic and time.
  r = Refit("bench " + Engine("refittable") + " --iterations 3 --profile --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json prof = nlohmann::json::parse(r.out.substr(r.out.find("{\n")));
  const nlohmann::json inspected =
      nlohmann::json::parse(Refit("inspect --json " + Engine("refittable")).out);
  ASSERT_EQ(prof["layers"].size(), inspected["layers"].size()) << r.out;
  for (size_t l = 0; l < prof["layers"].size(); ++l) {
    const nlohmann::json& layer = prof["layers"][l];
    EXPECT_EQ(layer["index"], l);
    EXPECT_EQ(layer["tactic"], inspected["layers"][l]["tactic"]);
    EXPECT_GT(layer["median_us"].get<double>(), 0) << layer.dump();
    EXPECT_FALSE(layer["outputs"].empty()) << layer.dump();
  }
  // A timed warm-up runs until its time is up (this engine runs in well under 100 ms).
  const auto start = std::chrono::steady_clock::now();
  r = Refit("bench " + Engine("refittable") + " --iterations 2 --warmup 0 --warmup-ms 300 --json");
  const double wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json timed = nlohmann::json::parse(r.out);
  EXPECT_GE(timed["warmup"].get<int>(), 3) << r.out;
  EXPECT_EQ(timed["warmup_ms"].get<double>(), 300);
  EXPECT_GE(wall_ms, 300);
  r = Refit("bench " + Engine("refittable") + " --warmup-ms -1");
  EXPECT_NE(r.code, 0) << r.out;
  r = Refit("bench " + Engine("stripped") + " --iterations 1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--weights"), std::string::npos) << r.out;
}

TEST_F(CliEngineTest, TruncatedEngineIsAClearError) {
  const std::string good = Engine("refittable");
  for (uintmax_t keep : {fs::file_size(good) / 2, uintmax_t(100), uintmax_t(4)}) {
    const std::string bad = Path("truncated_" + std::to_string(keep) + ".engine");
    fs::copy_file(good, bad, fs::copy_options::overwrite_existing);
    fs::resize_file(bad, keep);
    const std::string out = Path("never.safetensors");
    Result r = Refit("run " + bad + " --inputs " + kInputs + " -o " + out);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find(bad), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(out));
    r = Refit("inspect " + bad);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find(bad), std::string::npos) << r.out;
    if (keep >= 8) {
      EXPECT_NE(r.out.find("truncated"), std::string::npos) << r.out;
    }
  }
}

}  // namespace
}  // namespace refit
