#include "backend/reference/conv_util.h"

#include <algorithm>

namespace refit::reference {
namespace {

int64_t Product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

int64_t WindowGeometry::InSize() const { return Product(in); }
int64_t WindowGeometry::OutSize() const { return Product(out); }
int64_t WindowGeometry::KernelSize() const { return Product(kernel); }

std::string DimsToString(const std::vector<int64_t>& dims) { return Shape(dims).ToString(); }

StatusOr<WindowGeometry> ComputeWindowGeometry(const KernelContext& ctx,
                                               const std::vector<int64_t>& in_spatial,
                                               const std::vector<int64_t>& kernel, bool ceil_mode,
                                               bool allow_dilations) {
  WindowGeometry g;
  g.rank = in_spatial.size();
  g.in = in_spatial;
  g.kernel = kernel;
  const std::vector<int64_t> ones(g.rank, 1);
  REFIT_ASSIGN_OR_RETURN(g.strides, ctx.attrs().GetInts("strides", ones));
  g.dilations = ones;
  if (allow_dilations) {
    REFIT_ASSIGN_OR_RETURN(g.dilations, ctx.attrs().GetInts("dilations", ones));
  }
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                         ctx.attrs().GetInts("pads", std::vector<int64_t>(2 * g.rank, 0)));
  REFIT_ASSIGN_OR_RETURN(std::string auto_pad, ctx.attrs().GetString("auto_pad", "NOTSET"));
  if (g.kernel.size() != g.rank || g.strides.size() != g.rank || g.dilations.size() != g.rank ||
      pads.size() != 2 * g.rank) {
    return ctx.Error("expected " + std::to_string(g.rank) + " spatial dims in kernel_shape " +
                     DimsToString(g.kernel) + ", strides " + DimsToString(g.strides) +
                     ", dilations " + DimsToString(g.dilations) + " and twice that in pads " +
                     DimsToString(pads));
  }
  for (size_t d = 0; d < g.rank; ++d) {
    if (g.kernel[d] < 1 || g.strides[d] < 1 || g.dilations[d] < 1 || pads[d] < 0 ||
        pads[d + g.rank] < 0) {
      return ctx.Error("kernel_shape " + DimsToString(g.kernel) + ", strides " +
                       DimsToString(g.strides) + " and dilations " + DimsToString(g.dilations) +
                       " must be positive and pads " + DimsToString(pads) + " non-negative");
    }
  }
  g.pads_begin.assign(pads.begin(), pads.begin() + int64_t(g.rank));
  g.pads_end.assign(pads.begin() + int64_t(g.rank), pads.end());
  g.out.resize(g.rank);
  for (size_t d = 0; d < g.rank; ++d) {
    const int64_t extent = g.Extent(d);
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.out[d] = CeilDiv(g.in[d], g.strides[d]);
      const int64_t total = std::max<int64_t>(0, (g.out[d] - 1) * g.strides[d] + extent - g.in[d]);
      // SAME_UPPER puts the odd padding element at the end, SAME_LOWER at the beginning.
      const int64_t small = total / 2;
      g.pads_begin[d] = auto_pad == "SAME_UPPER" ? small : total - small;
      g.pads_end[d] = total - g.pads_begin[d];
    } else if (auto_pad == "VALID") {
      g.pads_begin[d] = g.pads_end[d] = 0;
      g.out[d] = g.in[d] >= extent ? (g.in[d] - extent) / g.strides[d] + 1 : 0;
    } else if (auto_pad == "NOTSET") {
      const int64_t span = g.in[d] + g.pads_begin[d] + g.pads_end[d] - extent;
      if (span < 0) {
        g.out[d] = 0;
      } else if (ceil_mode) {
        g.out[d] = CeilDiv(span, g.strides[d]) + 1;
        if ((g.out[d] - 1) * g.strides[d] >= g.in[d] + g.pads_begin[d]) --g.out[d];
      } else {
        g.out[d] = span / g.strides[d] + 1;
      }
    } else {
      return ctx.Error("auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, found '" +
                       auto_pad + "'");
    }
    if (g.out[d] < 1) {
      return ctx.Error("spatial input " + DimsToString(g.in) + " is smaller than the kernel " +
                       DimsToString(g.kernel) + " with dilations " + DimsToString(g.dilations) +
                       " and pads " + DimsToString(pads));
    }
  }
  return g;
}

Status CheckConvOperands(const KernelContext& ctx, const Tensor& x, const Tensor& w,
                         const Tensor* b) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  if (xs.rank() < 3 || ws.rank() != xs.rank()) {
    return ctx.Error("expected X of rank >= 3 and W of the same rank, found X " + xs.ToString() +
                     " and W " + ws.ToString());
  }
  if (w.dtype() != x.dtype() || (b != nullptr && b->dtype() != x.dtype())) {
    return ctx.Error("X, W and B must share one dtype, found X " +
                     std::string(DataTypeName(x.dtype())) + ", W " +
                     std::string(DataTypeName(w.dtype())) +
                     (b != nullptr ? ", B " + std::string(DataTypeName(b->dtype())) : ""));
  }
  return Status::Ok();
}

StatusOr<std::vector<int64_t>> CheckConvBiasAndKernel(const KernelContext& ctx, const Tensor& w,
                                                      const Tensor* b, int64_t maps) {
  const Shape& ws = w.shape();
  if (b != nullptr && (b->shape().rank() != 1 || b->shape()[0] != maps)) {
    return ctx.Error("expected B of shape [" + std::to_string(maps) + "], found " +
                     b->shape().ToString());
  }
  const std::vector<int64_t> w_kernel(ws.dims().begin() + 2, ws.dims().end());
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> kernel,
                         ctx.attrs().GetInts("kernel_shape", w_kernel));
  if (kernel != w_kernel) {
    return ctx.Error("kernel_shape " + DimsToString(kernel) + " does not match W " + ws.ToString());
  }
  return kernel;
}

}  // namespace refit::reference
