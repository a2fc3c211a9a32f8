#include "tuner/timing_cache.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string_view>

#include "base/file_util.h"

namespace refit::tuner {
namespace {

using Json = nlohmann::json;
constexpr int kCacheFormat = 1;

Json AttributeSignature(const ir::Attribute& a) {
  using Kind = ir::Attribute::Kind;
  switch (a.kind) {
    case Kind::kInt:
      return a.i;
    case Kind::kFloat:
      return a.f;
    case Kind::kString:
      return a.s;
    case Kind::kInts:
      return a.ints;
    case Kind::kFloats:
      return a.floats;
    case Kind::kStrings:
      return a.strings;
    case Kind::kTensor:  // a constant's value is part of the operator, not a weight
      return Json{{"dtype", int(a.t->dtype())},
                  {"shape", a.t->shape().dims()},
                  {"hash", std::hash<std::string_view>()(std::string_view(
                               static_cast<const char*>(a.t->data()), a.t->nbytes()))}};
    case Kind::kOther:
      return "other";
  }
  return nullptr;
}

}  // namespace

std::string TimingCache::Key(const backend::LayerDesc& layer, int threads,
                             const std::string& fingerprint) {
  Json attrs = Json::object();
  for (const auto& [name, a] : layer.node->attrs.all()) attrs[name] = AttributeSignature(a);
  Json ins = Json::array();
  for (size_t i = 0; i < layer.inputs.size(); ++i) {
    const backend::TensorDesc& d = layer.inputs[i];
    ins.push_back({int(d.dtype), d.shape.dims(), layer.is_weight(i)});
  }
  Json outs = Json::array();
  for (const backend::TensorDesc& d : layer.outputs) outs.push_back({int(d.dtype), d.shape.dims()});
  Json key = {{"op", layer.node->op_type},
              {"domain", layer.node->domain},
              {"opset", layer.opset},
              {"attrs", attrs},
              {"inputs", ins},
              {"outputs", outs},
              {"threads", threads},
              {"backend", fingerprint}};
  return key.dump(-1, ' ', true, Json::error_handler_t::replace);
}

const CachedTiming* TimingCache::Find(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

void TimingCache::Put(const std::string& key, CachedTiming timing) {
  entries_[key] = std::move(timing);
}

StatusOr<TimingCache> TimingCache::Load(const std::string& path) {
  TimingCache cache;
  auto read = ReadFile(path);
  if (!read.ok() && read.status().code() == StatusCode::kNotFound) return cache;
  REFIT_ASSIGN_OR_RETURN(std::string text, std::move(read));
  try {
    const Json j = Json::parse(text);
    if (!j.is_object() || j.value("format", 0) != kCacheFormat || !j.contains("entries") ||
        !j["entries"].is_object()) {
      return DataLoss("timing cache '" + path + "': not a refit timing cache of format " +
                      std::to_string(kCacheFormat));
    }
    for (const auto& [key, e] : j["entries"].items()) {
      CachedTiming t;
      t.tactic = e.at("tactic").get<std::string>();
      for (const Json& x : e.at("timings")) {
        t.timings_us.push_back({x.at(0).get<std::string>(), x.at(1).get<double>()});
      }
      cache.entries_[key] = std::move(t);
    }
  } catch (const std::exception& e) {
    return DataLoss("timing cache '" + path + "' is malformed: " + e.what());
  }
  return cache;
}

Status TimingCache::Save(const std::string& path) const {
  Json entries = Json::object();
  for (const auto& [key, t] : entries_) {
    Json timings = Json::array();
    for (const auto& [name, us] : t.timings_us) timings.push_back({name, us});
    entries[key] = {{"tactic", t.tactic}, {"timings", timings}};
  }
  const Json j = {{"format", kCacheFormat}, {"entries", entries}};
  return WriteFileAtomically(path, j.dump(1, ' ', false, Json::error_handler_t::replace));
}

}  // namespace refit::tuner
