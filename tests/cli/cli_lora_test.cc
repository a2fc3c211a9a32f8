// `refit build --keep-sources`, `refit run --lora` and `refit update --lora` as a user drives them
// on the tiny_cnn example: a PEFT adapter on the BatchNorm-folded conv1 and on fc, its scale,
// the base from the engine or from --weights, and bad adapters refused with nothing written.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_engine_fixture.h"
#include "cli_weights_util.h"
#include "refit/safetensors.h"

namespace refit {
namespace {

Tensor Pattern(const Shape& shape, float scale, int seed) {
  Tensor t = Tensor::Create(DataType::kF32, shape).value();
  float* p = t.mutable_data_as<float>();
  for (int64_t i = 0; i < t.NumElements(); ++i) p[i] = scale * float((i * 7 + seed) % 11 - 5);
  return t;
}

// A rank-2 PEFT adapter (alpha 4, so alpha / r = 2) on conv1 [32,3,3,3] and fc [10,160].
struct Adapter {
  Tensor conv_down = Pattern(Shape{2, 3, 3, 3}, 0.01f, 1),
         conv_up = Pattern(Shape{32, 2, 1, 1}, 0.01f, 2);
  Tensor fc_down = Pattern(Shape{2, 160}, 0.01f, 3), fc_up = Pattern(Shape{10, 2}, 0.01f, 4);

  void WritePeft(const std::string& dir, const std::string& conv_module = "conv1") const {
    fs::create_directories(dir);
    const std::string p = "base_model.model.";
    ASSERT_TRUE(WriteSafetensors(dir + "/adapter_model.safetensors",
                                 {{p + conv_module + ".lora_A.weight", conv_down.view()},
                                  {p + conv_module + ".lora_B.weight", conv_up.view()},
                                  {p + "fc.lora_A.weight", fc_down.view()},
                                  {p + "fc.lora_B.weight", fc_up.view()}})
                    .ok());
    std::ofstream(dir + "/adapter_config.json")
        << R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["conv1", "fc"]})";
  }
};

// The model's weights with the adapter merged at `scale` (double precision), as a state dict.
void WriteMerged(const std::string& base, const std::string& path, const Adapter& a, double scale) {
  auto model = SafetensorsFile::Open(base);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<Tensor> tensors;
  std::vector<NamedTensorView> views;
  for (const std::string& name : (*model)->names()) {
    Tensor t = Tensor::CopyOf((*model)->Get(name).value()).value();
    const Tensor* down = name == "conv1.weight" ? &a.conv_down
                         : name == "fc.weight"  ? &a.fc_down
                                                : nullptr;
    const Tensor* up = name == "conv1.weight" ? &a.conv_up
                       : name == "fc.weight"  ? &a.fc_up
                                              : nullptr;
    if (down != nullptr) {
      const int64_t rows = t.shape()[0], cols = t.NumElements() / rows;
      float* w = t.mutable_data_as<float>();
      for (int64_t o = 0; o < rows; ++o) {
        for (int64_t c = 0; c < cols; ++c) {
          double sum = 0;
          for (int k = 0; k < 2; ++k) {
            sum += double(up->data_as<float>()[o * 2 + k]) * down->data_as<float>()[k * cols + c];
          }
          w[o * cols + c] = float(w[o * cols + c] + scale * 2.0 * sum);
        }
      }
    }
    tensors.push_back(std::move(t));
  }
  for (size_t i = 0; i < tensors.size(); ++i)
    views.push_back({(*model)->names()[i], tensors[i].view()});
  ASSERT_TRUE(WriteSafetensors(path, views).ok());
}

// Max |a - b| over max |a|, over every output.
double RelDiff(const std::string& a_path, const std::string& b_path) {
  auto a = SafetensorsFile::Open(a_path);
  auto b = SafetensorsFile::Open(b_path);
  if (!a.ok() || !b.ok()) return INFINITY;
  double max_ref = 0, max_diff = 0;
  for (const std::string& name : (*a)->names()) {
    auto x = (*a)->Get(name);
    auto y = (*b)->Get(name);
    if (!x.ok() || !y.ok() || x->shape() != y->shape()) return INFINITY;
    for (int64_t i = 0; i < x->NumElements(); ++i) {
      max_ref = std::max(max_ref, double(std::fabs(x->data_as<float>()[i])));
      max_diff =
          std::max(max_diff, double(std::fabs(x->data_as<float>()[i] - y->data_as<float>()[i])));
    }
  }
  return max_diff / max_ref;
}

class CliLoraTest : public CliEngineTest {
 protected:
  static void SetUpTestSuite() {
    CliEngineTest::SetUpTestSuite();
    // The base weights as a state dict (the model's initializers), for the oracle.
    WriteWeights(Path("base.safetensors"), [](const std::string&, int64_t, float v) { return v; });
    Result r = Refit("build " + kModel + " -o " + Path("kept.engine") + " --keep-sources --quiet");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  std::string RunTo(const std::string& engine, const std::string& name, const std::string& extra) {
    const std::string out = Path("out_" + name + ".safetensors");
    Result r = Refit("run " + engine + " --inputs " + kInputs + " -o " + out + extra);
    EXPECT_EQ(r.code, 0) << r.out;
    return out;
  }
  Adapter adapter_;
};

TEST_F(CliLoraTest, HelpNamesTheOptions) {
  Result r = Refit("build --help");
  EXPECT_NE(r.out.find("--keep-sources"), std::string::npos) << r.out;
  for (const char* cmd : {"run", "update", "bench"}) {
    r = Refit(std::string(cmd) + " --help");
    EXPECT_NE(r.out.find("--lora"), std::string::npos) << cmd << "\n" << r.out;
  }
}

TEST_F(CliLoraTest, AdapterFromKeptSourcesMatchesTheMergedWeightsAndUpdateWritesIt) {
  // The kept engine holds the source weights beside its packed ones (not compared with another
  // build's size: the tuner may pick tactics that pack to other sizes), and runs as the plain one
  // does.
  Result info = Refit("inspect --json " + Path("kept.engine"));
  ASSERT_EQ(info.code, 0) << info.out;
  const nlohmann::json j = nlohmann::json::parse(info.out);
  const uint64_t kept = j.at("kept_source_bytes").get<uint64_t>();
  EXPECT_GT(kept, 100000u);
  EXPECT_GE(fs::file_size(Path("kept.engine")), kept + j.at("stored_weight_bytes").get<uint64_t>());
  ExpectRecordedOutputs(RunTo(Path("kept.engine"), "kept", ""));
  adapter_.WritePeft(Path("peft"));
  const std::string lora = RunTo(Path("kept.engine"), "lora", " --lora " + Path("peft") + ":0.5");
  const std::string merged_w = Path("merged_half.safetensors");
  WriteMerged(Path("base.safetensors"), merged_w, adapter_, 0.5);
  const std::string oracle = RunTo(Engine("refittable"), "oracle", " --weights " + merged_w);
  EXPECT_LT(RelDiff(oracle, lora), 1e-5);
  EXPECT_GT(RelDiff(Path("out_kept.safetensors"), lora), 1e-3);  // the adapter changes outputs
  // update --lora merges for good; the new engine runs it without --lora.
  Result r = Refit("update " + Path("kept.engine") + " -o " + Path("merged.engine") + " --lora " +
                   Path("peft") + ":0.5");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("merged 1 adapter (2 targets"), std::string::npos) << r.out;
  EXPECT_EQ(ReadBytes(RunTo(Path("merged.engine"), "merged", "")), ReadBytes(lora));
}

TEST_F(CliLoraTest, WithoutKeptSourcesTheBaseComesFromWeights) {
  adapter_.WritePeft(Path("peft2"));
  Result r = Refit("run " + Engine("refittable") + " --inputs " + kInputs + " -o " +
                   Path("never.safetensors") + " --lora " + Path("peft2"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--keep-sources"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(Path("never.safetensors")));
  const std::string with_base = RunTo(Engine("stripped"), "stripped_lora",
                                      " --weights " + kModel + " --lora " + Path("peft2"));
  const std::string kept = RunTo(Path("kept.engine"), "kept_lora", " --lora " + Path("peft2"));
  // Two builds may choose other tactics (timing): equal up to rounding, not bit for bit.
  EXPECT_LT(RelDiff(kept, with_base), 1e-5);
  EXPECT_GT(RelDiff(RunTo(Path("kept.engine"), "kept_plain", ""), with_base), 1e-3);
}

TEST_F(CliLoraTest, BadAdaptersChangeNothing) {
  const std::string engine = Path("kept.engine");
  const std::string before = ReadBytes(engine);
  adapter_.WritePeft(Path("other"), "encoder.conv_in");  // another model's module
  fs::create_directories(Path("noconfig"));
  adapter_.WritePeft(Path("noconfig"));
  fs::remove(Path("noconfig/adapter_config.json"));
  struct Case {
    std::string spec, wanted;
  };
  for (const Case& c :
       {Case{Path("other"), "matches no weight"}, Case{Path("noconfig"), "adapter_config.json"},
        Case{Path("absent"), "does not exist"}, Case{Path("peft") + ":nan", "finite"}}) {
    Result r = Refit("update " + engine + " -o " + engine + " --lora " + c.spec);
    EXPECT_EQ(r.code, 1) << c.spec << "\n" << r.out;
    EXPECT_NE(r.out.find(c.wanted), std::string::npos) << c.spec << "\n" << r.out;
    EXPECT_EQ(ReadBytes(engine), before) << c.spec;
  }
  ExpectRecordedOutputs(RunTo(engine, "after_bad", ""));
}

}  // namespace
}  // namespace refit
