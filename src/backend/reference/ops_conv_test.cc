#include <gtest/gtest.h>

#include "backend/reference/conv_test_util.h"

namespace refit::reference {
namespace {

using namespace conv_testing;

std::vector<int64_t> Unravel(int64_t flat, const std::vector<int64_t>& dims) {
  std::vector<int64_t> idx(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    idx[d] = flat % dims[d];
    flat /= dims[d];
  }
  return idx;
}

int64_t Product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

struct ConvCase {
  std::vector<int64_t> x_shape, w_shape;
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads;  // empty: ONNX defaults
  bool bias = false;
};

// The convolution sum written out directly, in double: y[n,m,o] = b[m] +
// sum over c in m's group and taps t of x[n, c, o*s + t*d - pad] * w[m, c, t].
std::vector<double> NaiveConv(const ConvCase& c, const std::vector<double>& x,
                              const std::vector<double>& w, const std::vector<double>& b,
                              std::vector<int64_t>* out_shape) {
  const size_t r = c.x_shape.size() - 2;
  const std::vector<int64_t> in(c.x_shape.begin() + 2, c.x_shape.end());
  const std::vector<int64_t> k(c.w_shape.begin() + 2, c.w_shape.end());
  std::vector<int64_t> s = c.strides, d = c.dilations, p = c.pads;
  if (s.empty()) s.assign(r, 1);
  if (d.empty()) d.assign(r, 1);
  if (p.empty()) p.assign(2 * r, 0);
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i)
    out[i] = (in[i] + p[i] + p[i + r] - (k[i] - 1) * d[i] - 1) / s[i] + 1;
  const int64_t batch = c.x_shape[0], ch = c.x_shape[1], maps = c.w_shape[0];
  const int64_t cg = ch / c.group, mg = maps / c.group;
  *out_shape = {batch, maps};
  out_shape->insert(out_shape->end(), out.begin(), out.end());
  std::vector<double> y;
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t m = 0; m < maps; ++m) {
      for (int64_t o = 0; o < Product(out); ++o) {
        const std::vector<int64_t> oi = Unravel(o, out);
        double sum = b.empty() ? 0.0 : b[size_t(m)];
        for (int64_t cc = 0; cc < cg; ++cc) {
          const int64_t channel = (m / mg) * cg + cc;
          for (int64_t t = 0; t < Product(k); ++t) {
            const std::vector<int64_t> ti = Unravel(t, k);
            int64_t flat = 0;
            bool inside = true;
            for (size_t a = 0; a < r; ++a) {
              const int64_t pos = oi[a] * s[a] + ti[a] * d[a] - p[a];
              inside = inside && pos >= 0 && pos < in[a];
              flat = flat * in[a] + pos;
            }
            if (!inside) continue;
            sum += x[size_t((n * ch + channel) * Product(in) + flat)] *
                   w[size_t((m * cg + cc) * Product(k) + t)];
          }
        }
        y.push_back(sum);
      }
    }
  }
  return y;
}

Attrs ConvAttrs(const ConvCase& c) {
  Attrs a = {{"group", Int(c.group)}};
  if (!c.strides.empty()) a["strides"] = Ints(c.strides);
  if (!c.dilations.empty()) a["dilations"] = Ints(c.dilations);
  if (!c.pads.empty()) a["pads"] = Ints(c.pads);
  return a;
}

template <typename T>
void CheckAgainstNaive(const ConvCase& c, int threads, double tol) {
  Tensor x = Random<T>(Shape(c.x_shape), 11);
  Tensor w = Random<T>(Shape(c.w_shape), 12);
  Tensor b = c.bias ? Random<T>(Shape({c.w_shape[0]}), 13) : Tensor();
  std::vector<int64_t> out_shape;
  const std::vector<double> want = NaiveConv(
      c, AsDoubles(x), AsDoubles(w), c.bias ? AsDoubles(b) : std::vector<double>{}, &out_shape);
  Tensor y = Run1("Conv", {std::move(x), std::move(w), std::move(b)}, ConvAttrs(c), threads);
  ExpectNear(y, Shape(out_shape), want, tol, tol);
}

TEST(Conv, HandComputed2x2OnesKernel) {
  // x = 0..8 as 3x3; every output is the sum of one 2x2 window.
  Tensor x = F32({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  Tensor w = F32({1, 1, 2, 2}, {1, 1, 1, 1});
  Tensor b = F32({1}, {0.5f});
  ExpectNear(Run1("Conv", {std::move(x), std::move(w), std::move(b)}), Shape({1, 1, 2, 2}),
             {8.5, 12.5, 20.5, 24.5});
}

TEST(Conv, HandComputedPaddedStrided) {
  // Pads 1, stride 2 on 0..8: windows centred on the corners of the 3x3 input.
  Tensor x = F32({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  Tensor w = F32({1, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  Attrs a = {{"pads", Ints({1, 1, 1, 1})}, {"strides", Ints({2, 2})}};
  ExpectNear(Run1("Conv", {std::move(x), std::move(w)}, a), Shape({1, 1, 2, 2}),
             {0 + 1 + 3 + 4, 1 + 2 + 4 + 5, 3 + 4 + 6 + 7, 4 + 5 + 7 + 8});
}

TEST(Conv, MatchesDirectSumAcrossConfigurations) {
  const std::vector<ConvCase> cases = {
      {{1, 3, 9}, {4, 3, 3}, 1, {2}, {1}, {1, 2}, true},                      // 1-D
      {{2, 4, 7, 6}, {6, 2, 3, 2}, 2, {1, 2}, {2, 1}, {1, 0, 2, 1}, true},    // groups
      {{1, 4, 6, 6}, {4, 1, 3, 3}, 4, {}, {}, {1, 1, 1, 1}, false},           // depthwise
      {{1, 3, 5, 6, 4}, {2, 3, 2, 3, 2}, 1, {1, 2, 1}, {2, 1, 1}, {}, true},  // 3-D
      {{2, 8, 5, 5}, {16, 8, 1, 1}, 1, {}, {}, {}, true},                     // pointwise
      {{1, 3, 32, 32}, {20, 3, 5, 5}, 1, {2, 2}, {}, {2, 2, 2, 2}, true},     // multi-block
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    CheckAgainstNaive<float>(cases[i], 1, 1e-5);
    CheckAgainstNaive<float>(cases[i], 2, 1e-5);
    CheckAgainstNaive<double>(cases[i], 1, 1e-12);
  }
}

TEST(Conv, HalfAndBFloat16ComputeInFloat) {
  const ConvCase c = {{1, 3, 6, 6}, {4, 3, 3, 3}, 1, {}, {}, {1, 1, 1, 1}, true};
  // Inputs are exactly representable; only the final rounding differs from the exact sum.
  CheckAgainstNaive<Half>(c, 1, 2e-3);
  CheckAgainstNaive<BFloat16>(c, 1, 1e-2);
}

TEST(Conv, AutoPadSameAndValidMatchExplicitPads) {
  Tensor x = Random({1, 2, 6, 5}, 3);
  Tensor w = Random({3, 2, 3, 4}, 4);
  struct AutoCase {
    std::string auto_pad;
    std::vector<int64_t> pads;  // worked out by hand for in [6,5], k [3,4], s [2,1]
  };
  // SAME: out = ceil(in / s) = [3,5]; total pad = (out-1)*s + k - in = [1,3]; the odd element
  // goes to the end for SAME_UPPER and to the beginning for SAME_LOWER.
  for (const AutoCase& ac :
       {AutoCase{"SAME_UPPER", {0, 1, 1, 2}}, AutoCase{"SAME_LOWER", {1, 2, 0, 1}},
        AutoCase{"VALID", {0, 0, 0, 0}}}) {
    SCOPED_TRACE(ac.auto_pad);
    Tensor by_auto = Run1("Conv", {x.Clone(), w.Clone()},
                          {{"auto_pad", Str(ac.auto_pad)}, {"strides", Ints({2, 1})}});
    Tensor by_pads =
        Run1("Conv", {x.Clone(), w.Clone()}, {{"pads", Ints(ac.pads)}, {"strides", Ints({2, 1})}});
    ExpectNear(by_auto, by_pads.shape(), AsDoubles(by_pads), 0, 0);
  }
}

TEST(Conv, RejectsMismatchedShapes) {
  auto channels = RunOp("Conv", {Random({1, 3, 5, 5}, 1), Random({2, 2, 3, 3}, 2)});
  ASSERT_FALSE(channels.ok());
  EXPECT_NE(channels.status().message().find("group"), std::string::npos);
  auto kernel = RunOp("Conv", {Random({1, 3, 5, 5}, 1), Random({2, 3, 3, 3}, 2)},
                      {{"kernel_shape", Ints({2, 2})}});
  ASSERT_FALSE(kernel.ok());
  EXPECT_NE(kernel.status().message().find("kernel_shape"), std::string::npos);
  auto small = RunOp("Conv", {Random({1, 1, 2, 2}, 1), Random({1, 1, 3, 3}, 2)});
  EXPECT_FALSE(small.ok());
}

}  // namespace
}  // namespace refit::reference
