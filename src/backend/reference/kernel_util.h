// Helpers shared by reference kernels: dtype dispatch, axis handling, broadcasting, reading
// integer tensors. Header-only templates.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/reference/kernel.h"
#include "refit/tensor.h"

namespace refit::reference {

// Calls f.template operator()<T>() with T the C++ type of `dtype`, for the dtype families listed.
// Returns Unimplemented naming the dtype when it is not in the family.
template <typename F>
Status DispatchFloat(DataType dtype, F&& f) {
  switch (dtype) {
    case DataType::kF32:
      f.template operator()<float>();
      return Status::Ok();
    case DataType::kF64:
      f.template operator()<double>();
      return Status::Ok();
    case DataType::kF16:
      f.template operator()<Half>();
      return Status::Ok();
    case DataType::kBF16:
      f.template operator()<BFloat16>();
      return Status::Ok();
    default:
      return Unimplemented("dtype " + std::string(DataTypeName(dtype)) + " not supported");
  }
}

template <typename F>
Status DispatchInteger(DataType dtype, F&& f) {
  switch (dtype) {
    case DataType::kI8:
      f.template operator()<int8_t>();
      return Status::Ok();
    case DataType::kU8:
      f.template operator()<uint8_t>();
      return Status::Ok();
    case DataType::kI16:
      f.template operator()<int16_t>();
      return Status::Ok();
    case DataType::kI32:
      f.template operator()<int32_t>();
      return Status::Ok();
    case DataType::kI64:
      f.template operator()<int64_t>();
      return Status::Ok();
    default:
      return Unimplemented("dtype " + std::string(DataTypeName(dtype)) + " not supported");
  }
}

// Float and integer types (no bool).
template <typename F>
Status DispatchNumeric(DataType dtype, F&& f) {
  if (IsFloatingPoint(dtype)) return DispatchFloat(dtype, f);
  return DispatchInteger(dtype, f);
}

// Every dtype, bool included.
template <typename F>
Status DispatchAll(DataType dtype, F&& f) {
  if (dtype == DataType::kBool) {
    f.template operator()<bool>();
    return Status::Ok();
  }
  return DispatchNumeric(dtype, f);
}

// Normalises a possibly negative axis into [0, rank); error when out of range.
inline StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
    return InvalidArgument("axis " + std::to_string(axis) + " out of range for rank " +
                           std::to_string(rank));
  }
  return axis < 0 ? axis + rank : axis;
}

// Reads an integer tensor (i32 or i64, any shape) as int64 values.
inline StatusOr<std::vector<int64_t>> ReadInts(const Tensor& t) {
  std::vector<int64_t> v(size_t(t.NumElements()));
  if (t.dtype() == DataType::kI64) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = t.data_as<int64_t>()[i];
  } else if (t.dtype() == DataType::kI32) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = t.data_as<int32_t>()[i];
  } else {
    return InvalidArgument("expected an int32 or int64 tensor, got " +
                           std::string(DataTypeName(t.dtype())));
  }
  return v;
}

// Reads a scalar of any numeric dtype as double.
inline double ReadScalarAsDouble(const Tensor& t, int64_t index = 0) {
  double r = 0;
  (void)DispatchAll(t.dtype(), [&]<typename T>() { r = double(t.data_as<T>()[index]); });
  return r;
}

// Iterates over every element of `out` and, for each broadcast input, the flat offset of the
// element that maps to it. f(out_index, offsets) with offsets[k] for input k.
template <typename F>
void ForEachBroadcast(const Shape& out, const std::vector<Shape>& ins, F&& f) {
  const size_t rank = out.rank();
  const size_t k = ins.size();
  // Per input, per output axis: element stride (0 where broadcast).
  std::vector<std::vector<int64_t>> strides(k, std::vector<int64_t>(rank, 0));
  for (size_t j = 0; j < k; ++j) {
    const std::vector<int64_t> s = ins[j].Strides();
    const size_t off = rank - ins[j].rank();
    for (size_t a = 0; a < ins[j].rank(); ++a) {
      strides[j][a + off] = ins[j][a] == 1 ? 0 : s[a];
    }
  }
  const int64_t n = out.NumElements();
  std::vector<int64_t> idx(rank, 0);
  std::vector<int64_t> offsets(k, 0);
  for (int64_t i = 0; i < n; ++i) {
    f(i, offsets.data());
    // Increment the multi-index and the input offsets.
    for (size_t a = rank; a-- > 0;) {
      if (++idx[a] < out[a]) {
        for (size_t j = 0; j < k; ++j) offsets[j] += strides[j][a];
        break;
      }
      for (size_t j = 0; j < k; ++j) offsets[j] -= strides[j][a] * (out[a] - 1);
      idx[a] = 0;
    }
  }
}

}  // namespace refit::reference
