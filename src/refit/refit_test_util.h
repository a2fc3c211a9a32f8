// Helpers for the refit layer's tests (included by *_test.cc only).
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine_test_util.h"
#include "refit/refitter.h"

namespace refit::refitter::testing {

using namespace refit::engine::testing;  // NOLINT: the engine's test helpers, unqualified

// Sets every source weight the refitter lists from `g`'s weights (views into `g`).
inline void SetAll(Refitter& r, const ir::Graph& g) {
  for (const WeightPrototype& p : r.weights()) {
    const Tensor* t = g.FindWeight(p.name);
    ASSERT_NE(t, nullptr) << p.name;
    ASSERT_TRUE(r.SetWeight(p.name, t->view()).ok()) << p.name;
  }
}

// Same names and byte-identical tensors. No assertions, so threads may call it.
inline bool SameBytes(const TensorMap& a, const TensorMap& b) {
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.nbytes() != t.nbytes() ||
        std::memcmp(it->second.data(), t.data(), t.nbytes()) != 0) {
      return false;
    }
  }
  return a.size() == b.size();
}

// Sets `names` from `g`'s weights (views into `g`); false if any is refused. No assertions, so
// threads may call it.
inline bool SetFrom(Refitter& r, const ir::Graph& g, const std::vector<std::string>& names) {
  bool ok = true;
  for (const std::string& n : names) ok = r.SetWeight(n, g.weights.at(n).view()).ok() && ok;
  return ok;
}

// The sources of HandGraph's BatchNorm-folded convolution.
inline const std::vector<std::string> kHandConvSources = {"conv.w",  "conv.b",  "bn.gamma",
                                                          "bn.beta", "bn.mean", "bn.var"};

// x[1,6] -> Gemm(x, tied, transB=1)[1,4] ; y[1,4] -> MatMul(y, tied)[1,6]: one source weight read
// by two slots packed differently (an LM head tied to its embedding, in miniature).
inline ir::Graph TiedGraph(uint32_t seed = 1) {
  ir::Graph g;
  g.name = "tied";
  g.opset = 17;
  AddInput(g, "x", {1, 6});
  AddInput(g, "y", {1, 4});
  g.weights.emplace("tied", RandomTensor(Shape{4, 6}, seed));
  g.weights.emplace("other", RandomTensor(Shape{6}, seed + 1));
  ir::Node gemm = MakeNode("Gemm", {"x", "tied"}, {"a"}, "gemm");
  SetInt(gemm, "transB", 1);
  g.nodes.push_back(std::move(gemm));
  g.nodes.push_back(MakeNode("MatMul", {"y", "tied"}, {"m"}, "matmul"));
  g.nodes.push_back(MakeNode("Add", {"m", "other"}, {"b"}, "add"));
  AddOutput(g, "a");
  AddOutput(g, "b");
  return g;
}

inline TensorMap TiedInputs() {
  TensorMap m;
  m.emplace("x", RandomTensor(Shape{1, 6}, 77));
  m.emplace("y", RandomTensor(Shape{1, 4}, 78));
  return m;
}

}  // namespace refit::refitter::testing
