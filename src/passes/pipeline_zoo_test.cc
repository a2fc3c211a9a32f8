// The default passes on PyTorch exports (tests/models/make_zoo.py): outputs still match PyTorch's,
// and after replacing the SOURCE weights with a second set, outputs match PyTorch's outputs with
// that set, which proves every derived weight is recomputed from its sources.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "frontend/onnx/importer.h"
#include "passes/pass_test_util.h"
#include "passes/passes.h"
#include "refit/safetensors.h"

namespace refit::passes {
namespace {

std::string ZooDir(const std::string& model) {
  return std::string(REFIT_BINARY_DIR) + "/zoo/" + model;
}

StatusOr<std::map<std::string, Tensor>> LoadAll(const std::string& path) {
  REFIT_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
  std::map<std::string, Tensor> out;
  for (const std::string& name : file->names()) {
    REFIT_ASSIGN_OR_RETURN(Tensor t, file->GetTensor(name));
    out.emplace(name, std::move(t));
  }
  return out;
}

void ExpectMatches(const ir::Graph& g, const std::map<std::string, Tensor>& inputs,
                   const std::string& expected_path) {
  auto expected = LoadAll(expected_path);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  auto got = testing::RunGraph(g, inputs);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  for (const auto& [name, want] : *expected) {
    ASSERT_TRUE(got->count(name)) << "missing output " << name;
    EXPECT_TRUE(testing::AllClose(want, got->at(name), 1e-4)) << name << " vs " << expected_path;
  }
}

struct ZooRun {
  ir::Graph before;
  ir::Graph after;
  PassReport report;
};

// Imports, checks the unoptimised graph against PyTorch, runs the passes, checks again, refits
// the optimised graph's sources and checks against PyTorch's second outputs.
void RunZooModel(const std::string& model, ZooRun* run) {
  const std::string dir = ZooDir(model);
  if (!std::filesystem::exists(dir + "/model.onnx") ||
      !std::filesystem::exists(dir + "/outputs2.safetensors")) {
    // CTest provides the zoo through the `zoo` fixture; only a by-hand run may lack it.
    if (std::getenv("CI") != nullptr) FAIL() << dir << " is missing under CI";
    GTEST_SKIP() << dir << " is missing; generate it with tests/models/make_zoo.py";
  }
  auto g = onnx_frontend::ImportOnnxFile(dir + "/model.onnx");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto inputs = LoadAll(dir + "/inputs.safetensors");
  ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
  run->before = testing::CloneGraph(*g);
  run->after = std::move(*g);
  Status s = RunDefaultPasses(run->after, &run->report, PassOptions{testing::ReferenceEvaluator()});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(run->after.weights.size(), run->before.weights.size());
  ExpectMatches(run->after, *inputs, dir + "/outputs.safetensors");

  auto weights2 = LoadAll(dir + "/weights2.safetensors");
  ASSERT_TRUE(weights2.ok()) << weights2.status().ToString();
  for (auto& [name, t] : *weights2) {
    auto it = run->after.weights.find(name);
    ASSERT_NE(it, run->after.weights.end()) << name << " is not a source weight";
    ASSERT_EQ(it->second.shape(), t.shape()) << name;
    it->second = std::move(t);
  }
  ExpectMatches(run->after, *inputs, dir + "/outputs2.safetensors");
}

TEST(PipelineZooTest, ResNet18FoldsEveryBatchNormAndRefits) {
  ZooRun run;
  RunZooModel("resnet18", &run);
  if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
  auto before = run.before.OpCounts();
  auto after = run.after.OpCounts();
  EXPECT_EQ(before["BatchNormalization"], 20);
  EXPECT_EQ(after.count("BatchNormalization"), 0u) << run.report.ToString();
  EXPECT_EQ(run.report.Count("fold_batchnorm"), 20);
  // The 8 residual Adds fuse into a Conv of their block (fuse_residual), and then all 17 Relus
  // (9 after a Conv, 8 after a residual Add) into their Conv: 20 Convs and the head remain.
  EXPECT_EQ(run.report.Count("fuse_residual"), 8) << run.report.ToString();
  EXPECT_EQ(run.report.Count("fuse_activation"), 17) << run.report.ToString();
  EXPECT_EQ(run.report.Count("fuse_elementwise"), 0) << run.report.ToString();
  EXPECT_EQ(after.count("Relu"), 0u);
  EXPECT_EQ(after.count("Add"), 0u);
  EXPECT_EQ(after["Conv"], 20);
  EXPECT_EQ(run.after.nodes.size(), run.before.nodes.size() - 20 - 8 - 17);
  EXPECT_EQ(run.after.derived_weights.size(), 40u);  // a weight and a bias per folded BN
}

TEST(PipelineZooTest, BertTinyFoldsWeightTransposesAndRefits) {
  ZooRun run;
  RunZooModel("bert_tiny", &run);
  if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
  EXPECT_LT(run.after.nodes.size(), run.before.nodes.size()) << run.report.ToString();
  EXPECT_GT(run.report.Count("fold_weight_transpose"), 0) << run.report.ToString();
  EXPECT_LT(run.after.OpCounts()["Transpose"], run.before.OpCounts()["Transpose"]);
  for (const auto& [name, recipe] : run.after.derived_weights) {
    for (const std::string& src : recipe.Sources()) {
      EXPECT_TRUE(run.after.weights.count(src)) << name << " reads " << src;
    }
  }
}

// Every zoo model: the passes keep PyTorch's outputs and the refit property.
class PipelineZooAllTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PipelineZooAllTest, OutputsAndRefitMatchPyTorch) {
  ZooRun run;
  RunZooModel(GetParam(), &run);
  if (::testing::Test::IsSkipped() || ::testing::Test::HasFatalFailure()) return;
  EXPECT_LE(run.after.nodes.size(), run.before.nodes.size());
  auto after = run.after.OpCounts();
  // Every GroupNorm (5 UNet blocks) is recognised, and its SiLU fused into it.
  if (GetParam() == "tiny_unet") {
    EXPECT_EQ(after["GroupNorm"], 5) << run.report.ToString();
    EXPECT_EQ(after.count("InstanceNormalization"), 0u);
    EXPECT_EQ(after.count("Sigmoid"), 0u);
  }
  // The tanh-approximated GELU of each block ends in one FusedElementwise with its bias Add.
  if (GetParam() == "tiny_vit") {
    EXPECT_EQ(after.count("Tanh"), 0u) << run.report.ToString();
    EXPECT_GE(after["FusedElementwise"], 2);
  }
  // Every BatchNormalization in these two follows a Conv it alone reads.
  if (GetParam() == "mobilenet_v2" || GetParam() == "tiny_cnn") {
    EXPECT_GT(run.before.OpCounts()["BatchNormalization"], 0);
    EXPECT_EQ(run.after.OpCounts().count("BatchNormalization"), 0u) << run.report.ToString();
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, PipelineZooAllTest,
                         ::testing::Values("mobilenet_v2", "tiny_cnn", "tiny_unet", "tiny_vit",
                                           "mlp_acts", "tiny_misc"));

}  // namespace
}  // namespace refit::passes
