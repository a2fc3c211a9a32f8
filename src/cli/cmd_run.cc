// `refit run MODEL.onnx --inputs IN.safetensors -o OUT.safetensors [--threads N]`
#include <chrono>
#include <cstdio>

#include "backend/reference/executor.h"
#include "cli/commands.h"
#include "cli/model_loader.h"

namespace refit::cli {
namespace {

struct RunArgs {
  std::string model;
  std::string inputs;
  std::string output;
  int threads = 1;
};

Status Run(const RunArgs& args) {
  REFIT_ASSIGN_OR_RETURN(ir::Graph graph, LoadModel(args.model));
  REFIT_ASSIGN_OR_RETURN(TensorFile inputs, LoadTensors(args.inputs));
  reference::ExecutorOptions options;
  options.threads = args.threads;
  REFIT_ASSIGN_OR_RETURN(auto executor, reference::ReferenceExecutor::Create(graph, options));
  const auto start = std::chrono::steady_clock::now();
  auto outputs = executor->Run(inputs.tensors);
  if (!outputs.ok()) return outputs.status().WithContext("'" + args.model + "'");
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
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
      "run", "Run a model on inputs from a safetensors file and write its outputs to another.");
  cmd->add_option("model", args->model, "the model: MODEL.onnx")->required();
  cmd->add_option("--inputs", args->inputs,
                  "safetensors file holding one tensor per graph input, named as the input")
      ->required();
  cmd->add_option("-o,--output", args->output,
                  "safetensors file to write, one tensor per graph output")
      ->required();
  cmd->add_option("--threads", args->threads, "worker threads (default 1)")
      ->check(CLI::Range(1, 1024));
  return [args] { return Run(*args); };
}

}  // namespace refit::cli
