// Selection along an axis: TopK, ArgMax, ArgMin.
//
// NaN orders above every number (as numpy's argmax picks the first NaN), which also keeps the
// sort comparator a strict weak order.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/shape_ops_internal.h"

namespace refit::reference {
namespace {

template <typename V>
bool IsNan(V v) {
  if constexpr (std::is_floating_point_v<V>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

// a < b with NaN greatest.
template <typename V>
bool NanLess(V a, V b) {
  if (IsNan(a)) return false;
  return IsNan(b) || a < b;
}

template <typename T>
void TopKTyped(const Tensor& x, size_t axis, int64_t k, bool largest, Tensor& values,
               Tensor& indices) {
  using V = decltype(AsArithmetic(T()));
  const Shape& s = x.shape();
  const int64_t outer = DimProduct(s, 0, axis);
  const int64_t dim = s[axis];
  const int64_t inner = DimProduct(s, axis + 1, s.rank());
  const T* src = x.data_as<T>();
  T* out_v = values.mutable_data_as<T>();
  int64_t* out_i = indices.mutable_data_as<int64_t>();
  std::vector<int64_t> order(static_cast<size_t>(dim));
  std::vector<V> row(static_cast<size_t>(dim));
  // Ties go to the lower index, as the ONNX spec requires, whatever `sorted` says.
  auto before = [&](int64_t a, int64_t b) {
    const V va = row[size_t(a)], vb = row[size_t(b)];
    if (largest ? NanLess(vb, va) : NanLess(va, vb)) return true;
    if (largest ? NanLess(va, vb) : NanLess(vb, va)) return false;
    return a < b;
  };
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      for (int64_t j = 0; j < dim; ++j) {
        row[size_t(j)] = AsArithmetic(src[(o * dim + j) * inner + in]);
        order[size_t(j)] = j;
      }
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t at = (o * k + j) * inner + in;
        out_i[at] = order[size_t(j)];
        out_v[at] = src[(o * dim + order[size_t(j)]) * inner + in];
      }
    }
  }
}

Status TopK(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  const Shape& s = x->shape();
  if (s.rank() == 0) return ctx.Error("input must have rank >= 1, found a scalar");
  // Opset 10 moved k from an attribute to input 1.
  std::vector<int64_t> kv;
  if (const Tensor* k_in = ctx.input(1)) {
    REFIT_ASSIGN_OR_RETURN(kv, ReadInts(*k_in));
  } else if (ctx.attrs().Has("k")) {
    REFIT_ASSIGN_OR_RETURN(int64_t k_attr, ctx.attrs().GetInt("k", 0));
    kv.push_back(k_attr);
  }
  if (kv.size() != 1) return ctx.Error("k must be given as one element");
  REFIT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().GetInt("axis", -1));
  REFIT_ASSIGN_OR_RETURN(int64_t axis64, NormalizeAxis(axis_attr, int64_t(s.rank())));
  const size_t axis = size_t(axis64);
  REFIT_ASSIGN_OR_RETURN(int64_t largest, ctx.attrs().GetInt("largest", 1));
  const int64_t k = kv[0];
  if (k < 0 || k > s[axis]) {
    return ctx.Error("k = " + std::to_string(k) + " is outside [0, " + std::to_string(s[axis]) +
                     "] for axis " + std::to_string(axis) + " of " + s.ToString());
  }
  std::vector<int64_t> dims = s.dims();
  dims[axis] = k;
  REFIT_ASSIGN_OR_RETURN(Tensor * values, ctx.AllocateOutput(0, x->dtype(), Shape(dims)));
  REFIT_ASSIGN_OR_RETURN(Tensor * indices, ctx.AllocateOutput(1, DataType::kI64, Shape(dims)));
  return DispatchNumeric(x->dtype(), [&]<typename T>() {
    TopKTyped<T>(*x, axis, k, largest != 0, *values, *indices);
  });
}

template <bool kMax>
Status ArgExtreme(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  const Shape& s = x->shape();
  REFIT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().GetInt("axis", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t keepdims, ctx.attrs().GetInt("keepdims", 1));
  REFIT_ASSIGN_OR_RETURN(int64_t last, ctx.attrs().GetInt("select_last_index", 0));
  if (s.rank() == 0) return ctx.Error("input must have rank >= 1, found a scalar");
  REFIT_ASSIGN_OR_RETURN(int64_t axis64, NormalizeAxis(axis_attr, int64_t(s.rank())));
  const size_t axis = size_t(axis64);
  const int64_t dim = s[axis];
  if (dim == 0) return ctx.Error("cannot reduce the empty axis " + std::to_string(axis));
  std::vector<int64_t> dims = s.dims();
  if (keepdims) {
    dims[axis] = 1;
  } else {
    dims.erase(dims.begin() + int64_t(axis));
  }
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DataType::kI64, Shape(dims)));
  const int64_t outer = DimProduct(s, 0, axis);
  const int64_t inner = DimProduct(s, axis + 1, s.rank());
  int64_t* dst = out->mutable_data_as<int64_t>();
  return DispatchNumeric(x->dtype(), [&]<typename T>() {
    const T* src = x->data_as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        auto best = AsArithmetic(src[o * dim * inner + in]);
        int64_t best_j = 0;
        for (int64_t j = 1; j < dim; ++j) {
          const auto v = AsArithmetic(src[(o * dim + j) * inner + in]);
          if (IsNan(best)) break;  // the first NaN wins, as in numpy
          const bool better = IsNan(v) || (kMax ? v > best : v < best);
          if (better || (last && v == best)) {
            best = v;
            best_j = j;
          }
        }
        dst[o * inner + in] = best_j;
      }
    }
  });
}

}  // namespace

void RegisterSelectionOps(KernelRegistry& r) {
  r.Register("TopK", &TopK);
  r.Register("ArgMax", &ArgExtreme<true>);
  r.Register("ArgMin", &ArgExtreme<false>);
}

}  // namespace refit::reference
