// `refit build MODEL.onnx -o ENGINE [--mode refittable|stripped|static] [--input NAME:DIMxDIM]...
//  [--sample-inputs IN.safetensors] [--timing-cache FILE] [--threads N] [--keep-sources] [--quiet]
//  [--cache DIR [--cache-max-bytes N]]`
//
// With --cache, an engine built before for the same architecture, input shapes, settings and CPU
// (with any weights) comes from the engine cache and is refitted with the model's weights instead
// of being built; a build is stored there for next time.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "base/file_util.h"
#include "cache/engine_cache.h"
#include "cli/commands.h"
#include "cli/model_loader.h"
#include "engine/builder.h"
#include "engine/engine.h"
#include "engine/engine_file.h"
#include "refit/refitter.h"

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
  int plan_candidates = 3;
  bool quiet = false;
  bool keep_sources = false;
  std::string cache;  // "" for none
  uint64_t cache_max_bytes = cache::EngineCache::kDefaultMaxBytes;
};

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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

void PrintBuildSummary(const BuildArgs& args, uint64_t file_bytes, const engine::BuildStats& st,
                       uint64_t weight_bytes, const std::string& suffix) {
  for (const std::string& note : st.notes)
    std::fprintf(stderr, "refit build: note: %s\n", note.c_str());
  char check[48] = "";
  if (st.plans_timed > 0 || st.threads_timed)
    std::snprintf(check, sizeof(check), ", checks %.2f s", st.plan_check_s);
  std::fprintf(
      stderr,
      "refit build: %s -> %s (%s, %s): %d layers (%d cpu, %d reference), %d tactics timed "
      "on %d layers, %d from the timing cache; weights %s; built in %.2f s (passes %.2f s, "
      "tuning %.2f s, packing %.2f s%s), %d thread%s%s\n",
      args.model.c_str(), args.output.c_str(), args.mode.c_str(), FormatBytes(file_bytes).c_str(),
      st.layers, st.cpu_layers, st.reference_layers, st.tactics_timed, st.timed_layers,
      st.cache_hits, FormatBytes(weight_bytes).c_str(), st.total_s, st.passes_s, st.tuning_s,
      st.packing_s, check, args.threads, args.threads == 1 ? "" : "s", suffix.c_str());
}

// Fills a stripped engine from the cache with every source weight of `graph`; with
// --keep-sources the graph's tensors then become the engine's kept sources.
StatusOr<RefitReport> RefitFromGraph(engine::Engine* e, ir::Graph& graph, bool keep_sources) {
  Refitter refitter(e);
  for (const WeightPrototype& p : refitter.weights()) {
    const Tensor* w = graph.FindWeight(p.name);
    // The key covers every weight's name, dtype and shape: only a key collision gets here.
    if (w == nullptr) {
      return Internal("the cached engine reads weight '" + p.name + "', which the model lacks");
    }
    REFIT_RETURN_IF_ERROR(refitter.SetWeight(p.name, w->view()));
  }
  REFIT_ASSIGN_OR_RETURN(RefitReport report, refitter.Apply());
  if (keep_sources) {
    auto sources = std::make_shared<engine::SourceSet>();
    for (const engine::SourcePrototype& p : e->plan().sources) {
      auto it = graph.weights.find(p.name);
      if (it == graph.weights.end()) return Internal("model weight '" + p.name + "' is missing");
      // Apply is done with the views, so the tensors can move into the engine.
      sources->tensors.push_back(std::make_shared<const Tensor>(std::move(it->second)));
    }
    REFIT_RETURN_IF_ERROR(e->SetKeptSources(std::move(sources)));
  }
  return report;
}

Status BuildCached(const BuildArgs& args, ir::Graph graph, const engine::BuildOptions& options,
                   bool tty, Clock::time_point start) {
  const std::string key = cache::CacheKey(graph, options);
  REFIT_ASSIGN_OR_RETURN(auto engine_cache,
                         cache::EngineCache::Open(args.cache, args.cache_max_bytes));
  engine::BuildStats stats;
  auto result = engine_cache->GetOrBuild(key, [&]() -> StatusOr<engine::BuiltEngine> {
    // `graph` was imported for the lookup only (LoadModel unchecked): a build starts from the
    // checked, shape-inferred import. A miss never reads `graph` again: its weights go first,
    // so that a large model's weights are not held twice during the build.
    graph = ir::Graph();
    REFIT_ASSIGN_OR_RETURN(ir::Graph checked, LoadModel(args.model));
    auto built = engine::BuildEngine(std::move(checked), options);
    if (built.ok()) stats = built->stats;
    return built;
  });
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (!result.ok()) return result.status().WithContext("'" + args.model + "'");
  engine::Engine* e = result->engine.get();
  const bool hit = result->outcome == cache::CacheOutcome::kHit;
  const std::string outcome =
      result->outcome == cache::CacheOutcome::kCorruptRebuilt
          ? "cache: corrupt entry rebuilt"
          : std::string("cache ") + cache::CacheOutcomeName(result->outcome);
  const std::string where = key.substr(0, 12) + " ('" + engine_cache->dir() + "')";
  RefitReport refit;
  // A stripped engine is written without the refittable weights: nothing to refit.
  if (hit && options.mode != engine::EngineMode::kStripped) {
    auto report = RefitFromGraph(e, graph, args.keep_sources);
    if (!report.ok()) {
      return report.status().WithContext("'" + args.model + "': filling the cached engine '" +
                                         result->entry_path + "'");
    }
    refit = *report;
  }
  // A miss engine has its build's weights (and kept sources): written as is.
  REFIT_ASSIGN_OR_RETURN(const uint64_t file_bytes, e->WriteFile(args.output, options.mode));
  if (!hit) {
    char tail[64];
    std::snprintf(tail, sizeof(tail), ": %.3f s in all", SecondsSince(start));
    PrintBuildSummary(args, file_bytes, stats, e->plan().WeightBytes(false),
                      "; " + outcome + " " + where + tail);
    return Status::Ok();
  }
  char refitted[160] = "no weights to refit (stripped)";
  if (options.mode != engine::EngineMode::kStripped) {
    std::snprintf(refitted, sizeof(refitted), "refitted %d weights (%d of %d slots, %s) in %.2f ms",
                  refit.weights, refit.slots, refit.refittable_slots,
                  FormatBytes(refit.bytes).c_str(), refit.seconds * 1e3);
  }
  std::fprintf(
      stderr, "refit build: %s -> %s (%s, %s): %s %s: loaded in %.3f s, %s; %.3f s in all\n",
      args.model.c_str(), args.output.c_str(), args.mode.c_str(), FormatBytes(file_bytes).c_str(),
      outcome.c_str(), where.c_str(), result->seconds, refitted, SecondsSince(start));
  return Status::Ok();
}

Status Build(const BuildArgs& args) {
  const Clock::time_point start = Clock::now();
  engine::BuildOptions options;
  REFIT_ASSIGN_OR_RETURN(options.mode, engine::ParseEngineMode(args.mode));
  for (const std::string& spec : args.inputs)
    REFIT_RETURN_IF_ERROR(ParseInputShape(spec, &options));
  options.threads = args.threads;
  options.timing_cache_path = args.timing_cache;
  options.keep_sources = args.keep_sources;
  options.plan_candidates = args.plan_candidates;
  if (!args.cache.empty() && options.mode == engine::EngineMode::kStatic) {
    return InvalidArgument("--cache needs --mode refittable or stripped: the cache '" + args.cache +
                           "' keeps stripped engines that a refit fills with the model's "
                           "weights, and a static engine cannot be refitted");
  }
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
  // With a cache, the model is checked only when the lookup misses (LoadModel).
  REFIT_ASSIGN_OR_RETURN(ir::Graph graph, LoadModel(args.model, /*checked=*/args.cache.empty()));
  if (!args.cache.empty()) return BuildCached(args, std::move(graph), options, tty, start);
  auto built = engine::BuildEngine(std::move(graph), options);
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (!built.ok()) return built.status().WithContext("'" + args.model + "'");
  REFIT_ASSIGN_OR_RETURN(const uint64_t file_bytes, engine::WriteEngineFile(*built, args.output));
  PrintBuildSummary(args, file_bytes, built->stats, built->plan.WeightBytes(false), "");
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
  cmd->add_option("--plan-candidates", args->plan_candidates,
                  "layout plans (channel-blocked or plain activations) built and timed end to "
                  "end after tuning; another plan than the best by the tuner's sums is kept only "
                  "when it runs at least 3% faster; then layers with a close second tactic try it "
                  "in the engine, kept where the layer runs 3% faster and the engine is faster "
                  "end to end (default 3; 1: the tuner's timings alone decide)")
      ->check(CLI::Range(1, 16));
  cmd->add_flag("--quiet", args->quiet, "no progress lines");
  cmd->add_flag("--keep-sources", args->keep_sources,
                "also store the source weights as they are in the model (about doubles the file), "
                "so LoRA adapters apply and unload (refit run/update --lora) without the model's "
                "weight file");
  CLI::Option* cache_opt =
      cmd->add_option("--cache", args->cache,
                      "engine cache directory (created if needed; processes may share it): an "
                      "engine built before for the same architecture, input shapes, settings and "
                      "CPU, with any weights, is refitted with this model's weights instead of "
                      "built; a build is stored there (stripped). Not with --mode static");
  cmd->add_option("--cache-max-bytes", args->cache_max_bytes,
                  "size limit of the cache directory in bytes: least recently used engines are "
                  "removed after a store (default 4 GiB)")
      ->needs(cache_opt);
  return [args] { return Build(*args); };
}

}  // namespace refit::cli
