// Test helpers for the conv, pool and matmul kernel tests: run one node through ReferenceExecutor
// (single- or multi-threaded), build attributes and random tensors, compare with tolerances.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/reference/executor.h"
#include "ir/graph.h"

namespace refit::reference::conv_testing {

inline ir::Attribute Ints(std::vector<int64_t> v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
inline ir::Attribute Int(int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  return a;
}
inline ir::Attribute Float(float v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
inline ir::Attribute Str(std::string v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

using Attrs = std::map<std::string, ir::Attribute>;

// One node input for RunOp. Tensors are move-only and an initializer list can only be copied, so
// an Input shares its tensor: a temporary moves in, a named tensor is cloned.
struct Input {
  Input(Tensor&& t) : tensor(std::make_shared<Tensor>(std::move(t))) {}    // NOLINT
  Input(const Tensor& t) : tensor(std::make_shared<Tensor>(t.Clone())) {}  // NOLINT
  std::shared_ptr<Tensor> tensor;
};

// Runs `op` on `inputs` (an undefined Tensor is an absent optional input) with `threads` executor
// threads; returns the node's `num_outputs` outputs or the executor's error.
inline StatusOr<std::vector<Tensor>> RunOp(const std::string& op, const std::vector<Input>& inputs,
                                           const Attrs& attrs = {}, int num_outputs = 1,
                                           int threads = 1, int64_t opset = 13) {
  ir::Graph g;
  g.opset = opset;
  ir::Node node;
  node.name = "n";
  node.op_type = op;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].tensor->defined()) {
      node.inputs.push_back("");
      continue;
    }
    node.inputs.push_back("in" + std::to_string(i));
    g.weights[node.inputs.back()] = std::move(*inputs[i].tensor);
  }
  for (int o = 0; o < num_outputs; ++o) {
    node.outputs.push_back("out" + std::to_string(o));
    ir::ValueInfo v;
    v.name = node.outputs.back();
    g.outputs.push_back(v);
  }
  for (const auto& [name, a] : attrs) node.attrs.Set(name, a);
  g.nodes.push_back(std::move(node));
  ExecutorOptions options;
  options.threads = threads;
  REFIT_ASSIGN_OR_RETURN(auto ex, ReferenceExecutor::Create(g, options));
  REFIT_ASSIGN_OR_RETURN(auto result, ex->Run({}));
  std::vector<Tensor> outs;
  for (int o = 0; o < num_outputs; ++o) {
    outs.push_back(std::move(result["out" + std::to_string(o)]));
  }
  return outs;
}

// Single output; fails the test (and returns an undefined tensor) on error.
inline Tensor Run1(const std::string& op, const std::vector<Input>& inputs, const Attrs& attrs = {},
                   int threads = 1) {
  auto r = RunOp(op, inputs, attrs, 1, threads);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move((*r)[0]) : Tensor();
}

inline Tensor F32(Shape shape, const std::vector<float>& v) {
  return Tensor::FromVector<float>(std::move(shape), v);
}

// Uniform values in [-1, 1) from a fixed seed, as dtype T.
template <typename T = float>
Tensor Random(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::Create(DataTypeOf<T>::value, std::move(shape)).value();
  for (int64_t i = 0; i < t.NumElements(); ++i) t.mutable_data_as<T>()[i] = T(dist(rng));
  return t;
}

template <typename T>
std::vector<double> DoublesOf(const Tensor& t) {
  std::vector<double> v(size_t(t.NumElements()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(t.data_as<T>()[i]);
  return v;
}

// Every element as double (the float dtypes, i32, i64, u8).
inline std::vector<double> AsDoubles(const Tensor& t) {
  switch (t.dtype()) {
    case DataType::kF32:
      return DoublesOf<float>(t);
    case DataType::kF64:
      return DoublesOf<double>(t);
    case DataType::kF16:
      return DoublesOf<Half>(t);
    case DataType::kBF16:
      return DoublesOf<BFloat16>(t);
    case DataType::kI32:
      return DoublesOf<int32_t>(t);
    case DataType::kI64:
      return DoublesOf<int64_t>(t);
    case DataType::kU8:
      return DoublesOf<uint8_t>(t);
    default:
      ADD_FAILURE() << "AsDoubles: unsupported dtype";
      return {};
  }
}

// Expects `t` to have `shape` and values within atol + rtol * |expected| of `expected`.
inline void ExpectNear(const Tensor& t, const Shape& shape, const std::vector<double>& expected,
                       double atol = 1e-5, double rtol = 1e-5) {
  ASSERT_TRUE(t.defined());
  ASSERT_EQ(t.shape(), shape);
  const std::vector<double> got = AsDoubles(t);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], expected[i], atol + rtol * std::abs(expected[i])) << "element " << i;
  }
}

}  // namespace refit::reference::conv_testing
