// Test helpers for the passes (included by *_test.cc only): graph building, a NodeEvaluator over
// the reference kernels, and the before/after numerical check every pass test uses.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backend/reference/executor.h"
#include "backend/reference/kernel.h"
#include "ir/graph.h"
#include "passes/passes.h"

namespace refit::passes::testing {

inline ir::Node MakeNode(std::string op, std::vector<std::string> in, std::vector<std::string> out,
                         std::string name = "") {
  ir::Node n;
  n.op_type = std::move(op);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.name = name.empty() ? n.op_type + "_" + n.outputs[0] : std::move(name);
  return n;
}

inline void SetInt(ir::Node& n, const std::string& key, int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  n.attrs.Set(key, a);
}

inline void SetInts(ir::Node& n, const std::string& key, std::vector<int64_t> v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInts;
  a.ints = std::move(v);
  n.attrs.Set(key, a);
}

inline void AddInput(ir::Graph& g, const std::string& name, std::vector<int64_t> dims,
                     DataType dtype = DataType::kF32) {
  ir::ValueInfo v;
  v.name = name;
  v.dtype = dtype;
  v.dims = std::move(dims);
  v.dim_params.assign(v.dims.size(), "");
  v.has_shape = true;
  g.inputs.push_back(v);
}

inline void AddOutput(ir::Graph& g, const std::string& name) {
  ir::ValueInfo v;
  v.name = name;
  g.outputs.push_back(v);
}

// Values uniform in [lo, hi), reproducible from `seed`.
inline Tensor RandomTensor(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(size_t(shape.NumElements()));
  for (float& x : v) x = dist(rng);
  return Tensor::FromVector<float>(std::move(shape), v);
}

inline ir::Graph CloneGraph(const ir::Graph& g) {
  ir::Graph c;
  c.name = g.name;
  c.opset = g.opset;
  c.inputs = g.inputs;
  c.outputs = g.outputs;
  c.nodes = g.nodes;
  for (const auto& [n, t] : g.weights) c.weights.emplace(n, t.Clone());
  c.value_infos = g.value_infos;
  c.derived_weights = g.derived_weights;
  return c;
}

// Runs each node with its reference kernel: what fold_constants uses in tests.
inline NodeEvaluator ReferenceEvaluator() {
  return [](const ir::Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
            std::vector<Tensor>* outputs) -> Status {
    auto fn = reference::KernelRegistry::Default().Find(node.op_type, node.domain, opset);
    if (fn == nullptr) return Unimplemented("no reference kernel for " + node.op_type);
    reference::KernelContext ctx{node, opset, inputs, {}, nullptr};
    ctx.outputs.resize(node.outputs.size());
    REFIT_RETURN_IF_ERROR(fn(ctx));
    *outputs = std::move(ctx.outputs);
    return Status::Ok();
  };
}

inline StatusOr<std::map<std::string, Tensor>> RunGraph(
    const ir::Graph& g, const std::map<std::string, Tensor>& inputs) {
  REFIT_ASSIGN_OR_RETURN(auto ex, reference::ReferenceExecutor::Create(g));
  std::map<std::string, TensorView> views;
  for (const auto& [n, t] : inputs) views[n] = t.view();
  return ex->Run(views);
}

// max |got - ref| <= rel * max |ref| (f32 outputs), with the numbers in the failure message.
inline ::testing::AssertionResult AllClose(const Tensor& ref, const Tensor& got, double rel) {
  if (ref.shape() != got.shape() || ref.dtype() != DataType::kF32 ||
      got.dtype() != DataType::kF32) {
    return ::testing::AssertionFailure()
           << "shape/dtype " << ref.shape().ToString() << " vs " << got.shape().ToString();
  }
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < ref.NumElements(); ++i) {
    const double r = ref.data_as<float>()[i], v = got.data_as<float>()[i];
    max_ref = std::max(max_ref, std::fabs(r));
    max_diff = std::max(max_diff, std::isfinite(v) ? std::fabs(v - r) : INFINITY);
  }
  if (max_diff <= rel * max_ref && max_ref > 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max abs diff " << max_diff << ", max |ref| " << max_ref;
}

// Runs `before` and `after` on the same inputs; every output must agree within 1e-5 relative.
inline void ExpectSameOutputs(const ir::Graph& before, const ir::Graph& after,
                              const std::map<std::string, Tensor>& inputs) {
  auto a = RunGraph(before, inputs);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = RunGraph(after, inputs);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(a->size(), b->size());
  for (const auto& [name, t] : *a) {
    ASSERT_TRUE(b->count(name)) << name;
    EXPECT_TRUE(AllClose(t, b->at(name), 1e-5)) << "output " << name;
  }
}

// The common single-input case.
inline void ExpectSameOutputs(const ir::Graph& before, const ir::Graph& after,
                              const std::string& input, Tensor value) {
  std::map<std::string, Tensor> inputs;
  inputs.emplace(input, std::move(value));
  ExpectSameOutputs(before, after, inputs);
}

}  // namespace refit::passes::testing
