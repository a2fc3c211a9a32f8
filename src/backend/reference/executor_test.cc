#include "backend/reference/executor.h"

#include <gtest/gtest.h>

namespace refit::reference {
namespace {

ir::Node MakeNode(std::string op, std::vector<std::string> in, std::vector<std::string> out,
                  std::string name = "") {
  ir::Node n;
  n.op_type = std::move(op);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.name = name.empty() ? n.op_type : std::move(name);
  return n;
}

// y = Relu(x + w); z = y * y. x: [2] f32.
ir::Graph SmallGraph() {
  ir::Graph g;
  g.opset = 17;
  ir::ValueInfo x;
  x.name = "x";
  x.dtype = DataType::kF32;
  x.dims = {2};
  x.dim_params = {""};
  x.has_shape = true;
  g.inputs.push_back(x);
  g.weights.emplace("w", Tensor::FromVector<float>({2}, {1.f, -10.f}));
  g.nodes.push_back(MakeNode("Add", {"x", "w"}, {"s"}));
  g.nodes.push_back(MakeNode("Relu", {"s"}, {"y"}));
  g.nodes.push_back(MakeNode("Mul", {"y", "y"}, {"z"}));
  for (const char* out : {"y", "z"}) {
    ir::ValueInfo v;
    v.name = out;
    g.outputs.push_back(v);
  }
  return g;
}

TEST(ReferenceExecutorTest, RunsAndReturnsEveryOutput) {
  ir::Graph g = SmallGraph();
  auto ex = ReferenceExecutor::Create(g);
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  Tensor x = Tensor::FromVector<float>({2}, {2.f, 3.f});
  auto out = (*ex)->Run({{"x", x.view()}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 2u);
  // y is both an output and read later: it must survive liveness-based freeing.
  EXPECT_EQ(out->at("y").data_as<float>()[0], 3.f);
  EXPECT_EQ(out->at("y").data_as<float>()[1], 0.f);
  EXPECT_EQ(out->at("z").data_as<float>()[0], 9.f);
}

TEST(ReferenceExecutorTest, ThreadedRunMatchesSingleThreaded) {
  ir::Graph g = SmallGraph();
  ExecutorOptions opts;
  opts.threads = 3;
  auto ex = ReferenceExecutor::Create(g, opts);
  ASSERT_TRUE(ex.ok());
  Tensor x = Tensor::FromVector<float>({2}, {-5.f, 20.f});
  auto out = (*ex)->Run({{"x", x.view()}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->at("z").data_as<float>()[1], 100.f);
}

TEST(ReferenceExecutorTest, InputErrorsNameTheInput) {
  ir::Graph g = SmallGraph();
  auto ex = ReferenceExecutor::Create(g);
  ASSERT_TRUE(ex.ok());
  Tensor good = Tensor::FromVector<float>({2}, {1.f, 2.f});
  Tensor wrong_shape = Tensor::FromVector<float>({3}, {1.f, 2.f, 3.f});
  Tensor wrong_dtype = Tensor::FromVector<double>({2}, {1.0, 2.0});

  auto r = (*ex)->Run({});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing input 'x'"), std::string::npos);

  r = (*ex)->Run({{"x", wrong_shape.view()}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("[3]"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[2]"), std::string::npos);

  r = (*ex)->Run({{"x", wrong_dtype.view()}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("f64"), std::string::npos);

  r = (*ex)->Run({{"x", good.view()}, {"extra", good.view()}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'extra'"), std::string::npos);
}

TEST(ReferenceExecutorTest, UnsupportedOperatorIsRefusedAtCreate) {
  ir::Graph g = SmallGraph();
  g.nodes.push_back(MakeNode("NonMaxSuppression", {"z", "z"}, {"q"}, "nms"));
  auto ex = ReferenceExecutor::Create(g);
  ASSERT_FALSE(ex.ok());
  EXPECT_EQ(ex.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(ex.status().message().find("NonMaxSuppression"), std::string::npos);
  EXPECT_NE(ex.status().message().find("'nms'"), std::string::npos);
  EXPECT_NE(ex.status().message().find("opset 17"), std::string::npos);

  ir::Graph custom = SmallGraph();
  custom.nodes[1].domain = "com.example";
  ex = ReferenceExecutor::Create(custom);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("com.example.Relu"), std::string::npos);
}

TEST(ReferenceExecutorTest, MalformedGraphIsRefused) {
  ir::Graph g = SmallGraph();
  g.nodes[2].inputs[0] = "undefined_value";
  auto ex = ReferenceExecutor::Create(g);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("undefined_value"), std::string::npos);
}

TEST(ReferenceExecutorTest, KernelErrorsNameTheNode) {
  ir::Graph g = SmallGraph();
  g.weights.at("w") = Tensor::FromVector<float>({3}, {1.f, 2.f, 3.f});  // cannot broadcast with [2]
  g.nodes[0].name = "bad_add";
  auto ex = ReferenceExecutor::Create(g);
  ASSERT_TRUE(ex.ok());
  Tensor x = Tensor::FromVector<float>({2}, {1.f, 2.f});
  auto r = (*ex)->Run({{"x", x.view()}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad_add"), std::string::npos) << r.status().message();
}

// Derived weights are evaluated once at Create from the source weights of that moment; nodes
// and graph outputs read them by name.
TEST(ReferenceExecutorTest, DerivedWeightsAreMaterialised) {
  ir::Graph g = SmallGraph();
  ir::WeightRecipe row;
  row.AddTranspose(row.AddReshape(row.AddSource("w"), {2, 1}), {1, 0});
  g.derived_weights.emplace("w2", row);
  g.nodes.push_back(MakeNode("Add", {"z", "w2"}, {"zw"}));
  for (const char* name : {"zw", "w2"}) {
    ir::ValueInfo v;
    v.name = name;
    g.outputs.push_back(v);
  }
  auto ex = ReferenceExecutor::Create(g);
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  Tensor x = Tensor::FromVector<float>({2}, {2.f, 3.f});
  auto out = (*ex)->Run({{"x", x.view()}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->at("w2").shape(), Shape({1, 2}));
  EXPECT_EQ(out->at("zw").data_as<float>()[0], 10.f);   // 9 + 1
  EXPECT_EQ(out->at("zw").data_as<float>()[1], -10.f);  // 0 - 10

  g.derived_weights["w2"].AddReshape(1, {3});  // 2 elements cannot become 3
  auto bad = ReferenceExecutor::Create(g);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("derived weight 'w2'"), std::string::npos)
      << bad.status().ToString();
}

}  // namespace
}  // namespace refit::reference
