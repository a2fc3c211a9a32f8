// Test helper for the shape and indexing kernel tests: runs one node through ReferenceExecutor
// with every input given as a weight, so tests state only the operator, inputs and attributes.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/reference/executor.h"
#include "ir/graph.h"

namespace refit::reference::testing {

inline ir::Attribute IntAttr(int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  return a;
}

inline ir::Attribute IntsAttr(std::vector<int64_t> v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

inline ir::Attribute FloatAttr(float v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloat;
  a.f = v;
  return a;
}

inline ir::Attribute StringAttr(std::string v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

inline ir::Attribute TensorAttr(Tensor t) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kTensor;
  a.t = std::make_shared<const Tensor>(std::move(t));
  return a;
}

struct NodeSpec {
  using Attrs = std::vector<std::pair<std::string, ir::Attribute>>;
  NodeSpec(std::string op_type, int64_t model_opset, Attrs attributes = {}, int outputs = 1)
      : op(std::move(op_type)),
        opset(model_opset),
        attrs(std::move(attributes)),
        num_outputs(outputs) {}

  std::string op;
  int64_t opset;
  Attrs attrs;
  int num_outputs;
};

// Runs `spec` on `inputs` (a default-constructed Tensor is an absent optional input). Returns the
// outputs in order, or the executor's error.
inline StatusOr<std::vector<Tensor>> RunNode(const NodeSpec& spec, std::vector<Tensor> inputs) {
  ir::Graph g;
  g.opset = spec.opset;
  ir::Node node;
  node.name = "n";
  node.op_type = spec.op;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      node.inputs.push_back("");
      continue;
    }
    const std::string name = "in" + std::to_string(i);
    node.inputs.push_back(name);
    g.weights[name] = std::move(inputs[i]);
  }
  for (int o = 0; o < spec.num_outputs; ++o) {
    node.outputs.push_back("out" + std::to_string(o));
    ir::ValueInfo v;
    v.name = node.outputs.back();
    g.outputs.push_back(v);
  }
  for (const auto& [name, a] : spec.attrs) node.attrs.Set(name, a);
  g.nodes.push_back(std::move(node));
  REFIT_ASSIGN_OR_RETURN(auto ex, ReferenceExecutor::Create(g));
  REFIT_ASSIGN_OR_RETURN(auto result, ex->Run({}));
  std::vector<Tensor> outs;
  for (int o = 0; o < spec.num_outputs; ++o)
    outs.push_back(std::move(result["out" + std::to_string(o)]));
  return outs;
}

// Runs a single-output node and fails the test on error.
inline Tensor Run1(const NodeSpec& spec, std::vector<Tensor> inputs) {
  auto r = RunNode(spec, std::move(inputs));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return Tensor();
  return std::move((*r)[0]);
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  if (!t.defined()) return {};
  EXPECT_EQ(t.dtype(), DataTypeOf<T>::value);
  return std::vector<T>(t.data_as<T>(), t.data_as<T>() + t.NumElements());
}

inline Tensor I64(Shape shape, const std::vector<int64_t>& v) {
  return Tensor::FromVector<int64_t>(std::move(shape), v);
}
inline Tensor I64s(const std::vector<int64_t>& v) { return I64(Shape{int64_t(v.size())}, v); }
inline Tensor F32(Shape shape, const std::vector<float>& v) {
  return Tensor::FromVector<float>(std::move(shape), v);
}

// 0, 1, 2, ... as float of `shape`.
inline Tensor Iota(Shape shape) {
  Tensor t = Tensor::Create(DataType::kF32, std::move(shape)).value();
  for (int64_t i = 0; i < t.NumElements(); ++i) t.mutable_data_as<float>()[i] = float(i);
  return t;
}

// Moves any number of tensors into a vector (Tensor is move-only, so an initializer list cannot).
template <typename... Ts>
std::vector<Tensor> Ins(Ts&&... ts) {
  std::vector<Tensor> v;
  (v.push_back(std::forward<Ts>(ts)), ...);
  return v;
}

inline void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

}  // namespace refit::reference::testing
