#include "refit/mutable_model.h"

#include <chrono>
#include <mutex>

#include "cache/engine_cache.h"
#include "cache/memory_tier.h"
#include "engine/builder.h"
#include "engine/engine.h"
#include "frontend/onnx/importer.h"
#include "model/model_weights.h"
#include "refit/lora.h"
#include "refit/safetensors.h"

namespace refit {
namespace {

using Clock = std::chrono::steady_clock;
using model::TensorPtr;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// An engine for one key and the weight values it holds.
struct HeldEngine {
  std::shared_ptr<engine::Engine> engine;
  std::map<std::string, TensorPtr> applied;
  uint64_t last_used = 0;  // State::clock when it last served a run
};

}  // namespace

const char* RunPathName(RunPath path) {
  switch (path) {
    case RunPath::kNone:
      return "none";
    case RunPath::kRefit:
      return "refit";
    case RunPath::kCacheHit:
      return "cache hit";
    case RunPath::kRebuild:
      return "rebuild";
  }
  return "?";
}

struct MutableModel::State {
  MutableModelOptions options;
  std::mutex mu;  // guards everything below; runs themselves happen outside it
  std::string path;
  // Structure and weights: the non-float ones, and for each float one a placeholder of its dtype
  // and shape without data (the values live in `weights`). Enough for a cache key, which never
  // reads float values; GraphWithWeights fills the placeholders in for a build.
  ir::Graph graph;
  std::unique_ptr<model::ModelWeights> weights;
  std::unique_ptr<cache::EngineCache> cache;
  std::map<std::string, HeldEngine> engines;  // by cache key, at most options.max_engines
  uint64_t clock = 0;                         // ticks once per prepared run
  cache::GraphDigest digest;                  // of `graph`, for its cache keys
  std::map<std::string, std::string> keys;    // input shapes -> cache key (structure is fixed)

  Status Load(const std::string& onnx_path) {
    REFIT_ASSIGN_OR_RETURN(ir::Graph g, onnx_frontend::ImportOnnxFile(onnx_path));
    auto w = std::make_unique<model::ModelWeights>(&g);
    for (const auto& [name, t] : w->effective()) {
      g.weights.emplace(name, Tensor::Wrap(t->dtype(), t->shape(), nullptr, nullptr));
    }
    // Keys are per input shapes; what they hash of the graph itself is hashed once, here.
    digest = cache::DigestGraph(g);
    path = onnx_path;
    graph = std::move(g);
    weights = std::move(w);
    keys.clear();
    return Status::Ok();
  }

  engine::BuildOptions BuildOptionsFor(const std::map<std::string, TensorView>& inputs) const {
    engine::BuildOptions b;
    b.mode = engine::EngineMode::kRefittable;
    b.threads = options.threads;
    b.min_timing_runs = options.min_timing_runs;
    b.min_timing_ms = options.min_timing_ms;
    b.plan_check_ms = options.plan_check_ms;
    for (const auto& [name, view] : inputs) b.input_shapes[name] = view.shape().dims();
    return b;
  }

  // A tensor sharing `t`'s bytes and keeping it alive.
  static Tensor View(const TensorPtr& t) {
    auto owner = std::const_pointer_cast<Tensor>(t);
    return Tensor::Wrap(t->dtype(), t->shape(), owner->mutable_data(),
                        std::shared_ptr<void>(owner));
  }

  // The graph with the current effective weights (shared, not copied) for a build.
  ir::Graph GraphWithWeights() const {
    ir::Graph g;
    g.name = graph.name;
    g.opset = graph.opset;
    g.inputs = graph.inputs;
    g.outputs = graph.outputs;
    g.nodes = graph.nodes;
    g.value_infos = graph.value_infos;
    g.derived_weights = graph.derived_weights;
    const auto& effective = weights->effective();
    for (const auto& [name, t] : graph.weights) {
      auto e = effective.find(name);  // every placeholder has an effective value
      g.weights.emplace(name, e != effective.end() ? View(e->second) : t.Clone());
    }
    return g;
  }

  // Refits `held` with every effective value it does not hold yet (and the other sources of the
  // slots those touch). Returns the report, its `weights` counting the changed values only (zero
  // when nothing was dirty).
  StatusOr<RefitReport> BringUpToDate(HeldEngine& held) {
    Refitter refitter(held.engine.get(), RefitterOptions{options.threads, ""});
    const auto& effective = weights->effective();
    for (const WeightPrototype& p : refitter.weights()) {
      auto it = effective.find(p.name);
      if (it == effective.end()) continue;  // not a float weight: the build's value stays
      auto applied = held.applied.find(p.name);
      if (applied != held.applied.end() && applied->second == it->second) continue;
      REFIT_RETURN_IF_ERROR(refitter.SetWeight(p.name, it->second));
    }
    const int dirty = int(refitter.Pending().size());
    if (dirty == 0) return RefitReport{};
    for (const std::string& name : refitter.Missing()) {
      auto it = effective.find(name);
      if (it == effective.end()) return Internal("refit needs '" + name + "', not a float weight");
      REFIT_RETURN_IF_ERROR(refitter.SetWeight(name, it->second));
    }
    const std::vector<std::string> pending = refitter.Pending();
    REFIT_ASSIGN_OR_RETURN(RefitReport report, refitter.Apply());
    for (const std::string& name : pending) held.applied[name] = effective.at(name);
    report.weights = dirty;  // the edited weights, not the others their slots also read
    return report;
  }

  // The engine for `inputs`' shapes, brought up to date; `info` says how.
  StatusOr<std::shared_ptr<engine::Engine>> Prepare(const std::map<std::string, TensorView>& inputs,
                                                    RunInfo* info) {
    const auto start = Clock::now();
    const engine::BuildOptions build_options = BuildOptionsFor(inputs);
    // The key depends on the structure and the input shapes only: computed once per shapes.
    std::string shapes;
    for (const auto& [name, dims] : build_options.input_shapes) {
      shapes += name + ":" + Shape(dims).ToString() + ";";
    }
    auto memo = keys.find(shapes);
    if (memo == keys.end()) {
      memo = keys.emplace(shapes, cache::CacheKey(digest, graph, build_options)).first;
    }
    const std::string key = memo->second;
    info->cache_key = key;
    auto found = engines.find(key);
    if (found == engines.end()) {
      engine::EngineOptions eo;
      eo.threads = options.threads;
      HeldEngine held;
      // The graph is copied only when a build happens: a cache hit needs the key alone.
      auto build = [&]() -> StatusOr<engine::BuiltEngine> {
        return engine::BuildEngine(GraphWithWeights(), build_options);
      };
      cache::MemoryTier* tier =
          cache != nullptr && options.memory_tier ? &cache::MemoryTier::Process() : nullptr;
      if (tier != nullptr) {
        REFIT_ASSIGN_OR_RETURN(held.engine, tier->Instance(key, eo));
      }
      if (held.engine != nullptr) {
        info->path = RunPath::kCacheHit;
        info->cache_tier = "memory";
      } else if (cache != nullptr) {
        REFIT_ASSIGN_OR_RETURN(cache::CacheResult r, cache->GetOrBuild(key, build, eo));
        held.engine = std::move(r.engine);
        const bool hit = r.outcome == cache::CacheOutcome::kHit;
        info->path = hit ? RunPath::kCacheHit : RunPath::kRebuild;
        if (hit) info->cache_tier = "disk";
        if (tier != nullptr) REFIT_RETURN_IF_ERROR(tier->Put(key, *held.engine));
      } else {
        REFIT_ASSIGN_OR_RETURN(engine::BuiltEngine built, build());
        REFIT_ASSIGN_OR_RETURN(held.engine, engine::Engine::FromBuild(std::move(built), eo));
        info->path = RunPath::kRebuild;
      }
      // A fresh build holds the effective values it was built from; a cache entry holds none.
      if (info->path == RunPath::kRebuild) held.applied = weights->effective();
      // Room for it: the least recently run engine goes (runs in flight keep their shared_ptr).
      while (!engines.empty() && int(engines.size()) >= std::max(1, options.max_engines)) {
        auto oldest = engines.begin();
        for (auto it = engines.begin(); it != engines.end(); ++it) {
          if (it->second.last_used < oldest->second.last_used) oldest = it;
        }
        engines.erase(oldest);
      }
      found = engines.emplace(key, std::move(held)).first;
    } else {
      info->path = RunPath::kNone;
    }
    found->second.last_used = ++clock;
    REFIT_ASSIGN_OR_RETURN(RefitReport report, BringUpToDate(found->second));
    if (report.weights > 0 && info->path == RunPath::kNone) info->path = RunPath::kRefit;
    info->weights_refitted = report.weights;
    info->slots_refitted = report.slots;
    info->prepare_seconds = info->path == RunPath::kNone ? 0 : SecondsSince(start);
    return found->second.engine;
  }
};

MutableModel::MutableModel(std::unique_ptr<State> state) : state_(std::move(state)) {}
MutableModel::~MutableModel() = default;

StatusOr<std::unique_ptr<MutableModel>> MutableModel::Open(const std::string& onnx_path,
                                                           const MutableModelOptions& options) {
  if (options.threads < 1) return InvalidArgument("MutableModel: threads must be at least 1");
  auto state = std::make_unique<State>();
  state->options = options;
  REFIT_RETURN_IF_ERROR(state->Load(onnx_path));
  if (!options.cache_dir.empty()) {
    REFIT_ASSIGN_OR_RETURN(state->cache,
                           cache::EngineCache::Open(options.cache_dir, options.cache_max_bytes));
  }
  return std::unique_ptr<MutableModel>(new MutableModel(std::move(state)));
}

std::vector<WeightPrototype> MutableModel::weights() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->weights->prototypes();
}

Status MutableModel::SetWeight(const std::string& name, const TensorView& value) {
  REFIT_ASSIGN_OR_RETURN(Tensor copy, Tensor::CopyOf(value));
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->weights->Set({{name, std::make_shared<const Tensor>(std::move(copy))}},
                              "SetWeight");
}

Status MutableModel::LoadStateDict(const std::string& path) {
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
  std::lock_guard<std::mutex> lock(state_->mu);
  std::map<std::string, TensorPtr> values;
  for (const std::string& name : file->names()) {
    if (state_->weights->Find(name) == nullptr) continue;  // buffers, other tensors
    REFIT_ASSIGN_OR_RETURN(Tensor t, file->GetTensor(name));
    values[name] = std::make_shared<const Tensor>(std::move(t));
  }
  if (values.empty()) {
    return InvalidArgument("state dict '" + path + "' names none of the model's " +
                           std::to_string(state_->weights->prototypes().size()) +
                           " weights: is it for another model?");
  }
  return state_->weights->Set(values, "state dict '" + path + "'");
}

Status MutableModel::LoadLora(const std::string& path, float scale, const std::string& name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  REFIT_ASSIGN_OR_RETURN(LoraAdapter adapter, LoadLoraAdapter(path, state_->weights->prototypes()));
  return state_->weights->LoadLora(name.empty() ? path : name,
                                   std::make_shared<const LoraAdapter>(std::move(adapter)), scale);
}

Status MutableModel::SetLoraScale(const std::string& name, float scale) {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->weights->SetLoraScale(name, scale);
}

Status MutableModel::UnloadLora(const std::string& name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->weights->UnloadLora(name);
}

Status MutableModel::ReplaceModel(const std::string& onnx_path) {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->Load(onnx_path);
}

StatusOr<std::map<std::string, Tensor>> MutableModel::Run(
    const std::map<std::string, TensorView>& inputs, RunInfo* info) {
  RunInfo local;
  RunInfo* out = info != nullptr ? info : &local;
  *out = RunInfo{};
  std::shared_ptr<engine::Engine> engine;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto prepared = state_->Prepare(inputs, out);
    if (!prepared.ok()) return prepared.status().WithContext("model '" + state_->path + "'");
    engine = std::move(prepared).value();
  }
  const auto start = Clock::now();
  auto outputs = engine->Run(inputs);
  out->run_seconds = SecondsSince(start);
  return outputs;
}

}  // namespace refit
