// Helpers for the LoRA tests: adapters written to disk in PEFT and kohya layout, and the model
// with adapters merged by an independent (double precision) computation as the oracle.
#pragma once

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "base/test_temp_dir.h"
#include "refit/lora.h"
#include "refit/refit_test_util.h"
#include "refit/safetensors.h"

namespace refit::refitter::testing {

// One adapter module as written: down [r, ...], up [out, r(, 1, 1)].
struct TestModule {
  std::string module;  // PyTorch module path, e.g. "fc" for weight "fc.w"... see weight below
  std::string weight;  // the source weight it must update
  Tensor down, up;
  double alpha = 0;  // per-module alpha (PEFT alpha_pattern / kohya .alpha)
};

inline TestModule MakeModule(const std::string& module, const std::string& weight,
                             const Shape& w_shape, int64_t rank, double alpha, uint32_t seed) {
  std::vector<int64_t> down = {rank};
  for (size_t i = 1; i < w_shape.rank(); ++i) down.push_back(w_shape[i]);
  std::vector<int64_t> up = {w_shape[0], rank};
  if (w_shape.rank() == 4) up.insert(up.end(), {1, 1});
  return {module, weight, RandomTensor(Shape(down), seed, -0.5f, 0.5f),
          RandomTensor(Shape(up), seed + 1, -0.5f, 0.5f), alpha};
}

// The graph with w += factor * up @ down for each (module, factor), in double precision.
inline ir::Graph Merged(const ir::Graph& g,
                        const std::vector<std::pair<const TestModule*, double>>& deltas) {
  ir::Graph out = CloneGraph(g);
  for (const auto& [m, factor] : deltas) {
    Tensor& w = out.weights.at(m->weight);
    const int64_t rows = w.shape()[0];
    const int64_t rank = m->down.shape()[0];
    const int64_t cols = w.shape().NumElements() / rows;
    float* wd = w.mutable_data_as<float>();
    for (int64_t o = 0; o < rows; ++o) {
      for (int64_t c = 0; c < cols; ++c) {
        double sum = 0;
        for (int64_t k = 0; k < rank; ++k) {
          sum += double(m->up.data_as<float>()[o * rank + k]) *
                 double(m->down.data_as<float>()[k * cols + c]);
        }
        wd[o * cols + c] = float(double(wd[o * cols + c]) + factor * sum);
      }
    }
  }
  return out;
}

// HandGraph with PyTorch-style names: "conv.weight" (a BatchNorm-folded convolution) and
// "fc.weight" (a Linear exported as MatMul over a transposed weight).
inline ir::Graph LoraGraph(uint32_t seed = 1) {
  ir::Graph g = HandGraph(seed);
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"conv.w", "conv.weight"}, {"fc.w", "fc.weight"}}) {
    g.weights.emplace(to, std::move(g.weights.at(from)));
    g.weights.erase(from);
    for (ir::Node& n : g.nodes) {
      for (std::string& in : n.inputs) {
        if (in == from) in = to;
      }
    }
  }
  return g;
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// A PEFT directory `dir` (created) with rank r, lora_alpha `alpha`; each module whose alpha
// differs from `alpha` goes to alpha_pattern.
inline void WritePeft(const std::string& dir, const std::vector<const TestModule*>& modules,
                      int64_t r, double alpha, bool rslora = false) {
  std::filesystem::create_directories(dir);
  std::vector<NamedTensorView> tensors;
  std::string pattern;
  for (const TestModule* m : modules) {
    tensors.push_back({"base_model.model." + m->module + ".lora_A.weight", m->down.view()});
    tensors.push_back({"base_model.model." + m->module + ".lora_B.weight", m->up.view()});
    if (m->alpha != alpha) {
      pattern += (pattern.empty() ? "\"" : ", \"") + m->module + "\": " + std::to_string(m->alpha);
    }
  }
  ASSERT_TRUE(WriteSafetensors(dir + "/adapter_model.safetensors", tensors).ok());
  WriteText(dir + "/adapter_config.json",
            "{\"peft_type\": \"LORA\", \"r\": " + std::to_string(r) + ", \"lora_alpha\": " +
                std::to_string(alpha) + ", \"use_rslora\": " + (rslora ? "true" : "false") +
                ", \"alpha_pattern\": {" + pattern + "}, \"target_modules\": [\"conv\", \"fc\"]}");
}

// A kohya file: `prefix` + module with dots as underscores.
inline void WriteKohya(const std::string& path, const std::vector<const TestModule*>& modules,
                       const std::string& prefix = "lora_unet_", bool with_alpha = true) {
  std::vector<NamedTensorView> tensors;
  std::vector<Tensor> alphas;
  alphas.reserve(modules.size());
  for (const TestModule* m : modules) {
    std::string key = prefix + m->module;
    std::replace(key.begin(), key.end(), '.', '_');
    tensors.push_back({key + ".lora_down.weight", m->down.view()});
    tensors.push_back({key + ".lora_up.weight", m->up.view()});
    alphas.push_back(Tensor::FromVector<float>(Shape{}, {float(m->alpha)}));
    if (with_alpha) tensors.push_back({key + ".alpha", alphas.back().view()});
  }
  ASSERT_TRUE(WriteSafetensors(path, tensors).ok());
}

}  // namespace refit::refitter::testing
