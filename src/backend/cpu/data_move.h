// Internal to backend/cpu: helpers shared by the data-movement tactics (Resize, Pad, Concat,
// Slice). These ops copy bytes, so they work on elements as unsigned integers of the element's
// size: the output then has exactly the input's bits whatever the dtype.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "base/thread_pool.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::cpu::internal {

// Below this many output bytes a layer runs on the calling thread: waking the pool costs more
// than the copy (a 64 KiB memcpy takes a few microseconds).
inline constexpr int64_t kMoveParallelBytes = int64_t{1} << 17;

// Runs fn(begin, end) over [0, rows), on the pool when the layer moves enough bytes to pay for it.
template <typename Fn>
void ParallelRows(ThreadPool* pool, int64_t rows, int64_t bytes, const Fn& fn) {
  if (rows <= 0) return;
  if (bytes < kMoveParallelBytes) {
    fn(int64_t{0}, rows);
    return;
  }
  ParallelFor(pool, rows, fn);
}

// Calls fn.template operator()<E>() with E the unsigned integer of `size` bytes; false for other
// sizes.
template <typename Fn>
bool DispatchElementSize(size_t size, const Fn& fn) {
  switch (size) {
    case 1:
      fn.template operator()<uint8_t>();
      return true;
    case 2:
      fn.template operator()<uint16_t>();
      return true;
    case 4:
      fn.template operator()<uint32_t>();
      return true;
    case 8:
      fn.template operator()<uint64_t>();
      return true;
    default:
      return false;
  }
}

// Calls fn.template operator()<T>() with T the C++ type of `dtype` (f32, f64, i32, i64, u8, i8
// or bool); false for other dtypes.
template <typename Fn>
bool DispatchValueType(DataType dtype, const Fn& fn) {
  switch (dtype) {
    case DataType::kF32:
      fn.template operator()<float>();
      return true;
    case DataType::kF64:
      fn.template operator()<double>();
      return true;
    case DataType::kI32:
      fn.template operator()<int32_t>();
      return true;
    case DataType::kI64:
      fn.template operator()<int64_t>();
      return true;
    case DataType::kU8:
      fn.template operator()<uint8_t>();
      return true;
    case DataType::kI8:
      fn.template operator()<int8_t>();
      return true;
    case DataType::kBool:
      fn.template operator()<bool>();
      return true;
    default:
      return false;
  }
}

// An integer index tensor (i32 or i64) as int64 values; nullopt for other dtypes.
inline std::optional<std::vector<int64_t>> ReadIndices(const Tensor& t) {
  std::vector<int64_t> v(size_t(t.NumElements()));
  if (t.dtype() == DataType::kI64) {
    if (!v.empty()) std::memcpy(v.data(), t.data(), v.size() * sizeof(int64_t));
  } else if (t.dtype() == DataType::kI32) {
    const int32_t* p = t.data_as<int32_t>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = p[i];
  } else {
    return std::nullopt;
  }
  return v;
}

inline bool IsIndexType(DataType dtype) {
  return dtype == DataType::kI64 || dtype == DataType::kI32;
}

// Input `i` of a run, or null when absent or (as opset-11 exporters write optional inputs) empty.
inline const Tensor* NonEmptyInput(const backend::KernelIo& io, size_t i) {
  if (i >= io.inputs.size() || io.inputs[i] == nullptr) return nullptr;
  return io.inputs[i]->NumElements() > 0 ? io.inputs[i] : nullptr;
}

// The same question at build time, on the layer's descriptions.
inline bool NonEmptyDesc(const backend::LayerDesc& layer, size_t i) {
  const backend::TensorDesc& d = layer.input(i);
  return d.present() && d.shape.NumElements() > 0;
}

inline std::string DimsString(const std::vector<int64_t>& dims) { return Shape(dims).ToString(); }

// What every one-input data-movement layer starts from: its data input and its one output, of
// one dtype and one rank, no dimension empty.
struct MoveShapes {
  std::vector<int64_t> in_dims, out_dims;
  size_t elem_size = 4;
  std::string label;
};

// nullopt when the node is not `op_type` (or `alias`, when given) in the default domain, or the
// shapes are not as MoveShapes says.
inline std::optional<MoveShapes> ParseMoveShapes(const backend::LayerDesc& layer,
                                                 const char* op_type, const char* alias = "") {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() || (node.op_type != op_type && node.op_type != alias)) {
    return std::nullopt;
  }
  const backend::TensorDesc& x = layer.input(0);
  if (!x.present() || layer.outputs.size() != 1 || layer.outputs[0].dtype != x.dtype) {
    return std::nullopt;
  }
  MoveShapes s;
  s.label = layer.Label();
  s.in_dims = x.shape.dims();
  s.out_dims = layer.outputs[0].shape.dims();
  s.elem_size = DataTypeSize(x.dtype);
  if (s.in_dims.empty() || s.out_dims.size() != s.in_dims.size()) return std::nullopt;
  for (size_t a = 0; a < s.in_dims.size(); ++a) {
    if (s.in_dims[a] <= 0 || s.out_dims[a] <= 0) return std::nullopt;
  }
  return s;
}

// A tactic with one kernel, made from the layer's parsed spec.
template <typename Spec, typename KernelT>
class SpecTactic : public backend::Tactic {
 public:
  SpecTactic(std::string name, Spec spec) : name_(std::move(name)), s_(std::move(spec)) {}
  std::string name() const override { return name_; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    return std::unique_ptr<backend::Kernel>(new KernelT(s_));
  }

 private:
  std::string name_;
  Spec s_;
};

}  // namespace refit::cpu::internal
