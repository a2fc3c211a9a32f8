// Resize (opsets 10, 11 and 13) and Upsample (opsets 7 and 9).
//
// Nearest resizing gathers elements directly, so it is exact for every dtype. Linear and cubic
// resizing are separable: they run one axis at a time over a double buffer, skipping axes whose
// plan is the identity. Opset 18's antialias, axes and keep_aspect_ratio_policy are not supported
// (refit's opsets stop at 17).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend/reference/kernel.h"
#include "backend/reference/kernel_util.h"
#include "backend/reference/reduce_util.h"
#include "backend/reference/resize_taps.h"

namespace refit::reference {
namespace {

// An empty tensor stands for an absent optional input (opset 11 models pass empty constants).
const Tensor* NonEmpty(const Tensor* t) {
  return t != nullptr && t->NumElements() > 0 ? t : nullptr;
}

StatusOr<ResizeOptions> ParseOptions(const KernelContext& ctx, bool legacy) {
  ResizeOptions o;
  REFIT_ASSIGN_OR_RETURN(std::string mode, ctx.attrs().GetString("mode", "nearest"));
  if (mode == "nearest") {
    o.mode = ResizeMode::kNearest;
  } else if (mode == "linear" || mode == "bilinear") {
    o.mode = ResizeMode::kLinear;
  } else if (mode == "cubic" && !legacy) {
    o.mode = ResizeMode::kCubic;
  } else {
    return ctx.Error("unsupported mode '" + mode + "'");
  }
  if (legacy) {
    o.coord = CoordMode::kAsymmetric;
    o.nearest = NearestMode::kLegacy;
    return o;
  }
  REFIT_ASSIGN_OR_RETURN(std::string coord,
                         ctx.attrs().GetString("coordinate_transformation_mode", "half_pixel"));
  if (coord == "half_pixel") {
    o.coord = CoordMode::kHalfPixel;
  } else if (coord == "pytorch_half_pixel") {
    o.coord = CoordMode::kPytorchHalfPixel;
  } else if (coord == "align_corners") {
    o.coord = CoordMode::kAlignCorners;
  } else if (coord == "asymmetric") {
    o.coord = CoordMode::kAsymmetric;
  } else if (coord == "tf_half_pixel_for_nn") {
    o.coord = CoordMode::kTfHalfPixelForNn;
  } else if (coord == "tf_crop_and_resize") {
    o.coord = CoordMode::kTfCropAndResize;
  } else {
    return ctx.Error("unsupported coordinate_transformation_mode '" + coord + "'");
  }
  REFIT_ASSIGN_OR_RETURN(std::string nearest,
                         ctx.attrs().GetString("nearest_mode", "round_prefer_floor"));
  if (nearest == "round_prefer_floor") {
    o.nearest = NearestMode::kRoundPreferFloor;
  } else if (nearest == "round_prefer_ceil") {
    o.nearest = NearestMode::kRoundPreferCeil;
  } else if (nearest == "floor") {
    o.nearest = NearestMode::kFloor;
  } else if (nearest == "ceil") {
    o.nearest = NearestMode::kCeil;
  } else {
    return ctx.Error("unsupported nearest_mode '" + nearest + "'");
  }
  REFIT_ASSIGN_OR_RETURN(float a, ctx.attrs().GetFloat("cubic_coeff_a", -0.75f));
  REFIT_ASSIGN_OR_RETURN(int64_t exclude, ctx.attrs().GetInt("exclude_outside", 0));
  REFIT_ASSIGN_OR_RETURN(float extrapolation, ctx.attrs().GetFloat("extrapolation_value", 0.0f));
  o.cubic_coeff_a = a;
  o.exclude_outside = exclude != 0;
  o.extrapolation_value = extrapolation;
  return o;
}

// Output geometry of every axis from scales or sizes (and roi for tf_crop_and_resize).
StatusOr<std::vector<AxisGeometry>> ParseGeometry(const KernelContext& ctx, const Shape& in,
                                                  const ResizeOptions& o, bool legacy) {
  const size_t rank = in.rank();
  std::vector<double> scales;
  const Tensor* sizes = nullptr;
  const Tensor* roi = nullptr;
  if (legacy) {
    if (const Tensor* s = NonEmpty(ctx.input(1)); s != nullptr) {
      REFIT_ASSIGN_OR_RETURN(scales, ReadDoubles(*s));
    } else {
      REFIT_ASSIGN_OR_RETURN(std::vector<float> f, ctx.attrs().GetFloats("scales", {}));
      scales.assign(f.begin(), f.end());
    }
  } else {
    roi = NonEmpty(ctx.input(1));
    sizes = NonEmpty(ctx.input(3));
    if (const Tensor* s = NonEmpty(ctx.input(2)); s != nullptr) {
      if (sizes != nullptr) return ctx.Error("only one of scales and sizes may be given");
      REFIT_ASSIGN_OR_RETURN(scales, ReadDoubles(*s));
    }
  }
  std::vector<AxisGeometry> geo(rank);
  if (sizes != nullptr) {
    auto v = ReadInts(*sizes);
    if (!v.ok()) return ctx.Error("sizes: " + v.status().message());
    if (v->size() != rank) {
      return ctx.Error("sizes has " + std::to_string(v->size()) + " elements, expected " +
                       std::to_string(rank) + " (the rank of X)");
    }
    for (size_t a = 0; a < rank; ++a) {
      const int64_t out = (*v)[a];
      if (out < 0) return ctx.Error("sizes[" + std::to_string(a) + "] is negative");
      geo[a].out_len = out;
      geo[a].out_len_f = double(out);
      geo[a].scale = in[a] == 0 ? 1.0 : double(out) / double(in[a]);
    }
  } else {
    if (scales.size() != rank) {
      return ctx.Error("scales has " + std::to_string(scales.size()) + " elements, expected " +
                       std::to_string(rank) + " (the rank of X); give scales or sizes");
    }
    for (size_t a = 0; a < rank; ++a) {
      if (!(scales[a] > 0)) {
        return ctx.Error("scales[" + std::to_string(a) + "] = " + std::to_string(scales[a]) +
                         " is not positive");
      }
      geo[a].scale = scales[a];
      geo[a].out_len_f = scales[a] * double(in[a]);
      if (!(geo[a].out_len_f < 0x1p48)) {
        return ctx.Error("scales[" + std::to_string(a) + "] = " + std::to_string(scales[a]) +
                         " gives an output dimension beyond 2^48");
      }
      geo[a].out_len = int64_t(std::floor(geo[a].out_len_f));
    }
  }
  for (size_t a = 0; a < rank; ++a) geo[a].in_len = in[a];
  if (o.coord == CoordMode::kTfCropAndResize) {
    if (roi == nullptr || size_t(roi->NumElements()) != 2 * rank) {
      return ctx.Error("tf_crop_and_resize needs roi with " + std::to_string(2 * rank) +
                       " elements (starts then ends)");
    }
    REFIT_ASSIGN_OR_RETURN(std::vector<double> r, ReadDoubles(*roi));
    for (size_t a = 0; a < rank; ++a) {
      geo[a].roi_start = r[a];
      geo[a].roi_end = r[rank + a];
    }
  }
  return geo;
}

// Integer outputs of linear/cubic resizing round to nearest and saturate.
template <typename T>
T StoreInterpolated(double v) {
  if constexpr (std::is_integral_v<T>) {
    const double lo = double(std::numeric_limits<T>::lowest());
    const double hi = double(std::numeric_limits<T>::max());
    return T(std::clamp(std::nearbyint(v), lo, hi));
  } else {
    return FromDouble<T>(v);
  }
}

template <typename T>
void ResizeNearest(const Tensor& x, const std::vector<AxisTaps>& taps, T extrapolation,
                   Tensor& out) {
  const Shape& os = out.shape();
  const size_t rank = os.rank();
  const std::vector<int64_t> in_strides = x.shape().Strides();
  const T* in = x.data_as<T>();
  T* o = out.mutable_data_as<T>();
  std::vector<int64_t> idx(rank, 0);
  const int64_t n = out.NumElements();
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = 0;
    bool outside = false;
    for (size_t a = 0; a < rank; ++a) {
      src += taps[a].index[size_t(idx[a])] * in_strides[a];
      outside = outside || taps[a].outside[size_t(idx[a])];
    }
    o[i] = outside ? extrapolation : in[src];
    for (size_t a = rank; a-- > 0;) {
      if (++idx[a] < os[a]) break;
      idx[a] = 0;
    }
  }
}

// Resizes axis `axis` of `cur` (shape `dims`, row-major) in place of the buffer.
void ResizeAxis(ThreadPool* pool, std::vector<double>& cur, std::vector<int64_t>& dims, size_t axis,
                const AxisTaps& t, int64_t out_len, double extrapolation) {
  int64_t outer = 1;
  int64_t inner = 1;
  for (size_t a = 0; a < axis; ++a) outer *= dims[a];
  for (size_t a = axis + 1; a < dims.size(); ++a) inner *= dims[a];
  const int64_t in_len = dims[axis];
  std::vector<double> next(size_t(outer * out_len * inner));
  ParallelFor(pool, outer, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const double* src = cur.data() + b * in_len * inner;
      double* dst = next.data() + b * out_len * inner;
      for (int64_t p = 0; p < out_len; ++p) {
        double* d = dst + p * inner;
        if (t.outside[size_t(p)]) {
          std::fill(d, d + inner, extrapolation);
          continue;
        }
        std::fill(d, d + inner, 0.0);
        for (int k = 0; k < t.taps; ++k) {
          const double w = t.weight[size_t(p) * t.taps + k];
          if (w == 0) continue;
          const double* s = src + t.index[size_t(p) * t.taps + k] * inner;
          for (int64_t i = 0; i < inner; ++i) d[i] += w * s[i];
        }
      }
    }
  });
  cur.swap(next);
  dims[axis] = out_len;
}

Status ResizeImpl(KernelContext& ctx, bool legacy) {
  REFIT_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequiredInput(0));
  REFIT_ASSIGN_OR_RETURN(ResizeOptions opts, ParseOptions(ctx, legacy));
  REFIT_ASSIGN_OR_RETURN(std::vector<AxisGeometry> geo,
                         ParseGeometry(ctx, x->shape(), opts, legacy));
  std::vector<int64_t> out_dims;
  for (const AxisGeometry& g : geo) out_dims.push_back(g.out_len);
  // Checked before the per-axis plans are sized from these dimensions.
  if (auto n = CheckedNumElements(out_dims); !n.ok()) {
    return ctx.Error("output shape " + Shape(out_dims).ToString() + ": " + n.status().message());
  }
  std::vector<AxisTaps> taps;
  for (const AxisGeometry& g : geo) taps.push_back(BuildAxisTaps(opts, g));
  REFIT_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), Shape(out_dims)));
  if (out->NumElements() == 0) return Status::Ok();
  if (x->NumElements() == 0) return ctx.Error("cannot resize an empty input to a non-empty output");
  Status st;
  if (opts.mode == ResizeMode::kNearest) {
    st = DispatchAll(x->dtype(), [&]<typename T>() {
      T extrapolation;
      if constexpr (std::is_same_v<T, bool>) {
        extrapolation = opts.extrapolation_value != 0;
      } else {
        extrapolation = FromDouble<T>(opts.extrapolation_value);
      }
      ResizeNearest<T>(*x, taps, extrapolation, *out);
    });
  } else {
    st = DispatchNumeric(x->dtype(), [&]<typename T>() {
      std::vector<double> cur(size_t(x->NumElements()));
      for (size_t i = 0; i < cur.size(); ++i) cur[i] = double(x->data_as<T>()[i]);
      std::vector<int64_t> dims = x->shape().dims();
      for (size_t a = 0; a < dims.size(); ++a) {
        if (taps[a].identity) continue;
        ResizeAxis(ctx.pool, cur, dims, a, taps[a], out_dims[a], opts.extrapolation_value);
      }
      T* o = out->mutable_data_as<T>();
      for (size_t i = 0; i < cur.size(); ++i) o[i] = StoreInterpolated<T>(cur[i]);
    });
  }
  if (!st.ok()) return ctx.Error(st.message());
  return Status::Ok();
}

Status Resize(KernelContext& ctx) { return ResizeImpl(ctx, /*legacy=*/ctx.opset < 11); }
Status Upsample(KernelContext& ctx) { return ResizeImpl(ctx, /*legacy=*/true); }

}  // namespace

void RegisterResizeOps(KernelRegistry& r) {
  r.Register("Resize", &Resize);
  r.Register("Upsample", &Upsample);
}

}  // namespace refit::reference
