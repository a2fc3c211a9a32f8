#include "refit/lora.h"

#include <gtest/gtest.h>

#include "refit/lora_match.h"
#include "refit/lora_test_util.h"

namespace refit::refitter {
namespace {

using namespace testing;  // NOLINT
using engine::BuildOptions;
using engine::Engine;

class LoraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BuildOptions options = FastOptions();
    options.keep_sources = true;
    engine_ = BuildAndLoad(g_, options);
    ASSERT_NE(engine_, nullptr);
    ASSERT_NE(engine_->kept_sources(), nullptr);
    ASSERT_FALSE(dir_.path().empty());
    before_ = RunOk(*engine_, inputs_);
  }

  LoraAdapter Load(const std::string& path) {
    std::vector<WeightPrototype> protos;
    for (const auto& p : engine_->plan().sources) protos.push_back({p.name, p.dtype, p.shape});
    auto a = LoadLoraAdapter(path, protos);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? std::move(a).value() : LoraAdapter{};
  }

  Status LoadError(const std::string& path) {
    std::vector<WeightPrototype> protos;
    for (const auto& p : engine_->plan().sources) protos.push_back({p.name, p.dtype, p.shape});
    auto a = LoadLoraAdapter(path, protos);
    return a.ok() ? Status::Ok() : a.status();
  }

  const ir::Graph g_ = LoraGraph();
  const TensorMap inputs_ = HandInputs();
  TestTempDir dir_;
  std::unique_ptr<Engine> engine_;
  TensorMap before_;
  // r = 2, alpha 4 for conv (alpha / r = 2), alpha 3 for fc via alpha_pattern (1.5).
  const TestModule conv_ = MakeModule("conv", "conv.weight", Shape{4, 3, 3, 3}, 2, 4, 11);
  const TestModule fc_ = MakeModule("fc", "fc.weight", Shape{8, 144}, 2, 3, 21);
  // kohya: rank 3, alpha 1.5 on fc only.
  const TestModule fc_b_ = MakeModule("fc", "fc.weight", Shape{8, 144}, 3, 1.5, 31);
};

TEST_F(LoraTest, PeftOnAFoldedConvAndATransposedLinearMatchesTheMergedModel) {
  WritePeft(dir_.File("a"), {&conv_, &fc_}, 2, 4);
  LoraAdapter a = Load(dir_.File("a"));
  ASSERT_EQ(a.format, "peft");
  ASSERT_EQ(a.targets.size(), 2u);
  LoraRefitter lora(engine_.get(), KeptBaseWeights(*engine_));
  ASSERT_TRUE(lora.Load("a", std::move(a), 1.0f).ok());
  auto report = lora.Apply();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // conv.weight's folded slot and bias slot (the BatchNorm's tensors are re-read from the base)
  // and the fc weight: the fc bias and the constants are untouched.
  EXPECT_EQ(report->slots, 3);
  ExpectClose(Reference(Merged(g_, {{&conv_, 2.0}, {&fc_, 1.5}}), inputs_),
              RunOk(*engine_, inputs_));
}

TEST_F(LoraTest, ScaleChangesRecomputeOnlyTheAdaptersSlotsAndUnloadIsBitExact) {
  WritePeft(dir_.File("a"), {&fc_}, 2, 3);
  LoraRefitter lora(engine_.get(), KeptBaseWeights(*engine_));
  ASSERT_TRUE(lora.Load("a", Load(dir_.File("a")), 1.0f).ok());
  ASSERT_TRUE(lora.Apply().ok());
  auto set1 = engine_->weights();
  ASSERT_TRUE(lora.SetScale("a", 0.5f).ok());
  auto report = lora.Apply();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->slots, 1);
  auto set2 = engine_->weights();
  int changed = 0;
  for (size_t s = 0; s < set2->slots.size(); ++s) changed += set2->slots[s] != set1->slots[s];
  EXPECT_EQ(changed, 1);
  ExpectClose(Reference(Merged(g_, {{&fc_, 0.75}}), inputs_), RunOk(*engine_, inputs_));
  ASSERT_TRUE(lora.Unload("a").ok());
  ASSERT_TRUE(lora.Apply().ok());
  ExpectBitEqual(before_, RunOk(*engine_, inputs_));
  EXPECT_TRUE(lora.adapters().empty());
}

TEST_F(LoraTest, KohyaAndTwoAdaptersAtOnceAndAThenBThenAIsExact) {
  WritePeft(dir_.File("a"), {&conv_, &fc_}, 2, 4);
  WriteKohya(dir_.File("b.safetensors"), {&fc_b_});
  LoraAdapter b = Load(dir_.File("b.safetensors"));
  ASSERT_EQ(b.format, "kohya");
  ASSERT_EQ(b.targets.size(), 1u);
  EXPECT_EQ(b.targets[0].weight, "fc.weight");
  LoraRefitter lora(engine_.get(), KeptBaseWeights(*engine_));
  ASSERT_TRUE(lora.Load("a", Load(dir_.File("a"))).ok());
  ASSERT_TRUE(lora.Apply().ok());
  const TensorMap with_a = RunOk(*engine_, inputs_);
  // Both: fc gets both deltas (kohya at 0.5: alpha 1.5 / r 3 * 0.5).
  ASSERT_TRUE(lora.Load("b", std::move(b), 0.5f).ok());
  ASSERT_TRUE(lora.Apply().ok());
  ExpectClose(Reference(Merged(g_, {{&conv_, 2.0}, {&fc_, 1.5}, {&fc_b_, 0.25}}), inputs_),
              RunOk(*engine_, inputs_));
  // B alone, then A again.
  ASSERT_TRUE(lora.Unload("a").ok());
  ASSERT_TRUE(lora.Apply().ok());
  ExpectClose(Reference(Merged(g_, {{&fc_b_, 0.25}}), inputs_), RunOk(*engine_, inputs_));
  ASSERT_TRUE(lora.Unload("b").ok());
  ASSERT_TRUE(lora.Load("a", Load(dir_.File("a"))).ok());
  ASSERT_TRUE(lora.Apply().ok());
  ExpectBitEqual(with_a, RunOk(*engine_, inputs_));
}

TEST_F(LoraTest, RsLoraScalesByTheSquareRootOfTheRank) {
  WritePeft(dir_.File("rs"), {&fc_}, 2, 3, /*rslora=*/true);
  LoraRefitter lora(engine_.get(), KeptBaseWeights(*engine_));
  ASSERT_TRUE(lora.Load("rs", Load(dir_.File("rs"))).ok());
  ASSERT_TRUE(lora.Apply().ok());
  ExpectClose(Reference(Merged(g_, {{&fc_, 3.0 / std::sqrt(2.0)}}), inputs_),
              RunOk(*engine_, inputs_));
}

TEST_F(LoraTest, BaseFromAWeightMapWhenTheEngineKeepsNoSources) {
  auto plain = BuildAndLoad(g_, FastOptions());
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->kept_sources(), nullptr);
  WritePeft(dir_.File("a"), {&conv_}, 2, 4);
  {
    // Without a base: a clear error naming the weight, nothing changed.
    LoraRefitter lora(plain.get(), {});
    ASSERT_TRUE(lora.Load("a", Load(dir_.File("a"))).ok());
    auto set = plain->weights();
    auto report = lora.Apply();
    ASSERT_FALSE(report.ok());
    EXPECT_TRUE(Contains(report.status().message(), "'conv.weight'")) << report.status().ToString();
    EXPECT_TRUE(Contains(report.status().message(), "--keep-sources"))
        << report.status().ToString();
    EXPECT_EQ(plain->weights(), set);
  }
  BaseWeights base;
  for (const auto& [name, t] : g_.weights) {
    base[name] = std::make_shared<const Tensor>(t.Clone());
  }
  LoraRefitter lora(plain.get(), base);
  ASSERT_TRUE(lora.Load("a", Load(dir_.File("a"))).ok());
  ASSERT_TRUE(lora.Apply().ok());
  ExpectClose(Reference(Merged(g_, {{&conv_, 2.0}}), inputs_), RunOk(*plain, inputs_));
}

TEST_F(LoraTest, BadAdaptersAreRefusedWithTheFirstProblemsNamed) {
  // Another model: no module matches.
  const TestModule other =
      MakeModule("encoder.query", "encoder.query.weight", Shape{8, 144}, 2, 2, 5);
  WritePeft(dir_.File("other"), {&other}, 2, 2);
  Status s = LoadError(dir_.File("other"));
  EXPECT_TRUE(Contains(s.message(), "'encoder.query' matches no weight")) << s.ToString();
  // Right module, wrong shapes.
  const TestModule wide = MakeModule("fc", "fc.weight", Shape{8, 150}, 2, 2, 6);
  WritePeft(dir_.File("wide"), {&wide}, 2, 2);
  s = LoadError(dir_.File("wide"));
  EXPECT_TRUE(Contains(s.message(), "[8,150]") && Contains(s.message(), "[8,144]")) << s.ToString();
  // The config says rank 4, the tensors have rank 2.
  WritePeft(dir_.File("rank"), {&fc_}, 4, 3);
  s = LoadError(dir_.File("rank"));
  EXPECT_TRUE(Contains(s.message(), "rank 4")) << s.ToString();
  // down and up disagree on the rank.
  TestModule mismatched = MakeModule("fc", "fc.weight", Shape{8, 144}, 2, 2, 7);
  mismatched.up = RandomTensor(Shape{8, 3}, 8);
  WriteKohya(dir_.File("mismatch.safetensors"), {&mismatched});
  s = LoadError(dir_.File("mismatch.safetensors"));
  EXPECT_TRUE(Contains(s.message(), "rank mismatch")) << s.ToString();
  // kohya without alpha; PEFT without config.
  WriteKohya(dir_.File("noalpha.safetensors"), {&fc_b_}, "lora_unet_", /*with_alpha=*/false);
  s = LoadError(dir_.File("noalpha.safetensors"));
  EXPECT_TRUE(Contains(s.message(), "no alpha")) << s.ToString();
  WritePeft(dir_.File("noconfig"), {&fc_}, 2, 3);
  std::filesystem::remove(dir_.File("noconfig/adapter_config.json"));
  s = LoadError(dir_.File("noconfig"));
  EXPECT_TRUE(Contains(s.message(), "adapter_config.json")) << s.ToString();
  // A corrupt (truncated) file, a missing path.
  WriteKohya(dir_.File("cut.safetensors"), {&fc_b_});
  std::filesystem::resize_file(dir_.File("cut.safetensors"), 100);
  s = LoadError(dir_.File("cut.safetensors"));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "cut.safetensors")) << s.ToString();
  s = LoadError(dir_.File("absent"));
  EXPECT_TRUE(Contains(s.message(), "does not exist")) << s.ToString();
  // Several problems at once are listed together.
  WritePeft(dir_.File("both"), {&other, &wide}, 2, 2);
  s = LoadError(dir_.File("both"));
  EXPECT_TRUE(Contains(s.message(), "2 problem(s)")) << s.ToString();
  // Nothing of this touched the engine.
  ExpectBitEqual(before_, RunOk(*engine_, inputs_));
}

TEST_F(LoraTest, KohyaPathsWithUnderscoresAreMatchedAndAmbiguityIsAnError) {
  WeightMatcher matcher({{"down_blocks.0.proj_in.weight", DataType::kF32, Shape{4, 4}},
                         {"a.b_c.weight", DataType::kF32, Shape{4, 4}},
                         {"a_b.c.weight", DataType::kF32, Shape{4, 4}},
                         {"text_model.encoder.q_proj.weight", DataType::kF32, Shape{4, 4}}});
  auto m = matcher.Match(StripKohyaPrefix("lora_unet_down_blocks_0_proj_in"), true);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, "down_blocks.0.proj_in.weight");
  // A suffix at an underscore boundary: the export of an inner model.
  m = matcher.Match(StripKohyaPrefix("lora_te_encoder_q_proj"), true);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, "text_model.encoder.q_proj.weight");
  m = matcher.Match("a_b_c", true);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(Contains(m.status().message(), "matches 2 weights")) << m.status().ToString();
}

}  // namespace
}  // namespace refit::refitter
