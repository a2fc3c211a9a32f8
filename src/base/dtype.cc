#include "refit/dtype.h"

namespace refit {

size_t DataTypeSize(DataType dtype) {
  switch (dtype) {
    case DataType::kUndefined:
      return 0;
    case DataType::kF64:
    case DataType::kI64:
      return 8;
    case DataType::kF32:
    case DataType::kI32:
      return 4;
    case DataType::kF16:
    case DataType::kBF16:
    case DataType::kI16:
      return 2;
    case DataType::kI8:
    case DataType::kU8:
    case DataType::kBool:
      return 1;
  }
  return 0;
}

std::string_view DataTypeName(DataType dtype) {
  switch (dtype) {
    case DataType::kUndefined:
      return "undefined";
    case DataType::kF32:
      return "f32";
    case DataType::kF16:
      return "f16";
    case DataType::kBF16:
      return "bf16";
    case DataType::kF64:
      return "f64";
    case DataType::kI8:
      return "i8";
    case DataType::kU8:
      return "u8";
    case DataType::kI16:
      return "i16";
    case DataType::kI32:
      return "i32";
    case DataType::kI64:
      return "i64";
    case DataType::kBool:
      return "bool";
  }
  return "undefined";
}

std::string_view DataTypeSafetensorsName(DataType dtype) {
  switch (dtype) {
    case DataType::kUndefined:
      return "";
    case DataType::kF32:
      return "F32";
    case DataType::kF16:
      return "F16";
    case DataType::kBF16:
      return "BF16";
    case DataType::kF64:
      return "F64";
    case DataType::kI8:
      return "I8";
    case DataType::kU8:
      return "U8";
    case DataType::kI16:
      return "I16";
    case DataType::kI32:
      return "I32";
    case DataType::kI64:
      return "I64";
    case DataType::kBool:
      return "BOOL";
  }
  return "";
}

std::optional<DataType> DataTypeFromSafetensorsName(std::string_view name) {
  static constexpr DataType kAll[] = {
      DataType::kF32, DataType::kF16, DataType::kBF16, DataType::kF64, DataType::kI8,
      DataType::kU8,  DataType::kI16, DataType::kI32,  DataType::kI64, DataType::kBool};
  for (DataType d : kAll) {
    if (DataTypeSafetensorsName(d) == name) return d;
  }
  return std::nullopt;
}

// Values of onnx.TensorProto.DataType, spelled out so this layer does not depend on ONNX headers.
std::optional<DataType> DataTypeFromOnnx(int onnx_type) {
  switch (onnx_type) {
    case 1:
      return DataType::kF32;
    case 2:
      return DataType::kU8;
    case 3:
      return DataType::kI8;
    case 5:
      return DataType::kI16;
    case 6:
      return DataType::kI32;
    case 7:
      return DataType::kI64;
    case 9:
      return DataType::kBool;
    case 10:
      return DataType::kF16;
    case 11:
      return DataType::kF64;
    case 16:
      return DataType::kBF16;
    default:
      return std::nullopt;
  }
}

int DataTypeToOnnx(DataType dtype) {
  switch (dtype) {
    case DataType::kUndefined:
      return 0;
    case DataType::kF32:
      return 1;
    case DataType::kU8:
      return 2;
    case DataType::kI8:
      return 3;
    case DataType::kI16:
      return 5;
    case DataType::kI32:
      return 6;
    case DataType::kI64:
      return 7;
    case DataType::kBool:
      return 9;
    case DataType::kF16:
      return 10;
    case DataType::kF64:
      return 11;
    case DataType::kBF16:
      return 16;
  }
  return 0;
}

bool IsFloatingPoint(DataType dtype) {
  return dtype == DataType::kF32 || dtype == DataType::kF16 || dtype == DataType::kBF16 ||
         dtype == DataType::kF64;
}

}  // namespace refit
