// The fixture the engine CLI tests share: the tiny_cnn example, one engine per mode built on first
// use in a per-process temporary directory, and a check against the outputs PyTorch recorded.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "cli_test_util.h"
#include "refit/safetensors.h"

namespace refit {

namespace fs = std::filesystem;
using cli_testing::Refit;
using cli_testing::Result;

inline const std::string kDir = std::string(REFIT_SOURCE_DIR) + "/examples/models/tiny_cnn";
inline const std::string kModel = kDir + "/model.onnx";
inline const std::string kInputs = kDir + "/inputs.safetensors";

class CliEngineTest : public ::testing::Test {
 protected:
  // One build per mode for the whole suite: building times every tactic.
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("refit_cli_engine_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string Path(const std::string& name) { return (dir_ / name).string(); }

  // The engine of `mode`, built on first use.
  static std::string Engine(const std::string& mode) {
    const std::string path = Path(mode + ".engine");
    if (!fs::exists(path)) {
      Result r = Refit("build " + kModel + " -o " + path + " --mode " + mode + " --quiet");
      EXPECT_EQ(r.code, 0) << r.out;
      EXPECT_NE(r.out.find("(" + mode + ", "), std::string::npos) << r.out;
    }
    return path;
  }

  // Every output within 1e-4 of the largest reference magnitude.
  static void ExpectRecordedOutputs(const std::string& path) {
    auto want = SafetensorsFile::Open(kDir + "/outputs.safetensors");
    auto got = SafetensorsFile::Open(path);
    ASSERT_TRUE(want.ok() && got.ok()) << path;
    ASSERT_EQ((*want)->names(), (*got)->names());
    for (const std::string& name : (*want)->names()) {
      auto w = (*want)->Get(name);
      auto g = (*got)->Get(name);
      ASSERT_TRUE(w.ok() && g.ok()) << name;
      ASSERT_EQ(w->shape(), g->shape()) << name;
      ASSERT_EQ(g->dtype(), DataType::kF32) << name;
      double max_ref = 0, max_diff = 0;
      for (int64_t i = 0; i < w->NumElements(); ++i) {
        const double a = w->data_as<float>()[i], b = g->data_as<float>()[i];
        max_ref = std::max(max_ref, std::fabs(a));
        max_diff = std::max(max_diff, std::isfinite(b) ? std::fabs(a - b) : INFINITY);
      }
      EXPECT_LE(max_diff, 1e-4 * max_ref) << name << ": max |ref| " << max_ref;
    }
  }

  static std::string InputName() {
    auto f = SafetensorsFile::Open(kInputs);
    return f.ok() && !(*f)->names().empty() ? (*f)->names()[0] : "?";
  }

  static fs::path dir_;
};

inline fs::path CliEngineTest::dir_;

}  // namespace refit
