#include "engine/plan.h"

#include "engine/plan_codec.h"

namespace refit::engine {
namespace {

using internal::DocValue;
using internal::Field;
using internal::GetArray;
using internal::GetBool;
using internal::GetDouble;
using internal::GetInt;
using internal::GetString;
using internal::Json;
using internal::PlanError;

constexpr int64_t kMaxItems = int64_t{1} << 24;
constexpr int64_t kMaxBytes = int64_t{1} << 42;

Json TypeJson(DataType d, const Shape& s) {
  return Json{{"dtype", internal::DTypeToJson(d)}, {"shape", internal::ShapeToJson(s)}};
}

void CheckIndex(int64_t index, size_t size, const std::string& what) {
  if (index < 0 || uint64_t(index) >= size) {
    throw PlanError(what + " index " + std::to_string(index) + " out of range [0, " +
                    std::to_string(size) + ")");
  }
}

Plan ParsePlanJson(DocValue j) {
  Plan p;
  p.model_name = GetString(j, "model");
  p.opset = GetInt(j, "opset", 1, 1000);
  auto mode = ParseEngineMode(GetString(j, "mode"));
  if (!mode.ok()) throw PlanError(mode.status().message());
  p.mode = *mode;
  p.arena_bytes = GetInt(j, "arena_bytes", 0, kMaxBytes);
  p.workspace_bytes = GetInt(j, "workspace_bytes", 0, kMaxBytes);
  p.required_features = GetString(j, "features");
  const DocValue values = GetArray(j, "values", kMaxItems);
  p.values.reserve(values.size());
  for (DocValue v : values) {
    PlanValue pv;
    pv.name = GetString(v, "name");
    pv.dtype = internal::DTypeFromJson(Field(v, "dtype"), "value dtype");
    pv.shape = internal::ShapeFromJson(Field(v, "shape"), "value shape");
    pv.dynamic = GetBool(v, "dynamic");
    pv.offset = GetInt(v, "offset", -1, kMaxBytes);
    if (pv.dynamic != (pv.offset < 0)) throw PlanError("value '" + pv.name + "': bad placement");
    const uint64_t bytes = uint64_t(pv.shape.NumElements()) * DataTypeSize(pv.dtype);
    if (!pv.dynamic && (pv.offset % 64 != 0 || uint64_t(pv.offset) + bytes > p.arena_bytes)) {
      throw PlanError("value '" + pv.name + "' lies outside the activation arena");
    }
    p.values.push_back(std::move(pv));
  }
  for (DocValue i : GetArray(j, "inputs", kMaxItems)) {
    if (!i.is_number_integer()) throw PlanError("graph input index is not an integer");
    CheckIndex(i.as_int(), p.values.size(), "graph input");
    p.inputs.push_back(int32_t(i.as_int()));
  }
  for (DocValue o : GetArray(j, "outputs", kMaxItems)) {
    if (!o.is_number_integer()) throw PlanError("graph output index is not an integer");
    CheckIndex(o.as_int(), p.values.size(), "graph output");
    p.outputs.push_back(int32_t(o.as_int()));
  }
  const DocValue slots = GetArray(j, "slots", kMaxItems);
  const DocValue layers = GetArray(j, "layers", kMaxItems);
  p.layers.reserve(layers.size());
  p.slots.reserve(slots.size());
  for (DocValue l : layers) {
    PlanLayer layer;
    layer.node = internal::NodeFromJson(Field(l, "node"));
    layer.backend = GetString(l, "backend");
    layer.tactic = GetString(l, "tactic");
    layer.features = GetString(l, "features");
    layer.workspace_bytes = GetInt(l, "workspace_bytes", 0, kMaxBytes);
    const DocValue ins = GetArray(l, "inputs", kMaxItems);
    if (ins.size() != layer.node.inputs.size()) {
      throw PlanError("layer '" + layer.node.name + "': input count differs from its node's");
    }
    layer.inputs.reserve(ins.size());
    for (DocValue in : ins) {
      LayerInput li;
      li.kind = LayerInput::Kind(GetInt(in, "kind", 0, 2));
      li.index = int32_t(GetInt(in, "index", -1, kMaxItems));
      if (li.kind == LayerInput::Kind::kValue) CheckIndex(li.index, p.values.size(), "value");
      if (li.kind == LayerInput::Kind::kSlot) CheckIndex(li.index, slots.size(), "slot");
      layer.inputs.push_back(li);
    }
    const DocValue outs = GetArray(l, "outputs", kMaxItems);
    if (outs.size() != layer.node.outputs.size()) {
      throw PlanError("layer '" + layer.node.name + "': output count differs from its node's");
    }
    layer.outputs.reserve(outs.size());
    for (DocValue o : outs) {
      if (!o.is_number_integer()) throw PlanError("layer output index is not an integer");
      if (o.as_int() != -1) CheckIndex(o.as_int(), p.values.size(), "value");
      layer.outputs.push_back(int32_t(o.as_int()));
    }
    p.layers.push_back(std::move(layer));
  }
  for (DocValue s : slots) {
    WeightSlot slot;
    slot.name = GetString(s, "name");
    slot.layer = int32_t(GetInt(s, "layer", 0, kMaxItems));
    slot.input = int32_t(GetInt(s, "input", 0, kMaxItems));
    CheckIndex(slot.layer, p.layers.size(), "slot layer");
    CheckIndex(slot.input, p.layers[slot.layer].inputs.size(), "slot input");
    const LayerInput& li = p.layers[slot.layer].inputs[slot.input];
    if (li.kind != LayerInput::Kind::kSlot || size_t(li.index) != p.slots.size()) {
      throw PlanError("slot '" + slot.name + "' is not the input its layer reads");
    }
    slot.dtype = internal::DTypeFromJson(Field(s, "dtype"), "slot dtype");
    slot.shape = internal::ShapeFromJson(Field(s, "shape"), "slot shape");
    slot.packed_dtype = internal::DTypeFromJson(Field(s, "packed_dtype"), "slot packed dtype");
    slot.packed_shape = internal::ShapeFromJson(Field(s, "packed_shape"), "slot packed shape");
    slot.refittable = GetBool(s, "refittable");
    slot.stored = GetBool(s, "stored");
    slot.offset = GetInt(s, "offset", 0, kMaxBytes);
    if (slot.offset % 64 != 0) throw PlanError("slot '" + slot.name + "' is not 64-byte aligned");
    if (!slot.refittable && !slot.stored) {
      throw PlanError("constant slot '" + slot.name + "' has no bytes in the file");
    }
    p.slots.push_back(std::move(slot));
  }
  for (DocValue w : GetArray(j, "weight_computations", kMaxItems)) {
    if (!w.is_string()) throw PlanError("weight_computations holds a non-string");
    p.weight_computations.emplace_back(w.as_string());
  }
  return p;
}

void ParseTacticsJson(DocValue j, Plan& p) {
  const DocValue layers = GetArray(j, "layers", kMaxItems);
  if (layers.size() != p.layers.size()) throw PlanError("tactics: layer count differs from plan");
  size_t i = 0;
  for (DocValue l : layers) {
    PlanLayer& layer = p.layers[i];
    if (GetString(l, "tactic") != layer.tactic) {
      throw PlanError("tactics: layer " + std::to_string(i) + " names another tactic");
    }
    layer.from_timing_cache = GetBool(l, "from_timing_cache");
    for (DocValue t : GetArray(l, "timings", 4096)) {
      layer.timings.push_back({GetString(t, "tactic"), GetDouble(t, "median_us")});
    }
    ++i;
  }
}

void ParseRefitMapJson(DocValue j, Plan& p) {
  for (DocValue s : GetArray(j, "sources", kMaxItems)) {
    SourcePrototype proto;
    proto.name = GetString(s, "name");
    proto.dtype = internal::DTypeFromJson(Field(s, "dtype"), "source dtype");
    proto.shape = internal::ShapeFromJson(Field(s, "shape"), "source shape");
    p.sources.push_back(std::move(proto));
  }
  if (j.contains("architecture")) {
    const DocValue a = Field(j, "architecture");
    const DocValue hash = Field(a, "hash");
    if (!hash.is_number_unsigned()) throw PlanError("refit map: architecture hash");
    p.architecture.hash = hash.as_uint();
    p.architecture.nodes = GetInt(a, "nodes", 0, kMaxItems);
    const DocValue ops = Field(a, "op_counts");
    if (!ops.is_object() || ops.size() > size_t(kMaxItems)) {
      throw PlanError("refit map: architecture op_counts");
    }
    for (auto op = ops.begin(); op != ops.end(); ++op) {
      const DocValue count = *op;
      if (!count.is_number_unsigned() || count.as_uint() > uint64_t(INT32_MAX)) {
        throw PlanError("refit map: architecture op count of '" + std::string(op.key()) + "'");
      }
      p.architecture.op_counts[std::string(op.key())] = int(count.as_int());
    }
    // A weight that is also a source prototype is stored as the prototype's index.
    for (DocValue w : GetArray(a, "weights", kMaxItems)) {
      if (w.is_string()) {
        p.architecture.weights.emplace_back(w.as_string());
      } else if (w.is_number_unsigned() && w.as_uint() < p.sources.size()) {
        p.architecture.weights.push_back(p.sources[size_t(w.as_uint())].name);
      } else {
        throw PlanError("refit map: architecture weight");
      }
    }
  }
  const DocValue recipes = GetArray(j, "recipes", kMaxItems);
  size_t next = 0;
  auto recipe_it = recipes.begin();
  for (WeightSlot& slot : p.slots) {
    if (!slot.refittable) continue;
    if (next >= recipes.size()) throw PlanError("refit map: fewer recipes than refittable slots");
    const DocValue r = *recipe_it;
    ++recipe_it;
    ++next;
    if (size_t(GetInt(r, "slot", 0, kMaxItems)) != size_t(&slot - p.slots.data())) {
      throw PlanError("refit map: recipes out of slot order");
    }
    const DocValue bytes = Field(r, "recipe");
    if (!bytes.is_binary()) throw PlanError("refit map: recipe is not binary");
    auto recipe = ir::WeightRecipe::Parse(bytes.as_string());
    if (!recipe.ok()) throw PlanError("slot '" + slot.name + "': " + recipe.status().message());
    for (const std::string& src : recipe->Sources()) {
      if (p.FindSource(src) == nullptr) {
        throw PlanError("slot '" + slot.name + "' reads '" + src + "', which has no prototype");
      }
    }
    auto type = recipe->InferType([&](const std::string& name) {
      const SourcePrototype* proto = p.FindSource(name);
      return std::optional<ir::WeightRecipe::TensorType>({proto->dtype, proto->shape});
    });
    if (!type.ok() || type->dtype != slot.dtype || type->shape != slot.shape) {
      throw PlanError("slot '" + slot.name + "': its recipe does not produce the slot's type");
    }
    slot.recipe = std::move(recipe).value();
  }
  if (next != recipes.size()) throw PlanError("refit map: more recipes than refittable slots");
}

}  // namespace

std::string_view EngineModeName(EngineMode mode) {
  switch (mode) {
    case EngineMode::kRefittable:
      return "refittable";
    case EngineMode::kStripped:
      return "stripped";
    case EngineMode::kStatic:
      return "static";
  }
  return "?";
}

StatusOr<EngineMode> ParseEngineMode(std::string_view name) {
  for (EngineMode m : {EngineMode::kRefittable, EngineMode::kStripped, EngineMode::kStatic}) {
    if (EngineModeName(m) == name) return m;
  }
  return InvalidArgument("unknown engine mode '" + std::string(name) +
                         "' (expected refittable, stripped or static)");
}

uint64_t WeightSlot::nbytes() const {
  return uint64_t(packed_shape.NumElements()) * DataTypeSize(packed_dtype);
}

uint64_t Plan::WeightBytes(bool refittable_only) const {
  uint64_t total = 0;
  for (const WeightSlot& s : slots) {
    if (!refittable_only || s.refittable) total += s.nbytes();
  }
  return total;
}

std::string SourcePrototype::Mismatch(DataType found_dtype, const Shape& found_shape) const {
  if (found_dtype == dtype && found_shape == shape) return "";
  return "expected " + std::string(DataTypeName(dtype)) + shape.ToString() + ", found " +
         std::string(DataTypeName(found_dtype)) + found_shape.ToString();
}

const SourcePrototype* Plan::FindSource(const std::string& name) const {
  for (const SourcePrototype& s : sources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string SerializePlan(const Plan& p) {
  Json j;
  j["model"] = p.model_name;
  j["opset"] = p.opset;
  j["mode"] = std::string(EngineModeName(p.mode));
  j["arena_bytes"] = p.arena_bytes;
  j["workspace_bytes"] = p.workspace_bytes;
  j["features"] = p.required_features;
  Json values = Json::array();
  for (const PlanValue& v : p.values) {
    Json jv = TypeJson(v.dtype, v.shape);
    jv["name"] = v.name;
    jv["dynamic"] = v.dynamic;
    jv["offset"] = v.offset;
    values.push_back(std::move(jv));
  }
  j["values"] = std::move(values);
  j["inputs"] = p.inputs;
  j["outputs"] = p.outputs;
  Json layers = Json::array();
  for (const PlanLayer& l : p.layers) {
    Json jl;
    jl["node"] = internal::NodeToJson(l.node);
    jl["backend"] = l.backend;
    jl["tactic"] = l.tactic;
    jl["features"] = l.features;
    jl["workspace_bytes"] = l.workspace_bytes;
    Json ins = Json::array();
    for (const LayerInput& in : l.inputs)
      ins.push_back({{"kind", int(in.kind)}, {"index", in.index}});
    jl["inputs"] = std::move(ins);
    jl["outputs"] = l.outputs;
    layers.push_back(std::move(jl));
  }
  j["layers"] = std::move(layers);
  Json slots = Json::array();
  for (const WeightSlot& s : p.slots) {
    Json js = TypeJson(s.dtype, s.shape);
    js["name"] = s.name;
    js["layer"] = s.layer;
    js["input"] = s.input;
    js["packed_dtype"] = internal::DTypeToJson(s.packed_dtype);
    js["packed_shape"] = internal::ShapeToJson(s.packed_shape);
    js["refittable"] = s.refittable;
    js["stored"] = s.stored;
    js["offset"] = s.offset;
    slots.push_back(std::move(js));
  }
  j["slots"] = std::move(slots);
  j["weight_computations"] = p.weight_computations;
  const std::vector<uint8_t> cbor = Json::to_cbor(j);
  return std::string(cbor.begin(), cbor.end());
}

std::string SerializeTactics(const Plan& p) {
  Json layers = Json::array();
  for (const PlanLayer& l : p.layers) {
    Json timings = Json::array();
    for (const TacticTiming& t : l.timings) {
      timings.push_back({{"tactic", t.tactic}, {"median_us", t.median_us}});
    }
    layers.push_back({{"layer", l.node.name},
                      {"tactic", l.tactic},
                      {"from_timing_cache", l.from_timing_cache},
                      {"timings", std::move(timings)}});
  }
  return Json{{"layers", std::move(layers)}}.dump();
}

std::string SerializeRefitMap(const Plan& p) {
  Json sources = Json::array();
  for (const SourcePrototype& s : p.sources) {
    Json js = TypeJson(s.dtype, s.shape);
    js["name"] = s.name;
    sources.push_back(std::move(js));
  }
  Json recipes = Json::array();
  for (size_t i = 0; i < p.slots.size(); ++i) {
    if (!p.slots[i].refittable) continue;
    const std::string bytes = p.slots[i].recipe.Serialize();
    recipes.push_back(
        {{"slot", i}, {"recipe", Json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()))}});
  }
  Json map = {{"sources", std::move(sources)}, {"recipes", std::move(recipes)}};
  if (p.architecture.hash != 0) {
    std::map<std::string, size_t> source_index;
    for (size_t i = 0; i < p.sources.size(); ++i) source_index[p.sources[i].name] = i;
    Json weights = Json::array();
    for (const std::string& w : p.architecture.weights) {
      auto it = source_index.find(w);
      if (it == source_index.end()) {
        weights.push_back(w);
      } else {
        weights.push_back(it->second);
      }
    }
    map["architecture"] = {{"hash", p.architecture.hash},
                           {"nodes", p.architecture.nodes},
                           {"op_counts", p.architecture.op_counts},
                           {"weights", std::move(weights)}};
  }
  const std::vector<uint8_t> cbor = Json::to_cbor(map);
  return std::string(cbor.begin(), cbor.end());
}

StatusOr<Plan> ParsePlan(std::string_view plan_bytes, std::string_view refit_map_bytes,
                         bool has_refit_map, const std::string& label) {
  try {
    Plan p = ParsePlanJson(internal::ParseCborSection(plan_bytes).root());
    bool any_refittable = false;
    for (const WeightSlot& s : p.slots) any_refittable = any_refittable || s.refittable;
    if (has_refit_map) {
      ParseRefitMapJson(internal::ParseCborSection(refit_map_bytes).root(), p);
    } else if (any_refittable || p.mode != EngineMode::kStatic) {
      throw PlanError("a " + std::string(EngineModeName(p.mode)) + " engine without a refit map");
    }
    return p;
  } catch (const std::exception& e) {
    return DataLoss(label + ": malformed engine plan: " + e.what());
  }
}

Status ParseTactics(std::string_view tactics_bytes, const std::string& label, Plan* plan) {
  try {
    ParseTacticsJson(internal::ParseJsonSection(tactics_bytes).root(), *plan);
    return Status::Ok();
  } catch (const std::exception& e) {
    return DataLoss(label + ": malformed tactics section: " + e.what());
  }
}

}  // namespace refit::engine
