// Node attributes: the typed values ONNX attaches to a node (ints, floats, strings, tensors and
// lists of them). Getters return the default when the attribute is absent and an error when it is
// present with another type, naming the attribute.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::ir {

struct Attribute {
  // kOther: a kind refit does not represent (graph, sparse tensor, type proto); kept so that
  // kernels can tell the attribute is present and refuse it by name.
  enum class Kind { kInt, kFloat, kString, kTensor, kInts, kFloats, kStrings, kOther };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::shared_ptr<const Tensor> t;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
};

class AttributeMap {
 public:
  void Set(const std::string& name, Attribute a) { attrs_[name] = std::move(a); }
  bool Has(const std::string& name) const { return attrs_.count(name) != 0; }
  const Attribute* Find(const std::string& name) const;
  const std::map<std::string, Attribute>& all() const { return attrs_; }

  StatusOr<int64_t> GetInt(const std::string& name, int64_t def) const;
  StatusOr<float> GetFloat(const std::string& name, float def) const;
  StatusOr<std::string> GetString(const std::string& name, const std::string& def) const;
  StatusOr<std::vector<int64_t>> GetInts(const std::string& name,
                                         const std::vector<int64_t>& def = {}) const;
  StatusOr<std::vector<float>> GetFloats(const std::string& name,
                                         const std::vector<float>& def = {}) const;
  // Null when absent.
  StatusOr<const Tensor*> GetTensor(const std::string& name) const;

 private:
  std::map<std::string, Attribute> attrs_;
};

}  // namespace refit::ir
