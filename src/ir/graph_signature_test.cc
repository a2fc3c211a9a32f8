#include "ir/graph_signature.h"

#include <gtest/gtest.h>

#include <memory>

namespace refit::ir {
namespace {

Node MakeNode(std::string name, std::string op, std::vector<std::string> inputs,
              std::vector<std::string> outputs) {
  Node n;
  n.name = std::move(name);
  n.op_type = std::move(op);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  return n;
}

Attribute Ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

// x -> Conv(w1, b1) -> Relu -> Conv(w2, no bias) -> Add(b3) -> y; plus an unread weight.
// `p` prefixes every name (value, node, weight) and `value` fills the weights, so two calls with
// different arguments are the "same architecture, other exporter" case.
Graph MakeCnn(const std::string& p, float value) {
  Graph g;
  g.opset = 17;
  ValueInfo x;
  x.name = p + "x";
  x.dtype = DataType::kF32;
  x.dims = {-1, 3, 8, 8};
  x.dim_params = {p + "batch", "", "", ""};
  x.has_shape = true;
  g.inputs.push_back(x);
  g.weights.emplace(p + "w1",
                    Tensor::FromVector<float>({4, 3, 3, 3}, std::vector<float>(108, value)));
  g.weights.emplace(p + "b1", Tensor::FromVector<float>({4}, {value, value, value, value}));
  g.weights.emplace(p + "w2",
                    Tensor::FromVector<float>({2, 4, 1, 1}, std::vector<float>(8, value)));
  g.weights.emplace(p + "b3", Tensor::FromVector<float>({2, 1, 1}, {value, -value}));
  g.weights.emplace(p + "unused", Tensor::FromVector<float>({1}, {value}));

  Node conv1 = MakeNode(p + "conv1", "Conv", {p + "x", p + "w1", p + "b1"}, {p + "c1"});
  conv1.attrs.Set("pads", Ints({1, 1, 1, 1}));
  conv1.attrs.Set("strides", Ints({1, 1}));
  g.nodes.push_back(conv1);
  g.nodes.push_back(MakeNode(p + "relu", "Relu", {p + "c1"}, {p + "r1"}));
  Node conv2 = MakeNode(p + "conv2", "Conv", {p + "r1", p + "w2", ""}, {p + "c2"});
  conv2.attrs.Set("strides", Ints({1, 1}));
  g.nodes.push_back(conv2);
  g.nodes.push_back(MakeNode(p + "add", "Add", {p + "c2", p + "b3"}, {p + "y"}));
  ValueInfo y;
  y.name = p + "y";
  g.outputs.push_back(y);
  return g;
}

const std::string kLabel = "'other.onnx'";

// The error for `changed` against the unchanged graph, which must be InvalidArgument.
std::string MismatchMessage(const Graph& changed) {
  GraphSignature expected = ComputeGraphSignature(MakeCnn("a.", 1.0f));
  GraphSignature found = ComputeGraphSignature(changed);
  EXPECT_NE(expected.hash, found.hash);
  auto m = MatchWeightsByPosition(expected, found, kLabel);
  EXPECT_FALSE(m.ok());
  if (m.ok()) return "";
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find(kLabel), std::string::npos) << m.status().ToString();
  return m.status().message();
}

TEST(GraphSignatureTest, RecordsCountsAndFirstUseOrder) {
  Graph g = MakeCnn("a.", 1.0f);
  ASSERT_TRUE(g.Validate().ok()) << g.Validate().ToString();
  GraphSignature sig = ComputeGraphSignature(g);
  EXPECT_EQ(sig.nodes, 4);
  EXPECT_EQ(sig.op_counts, (std::map<std::string, int>{{"Add", 1}, {"Conv", 2}, {"Relu", 1}}));
  // First-use order, not the weights map's (alphabetical) order; the unread weight is absent.
  EXPECT_EQ(sig.weights, (std::vector<std::string>{"a.w1", "a.b1", "a.w2", "a.b3"}));
  EXPECT_NE(sig.hash, 0u);
}

TEST(GraphSignatureTest, NamesAndWeightValuesDoNotChangeTheHash) {
  GraphSignature a = ComputeGraphSignature(MakeCnn("a.", 1.0f));
  // Other prefix: other value, node and weight names (and another alphabetical order of weights).
  GraphSignature b = ComputeGraphSignature(MakeCnn("zz_", -7.5f));
  EXPECT_EQ(a.hash, b.hash);
  auto m = MatchWeightsByPosition(a, b, kLabel);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, (std::map<std::string, std::string>{
                    {"a.w1", "zz_w1"}, {"a.b1", "zz_b1"}, {"a.w2", "zz_w2"}, {"a.b3", "zz_b3"}}));
}

TEST(GraphSignatureTest, SymbolicDimNamesAndSizesAreIgnoredButRankIsNot) {
  GraphSignature base = ComputeGraphSignature(MakeCnn("a.", 1.0f));
  Graph dims = MakeCnn("a.", 1.0f);
  dims.inputs[0].dims = {1, 3, 16, 16};
  dims.inputs[0].dim_params = {"", "", "", ""};
  EXPECT_EQ(ComputeGraphSignature(dims).hash, base.hash);

  Graph rank = MakeCnn("a.", 1.0f);
  rank.inputs[0].dims = {3, 8, 8};
  rank.inputs[0].dim_params = {"", "", ""};
  EXPECT_NE(ComputeGraphSignature(rank).hash, base.hash);
  Graph dtype = MakeCnn("a.", 1.0f);
  dtype.inputs[0].dtype = DataType::kF16;
  EXPECT_NE(ComputeGraphSignature(dtype).hash, base.hash);
}

TEST(GraphSignatureTest, ChangedAttributeIsDetected) {
  Graph g = MakeCnn("a.", 1.0f);
  g.nodes[2].attrs.Set("strides", Ints({2, 2}));
  std::string msg = MismatchMessage(g);
  EXPECT_NE(msg.find("same operators, other connections or attributes"), std::string::npos) << msg;

  Graph added = MakeCnn("a.", 1.0f);
  added.nodes[2].attrs.Set("dilations", Ints({1, 1}));
  EXPECT_NE(MismatchMessage(added).find("same operators"), std::string::npos);
}

TEST(GraphSignatureTest, AttributeTensorBytesAreHashed) {
  auto with_value = [](float v) {
    Graph g = MakeCnn("a.", 1.0f);
    Attribute t;
    t.kind = Attribute::Kind::kTensor;
    t.t = std::make_shared<const Tensor>(Tensor::FromVector<float>({2}, {v, 0.0f}));
    g.nodes[1].attrs.Set("value", std::move(t));
    return ComputeGraphSignature(g).hash;
  };
  EXPECT_EQ(with_value(3.0f), with_value(3.0f));
  EXPECT_NE(with_value(3.0f), with_value(4.0f));
}

TEST(GraphSignatureTest, ChangedEdgeIsDetected) {
  Graph g = MakeCnn("a.", 1.0f);
  g.nodes[3].inputs = {"a.r1", "a.b3"};  // Add reads the Relu output instead of conv2's
  std::string msg = MismatchMessage(g);
  EXPECT_NE(msg.find("same operators, other connections or attributes"), std::string::npos) << msg;

  Graph swapped = MakeCnn("a.", 1.0f);
  swapped.nodes[3].inputs = {"a.b3", "a.c2"};
  EXPECT_NE(MismatchMessage(swapped).find("same operators"), std::string::npos);

  Graph no_bias = MakeCnn("a.", 1.0f);
  no_bias.nodes[0].inputs = {"a.x", "a.w1", ""};
  EXPECT_NE(MismatchMessage(no_bias).find("weights read: expected 4, found 3"), std::string::npos);
}

TEST(GraphSignatureTest, ChangedWeightShapeIsDetected) {
  Graph g = MakeCnn("a.", 1.0f);
  g.weights["a.w2"] = Tensor::FromVector<float>({2, 4, 3, 3}, std::vector<float>(72, 1.0f));
  std::string msg = MismatchMessage(g);
  EXPECT_NE(msg.find("same operators, other connections or attributes"), std::string::npos) << msg;

  Graph dtype = MakeCnn("a.", 1.0f);
  dtype.weights["a.b1"] = Tensor::FromVector<double>({4}, {1, 1, 1, 1});
  EXPECT_NE(MismatchMessage(dtype).find("same operators"), std::string::npos);
}

TEST(GraphSignatureTest, ExtraNodeIsDetected) {
  Graph g = MakeCnn("a.", 1.0f);
  g.nodes.back().outputs = {"a.pre_y"};
  g.nodes.push_back(MakeNode("a.relu2", "Relu", {"a.pre_y"}, {"a.y"}));
  std::string msg = MismatchMessage(g);
  EXPECT_NE(msg.find("node count: expected 4, found 5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Relu: expected 1, found 2"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("Conv:"), std::string::npos) << msg;  // unchanged counts are not listed
  EXPECT_EQ(msg.find("same operators"), std::string::npos) << msg;
}

TEST(GraphSignatureTest, OpCountMessageListsEachDifference) {
  Graph g = MakeCnn("a.", 1.0f);
  // conv2 replaced by a MatMul; a contrib op appended.
  g.nodes[2].op_type = "MatMul";
  g.nodes[2].inputs = {"a.r1", "a.w2"};
  g.nodes[2].attrs = AttributeMap();
  g.nodes.back().outputs = {"a.pre_y"};
  Node gelu = MakeNode("a.gelu", "Gelu", {"a.pre_y"}, {"a.y"});
  gelu.domain = "com.microsoft";
  g.nodes.push_back(gelu);
  std::string msg = MismatchMessage(g);
  EXPECT_NE(msg.find("\n  Conv: expected 2, found 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\n  MatMul: expected 0, found 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\n  com.microsoft::Gelu: expected 0, found 1"), std::string::npos) << msg;
  EXPECT_EQ(ComputeGraphSignature(g).op_counts.at("com.microsoft::Gelu"), 1);
}

TEST(GraphSignatureTest, SharedWeightHasOnePosition) {
  Graph g = MakeCnn("a.", 1.0f);
  g.nodes.back().outputs = {"a.pre_y"};
  g.nodes.push_back(MakeNode("a.add2", "Add", {"a.pre_y", "a.b3"}, {"a.y"}));
  GraphSignature sig = ComputeGraphSignature(g);
  EXPECT_EQ(sig.weights, (std::vector<std::string>{"a.w1", "a.b1", "a.w2", "a.b3"}));

  // Reading another weight of the same shape and dtype there is a different connection.
  Graph other = MakeCnn("a.", 1.0f);
  other.weights.emplace("a.b4", Tensor::FromVector<float>({2, 1, 1}, {0, 0}));
  other.nodes.back().outputs = {"a.pre_y"};
  other.nodes.push_back(MakeNode("a.add2", "Add", {"a.pre_y", "a.b4"}, {"a.y"}));
  EXPECT_NE(ComputeGraphSignature(other).hash, sig.hash);
}

}  // namespace
}  // namespace refit::ir
