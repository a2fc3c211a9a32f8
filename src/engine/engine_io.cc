// Engine files: writing a built engine, and loading one with every check before any use.
#include <cstring>

#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_features.h"
#include "engine/engine.h"
#include "engine/engine_file.h"

namespace refit::engine {
namespace {

using Json = nlohmann::json;
constexpr uint64_t kWeightsAlignment = 4096;

Json TypeList(const Plan& plan, const std::vector<int32_t>& values) {
  Json out = Json::array();
  for (int32_t v : values) {
    const PlanValue& pv = plan.values[v];
    out.push_back({{"name", pv.name},
                   {"dtype", std::string(DataTypeName(pv.dtype))},
                   {"shape", pv.shape.dims()}});
  }
  return out;
}

Status CheckCpu(const Plan& plan, const std::string& label) {
  cpu::CpuFeatures needed;
  for (const PlanLayer& layer : plan.layers) {
    auto f = cpu::CpuFeatures::Parse(layer.features);
    if (!f.ok()) return f.status().WithContext(label + ": layer '" + layer.node.name + "'");
    needed = needed.Union(*f);
  }
  const cpu::CpuFeatures& here = cpu::DetectCpuFeatures();
  if (!here.Covers(needed)) {
    return FailedPrecondition(label + ": the engine was tuned for a CPU with '" +
                              needed.ToString() + "'; this CPU lacks '" + here.Missing(needed) +
                              "'. Rebuild the engine on this machine.");
  }
  return Status::Ok();
}

// Where source i lies in the sources section: sources in plan order, each 64-byte aligned.
std::vector<uint64_t> SourceOffsets(const Plan& plan, uint64_t* total) {
  std::vector<uint64_t> offsets;
  uint64_t end = 0;
  for (const SourcePrototype& p : plan.sources) {
    end = (end + 63) / 64 * 64;
    offsets.push_back(end);
    end += uint64_t(p.shape.NumElements()) * DataTypeSize(p.dtype);
  }
  *total = end;
  return offsets;
}

// The file for `plan` with one packed tensor per slot (null where the mode stores nothing), the
// kept source weights (null: none) and the metadata `meta` (producer, format version and mode are
// set here). The weights and sources sections borrow the tensors' bytes: they must outlive the
// writer's Serialize or WriteTo.
// `tactics` and `refit_map`: the sections' bytes as a loaded file held them (they depend on
// neither the mode nor the weights), or empty to serialize them from `plan`.
StatusOr<EngineFileWriter> WriteEngine(Plan plan, const std::vector<const Tensor*>& slots,
                                       const SourceSet* sources, Json meta,
                                       std::string_view tactics = {},
                                       std::string_view refit_map = {}) {
  if (slots.size() != plan.slots.size()) return Internal("slot count mismatch");
  std::vector<EngineFileWriter::Chunk> weights;
  uint64_t size = 0;
  for (size_t s = 0; s < plan.slots.size(); ++s) {
    WeightSlot& slot = plan.slots[s];
    slot.offset = 0;
    if (!slot.stored) continue;
    const Tensor* t = slots[s];
    if (t == nullptr) return FailedPrecondition("weight slot '" + slot.name + "' has no value");
    if (t->dtype() != slot.packed_dtype || t->shape() != slot.packed_shape) {
      return Internal("slot '" + slot.name + "': packed tensor does not match the plan");
    }
    size = (size + 63) / 64 * 64;
    slot.offset = size;
    weights.push_back({size, std::string_view(static_cast<const char*>(t->data()), t->nbytes())});
    size += t->nbytes();
  }
  meta["producer"] = kEngineProducer;
  meta["format_version"] = kEngineFormatVersion;
  meta["mode"] = std::string(EngineModeName(plan.mode));
  EngineFileWriter writer;
  writer.AddSection(SectionKind::kMetadata, meta.dump());
  writer.AddSection(SectionKind::kPlan, SerializePlan(plan));
  writer.AddSection(SectionKind::kTactics,
                    tactics.empty() ? SerializeTactics(plan) : std::string(tactics));
  if (plan.mode != EngineMode::kStatic) {
    writer.AddSection(SectionKind::kRefitMap,
                      refit_map.empty() ? SerializeRefitMap(plan) : std::string(refit_map));
  }
  writer.AddSection(SectionKind::kWeights, std::move(weights), size, kWeightsAlignment);
  if (sources != nullptr && plan.mode == EngineMode::kRefittable) {
    if (sources->tensors.size() != plan.sources.size()) return Internal("source count mismatch");
    uint64_t total = 0;
    const std::vector<uint64_t> offsets = SourceOffsets(plan, &total);
    std::vector<EngineFileWriter::Chunk> chunks;
    for (size_t i = 0; i < offsets.size(); ++i) {
      const Tensor& t = *sources->tensors[i];
      chunks.push_back(
          {offsets[i], std::string_view(static_cast<const char*>(t.data()), t.nbytes())});
    }
    writer.AddSection(SectionKind::kSources, std::move(chunks), total, kWeightsAlignment);
  }
  return writer;
}

}  // namespace

std::string EngineMetadata(const BuiltEngine& built) {
  const Plan& plan = built.plan;
  const BuildStats& st = built.stats;
  const Json meta = {
      {"model", plan.model_name},
      {"opset", plan.opset},
      {"features", plan.required_features},
      {"inputs", TypeList(plan, plan.inputs)},
      {"outputs", TypeList(plan, plan.outputs)},
      {"build",
       {{"seconds", st.total_s},
        {"passes_seconds", st.passes_s},
        {"tuning_seconds", st.tuning_s},
        {"packing_seconds", st.packing_s},
        {"layers", st.layers},
        {"cpu_layers", st.cpu_layers},
        {"reference_layers", st.reference_layers},
        {"tactics_timed", st.tactics_timed},
        {"timing_cache_hits", st.cache_hits},
        {"plans_timed", st.plans_timed},
        {"plan_check_seconds", st.plan_check_s},
        {"notes", st.notes}}},
  };
  // Names come from the model file: replace invalid UTF-8 rather than throw.
  return meta.dump(1, ' ', false, Json::error_handler_t::replace);
}

namespace {
// The writer for a build's file; it borrows `built`'s tensors and `*sources` (filled here).
StatusOr<EngineFileWriter> BuiltWriter(const BuiltEngine& built, SourceSet* sources) {
  const Plan& plan = built.plan;
  Json meta = Json::parse(EngineMetadata(built), nullptr, /*allow_exceptions=*/false);
  std::vector<const Tensor*> slots;
  for (const Tensor& t : built.slot_values) slots.push_back(&t);
  for (const Tensor& t : built.sources) {
    sources->tensors.push_back(std::shared_ptr<const Tensor>(&t, [](const Tensor*) {}));
  }
  return WriteEngine(plan, slots, built.sources.empty() ? nullptr : sources, std::move(meta));
}
}  // namespace

StatusOr<std::string> SerializeEngine(const BuiltEngine& built) {
  SourceSet sources;
  REFIT_ASSIGN_OR_RETURN(EngineFileWriter writer, BuiltWriter(built, &sources));
  return writer.Serialize();
}

StatusOr<uint64_t> WriteEngineFile(const BuiltEngine& built, const std::string& path) {
  SourceSet sources;
  REFIT_ASSIGN_OR_RETURN(EngineFileWriter writer, BuiltWriter(built, &sources));
  return writer.WriteTo(path);
}

StatusOr<std::string> Engine::Serialize(EngineMode mode, std::shared_ptr<const WeightSet> weights,
                                        std::shared_ptr<const SourceSet> sources) const {
  if (weights == nullptr) weights = this->weights();
  if (sources == nullptr) sources = kept_sources();
  REFIT_ASSIGN_OR_RETURN(EngineFileWriter writer, Writer(mode, weights, sources));
  return writer.Serialize();
}

StatusOr<uint64_t> Engine::WriteFile(const std::string& path, EngineMode mode,
                                     std::shared_ptr<const WeightSet> weights,
                                     std::shared_ptr<const SourceSet> sources) const {
  if (weights == nullptr) weights = this->weights();
  if (sources == nullptr) sources = kept_sources();
  REFIT_ASSIGN_OR_RETURN(EngineFileWriter writer, Writer(mode, weights, sources));
  return writer.WriteTo(path);
}

StatusOr<EngineFileWriter> Engine::Writer(EngineMode mode,
                                          const std::shared_ptr<const WeightSet>& weights,
                                          const std::shared_ptr<const SourceSet>& sources) const {
  if ((core_->plan.mode == EngineMode::kStatic) != (mode == EngineMode::kStatic)) {
    return FailedPrecondition(core_->label + ": a " +
                              std::string(EngineModeName(core_->plan.mode)) +
                              " engine cannot be written as " + std::string(EngineModeName(mode)) +
                              " (static engines have no refit map; rebuild instead)");
  }
  // The timings are checked first (TimedPlan). A loaded engine's tactics and refit map sections
  // are then written as they were read (they depend on neither the mode nor the weights); a
  // built engine has none, and its plan, which holds the timings, is serialized.
  REFIT_RETURN_IF_ERROR(TimedPlan().status());
  Plan plan = core_->plan;
  plan.mode = mode;
  std::vector<const Tensor*> slots;
  for (size_t s = 0; s < plan.slots.size(); ++s) {
    WeightSlot& slot = plan.slots[s];
    slot.stored = !slot.refittable || mode != EngineMode::kStripped;
    slots.push_back(weights->slots[s].get());
    if (slot.stored && slots.back() == nullptr) {
      return FailedPrecondition(core_->label + ": weight '" + slot.name +
                                "' has no value (a stripped engine needs its weights before it "
                                "can be written as " +
                                std::string(EngineModeName(mode)) + ")");
    }
  }
  Json meta = Json::object();
  if (!core_->metadata.empty())
    meta = Json::parse(core_->metadata, nullptr, /*allow_exceptions=*/false);
  if (!meta.is_object()) meta = Json::object();
  return WriteEngine(std::move(plan), slots, sources.get(), std::move(meta), core_->tactics_section,
                     core_->refit_map_section);
}

namespace {
// The sources section as tensors in place (validated: only beside a refit map, exactly the size
// the prototypes need); null when the file has none.
StatusOr<std::shared_ptr<const SourceSet>> LoadSources(const EngineFile& file, const Plan& plan,
                                                       const std::string& label,
                                                       const std::shared_ptr<void>& owner) {
  if (!file.Has(SectionKind::kSources)) return std::shared_ptr<const SourceSet>();
  REFIT_ASSIGN_OR_RETURN(std::string_view bytes, file.Section(SectionKind::kSources));
  if (plan.mode != EngineMode::kRefittable) {
    return DataLoss(label + ": a " + std::string(EngineModeName(plan.mode)) +
                    " engine has a sources section");
  }
  uint64_t total = 0;
  const std::vector<uint64_t> offsets = SourceOffsets(plan, &total);
  if (bytes.size() != total) {
    return DataLoss(label + ": the sources section holds " + std::to_string(bytes.size()) +
                    " bytes; the refit map's " + std::to_string(plan.sources.size()) +
                    " source weights need " + std::to_string(total));
  }
  auto sources = std::make_shared<SourceSet>();
  for (size_t i = 0; i < offsets.size(); ++i) {
    const SourcePrototype& p = plan.sources[i];
    const uint64_t size = uint64_t(p.shape.NumElements()) * DataTypeSize(p.dtype);
    if (offsets[i] > bytes.size() || size > bytes.size() - offsets[i]) {
      return DataLoss(label + ": source weight '" + p.name + "' lies outside the sources section");
    }
    void* data = const_cast<char*>(bytes.data() + offsets[i]);
    sources->tensors.push_back(
        std::make_shared<const Tensor>(Tensor::Wrap(p.dtype, p.shape, data, owner)));
  }
  return std::shared_ptr<const SourceSet>(std::move(sources));
}

// Shared by Open and FromBytes once the container is validated.
Status LoadSections(const EngineFile& file, const std::string& label, Plan* plan,
                    std::string* metadata, std::string_view* tactics, std::string_view* refit_map,
                    std::string_view* weights) {
  // The metadata is for people and tools: nothing in loading or running reads it, so it is not
  // parsed here (its checksum is checked with every section's). Its readers (inspect, the
  // writers) treat malformed metadata as empty.
  REFIT_ASSIGN_OR_RETURN(std::string_view meta, file.Section(SectionKind::kMetadata));
  *metadata = std::string(meta);
  REFIT_ASSIGN_OR_RETURN(std::string_view plan_bytes, file.Section(SectionKind::kPlan));
  REFIT_ASSIGN_OR_RETURN(*tactics, file.Section(SectionKind::kTactics));
  REFIT_ASSIGN_OR_RETURN(*weights, file.Section(SectionKind::kWeights));
  const bool has_refit_map = file.Has(SectionKind::kRefitMap);
  if (has_refit_map) {
    REFIT_ASSIGN_OR_RETURN(*refit_map, file.Section(SectionKind::kRefitMap));
  }
  REFIT_ASSIGN_OR_RETURN(*plan, ParsePlan(plan_bytes, *refit_map, has_refit_map, label));
  for (const WeightSlot& slot : plan->slots) {
    if (!slot.stored) continue;
    if (slot.offset > weights->size() || slot.nbytes() > weights->size() - slot.offset) {
      return DataLoss(label + ": weight slot '" + slot.name + "' lies outside the weights section");
    }
  }
  return CheckCpu(*plan, label);
}

}  // namespace

StatusOr<const Plan*> Engine::TimedPlan() const {
  if (core_->tactics_section.data() == nullptr) return &core_->plan;  // from the builder
  std::call_once(core_->timed_once, [this] {
    auto timed = std::make_unique<Plan>(core_->plan);
    core_->timed_status = ParseTactics(core_->tactics_section, core_->label, timed.get());
    if (core_->timed_status.ok()) core_->timed_plan = std::move(timed);
  });
  if (!core_->timed_status.ok()) return core_->timed_status;
  return core_->timed_plan.get();
}

StatusOr<std::unique_ptr<Engine>> Engine::Load(std::shared_ptr<EngineFile> file,
                                               const std::string& label,
                                               const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine());
  e->core_->label = label;
  std::string_view weights;
  REFIT_RETURN_IF_ERROR(LoadSections(*file, label, &e->core_->plan, &e->core_->metadata,
                                     &e->core_->tactics_section, &e->core_->refit_map_section,
                                     &weights));
  e->core_->file_bytes = file->file_size();
  auto ws = std::make_shared<WeightSet>();
  ws->owner = e->core_->id;
  for (const WeightSlot& slot : e->core_->plan.slots) {
    if (!slot.stored) {
      ws->slots.push_back(nullptr);
      continue;
    }
    // In place from the file: the weights section is 4096-aligned, each slot 64-aligned.
    void* data = const_cast<char*>(weights.data() + slot.offset);
    ws->slots.push_back(std::make_shared<const Tensor>(
        Tensor::Wrap(slot.packed_dtype, slot.packed_shape, data, file)));
  }
  e->weights_ = std::move(ws);
  REFIT_ASSIGN_OR_RETURN(e->kept_sources_, LoadSources(*file, e->core_->plan, label, file));
  e->core_->file = std::move(file);
  REFIT_RETURN_IF_ERROR(e->Init(options));
  return e;
}

StatusOr<std::unique_ptr<Engine>> Engine::Open(const std::string& path,
                                               const EngineOptions& options) {
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<EngineFile> file, EngineFile::Open(path));
  return Load(std::move(file), "engine '" + path + "'", options);
}

StatusOr<std::unique_ptr<Engine>> Engine::FromBytes(std::string bytes, const std::string& label,
                                                    const EngineOptions& options) {
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<EngineFile> file,
                         EngineFile::FromBytes(std::move(bytes), label));
  return Load(std::move(file), label, options);
}

}  // namespace refit::engine
