// Element types of refit tensors, with the names used by safetensors and ONNX.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "refit/float16.h"

namespace refit {

enum class DataType : uint8_t {
  kUndefined = 0,
  kF32,
  kF16,
  kBF16,
  kF64,
  kI8,
  kU8,
  kI16,
  kI32,
  kI64,
  kBool,
};

// Bytes per element; 0 for kUndefined.
size_t DataTypeSize(DataType dtype);
// "f32", "f16", ... (refit's own short names, used in messages and `inspect`).
std::string_view DataTypeName(DataType dtype);
// safetensors header names: "F32", "F16", "BF16", "F64", "I8", "U8", "I16", "I32", "I64", "BOOL".
std::string_view DataTypeSafetensorsName(DataType dtype);
std::optional<DataType> DataTypeFromSafetensorsName(std::string_view name);
// ONNX TensorProto.DataType enum values (FLOAT = 1, ...). nullopt for types refit cannot carry.
std::optional<DataType> DataTypeFromOnnx(int onnx_type);
int DataTypeToOnnx(DataType dtype);
bool IsFloatingPoint(DataType dtype);

template <typename T>
struct DataTypeOf;
template <>
struct DataTypeOf<float> {
  static constexpr DataType value = DataType::kF32;
};
template <>
struct DataTypeOf<Half> {
  static constexpr DataType value = DataType::kF16;
};
template <>
struct DataTypeOf<BFloat16> {
  static constexpr DataType value = DataType::kBF16;
};
template <>
struct DataTypeOf<double> {
  static constexpr DataType value = DataType::kF64;
};
template <>
struct DataTypeOf<int8_t> {
  static constexpr DataType value = DataType::kI8;
};
template <>
struct DataTypeOf<uint8_t> {
  static constexpr DataType value = DataType::kU8;
};
template <>
struct DataTypeOf<int16_t> {
  static constexpr DataType value = DataType::kI16;
};
template <>
struct DataTypeOf<int32_t> {
  static constexpr DataType value = DataType::kI32;
};
template <>
struct DataTypeOf<int64_t> {
  static constexpr DataType value = DataType::kI64;
};
template <>
struct DataTypeOf<bool> {
  static constexpr DataType value = DataType::kBool;
};

}  // namespace refit
