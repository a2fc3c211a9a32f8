// Conv: im2col per (image, group) followed by the shared reference GEMM.
#include <algorithm>
#include <vector>

#include "backend/reference/conv_util.h"
#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/ref_gemm.h"

namespace refit::reference {
namespace {

// Expands one image's `channels` channels into col [channels * KernelSize, OutSize]: row
// (c, kernel tap) holds the input value that tap reads at every output position (0 in the
// padding). The convolution is then W_g [Mg, channels * KernelSize] * col.
template <typename T>
void Im2Col(const T* x, int64_t channels, const WindowGeometry& g, T* col, ThreadPool* pool) {
  const size_t r = g.rank;
  const int64_t ksize = g.KernelSize(), osize = g.OutSize(), isize = g.InSize();
  const int64_t out_last = g.out[r - 1], in_last = g.in[r - 1], stride_last = g.strides[r - 1];
  const int64_t outer = osize / out_last;
  ParallelFor(pool, channels * ksize, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> tap(r);
    for (int64_t row = begin; row < end; ++row) {
      int64_t rem = row % ksize;
      for (size_t d = r; d-- > 0;) {
        tap[d] = rem % g.kernel[d];
        rem /= g.kernel[d];
      }
      const T* xc = x + (row / ksize) * isize;
      T* dst = col + row * osize;
      const int64_t off_last = tap[r - 1] * g.dilations[r - 1] - g.pads_begin[r - 1];
      for (int64_t o = 0; o < outer; ++o, dst += out_last) {
        // Input offset of the leading spatial dims for this output row; the last dim is inner.
        int64_t o_rem = o, base = 0, in_stride = in_last;
        bool inside = true;
        for (size_t d = r - 1; d-- > 0;) {
          const int64_t od = o_rem % g.out[d];
          o_rem /= g.out[d];
          const int64_t id = od * g.strides[d] + tap[d] * g.dilations[d] - g.pads_begin[d];
          if (id < 0 || id >= g.in[d]) {
            inside = false;
            break;
          }
          base += id * in_stride;
          in_stride *= g.in[d];
        }
        if (!inside) {
          std::fill(dst, dst + out_last, T(0));
          continue;
        }
        const T* xrow = xc + base;
        for (int64_t j = 0; j < out_last; ++j) {
          const int64_t i = j * stride_last + off_last;
          dst[j] = (i >= 0 && i < in_last) ? xrow[i] : T(0);
        }
      }
    }
  });
}

template <typename T>
void ConvCompute(ThreadPool* pool, const T* x, const T* w, const T* bias, T* y, int64_t batch,
                 int64_t channels, int64_t maps, int64_t group, const WindowGeometry& g) {
  const int64_t cg = channels / group, mg = maps / group;
  const int64_t isize = g.InSize(), osize = g.OutSize(), kdim = cg * g.KernelSize();
  // A 1x1, stride-1, unpadded convolution reads the input as it lies: no im2col needed.
  bool pointwise = true;
  for (size_t d = 0; d < g.rank; ++d) {
    pointwise = pointwise && g.kernel[d] == 1 && g.strides[d] == 1 && g.pads_begin[d] == 0 &&
                g.pads_end[d] == 0;
  }
  std::vector<T> col(pointwise ? 0 : size_t(kdim * osize));
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      const T* xg = x + (n * channels + gi * cg) * isize;
      if (!pointwise) Im2Col(xg, cg, g, col.data(), pool);
      T* yg = y + (n * maps + gi * mg) * osize;
      RefGemm(pool, false, false, mg, osize, kdim, w + gi * mg * kdim, pointwise ? xg : col.data(),
              yg);
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

Status Conv(KernelContext& ctx) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(const Tensor* w, ctx.RequiredInput(1));
  const Tensor* b = ctx.input(2);
  const Shape& xs = x->shape();
  const Shape& ws = w->shape();
  REFIT_RETURN_IF_ERROR(CheckConvOperands(ctx, *x, *w, b));
  REFIT_ASSIGN_OR_RETURN(int64_t group, ctx.attrs().GetInt("group", 1));
  const int64_t channels = xs[1], maps = ws[0];
  if (group < 1 || ws[1] * group != channels || maps % group != 0) {
    return ctx.Error("group " + std::to_string(group) + " does not fit X " + xs.ToString() +
                     " and W " + ws.ToString() + " (expected C == W[1] * group, M % group == 0)");
  }
  REFIT_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, CheckConvBiasAndKernel(ctx, *w, b, maps));
  const std::vector<int64_t> in_spatial(xs.dims().begin() + 2, xs.dims().end());
  REFIT_ASSIGN_OR_RETURN(WindowGeometry g,
                         ComputeWindowGeometry(ctx, in_spatial, kernel, /*ceil_mode=*/false));
  std::vector<int64_t> out_dims = {xs[0], maps};
  out_dims.insert(out_dims.end(), g.out.begin(), g.out.end());
  REFIT_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), Shape(out_dims)));
  return DispatchFloat(x->dtype(), [&]<typename T>() {
    using Acc = ComputeType<T>;
    std::vector<Acc> xbuf, wbuf, bbuf, ybuf;
    const Acc* bias = b != nullptr ? ComputeData<T>(*b, bbuf) : nullptr;
    Acc* out = ResultBuffer<T>(*y, ybuf);
    ConvCompute<Acc>(ctx.pool, ComputeData<T>(*x, xbuf), ComputeData<T>(*w, wbuf), bias, out, xs[0],
                     channels, maps, group, g);
    StoreResult<T>(*y, ybuf);
  });
}

}  // namespace

void RegisterConvOps(KernelRegistry& r) {
  r.Register("Conv", &Conv);
  r.Register("ConvTranspose", &ConvTransposeKernel);
}

}  // namespace refit::reference
