// The engine builder: ONNX-derived IR graph in, tuned engine out.
//
//   fix input shapes -> probe every value's type with synthetic inputs -> passes (fusions record
//   weight recipes) -> one layer per node -> tactics per layer from the CPU backend, the reference
//   backend for the rest -> the tuner times them -> memory plan -> every weight slot evaluated from
//   its recipe and packed for its tactic.
//
// Building is deliberately expensive (timing); refit is cheap because every weight slot keeps the
// recipe that produced it. Not thread-safe; several builders may run in one process.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/plan.h"
#include "ir/graph.h"
#include "passes/passes.h"
#include "refit/status.h"

namespace refit::engine {

struct BuildOptions {
  EngineMode mode = EngineMode::kRefittable;
  // Dims for graph inputs; symbolic dims not given here are 1.
  std::map<std::string, std::vector<int64_t>> input_shapes;
  // Representative input values. The builder runs the model once on synthetic inputs to learn
  // every value's shape; inputs whose VALUES decide shapes (a Reshape's target shape, Resize scales
  // fed as graph inputs) need real values: those given here are used for that first run. A value
  // whose shape changes with the inputs is planned as dynamic (run by the reference backend).
  std::map<std::string, TensorView> sample_inputs;
  int threads = 1;
  std::string timing_cache_path;  // "" for none
  // Keep a copy of every refittable source weight in the engine (BuiltEngine::sources, the
  // engine file's sources section), so LoRA adapters can be applied to the base weights and
  // removed again without the model's weight file.
  bool keep_sources = false;
  // Receives progress lines ("layer 3/52 'conv1' (Conv): tactic 2/11 conv_dnnl"); may be empty.
  std::function<void(const std::string&)> progress;
  // Tuner knobs (tests lower them).
  int min_timing_runs = 3;
  double min_timing_ms = 3.0;
  // Where layers have channel-blocked tactics, up to this many layout plans (the selection's and
  // the next best by the tuner's per-layer sums, layout_select.h) are built and timed end to end,
  // in turns, and another plan than the selection's is kept only when it runs at least 3% faster
  // (plan_check.h). 1: the selection's plan, untimed.
  int plan_candidates = 3;
  // ... among the plans whose sums are within this fraction of the best one's: beyond it, the
  // tuner's timings already tell them apart (tests widen it).
  double plan_margin = 0.15;
  // The plan check's rounds (each plan runs once per round) go on until this long has passed (at
  // least 5 rounds, at most 25); so do the tactic check's.
  double plan_check_ms = 1000.0;
  // The tactic check (with plan_candidates > 1): each layer of the kept plan whose tuner timings
  // show another tactic of the same blocks within this fraction of its tactic's time runs it in a
  // variant engine, timed against the plan's in turns and profiled; a layer keeps the other
  // tactic when its own time in the engine is at least 3% lower, and the swaps stand only when the
  // engine with them is faster end to end (tests widen it).
  double tactic_margin = 0.15;
};

struct BuildStats {
  double total_s = 0, passes_s = 0, tuning_s = 0, packing_s = 0;
  int layers = 0, cpu_layers = 0, reference_layers = 0;
  int tactics_timed = 0, cache_hits = 0, timed_layers = 0;
  // The plan check: layout plans timed end to end (0: none, or the timing cache's verdict); the
  // thread check timed (not the cache's verdict); the seconds of the plan, tactic and thread
  // checks (a part of total_s, not of tuning_s).
  int plans_timed = 0;
  bool threads_timed = false;
  double plan_check_s = 0;
  std::vector<std::string> notes;  // e.g. "input 'x': symbolic dim 'batch' set to 1"
};

struct BuiltEngine {
  Plan plan;
  std::vector<Tensor> slot_values;  // packed value per slot (all slots, whatever the mode)
  std::vector<Tensor> sources;      // with keep_sources: one per plan.sources entry; else empty
  BuildStats stats;
  passes::PassReport report;
};

StatusOr<BuiltEngine> BuildEngine(ir::Graph graph, const BuildOptions& options);

// The engine file's bytes: metadata, plan, tactics, refit map (not static), weights (every slot
// in refittable and static mode, only constants in stripped mode) and, in refittable mode with
// kept sources, the sources section.
StatusOr<std::string> SerializeEngine(const BuiltEngine& built);
// The same file written atomically to `path` without a copy of it in memory; returns its size.
StatusOr<uint64_t> WriteEngineFile(const BuiltEngine& built, const std::string& path);
// The metadata section's JSON that SerializeEngine writes (model, opset, inputs, outputs, build
// statistics; the producer, format version and mode are added when a file is written).
std::string EngineMetadata(const BuiltEngine& built);

}  // namespace refit::engine
