// `refit build MODEL.onnx -o ENGINE [--mode refittable|stripped|static] [--input NAME:DIMxDIM]...
//  [--sample-inputs IN.safetensors] [--timing-cache FILE] [--threads N] [--keep-sources] [--quiet]`
#include <unistd.h>

#include <cstdio>

#include "base/file_util.h"
#include "cli/commands.h"
#include "cli/model_loader.h"
#include "engine/builder.h"
#include "engine/engine_file.h"

namespace refit::cli {
namespace {

struct BuildArgs {
  std::string model;
  std::string output;
  std::string mode = "refittable";
  std::vector<std::string> inputs;
  std::string timing_cache;
  std::string sample_inputs;
  int threads = 1;
  bool quiet = false;
  bool keep_sources = false;
};

// "input_ids:1x128" -> {"input_ids", {1, 128}}; "x:" is a scalar.
Status ParseInputShape(const std::string& spec, engine::BuildOptions* options) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument("--input '" + spec + "': expected NAME:DIMxDIM... (e.g. x:1x3x224x224)");
  }
  std::vector<int64_t> dims;
  const std::string text = spec.substr(colon + 1);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find_first_of("x,", pos);
    if (end == std::string::npos) end = text.size();
    const std::string dim = text.substr(pos, end - pos);
    if (dim.empty() || dim.find_first_not_of("0123456789") != std::string::npos ||
        dim.size() > 12) {
      return InvalidArgument("--input '" + spec + "': '" + dim + "' is not a dimension");
    }
    dims.push_back(std::stoll(dim));
    pos = end + 1;
  }
  options->input_shapes[spec.substr(0, colon)] = std::move(dims);
  return Status::Ok();
}

Status Build(const BuildArgs& args) {
  engine::BuildOptions options;
  REFIT_ASSIGN_OR_RETURN(options.mode, engine::ParseEngineMode(args.mode));
  for (const std::string& spec : args.inputs)
    REFIT_RETURN_IF_ERROR(ParseInputShape(spec, &options));
  options.threads = args.threads;
  options.timing_cache_path = args.timing_cache;
  options.keep_sources = args.keep_sources;
  if (args.keep_sources && options.mode != engine::EngineMode::kRefittable) {
    return InvalidArgument("--keep-sources needs --mode refittable (a " + args.mode +
                           " engine keeps no weights to apply adapters to)");
  }
  const bool tty = isatty(STDERR_FILENO) && !args.quiet;
  if (tty) {
    options.progress = [](const std::string& line) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
      std::fflush(stderr);
    };
  }
  TensorFile samples;
  if (!args.sample_inputs.empty()) {
    REFIT_ASSIGN_OR_RETURN(samples, LoadTensors(args.sample_inputs));
    options.sample_inputs = samples.tensors;
    for (const auto& [name, view] : samples.tensors) {
      options.input_shapes.try_emplace(name, view.shape().dims());
    }
  }
  REFIT_ASSIGN_OR_RETURN(ir::Graph graph, LoadModel(args.model));
  auto built = engine::BuildEngine(std::move(graph), options);
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (!built.ok()) return built.status().WithContext("'" + args.model + "'");
  REFIT_ASSIGN_OR_RETURN(std::string bytes, engine::SerializeEngine(*built));
  REFIT_RETURN_IF_ERROR(WriteFileAtomically(args.output, bytes));
  const engine::BuildStats& st = built->stats;
  for (const std::string& note : st.notes)
    std::fprintf(stderr, "refit build: note: %s\n", note.c_str());
  std::fprintf(
      stderr,
      "refit build: %s -> %s (%s, %s): %d layers (%d cpu, %d reference), %d tactics timed "
      "on %d layers, %d from the timing cache; weights %s; built in %.2f s (passes %.2f s, "
      "tuning %.2f s, packing %.2f s), %d thread%s\n",
      args.model.c_str(), args.output.c_str(), args.mode.c_str(), FormatBytes(bytes.size()).c_str(),
      st.layers, st.cpu_layers, st.reference_layers, st.tactics_timed, st.timed_layers,
      st.cache_hits, FormatBytes(built->plan.WeightBytes(false)).c_str(), st.total_s, st.passes_s,
      st.tuning_s, st.packing_s, args.threads, args.threads == 1 ? "" : "s");
  return Status::Ok();
}

}  // namespace

Command AddBuildCommand(CLI::App& app) {
  auto args = std::make_shared<BuildArgs>();
  CLI::App* cmd =
      app.add_subcommand("build", "Build an engine tuned for this machine from an ONNX model.");
  cmd->add_option("model", args->model, "the model: MODEL.onnx")->required();
  cmd->add_option("-o,--output", args->output, "engine file to write")->required();
  cmd->add_option("--mode", args->mode,
                  "refittable (default: weights and refit map), stripped (refit map, no "
                  "refittable weights) or static (weights baked, no refit map)")
      ->check(CLI::IsMember({"refittable", "stripped", "static"}));
  cmd->add_option("--input", args->inputs,
                  "shape of a graph input, NAME:DIMxDIM... (repeatable); symbolic dims default "
                  "to 1");
  cmd->add_option("--sample-inputs", args->sample_inputs,
                  "safetensors file of representative inputs: fixes the input shapes (unless "
                  "--input says otherwise) and gives the values of inputs that decide shapes");
  cmd->add_option("--timing-cache", args->timing_cache,
                  "timing cache file: read if present, written with the new timings");
  cmd->add_option("--threads", args->threads, "threads to tune and run with (default 1)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--quiet", args->quiet, "no progress lines");
  cmd->add_flag("--keep-sources", args->keep_sources,
                "also store the source weights as they are in the model (about doubles the file), "
                "so LoRA adapters apply and unload (refit run/update --lora) without the model's "
                "weight file");
  return [args] { return Build(*args); };
}

}  // namespace refit::cli
