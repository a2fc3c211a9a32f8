// `refit bench ENGINE|MODEL.onnx [--inputs IN.safetensors] [--weights W] [--lora A[:S]]...
// [--iterations N] [--warmup N] [--warmup-ms MS] [--threads N] [--profile] [--json]`: latency of
// repeated runs (median, p10, p90), after untimed warm-up runs (at least N, and for at least MS
// milliseconds); with --profile, each engine layer's median too. An engine runs its tuned kernels;
// a model runs on the reference executor.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "backend/reference/executor.h"
#include "cli/commands.h"
#include "cli/engine_loader.h"
#include "cli/model_loader.h"
#include "nlohmann/json.hpp"

namespace refit::cli {
namespace {

struct BenchArgs {
  std::string model;
  std::string inputs;
  WeightArgs weights;
  int iterations = 20;
  int warmup = 2;
  double warmup_ms = 0;
  int threads = 1;
  bool json = false;
  bool profile = false;
};

// Deterministic pseudo-random inputs for graphs whose input shapes are all known.
StatusOr<std::map<std::string, Tensor>> RandomInputs(const ir::Graph& g) {
  std::map<std::string, Tensor> out;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  for (const ir::ValueInfo& v : g.inputs) {
    if (!v.has_shape ||
        std::any_of(v.dims.begin(), v.dims.end(), [](int64_t d) { return d < 0; })) {
      return InvalidArgument("input '" + v.name +
                             "' has a symbolic shape; pass --inputs IN.safetensors");
    }
    REFIT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(v.dtype, Shape(v.dims)));
    if (v.dtype == DataType::kF32) {
      for (int64_t i = 0; i < t.NumElements(); ++i) t.mutable_data_as<float>()[i] = uni(rng);
    } else if (v.dtype != DataType::kI64 && v.dtype != DataType::kI32 &&
               v.dtype != DataType::kBool) {
      return InvalidArgument("input '" + v.name + "' has dtype " +
                             std::string(DataTypeName(v.dtype)) + "; pass --inputs IN.safetensors");
    }  // integer inputs (token ids, masks) stay zero: valid indices for any embedding
    out.emplace(v.name, std::move(t));
  }
  return out;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * double(v.size() - 1);
  const size_t lo = size_t(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

// Inputs the engine was built for, from its plan.
StatusOr<std::map<std::string, Tensor>> RandomEngineInputs(const engine::Plan& plan) {
  ir::Graph g;
  for (int32_t v : plan.inputs) {
    ir::ValueInfo vi;
    vi.name = plan.values[v].name;
    vi.dtype = plan.values[v].dtype;
    vi.dims = plan.values[v].shape.dims();
    vi.dim_params.assign(vi.dims.size(), "");
    vi.has_shape = true;
    g.inputs.push_back(std::move(vi));
  }
  return RandomInputs(g);
}

// Per-layer medians, slowest first, to stderr.
void PrintProfile(const engine::Plan& plan, const std::vector<std::vector<double>>& layer_us) {
  std::vector<std::pair<double, size_t>> order;
  double total = 0;
  for (size_t l = 0; l < layer_us.size(); ++l) {
    if (layer_us[l].empty()) continue;
    order.push_back({Percentile(layer_us[l], 0.5), l});
    total += order.back().first;
  }
  std::sort(order.rbegin(), order.rend());
  std::fprintf(stderr, "profile: per-layer medians, slowest first (sum %.3f ms)\n", total / 1000);
  for (const auto& [us, l] : order) {
    const engine::PlanLayer& layer = plan.layers[l];
    std::fprintf(stderr, "  %9.1f us %5.1f%%  %3zu %-36s %-22s %s\n", us, 100 * us / total, l,
                 layer.node.name.c_str(), layer.node.op_type.c_str(), layer.tactic.c_str());
  }
}

// Per layer in plan order: its node, the ONNX nodes it fused, op, tactic, output values and median
// time.
nlohmann::json ProfileJson(const engine::Plan& plan,
                           const std::vector<std::vector<double>>& layer_us) {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < layer_us.size(); ++l) {
    const engine::PlanLayer& layer = plan.layers[l];
    nlohmann::json outputs = nlohmann::json::array();
    for (int32_t o : layer.outputs) {
      if (o >= 0) outputs.push_back(plan.values[size_t(o)].name);
    }
    layers.push_back({{"index", l},
                      {"name", layer.node.name},
                      {"fused", layer.node.fused},
                      {"op", layer.node.op_type},
                      {"tactic", layer.tactic},
                      {"outputs", outputs},
                      {"median_us", layer_us[l].empty() ? 0.0 : Percentile(layer_us[l], 0.5)}});
  }
  return layers;
}

Status Bench(const BenchArgs& args) {
  const bool is_engine = IsEngineFile(args.model);
  std::unique_ptr<engine::Engine> eng;
  ir::Graph graph;
  std::unique_ptr<reference::ReferenceExecutor> executor;
  if (is_engine) {
    REFIT_ASSIGN_OR_RETURN(eng, OpenEngine(args.model, args.threads, args.weights));
  } else {
    if (!args.weights.empty()) return InvalidArgument("--weights and --lora apply to engines only");
    REFIT_ASSIGN_OR_RETURN(graph, LoadModel(args.model));
  }
  TensorFile file;
  std::map<std::string, Tensor> generated;
  std::map<std::string, TensorView> inputs;
  if (!args.inputs.empty()) {
    REFIT_ASSIGN_OR_RETURN(file, LoadTensors(args.inputs));
    inputs = file.tensors;
  } else {
    REFIT_ASSIGN_OR_RETURN(generated,
                           is_engine ? RandomEngineInputs(eng->plan()) : RandomInputs(graph));
    for (const auto& [name, t] : generated) inputs[name] = t.view();
  }
  if (!is_engine) {
    reference::ExecutorOptions options;
    options.threads = args.threads;
    REFIT_ASSIGN_OR_RETURN(executor, reference::ReferenceExecutor::Create(graph, options));
  }
  const std::string backend =
      is_engine ? std::string(engine::EngineModeName(eng->plan().mode)) + " engine"
                : "reference executor";
  std::vector<double> ms;
  std::vector<std::vector<double>> layer_us(is_engine ? eng->plan().layers.size() : 0);
  std::vector<double> one_run;
  const auto first = std::chrono::steady_clock::now();
  int warmup_runs = 0;
  while (int(ms.size()) < args.iterations) {
    const auto start = std::chrono::steady_clock::now();
    const bool timed =
        warmup_runs >= args.warmup &&
        std::chrono::duration<double, std::milli>(start - first).count() >= args.warmup_ms;
    auto out = is_engine ? eng->Run(inputs, args.profile && timed ? &one_run : nullptr)
                         : executor->Run(inputs);
    const auto end = std::chrono::steady_clock::now();
    if (!out.ok()) return out.status().WithContext("'" + args.model + "'");
    if (!timed) {
      ++warmup_runs;
      continue;
    }
    if (args.profile) {
      for (size_t l = 0; l < one_run.size(); ++l) layer_us[l].push_back(one_run[l]);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  const double p50 = Percentile(ms, 0.5), p10 = Percentile(ms, 0.1), p90 = Percentile(ms, 0.9);
  // An engine whose thread check found one thread faster runs on one, whatever --threads says.
  const int threads = is_engine ? eng->threads() : args.threads;
  if (args.profile && is_engine) PrintProfile(eng->plan(), layer_us);
  if (args.json) {
    nlohmann::json j = {{"model", args.model},
                        {"backend", backend},
                        {"threads", threads},
                        {"threads_asked", args.threads},
                        {"iterations", args.iterations},
                        {"warmup", warmup_runs},
                        {"warmup_ms", args.warmup_ms},
                        {"median_ms", p50},
                        {"p10_ms", p10},
                        {"p90_ms", p90}};
    if (args.profile && is_engine) j["layers"] = ProfileJson(eng->plan(), layer_us);
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf(
        "%s: median %.3f ms, p10 %.3f ms, p90 %.3f ms over %d iterations "
        "(%s, %d thread%s%s)\n",
        args.model.c_str(), p50, p10, p90, args.iterations, backend.c_str(), threads,
        threads == 1 ? "" : "s",
        threads != args.threads ? ", as its build's thread check found faster" : "");
  }
  return Status::Ok();
}

}  // namespace

Command AddBenchCommand(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure an engine's (or a model's) latency over repeated runs (median, p10, p90).");
  cmd->add_option("model", args->model, "ENGINE or MODEL.onnx")->required();
  cmd->add_option("--inputs", args->inputs,
                  "safetensors inputs (default: deterministic random inputs when every input "
                  "shape is fixed)");
  AddWeightOptions(cmd, &args->weights, /*stripped_note=*/true);
  cmd->add_option("--iterations", args->iterations, "timed runs (default 20)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", args->warmup, "untimed runs first (default 2)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--warmup-ms", args->warmup_ms,
                  "keep running untimed until this many milliseconds have passed, and at least "
                  "--warmup runs (default 0): measures the steady state, once threads have "
                  "settled on their cores and caches are warm")
      ->check(CLI::Range(0.0, 3600000.0));
  cmd->add_option("--threads", args->threads, "worker threads (default 1)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--json", args->json, "print JSON instead of text");
  cmd->add_flag("--profile", args->profile,
                "engines only: also print each layer's median time (slowest first) to stderr, "
                "and with --json list every layer's time under \"layers\"");
  return [args] { return Bench(*args); };
}

}  // namespace refit::cli
