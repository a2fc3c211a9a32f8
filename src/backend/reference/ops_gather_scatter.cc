// Index-driven gathers and scatters: GatherElements, GatherND, ScatterElements, ScatterND.
//
// Each kernel first turns the index tensor into flat element (or block) offsets, checking every
// index against its dim, and only then moves data, so a bad index fails before any output is
// written. Plain gathers and `reduction="none"` scatters move whole elements by size and so work
// for every dtype; add/mul reductions dispatch on the numeric type (bool: add is or, mul is and).
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/shape_ops_internal.h"

namespace refit::reference {
namespace {

enum class Reduction { kNone, kAdd, kMul };

StatusOr<Reduction> ReadReduction(const KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(std::string r, ctx.attrs().GetString("reduction", "none"));
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  return ctx.Error("reduction must be none, add or mul, found '" + r + "'");
}

// Checks index `i` against `dim` and wraps a negative one. `what` names the position for errors.
StatusOr<int64_t> WrapIndex(const KernelContext& ctx, int64_t i, int64_t dim,
                            const std::string& what) {
  if (i < -dim || i >= dim) {
    return ctx.Error("index " + std::to_string(i) + " at " + what + " out of range [" +
                     std::to_string(-dim) + ", " + std::to_string(dim - 1) + "]");
  }
  return i < 0 ? i + dim : i;
}

// For each element of `indices` (same rank as `data`, index values along `axis`): the flat offset
// into `data` of the element it addresses.
StatusOr<std::vector<int64_t>> ElementOffsets(const KernelContext& ctx, const Shape& data,
                                              const Tensor& indices_in, size_t axis) {
  const Shape& is = indices_in.shape();
  if (is.rank() != data.rank()) {
    return ctx.Error("indices rank " + std::to_string(is.rank()) + " must equal data rank " +
                     std::to_string(data.rank()));
  }
  for (size_t a = 0; a < is.rank(); ++a) {
    if (a != axis && is[a] > data[a]) {
      return ctx.Error("indices shape " + is.ToString() + " exceeds data shape " + data.ToString() +
                       " on axis " + std::to_string(a));
    }
  }
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadInts(indices_in));
  const std::vector<int64_t> strides = data.Strides();
  std::vector<int64_t> pos(is.rank(), 0);
  for (size_t n = 0; n < idx.size(); ++n) {
    int64_t off = 0;
    for (size_t a = 0; a < is.rank(); ++a) {
      if (a == axis) {
        REFIT_ASSIGN_OR_RETURN(
            int64_t i, WrapIndex(ctx, idx[n], data[a], "flat position " + std::to_string(n)));
        off += i * strides[a];
      } else {
        off += pos[a] * strides[a];
      }
    }
    idx[n] = off;
    for (size_t a = is.rank(); a-- > 0;) {
      if (++pos[a] < is[a]) break;
      pos[a] = 0;
    }
  }
  return idx;
}

// For each index tuple (last axis of `indices`, length k) after `batch_dims` leading batch axes:
// the flat offset in elements into `data` of the block data[b..., i0, ..., ik-1, :...].
StatusOr<std::vector<int64_t>> BlockOffsets(const KernelContext& ctx, const Shape& data,
                                            const Tensor& indices_in, size_t batch_dims) {
  const Shape& is = indices_in.shape();
  if (is.rank() < 1 || is.rank() <= batch_dims || data.rank() <= batch_dims) {
    return ctx.Error("indices " + is.ToString() + " and data " + data.ToString() +
                     " must have rank > batch_dims " + std::to_string(batch_dims));
  }
  const size_t k = size_t(is[is.rank() - 1]);
  if (k < 1 || batch_dims + k > data.rank()) {
    return ctx.Error("indices last dim " + std::to_string(k) + " must be in [1, " +
                     std::to_string(data.rank() - batch_dims) + "] for data " + data.ToString());
  }
  for (size_t a = 0; a < batch_dims; ++a) {
    if (is[a] != data[a]) {
      return ctx.Error("batch dim " + std::to_string(a) + " differs: indices " + is.ToString() +
                       ", data " + data.ToString());
    }
  }
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadInts(indices_in));
  const std::vector<int64_t> strides = data.Strides();
  const int64_t batch = DimProduct(is, 0, batch_dims);
  const int64_t per_batch = DimProduct(is, batch_dims, is.rank() - 1);
  const int64_t batch_stride = batch_dims == 0 ? 0 : strides[batch_dims - 1];
  std::vector<int64_t> offsets;
  offsets.reserve(size_t(batch * per_batch));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < per_batch; ++t) {
      const size_t base = size_t(b * per_batch + t) * k;
      int64_t off = b * batch_stride;
      for (size_t j = 0; j < k; ++j) {
        const size_t a = batch_dims + j;
        REFIT_ASSIGN_OR_RETURN(int64_t i, WrapIndex(ctx, idx[base + j], data[a],
                                                    "tuple " + std::to_string(b * per_batch + t) +
                                                        " axis " + std::to_string(a)));
        off += i * strides[a];
      }
      offsets.push_back(off);
    }
  }
  return offsets;
}

template <typename T>
T Combine(T a, T b, Reduction r) {
  if constexpr (std::is_same_v<T, bool>) {
    return r == Reduction::kAdd ? (a || b) : (a && b);
  } else {
    return r == Reduction::kAdd ? T(AsArithmetic(a) + AsArithmetic(b))
                                : T(AsArithmetic(a) * AsArithmetic(b));
  }
}

// out[offsets[n] + e] (op)= updates[n * block + e] for every n in order and e < block.
Status ScatterBlocks(const Tensor& updates, const std::vector<int64_t>& offsets, int64_t block,
                     Reduction reduction, Tensor& out) {
  if (reduction == Reduction::kNone) {
    const size_t elem = DataTypeSize(out.dtype());
    const auto* src = static_cast<const uint8_t*>(updates.data());
    auto* dst = static_cast<uint8_t*>(out.mutable_data());
    for (size_t n = 0; n < offsets.size(); ++n) {
      std::memcpy(dst + size_t(offsets[n]) * elem, src + n * size_t(block) * elem,
                  size_t(block) * elem);
    }
    return Status::Ok();
  }
  return DispatchAll(out.dtype(), [&]<typename T>() {
    const T* src = updates.data_as<T>();
    T* dst = out.mutable_data_as<T>();
    for (size_t n = 0; n < offsets.size(); ++n) {
      for (int64_t e = 0; e < block; ++e) {
        T& d = dst[offsets[n] + e];
        d = Combine(d, src[int64_t(n) * block + e], reduction);
      }
    }
  });
}

Status CheckSameDtype(const KernelContext& ctx, const Tensor& data, const Tensor& updates) {
  if (updates.dtype() == data.dtype()) return Status::Ok();
  return ctx.Error("updates dtype " + std::string(DataTypeName(updates.dtype())) +
                   " must equal data dtype " + std::string(DataTypeName(data.dtype())));
}

Status GatherElements(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* indices, ctx.RequiredInput(1));
  const Shape& s = data->shape();
  if (s.rank() == 0) return ctx.Error("data must have rank >= 1, found a scalar");
  REFIT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().GetInt("axis", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_attr, int64_t(s.rank())));
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> offsets,
                         ElementOffsets(ctx, s, *indices, size_t(axis)));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), indices->shape()));
  const size_t elem = DataTypeSize(data->dtype());
  const auto* src = static_cast<const uint8_t*>(data->data());
  auto* dst = static_cast<uint8_t*>(out->mutable_data());
  for (size_t n = 0; n < offsets.size(); ++n) {
    std::memcpy(dst + n * elem, src + size_t(offsets[n]) * elem, elem);
  }
  return Status::Ok();
}

Status ScatterElements(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* indices, ctx.RequiredInput(1));
  REFIT_ASSIGN_OR_RETURN(const Tensor* updates, ctx.RequiredInput(2));
  const Shape& s = data->shape();
  if (s.rank() == 0) return ctx.Error("data must have rank >= 1, found a scalar");
  REFIT_RETURN_IF_ERROR(CheckSameDtype(ctx, *data, *updates));
  if (updates->shape() != indices->shape()) {
    return ctx.Error("updates shape " + updates->shape().ToString() + " must equal indices shape " +
                     indices->shape().ToString());
  }
  REFIT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().GetInt("axis", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_attr, int64_t(s.rank())));
  REFIT_ASSIGN_OR_RETURN(Reduction reduction, ReadReduction(ctx));
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> offsets,
                         ElementOffsets(ctx, s, *indices, size_t(axis)));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), s));
  if (data->NumElements() > 0) {
    std::memcpy(out->mutable_data(), data->data(),
                size_t(data->NumElements()) * DataTypeSize(data->dtype()));
  }
  return ScatterBlocks(*updates, offsets, 1, reduction, *out);
}

Status GatherND(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* indices, ctx.RequiredInput(1));
  REFIT_ASSIGN_OR_RETURN(int64_t batch_dims, ctx.attrs().GetInt("batch_dims", 0));
  if (batch_dims < 0) {
    return ctx.Error("batch_dims must be >= 0, found " + std::to_string(batch_dims));
  }
  const Shape& s = data->shape();
  const Shape& is = indices->shape();
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> offsets,
                         BlockOffsets(ctx, s, *indices, size_t(batch_dims)));
  const size_t k = size_t(is[is.rank() - 1]);
  std::vector<int64_t> dims(is.dims().begin(), is.dims().end() - 1);
  dims.insert(dims.end(), s.dims().begin() + int64_t(size_t(batch_dims) + k), s.dims().end());
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), Shape(dims)));
  const size_t block =
      size_t(DimProduct(s, size_t(batch_dims) + k, s.rank())) * DataTypeSize(data->dtype());
  const auto* src = static_cast<const uint8_t*>(data->data());
  auto* dst = static_cast<uint8_t*>(out->mutable_data());
  const size_t elem = DataTypeSize(data->dtype());
  for (size_t n = 0; n < offsets.size(); ++n) {
    std::memcpy(dst + n * block, src + size_t(offsets[n]) * elem, block);
  }
  return Status::Ok();
}

Status ScatterND(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* indices, ctx.RequiredInput(1));
  REFIT_ASSIGN_OR_RETURN(const Tensor* updates, ctx.RequiredInput(2));
  REFIT_RETURN_IF_ERROR(CheckSameDtype(ctx, *data, *updates));
  REFIT_ASSIGN_OR_RETURN(Reduction reduction, ReadReduction(ctx));
  const Shape& s = data->shape();
  const Shape& is = indices->shape();
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, BlockOffsets(ctx, s, *indices, 0));
  const size_t k = size_t(is[is.rank() - 1]);
  std::vector<int64_t> expected(is.dims().begin(), is.dims().end() - 1);
  expected.insert(expected.end(), s.dims().begin() + int64_t(k), s.dims().end());
  if (updates->shape() != Shape(expected)) {
    return ctx.Error("updates shape " + updates->shape().ToString() + ", expected " +
                     Shape(expected).ToString() + " for data " + s.ToString() + " and indices " +
                     is.ToString());
  }
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), s));
  if (data->NumElements() > 0) {
    std::memcpy(out->mutable_data(), data->data(),
                size_t(data->NumElements()) * DataTypeSize(data->dtype()));
  }
  return ScatterBlocks(*updates, offsets, DimProduct(s, k, s.rank()), reduction, *out);
}

}  // namespace

void RegisterGatherScatterOps(KernelRegistry& r) {
  r.Register("GatherElements", &GatherElements);
  r.Register("GatherND", &GatherND);
  r.Register("ScatterElements", &ScatterElements);
  r.Register("ScatterND", &ScatterND);
}

}  // namespace refit::reference
