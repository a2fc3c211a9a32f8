// Shape: the dimensions of a dense, C-order tensor. A rank-0 shape is a scalar with one element.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "refit/status.h"

namespace refit {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  size_t rank() const { return dims_.size(); }
  int64_t operator[](size_t i) const { return dims_[i]; }
  int64_t& operator[](size_t i) { return dims_[i]; }
  const std::vector<int64_t>& dims() const { return dims_; }
  std::vector<int64_t>& mutable_dims() { return dims_; }

  // Product of the dimensions (1 for a scalar). Precondition: all dims >= 0.
  int64_t NumElements() const;
  // Row-major strides in elements.
  std::vector<int64_t> Strides() const;
  // "[1,3,224,224]"
  std::string ToString() const;

  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return dims_ != o.dims_; }

 private:
  std::vector<int64_t> dims_;
};

// Validates dims (each >= 0) and returns the element count, failing instead of overflowing past
// `max_elements`. Use this for every shape read from a file before sizing an allocation from it.
StatusOr<int64_t> CheckedNumElements(const std::vector<int64_t>& dims,
                                     int64_t max_elements = (int64_t{1} << 48));

// Numpy-style multidirectional broadcast of two shapes; error names both shapes.
StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);

}  // namespace refit
