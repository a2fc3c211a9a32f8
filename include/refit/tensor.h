// Tensor (owning, 64-byte aligned) and TensorView (borrowed).
//
// A Tensor owns its bytes, or shares ownership of a buffer that outlives it (for example an mmapped
// file, so weights can be used in place without a copy). Tensors are move-only; Clone() copies.
// A TensorView is a non-owning (dtype, shape, pointer) triple: the caller keeps the memory alive.
// Neither type is synchronised: concurrent reads are safe, concurrent writes are not.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "refit/dtype.h"
#include "refit/shape.h"
#include "refit/status.h"

namespace refit {

inline constexpr size_t kTensorAlignment = 64;

class TensorView {
 public:
  TensorView() = default;
  TensorView(DataType dtype, Shape shape, const void* data)
      : dtype_(dtype), shape_(std::move(shape)), data_(data) {}

  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const void* data() const { return data_; }
  template <typename T>
  const T* data_as() const {
    return static_cast<const T*>(data_);
  }
  int64_t NumElements() const { return shape_.NumElements(); }
  size_t nbytes() const { return size_t(NumElements()) * DataTypeSize(dtype_); }
  bool empty() const { return data_ == nullptr && dtype_ == DataType::kUndefined; }

 private:
  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  const void* data_ = nullptr;
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  // Zero-filled tensor. Fails on a negative dim or an absurd size instead of aborting.
  static StatusOr<Tensor> Create(DataType dtype, Shape shape);
  // Like Create, without zero-filling: for a tensor the caller overwrites in full (a refit packs
  // weights at close to memory bandwidth and must not write every byte twice).
  static StatusOr<Tensor> Uninitialized(DataType dtype, Shape shape);
  // Copies `view`'s bytes into a new owning tensor.
  static StatusOr<Tensor> CopyOf(const TensorView& view);
  // Wraps memory owned by `owner` (e.g. an mmapped file) without copying. `data` must stay valid
  // while `owner` lives; writes through mutable_data() are the caller's responsibility.
  static Tensor Wrap(DataType dtype, Shape shape, void* data, std::shared_ptr<void> owner);
  // Convenience for tests and small constants: a tensor holding `values` (T decides the dtype).
  template <typename T>
  static Tensor FromVector(Shape shape, const std::vector<T>& values);

  Tensor Clone() const;

  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t NumElements() const { return shape_.NumElements(); }
  size_t nbytes() const { return size_t(NumElements()) * DataTypeSize(dtype_); }
  bool defined() const { return dtype_ != DataType::kUndefined; }

  void* mutable_data() { return data_; }
  const void* data() const { return data_; }
  template <typename T>
  T* mutable_data_as() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data_as() const {
    return static_cast<const T*>(data_);
  }

  TensorView view() const { return TensorView(dtype_, shape_, data_); }
  // Same bytes, new shape with the same element count (shares the buffer).
  StatusOr<Tensor> Reshaped(Shape shape) const;

 private:
  static StatusOr<Tensor> Allocate(DataType dtype, Shape shape, bool zero);

  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;
};

template <typename T>
Tensor Tensor::FromVector(Shape shape, const std::vector<T>& values) {
  Tensor t = std::move(Create(DataTypeOf<T>::value, std::move(shape))).value();
  T* p = t.mutable_data_as<T>();
  for (size_t i = 0; i < values.size() && int64_t(i) < t.NumElements(); ++i) p[i] = values[i];
  return t;
}

}  // namespace refit
