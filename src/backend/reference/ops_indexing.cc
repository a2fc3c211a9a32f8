// Indexing operators: Gather (select along an axis by index), Trilu (keep a triangle), CumSum.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/shape_ops_internal.h"

namespace refit::reference {
namespace {

Status Gather(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* indices_in, ctx.RequiredInput(1));
  const Shape& s = data->shape();
  if (s.rank() == 0) return ctx.Error("data must have rank >= 1, found a scalar");
  REFIT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().GetInt("axis", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t axis64, NormalizeAxis(axis_attr, int64_t(s.rank())));
  const size_t axis = size_t(axis64);
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> indices, ReadInts(*indices_in));
  const int64_t dim = s[axis];
  for (int64_t& i : indices) {
    if (i < -dim || i >= dim) {
      return ctx.Error("index " + std::to_string(i) + " out of range for dim " +
                       std::to_string(axis) + " of " + s.ToString());
    }
    if (i < 0) i += dim;
  }
  std::vector<int64_t> dims(s.dims().begin(), s.dims().begin() + int64_t(axis));
  dims.insert(dims.end(), indices_in->shape().dims().begin(), indices_in->shape().dims().end());
  dims.insert(dims.end(), s.dims().begin() + int64_t(axis) + 1, s.dims().end());
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), Shape(dims)));
  const int64_t outer = DimProduct(s, 0, axis);
  const size_t block = size_t(DimProduct(s, axis + 1, s.rank())) * DataTypeSize(data->dtype());
  if (block == 0 || out->NumElements() == 0) return Status::Ok();
  const auto* src = static_cast<const uint8_t*>(data->data());
  auto* dst = static_cast<uint8_t*>(out->mutable_data());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i : indices) {
      std::memcpy(dst, src + size_t(o * dim + i) * block, block);
      dst += block;
    }
  }
  return Status::Ok();
}

Status Trilu(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  const Shape& s = data->shape();
  if (s.rank() < 2) return ctx.Error("input must have rank >= 2, found " + s.ToString());
  REFIT_ASSIGN_OR_RETURN(int64_t upper, ctx.attrs().GetInt("upper", 1));
  int64_t k = 0;
  if (const Tensor* k_in = ctx.input(1)) {
    REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> kv, ReadInts(*k_in));
    if (kv.size() != 1)
      return ctx.Error("k must hold one element, found " + k_in->shape().ToString());
    k = kv[0];
  }
  const int64_t rows = s[s.rank() - 2];
  const int64_t cols = s[s.rank() - 1];
  // Beyond +-(rows + cols) every k selects all or nothing; clamping avoids overflow below.
  k = std::clamp<int64_t>(k, -(rows + cols), rows + cols);
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), s));
  const size_t elem = DataTypeSize(data->dtype());
  const int64_t matrices = DimProduct(s, 0, s.rank() - 2);
  const auto* src = static_cast<const uint8_t*>(data->data());
  auto* dst = static_cast<uint8_t*>(out->mutable_data());
  // The output starts zero-filled (all-zero bytes are zero in every dtype); copy the kept part
  // of each row: upper keeps j - i >= k, lower keeps j - i <= k.
  for (int64_t m = 0; m < matrices; ++m) {
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
      const int64_t hi = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
      if (hi <= lo) continue;
      const size_t row = size_t((m * rows + i) * cols);
      std::memcpy(dst + (row + size_t(lo)) * elem, src + (row + size_t(lo)) * elem,
                  size_t(hi - lo) * elem);
    }
  }
  return Status::Ok();
}

Status CumSum(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* axis_in, ctx.RequiredInput(1));
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> axis_v, ReadInts(*axis_in));
  if (axis_v.size() != 1) {
    return ctx.Error("axis must hold one element, found " + axis_in->shape().ToString());
  }
  const Shape& s = data->shape();
  REFIT_ASSIGN_OR_RETURN(int64_t axis64, NormalizeAxis(axis_v[0], int64_t(s.rank())));
  const size_t axis = size_t(axis64);
  REFIT_ASSIGN_OR_RETURN(int64_t exclusive, ctx.attrs().GetInt("exclusive", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t reverse, ctx.attrs().GetInt("reverse", 0));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), s));
  const int64_t outer = DimProduct(s, 0, axis);
  const int64_t dim = s.rank() == 0 ? 1 : s[axis];
  const int64_t inner = DimProduct(s, axis + 1, s.rank());
  return DispatchNumeric(data->dtype(), [&]<typename T>() {
    // Integers accumulate in 64 bits (wrapping as the narrow type would), floats in double.
    using Acc =
        std::conditional_t<std::is_integral_v<T>,
                           std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>, double>;
    const T* src = data->data_as<T>();
    T* dst = out->mutable_data_as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        Acc acc = 0;
        for (int64_t step = 0; step < dim; ++step) {
          const int64_t j = reverse ? dim - 1 - step : step;
          const int64_t at = (o * dim + j) * inner + in;
          if (exclusive) {
            dst[at] = T(acc);
            acc += Acc(AsArithmetic(src[at]));
          } else {
            acc += Acc(AsArithmetic(src[at]));
            dst[at] = T(acc);
          }
        }
      }
    }
  });
}

}  // namespace

void RegisterIndexingOps(KernelRegistry& r) {
  r.Register("Gather", &Gather);
  r.Register("Trilu", &Trilu);
  r.Register("CumSum", &CumSum);
  RegisterSelectionOps(r);
  RegisterGatherScatterOps(r);
}

}  // namespace refit::reference
