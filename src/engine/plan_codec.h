// Internal to engine: JSON encodings of IR nodes and tensors used by the plan sections, and the
// checked readers the parsers use (every read validates the type and range it needs and throws
// PlanError, which the section parsers turn into a DataLoss Status naming the file).
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

#include "ir/graph.h"
#include "refit/tensor.h"

namespace refit::engine::internal {

using Json = nlohmann::json;

struct PlanError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Json DTypeToJson(DataType d);
DataType DTypeFromJson(const Json& j, const char* what);
Json ShapeToJson(const Shape& s);
Shape ShapeFromJson(const Json& j, const char* what);
Json NodeToJson(const ir::Node& n);
ir::Node NodeFromJson(const Json& j);

const Json& Field(const Json& j, const char* key);
std::string GetString(const Json& j, const char* key);
int64_t GetInt(const Json& j, const char* key, int64_t lo, int64_t hi);
bool GetBool(const Json& j, const char* key);
double GetDouble(const Json& j, const char* key);
const Json& GetArray(const Json& j, const char* key, size_t max_size);

}  // namespace refit::engine::internal
