// The builder's choice of tactics where layouts differ (builder_internal.h): the layout selection,
// then the plan check and the tactic check in trial engines.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>

#include "engine/builder_internal.h"
#include "engine/plan_check.h"

namespace refit::engine::internal {
namespace {

// The plan check runs only when the layout plans' packed weights, one copy per plan, fit in this
// many bytes.
constexpr uint64_t kPlanCheckMaxBytes = uint64_t{2} << 30;
// Another plan than the layout selection's is kept only when it runs at least this much faster
// end to end (internal::KeepFastest): smaller differences are the machine's noise.
constexpr double kPlanCheckMinGain = 0.03;
// The tactic check (BuildOptions::tactic_margin) keeps another tactic for a layer when the layer
// runs at least this much faster with it in the engine.
constexpr double kTacticCheckMinGain = 0.03;
// The thread check limits the engine to one thread when one thread runs it at least this much
// faster than all of them.
constexpr double kThreadCheckMinGain = 0.03;
// ... with a pause before each turn, so one thread does not run beside the spinning workers of
// the engine of all of them (which would favour the latter).
constexpr double kThreadCheckSettleMs = 5.0;
// Every check times a turn's run after this many milliseconds of runs, so the pool's threads are
// awake and running, as they are for an engine serving requests back to back (tiny_cnn, two
// threads: 0.30 ms a run two runs into a turn after a pause, 0.16 ms five milliseconds in, as
// `refit bench` measures it).
constexpr double kTurnWarmupMs = 5.0;

internal::PlanCheckOptions TurnOptions(const BuildOptions& options) {
  internal::PlanCheckOptions o;
  o.min_seconds = options.plan_check_ms / 1e3;
  o.turn_warmup_ms = kTurnWarmupMs;
  return o;
}

bool SameBlocks(const LayerBlocks& a, const LayerBlocks& b) {
  if (a.output != b.output) return false;
  for (size_t i = 0; i < std::max(a.inputs.size(), b.inputs.size()); ++i) {
    if (a.input(i) != b.input(i)) return false;
  }
  return true;
}

}  // namespace

Status Builder::SelectTactics() {
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

std::vector<std::string> Builder::TacticsOf(const std::vector<LayoutLayer>& layers,
                                            const LayoutPlan& plan) {
  ApplyPlan(layers, plan);
  return CurrentTactics();
}

std::vector<std::string> Builder::CurrentTactics() const {
  std::vector<std::string> names;
  for (size_t l = 0; l < pending_.size(); ++l) {
    names.push_back(pending_[l].finished ? out_->plan.layers[l].tactic
                                         : pending_[l].tactics[pending_[l].chosen]->name());
  }
  return names;
}

Status Builder::CheckThreads() {
  if (options_.threads < 2 || options_.plan_candidates < 2) return Status::Ok();
  const auto start = Clock::now();
  const std::string key = "thread check " + internal::PlanCheckKey(layer_keys_, {CurrentTactics()});
  const std::string all = std::to_string(options_.threads) + " threads";
  if (!options_.timing_cache_path.empty()) {
    const tuner::CachedTiming* hit = cache_.Find(key);
    if (hit != nullptr && (hit->tactic == "1" || hit->tactic == std::to_string(options_.threads))) {
      out_->plan.max_threads = hit->tactic == "1" ? 1 : 0;
      out_->stats.notes.push_back(std::string("thread check (from the timing cache): runs on ") +
                                  (hit->tactic == "1" ? "1 thread" : all));
      return Status::Ok();
    }
  }
  if (PendingWeightBytes() > kPlanCheckMaxBytes) {
    out_->stats.notes.push_back(
        "thread check skipped: a copy of the weights would take more than 2 GiB");
    return Status::Ok();
  }
  if (options_.progress) options_.progress("thread check: " + all + " against 1, end to end");
  REFIT_ASSIGN_OR_RETURN(BuiltEngine trial, TrialBuild());
  EngineOptions eopts;
  eopts.threads = options_.threads;
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> many, Engine::FromBuild(std::move(trial), eopts));
  eopts.threads = 1;
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> one, many->NewInstance(eopts));
  REFIT_ASSIGN_OR_RETURN(const internal::PlanInputs inputs,
                         internal::MakePlanInputs(out_->plan, options_.sample_inputs));
  internal::PlanCheckOptions popts = TurnOptions(options_);
  popts.settle_ms = kThreadCheckSettleMs;
  REFIT_ASSIGN_OR_RETURN(const std::vector<std::vector<double>> runs,
                         internal::TimeInTurns({many.get(), one.get()}, inputs.views, popts));
  const bool serial = internal::KeepFastest(runs, kThreadCheckMinGain) == 1;
  out_->plan.max_threads = serial ? 1 : 0;
  char text[192];
  std::snprintf(text, sizeof(text),
                "thread check: 1 thread %.3f ms against %s %.3f ms (%.3f of it, round by round): "
                "runs on %s",
                internal::Median(runs[1]), all.c_str(), internal::Median(runs[0]),
                internal::MedianRoundRatio(runs[0], runs[1]), serial ? "1 thread" : all.c_str());
  out_->stats.notes.push_back(text);
  out_->stats.threads_timed = true;
  out_->stats.plan_check_s += Seconds(start);
  if (!options_.timing_cache_path.empty()) {
    tuner::CachedTiming entry;
    entry.tactic = serial ? "1" : std::to_string(options_.threads);
    cache_.Put(key, std::move(entry));
  }
  return Status::Ok();
}

uint64_t Builder::PendingWeightBytes() const {
  uint64_t bytes = 0;
  for (const Pending& p : pending_) {
    for (const SlotSource& s : p.slot_sources) bytes += s.value.defined() ? s.value.nbytes() : 0;
  }
  return bytes;
}

StatusOr<std::unique_ptr<Engine>> Builder::TrialEngine(const std::vector<LayoutLayer>& layers,
                                                       const LayoutPlan& plan) {
  ApplyPlan(layers, plan);
  REFIT_ASSIGN_OR_RETURN(BuiltEngine trial, TrialBuild());
  EngineOptions eopts;
  eopts.threads = options_.threads;
  return Engine::FromBuild(std::move(trial), eopts);
}

StatusOr<LayoutPlan> Builder::CheckTactics(const std::vector<LayoutLayer>& layers,
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
  const internal::PlanCheckOptions popts = TurnOptions(options_);
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
      REFIT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> kept_engine, TrialEngine(layers, apply(kept)));
      REFIT_ASSIGN_OR_RETURN(
          runs, internal::TimeInTurns({base_engine.get(), kept_engine.get()}, inputs.views, popts));
    }
    if (internal::KeepFastest(runs, 0.0) != 1) {
      verdict = " (" + describe(kept) + " faster layer by layer, not end to end)";
      kept.clear();
    }
  }
  char ms[128];
  std::snprintf(ms, sizeof(ms), "; end to end %.3f ms against %.3f ms (%.3f of it, round by round)",
                internal::Median(runs[1]), internal::Median(runs[0]),
                internal::MedianRoundRatio(runs[0], runs[1]));
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

void Builder::ApplyPlan(const std::vector<LayoutLayer>& layers, const LayoutPlan& plan) {
  for (size_t l = 0; l < plan.chosen.size(); ++l) {
    if (!pending_[l].finished) pending_[l].chosen = layers[l].options[plan.chosen[l]].tactic;
  }
}

StatusOr<size_t> Builder::CheckPlans(const std::vector<LayoutLayer>& layers,
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
  const internal::PlanCheckOptions popts = TurnOptions(options_);
  REFIT_ASSIGN_OR_RETURN(const std::vector<std::vector<double>> runs,
                         internal::TimeInTurns(timed, inputs.views, popts));
  const size_t pick = internal::KeepFastest(runs, kPlanCheckMinGain);
  std::vector<double> ms;
  for (const std::vector<double>& r : runs) ms.push_back(internal::Median(r));
  out_->stats.plans_timed = int(plans.size());
  out_->stats.notes.push_back(
      "plan check: " + std::to_string(plans.size()) + " layout plans timed end to end (median of " +
      std::to_string(runs[0].size()) + " runs each): " + describe(ms, pick));
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

}  // namespace refit::engine::internal
