#include "engine/plan_codec.h"

#include <cstring>
#include <memory>

namespace refit::engine::internal {
namespace {

Json AttributeToJson(const ir::Attribute& a) {
  using Kind = ir::Attribute::Kind;
  Json j;
  j["k"] = int(a.kind);
  switch (a.kind) {
    case Kind::kInt:
      j["v"] = a.i;
      break;
    case Kind::kFloat:
      j["v"] = a.f;
      break;
    case Kind::kString:
      j["v"] = a.s;
      break;
    case Kind::kInts:
      j["v"] = a.ints;
      break;
    case Kind::kFloats:
      j["v"] = a.floats;
      break;
    case Kind::kStrings:
      j["v"] = a.strings;
      break;
    case Kind::kTensor: {
      const Tensor& t = *a.t;
      j["dtype"] = DTypeToJson(t.dtype());
      j["shape"] = ShapeToJson(t.shape());
      const auto* p = static_cast<const uint8_t*>(t.data());
      j["v"] = Json::binary(std::vector<uint8_t>(p, p + t.nbytes()));
      break;
    }
    case Kind::kOther:
      break;
  }
  return j;
}

}  // namespace

Document ParseJsonSection(std::string_view text) {
  StatusOr<Document> d = Document::FromJson(text);
  if (!d.ok()) throw PlanError(d.status().message());
  return std::move(d).value();
}

DocValue Object::Field(const char* key) {
  if (!j_.is_object()) throw PlanError(std::string("expected an object holding '") + key + "'");
  const DocValue v = j_.find(key, &cursor_);
  if (!v.valid()) throw PlanError(std::string("missing field '") + key + "'");
  return v;
}

std::string Object::String(const char* key) {
  const DocValue v = Field(key);
  if (!v.is_string()) throw PlanError(std::string("field '") + key + "' is not a string");
  return std::string(v.as_string());
}

int64_t Object::Int(const char* key, int64_t lo, int64_t hi) {
  const DocValue v = Field(key);
  if (!v.is_number_integer()) throw PlanError(std::string("field '") + key + "' is not an integer");
  if (v.is_number_unsigned() && v.as_uint() > uint64_t(INT64_MAX)) {
    throw PlanError(std::string("field '") + key + "' out of range");
  }
  const int64_t x = v.as_int();
  if (x < lo || x > hi) {
    throw PlanError(std::string("field '") + key + "' = " + std::to_string(x) + " outside [" +
                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return x;
}

bool Object::Bool(const char* key) {
  const DocValue v = Field(key);
  if (!v.is_boolean()) throw PlanError(std::string("field '") + key + "' is not a boolean");
  return v.as_bool();
}

double Object::Double(const char* key) {
  const DocValue v = Field(key);
  if (!v.is_number()) throw PlanError(std::string("field '") + key + "' is not a number");
  return v.as_double();
}

DocValue Object::Array(const char* key, size_t max_size) {
  const DocValue v = Field(key);
  if (!v.is_array()) throw PlanError(std::string("field '") + key + "' is not an array");
  if (v.size() > max_size) throw PlanError(std::string("field '") + key + "' is too long");
  return v;
}

Json DTypeToJson(DataType d) { return int(d); }

Json ShapeToJson(const Shape& s) { return s.dims(); }

Json NodeToJson(const ir::Node& n) {
  Json j;
  j["name"] = n.name;
  j["op"] = n.op_type;
  j["domain"] = n.domain;
  j["inputs"] = n.inputs;
  j["outputs"] = n.outputs;
  j["fused"] = n.fused;
  Json attrs = Json::object();
  for (const auto& [name, a] : n.attrs.all()) attrs[name] = AttributeToJson(a);
  j["attrs"] = std::move(attrs);
  return j;
}

}  // namespace refit::engine::internal
