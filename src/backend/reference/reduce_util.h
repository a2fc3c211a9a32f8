// Internal helpers for kernels that fold some axes of a tensor into groups (Reduce*,
// MeanVarianceNormalization) and for reading small float parameter tensors.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "refit/tensor.h"

namespace refit::reference {

// Converts a double to element type T: integers truncate toward zero (as numpy's astype does),
// Half/BFloat16 round through float.
template <typename T>
T FromDouble(double v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(float(v));
  } else {
    return static_cast<T>(v);
  }
}

// Reads a float tensor of any float dtype (or an integer one) into doubles.
inline StatusOr<std::vector<double>> ReadDoubles(const Tensor& t) {
  std::vector<double> v(size_t(t.NumElements()));
  Status st = DispatchNumeric(t.dtype(), [&]<typename T>() {
    const T* p = t.data_as<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = double(p[i]);
  });
  if (!st.ok()) return st;
  return v;
}

// Reads input i of `ctx` as doubles and checks it holds `count` elements (a normalisation's
// scale, bias, mean or variance); errors name the parameter and the node.
inline StatusOr<std::vector<double>> ReadParam(const KernelContext& ctx, size_t i, const char* name,
                                               int64_t count) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequiredInput(i));
  if (t->NumElements() != count) {
    return ctx.Error(std::string(name) + " has shape " + t->shape().ToString() + ", expected " +
                     std::to_string(count) + " elements");
  }
  auto v = ReadDoubles(*t);
  if (!v.ok()) return ctx.Error(std::string(name) + ": " + v.status().message());
  return v;
}

// For each input axis: the stride of the matching output axis, or 0 where the axis is folded.
// `reduced[a]` marks folded axes. The output is the row-major layout of the kept axes.
inline std::vector<int64_t> GroupStrides(const Shape& in, const std::vector<bool>& reduced) {
  const size_t rank = in.rank();
  std::vector<int64_t> strides(rank, 0);
  int64_t s = 1;
  for (size_t a = rank; a-- > 0;) {
    if (reduced[a]) continue;
    strides[a] = s;
    s *= in[a];
  }
  return strides;
}

// Calls f(in_index, group_index) for every element of a tensor of shape `in`, in row-major order,
// where group_index = sum(idx[a] * group_strides[a]).
template <typename F>
void ForEachGrouped(const Shape& in, const std::vector<int64_t>& group_strides, F&& f) {
  const size_t rank = in.rank();
  if (in.NumElements() == 0) return;
  if (rank == 0) {
    f(int64_t{0}, int64_t{0});
    return;
  }
  std::vector<int64_t> idx(rank, 0);
  const int64_t inner = in[rank - 1];
  const int64_t inner_stride = group_strides[rank - 1];
  int64_t i = 0;
  int64_t g = 0;
  while (true) {
    for (int64_t k = 0; k < inner; ++k) f(i++, g + k * inner_stride);
    size_t a = rank - 1;
    while (true) {
      if (a == 0) return;
      --a;
      if (++idx[a] < in[a]) {
        g += group_strides[a];
        break;
      }
      g -= group_strides[a] * (in[a] - 1);
      idx[a] = 0;
    }
  }
}

}  // namespace refit::reference
