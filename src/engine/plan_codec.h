// Internal to engine: JSON encodings of IR nodes and tensors used by the plan sections (written
// with nlohmann::json), and the checked readers the parsers use over a Document (plan_doc.h):
// every read validates the type and range it needs and throws PlanError, which the section parsers
// turn into a DataLoss Status naming the file.
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
DataType DTypeFromJson(DocValue j, const char* what);
Json ShapeToJson(const Shape& s);
Shape ShapeFromJson(DocValue j, const char* what);
Json NodeToJson(const ir::Node& n);
ir::Node NodeFromJson(DocValue j);

// A section's document; a malformed one throws PlanError.
Document ParseCborSection(std::string_view bytes);
Document ParseJsonSection(std::string_view text);

DocValue Field(DocValue j, const char* key);
std::string GetString(DocValue j, const char* key);
int64_t GetInt(DocValue j, const char* key, int64_t lo, int64_t hi);
bool GetBool(DocValue j, const char* key);
double GetDouble(DocValue j, const char* key);
DocValue GetArray(DocValue j, const char* key, size_t max_size);

}  // namespace refit::engine::internal
