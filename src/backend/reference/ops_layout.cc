// Layout operators: they move whole elements into a new arrangement (Transpose, Concat, Split,
// Expand, Tile). All are dtype independent and copy elements by size.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/shape_ops_internal.h"

namespace refit::reference {
namespace {

std::string JoinInts(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ",";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

Status Transpose(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  const Shape& s = data->shape();
  const size_t rank = s.rank();
  std::vector<int64_t> perm(rank);
  std::iota(perm.rbegin(), perm.rend(), 0);  // the default reverses the dims
  if (ctx.attrs().Has("perm")) {
    REFIT_ASSIGN_OR_RETURN(perm, ctx.attrs().GetInts("perm"));
  }
  std::vector<bool> seen(rank, false);
  bool valid = perm.size() == rank;
  for (size_t i = 0; valid && i < rank; ++i) {
    valid = perm[i] >= 0 && perm[i] < int64_t(rank) && !seen[size_t(perm[i])];
    if (valid) seen[size_t(perm[i])] = true;
  }
  if (!valid) {
    return ctx.Error("perm " + JoinInts(perm) + " is not a permutation of rank " +
                     std::to_string(rank));
  }
  const std::vector<int64_t> in_strides = s.Strides();
  std::vector<int64_t> dims(rank), strides(rank);
  for (size_t i = 0; i < rank; ++i) {
    dims[i] = s[size_t(perm[i])];
    strides[i] = in_strides[size_t(perm[i])];
  }
  Shape out_shape(std::move(dims));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), out_shape));
  CopyStrided(data->data(), 0, strides, out_shape, DataTypeSize(data->dtype()),
              out->mutable_data());
  return Status::Ok();
}

Status Concat(KernelContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.Error("no inputs");
  REFIT_ASSIGN_OR_RETURN(const Tensor* first, ctx.RequiredInput(0));
  const size_t rank = first->shape().rank();
  if (rank == 0) return ctx.Error("cannot concatenate scalars");
  if (!ctx.attrs().Has("axis")) return ctx.Error("attribute 'axis' is required");
  REFIT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().GetInt("axis", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t axis64, NormalizeAxis(axis_attr, int64_t(rank)));
  const size_t axis = size_t(axis64);
  std::vector<int64_t> dims = first->shape().dims();
  dims[axis] = 0;
  for (size_t k = 0; k < ctx.num_inputs(); ++k) {
    REFIT_ASSIGN_OR_RETURN(const Tensor* in, ctx.RequiredInput(k));
    bool match = in->dtype() == first->dtype() && in->shape().rank() == rank;
    for (size_t a = 0; match && a < rank; ++a) {
      match = a == axis || in->shape()[a] == first->shape()[a];
    }
    if (!match) {
      return ctx.Error("input " + std::to_string(k) + " (" +
                       std::string(DataTypeName(in->dtype())) + " " + in->shape().ToString() +
                       ") does not match input 0 (" + std::string(DataTypeName(first->dtype())) +
                       " " + first->shape().ToString() + ") outside axis " + std::to_string(axis));
    }
    dims[axis] += in->shape()[axis];
  }
  const Shape out_shape(std::move(dims));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, first->dtype(), out_shape));
  const size_t elem = DataTypeSize(first->dtype());
  const int64_t outer = DimProduct(out_shape, 0, axis);
  auto* dst = static_cast<uint8_t*>(out->mutable_data());
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t k = 0; k < ctx.num_inputs(); ++k) {
      const Tensor* in = ctx.input(k);
      const size_t block = size_t(DimProduct(in->shape(), axis, rank)) * elem;
      if (block == 0) continue;
      std::memcpy(dst, static_cast<const uint8_t*>(in->data()) + size_t(o) * block, block);
      dst += block;
    }
  }
  return Status::Ok();
}

Status Split(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  const Shape& s = data->shape();
  REFIT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().GetInt("axis", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t axis64, NormalizeAxis(axis_attr, int64_t(s.rank())));
  const size_t axis = size_t(axis64);
  const int64_t dim = s[axis];
  const size_t n_out = ctx.outputs.size();
  if (n_out == 0) return ctx.Error("no outputs");
  std::vector<int64_t> split;
  REFIT_ASSIGN_OR_RETURN(bool has_split, ReadIntsInputOrAttr(ctx, 1, "split", split));
  if (!has_split) {
    // Equal parts; when the dim does not divide, the last part is smaller (as opset 18 defines).
    const int64_t part = (dim + int64_t(n_out) - 1) / int64_t(n_out);
    for (size_t i = 0; i < n_out; ++i) {
      split.push_back(std::clamp<int64_t>(dim - int64_t(i) * part, 0, part));
    }
  }
  int64_t sum = 0;
  for (int64_t v : split) sum += v < 0 ? dim + 1 : v;  // a negative part can never add up
  if (split.size() != n_out || sum != dim) {
    return ctx.Error("split " + JoinInts(split) + " must have one non-negative entry per output (" +
                     std::to_string(n_out) + ") summing to dim " + std::to_string(axis) + " of " +
                     s.ToString());
  }
  const size_t elem = DataTypeSize(data->dtype());
  const int64_t outer = DimProduct(s, 0, axis);
  const size_t inner = size_t(DimProduct(s, axis + 1, s.rank())) * elem;
  const auto* src = static_cast<const uint8_t*>(data->data());
  int64_t offset = 0;  // along the axis
  for (size_t i = 0; i < n_out; ++i) {
    std::vector<int64_t> dims = s.dims();
    dims[axis] = split[i];
    REFIT_ASSIGN_OR_RETURN(Tensor * out,
                           ctx.AllocateOutput(i, data->dtype(), Shape(std::move(dims))));
    const size_t block = size_t(split[i]) * inner;
    auto* dst = static_cast<uint8_t*>(out->mutable_data());
    for (int64_t o = 0; block > 0 && o < outer; ++o) {
      std::memcpy(dst + size_t(o) * block, src + (size_t(o * dim + offset)) * inner, block);
    }
    offset += split[i];
  }
  return Status::Ok();
}

// Strides (in elements) that read `in` broadcast to `out` (numpy rules; rank(out) >= rank(in)).
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.rank(), 0);
  const std::vector<int64_t> in_strides = in.Strides();
  const size_t off = out.rank() - in.rank();
  for (size_t a = 0; a < in.rank(); ++a) strides[a + off] = in[a] == 1 ? 0 : in_strides[a];
  return strides;
}

Status Expand(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* shape_in, ctx.RequiredInput(1));
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> dims, ReadInts(*shape_in));
  auto out_shape = BroadcastShapes(data->shape(), Shape(std::move(dims)));
  if (!out_shape.ok()) return ctx.Error(out_shape.status().message());
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), *out_shape));
  CopyStrided(data->data(), 0, BroadcastStrides(data->shape(), *out_shape), *out_shape,
              DataTypeSize(data->dtype()), out->mutable_data());
  return Status::Ok();
}

Status Tile(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* repeats_in, ctx.RequiredInput(1));
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, ReadInts(*repeats_in));
  const Shape& s = data->shape();
  if (repeats.size() != s.rank()) {
    return ctx.Error("repeats " + JoinInts(repeats) + " must have one entry per dim of " +
                     s.ToString());
  }
  // The output viewed as [r0, d0, r1, d1, ...] reads the input with stride 0 along each r axis.
  const std::vector<int64_t> in_strides = s.Strides();
  std::vector<int64_t> out_dims, view_dims, view_strides;
  for (size_t a = 0; a < s.rank(); ++a) {
    if (repeats[a] < 0) return ctx.Error("negative repeat " + JoinInts(repeats));
    out_dims.push_back(s[a] * repeats[a]);
    view_dims.insert(view_dims.end(), {repeats[a], s[a]});
    view_strides.insert(view_strides.end(), {0, in_strides[a]});
  }
  REFIT_ASSIGN_OR_RETURN(Tensor * out,
                         ctx.AllocateOutput(0, data->dtype(), Shape(std::move(out_dims))));
  CopyStrided(data->data(), 0, view_strides, Shape(std::move(view_dims)),
              DataTypeSize(data->dtype()), out->mutable_data());
  return Status::Ok();
}

}  // namespace

void RegisterLayoutOps(KernelRegistry& r) {
  r.Register("Transpose", &Transpose);
  r.Register("Concat", &Concat);
  r.Register("Split", &Split);
  r.Register("Expand", &Expand);
  r.Register("Tile", &Tile);
}

}  // namespace refit::reference
