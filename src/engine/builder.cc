#include "engine/builder.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_features.h"
#include "backend/reference/reference_backend.h"
#include "engine/engine.h"
#include "engine/layout_select.h"
#include "engine/memory_planner.h"
#include "engine/plan_check.h"
#include "engine/prepare_graph.h"
#include "tuner/tuner.h"

namespace refit::engine {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The plan check runs only when the layout plans' packed weights, one copy per plan, fit in this
// many bytes.
constexpr uint64_t kPlanCheckMaxBytes = uint64_t{2} << 30;
// Another plan than the layout selection's is kept only when it runs at least this much faster
// end to end (internal::KeepFastest): smaller differences are the machine's noise.
constexpr double kPlanCheckMinGain = 0.03;
// The tactic check (BuildOptions::tactic_margin) keeps another tactic for a layer when the layer
// runs at least this much faster with it in the engine.
constexpr double kTacticCheckMinGain = 0.03;

bool SameBlocks(const LayerBlocks& a, const LayerBlocks& b) {
  if (a.output != b.output) return false;
  for (size_t i = 0; i < std::max(a.inputs.size(), b.inputs.size()); ++i) {
    if (a.input(i) != b.input(i)) return false;
  }
  return true;
}

// Where a layer input comes from while the plan is being assembled.
struct SlotSource {
  Tensor value;  // what the recipe (or constant) produces: the tactic's input
  bool refittable = false;
  ir::WeightRecipe recipe;
};

class Builder {
 public:
  Builder(const BuildOptions& options, BuiltEngine* out) : options_(options), out_(out) {}

  Status Build(ir::Graph graph) {
    const auto start = Clock::now();
    // Before any pass: the structure a later refit from another export is compared with (kept
    // in the refit map, which static engines do not have).
    if (options_.mode != EngineMode::kStatic) {
      out_->plan.architecture = ir::ComputeGraphSignature(graph);
    }
    REFIT_ASSIGN_OR_RETURN(
        prepared_, internal::PrepareGraph(std::move(graph), options_, &out_->report, &out_->stats));
    Plan& plan = out_->plan;
    const ir::Graph& g = prepared_.graph;
    plan.model_name = g.name;
    plan.opset = g.opset;
    plan.mode = options_.mode;
    plan.weight_computations = prepared_.weight_computations;
    for (const ir::ValueInfo& v : g.inputs) {
      if (!prepared_.types.count(v.name)) return Internal("input '" + v.name + "' has no type");
      plan.inputs.push_back(AddValue(v.name));
    }
    if (options_.threads > 1) pool_ = std::make_unique<ThreadPool>(options_.threads);
    cpu::SetOpenMpThreads(1);  // oneDNN primitives are created single-threaded (cpu_backend.h)
    if (!options_.timing_cache_path.empty()) {
      REFIT_ASSIGN_OR_RETURN(cache_, tuner::TimingCache::Load(options_.timing_cache_path));
    }
    const auto tune_start = Clock::now();
    plan.layers.reserve(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) REFIT_RETURN_IF_ERROR(AddLayer(g.nodes[i], i));
    out_->stats.tuning_s = Seconds(tune_start) - out_->stats.packing_s;
    for (const ir::ValueInfo& v : g.outputs) {
      auto it = value_index_.find(v.name);
      if (it == value_index_.end()) return Internal("graph output '" + v.name + "' not planned");
      plan.outputs.push_back(it->second);
    }
    REFIT_RETURN_IF_ERROR(SelectTactics());
    for (size_t i = 0; i < plan.layers.size(); ++i) {
      if (!pending_[i].finished) REFIT_RETURN_IF_ERROR(FinishLayer(i, out_, /*release=*/true));
    }
    PlanMemoryLayout(&plan);
    REFIT_RETURN_IF_ERROR(CollectSources(&plan, options_.keep_sources ? &out_->sources : nullptr));
    if (!options_.timing_cache_path.empty() &&
        (out_->stats.timed_layers > 0 || out_->stats.plans_timed > 0)) {
      REFIT_RETURN_IF_ERROR(cache_.Save(options_.timing_cache_path));
    }
    out_->stats.layers = int(plan.layers.size());
    out_->stats.total_s = Seconds(start);
    return Status::Ok();
  }

 private:
  int32_t AddValue(const std::string& name) {
    const backend::TensorDesc& d = prepared_.types.at(name);
    PlanValue v;
    v.name = name;
    v.dtype = d.dtype;
    v.shape = d.shape;
    v.dynamic = d.dynamic;
    value_index_[name] = int32_t(out_->plan.values.size());
    out_->plan.values.push_back(std::move(v));
    return value_index_[name];
  }

  // The value and recipe of weight input `name`; NotFound when it is an activation.
  StatusOr<SlotSource> WeightInput(const std::string& name) {
    const ir::Graph& g = prepared_.graph;
    SlotSource s;
    const bool is_static = options_.mode == EngineMode::kStatic;
    if (auto c = prepared_.constants.find(name); c != prepared_.constants.end()) {
      s.value = c->second.Clone();
      return s;
    }
    if (const Tensor* w = g.FindWeight(name)) {
      s.value = w->Clone();
      s.refittable = !is_static;
      s.recipe = ir::WeightRecipe::FromSource(name);
      return s;
    }
    if (const ir::WeightRecipe* r = g.FindDerivedWeight(name)) {
      auto value = r->Evaluate([&](const std::string& src) { return g.FindWeight(src); });
      if (!value.ok()) return value.status().WithContext("derived weight '" + name + "'");
      s.value = std::move(value).value();
      s.refittable = !is_static;
      s.recipe = *r;
      return s;
    }
    return NotFound(name);
  }

  Status AddLayer(const ir::Node& node, size_t index) {
    Plan& plan = out_->plan;
    plan.layers.emplace_back();
    PlanLayer& layer = plan.layers.back();
    layer.node = node;
    backend::LayerDesc desc;
    desc.node = &layer.node;
    desc.opset = plan.opset;
    std::vector<SlotSource> slot_sources(node.inputs.size());
    std::vector<const Tensor*> weight_values(node.inputs.size(), nullptr);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const std::string& name = node.inputs[i];
      LayerInput in;
      if (name.empty()) {
        desc.inputs.emplace_back();
        desc.weight.push_back(false);
      } else if (auto v = value_index_.find(name); v != value_index_.end()) {
        in = {LayerInput::Kind::kValue, v->second};
        const PlanValue& pv = plan.values[v->second];
        desc.inputs.push_back({pv.dtype, pv.shape, pv.dynamic});
        desc.weight.push_back(false);
      } else {
        auto src = WeightInput(name);
        if (!src.ok()) {
          if (src.status().code() == StatusCode::kNotFound) {
            return Internal("node '" + node.name + "': input '" + name + "' is not available");
          }
          return src.status();
        }
        slot_sources[i] = std::move(src).value();
        in = {LayerInput::Kind::kSlot, int32_t(plan.slots.size())};
        WeightSlot slot;
        slot.name = name;
        slot.layer = int32_t(index);
        slot.input = int32_t(i);
        slot.dtype = slot_sources[i].value.dtype();
        slot.shape = slot_sources[i].value.shape();
        slot.refittable = slot_sources[i].refittable;
        slot.recipe = slot_sources[i].recipe;
        slot.stored = !slot.refittable || options_.mode != EngineMode::kStripped;
        plan.slots.push_back(std::move(slot));
        desc.inputs.push_back(
            {slot_sources[i].value.dtype(), slot_sources[i].value.shape(), false});
        desc.weight.push_back(true);
        weight_values[i] = &slot_sources[i].value;
      }
      layer.inputs.push_back(in);
    }
    for (const std::string& out : node.outputs) {
      if (out.empty()) {
        layer.outputs.push_back(-1);
        desc.outputs.emplace_back();
        continue;
      }
      if (!prepared_.types.count(out)) {
        return Internal("node '" + node.name + "': output '" + out + "' has no probed type");
      }
      const int32_t v = AddValue(out);
      layer.outputs.push_back(v);
      const PlanValue& pv = plan.values[v];
      desc.outputs.push_back({pv.dtype, pv.shape, pv.dynamic});
    }
    // The CPU backend first; the reference backend takes whatever it does not.
    const backend::Backend* chosen_backend = cpu_.get();
    auto tactics = cpu_->Tactics(desc);
    if (tactics.empty()) {
      chosen_backend = reference_.get();
      tactics = reference_->Tactics(desc);
    }
    if (tactics.empty()) {
      return Unimplemented("operator '" + (node.domain.empty() ? "" : node.domain + ".") +
                           node.op_type + "' (node '" + node.name + "', opset " +
                           std::to_string(plan.opset) + ") is not supported");
    }
    const std::string label = "layer " + std::to_string(index + 1) + "/" +
                              std::to_string(prepared_.graph.nodes.size()) + " '" + node.name +
                              "' (" + node.op_type + ")";
    tuner::TunerOptions topts;
    topts.pool = pool_.get();
    topts.cache = options_.timing_cache_path.empty() ? nullptr : &cache_;
    topts.min_runs = options_.min_timing_runs;
    topts.min_total_ms = options_.min_timing_ms;
    if (options_.progress) {
      topts.progress = [&](const std::string& what) { options_.progress(label + ": " + what); };
    }
    layer_keys_.push_back(
        tuner::TimingCache::Key(desc, options_.threads, chosen_backend->fingerprint()));
    auto tuned =
        tuner::TuneLayer(desc, weight_values, tactics, chosen_backend->fingerprint(), topts);
    if (!tuned.ok()) return tuned.status();
    layer.backend = chosen_backend->name();
    layer.from_timing_cache = tuned->from_cache;
    for (const auto& [name, us] : tuned->timings_us) layer.timings.push_back({name, us});
    if (tactics.size() > 1) {
      ++(tuned->from_cache ? out_->stats.cache_hits : out_->stats.timed_layers);
      if (!tuned->from_cache) out_->stats.tactics_timed += int(tuned->timings_us.size());
    }
    ++(chosen_backend == cpu_.get() ? out_->stats.cpu_layers : out_->stats.reference_layers);
    pending_.push_back({std::move(desc), std::move(tactics), std::move(slot_sources), 0});
    pending_.back().chosen = tuned->chosen;
    // A layer with no channel-blocked tactic keeps the tuner's choice: it is finished (its slots
    // packed and their recipes' values freed) now, not after every layer is tuned.
    for (const auto& t : pending_.back().tactics) {
      if (!BlocksOf(*t, layer.inputs.size()).plain()) return Status::Ok();
    }
    return FinishLayer(index, out_, /*release=*/true);
  }

  // Each layer's tactic: the tuner's choice, or where tactics with channel-blocked activations
  // were timed, the layout selection's (layout_select.h), checked end to end against its next
  // best plans (plan_check.h).
  Status SelectTactics() {
    const Plan& plan = out_->plan;
    // A value may be blocked when it is some layer's output 0 and no graph output.
    std::vector<bool> blockable(plan.values.size(), false);
    for (const PlanLayer& layer : plan.layers) {
      if (!layer.outputs.empty() && layer.outputs[0] >= 0) blockable[layer.outputs[0]] = true;
    }
    for (int32_t v : plan.outputs) blockable[v] = false;
    std::vector<LayoutLayer> layers(plan.layers.size());
    bool any_blocked = false;
    for (size_t l = 0; l < plan.layers.size(); ++l) {
      const PlanLayer& layer = plan.layers[l];
      const Pending& p = pending_[l];
      for (const LayerInput& in : layer.inputs) {
        const bool value = in.kind == LayerInput::Kind::kValue && blockable[in.index];
        layers[l].inputs.push_back(value ? in.index : -1);
      }
      if (!layer.outputs.empty() && layer.outputs[0] >= 0 && blockable[layer.outputs[0]]) {
        layers[l].output = layer.outputs[0];
      }
      if (p.finished) {
        layers[l].options.push_back({0, {}, 0.0});  // plain in and out, chosen already
        continue;
      }
      auto blocks_of = [&](const backend::Tactic& t) {
        LayerBlocks b = BlocksOf(t, layer.inputs.size());
        any_blocked = any_blocked || !b.plain();
        return b;
      };
      std::map<std::string, size_t> index;
      for (size_t t = 0; t < p.tactics.size(); ++t) index[p.tactics[t]->name()] = t;
      for (const TacticTiming& timing : layer.timings) {
        auto it = index.find(timing.tactic);
        if (it == index.end()) continue;
        layers[l].options.push_back(
            {it->second, blocks_of(*p.tactics[it->second]), timing.median_us});
      }
      if (layers[l].options.empty()) {  // one tactic, not timed
        layers[l].options.push_back({p.chosen, blocks_of(*p.tactics[p.chosen]), 0.0});
      }
    }
    if (!any_blocked) return Status::Ok();  // the tuner's choices stand
    REFIT_ASSIGN_OR_RETURN(const std::vector<LayoutPlan> plans,
                           SelectLayoutPlans(layers, size_t(std::max(1, options_.plan_candidates)),
                                             options_.plan_margin));
    size_t pick = 0;
    const auto start = Clock::now();
    if (plans.size() > 1) {
      auto checked = CheckPlans(layers, plans);
      if (!checked.ok()) return checked.status();
      pick = *checked;
    }
    LayoutPlan chosen = plans[pick];
    if (options_.plan_candidates > 1) {
      REFIT_ASSIGN_OR_RETURN(chosen, CheckTactics(layers, chosen));
    }
    out_->stats.plan_check_s = Seconds(start);
    ApplyPlan(layers, chosen);
    return Status::Ok();
  }

  // The tactics each layer of `plan` runs, by name.
  std::vector<std::string> TacticsOf(const std::vector<LayoutLayer>& layers,
                                     const LayoutPlan& plan) {
    ApplyPlan(layers, plan);
    std::vector<std::string> names;
    for (size_t l = 0; l < pending_.size(); ++l) {
      names.push_back(pending_[l].finished ? out_->plan.layers[l].tactic
                                           : pending_[l].tactics[pending_[l].chosen]->name());
    }
    return names;
  }

  // The bytes of the pending layers' weight values: what each trial engine packs afresh.
  uint64_t PendingWeightBytes() const {
    uint64_t bytes = 0;
    for (const Pending& p : pending_) {
      for (const SlotSource& s : p.slot_sources) bytes += s.value.defined() ? s.value.nbytes() : 0;
    }
    return bytes;
  }

  // The engine of `plan`'s choices (TrialBuild), loaded to run.
  StatusOr<std::unique_ptr<Engine>> TrialEngine(const std::vector<LayoutLayer>& layers,
                                                const LayoutPlan& plan) {
    ApplyPlan(layers, plan);
    REFIT_ASSIGN_OR_RETURN(BuiltEngine trial, TrialBuild());
    EngineOptions eopts;
    eopts.threads = options_.threads;
    return Engine::FromBuild(std::move(trial), eopts);
  }

  // The tactic check: the tuner times each layer alone, on inputs in its own cache and weights
  // warm from its previous run; in an engine a layer reads what the layer before wrote (other
  // cores' parts of it, with threads) and weights the layers since have pushed out. Each layer of
  // `base` with another tactic of the same blocks whose tuned time is within tactic_margin of its
  // tactic's gets it in one variant engine; both engines run in turns, profiled, and a layer keeps
  // the other tactic when its own time in the variant beats its time in the base
  // (internal::FasterLayers). The base with those swaps replaces it only when it is faster end to
  // end (their rounds compared pairwise). The verdict goes into the timing cache.
  StatusOr<LayoutPlan> CheckTactics(const std::vector<LayoutLayer>& layers,
                                    const LayoutPlan& base) {
    LayoutPlan variant = base;
    std::vector<size_t> swapped;
    for (size_t l = 0; l < layers.size(); ++l) {
      if (pending_[l].finished) continue;
      const LayoutOption& now = layers[l].options[base.chosen[l]];
      size_t alt = layers[l].options.size();
      for (size_t o = 0; o < layers[l].options.size(); ++o) {
        const LayoutOption& c = layers[l].options[o];
        if (o == base.chosen[l] || now.us <= 0 || c.us <= 0 || !SameBlocks(c.blocks, now.blocks) ||
            c.us > now.us * (1.0 + options_.tactic_margin)) {
          continue;
        }
        if (alt == layers[l].options.size() || c.us < layers[l].options[alt].us) alt = o;
      }
      if (alt == layers[l].options.size()) continue;
      variant.chosen[l] = alt;
      swapped.push_back(l);
    }
    if (swapped.empty()) return base;
    const std::vector<std::string> base_tactics = TacticsOf(layers, base);
    const std::vector<std::string> variant_tactics = TacticsOf(layers, variant);
    const std::string key =
        "tactic check " + internal::PlanCheckKey(layer_keys_, {base_tactics, variant_tactics});
    // The verdict: the layers that take the variant's tactic, as "3,7" ("" for none).
    auto apply = [&](const std::vector<size_t>& kept) {
      LayoutPlan out = base;
      for (size_t l : kept) out.chosen[l] = variant.chosen[l];
      return out;
    };
    auto describe = [&](const std::vector<size_t>& kept) {
      std::string text;
      for (size_t l : kept) {
        text += (text.empty() ? "" : ", ") + std::string("layer ") + std::to_string(l) + " " +
                base_tactics[l] + " -> " + variant_tactics[l];
      }
      return text.empty() ? std::string("none") : text;
    };
    if (!options_.timing_cache_path.empty()) {
      if (const tuner::CachedTiming* hit = cache_.Find(key)) {
        std::vector<size_t> kept;
        bool valid = true;
        std::stringstream list(hit->tactic);
        for (std::string item; std::getline(list, item, ',');) {
          char* end = nullptr;
          const unsigned long l = std::strtoul(item.c_str(), &end, 10);
          if (item.empty() || *end != '\0' ||
              std::find(swapped.begin(), swapped.end(), size_t(l)) == swapped.end()) {
            valid = false;
            break;
          }
          kept.push_back(size_t(l));
        }
        if (valid) {
          out_->stats.notes.push_back("tactic check (from the timing cache): swapped " +
                                      describe(kept));
          return apply(kept);
        }
      }
    }
    const uint64_t bytes = PendingWeightBytes();
    if (bytes * 2 > kPlanCheckMaxBytes) {
      out_->stats.notes.push_back(
          "tactic check skipped: two copies of the weights would take more than 2 GiB");
      return base;
    }
    if (options_.progress) {
      options_.progress("tactic check: " + std::to_string(swapped.size()) +
                        " layers with a close alternative, timed in the engine");
    }
    REFIT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> base_engine, TrialEngine(layers, base));
    REFIT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> variant_engine, TrialEngine(layers, variant));
    REFIT_ASSIGN_OR_RETURN(const internal::PlanInputs inputs,
                           internal::MakePlanInputs(out_->plan, options_.sample_inputs));
    internal::PlanCheckOptions popts;
    popts.min_seconds = options_.plan_check_ms / 1e3;
    std::vector<std::vector<std::vector<double>>> profiles;
    REFIT_ASSIGN_OR_RETURN(std::vector<std::vector<double>> runs,
                           internal::TimeInTurns({base_engine.get(), variant_engine.get()},
                                                 inputs.views, popts, &profiles));
    std::vector<size_t> kept =
        internal::FasterLayers(profiles[0], profiles[1], swapped, kTacticCheckMinGain);
    std::string verdict;
    if (!kept.empty()) {
      // End to end: the variant's own runs when every swap is kept, else the base with the kept
      // swaps, timed against the base afresh.
      if (kept.size() != swapped.size()) {
        variant_engine.reset();
        REFIT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> kept_engine,
                               TrialEngine(layers, apply(kept)));
        REFIT_ASSIGN_OR_RETURN(runs, internal::TimeInTurns({base_engine.get(), kept_engine.get()},
                                                           inputs.views, popts));
      }
      if (internal::KeepFastest(runs, 0.0) != 1) {
        verdict = " (" + describe(kept) + " faster layer by layer, not end to end)";
        kept.clear();
      }
    }
    std::vector<double> ratios;
    for (size_t r = 0; r < runs[0].size() && r < runs[1].size(); ++r) {
      if (runs[0][r] > 0) ratios.push_back(runs[1][r] / runs[0][r]);
    }
    char ms[128];
    std::snprintf(
        ms, sizeof(ms), "; end to end %.3f ms against %.3f ms (%.3f of it, round by round)",
        internal::Median(runs[1]), internal::Median(runs[0]), internal::Median(std::move(ratios)));
    out_->stats.notes.push_back("tactic check: " + std::to_string(swapped.size()) +
                                " layers tried another tactic in the engine; swapped " +
                                describe(kept) + (kept.empty() ? verdict : std::string(ms)));
    if (!options_.timing_cache_path.empty()) {
      tuner::CachedTiming entry;
      for (size_t l : kept) entry.tactic += (entry.tactic.empty() ? "" : ",") + std::to_string(l);
      cache_.Put(key, std::move(entry));
    }
    return apply(kept);
  }

  void ApplyPlan(const std::vector<LayoutLayer>& layers, const LayoutPlan& plan) {
    for (size_t l = 0; l < plan.chosen.size(); ++l) {
      if (!pending_[l].finished) pending_[l].chosen = layers[l].options[plan.chosen[l]].tactic;
    }
  }

  // The plan check (plan_check.h): `plans` built as engines and timed end to end, or the timing
  // cache's verdict on them. Returns the index of the plan to keep.
  StatusOr<size_t> CheckPlans(const std::vector<LayoutLayer>& layers,
                              const std::vector<LayoutPlan>& plans) {
    const Plan& plan = out_->plan;
    std::vector<std::vector<std::string>> tactics;
    for (const LayoutPlan& candidate : plans) tactics.push_back(TacticsOf(layers, candidate));
    auto describe = [&](const std::vector<double>& ms, size_t pick) {
      std::string text;
      for (size_t p = 0; p < plans.size(); ++p) {
        char item[96];
        std::snprintf(item, sizeof(item), "%s%.3f ms (%.3f ms by the layers' sum)%s",
                      p == 0 ? "" : ", ", ms[p], plans[p].us / 1e3, p == pick ? " kept" : "");
        text += item;
      }
      return text;
    };
    const std::string key = internal::PlanCheckKey(layer_keys_, tactics);
    if (!options_.timing_cache_path.empty()) {
      if (const tuner::CachedTiming* hit = cache_.Find(key)) {
        for (size_t p = 0; p < plans.size(); ++p) {
          if (hit->tactic != std::to_string(p) || hit->timings_us.size() != plans.size()) continue;
          std::vector<double> ms;
          for (const auto& [name, us] : hit->timings_us) ms.push_back(us / 1e3);
          out_->stats.notes.push_back("plan check (from the timing cache): " + describe(ms, p));
          return p;
        }
      }
    }
    const uint64_t bytes = PendingWeightBytes();
    if (bytes * plans.size() > kPlanCheckMaxBytes) {
      out_->stats.notes.push_back("plan check skipped: " + std::to_string(plans.size()) +
                                  " copies of the weights would take more than 2 GiB");
      return size_t{0};
    }
    if (options_.progress) {
      options_.progress("plan check: timing " + std::to_string(plans.size()) +
                        " layout plans end to end");
    }
    std::vector<std::unique_ptr<Engine>> engines;
    std::vector<const Engine*> timed;
    for (const LayoutPlan& candidate : plans) {
      REFIT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> e, TrialEngine(layers, candidate));
      timed.push_back(e.get());
      engines.push_back(std::move(e));
    }
    REFIT_ASSIGN_OR_RETURN(const internal::PlanInputs inputs,
                           internal::MakePlanInputs(plan, options_.sample_inputs));
    internal::PlanCheckOptions popts;
    popts.min_seconds = options_.plan_check_ms / 1e3;
    REFIT_ASSIGN_OR_RETURN(const std::vector<std::vector<double>> runs,
                           internal::TimeInTurns(timed, inputs.views, popts));
    const size_t pick = internal::KeepFastest(runs, kPlanCheckMinGain);
    std::vector<double> ms;
    for (const std::vector<double>& r : runs) ms.push_back(internal::Median(r));
    out_->stats.plans_timed = int(plans.size());
    out_->stats.notes.push_back("plan check: " + std::to_string(plans.size()) +
                                " layout plans timed end to end (median of " +
                                std::to_string(runs[0].size()) +
                                " runs each): " + describe(ms, pick));
    if (!options_.timing_cache_path.empty()) {
      tuner::CachedTiming entry;
      entry.tactic = std::to_string(pick);
      for (size_t p = 0; p < plans.size(); ++p) {
        entry.timings_us.emplace_back("plan " + std::to_string(p), ms[p] * 1e3);
      }
      cache_.Put(key, std::move(entry));
    }
    return pick;
  }

  // The engine of the pending layers' current choices, for the plan check: the finished layers'
  // packed weights shared (not copied), the pending ones packed afresh, every slot present.
  StatusOr<BuiltEngine> TrialBuild() {
    BuiltEngine trial;
    trial.plan = out_->plan;
    if (trial.plan.mode == EngineMode::kStripped) trial.plan.mode = EngineMode::kRefittable;
    for (WeightSlot& slot : trial.plan.slots) slot.stored = true;
    trial.slot_values.resize(trial.plan.slots.size());
    for (size_t s = 0; s < out_->slot_values.size(); ++s) {
      Tensor& v = out_->slot_values[s];
      if (v.defined())
        trial.slot_values[s] = Tensor::Wrap(v.dtype(), v.shape(), v.mutable_data(), nullptr);
    }
    for (size_t i = 0; i < trial.plan.layers.size(); ++i) {
      if (!pending_[i].finished) REFIT_RETURN_IF_ERROR(FinishLayer(i, &trial, /*release=*/false));
    }
    PlanMemoryLayout(&trial.plan);
    REFIT_RETURN_IF_ERROR(CollectSources(&trial.plan, nullptr));
    return trial;
  }

  // Instantiates layer `index`'s chosen tactic and packs its slots for it, into `into` (the
  // engine being built, or a plan check's trial). With `release`, the layer is finished: its
  // tactics and the recipes' values are freed.
  Status FinishLayer(size_t index, BuiltEngine* into, bool release) {
    PlanLayer& layer = into->plan.layers[index];
    Pending& pending = pending_[index];
    const ir::Node& node = layer.node;
    const backend::LayerDesc& desc = pending.desc;
    std::vector<SlotSource>& slot_sources = pending.slot_sources;
    const backend::Tactic& tactic = *pending.tactics[pending.chosen];
    layer.tactic = tactic.name();
    aliases_input_.resize(into->plan.layers.size());
    aliases_input_[index] = tactic.AliasesInput() && !layer.inputs.empty() &&
                            layer.inputs[0].kind == LayerInput::Kind::kValue &&
                            !layer.outputs.empty() && layer.outputs[0] >= 0;
    layer.features = tactic.required_features();
    REFIT_ASSIGN_OR_RETURN(std::unique_ptr<backend::Kernel> kernel, tactic.Instantiate());
    layer.workspace_bytes = kernel->workspace_bytes();
    into->plan.workspace_bytes = std::max(into->plan.workspace_bytes, layer.workspace_bytes);
    // Pack this layer's slots for the chosen tactic.
    const auto pack_start = Clock::now();
    into->slot_values.resize(into->plan.slots.size());
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (layer.inputs[i].kind != LayerInput::Kind::kSlot) continue;
      auto packed = tactic.PackWeight(i, slot_sources[i].value);
      if (!packed.ok()) {
        return packed.status().WithContext(desc.Label() + ", weight '" + node.inputs[i] + "'");
      }
      WeightSlot& slot = into->plan.slots[layer.inputs[i].index];
      slot.packed_dtype = packed->dtype();
      slot.packed_shape = packed->shape();
      into->slot_values[layer.inputs[i].index] = std::move(packed).value();
    }
    if (!release) return Status::Ok();
    out_->stats.packing_s += Seconds(pack_start);
    pending = Pending{};  // the tactics and the recipes' values are done with
    pending.finished = true;
    return Status::Ok();
  }

  void PlanMemoryLayout(Plan* plan_out) {
    Plan& plan = *plan_out;
    std::vector<BufferRequest> requests(plan.values.size());
    std::vector<bool> used(plan.values.size(), false);
    for (int32_t v : plan.inputs) requests[v] = {0, -1, -1};
    for (size_t l = 0; l < plan.layers.size(); ++l) {
      for (int32_t v : plan.layers[l].outputs) {
        if (v >= 0) requests[v] = {0, int32_t(l), int32_t(l)};
      }
      for (const LayerInput& in : plan.layers[l].inputs) {
        if (in.kind == LayerInput::Kind::kValue) requests[in.index].last = int32_t(l);
      }
    }
    for (int32_t v : plan.outputs) requests[v].last = int32_t(plan.layers.size());
    // Dynamic values live outside the arena: give them no bytes.
    for (size_t v = 0; v < plan.values.size(); ++v) {
      const PlanValue& pv = plan.values[v];
      requests[v].bytes =
          pv.dynamic ? 0 : uint64_t(pv.shape.NumElements()) * DataTypeSize(pv.dtype);
    }
    // A layer whose output is its input's bytes (a Reshape): the two are one buffer, live from
    // the first's write to the last read of either. Layers run in order, so an input's root is
    // final by the time a layer aliases it.
    std::vector<int32_t> root(plan.values.size());
    for (size_t v = 0; v < root.size(); ++v) root[v] = int32_t(v);
    for (size_t l = 0; l < plan.layers.size() && l < aliases_input_.size(); ++l) {
      if (!aliases_input_[l]) continue;
      const int32_t in = plan.layers[l].inputs[0].index, out = plan.layers[l].outputs[0];
      const int32_t r = root[in];  // chains (Unsqueeze then Reshape) join the first buffer
      if (plan.values[in].dynamic || plan.values[out].dynamic ||
          requests[r].bytes != requests[out].bytes) {
        continue;
      }
      root[out] = r;
      requests[r].first = std::min(requests[r].first, requests[out].first);
      requests[r].last = std::max(requests[r].last, requests[out].last);
      requests[out].bytes = 0;
    }
    MemoryPlan mem = PlanMemory(requests);
    plan.arena_bytes = mem.arena_bytes;
    for (size_t v = 0; v < plan.values.size(); ++v) {
      plan.values[v].offset = plan.values[v].dynamic ? -1 : int64_t(mem.offsets[root[v]]);
    }
  }

  // The features the plan's tactics need, and its refittable slots' source prototypes (with their
  // values into `sources`, when given).
  Status CollectSources(Plan* plan_out, std::vector<Tensor>* sources) {
    Plan& plan = *plan_out;
    cpu::CpuFeatures features;
    for (const PlanLayer& l : plan.layers) {
      REFIT_ASSIGN_OR_RETURN(cpu::CpuFeatures f, cpu::CpuFeatures::Parse(l.features));
      features = features.Union(f);
    }
    plan.required_features = features.ToString();
    for (const WeightSlot& slot : plan.slots) {
      if (!slot.refittable) continue;
      for (const std::string& src : slot.recipe.Sources()) {
        if (plan.FindSource(src) != nullptr) continue;
        const Tensor* w = prepared_.graph.FindWeight(src);
        if (w == nullptr) return Internal("slot '" + slot.name + "' reads unknown '" + src + "'");
        plan.sources.push_back({src, w->dtype(), w->shape()});
        if (sources != nullptr) sources->push_back(w->Clone());
      }
    }
    return Status::Ok();
  }

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

}  // namespace

StatusOr<BuiltEngine> BuildEngine(ir::Graph graph, const BuildOptions& options) {
  if (options.threads < 1) return InvalidArgument("threads must be at least 1");
  BuiltEngine out;
  Builder builder(options, &out);
  REFIT_RETURN_IF_ERROR(builder.Build(std::move(graph)));
  return out;
}

}  // namespace refit::engine
