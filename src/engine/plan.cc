#include "engine/plan.h"

#include <map>

#include "engine/plan_cbor.h"
#include "engine/plan_codec.h"

namespace refit::engine {
namespace {

using internal::DocValue;
using internal::Json;
using internal::Object;
using internal::PlanError;

constexpr int64_t kMaxItems = int64_t{1} << 24;

Json TypeJson(DataType d, const Shape& s) {
  return Json{{"dtype", internal::DTypeToJson(d)}, {"shape", internal::ShapeToJson(s)}};
}

// The first tactics form (engines written before the name table): one object per layer,
// {from_timing_cache, layer, tactic, timings: [{median_us, tactic}]}, names spelled out.
void ParseTacticsObjects(DocValue layers, Plan& p) {
  size_t i = 0;
  for (DocValue l : layers) {
    PlanLayer& layer = p.layers[i];
    Object o(l);  // "from_timing_cache", "layer", "tactic", "timings"
    layer.from_timing_cache = o.Bool("from_timing_cache");
    if (o.String("tactic") != layer.tactic) {
      throw PlanError("tactics: layer " + std::to_string(i) + " names another tactic");
    }
    const DocValue timings = o.Array("timings", 4096);
    layer.timings.reserve(timings.size());
    for (DocValue t : timings) {
      Object ot(t);
      const double median_us = ot.Double("median_us");
      layer.timings.push_back({ot.String("tactic"), median_us});
    }
    ++i;
  }
}

// The element `v` as an index into a table of `n` names.
size_t NameIndex(DocValue v, size_t n, size_t layer) {
  if (!v.is_number_unsigned() || v.as_uint() >= n) {
    throw PlanError("tactics: layer " + std::to_string(layer) + " names no tactic of the table");
  }
  return size_t(v.as_uint());
}

// The compact form: {names: [tactic names], layers: [[tactic, from_timing_cache, [name, median_us,
// name, median_us, ...]]]}, each name an index into `names`.
void ParseTacticsTable(DocValue names_value, DocValue layers, Plan& p) {
  std::vector<std::string> names;
  names.reserve(names_value.size());
  for (DocValue n : names_value) {
    if (!n.is_string()) throw PlanError("tactics: a tactic name is not a string");
    names.emplace_back(n.as_string());
  }
  size_t i = 0;
  for (DocValue l : layers) {
    PlanLayer& layer = p.layers[i];
    if (!l.is_array() || l.size() != 3) {
      throw PlanError("tactics: layer " + std::to_string(i) + " is not [tactic, cached, timings]");
    }
    DocValue::Iterator it = l.begin();
    if (names[NameIndex(*it, names.size(), i)] != layer.tactic) {
      throw PlanError("tactics: layer " + std::to_string(i) + " names another tactic");
    }
    const DocValue cached = *++it;
    const DocValue timings = *++it;
    if (!cached.is_boolean()) throw PlanError("tactics: layer " + std::to_string(i) + " cached");
    if (!timings.is_array() || timings.size() % 2 != 0 || timings.size() > 8192) {
      throw PlanError("tactics: layer " + std::to_string(i) + " timings are not name/time pairs");
    }
    layer.from_timing_cache = cached.as_bool();
    layer.timings.reserve(timings.size() / 2);
    for (DocValue::Iterator t = timings.begin(); t != timings.end(); ++t) {
      const size_t name = NameIndex(*t, names.size(), i);
      const DocValue us = *++t;
      if (!us.is_number()) throw PlanError("tactics: layer " + std::to_string(i) + " timings");
      layer.timings.push_back({names[name], us.as_double()});
    }
    ++i;
  }
}

void ParseTacticsJson(DocValue j, Plan& p) {
  if (!j.is_object()) throw PlanError("tactics: not an object");
  const DocValue names = j.find("names");
  const DocValue layers = Object(j).Array("layers", kMaxItems);
  if (layers.size() != p.layers.size()) throw PlanError("tactics: layer count differs from plan");
  if (!names.valid()) return ParseTacticsObjects(layers, p);
  if (!names.is_array() || names.size() > kMaxItems) throw PlanError("tactics: names");
  ParseTacticsTable(names, layers, p);
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
  if (p.max_threads > 0) j["max_threads"] = p.max_threads;
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
  std::map<std::string_view, size_t> index;
  Json names = Json::array();
  auto name_index = [&](const std::string& name) {
    auto [it, added] = index.emplace(name, index.size());
    if (added) names.push_back(name);
    return it->second;
  };
  Json layers = Json::array();
  for (const PlanLayer& l : p.layers) {
    Json timings = Json::array();
    for (const TacticTiming& t : l.timings) {
      timings.push_back(name_index(t.tactic));
      timings.push_back(t.median_us);
    }
    layers.push_back(Json::array({name_index(l.tactic), l.from_timing_cache, std::move(timings)}));
  }
  return Json{{"names", std::move(names)}, {"layers", std::move(layers)}}.dump();
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
    Plan p = internal::ReadPlanSection(plan_bytes);
    bool any_refittable = false;
    for (const WeightSlot& s : p.slots) any_refittable = any_refittable || s.refittable;
    if (has_refit_map) {
      internal::ReadRefitMapSection(refit_map_bytes, &p);
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
