#include "engine/plan_codec.h"

#include <cstring>
#include <memory>

namespace refit::engine::internal {
namespace {

constexpr size_t kMaxRank = 16;
constexpr size_t kMaxList = size_t{1} << 24;

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

ir::Attribute AttributeFromJson(const Json& j) {
  using Kind = ir::Attribute::Kind;
  ir::Attribute a;
  a.kind = Kind(GetInt(j, "k", 0, int(Kind::kOther)));
  const auto list = [&](auto& out, auto check) {
    const Json& v = GetArray(j, "v", kMaxList);
    for (const Json& e : v) {
      if (!check(e)) throw PlanError("attribute list element of the wrong type");
      out.push_back(e.get<typename std::decay_t<decltype(out)>::value_type>());
    }
  };
  switch (a.kind) {
    case Kind::kInt:
      a.i = GetInt(j, "v", INT64_MIN, INT64_MAX);
      break;
    case Kind::kFloat:
      a.f = float(GetDouble(j, "v"));
      break;
    case Kind::kString:
      a.s = GetString(j, "v");
      break;
    case Kind::kInts:
      list(a.ints, [](const Json& e) { return e.is_number_integer(); });
      break;
    case Kind::kFloats:
      list(a.floats, [](const Json& e) { return e.is_number(); });
      break;
    case Kind::kStrings:
      list(a.strings, [](const Json& e) { return e.is_string(); });
      break;
    case Kind::kTensor: {
      const DataType dtype = DTypeFromJson(Field(j, "dtype"), "attribute tensor dtype");
      Shape shape = ShapeFromJson(Field(j, "shape"), "attribute tensor shape");
      const Json& v = Field(j, "v");
      if (!v.is_binary()) throw PlanError("attribute tensor bytes are not binary");
      auto t = Tensor::Create(dtype, std::move(shape));
      if (!t.ok() || t->nbytes() != v.get_binary().size()) {
        throw PlanError("attribute tensor: shape and byte count disagree");
      }
      if (t->nbytes() > 0) std::memcpy(t->mutable_data(), v.get_binary().data(), t->nbytes());
      a.t = std::make_shared<const Tensor>(std::move(t).value());
      break;
    }
    case Kind::kOther:
      break;
  }
  return a;
}

std::vector<std::string> StringList(const Json& j, const char* key) {
  std::vector<std::string> out;
  for (const Json& e : GetArray(j, key, kMaxList)) {
    if (!e.is_string()) throw PlanError(std::string("'") + key + "' holds a non-string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

const Json& Field(const Json& j, const char* key) {
  if (!j.is_object()) throw PlanError(std::string("expected an object holding '") + key + "'");
  auto it = j.find(key);
  if (it == j.end()) throw PlanError(std::string("missing field '") + key + "'");
  return *it;
}

std::string GetString(const Json& j, const char* key) {
  const Json& v = Field(j, key);
  if (!v.is_string()) throw PlanError(std::string("field '") + key + "' is not a string");
  return v.get<std::string>();
}

int64_t GetInt(const Json& j, const char* key, int64_t lo, int64_t hi) {
  const Json& v = Field(j, key);
  if (!v.is_number_integer()) throw PlanError(std::string("field '") + key + "' is not an integer");
  int64_t x;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) throw PlanError(std::string("field '") + key + "' out of range");
    x = int64_t(u);
  } else {
    x = v.get<int64_t>();
  }
  if (x < lo || x > hi) {
    throw PlanError(std::string("field '") + key + "' = " + std::to_string(x) + " outside [" +
                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return x;
}

bool GetBool(const Json& j, const char* key) {
  const Json& v = Field(j, key);
  if (!v.is_boolean()) throw PlanError(std::string("field '") + key + "' is not a boolean");
  return v.get<bool>();
}

double GetDouble(const Json& j, const char* key) {
  const Json& v = Field(j, key);
  if (!v.is_number()) throw PlanError(std::string("field '") + key + "' is not a number");
  return v.get<double>();
}

const Json& GetArray(const Json& j, const char* key, size_t max_size) {
  const Json& v = Field(j, key);
  if (!v.is_array()) throw PlanError(std::string("field '") + key + "' is not an array");
  if (v.size() > max_size) throw PlanError(std::string("field '") + key + "' is too long");
  return v;
}

Json DTypeToJson(DataType d) { return int(d); }

DataType DTypeFromJson(const Json& j, const char* what) {
  if (!j.is_number_integer() || j.get<int64_t>() < int(DataType::kF32) ||
      j.get<int64_t>() > int(DataType::kBool)) {
    throw PlanError(std::string(what) + ": not a known dtype");
  }
  return DataType(j.get<int64_t>());
}

Json ShapeToJson(const Shape& s) { return s.dims(); }

Shape ShapeFromJson(const Json& j, const char* what) {
  if (!j.is_array() || j.size() > kMaxRank) {
    throw PlanError(std::string(what) + ": not a shape of rank <= 16");
  }
  std::vector<int64_t> dims;
  for (const Json& d : j) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t{1} << 40)) {
      throw PlanError(std::string(what) + ": a dimension is not an integer in [0, 2^40]");
    }
    dims.push_back(d.get<int64_t>());
  }
  if (!CheckedNumElements(dims).ok()) throw PlanError(std::string(what) + ": too many elements");
  return Shape(std::move(dims));
}

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

ir::Node NodeFromJson(const Json& j) {
  ir::Node n;
  n.name = GetString(j, "name");
  n.op_type = GetString(j, "op");
  n.domain = GetString(j, "domain");
  n.inputs = StringList(j, "inputs");
  n.outputs = StringList(j, "outputs");
  n.fused = StringList(j, "fused");
  const Json& attrs = Field(j, "attrs");
  if (!attrs.is_object()) throw PlanError("node attributes are not an object");
  for (const auto& [name, a] : attrs.items()) n.attrs.Set(name, AttributeFromJson(a));
  return n;
}

}  // namespace refit::engine::internal
