// Internal to engine: the JSON encodings of dtypes, shapes and IR nodes the sections are written
// with (nlohmann::json), PlanError, and the checked reads over a Document object (plan_doc.h)
// that the tactics section's parser uses. Every read validates the type and range it needs and
// throws PlanError, which the section parsers turn into a DataLoss Status naming the file.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

#include "engine/plan_doc.h"
#include "ir/graph.h"
#include "refit/tensor.h"

namespace refit::engine::internal {

using Json = nlohmann::json;

struct PlanError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Json DTypeToJson(DataType d);
Json ShapeToJson(const Shape& s);
Json NodeToJson(const ir::Node& n);

// A JSON text section's document; a malformed one throws PlanError.
Document ParseJsonSection(std::string_view text);

// Checked reads of one object's members, each lookup starting after the member the last one found
// (DocValue::find with a cursor): parsers read the members in the writer's (sorted) order.
class Object {
 public:
  explicit Object(DocValue j) : j_(j) {}
  DocValue Field(const char* key);
  std::string String(const char* key);
  int64_t Int(const char* key, int64_t lo, int64_t hi);
  bool Bool(const char* key);
  double Double(const char* key);
  DocValue Array(const char* key, size_t max_size);

 private:
  DocValue j_;
  uint32_t cursor_ = 0;
};

}  // namespace refit::engine::internal
