// ConvTranspose: per (image, group) col = W_g^T * X_g with the shared reference GEMM, then col2im
// scatters every column entry to the output position its kernel tap reaches.
#include <vector>

#include "backend/reference/conv_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/ref_gemm.h"

namespace refit::reference {
namespace {

// Python's floor division: output_shape may ask for more than the full output, making the
// total padding negative, and ONNX then grows the end (SAME_UPPER: the beginning) by the excess.
int64_t FloorDiv2(int64_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

// Geometry of the transposed convolution: `in` is X's spatial size, `out` the output's.
struct TransposeGeometry {
  std::vector<int64_t> in, out, kernel, strides, dilations, pads_begin;
};

StatusOr<TransposeGeometry> ComputeTransposeGeometry(const KernelContext& ctx,
                                                     const std::vector<int64_t>& in,
                                                     const std::vector<int64_t>& kernel) {
  const size_t rank = in.size();
  const std::vector<int64_t> ones(rank, 1), zeros(rank, 0);
  TransposeGeometry g;
  g.in = in;
  g.kernel = kernel;
  REFIT_ASSIGN_OR_RETURN(g.strides, ctx.attrs().GetInts("strides", ones));
  REFIT_ASSIGN_OR_RETURN(g.dilations, ctx.attrs().GetInts("dilations", ones));
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                         ctx.attrs().GetInts("pads", std::vector<int64_t>(2 * rank, 0)));
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> out_pad,
                         ctx.attrs().GetInts("output_padding", zeros));
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> out_shape, ctx.attrs().GetInts("output_shape"));
  REFIT_ASSIGN_OR_RETURN(std::string auto_pad, ctx.attrs().GetString("auto_pad", "NOTSET"));
  // output_shape may name the full output shape (N, C, spatial...) or only the spatial part.
  if (out_shape.size() == rank + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (g.strides.size() != rank || g.dilations.size() != rank || pads.size() != 2 * rank ||
      out_pad.size() != rank || (!out_shape.empty() && out_shape.size() != rank)) {
    return ctx.Error("expected " + std::to_string(rank) + " spatial dims in strides " +
                     DimsToString(g.strides) + ", dilations " + DimsToString(g.dilations) +
                     ", output_padding " + DimsToString(out_pad) + ", output_shape " +
                     DimsToString(out_shape) + " and twice that in pads " + DimsToString(pads));
  }
  const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  if (!same && auto_pad != "NOTSET" && auto_pad != "VALID") {
    return ctx.Error("auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, found '" +
                     auto_pad + "'");
  }
  g.out.resize(rank);
  g.pads_begin.resize(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (g.strides[d] < 1 || g.dilations[d] < 1 || g.kernel[d] < 1) {
      return ctx.Error("strides " + DimsToString(g.strides) + ", dilations " +
                       DimsToString(g.dilations) + " and kernel " + DimsToString(g.kernel) +
                       " must be positive");
    }
    const int64_t full =
        g.strides[d] * (in[d] - 1) + out_pad[d] + (g.kernel[d] - 1) * g.dilations[d] + 1;
    if (!out_shape.empty() || same) {
      g.out[d] = !out_shape.empty() ? out_shape[d] : in[d] * g.strides[d];
      const int64_t total = full - g.out[d];
      g.pads_begin[d] = auto_pad == "SAME_UPPER" ? FloorDiv2(total) : total - FloorDiv2(total);
    } else if (auto_pad == "VALID") {
      g.out[d] = full;
      g.pads_begin[d] = 0;
    } else {
      g.out[d] = full - pads[d] - pads[d + rank];
      g.pads_begin[d] = pads[d];
    }
    if (g.out[d] < 1) {
      return ctx.Error("output spatial size " + DimsToString(g.out) + " is empty for input " +
                       DimsToString(in) + " and pads " + DimsToString(pads));
    }
  }
  return g;
}

// Adds col [maps * KernelSize, InSize] into y [maps, OutSize]: entry (m, tap, i) lands on output
// position i * stride + tap * dilation - pad_begin in every dim, when inside the output.
template <typename T>
void Col2Im(const T* col, int64_t maps, const TransposeGeometry& g, T* y, ThreadPool* pool) {
  const size_t r = g.in.size();
  int64_t ksize = 1, isize = 1, osize = 1;
  for (size_t d = 0; d < r; ++d) {
    ksize *= g.kernel[d];
    isize *= g.in[d];
    osize *= g.out[d];
  }
  ParallelFor(pool, maps, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> tap(r), idx(r);
    for (int64_t m = begin; m < end; ++m) {
      T* ym = y + m * osize;
      for (int64_t t = 0; t < ksize; ++t) {
        int64_t rem = t;
        for (size_t d = r; d-- > 0;) {
          tap[d] = rem % g.kernel[d];
          rem /= g.kernel[d];
        }
        const T* src = col + (m * ksize + t) * isize;
        for (int64_t i = 0; i < isize; ++i) {
          int64_t i_rem = i, pos = 0, o_stride = 1;
          bool inside = true;
          for (size_t d = r; d-- > 0;) {
            const int64_t id = i_rem % g.in[d];
            i_rem /= g.in[d];
            const int64_t od = id * g.strides[d] + tap[d] * g.dilations[d] - g.pads_begin[d];
            if (od < 0 || od >= g.out[d]) {
              inside = false;
              break;
            }
            pos += od * o_stride;
            o_stride *= g.out[d];
          }
          if (inside) ym[pos] += src[i];
        }
      }
    }
  });
}

template <typename T>
void ConvTransposeCompute(ThreadPool* pool, const T* x, const T* w, const T* bias, T* y,
                          int64_t batch, int64_t channels, int64_t maps, int64_t group,
                          const TransposeGeometry& g) {
  const int64_t cg = channels / group, mg = maps / group;
  int64_t ksize = 1, isize = 1, osize = 1;
  for (size_t d = 0; d < g.in.size(); ++d) {
    ksize *= g.kernel[d];
    isize *= g.in[d];
    osize *= g.out[d];
  }
  std::vector<T> col(size_t(mg * ksize * isize));
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      // W_g is stored [cg, mg * ksize]; col = W_g^T * X_g with X_g [cg, isize].
      RefGemm(pool, true, false, mg * ksize, isize, cg, w + gi * cg * mg * ksize,
              x + (n * channels + gi * cg) * isize, col.data());
      Col2Im(col.data(), mg, g, y + (n * maps + gi * mg) * osize, pool);
    }
  }
  if (bias == nullptr) return;
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t m = 0; m < maps; ++m) {
      T* ym = y + (n * maps + m) * osize;
      for (int64_t j = 0; j < osize; ++j) ym[j] += bias[m];
    }
  }
}

}  // namespace

Status ConvTransposeKernel(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* w, ctx.RequiredInput(1));
  const Tensor* b = ctx.input(2);
  const Shape& xs = x->shape();
  const Shape& ws = w->shape();
  REFIT_RETURN_IF_ERROR(CheckConvOperands(ctx, *x, *w, b));
  REFIT_ASSIGN_OR_RETURN(int64_t group, ctx.attrs().GetInt("group", 1));
  const int64_t channels = xs[1];
  if (group < 1 || ws[0] != channels || channels % group != 0) {
    return ctx.Error("group " + std::to_string(group) + " does not fit X " + xs.ToString() +
                     " and W " + ws.ToString() + " (expected W[0] == C, C % group == 0)");
  }
  const int64_t maps = ws[1] * group;
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, CheckConvBiasAndKernel(ctx, *w, b, maps));
  const std::vector<int64_t> in_spatial(xs.dims().begin() + 2, xs.dims().end());
  REFIT_ASSIGN_OR_RETURN(TransposeGeometry g, ComputeTransposeGeometry(ctx, in_spatial, kernel));
  std::vector<int64_t> out_dims = {xs[0], maps};
  out_dims.insert(out_dims.end(), g.out.begin(), g.out.end());
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), Shape(out_dims)));
  return DispatchFloat(x->dtype(), [&]<typename T>() {
    using Acc = ComputeType<T>;
    std::vector<Acc> xbuf, wbuf, bbuf, ybuf;
    const Acc* bias = b != nullptr ? ComputeData<T>(*b, bbuf) : nullptr;
    Acc* out = ResultBuffer<T>(*y, ybuf);
    ConvTransposeCompute<Acc>(ctx.pool, ComputeData<T>(*x, xbuf), ComputeData<T>(*w, wbuf), bias,
                              out, xs[0], channels, maps, group, g);
    StoreResult<T>(*y, ybuf);
  });
}

}  // namespace refit::reference
