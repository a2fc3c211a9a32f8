// Pooling: AveragePool, MaxPool (with the optional Indices output), GlobalAveragePool and
// GlobalMaxPool over any number of spatial dims.
#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "backend/reference/conv_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"

namespace refit::reference {
namespace {

// Calls f(out_pos, taps) for every output position of one (n, c) plane, where taps lists the
// flat input offsets of the window elements inside the input and `padded_count` the window
// elements inside the padded input (what count_include_pad divides by).
template <typename F>
void ForEachWindow(const WindowGeometry& g, F&& f) {
  const size_t r = g.rank;
  const int64_t osize = g.OutSize(), ksize = g.KernelSize();
  std::vector<int64_t> out_idx(r, 0), tap(r), taps;
  taps.reserve(size_t(ksize));
  for (int64_t o = 0; o < osize; ++o) {
    taps.clear();
    int64_t padded_count = 0;
    for (int64_t t = 0; t < ksize; ++t) {
      int64_t rem = t, offset = 0, stride = 1;
      bool inside = true, inside_padded = true;
      for (size_t d = r; d-- > 0;) {
        tap[d] = rem % g.kernel[d];
        rem /= g.kernel[d];
        const int64_t i = out_idx[d] * g.strides[d] + tap[d] * g.dilations[d] - g.pads_begin[d];
        inside = inside && i >= 0 && i < g.in[d];
        inside_padded = inside_padded && i >= -g.pads_begin[d] && i < g.in[d] + g.pads_end[d];
        offset += i * stride;
        stride *= g.in[d];
      }
      if (inside) taps.push_back(offset);
      if (inside_padded) ++padded_count;
    }
    f(o, taps, padded_count);
    for (size_t d = r; d-- > 0;) {
      if (++out_idx[d] < g.out[d]) break;
      out_idx[d] = 0;
    }
  }
}

// a > b, through float for f16/bf16 and exactly for the built-in types (large int64 included).
template <typename T>
bool Greater(T a, T b) {
  if constexpr (std::is_arithmetic_v<T>) {
    return a > b;
  } else {
    return float(a) > float(b);
  }
}

// Reads X and the window geometry (kernel_shape required) and allocates output 0.
StatusOr<WindowGeometry> PoolSetup(KernelContext& ctx, const Tensor& x, Tensor** y) {
  const Shape& xs = x.shape();
  if (xs.rank() < 3) return ctx.Error("expected X of rank >= 3, found " + xs.ToString());
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, ctx.attrs().GetInts("kernel_shape"));
  if (kernel.size() != xs.rank() - 2) {
    return ctx.Error("kernel_shape " + DimsToString(kernel) + " does not fit X " + xs.ToString());
  }
  REFIT_ASSIGN_OR_RETURN(int64_t ceil_mode, ctx.attrs().GetInt("ceil_mode", 0));
  const std::vector<int64_t> in_spatial(xs.dims().begin() + 2, xs.dims().end());
  REFIT_ASSIGN_OR_RETURN(WindowGeometry g,
                         ComputeWindowGeometry(ctx, in_spatial, kernel, ceil_mode != 0));
  std::vector<int64_t> out_dims = {xs[0], xs[1]};
  out_dims.insert(out_dims.end(), g.out.begin(), g.out.end());
  REFIT_ASSIGN_OR_RETURN(*y, ctx.AllocateOutput(0, x.dtype(), Shape(out_dims)));
  return g;
}

Status AveragePool(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(int64_t count_include_pad, ctx.attrs().GetInt("count_include_pad", 0));
  Tensor* y = nullptr;
  REFIT_ASSIGN_OR_RETURN(WindowGeometry g, PoolSetup(ctx, *x, &y));
  const int64_t planes = x->shape()[0] * x->shape()[1];
  return DispatchFloat(x->dtype(), [&]<typename T>() {
    ParallelFor(ctx.pool, planes, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const T* xp = x->data_as<T>() + p * g.InSize();
        T* yp = y->mutable_data_as<T>() + p * g.OutSize();
        ForEachWindow(g, [&](int64_t o, const std::vector<int64_t>& taps, int64_t padded) {
          double sum = 0;
          for (int64_t t : taps) sum += double(xp[t]);
          const int64_t count = count_include_pad ? padded : int64_t(taps.size());
          yp[o] = T(ComputeType<T>(count > 0 ? sum / double(count) : 0.0));
        });
      }
    });
  });
}

Status MaxPool(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(int64_t storage_order, ctx.attrs().GetInt("storage_order", 0));
  Tensor* y = nullptr;
  REFIT_ASSIGN_OR_RETURN(WindowGeometry g, PoolSetup(ctx, *x, &y));
  Tensor* indices = nullptr;
  if (ctx.outputs.size() > 1 && !ctx.node.outputs[1].empty()) {
    REFIT_ASSIGN_OR_RETURN(indices, ctx.AllocateOutput(1, DataType::kI64, y->shape()));
  }
  // Column-major strides of the spatial dims, for Indices with storage_order 1.
  std::vector<int64_t> col_strides(g.rank, 1);
  for (size_t d = 1; d < g.rank; ++d) col_strides[d] = col_strides[d - 1] * g.in[d - 1];
  const std::vector<int64_t> row_strides = Shape(g.in).Strides();
  const int64_t planes = x->shape()[0] * x->shape()[1];
  return DispatchNumeric(x->dtype(), [&]<typename T>() {
    ParallelFor(ctx.pool, planes, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const T* xp = x->data_as<T>() + p * g.InSize();
        T* yp = y->mutable_data_as<T>() + p * g.OutSize();
        int64_t* ip = indices ? indices->mutable_data_as<int64_t>() + p * g.OutSize() : nullptr;
        ForEachWindow(g, [&](int64_t o, const std::vector<int64_t>& taps, int64_t) {
          int64_t best = taps.empty() ? -1 : taps[0];
          for (int64_t t : taps) {
            if (Greater(xp[t], xp[best])) best = t;
          }
          yp[o] = best >= 0 ? xp[best] : std::numeric_limits<T>::lowest();
          if (ip == nullptr) return;
          int64_t index = best;
          if (storage_order == 1 && best >= 0) {
            index = 0;
            for (size_t d = 0; d < g.rank; ++d) {
              index += (best / row_strides[d] % g.in[d]) * col_strides[d];
            }
          }
          ip[o] = p * g.InSize() + index;
        });
      }
    });
  });
}

// Reduces every (n, c) plane of X to one value; output shape [N, C, 1, ...].
template <bool kMax>
Status GlobalPool(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  const Shape& xs = x->shape();
  if (xs.rank() < 3) return ctx.Error("expected X of rank >= 3, found " + xs.ToString());
  std::vector<int64_t> out_dims(xs.rank(), 1);
  out_dims[0] = xs[0];
  out_dims[1] = xs[1];
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), Shape(out_dims)));
  const int64_t planes = xs[0] * xs[1];
  const int64_t size = planes > 0 ? x->NumElements() / planes : 0;
  if (size == 0) return ctx.Error("X " + xs.ToString() + " has empty spatial dims");
  return DispatchFloat(x->dtype(), [&]<typename T>() {
    for (int64_t p = 0; p < planes; ++p) {
      const T* xp = x->data_as<T>() + p * size;
      double acc = kMax ? double(xp[0]) : 0.0;
      for (int64_t i = 0; i < size; ++i) {
        acc = kMax ? std::max(acc, double(xp[i])) : acc + double(xp[i]);
      }
      y->mutable_data_as<T>()[p] = T(ComputeType<T>(kMax ? acc : acc / double(size)));
    }
  });
}

}  // namespace

void RegisterPoolOps(KernelRegistry& r) {
  r.Register("AveragePool", &AveragePool);
  r.Register("MaxPool", &MaxPool);
  r.Register("GlobalAveragePool", &GlobalPool<false>);
  r.Register("GlobalMaxPool", &GlobalPool<true>);
}

}  // namespace refit::reference
