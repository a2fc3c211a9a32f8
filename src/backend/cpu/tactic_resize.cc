// Resize (opsets 10-17) and Upsample tactics. "resize/nearest" gathers elements of any dtype;
// "resize/linear" interpolates f32. Linear resizing computes in double, one axis after the other
// in the reference executor's order (and skipping the taps it skips), so both backends give the
// same bits: an engine's output does not depend on which backend the tuner picked.
//
// The per-axis sampling plans are built at Instantiate from the scales the layer's shapes imply.
// The scales or sizes input is read at every run (a weight slot only has its value then); a run
// whose scales differ from the planned ones builds its own plan, and one whose scales do not
// give the planned output shape fails. Declined (left to the reference backend): cubic,
// tf_crop_and_resize, exclude_outside with linear, opset 18's antialias/axes/aspect-ratio policy,
// and empty tensors.
#include <emmintrin.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_tactics.h"
#include "backend/cpu/data_move.h"

namespace refit::cpu {
namespace {

using internal::NonEmptyDesc;
using internal::NonEmptyInput;

enum class Coord { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn };
// kLegacy (Upsample, Resize-10): floor when upsampling, ceil when downsampling.
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kLegacy };
enum class ScaleSource { kAttribute, kScalesInput, kSizesInput };

struct ResizeSpec : internal::MoveShapes {
  bool linear = false;
  Coord coord = Coord::kHalfPixel;
  Nearest nearest = Nearest::kRoundPreferFloor;
  ScaleSource source = ScaleSource::kAttribute;
  size_t param_input = 0;  // the scales or sizes input
  std::vector<double> attr_scales;
};

// One axis: output position o reads i0[o] with weight w0[o] and i1[o] with weight w1[o] (nearest:
// i0 with weight 1). `identity` as the reference defines it: each output is its own input.
struct AxisPlan {
  std::vector<int64_t> i0, i1;
  std::vector<double> w0, w1;
  bool identity = false;
  bool two_taps = false;  // both weights of every position are non-zero
};

struct Plan {
  std::vector<double> scales;
  std::vector<AxisPlan> axes;
};

double Coordinate(Coord coord, double scale, double out_len_f, int64_t in_len, int64_t o) {
  const double x = double(o);
  switch (coord) {
    case Coord::kHalfPixel:
      return (x + 0.5) / scale - 0.5;
    case Coord::kPytorchHalfPixel:
      return out_len_f > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case Coord::kAlignCorners:
      return out_len_f == 1 ? 0.0 : x * (double(in_len) - 1) / (out_len_f - 1);
    case Coord::kAsymmetric:
      return x / scale;
    case Coord::kTfHalfPixelForNn:
      return (x + 0.5) / scale;
  }
  return x;
}

int64_t NearestIndex(Nearest mode, double x, double scale) {
  if (x == std::floor(x)) return int64_t(x);
  const double fl = std::floor(x);
  const double ratio = x - fl;
  switch (mode) {
    case Nearest::kRoundPreferFloor:
      return int64_t(ratio <= 0.5 ? fl : fl + 1);
    case Nearest::kRoundPreferCeil:
      return int64_t(ratio < 0.5 ? fl : fl + 1);
    case Nearest::kFloor:
      return int64_t(fl);
    case Nearest::kCeil:
      return int64_t(fl + 1);
    case Nearest::kLegacy:
      return int64_t(scale < 1.0 ? fl + 1 : fl);
  }
  return int64_t(fl);
}

// The resized length the coordinate formulas use: unrounded when scales were given.
double OutLenF(const ResizeSpec& s, size_t a, double scale) {
  return s.source == ScaleSource::kSizesInput ? double(s.out_dims[a])
                                              : scale * double(s.in_dims[a]);
}

AxisPlan BuildAxis(const ResizeSpec& s, size_t a, double scale) {
  const int64_t in_len = s.in_dims[a], out_len = s.out_dims[a], last = in_len - 1;
  const double out_len_f = OutLenF(s, a, scale);
  AxisPlan p;
  p.i0.resize(size_t(out_len));
  p.i1.resize(size_t(out_len));
  p.w0.resize(size_t(out_len));
  p.w1.resize(size_t(out_len));
  for (int64_t o = 0; o < out_len; ++o) {
    const double x = Coordinate(s.coord, scale, out_len_f, in_len, o);
    const size_t k = size_t(o);
    if (!s.linear) {
      p.i0[k] = p.i1[k] = std::clamp<int64_t>(NearestIndex(s.nearest, x, scale), 0, last);
      p.w0[k] = 1;
      p.w1[k] = 0;
      continue;
    }
    // An integer x sits on the right of its pair with weight 1, as in the reference.
    int64_t i0 = int64_t(std::floor(x));
    double r = x - double(i0);
    if (r == 0) {
      --i0;
      r = 1;
    }
    p.i0[k] = std::clamp<int64_t>(i0, 0, last);
    p.i1[k] = std::clamp<int64_t>(i0 + 1, 0, last);
    p.w0[k] = 1 - r;
    p.w1[k] = r;
  }
  p.identity = in_len == out_len;
  for (int64_t o = 0; o < out_len && p.identity; ++o) {
    const size_t k = size_t(o);
    double on_o = 0;
    for (auto [i, w] : {std::pair{p.i0[k], p.w0[k]}, std::pair{p.i1[k], p.w1[k]}}) {
      if (i == o) {
        on_o += w;
      } else if (w != 0) {
        p.identity = false;
      }
    }
    if (on_o != 1.0) p.identity = false;
  }
  if (p.identity) {  // exactly the input: a single tap of weight 1 on itself
    for (int64_t o = 0; o < out_len; ++o) {
      p.i0[size_t(o)] = p.i1[size_t(o)] = o;
      p.w0[size_t(o)] = 0;
      p.w1[size_t(o)] = 1;
    }
  }
  p.two_taps = true;
  for (int64_t o = 0; o < out_len; ++o) {
    p.two_taps = p.two_taps && p.w0[size_t(o)] != 0 && p.w1[size_t(o)] != 0;
  }
  return p;
}

Plan BuildPlan(const ResizeSpec& s, std::vector<double> scales) {
  Plan plan;
  for (size_t a = 0; a < scales.size(); ++a) plan.axes.push_back(BuildAxis(s, a, scales[a]));
  plan.scales = std::move(scales);
  return plan;
}

// This run's scale per axis, checked against the planned output shape.
StatusOr<std::vector<double>> RunScales(const ResizeSpec& s, const backend::KernelIo& io) {
  const size_t rank = s.in_dims.size();
  std::vector<double> scales(rank);
  if (s.source == ScaleSource::kAttribute) return s.attr_scales;
  const Tensor* t = NonEmptyInput(io, s.param_input);
  if (t == nullptr || size_t(t->NumElements()) != rank) {
    return InvalidArgument(s.label + ": expected " + std::to_string(rank) +
                           " scales or sizes in input " + std::to_string(s.param_input));
  }
  if (s.source == ScaleSource::kSizesInput) {
    const std::optional<std::vector<int64_t>> sizes = internal::ReadIndices(*t);
    if (!sizes || *sizes != s.out_dims) {
      return InvalidArgument(s.label + ": sizes differ from the planned output shape " +
                             internal::DimsString(s.out_dims));
    }
    for (size_t a = 0; a < rank; ++a) scales[a] = double(s.out_dims[a]) / double(s.in_dims[a]);
    return scales;
  }
  const float* f = t->data_as<float>();
  for (size_t a = 0; a < rank; ++a) {
    scales[a] = double(f[a]);
    const double out_len_f = scales[a] * double(s.in_dims[a]);
    if (!(scales[a] > 0) || !(out_len_f < 0x1p48) ||
        int64_t(std::floor(out_len_f)) != s.out_dims[a]) {
      return InvalidArgument(
          s.label + ": scales[" + std::to_string(a) + "] = " + std::to_string(scales[a]) +
          " does not give the planned output shape " + internal::DimsString(s.out_dims));
    }
  }
  return scales;
}

template <typename E>
void NearestRows(const ResizeSpec& s, const Plan& plan, const E* x, E* y, int64_t begin,
                 int64_t end) {
  const size_t outer_rank = s.out_dims.size() - 1;
  const std::vector<int64_t> in_strides = Shape(s.in_dims).Strides();
  const int64_t ow = s.out_dims.back();
  const AxisPlan& w = plan.axes.back();
  std::vector<int64_t> idx(outer_rank);
  for (size_t a = outer_rank, rem = size_t(begin); a-- > 0;) {
    idx[a] = int64_t(rem % size_t(s.out_dims[a]));
    rem /= size_t(s.out_dims[a]);
  }
  for (int64_t r = begin; r < end; ++r) {
    int64_t src = 0;
    for (size_t a = 0; a < outer_rank; ++a) src += plan.axes[a].i0[size_t(idx[a])] * in_strides[a];
    const E* row = x + src;
    E* dst = y + r * ow;
    if (w.identity) {
      std::memcpy(dst, row, size_t(ow) * sizeof(E));
    } else {
      for (int64_t j = 0; j < ow; ++j) dst[j] = row[w.i0[size_t(j)]];
    }
    for (size_t a = outer_rank; a-- > 0;) {
      if (++idx[a] < s.out_dims[a]) break;
      idx[a] = 0;
    }
  }
}

// Rows [begin, end) of the output (all axes but the last two are identities): the height pass
// into `tmp` (one input-width row of doubles), then the width pass from it.
void BilinearRows(const ResizeSpec& s, const Plan& plan, const float* x, float* y, int64_t begin,
                  int64_t end, double* tmp) {
  const size_t rank = s.in_dims.size();
  const int64_t ih = s.in_dims[rank - 2], iw = s.in_dims[rank - 1];
  const int64_t oh = s.out_dims[rank - 2], ow = s.out_dims[rank - 1];
  const AxisPlan& hp = plan.axes[rank - 2];
  const AxisPlan& wp = plan.axes[rank - 1];
  for (int64_t r = begin; r < end; ++r) {
    const int64_t plane = r / oh, o = r % oh;
    const float* xp = x + plane * ih * iw;
    const float* a = xp + hp.i0[size_t(o)] * iw;
    const float* b = xp + hp.i1[size_t(o)] * iw;
    const double wa = hp.w0[size_t(o)], wb = hp.w1[size_t(o)];
    // The reference accumulates from 0 and skips zero weights; the same sums give the same bits.
    if (wa != 0 && wb != 0) {
      for (int64_t i = 0; i < iw; ++i) {
        double d = 0;
        d += wa * double(a[i]);
        tmp[i] = d + wb * double(b[i]);
      }
    } else {
      const float* c = wa != 0 ? a : b;
      const double wc = wa != 0 ? wa : wb;
      for (int64_t i = 0; i < iw; ++i) {
        double d = 0;
        tmp[i] = d + wc * double(c[i]);
      }
    }
    float* dst = y + r * ow;
    int64_t j = 0;
    if (wp.two_taps) {  // two columns at a time, without the zero-weight tests
      const __m128d zero = _mm_setzero_pd();
      for (; j + 2 <= ow; j += 2) {
        const size_t k = size_t(j);
        const __m128d ta = _mm_set_pd(tmp[wp.i0[k + 1]], tmp[wp.i0[k]]);
        const __m128d tb = _mm_set_pd(tmp[wp.i1[k + 1]], tmp[wp.i1[k]]);
        const __m128d d = _mm_add_pd(_mm_add_pd(zero, _mm_mul_pd(_mm_loadu_pd(&wp.w0[k]), ta)),
                                     _mm_mul_pd(_mm_loadu_pd(&wp.w1[k]), tb));
        _mm_storel_pi(reinterpret_cast<__m64*>(dst + j), _mm_cvtpd_ps(d));
      }
    }
    for (; j < ow; ++j) {
      const size_t k = size_t(j);
      double d = 0;
      if (wp.w0[k] != 0) d += wp.w0[k] * tmp[wp.i0[k]];
      if (wp.w1[k] != 0) d += wp.w1[k] * tmp[wp.i1[k]];
      dst[j] = static_cast<float>(d);
    }
  }
}

// Any axes: one separable pass per non-identity axis over double buffers, as the reference does.
void LinearGeneric(const ResizeSpec& s, const Plan& plan, ThreadPool* pool, const float* x,
                   float* y) {
  std::vector<int64_t> dims = s.in_dims;
  std::vector<double> cur(x, x + Shape(dims).NumElements());
  for (size_t axis = 0; axis < dims.size(); ++axis) {
    const AxisPlan& p = plan.axes[axis];
    if (p.identity) continue;
    int64_t outer = 1, inner = 1;
    for (size_t a = 0; a < axis; ++a) outer *= dims[a];
    for (size_t a = axis + 1; a < dims.size(); ++a) inner *= dims[a];
    const int64_t in_len = dims[axis], out_len = s.out_dims[axis];
    std::vector<double> next(size_t(outer * out_len * inner));
    internal::ParallelRows(pool, outer, int64_t(next.size() * 8), [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const double* src = cur.data() + b * in_len * inner;
        double* dst = next.data() + b * out_len * inner;
        for (int64_t o = 0; o < out_len; ++o) {
          double* d = dst + o * inner;
          std::fill(d, d + inner, 0.0);
          for (auto [i, w] : {std::pair{p.i0[size_t(o)], p.w0[size_t(o)]},
                              std::pair{p.i1[size_t(o)], p.w1[size_t(o)]}}) {
            if (w == 0) continue;
            const double* sp = src + i * inner;
            for (int64_t e = 0; e < inner; ++e) d[e] += w * sp[e];
          }
        }
      }
    });
    cur.swap(next);
    dims[axis] = out_len;
  }
  for (size_t i = 0; i < cur.size(); ++i) y[i] = static_cast<float>(cur[i]);
}

class ResizeKernel : public backend::Kernel {
 public:
  ResizeKernel(ResizeSpec spec, Plan plan) : s_(std::move(spec)), plan_(std::move(plan)) {}

  Status Run(const backend::KernelIo& io) const override {
    if (io.inputs.empty() || io.inputs[0] == nullptr || io.outputs.empty()) {
      return InvalidArgument(s_.label + ": expected input X and one output");
    }
    REFIT_ASSIGN_OR_RETURN(std::vector<double> scales, RunScales(s_, io));
    std::optional<Plan> own;
    if (scales != plan_.scales) own = BuildPlan(s_, std::move(scales));
    const Plan& plan = own ? *own : plan_;
    const void* x = io.inputs[0]->data();
    void* y = io.outputs[0]->mutable_data();
    const size_t rank = s_.out_dims.size();
    int64_t rows = 1;
    for (size_t a = 0; a + 1 < rank; ++a) rows *= s_.out_dims[a];
    const int64_t bytes = rows * s_.out_dims.back() * int64_t(s_.elem_size);
    if (!s_.linear) {
      internal::DispatchElementSize(s_.elem_size, [&]<typename E>() {
        internal::ParallelRows(io.pool, rows, bytes, [&](int64_t begin, int64_t end) {
          NearestRows<E>(s_, plan, static_cast<const E*>(x), static_cast<E*>(y), begin, end);
        });
      });
      return Status::Ok();
    }
    bool leading_identity = rank >= 2;
    for (size_t a = 0; a + 2 < rank && leading_identity; ++a) {
      leading_identity = plan.axes[a].identity;
    }
    if (!leading_identity) {
      LinearGeneric(s_, plan, io.pool, static_cast<const float*>(x), static_cast<float*>(y));
      return Status::Ok();
    }
    internal::ParallelRows(io.pool, rows, bytes, [&](int64_t begin, int64_t end) {
      std::vector<double> tmp(size_t(s_.in_dims.back()));
      BilinearRows(s_, plan, static_cast<const float*>(x), static_cast<float*>(y), begin, end,
                   tmp.data());
    });
    return Status::Ok();
  }

 private:
  ResizeSpec s_;
  Plan plan_;
};

class ResizeTactic : public backend::Tactic {
 public:
  explicit ResizeTactic(ResizeSpec spec) : s_(std::move(spec)) {}
  std::string name() const override { return s_.linear ? "resize/linear" : "resize/nearest"; }
  StatusOr<std::unique_ptr<backend::Kernel>> Instantiate() const override {
    // The scales this layer's shapes imply; a scales input written as float(out / in) matches.
    std::vector<double> scales = s_.attr_scales;
    if (s_.source != ScaleSource::kAttribute) {
      scales.clear();
      for (size_t a = 0; a < s_.in_dims.size(); ++a) {
        const double ratio = double(s_.out_dims[a]) / double(s_.in_dims[a]);
        scales.push_back(s_.source == ScaleSource::kSizesInput ? ratio : double(float(ratio)));
      }
    }
    return std::unique_ptr<backend::Kernel>(new ResizeKernel(s_, BuildPlan(s_, std::move(scales))));
  }

 private:
  ResizeSpec s_;
};

std::optional<Coord> ParseCoord(const std::string& c) {
  if (c == "half_pixel") return Coord::kHalfPixel;
  if (c == "pytorch_half_pixel") return Coord::kPytorchHalfPixel;
  if (c == "align_corners") return Coord::kAlignCorners;
  if (c == "asymmetric") return Coord::kAsymmetric;
  if (c == "tf_half_pixel_for_nn") return Coord::kTfHalfPixelForNn;
  return std::nullopt;
}

std::optional<Nearest> ParseNearest(const std::string& n) {
  if (n == "round_prefer_floor") return Nearest::kRoundPreferFloor;
  if (n == "round_prefer_ceil") return Nearest::kRoundPreferCeil;
  if (n == "floor") return Nearest::kFloor;
  if (n == "ceil") return Nearest::kCeil;
  return std::nullopt;
}

std::optional<ResizeSpec> ParseResize(const backend::LayerDesc& layer) {
  std::optional<internal::MoveShapes> shapes =
      internal::ParseMoveShapes(layer, "Resize", "Upsample");
  if (!shapes) return std::nullopt;
  const ir::Node& node = *layer.node;
  const bool upsample = node.op_type == "Upsample";
  const bool legacy = upsample || layer.opset < 11;
  const backend::TensorDesc& x = layer.input(0);
  ResizeSpec s;
  static_cast<internal::MoveShapes&>(s) = std::move(*shapes);
  const size_t rank = s.in_dims.size();
  const ir::AttributeMap& attrs = node.attrs;
  // Opset 18's attributes change the geometry in ways not modelled here.
  for (const char* a : {"antialias", "axes", "keep_aspect_ratio_policy"}) {
    if (attrs.Has(a)) return std::nullopt;
  }
  auto mode = attrs.GetString("mode", "nearest");
  if (!mode.ok()) return std::nullopt;
  s.linear = *mode == "linear" || *mode == "bilinear";
  if (!s.linear && *mode != "nearest") return std::nullopt;
  if (s.linear && x.dtype != DataType::kF32) return std::nullopt;
  if (legacy) {
    s.coord = Coord::kAsymmetric;
    s.nearest = Nearest::kLegacy;
  } else {
    auto coord = attrs.GetString("coordinate_transformation_mode", "half_pixel");
    auto nearest = attrs.GetString("nearest_mode", "round_prefer_floor");
    auto exclude = attrs.GetInt("exclude_outside", 0);
    if (!coord.ok() || !nearest.ok() || !exclude.ok()) return std::nullopt;
    const std::optional<Coord> c = ParseCoord(*coord);
    const std::optional<Nearest> n = ParseNearest(*nearest);
    if (!c || !n || (s.linear && *exclude != 0)) return std::nullopt;
    s.coord = *c;
    s.nearest = *n;
  }
  auto rank_vector = [&](size_t i, bool sizes) {
    const backend::TensorDesc& d = layer.input(i);
    return d.shape.NumElements() == int64_t(rank) &&
           (sizes ? internal::IsIndexType(d.dtype) : d.dtype == DataType::kF32);
  };
  if (legacy) {
    if (NonEmptyDesc(layer, 1)) {
      if (!rank_vector(1, false)) return std::nullopt;
      s.source = ScaleSource::kScalesInput;
      s.param_input = 1;
    } else {
      auto f = attrs.GetFloats("scales", {});
      if (!f.ok() || f->size() != rank) return std::nullopt;
      s.attr_scales.assign(f->begin(), f->end());
      for (size_t a = 0; a < rank; ++a) {
        if (!(s.attr_scales[a] > 0) ||
            int64_t(std::floor(s.attr_scales[a] * double(s.in_dims[a]))) != s.out_dims[a]) {
          return std::nullopt;
        }
      }
    }
  } else {
    const bool has_scales = NonEmptyDesc(layer, 2), has_sizes = NonEmptyDesc(layer, 3);
    if (has_scales == has_sizes || !rank_vector(has_sizes ? 3 : 2, has_sizes)) {
      return std::nullopt;
    }
    s.source = has_sizes ? ScaleSource::kSizesInput : ScaleSource::kScalesInput;
    s.param_input = has_sizes ? 3 : 2;
  }
  return s;
}

}  // namespace

void AddResizeTactics(const backend::LayerDesc& layer, TacticList* out) {
  std::optional<ResizeSpec> s = ParseResize(layer);
  if (!s) return;
  if (!s->linear && s->elem_size != 1 && s->elem_size != 2 && s->elem_size != 4 &&
      s->elem_size != 8) {
    return;
  }
  out->push_back(std::make_unique<ResizeTactic>(std::move(*s)));
}

}  // namespace refit::cpu
