#include "ir/attribute.h"

namespace refit::ir {
namespace {

Status WrongKind(const std::string& name, const char* want) {
  return InvalidArgument("attribute '" + name + "' is not of type " + want);
}

}  // namespace

const Attribute* AttributeMap::Find(const std::string& name) const {
  auto it = attrs_.find(name);
  return it == attrs_.end() ? nullptr : &it->second;
}

StatusOr<int64_t> AttributeMap::GetInt(const std::string& name, int64_t def) const {
  const Attribute* a = Find(name);
  if (!a) return def;
  if (a->kind != Attribute::Kind::kInt) return WrongKind(name, "int");
  return a->i;
}

StatusOr<float> AttributeMap::GetFloat(const std::string& name, float def) const {
  const Attribute* a = Find(name);
  if (!a) return def;
  if (a->kind != Attribute::Kind::kFloat) return WrongKind(name, "float");
  return a->f;
}

StatusOr<std::string> AttributeMap::GetString(const std::string& name,
                                              const std::string& def) const {
  const Attribute* a = Find(name);
  if (!a) return def;
  if (a->kind != Attribute::Kind::kString) return WrongKind(name, "string");
  return a->s;
}

StatusOr<std::vector<int64_t>> AttributeMap::GetInts(const std::string& name,
                                                     const std::vector<int64_t>& def) const {
  const Attribute* a = Find(name);
  if (!a) return def;
  if (a->kind != Attribute::Kind::kInts) return WrongKind(name, "ints");
  return a->ints;
}

StatusOr<std::vector<float>> AttributeMap::GetFloats(const std::string& name,
                                                     const std::vector<float>& def) const {
  const Attribute* a = Find(name);
  if (!a) return def;
  if (a->kind != Attribute::Kind::kFloats) return WrongKind(name, "floats");
  return a->floats;
}

StatusOr<const Tensor*> AttributeMap::GetTensor(const std::string& name) const {
  const Attribute* a = Find(name);
  if (!a) return static_cast<const Tensor*>(nullptr);
  if (a->kind != Attribute::Kind::kTensor) return WrongKind(name, "tensor");
  return a->t.get();
}

}  // namespace refit::ir
