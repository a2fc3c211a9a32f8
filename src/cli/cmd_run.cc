// `refit run ENGINE|MODEL.onnx --inputs IN.safetensors -o OUT.safetensors [--weights W]
//  [--lora ADAPTER[:SCALE]]... [--threads N]`: an engine runs its tuned kernels; a model runs on
//  the reference executor.
#include <chrono>
#include <cstdio>

#include "backend/reference/executor.h"
#include "cli/commands.h"
#include "cli/engine_loader.h"
#include "cli/model_loader.h"

namespace refit::cli {
namespace {

struct RunArgs {
  std::string model;
  std::string inputs;
  std::string output;
  WeightArgs weights;
  int threads = 1;
};

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

Status RunEngine(const RunArgs& args, const TensorFile& inputs) {
  const auto load_start = std::chrono::steady_clock::now();
  std::vector<std::string> summary;
  REFIT_ASSIGN_OR_RETURN(auto e, OpenEngine(args.model, args.threads, args.weights, &summary));
  const double load_ms = MillisSince(load_start);
  for (const std::string& line : summary) std::fprintf(stderr, "refit run: %s\n", line.c_str());
  const auto start = std::chrono::steady_clock::now();
  REFIT_ASSIGN_OR_RETURN(auto outputs, e->Run(inputs.tensors));
  const double ms = MillisSince(start);
  REFIT_RETURN_IF_ERROR(SaveTensors(args.output, outputs));
  std::fprintf(stderr,
               "refit run: %s: %zu layers in %.2f ms (%s engine, %d thread%s%s; loaded%s in "
               "%.2f ms); wrote %zu output%s to %s\n",
               args.model.c_str(), e->plan().layers.size(), ms,
               std::string(engine::EngineModeName(e->plan().mode)).c_str(), e->threads(),
               e->threads() == 1 ? "" : "s",
               e->threads() != args.threads ? ", as its build's thread check found faster" : "",
               args.weights.empty() ? "" : " and refitted", load_ms, outputs.size(),
               outputs.size() == 1 ? "" : "s", args.output.c_str());
  return Status::Ok();
}

Status Run(const RunArgs& args) {
  REFIT_ASSIGN_OR_RETURN(TensorFile inputs, LoadTensors(args.inputs));
  if (IsEngineFile(args.model)) return RunEngine(args, inputs);
  if (!args.weights.empty()) {
    return InvalidArgument("--weights and --lora apply to engines; '" + args.model +
                           "' is not an engine file (build one with refit build)");
  }
  REFIT_ASSIGN_OR_RETURN(ir::Graph graph, LoadModel(args.model));
  reference::ExecutorOptions options;
  options.threads = args.threads;
  REFIT_ASSIGN_OR_RETURN(auto executor, reference::ReferenceExecutor::Create(graph, options));
  const auto start = std::chrono::steady_clock::now();
  auto outputs = executor->Run(inputs.tensors);
  if (!outputs.ok()) return outputs.status().WithContext("'" + args.model + "'");
  const double ms = MillisSince(start);
  REFIT_RETURN_IF_ERROR(SaveTensors(args.output, *outputs));
  std::fprintf(stderr,
               "refit run: %s: %zu nodes in %.2f ms (reference executor, %d thread%s); "
               "wrote %zu output%s to %s\n",
               args.model.c_str(), graph.nodes.size(), ms, args.threads,
               args.threads == 1 ? "" : "s", outputs->size(), outputs->size() == 1 ? "" : "s",
               args.output.c_str());
  return Status::Ok();
}

}  // namespace

Command AddRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run an engine (or a model, on the reference executor) on inputs from a safetensors file "
      "and write its outputs to another.");
  cmd->add_option("model", args->model, "ENGINE (from refit build) or MODEL.onnx")->required();
  cmd->add_option("--inputs", args->inputs,
                  "safetensors file holding one tensor per graph input, named as the input")
      ->required();
  cmd->add_option("-o,--output", args->output,
                  "safetensors file to write, one tensor per graph output")
      ->required();
  AddWeightOptions(cmd, &args->weights, /*stripped_note=*/true);
  cmd->add_option("--threads", args->threads, "worker threads (default 1)")
      ->check(CLI::Range(1, 1024));
  return [args] { return Run(*args); };
}

}  // namespace refit::cli
