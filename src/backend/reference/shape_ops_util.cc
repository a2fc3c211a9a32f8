#include <cstring>

#include "backend/reference/kernel_util.h"
#include "backend/reference/shape_ops_internal.h"

namespace refit::reference {
namespace {

// E is an unsigned integer of the element's size: moving it moves the element's bytes exactly.
template <typename E>
void CopyStridedTyped(const E* src, int64_t offset, const std::vector<int64_t>& strides,
                      const std::vector<int64_t>& dims, E* dst) {
  if (dims.empty()) {
    *dst = src[offset];
    return;
  }
  for (int64_t d : dims) {
    if (d == 0) return;
  }
  const size_t outer_rank = dims.size() - 1;
  const int64_t inner = dims.back();
  const int64_t inner_stride = strides.back();
  int64_t outer = 1;
  for (size_t a = 0; a < outer_rank; ++a) outer *= dims[a];
  std::vector<int64_t> idx(outer_rank, 0);
  for (int64_t o = 0; o < outer; ++o) {
    const E* s = src + offset;
    if (inner_stride == 1) {
      std::memcpy(dst, s, size_t(inner) * sizeof(E));
    } else {
      for (int64_t i = 0; i < inner; ++i) dst[i] = s[i * inner_stride];
    }
    dst += inner;
    for (size_t a = outer_rank; a-- > 0;) {
      offset += strides[a];
      if (++idx[a] < dims[a]) break;
      offset -= strides[a] * dims[a];
      idx[a] = 0;
    }
  }
}

}  // namespace

void CopyStrided(const void* src, int64_t src_offset, const std::vector<int64_t>& src_strides,
                 const Shape& out_shape, size_t elem_size, void* dst) {
  const std::vector<int64_t>& dims = out_shape.dims();
  switch (elem_size) {
    case 1:
      CopyStridedTyped(static_cast<const uint8_t*>(src), src_offset, src_strides, dims,
                       static_cast<uint8_t*>(dst));
      break;
    case 2:
      CopyStridedTyped(static_cast<const uint16_t*>(src), src_offset, src_strides, dims,
                       static_cast<uint16_t*>(dst));
      break;
    case 4:
      CopyStridedTyped(static_cast<const uint32_t*>(src), src_offset, src_strides, dims,
                       static_cast<uint32_t*>(dst));
      break;
    default:
      CopyStridedTyped(static_cast<const uint64_t*>(src), src_offset, src_strides, dims,
                       static_cast<uint64_t*>(dst));
      break;
  }
}

Status CopyWithShape(KernelContext& ctx, const Tensor& in, Shape shape) {
  REFIT_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(shape.dims()));
  if (n != in.NumElements()) {
    return ctx.Error("cannot give input of shape " + in.shape().ToString() + " (" +
                     std::to_string(in.NumElements()) + " elements) the shape " + shape.ToString() +
                     " (" + std::to_string(n) + " elements)");
  }
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, in.dtype(), std::move(shape)));
  if (in.nbytes() > 0) std::memcpy(out->mutable_data(), in.data(), in.nbytes());
  return Status::Ok();
}

StatusOr<bool> ReadIntsInputOrAttr(const KernelContext& ctx, size_t input_index,
                                   const std::string& attr_name, std::vector<int64_t>& values) {
  values.clear();
  if (const Tensor* t = ctx.input(input_index)) {
    auto v = ReadInts(*t);
    if (!v.ok()) {
      return ctx.Error("input " + std::to_string(input_index) + ": " + v.status().message());
    }
    values = std::move(v).value();
    return true;
  }
  if (ctx.attrs().Has(attr_name)) {
    REFIT_ASSIGN_OR_RETURN(values, ctx.attrs().GetInts(attr_name));
    return true;
  }
  return false;
}

int64_t DimProduct(const Shape& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t a = begin; a < end && a < shape.rank(); ++a) p *= shape[a];
  return p;
}

}  // namespace refit::reference
