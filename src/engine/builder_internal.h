// Internal to engine: the builder's state from the graph to the engine, one class whose work is
// split over two files. builder.cc turns the graph's nodes into layers, tunes them (tuner.h),
// packs their weights and lays out the activations; builder_checks.cc chooses the layers' tactics
// where some read or write channel-blocked activations (layout_select.h) and checks the choice
// end to end in trial engines (the plan check and the tactic check, plan_check.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/reference/reference_backend.h"
#include "engine/builder.h"
#include "engine/engine.h"
#include "engine/layout_select.h"
#include "engine/prepare_graph.h"
#include "tuner/tuner.h"

namespace refit::engine::internal {

using Clock = std::chrono::steady_clock;
// Seconds from `since` to now.
double Seconds(Clock::time_point since);

// Where a layer input comes from while the plan is being assembled.
struct SlotSource {
  Tensor value;  // what the recipe (or constant) produces: the tactic's input
  bool refittable = false;
  ir::WeightRecipe recipe;
};

// Builds one engine (BuildEngine): Build runs once.
class Builder {
 public:
  Builder(const BuildOptions& options, BuiltEngine* out) : options_(options), out_(out) {}

  Status Build(ir::Graph graph);

 private:
  // builder.cc: layers, tuning, packing, memory.

  // A new plan value for the probed type of `name`; its index.
  int32_t AddValue(const std::string& name);

  // The value and recipe of weight input `name`; NotFound when it is an activation.
  StatusOr<SlotSource> WeightInput(const std::string& name);

  // Node `index` as a layer: its inputs as values or weight slots, its tactics tuned; finished at
  // once when no tactic has channel-blocked activations.
  Status AddLayer(const ir::Node& node, size_t index);

  // The engine of the pending layers' current choices, for the plan check: the finished layers'
  // packed weights shared (not copied), the pending ones packed afresh, every slot present.
  StatusOr<BuiltEngine> TrialBuild();

  // Instantiates layer `index`'s chosen tactic and packs its slots for it, into `into` (the
  // engine being built, or a plan check's trial). With `release`, the layer is finished: its
  // tactics and the recipes' values are freed.
  Status FinishLayer(size_t index, BuiltEngine* into, bool release);

  // The activations' arena offsets by liveness (memory_planner.h), aliasing layers sharing bytes.
  void PlanMemoryLayout(Plan* plan_out);

  // The features the plan's tactics need, and its refittable slots' source prototypes (with their
  // values into `sources`, when given).
  Status CollectSources(Plan* plan_out, std::vector<Tensor>* sources);

  // builder_checks.cc: the tactics where layouts differ, and the thread check.

  // The thread check (BuildOptions::threads above 1, plan_candidates above 1): the engine of the
  // chosen tactics timed end to end in turns on all its threads and on one; where one thread is
  // at least 3% faster, the plan's max_threads is 1. The verdict goes into the timing cache.
  Status CheckThreads();

  // The tactics each layer runs now, by name.
  std::vector<std::string> CurrentTactics() const;

  // Each layer's tactic: the tuner's choice, or where tactics with channel-blocked activations
  // were timed, the layout selection's (layout_select.h), checked end to end against its next
  // best plans (plan_check.h).
  Status SelectTactics();

  // The tactics each layer of `plan` runs, by name.
  std::vector<std::string> TacticsOf(const std::vector<LayoutLayer>& layers,
                                     const LayoutPlan& plan);

  // The bytes of the pending layers' weight values: what each trial engine packs afresh.
  uint64_t PendingWeightBytes() const;

  // The engine of `plan`'s choices (TrialBuild), loaded to run.
  StatusOr<std::unique_ptr<Engine>> TrialEngine(const std::vector<LayoutLayer>& layers,
                                                const LayoutPlan& plan);

  // The tactic check: the tuner times each layer alone, on inputs in its own cache and weights
  // warm from its previous run; in an engine a layer reads what the layer before wrote (other
  // cores' parts of it, with threads) and weights the layers since have pushed out. Each layer of
  // `base` with another tactic of the same blocks whose tuned time is within tactic_margin of its
  // tactic's gets it in one variant engine; both engines run in turns, profiled, and a layer keeps
  // the other tactic when its own time in the variant beats its time in the base
  // (internal::FasterLayers). The base with those swaps replaces it only when it is faster end to
  // end (their rounds compared pairwise). The verdict goes into the timing cache.
  StatusOr<LayoutPlan> CheckTactics(const std::vector<LayoutLayer>& layers, const LayoutPlan& base);

  // Sets each pending layer's chosen tactic to `plan`'s.
  void ApplyPlan(const std::vector<LayoutLayer>& layers, const LayoutPlan& plan);

  // The plan check (plan_check.h): `plans` built as engines and timed end to end, or the timing
  // cache's verdict on them. Returns the index of the plan to keep.
  StatusOr<size_t> CheckPlans(const std::vector<LayoutLayer>& layers,
                              const std::vector<LayoutPlan>& plans);

  // A layer between tuning and packing: its tactics, the tuner's (then the layout selection's)
  // choice and the values its slots' recipes produced; emptied once it is finished.
  struct Pending {
    backend::LayerDesc desc;
    std::vector<std::unique_ptr<backend::Tactic>> tactics;
    std::vector<SlotSource> slot_sources;
    size_t chosen = 0;
    bool finished = false;
  };

  const BuildOptions& options_;
  BuiltEngine* out_;
  std::vector<Pending> pending_;
  internal::PreparedGraph prepared_;
  std::map<std::string, int32_t> value_index_;
  std::vector<std::string> layer_keys_;  // per layer: its timing cache key
  // Per layer: its tactic's output 0 is input 0's bytes (Tactic::AliasesInput), both values.
  std::vector<bool> aliases_input_;
  std::unique_ptr<backend::Backend> cpu_ = cpu::CreateCpuBackend();
  std::unique_ptr<backend::Backend> reference_ = reference::CreateReferenceBackend();
  std::unique_ptr<ThreadPool> pool_;
  tuner::TimingCache cache_;
};

}  // namespace refit::engine::internal
