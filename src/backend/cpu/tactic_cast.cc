// Cast tactic ("cast/convert") between f32, f64, i32, i64, u8, i8 and bool (CastLike too). The
// conversions are numpy's astype where it is defined: a float to an integer truncates toward zero,
// anything to bool is "!= 0" (NaN is true), bool to a number is 0 or 1, an integer to an integer
// wraps. Where C++ leaves it undefined (a float out of the integer's range, NaN), the result
// saturates and NaN becomes 0, as the reference executor does. Other dtypes (f16, bf16) stay on the
// reference backend.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"
#include "refit/dtype.h"

namespace refit::cpu {
namespace {

struct CastSpec {
  DataType from = DataType::kF32, to = DataType::kF32;
  std::string label;
};

template <typename D, typename S>
D Convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, bool>) {
    return v != S(0);
  } else if constexpr (std::is_same_v<S, bool>) {
    return D(v ? 1 : 0);
  } else if constexpr (std::is_integral_v<D> && std::is_integral_v<S>) {
    return static_cast<D>(v);  // modular since C++20
  } else if constexpr (std::is_integral_v<D>) {
    const double d = double(v);
    if (std::isnan(d)) return D(0);
    if (d <= double(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    if (d >= std::ldexp(1.0, std::numeric_limits<D>::digits)) return std::numeric_limits<D>::max();
    return static_cast<D>(d);
  } else {
    return static_cast<D>(v);  // to f32 or f64: round to nearest
  }
}

class CastKernel : public backend::Kernel {
 public:
  explicit CastKernel(CastSpec spec) : s_(std::move(spec)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.size() != 1 ||
        io.outputs[0] == nullptr || io.inputs[0]->dtype() != s_.from ||
        io.outputs[0]->dtype() != s_.to ||
        io.inputs[0]->NumElements() != io.outputs[0]->NumElements()) {
      return InvalidArgument(s_.label + ": input or output of another type than planned");
    }
    const Tensor& x = *io.inputs[0];
    Tensor& y = *io.outputs[0];
    const int64_t n = x.NumElements();
    if (s_.from == s_.to) {
      std::memcpy(y.mutable_data(), x.data(), x.nbytes());
      return Status::Ok();
    }
    internal::DispatchValueType(s_.from, [&]<typename S>() {
      internal::DispatchValueType(s_.to, [&]<typename D>() {
        const S* a = x.data_as<S>();
        D* b = y.mutable_data_as<D>();
        internal::ParallelRows(io.pool, n, int64_t(x.nbytes() + y.nbytes()),
                               [&](int64_t begin, int64_t end) {
                                 for (int64_t i = begin; i < end; ++i) b[i] = Convert<D, S>(a[i]);
                               });
      });
    });
    return Status::Ok();
  }

 private:
  CastSpec s_;
};

bool Castable(DataType dtype) {
  return internal::DispatchValueType(dtype, []<typename T>() {});
}

}  // namespace

void AddCastTactics(const backend::LayerDesc& layer, TacticList* out) {
  const ir::Node& node = *layer.node;
  if (!node.domain.empty() || (node.op_type != "Cast" && node.op_type != "CastLike") ||
      node.inputs.empty() || !layer.input(0).present() || layer.outputs.size() != 1) {
    return;
  }
  const DataType from = layer.input(0).dtype, to = layer.outputs[0].dtype;
  if (!Castable(from) || !Castable(to) || layer.outputs[0].shape != layer.input(0).shape) return;
  out->push_back(std::make_unique<internal::SpecTactic<CastSpec, CastKernel>>(
      "cast/convert", CastSpec{from, to, layer.Label()}));
}

}  // namespace refit::cpu
