// Drives the `refit` binary as a user would: good runs, --help, and every kind of bad input the
// foundation promises a clear error for (and no crash, also under ASan).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_test_util.h"
#include "onnx/onnx_pb.h"
#include "refit/safetensors.h"

namespace fs = std::filesystem;

namespace refit {
namespace {

using cli_testing::Refit;
using cli_testing::Result;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("refit_cli_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // y = x + w (x: input [2,3] f32, w: initializer [3]), plus an optional extra node.
  onnx::ModelProto AddModel(int opset = 17, const std::string& op = "Add") {
    onnx::ModelProto m;
    m.set_ir_version(8);
    auto* imp = m.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    auto* g = m.mutable_graph();
    g->set_name("add");
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(2);
    tt->mutable_shape()->add_dim()->set_dim_value(3);
    auto* w = g->add_initializer();
    w->set_name("w");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(3);
    for (float v : {10.f, 20.f, 30.f}) w->add_float_data(v);
    auto* node = g->add_node();
    node->set_op_type(op);
    node->set_name("the_node");
    node->add_input("x");
    node->add_input("w");
    node->add_output("y");
    auto* out = g->add_output();
    out->set_name("y");
    auto* ot = out->mutable_type()->mutable_tensor_type();
    ot->set_elem_type(onnx::TensorProto::FLOAT);
    ot->mutable_shape()->add_dim()->set_dim_value(2);
    ot->mutable_shape()->add_dim()->set_dim_value(3);
    return m;
  }

  std::string WriteModel(const onnx::ModelProto& m, const std::string& name = "model.onnx") {
    std::ofstream f(Path(name), std::ios::binary);
    m.SerializeToOstream(&f);
    return Path(name);
  }

  std::string WriteInputs(Shape shape, DataType dtype = DataType::kF32,
                          const std::string& name = "x") {
    Tensor t = std::move(Tensor::Create(dtype, shape)).value();
    if (dtype == DataType::kF32) {
      for (int64_t i = 0; i < t.NumElements(); ++i) t.mutable_data_as<float>()[i] = float(i);
    }
    EXPECT_TRUE(WriteSafetensors(Path("in.safetensors"), {{name, t.view()}}).ok());
    return Path("in.safetensors");
  }

  fs::path dir_;
};

TEST_F(CliTest, HelpOnEveryCommand) {
  for (const char* cmd : {"", "build ", "run ", "inspect ", "bench "}) {
    Result r = Refit(std::string(cmd) + "--help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  EXPECT_NE(Refit("--help").out.find("inspect"), std::string::npos);
}

TEST_F(CliTest, RunsAModelAndWritesItsOutputs) {
  const std::string model = WriteModel(AddModel());
  const std::string in = WriteInputs({2, 3});
  Result r = Refit("run " + model + " --inputs " + in + " -o " + Path("out.safetensors"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto f = SafetensorsFile::Open(Path("out.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  auto y = (*f)->Get("y");
  ASSERT_TRUE(y.ok());
  ASSERT_EQ(y->shape(), Shape({2, 3}));
  const float want[] = {10, 21, 32, 13, 24, 35};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y->data_as<float>()[i], want[i]) << i;
}

TEST_F(CliTest, InspectJsonListsOperatorsAndWeights) {
  const std::string model = WriteModel(AddModel());
  Result r = Refit("inspect " + model + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"Add\": 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"weight_bytes\": 12"), std::string::npos) << r.out;
  r = Refit("inspect " + model);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("input    x"), std::string::npos) << r.out;
}

TEST_F(CliTest, TruncatedModelIsAClearError) {
  const std::string model = WriteModel(AddModel());
  fs::resize_file(model, fs::file_size(model) / 2);
  const std::string in = WriteInputs({2, 3});
  Result r = Refit("run " + model + " --inputs " + in + " -o " + Path("out.safetensors"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("not a valid ONNX model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(model), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(Path("out.safetensors")));
}

TEST_F(CliTest, MissingModelFile) {
  Result r = Refit("inspect " + Path("nope.onnx"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("nope.onnx"), std::string::npos) << r.out;
}

TEST_F(CliTest, UnsupportedOperatorNamesOpNodeAndOpset) {
  onnx::ModelProto m = AddModel(17, "NonMaxSuppression");
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::INT64);
  const std::string model = WriteModel(m);
  const std::string in = WriteInputs({2, 3});
  Result r = Refit("run " + model + " --inputs " + in + " -o " + Path("out.safetensors"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("NonMaxSuppression"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the_node"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("opset 17"), std::string::npos) << r.out;
}

TEST_F(CliTest, OpsetOutsideSupportedRange) {
  const std::string model = WriteModel(AddModel(12));
  Result r = Refit("inspect " + model);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("opset 12"), std::string::npos) << r.out;
}

TEST_F(CliTest, MissingInput) {
  const std::string model = WriteModel(AddModel());
  const std::string in = WriteInputs({2, 3}, DataType::kF32, "not_x");
  Result r = Refit("run " + model + " --inputs " + in + " -o " + Path("out.safetensors"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("missing input 'x'"), std::string::npos) << r.out;
}

TEST_F(CliTest, MisShapedInput) {
  const std::string model = WriteModel(AddModel());
  const std::string in = WriteInputs({2, 4});
  Result r = Refit("run " + model + " --inputs " + in + " -o " + Path("out.safetensors"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("[2,4]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[2,3]"), std::string::npos) << r.out;
}

TEST_F(CliTest, WrongInputDtype) {
  const std::string model = WriteModel(AddModel());
  const std::string in = WriteInputs({2, 3}, DataType::kF64);
  Result r = Refit("run " + model + " --inputs " + in + " -o " + Path("out.safetensors"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("f64"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("f32"), std::string::npos) << r.out;
}

TEST_F(CliTest, LyingSafetensorsHeader) {
  const std::string model = WriteModel(AddModel());
  const std::string in = WriteInputs({2, 3});
  // Claim a header far longer than the file.
  {
    std::fstream f(in, std::ios::in | std::ios::out | std::ios::binary);
    const uint64_t huge = 1u << 30;
    f.write(reinterpret_cast<const char*>(&huge), 8);
  }
  Result r = Refit("run " + model + " --inputs " + in + " -o " + Path("out.safetensors"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(in), std::string::npos) << r.out;
}

TEST_F(CliTest, BenchReportsPercentiles) {
  const std::string model = WriteModel(AddModel());
  Result r = Refit("bench " + model + " --iterations 5 --warmup 1 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* key : {"\"median_ms\"", "\"p10_ms\"", "\"p90_ms\"", "\"iterations\": 5"}) {
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  }
  const std::string in = WriteInputs({2, 3});
  r = Refit("bench " + model + " --inputs " + in + " --iterations 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("median"), std::string::npos) << r.out;
}

TEST_F(CliTest, BenchNeedsInputsForSymbolicShapes) {
  onnx::ModelProto m = AddModel();
  m.mutable_graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_param("batch");
  const std::string model = WriteModel(m);
  Result r = Refit("bench " + model);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--inputs"), std::string::npos) << r.out;
}

TEST_F(CliTest, UsageErrorsAreNonZero) {
  EXPECT_NE(Refit("").code, 0);
  EXPECT_NE(Refit("run").code, 0);
  EXPECT_NE(Refit("frobnicate").code, 0);
  EXPECT_NE(Refit("run m.onnx --inputs i --threads 0 -o o").code, 0);
}

}  // namespace
}  // namespace refit
