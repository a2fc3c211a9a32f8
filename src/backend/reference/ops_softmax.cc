// Softmax, LogSoftmax and Hardmax.
//
// Opset 13 normalises along one axis (default -1). Before opset 13 the input is coerced to 2-D,
// [prod(dims[:axis]), prod(dims[axis:])] with axis defaulting to 1, and each row is normalised as
// a whole; both versions are registered so a model gets the semantics of its opset.
#include <cmath>
#include <limits>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/reduce_util.h"

namespace refit::reference {
namespace {

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

// The input seen as [outer, len, inner]: each (outer, inner) pair is one row of `len` elements
// spaced `inner` apart.
struct RowLayout {
  int64_t outer = 1;
  int64_t len = 1;
  int64_t inner = 1;
};

StatusOr<RowLayout> MakeLayout(const KernelContext& ctx, const Shape& shape) {
  const int64_t rank = int64_t(shape.rank());
  const bool coerce_2d = ctx.opset < 13;
  REFIT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().GetInt("axis", coerce_2d ? 1 : -1));
  // Before opset 13 axis may equal rank, making every row a single element.
  const int64_t lo = -rank;
  const int64_t hi = coerce_2d ? rank : rank - 1;
  if (rank == 0 || axis < lo || axis > hi) {
    return ctx.Error("axis " + std::to_string(axis) + " out of range for input of shape " +
                     shape.ToString());
  }
  if (axis < 0) axis += rank;
  RowLayout l;
  for (int64_t a = 0; a < axis; ++a) l.outer *= shape[size_t(a)];
  if (coerce_2d) {
    for (int64_t a = axis; a < rank; ++a) l.len *= shape[size_t(a)];
  } else {
    l.len = shape[size_t(axis)];
    for (int64_t a = axis + 1; a < rank; ++a) l.inner *= shape[size_t(a)];
  }
  return l;
}

template <typename T>
void SoftmaxRow(SoftmaxKind kind, const T* x, T* y, int64_t len, int64_t stride,
                std::vector<double>& buf) {
  double m = -std::numeric_limits<double>::infinity();
  int64_t arg = 0;
  for (int64_t k = 0; k < len; ++k) {
    buf[k] = double(x[k * stride]);
    if (buf[k] > m) {
      m = buf[k];
      arg = k;
    }
  }
  if (kind == SoftmaxKind::kHardmax) {
    for (int64_t k = 0; k < len; ++k) y[k * stride] = FromDouble<T>(k == arg ? 1.0 : 0.0);
    return;
  }
  double sum = 0;
  for (int64_t k = 0; k < len; ++k) sum += std::exp(buf[k] - m);
  if (kind == SoftmaxKind::kSoftmax) {
    for (int64_t k = 0; k < len; ++k) y[k * stride] = FromDouble<T>(std::exp(buf[k] - m) / sum);
  } else {
    const double log_sum = std::log(sum);
    for (int64_t k = 0; k < len; ++k) y[k * stride] = FromDouble<T>(buf[k] - m - log_sum);
  }
}

template <SoftmaxKind kKind>
Status SoftmaxOp(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(RowLayout l, MakeLayout(ctx, x->shape()));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  if (x->NumElements() == 0) return Status::Ok();
  Status st = DispatchFloat(x->dtype(), [&]<typename T>() {
    const T* in = x->data_as<T>();
    T* o = out->mutable_data_as<T>();
    ParallelFor(ctx.pool, l.outer, [&](int64_t begin, int64_t end) {
      std::vector<double> buf(size_t(l.len));
      for (int64_t b = begin; b < end; ++b) {
        for (int64_t i = 0; i < l.inner; ++i) {
          const int64_t base = b * l.len * l.inner + i;
          SoftmaxRow<T>(kKind, in + base, o + base, l.len, l.inner, buf);
        }
      }
    });
  });
  if (!st.ok()) return ctx.Error(st.message());
  return Status::Ok();
}

}  // namespace

void RegisterSoftmaxOps(KernelRegistry& r) {
  r.Register("Softmax", &SoftmaxOp<SoftmaxKind::kSoftmax>);
  r.Register("LogSoftmax", &SoftmaxOp<SoftmaxKind::kLogSoftmax>);
  r.Register("Hardmax", &SoftmaxOp<SoftmaxKind::kHardmax>);
}

}  // namespace refit::reference
