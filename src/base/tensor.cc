#include "refit/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "base/block_cache.h"

namespace refit {
namespace {

std::shared_ptr<void> AllocateAligned(size_t nbytes, bool zero) {
  // Round up so aligned_alloc's size requirement holds; never request zero bytes.
  const size_t size = (nbytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  const size_t bytes = size == 0 ? kTensorAlignment : size;
  void* p = internal::BlockCache::Get().Take(bytes);
  if (p == nullptr) p = std::aligned_alloc(kTensorAlignment, bytes);
  if (p == nullptr) return nullptr;
  if (zero) {
    std::memset(p, 0, size == 0 ? kTensorAlignment : size);
  } else if (size > nbytes) {
    std::memset(static_cast<char*>(p) + nbytes, 0, size - nbytes);  // the padding only
  }
  return std::shared_ptr<void>(p, [bytes](void* q) { internal::BlockCache::Get().Give(q, bytes); });
}

}  // namespace

StatusOr<Tensor> Tensor::Create(DataType dtype, Shape shape) {
  return Allocate(dtype, std::move(shape), /*zero=*/true);
}

StatusOr<Tensor> Tensor::Uninitialized(DataType dtype, Shape shape) {
  return Allocate(dtype, std::move(shape), /*zero=*/false);
}

StatusOr<Tensor> Tensor::Allocate(DataType dtype, Shape shape, bool zero) {
  if (dtype == DataType::kUndefined) return InvalidArgument("tensor of undefined dtype");
  REFIT_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(shape.dims()));
  const size_t esize = DataTypeSize(dtype);
  if (size_t(n) > (size_t{1} << 46) / esize) {
    return OutOfRange("tensor of shape " + shape.ToString() + " is too large");
  }
  Tensor t;
  t.owner_ = AllocateAligned(size_t(n) * esize, zero);
  if (!t.owner_) {
    return OutOfRange("cannot allocate " + std::to_string(size_t(n) * esize) + " bytes for shape " +
                      shape.ToString());
  }
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = t.owner_.get();
  return t;
}

StatusOr<Tensor> Tensor::CopyOf(const TensorView& view) {
  REFIT_ASSIGN_OR_RETURN(Tensor t, Uninitialized(view.dtype(), view.shape()));
  if (t.nbytes() > 0) std::memcpy(t.data_, view.data(), t.nbytes());
  return t;
}

Tensor Tensor::Wrap(DataType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  t.owner_ = std::move(owner);
  return t;
}

Tensor Tensor::Clone() const {
  if (!defined()) return Tensor();
  return std::move(CopyOf(view())).value();
}

StatusOr<Tensor> Tensor::Reshaped(Shape shape) const {
  REFIT_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(shape.dims()));
  if (n != NumElements()) {
    return InvalidArgument("cannot reshape " + shape_.ToString() + " to " + shape.ToString());
  }
  Tensor t;
  t.dtype_ = dtype_;
  t.shape_ = std::move(shape);
  t.data_ = data_;
  t.owner_ = owner_;
  return t;
}

}  // namespace refit
