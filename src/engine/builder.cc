#include "engine/builder.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "backend/cpu/cpu_features.h"
#include "engine/builder_internal.h"
#include "engine/memory_planner.h"

namespace refit::engine {
namespace internal {

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

Status Builder::Build(ir::Graph graph) {
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
  REFIT_RETURN_IF_ERROR(CheckThreads());
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    if (!pending_[i].finished) REFIT_RETURN_IF_ERROR(FinishLayer(i, out_, /*release=*/true));
  }
  PlanMemoryLayout(&plan);
  REFIT_RETURN_IF_ERROR(CollectSources(&plan, options_.keep_sources ? &out_->sources : nullptr));
  if (!options_.timing_cache_path.empty() &&
      (out_->stats.timed_layers > 0 || out_->stats.plans_timed > 0 || out_->stats.threads_timed)) {
    REFIT_RETURN_IF_ERROR(cache_.Save(options_.timing_cache_path));
  }
  out_->stats.layers = int(plan.layers.size());
  out_->stats.total_s = Seconds(start);
  return Status::Ok();
}

int32_t Builder::AddValue(const std::string& name) {
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

StatusOr<SlotSource> Builder::WeightInput(const std::string& name) {
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

Status Builder::AddLayer(const ir::Node& node, size_t index) {
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
      desc.inputs.push_back({slot_sources[i].value.dtype(), slot_sources[i].value.shape(), false});
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
  auto tuned = tuner::TuneLayer(desc, weight_values, tactics, chosen_backend->fingerprint(), topts);
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

StatusOr<BuiltEngine> Builder::TrialBuild() {
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

Status Builder::FinishLayer(size_t index, BuiltEngine* into, bool release) {
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

void Builder::PlanMemoryLayout(Plan* plan_out) {
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
    requests[v].bytes = pv.dynamic ? 0 : uint64_t(pv.shape.NumElements()) * DataTypeSize(pv.dtype);
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

Status Builder::CollectSources(Plan* plan_out, std::vector<Tensor>* sources) {
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

}  // namespace internal

StatusOr<BuiltEngine> BuildEngine(ir::Graph graph, const BuildOptions& options) {
  if (options.threads < 1) return InvalidArgument("threads must be at least 1");
  BuiltEngine out;
  internal::Builder builder(options, &out);
  REFIT_RETURN_IF_ERROR(builder.Build(std::move(graph)));
  return out;
}

}  // namespace refit::engine
