#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <new>

#include "backend/cpu/cpu_backend.h"
#include "backend/reference/reference_backend.h"
#include "engine/layout_select.h"

namespace refit::engine {
namespace {

struct AlignedFree {
  void operator()(char* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
using AlignedBytes = std::unique_ptr<char[], AlignedFree>;
AlignedBytes AllocateAligned(uint64_t bytes) {
  return AlignedBytes(new (std::align_val_t(64)) char[bytes + 64]);
}

}  // namespace

struct Engine::Context {
  AlignedBytes arena;
  AlignedBytes workspace;
  std::vector<Tensor> values;  // static values wrap the arena; dynamic ones are owned per run
  std::vector<backend::KernelIo> ios;
  std::shared_ptr<const WeightSet> bound;  // the set `ios` points into
};

Engine::Engine() : core_(std::make_shared<Core>()) {
  static std::atomic<uint64_t> next_id{1};
  core_->id = next_id.fetch_add(1, std::memory_order_relaxed);
}
Engine::Engine(std::shared_ptr<Core> core) : core_(std::move(core)) {}
Engine::~Engine() = default;

Status Engine::Init(const EngineOptions& options) {
  if (options.threads < 1) return InvalidArgument("threads must be at least 1");
  cpu::SetOpenMpThreads(1);  // as the builder did (cpu_backend.h)
  std::unique_ptr<backend::Backend> cpu = cpu::CreateCpuBackend();
  std::unique_ptr<backend::Backend> ref = reference::CreateReferenceBackend();
  core_->descs.resize(core_->plan.layers.size());
  for (size_t l = 0; l < core_->plan.layers.size(); ++l) {
    const PlanLayer& layer = core_->plan.layers[l];
    backend::LayerDesc& desc = core_->descs[l];
    desc.node = &layer.node;
    desc.opset = core_->plan.opset;
    desc.inputs.reserve(layer.inputs.size());
    desc.weight.reserve(layer.inputs.size());
    desc.outputs.reserve(layer.outputs.size());
    for (const LayerInput& in : layer.inputs) {
      if (in.kind == LayerInput::Kind::kValue) {
        const PlanValue& v = core_->plan.values[in.index];
        desc.inputs.push_back({v.dtype, v.shape, v.dynamic});
        desc.weight.push_back(false);
      } else if (in.kind == LayerInput::Kind::kSlot) {
        const WeightSlot& s = core_->plan.slots[in.index];
        desc.inputs.push_back({s.dtype, s.shape, false});
        desc.weight.push_back(true);
      } else {
        desc.inputs.emplace_back();
        desc.weight.push_back(false);
      }
    }
    for (int32_t o : layer.outputs) {
      if (o < 0) {
        desc.outputs.emplace_back();
      } else {
        const PlanValue& v = core_->plan.values[o];
        desc.outputs.push_back({v.dtype, v.shape, v.dynamic});
      }
    }
    const backend::Backend* b = layer.backend == "cpu"         ? cpu.get()
                                : layer.backend == "reference" ? ref.get()
                                                               : nullptr;
    if (b == nullptr) {
      return DataLoss(core_->label + ": " + desc.Label() + " names unknown backend '" +
                      layer.backend + "'");
    }
    auto tactic = b->FindTactic(desc, layer.tactic);
    if (!tactic.ok()) return tactic.status().WithContext(core_->label);
    auto kernel = (*tactic)->Instantiate();
    if (!kernel.ok()) return kernel.status().WithContext(core_->label + ": " + desc.Label());
    // The scratch a kernel needs can depend on the thread count (oneDNN's scratchpad does), so it
    // is taken from the kernels as instantiated here, not from the plan.
    core_->workspace_bytes =
        std::max<uint64_t>(core_->workspace_bytes, (*kernel)->workspace_bytes());
    // Kernels trust a slot's packed size: check each slot against what this tactic packs to,
    // so a plan that lies about a packed shape is refused instead of read past.
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      if (layer.inputs[i].kind != LayerInput::Kind::kSlot) continue;
      const WeightSlot& slot = core_->plan.slots[layer.inputs[i].index];
      auto packed = (*tactic)->PackedType(i, desc.inputs[i]);
      if (!packed.ok())
        return packed.status().WithContext(core_->label + ": slot '" + slot.name + "'");
      if (packed->dtype != slot.packed_dtype || packed->shape != slot.packed_shape) {
        return DataLoss(core_->label + ": slot '" + slot.name + "' has packed shape " +
                        std::string(DataTypeName(slot.packed_dtype)) +
                        slot.packed_shape.ToString() + " in the plan, but tactic '" + layer.tactic +
                        "' packs " + std::string(DataTypeName(packed->dtype)) +
                        packed->shape.ToString());
      }
    }
    core_->tactics.push_back(std::move(tactic).value());
    core_->kernels.push_back(std::move(kernel).value());
  }
  // Layers that hand each other channel-blocked activations must agree on them.
  std::vector<LayerBlocks> blocks;
  for (size_t l = 0; l < core_->tactics.size(); ++l) {
    blocks.push_back(BlocksOf(*core_->tactics[l], core_->plan.layers[l].inputs.size()));
  }
  REFIT_RETURN_IF_ERROR(CheckLayouts(core_->plan, blocks, core_->label));
  MakePool(options);
  IndexRefitMap();
  return Status::Ok();
}

void Engine::MakePool(const EngineOptions& options) {
  const int limit = core_->plan.max_threads;
  const int threads = limit > 0 ? std::min(options.threads, limit) : options.threads;
  pool_ = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
}

StatusOr<std::unique_ptr<Engine>> Engine::FromBuild(BuiltEngine built,
                                                    const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine());
  e->core_->label = "engine for '" + built.plan.model_name + "'";
  e->core_->metadata = EngineMetadata(built);
  e->core_->plan = std::move(built.plan);
  auto ws = std::make_shared<WeightSet>();
  ws->owner = e->core_->id;
  for (Tensor& t : built.slot_values)
    ws->slots.push_back(std::make_shared<const Tensor>(std::move(t)));
  if (ws->slots.size() != e->core_->plan.slots.size()) return Internal("slot count mismatch");
  // A stripped build keeps only its constants, as the file would.
  for (size_t s = 0; s < ws->slots.size(); ++s) {
    if (!e->core_->plan.slots[s].stored) ws->slots[s] = nullptr;
  }
  e->weights_ = std::move(ws);
  if (!built.sources.empty()) {
    auto sources = std::make_shared<SourceSet>();
    for (Tensor& t : built.sources)
      sources->tensors.push_back(std::make_shared<const Tensor>(std::move(t)));
    e->kept_sources_ = std::move(sources);
  }
  REFIT_RETURN_IF_ERROR(e->Init(options));
  if (e->kept_sources_ != nullptr) REFIT_RETURN_IF_ERROR(e->SetKeptSources(e->kept_sources_));
  return e;
}

StatusOr<std::unique_ptr<Engine>> Engine::NewInstance(const EngineOptions& options) const {
  if (options.threads < 1) return InvalidArgument("threads must be at least 1");
  std::unique_ptr<Engine> e(new Engine(core_));
  e->MakePool(options);
  e->weights_ = weights();
  e->kept_sources_ = kept_sources();
  return e;
}

Status Engine::CheckInputs(const std::map<std::string, TensorView>& inputs) const {
  for (int32_t v : core_->plan.inputs) {
    const PlanValue& pv = core_->plan.values[v];
    auto it = inputs.find(pv.name);
    if (it == inputs.end())
      return InvalidArgument(core_->label + ": missing input '" + pv.name + "'");
    if (it->second.dtype() != pv.dtype || it->second.shape() != pv.shape) {
      return InvalidArgument(core_->label + ": input '" + pv.name + "' is " +
                             std::string(DataTypeName(it->second.dtype())) +
                             it->second.shape().ToString() + ", the engine was built for " +
                             std::string(DataTypeName(pv.dtype)) + pv.shape.ToString() +
                             " (rebuild with --input " + pv.name + ":DIMxDIM...)");
    }
    if (it->second.data() == nullptr && it->second.nbytes() > 0) {
      return InvalidArgument(core_->label + ": input '" + pv.name + "' has no data");
    }
  }
  for (const auto& [name, _] : inputs) {
    bool known = false;
    for (int32_t v : core_->plan.inputs) known = known || core_->plan.values[v].name == name;
    if (!known)
      return InvalidArgument(core_->label + ": '" + name + "' is not an input of the engine");
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Engine::Context>> Engine::NewContext() const {
  auto ctx = std::make_unique<Context>();
  ctx->arena = AllocateAligned(core_->plan.arena_bytes);
  ctx->workspace = AllocateAligned(core_->workspace_bytes);
  ctx->values.resize(core_->plan.values.size());
  for (size_t v = 0; v < core_->plan.values.size(); ++v) {
    const PlanValue& pv = core_->plan.values[v];
    if (!pv.dynamic) {
      ctx->values[v] = Tensor::Wrap(pv.dtype, pv.shape, ctx->arena.get() + pv.offset, nullptr);
    }
  }
  ctx->ios.resize(core_->plan.layers.size());
  for (size_t l = 0; l < core_->plan.layers.size(); ++l) {
    const PlanLayer& layer = core_->plan.layers[l];
    backend::KernelIo& io = ctx->ios[l];
    for (const LayerInput& in : layer.inputs) {
      io.inputs.push_back(in.kind == LayerInput::Kind::kValue ? &ctx->values[in.index] : nullptr);
    }
    for (int32_t o : layer.outputs) io.outputs.push_back(o >= 0 ? &ctx->values[o] : nullptr);
    io.workspace = ctx->workspace.get();
    io.pool = pool_.get();
  }
  return ctx;
}

std::unique_ptr<Engine::Context> Engine::AcquireContext() const {
  std::lock_guard<std::mutex> lock(contexts_mu_);
  if (free_contexts_.empty()) return nullptr;
  std::unique_ptr<Context> ctx = std::move(free_contexts_.back());
  free_contexts_.pop_back();
  return ctx;
}

void Engine::ReleaseContext(std::unique_ptr<Context> ctx) const {
  std::lock_guard<std::mutex> lock(contexts_mu_);
  free_contexts_.push_back(std::move(ctx));
}

StatusOr<std::map<std::string, Tensor>> Engine::Run(const std::map<std::string, TensorView>& inputs,
                                                    std::vector<double>* layer_us) const {
  return RunWith(weights(), inputs, layer_us);
}

StatusOr<std::map<std::string, Tensor>> Engine::RunVariant(
    const std::string& variant, const std::map<std::string, TensorView>& inputs,
    std::vector<double>* layer_us) const {
  std::shared_ptr<const WeightSet> ws = weights(variant);
  if (ws == nullptr) return NotFound(core_->label + " has no weight variant '" + variant + "'");
  return RunWith(std::move(ws), inputs, layer_us);
}

StatusOr<std::map<std::string, Tensor>> Engine::RunWith(
    std::shared_ptr<const WeightSet> ws, const std::map<std::string, TensorView>& inputs,
    std::vector<double>* layer_us) const {
  REFIT_RETURN_IF_ERROR(CheckInputs(inputs));
  if (!ws->complete()) {
    return FailedPrecondition(core_->label +
                              " is a stripped engine without weights: supply them (" +
                              "refit run ENGINE --weights W.safetensors)");
  }
  std::unique_ptr<Context> ctx = AcquireContext();
  if (ctx == nullptr) {
    REFIT_ASSIGN_OR_RETURN(ctx, NewContext());
  }
  if (ctx->bound != ws) {
    for (size_t l = 0; l < core_->plan.layers.size(); ++l) {
      const PlanLayer& layer = core_->plan.layers[l];
      for (size_t i = 0; i < layer.inputs.size(); ++i) {
        if (layer.inputs[i].kind == LayerInput::Kind::kSlot) {
          ctx->ios[l].inputs[i] = ws->slots[layer.inputs[i].index].get();
        }
      }
    }
    ctx->bound = ws;
  }
  for (int32_t v : core_->plan.inputs) {
    const TensorView& in = inputs.at(core_->plan.values[v].name);
    if (in.nbytes() > 0) std::memcpy(ctx->values[v].mutable_data(), in.data(), in.nbytes());
  }
  for (size_t v = 0; v < core_->plan.values.size(); ++v) {
    if (core_->plan.values[v].dynamic) ctx->values[v] = Tensor();
  }
  Status status = Status::Ok();
  if (layer_us != nullptr) layer_us->assign(core_->plan.layers.size(), 0.0);
  for (size_t l = 0; l < core_->plan.layers.size() && status.ok(); ++l) {
    const auto start = layer_us != nullptr ? std::chrono::steady_clock::now()
                                           : std::chrono::steady_clock::time_point();
    status = core_->kernels[l]->Run(ctx->ios[l]);
    if (layer_us != nullptr) {
      (*layer_us)[l] =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count();
    }
    if (!status.ok() && status.message().rfind("node '", 0) != 0) {
      status = status.WithContext(core_->descs[l].Label());
    }
  }
  std::map<std::string, Tensor> outputs;
  for (size_t o = 0; o < core_->plan.outputs.size() && status.ok(); ++o) {
    const Tensor& value = ctx->values[core_->plan.outputs[o]];
    auto copy = Tensor::CopyOf(value.view());
    if (!copy.ok()) {
      status = copy.status();
      break;
    }
    std::string name = core_->plan.values[core_->plan.outputs[o]].name;
    // Outputs that the builder routed through an Identity keep the graph's name.
    const std::string suffix = ":refit_output";
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      name.resize(name.size() - suffix.size());
    }
    outputs[name] = std::move(copy).value();
  }
  ReleaseContext(std::move(ctx));
  if (!status.ok()) return status.WithContext(core_->label);
  return outputs;
}

}  // namespace refit::engine
