// Test helpers for the engine layer (included by *_test.cc only): fast build options, the tiny_cnn
// example and a hand-built graph exercising every kind of weight slot, reference outputs, and
// comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/reference/executor.h"
#include "engine/builder.h"
#include "engine/engine.h"
#include "frontend/onnx/importer.h"
#include "passes/pass_test_util.h"
#include "refit/safetensors.h"

namespace refit::engine::testing {

using passes::testing::AddInput;
using passes::testing::AddOutput;
using passes::testing::AllClose;
using passes::testing::CloneGraph;
using passes::testing::MakeNode;
using passes::testing::RandomTensor;
using passes::testing::SetInt;
using passes::testing::SetInts;
using TensorMap = std::map<std::string, Tensor>;

inline std::string TinyCnnDir() {
  return std::string(REFIT_SOURCE_DIR) + "/examples/models/tiny_cnn";
}

// Tuning as cheap as it gets: every tactic still runs (so it is checked), once.
inline BuildOptions FastOptions(EngineMode mode = EngineMode::kRefittable) {
  BuildOptions o;
  o.mode = mode;
  o.min_timing_runs = 1;
  o.min_timing_ms = 0;
  o.plan_check_ms = 0;
  return o;
}

inline ir::Graph TinyCnn() {
  auto g = onnx_frontend::ImportOnnxFile(TinyCnnDir() + "/model.onnx");
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() ? std::move(g).value() : ir::Graph();
}

inline TensorMap LoadSafetensors(const std::string& path) {
  TensorMap out;
  auto f = SafetensorsFile::Open(path);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return out;
  for (const std::string& name : (*f)->names()) out.emplace(name, *(*f)->GetTensor(name));
  return out;
}

inline std::map<std::string, TensorView> Views(const TensorMap& m) {
  std::map<std::string, TensorView> v;
  for (const auto& [name, t] : m) v[name] = t.view();
  return v;
}

inline TensorMap Reference(const ir::Graph& g, const TensorMap& inputs) {
  auto out = passes::testing::RunGraph(g, inputs);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? std::move(out).value() : TensorMap();
}

inline TensorMap RunOk(const Engine& e, const TensorMap& inputs) {
  auto out = e.Run(Views(inputs));
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? std::move(out).value() : TensorMap();
}

// Same names, and each output within `rel` of the reference (relative to its largest magnitude).
inline void ExpectClose(const TensorMap& ref, const TensorMap& got, double rel = 1e-4) {
  ASSERT_EQ(ref.size(), got.size());
  for (const auto& [name, t] : ref) {
    ASSERT_TRUE(got.count(name)) << "output '" << name << "' missing";
    EXPECT_TRUE(AllClose(t, got.at(name), rel)) << "output '" << name << "'";
  }
}

inline void ExpectBitEqual(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.dtype(), u.dtype()) << name;
    ASSERT_EQ(t.shape(), u.shape()) << name;
    EXPECT_EQ(std::memcmp(t.data(), u.data(), t.nbytes()), 0) << "output '" << name << "' differs";
  }
}

inline bool StartsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
inline bool Contains(const std::string& s, const std::string& p) {
  return s.find(p) != std::string::npos;
}

inline SourceLookup LookupIn(const TensorMap& m) {
  return [&m](const std::string& name) -> const Tensor* {
    auto it = m.find(name);
    return it == m.end() ? nullptr : &it->second;
  };
}
inline SourceLookup LookupIn(const ir::Graph& g) {
  return [&g](const std::string& name) { return g.FindWeight(name); };
}

inline ir::Attribute TensorAttr(Tensor t) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kTensor;
  a.t = std::make_shared<const Tensor>(std::move(t));
  return a;
}

// Appends Constant node `node` whose output `out` holds `value`.
inline void AddConstantNode(ir::Graph& g, const std::string& node, const std::string& out,
                            Tensor value) {
  ir::Node c = MakeNode("Constant", {}, {out}, node);
  c.attrs.Set("value", TensorAttr(std::move(value)));
  g.nodes.push_back(std::move(c));
}

// x[1,3,6,6] -> Conv(+bias) -> BatchNormalization -> Relu -> Reshape(Constant shape) [1,144]
//   -> MatMul(Transpose(fc.w)) -> Add(fc.b) -> Mul(sqr) -> Add(sqr) -> Add(Constant c) -> out[1,8]
// where sqr = Reshape(Mul(scale, scale), Constant) computes on weights only. Every kind of slot:
// source weights, recipes (batchnorm folding, weight transpose), a weight computation and
// constants.
inline ir::Graph HandGraph(uint32_t seed = 1) {
  ir::Graph g;
  g.name = "hand";
  g.opset = 17;
  AddInput(g, "x", {1, 3, 6, 6});
  g.weights.emplace("conv.w", RandomTensor(Shape{4, 3, 3, 3}, seed + 1));
  g.weights.emplace("conv.b", RandomTensor(Shape{4}, seed + 2));
  g.weights.emplace("bn.gamma", RandomTensor(Shape{4}, seed + 3, 0.5f, 2.f));
  g.weights.emplace("bn.beta", RandomTensor(Shape{4}, seed + 4));
  g.weights.emplace("bn.mean", RandomTensor(Shape{4}, seed + 5));
  g.weights.emplace("bn.var", RandomTensor(Shape{4}, seed + 6, 0.1f, 3.f));
  g.weights.emplace("fc.w", RandomTensor(Shape{8, 144}, seed + 7));  // PyTorch Linear layout
  g.weights.emplace("fc.b", RandomTensor(Shape{8}, seed + 8));
  g.weights.emplace("scale", RandomTensor(Shape{8}, seed + 9));
  ir::Node conv = MakeNode("Conv", {"x", "conv.w", "conv.b"}, {"h"}, "conv");
  SetInts(conv, "pads", {1, 1, 1, 1});
  g.nodes.push_back(std::move(conv));
  g.nodes.push_back(MakeNode("BatchNormalization",
                             {"h", "bn.gamma", "bn.beta", "bn.mean", "bn.var"}, {"b"}, "bn"));
  g.nodes.push_back(MakeNode("Relu", {"b"}, {"r"}, "relu"));
  AddConstantNode(g, "shape_const", "shape", Tensor::FromVector<int64_t>(Shape{2}, {1, 144}));
  g.nodes.push_back(MakeNode("Reshape", {"r", "shape"}, {"f"}, "flatten"));
  ir::Node tr = MakeNode("Transpose", {"fc.w"}, {"fc.wt"}, "fc_transpose");
  SetInts(tr, "perm", {1, 0});
  g.nodes.push_back(std::move(tr));
  g.nodes.push_back(MakeNode("MatMul", {"f", "fc.wt"}, {"m"}, "fc_matmul"));
  g.nodes.push_back(MakeNode("Add", {"m", "fc.b"}, {"z"}, "fc_add"));
  // The Reshape keeps the elementwise fusion from absorbing the square into the Mul below.
  g.nodes.push_back(MakeNode("Mul", {"scale", "scale"}, {"sq"}, "square_scale"));
  AddConstantNode(g, "row_const", "row", Tensor::FromVector<int64_t>(Shape{2}, {1, 8}));
  g.nodes.push_back(MakeNode("Reshape", {"sq", "row"}, {"sqr"}, "reshape_square"));
  g.nodes.push_back(MakeNode("Mul", {"z", "sqr"}, {"zs"}, "apply_scale"));
  g.nodes.push_back(MakeNode("Add", {"zs", "sqr"}, {"zq"}, "add_scale"));
  AddConstantNode(g, "offset_const", "c", RandomTensor(Shape{8}, seed + 10));
  g.nodes.push_back(MakeNode("Add", {"zq", "c"}, {"out"}, "add_offset"));
  AddOutput(g, "out");
  return g;
}

// The graph with fresh random values for every float weight.
inline ir::Graph WithNewWeights(const ir::Graph& g, uint32_t seed) {
  ir::Graph out = CloneGraph(g);
  for (auto& [name, t] : out.weights) {
    if (t.dtype() != DataType::kF32) continue;
    t = RandomTensor(t.shape(), seed++, 0.2f, 1.5f);
  }
  return out;
}

inline TensorMap HandInputs(uint32_t seed = 99) {
  TensorMap m;
  m.emplace("x", RandomTensor(Shape{1, 3, 6, 6}, seed));
  return m;
}

inline std::unique_ptr<Engine> MustOpen(StatusOr<std::unique_ptr<Engine>> e) {
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

// Build, serialize and load from bytes.
inline std::unique_ptr<Engine> BuildAndLoad(const ir::Graph& g, const BuildOptions& options,
                                            std::string* bytes_out = nullptr) {
  auto built = BuildEngine(CloneGraph(g), options);
  EXPECT_TRUE(built.ok()) << built.status().ToString();
  if (!built.ok()) return nullptr;
  auto bytes = SerializeEngine(*built);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  if (!bytes.ok()) return nullptr;
  if (bytes_out != nullptr) *bytes_out = *bytes;
  return MustOpen(Engine::FromBytes(*bytes, "test engine"));
}

}  // namespace refit::engine::testing
