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

ir::Attribute AttributeFromJson(DocValue j) {
  using Kind = ir::Attribute::Kind;
  ir::Attribute a;
  a.kind = Kind(GetInt(j, "k", 0, int(Kind::kOther)));
  const auto bad = [] { throw PlanError("attribute list element of the wrong type"); };
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
    case Kind::kInts: {
      const DocValue list = GetArray(j, "v", kMaxList);
      a.ints.reserve(list.size());
      for (DocValue e : list) {
        if (!e.is_number_integer()) bad();
        a.ints.push_back(e.as_int());
      }
      break;
    }
    case Kind::kFloats: {
      const DocValue list = GetArray(j, "v", kMaxList);
      a.floats.reserve(list.size());
      for (DocValue e : list) {
        if (!e.is_number()) bad();
        a.floats.push_back(float(e.as_double()));
      }
      break;
    }
    case Kind::kStrings: {
      const DocValue list = GetArray(j, "v", kMaxList);
      a.strings.reserve(list.size());
      for (DocValue e : list) {
        if (!e.is_string()) bad();
        a.strings.emplace_back(e.as_string());
      }
      break;
    }
    case Kind::kTensor: {
      const DataType dtype = DTypeFromJson(Field(j, "dtype"), "attribute tensor dtype");
      Shape shape = ShapeFromJson(Field(j, "shape"), "attribute tensor shape");
      const DocValue v = Field(j, "v");
      if (!v.is_binary()) throw PlanError("attribute tensor bytes are not binary");
      auto t = Tensor::Create(dtype, std::move(shape));
      if (!t.ok() || t->nbytes() != v.size()) {
        throw PlanError("attribute tensor: shape and byte count disagree");
      }
      if (t->nbytes() > 0) std::memcpy(t->mutable_data(), v.as_string().data(), t->nbytes());
      a.t = std::make_shared<const Tensor>(std::move(t).value());
      break;
    }
    case Kind::kOther:
      break;
  }
  return a;
}

std::vector<std::string> StringList(DocValue j, const char* key) {
  const DocValue list = GetArray(j, key, kMaxList);
  std::vector<std::string> out;
  out.reserve(list.size());
  for (DocValue e : list) {
    if (!e.is_string()) throw PlanError(std::string("'") + key + "' holds a non-string");
    out.emplace_back(e.as_string());
  }
  return out;
}

}  // namespace

Document ParseCborSection(std::string_view bytes) {
  StatusOr<Document> d = Document::FromCbor(bytes);
  if (!d.ok()) throw PlanError(d.status().message());
  return std::move(d).value();
}

Document ParseJsonSection(std::string_view text) {
  StatusOr<Document> d = Document::FromJson(text);
  if (!d.ok()) throw PlanError(d.status().message());
  return std::move(d).value();
}

DocValue Field(DocValue j, const char* key) {
  if (!j.is_object()) throw PlanError(std::string("expected an object holding '") + key + "'");
  const DocValue v = j.find(key);
  if (!v.valid()) throw PlanError(std::string("missing field '") + key + "'");
  return v;
}

std::string GetString(DocValue j, const char* key) {
  const DocValue v = Field(j, key);
  if (!v.is_string()) throw PlanError(std::string("field '") + key + "' is not a string");
  return std::string(v.as_string());
}

int64_t GetInt(DocValue j, const char* key, int64_t lo, int64_t hi) {
  const DocValue v = Field(j, key);
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

bool GetBool(DocValue j, const char* key) {
  const DocValue v = Field(j, key);
  if (!v.is_boolean()) throw PlanError(std::string("field '") + key + "' is not a boolean");
  return v.as_bool();
}

double GetDouble(DocValue j, const char* key) {
  const DocValue v = Field(j, key);
  if (!v.is_number()) throw PlanError(std::string("field '") + key + "' is not a number");
  return v.as_double();
}

DocValue GetArray(DocValue j, const char* key, size_t max_size) {
  const DocValue v = Field(j, key);
  if (!v.is_array()) throw PlanError(std::string("field '") + key + "' is not an array");
  if (v.size() > max_size) throw PlanError(std::string("field '") + key + "' is too long");
  return v;
}

Json DTypeToJson(DataType d) { return int(d); }

DataType DTypeFromJson(DocValue j, const char* what) {
  if (!j.is_number_unsigned() || j.as_uint() < uint64_t(DataType::kF32) ||
      j.as_uint() > uint64_t(DataType::kBool)) {
    throw PlanError(std::string(what) + ": not a known dtype");
  }
  return DataType(j.as_int());
}

Json ShapeToJson(const Shape& s) { return s.dims(); }

Shape ShapeFromJson(DocValue j, const char* what) {
  if (!j.is_array() || j.size() > kMaxRank) {
    throw PlanError(std::string(what) + ": not a shape of rank <= 16");
  }
  std::vector<int64_t> dims;
  dims.reserve(j.size());
  for (DocValue d : j) {
    if (!d.is_number_unsigned() || d.as_uint() > (uint64_t{1} << 40)) {
      throw PlanError(std::string(what) + ": a dimension is not an integer in [0, 2^40]");
    }
    dims.push_back(d.as_int());
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

ir::Node NodeFromJson(DocValue j) {
  ir::Node n;
  n.name = GetString(j, "name");
  n.op_type = GetString(j, "op");
  n.domain = GetString(j, "domain");
  n.inputs = StringList(j, "inputs");
  n.outputs = StringList(j, "outputs");
  n.fused = StringList(j, "fused");
  const DocValue attrs = Field(j, "attrs");
  if (!attrs.is_object()) throw PlanError("node attributes are not an object");
  for (auto a = attrs.begin(); a != attrs.end(); ++a) {
    n.attrs.Set(std::string(a.key()), AttributeFromJson(*a));
  }
  return n;
}

}  // namespace refit::engine::internal
