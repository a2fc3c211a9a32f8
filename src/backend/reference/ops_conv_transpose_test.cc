#include <gtest/gtest.h>

#include "backend/reference/conv_test_util.h"

namespace refit::reference {
namespace {

using namespace conv_testing;

struct TransposeCase {
  std::vector<int64_t> x_shape, w_shape;  // W is [C, M / group, k...]
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads, output_padding;
  bool bias = false;
};

// Scatters every input element through every kernel tap, in double:
// y[n, m, i*s + t*d - pad_begin] += x[n, c, i] * w[c, m within group, t].
std::vector<double> NaiveConvTranspose(const TransposeCase& c, const std::vector<double>& x,
                                       const std::vector<double>& w, const std::vector<double>& b,
                                       std::vector<int64_t>* out_shape) {
  const size_t r = c.x_shape.size() - 2;
  const int64_t batch = c.x_shape[0], ch = c.x_shape[1], mg = c.w_shape[1];
  const int64_t maps = mg * c.group, cg = ch / c.group;
  std::vector<int64_t> in(c.x_shape.begin() + 2, c.x_shape.end());
  std::vector<int64_t> k(c.w_shape.begin() + 2, c.w_shape.end());
  std::vector<int64_t> out(r);
  int64_t isize = 1, ksize = 1, osize = 1;
  for (size_t a = 0; a < r; ++a) {
    out[a] = c.strides[a] * (in[a] - 1) + c.output_padding[a] + (k[a] - 1) * c.dilations[a] + 1 -
             c.pads[a] - c.pads[a + r];
    isize *= in[a];
    ksize *= k[a];
    osize *= out[a];
  }
  *out_shape = {batch, maps};
  out_shape->insert(out_shape->end(), out.begin(), out.end());
  std::vector<double> y(size_t(batch * maps * osize), 0.0);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t m = 0; m < maps; ++m) {
      for (int64_t o = 0; o < osize; ++o)
        y[size_t((n * maps + m) * osize + o)] = b.empty() ? 0 : b[m];
    }
    for (int64_t c_in = 0; c_in < ch; ++c_in) {
      const int64_t g = c_in / cg;
      for (int64_t i = 0; i < isize; ++i) {
        for (int64_t t = 0; t < ksize; ++t) {
          int64_t i_rem = i, t_rem = t, flat = 0, stride = 1;
          bool inside = true;
          for (size_t a = r; a-- > 0;) {
            const int64_t ii = i_rem % in[a], tt = t_rem % k[a];
            i_rem /= in[a];
            t_rem /= k[a];
            const int64_t pos = ii * c.strides[a] + tt * c.dilations[a] - c.pads[a];
            inside = inside && pos >= 0 && pos < out[a];
            flat += pos * stride;
            stride *= out[a];
          }
          if (!inside) continue;
          for (int64_t mm = 0; mm < mg; ++mm) {
            y[size_t((n * maps + g * mg + mm) * osize + flat)] +=
                x[size_t((n * ch + c_in) * isize + i)] * w[size_t((c_in * mg + mm) * ksize + t)];
          }
        }
      }
    }
  }
  return y;
}

TEST(ConvTranspose, HandComputed2x2) {
  // Each input element stamps the 2x2 ones kernel at its own position.
  Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor w = F32({1, 1, 2, 2}, {1, 1, 1, 1});
  ExpectNear(Run1("ConvTranspose", {std::move(x), std::move(w)}), Shape({1, 1, 3, 3}),
             {1, 3, 2, 4, 10, 6, 3, 7, 4});
}

TEST(ConvTranspose, MatchesScatterAcrossConfigurations) {
  const std::vector<TransposeCase> cases = {
      {{1, 2, 5}, {2, 3, 3}, 1, {2}, {1}, {1, 0}, {1}, true},                       // 1-D
      {{2, 4, 3, 4}, {4, 3, 3, 2}, 2, {2, 3}, {2, 1}, {1, 0, 0, 2}, {1, 0}, true},  // groups
      {{1, 2, 3, 2, 3},
       {2, 2, 2, 3, 2},
       1,
       {1, 2, 2},
       {1, 1, 2},
       {0, 1, 0, 0, 0, 1},  // 3-D
       {0, 1, 0},
       false},
      {{1, 3, 9, 9}, {3, 5, 4, 4}, 1, {2, 2}, {1, 1}, {1, 1, 1, 1}, {0, 0}, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const TransposeCase& c = cases[i];
    for (int threads : {1, 2}) {
      Tensor x = Random(Shape(c.x_shape), 21);
      Tensor w = Random(Shape(c.w_shape), 22);
      Tensor b = c.bias ? Random(Shape({c.w_shape[1] * c.group}), 23) : Tensor();
      std::vector<int64_t> out_shape;
      const std::vector<double> want = NaiveConvTranspose(
          c, AsDoubles(x), AsDoubles(w), c.bias ? AsDoubles(b) : std::vector<double>{}, &out_shape);
      Attrs a = {{"group", Int(c.group)},
                 {"strides", Ints(c.strides)},
                 {"dilations", Ints(c.dilations)},
                 {"pads", Ints(c.pads)},
                 {"output_padding", Ints(c.output_padding)}};
      ExpectNear(Run1("ConvTranspose", {std::move(x), std::move(w), std::move(b)}, a, threads),
                 Shape(out_shape), want, 1e-5, 1e-5);
    }
  }
}

// 1-D x = [1,2,3], ones kernel of 3, stride 2: the full output is [1,1,3,2,5,3,3] (length 7).
Tensor Row() { return F32({1, 1, 3}, {1, 2, 3}); }
Tensor Ones3() { return F32({1, 1, 3}, {1, 1, 1}); }

TEST(ConvTranspose, OutputShapeLargerThanFullOutputPadsTheEnd) {
  ExpectNear(Run1("ConvTranspose", {Row(), Ones3()},
                  {{"strides", Ints({2})}, {"output_shape", Ints({8})}}),
             Shape({1, 1, 8}), {1, 1, 3, 2, 5, 3, 3, 0});
}

TEST(ConvTranspose, OutputShapeSmallerThanFullOutputCropsBothEnds) {
  // total padding 2: one element cut from each end.
  ExpectNear(Run1("ConvTranspose", {Row(), Ones3()},
                  {{"strides", Ints({2})}, {"output_shape", Ints({5})}}),
             Shape({1, 1, 5}), {1, 3, 2, 5, 3});
}

TEST(ConvTranspose, AutoPadSameOutputIsInputTimesStride) {
  // Output 6 of a full 7: SAME_UPPER drops the last element, SAME_LOWER the first.
  ExpectNear(Run1("ConvTranspose", {Row(), Ones3()},
                  {{"strides", Ints({2})}, {"auto_pad", Str("SAME_UPPER")}}),
             Shape({1, 1, 6}), {1, 1, 3, 2, 5, 3});
  ExpectNear(Run1("ConvTranspose", {Row(), Ones3()},
                  {{"strides", Ints({2})}, {"auto_pad", Str("SAME_LOWER")}}),
             Shape({1, 1, 6}), {1, 3, 2, 5, 3, 3});
}

TEST(ConvTranspose, RejectsWeightChannelMismatch) {
  auto r = RunOp("ConvTranspose", {Random({1, 3, 4, 4}, 1), Random({2, 1, 3, 3}, 2)});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("W[0] == C"), std::string::npos);
}

}  // namespace
}  // namespace refit::reference
