#include "frontend/onnx/importer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "frontend/onnx/tensor_proto.h"
#include "onnx/onnx_pb.h"

namespace fs = std::filesystem;

namespace refit::onnx_frontend {
namespace {

class ImporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("refit_importer_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // y = Relu(MatMul(x, w)); x [1,4] f32, w [4,2] f32.
  onnx::ModelProto Model() {
    onnx::ModelProto m;
    m.set_ir_version(8);
    auto* imp = m.add_opset_import();
    imp->set_version(17);
    auto* g = m.mutable_graph();
    g->set_name("test");
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_param("batch");
    tt->mutable_shape()->add_dim()->set_dim_value(4);
    auto* w = g->add_initializer();
    w->set_name("layer.weight");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(4);
    w->add_dims(2);
    for (int i = 0; i < 8; ++i) w->add_float_data(float(i));
    auto* mm = g->add_node();
    mm->set_op_type("MatMul");
    mm->add_input("x");
    mm->add_input("layer.weight");
    mm->add_output("h");
    auto* relu = g->add_node();
    relu->set_op_type("Relu");
    relu->set_name("act");
    relu->add_input("h");
    relu->add_output("y");
    auto* out = g->add_output();
    out->set_name("y");
    auto* ot = out->mutable_type()->mutable_tensor_type();
    ot->set_elem_type(onnx::TensorProto::FLOAT);
    ot->mutable_shape()->add_dim()->set_dim_param("batch");
    ot->mutable_shape()->add_dim()->set_dim_value(2);
    return m;
  }

  std::string Write(const onnx::ModelProto& m) {
    const std::string p = (dir_ / "model.onnx").string();
    std::ofstream f(p, std::ios::binary);
    m.SerializeToOstream(&f);
    return p;
  }

  fs::path dir_;
};

TEST_F(ImporterTest, ImportsGraphWeightsAndShapes) {
  auto g = ImportOnnxFile(Write(Model()));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->opset, 17);
  ASSERT_EQ(g->inputs.size(), 1u);
  EXPECT_EQ(g->inputs[0].dims, (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(g->inputs[0].dim_params[0], "batch");
  ASSERT_EQ(g->nodes.size(), 2u);
  EXPECT_EQ(g->nodes[0].name, "MatMul_0");  // made up: the file has no name
  EXPECT_EQ(g->nodes[1].name, "act");
  const Tensor* w = g->FindWeight("layer.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shape(), Shape({4, 2}));
  EXPECT_EQ(w->data_as<float>()[7], 7.f);
  // Shape inference recorded the intermediate value.
  ASSERT_TRUE(g->value_infos.count("h"));
  EXPECT_EQ(g->value_infos.at("h").dims, (std::vector<int64_t>{-1, 2}));
}

TEST_F(ImporterTest, InitializerListedAsInputIsAWeight) {
  onnx::ModelProto m = Model();
  auto* extra = m.mutable_graph()->add_input();
  extra->set_name("layer.weight");
  auto* tt = extra->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_value(4);
  tt->mutable_shape()->add_dim()->set_dim_value(2);
  auto g = ImportOnnxFile(Write(m));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->inputs.size(), 1u);
}

TEST_F(ImporterTest, ExternalData) {
  onnx::ModelProto m = Model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  loc->set_value("weights.bin");
  auto* off = w->add_external_data();
  off->set_key("offset");
  off->set_value("16");
  {
    std::ofstream f(dir_ / "weights.bin", std::ios::binary);
    std::vector<float> bytes(4 + 8);
    for (int i = 0; i < 8; ++i) bytes[4 + i] = 100.f + i;
    f.write(reinterpret_cast<const char*>(bytes.data()), bytes.size() * 4);
  }
  auto g = ImportOnnxFile(Write(m));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->FindWeight("layer.weight")->data_as<float>()[0], 100.f);
  EXPECT_EQ(g->FindWeight("layer.weight")->data_as<float>()[7], 107.f);

  // Range beyond the file.
  off->set_value("40");
  auto bad = ImportOnnxFile(Write(m));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layer.weight"), std::string::npos);
  EXPECT_NE(bad.status().message().find("outside"), std::string::npos);

  // Escaping the model directory.
  off->set_value("0");
  loc->set_value("../weights.bin");
  bad = ImportOnnxFile(Write(m));
  ASSERT_FALSE(bad.ok());  // the checker or our resolver refuses it, naming the location
  EXPECT_NE(bad.status().message().find("weights.bin"), std::string::npos);
  EXPECT_FALSE(ResolveExternalPath("/m", "../w.bin").ok());
  EXPECT_FALSE(ResolveExternalPath("/m", "a/../../w.bin").ok());
  EXPECT_FALSE(ResolveExternalPath("/m", "/etc/passwd").ok());
  EXPECT_EQ(*ResolveExternalPath("/m", "sub/w..bin"), "/m/sub/w..bin");

  loc->set_value("missing.bin");
  bad = ImportOnnxFile(Write(m));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("missing.bin"), std::string::npos);
}

TEST_F(ImporterTest, RawDataOfTheWrongSizeIsRefused) {
  onnx::ModelProto m = Model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_raw_data(std::string(12, '\0'));
  auto g = ImportOnnxFile(Write(m));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("layer.weight"), std::string::npos);
  EXPECT_NE(g.status().message().find("32"), std::string::npos) << g.status().message();
}

TEST_F(ImporterTest, Float16FromInt32Data) {
  onnx::TensorProto t;
  t.set_name("h");
  t.set_data_type(onnx::TensorProto::FLOAT16);
  t.add_dims(2);
  t.add_int32_data(Half(1.5f).bits);
  t.add_int32_data(Half(-2.0f).bits);
  auto r = TensorFromProto(t, "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(float(r->data_as<Half>()[0]), 1.5f);
  EXPECT_EQ(float(r->data_as<Half>()[1]), -2.0f);
}

TEST_F(ImporterTest, UnsupportedDtypeNamesTheTensor) {
  onnx::TensorProto t;
  t.set_name("strings");
  t.set_data_type(onnx::TensorProto::STRING);
  auto r = TensorFromProto(t, "");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("strings"), std::string::npos);
}

TEST_F(ImporterTest, OpsetOutsideRange) {
  onnx::ModelProto m = Model();
  m.mutable_opset_import(0)->set_version(11);
  auto g = ImportOnnxFile(Write(m));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("opset 11"), std::string::npos);
}

TEST_F(ImporterTest, CheckerRejectsDanglingInput) {
  onnx::ModelProto m = Model();
  m.mutable_graph()->mutable_node(1)->set_input(0, "nowhere");
  auto g = ImportOnnxFile(Write(m));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("nowhere"), std::string::npos) << g.status().message();
}

TEST_F(ImporterTest, GarbageAndTruncation) {
  const std::string p = Write(Model());
  const auto size = fs::file_size(p);
  for (size_t keep : {size_t{0}, size_t{1}, size / 3, size - 1}) {
    fs::resize_file(p, keep);
    auto g = ImportOnnxFile(p);
    EXPECT_FALSE(g.ok()) << keep;
    Write(Model());
  }
  {
    std::ofstream f(p, std::ios::binary);
    f << "this is not an onnx model at all, just text\n";
  }
  auto g = ImportOnnxFile(p);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find(p), std::string::npos);
}

}  // namespace
}  // namespace refit::onnx_frontend
