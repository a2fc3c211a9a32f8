#include "ir/weight_recipe.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

namespace refit::ir {
namespace {

class Sources {
 public:
  void Add(const std::string& name, Shape shape, std::vector<float> v) {
    m_.emplace(name, Tensor::FromVector<float>(std::move(shape), v));
  }
  WeightRecipe::Lookup lookup() const {
    return [this](const std::string& n) -> const Tensor* {
      auto it = m_.find(n);
      return it == m_.end() ? nullptr : &it->second;
    };
  }

 private:
  std::map<std::string, Tensor> m_;
};

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.NumElements());
}

// Conv weight [2,1,1,2] and BN over 2 channels; expected values computed by hand.
Sources BnSources() {
  Sources s;
  s.Add("conv.weight", {2, 1, 1, 2}, {1, 2, 3, 4});
  s.Add("conv.bias", {2}, {0.5f, -1});
  s.Add("bn.weight", {2}, {2, 3});
  s.Add("bn.bias", {2}, {10, 20});
  s.Add("bn.running_mean", {2}, {1, 2});
  s.Add("bn.running_var", {2}, {3, 8});  // + eps 1 -> sqrt = 2, 3
  return s;
}

// Uses bn.bias as gamma so the two channels get distinct factors (5 and 20/3 with eps 1).
WeightRecipe BnScaleRecipe(float eps) {
  WeightRecipe r;
  int w = r.AddSource("conv.weight");
  int g = r.AddSource("bn.bias");
  int v = r.AddSource("bn.running_var");
  r.AddBnScale(w, g, v, eps, 0);
  return r;
}

TEST(WeightRecipeTest, BnScaleScalesAlongChannelAxis) {
  Sources s = BnSources();
  auto t = BnScaleRecipe(1.f).Evaluate(s.lookup());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->shape(), Shape({2, 1, 1, 2}));
  EXPECT_EQ(Values(*t), (std::vector<float>{5, 10, 20, 80.f / 3}));
  // Axis 3 (size 2) with the same parameters: factors along the last axis.
  WeightRecipe r;
  r.AddBnScale(r.AddSource("conv.weight"), r.AddSource("bn.bias"), r.AddSource("bn.running_var"),
               1.f, 3);
  auto u = r.Evaluate(s.lookup());
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(Values(*u), (std::vector<float>{5, 40.f / 3, 15, 80.f / 3}));
}

TEST(WeightRecipeTest, BnBiasWithAndWithoutBias) {
  Sources s = BnSources();
  WeightRecipe r;
  int b = r.AddSource("conv.bias");
  r.AddBnBias(b, r.AddSource("bn.weight"), r.AddSource("bn.bias"), r.AddSource("bn.running_mean"),
              r.AddSource("bn.running_var"), 1.f);
  auto t = r.Evaluate(s.lookup());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  // (0.5 - 1) * 2/2 + 10 = 9.5;  (-1 - 2) * 3/3 + 20 = 17
  EXPECT_EQ(Values(*t), (std::vector<float>{9.5f, 17}));
  WeightRecipe n;
  n.AddBnBias(-1, n.AddSource("bn.weight"), n.AddSource("bn.bias"), n.AddSource("bn.running_mean"),
              n.AddSource("bn.running_var"), 1.f);
  auto u = n.Evaluate(s.lookup());
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(Values(*u), (std::vector<float>{9, 18}));
  EXPECT_EQ(n.ToString(),
            "bn_bias(none, bn.weight, bn.bias, bn.running_mean, bn.running_var, eps=1)");
}

TEST(WeightRecipeTest, TransposeReshapeConcatCast) {
  Sources s;
  s.Add("a", {2, 3}, {0, 1, 2, 3, 4, 5});
  s.Add("b", {1, 3}, {6, 7, 8});
  WeightRecipe r;
  int t = r.AddTranspose(r.AddSource("a"), {1, 0});
  EXPECT_EQ(Values(*r.Evaluate(s.lookup())), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  r.AddReshape(t, {2, 3});
  auto re = r.Evaluate(s.lookup());
  EXPECT_EQ(re->shape(), Shape({2, 3}));
  WeightRecipe c;
  c.AddConcat({c.AddSource("a"), c.AddSource("b")}, 0);
  auto ct = c.Evaluate(s.lookup());
  ASSERT_TRUE(ct.ok()) << ct.status().ToString();
  EXPECT_EQ(ct->shape(), Shape({3, 3}));
  EXPECT_EQ(Values(*ct), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  WeightRecipe c1;
  c1.AddConcat(
      {c1.AddTranspose(c1.AddSource("a"), {1, 0}), c1.AddTranspose(c1.AddSource("b"), {1, 0})}, 1);
  EXPECT_EQ(Values(*c1.Evaluate(s.lookup())), (std::vector<float>{0, 3, 6, 1, 4, 7, 2, 5, 8}));
  WeightRecipe h;
  h.AddCast(h.AddCast(h.AddSource("b"), DataType::kF16), DataType::kF32);
  auto ht = h.Evaluate(s.lookup());
  ASSERT_TRUE(ht.ok()) << ht.status().ToString();
  EXPECT_EQ(Values(*ht), (std::vector<float>{6, 7, 8}));
  EXPECT_EQ(h.ToString(), "cast(cast(b, f16), f32)");
}

// `r` over `s` gives `want` in shape `dims`, and parses back from its bytes step for step.
void ExpectValuesAndRoundTrip(const WeightRecipe& r, const Sources& s,
                              const std::vector<int64_t>& dims, const std::vector<float>& want) {
  auto t = r.Evaluate(s.lookup());
  ASSERT_TRUE(t.ok()) << r.ToString() << ": " << t.status().ToString();
  EXPECT_EQ(t->shape(), Shape(dims)) << r.ToString();
  EXPECT_EQ(Values(*t), want) << r.ToString();
  auto parsed = WeightRecipe::Parse(r.Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->steps(), r.steps());
}

// Expand broadcasts as numpy does: new leading axes, and axes of 1 repeated, in any position;
// what does not broadcast is an error naming the source, from InferType and Evaluate alike.
TEST(WeightRecipeTest, ExpandBroadcastsLikeNumpy) {
  Sources s;
  s.Add("cls", {1, 1, 3}, {1, 2, 3});
  s.Add("col", {2, 1}, {4, 5});
  s.Add("mid", {2, 1, 2}, {0, 1, 2, 3});
  struct Case {
    std::string source;
    std::vector<int64_t> shape;
    std::vector<float> want;
  };
  for (const Case& c : std::vector<Case>{
           {"cls", {2, 1, 3}, {1, 2, 3, 1, 2, 3}},  // a cls token to a batch of 2
           {"cls", {1, 1, 3}, {1, 2, 3}},           // unchanged
           {"col", {2, 3}, {4, 4, 4, 5, 5, 5}},     // the last axis repeated
           {"col", {2, 2, 2}, {4, 4, 5, 5, 4, 4, 5, 5}},
           {"mid", {2, 3, 2}, {0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3}},  // a middle axis
           {"cls", {2, 0, 3}, {}},                                    // empty
       }) {
    WeightRecipe r;
    r.AddExpand(r.AddSource(c.source), c.shape);
    ExpectValuesAndRoundTrip(r, s, c.shape, c.want);
  }
  WeightRecipe r;
  r.AddExpand(r.AddSource("col"), {2, 2});
  EXPECT_EQ(r.ToString(), "expand(col, shape=[2,2])");
  for (const std::vector<int64_t>& bad :
       std::vector<std::vector<int64_t>>{{3, 3}, {1}, {2, 1, 4, 2}}) {
    WeightRecipe b;
    b.AddExpand(b.AddSource("col"), bad);
    auto t = b.Evaluate(s.lookup());
    ASSERT_FALSE(t.ok()) << b.ToString();
    EXPECT_NE(t.status().message().find("cannot broadcast 'col' [2,1]"), std::string::npos)
        << t.status().ToString();
  }
  WeightRecipe negative;
  negative.AddExpand(negative.AddSource("col"), {-1, 2});
  EXPECT_FALSE(negative.Validate().ok());
}

// Slice keeps elements [start, end) of one axis; a range outside the axis is an error naming the
// source, and a reversed or negative one does not validate.
TEST(WeightRecipeTest, SliceKeepsARangeOfOneAxis) {
  Sources s;
  s.Add("m", {2, 3}, {0, 1, 2, 3, 4, 5});
  struct Case {
    int64_t axis, start, end;
    std::vector<int64_t> dims;
    std::vector<float> want;
  };
  for (const Case& c : std::vector<Case>{{0, 1, 2, {1, 3}, {3, 4, 5}},
                                         {1, 1, 3, {2, 2}, {1, 2, 4, 5}},
                                         {1, 0, 3, {2, 3}, {0, 1, 2, 3, 4, 5}},
                                         {1, 2, 2, {2, 0}, {}}}) {
    WeightRecipe r;
    r.AddSlice(r.AddSource("m"), c.axis, c.start, c.end);
    ExpectValuesAndRoundTrip(r, s, c.dims, c.want);
  }
  WeightRecipe r;
  r.AddSlice(r.AddSource("m"), 1, 1, 3);
  EXPECT_EQ(r.ToString(), "slice(m, axis=1, 1:3)");
  for (const auto& [axis, end] : std::vector<std::pair<int64_t, int64_t>>{{1, 4}, {2, 1}}) {
    WeightRecipe b;
    b.AddSlice(b.AddSource("m"), axis, 0, end);
    auto t = b.Evaluate(s.lookup());
    ASSERT_FALSE(t.ok()) << b.ToString();
    EXPECT_NE(t.status().message().find("are not in 'm' [2,3]"), std::string::npos)
        << t.status().ToString();
  }
  for (const auto& [start, end] : std::vector<std::pair<int64_t, int64_t>>{{2, 1}, {-1, 2}}) {
    WeightRecipe b;
    b.AddSlice(b.AddSource("m"), 0, start, end);
    EXPECT_FALSE(b.Validate().ok()) << start << ":" << end;
  }
}

// The tiled path (a matrix or a batch of them with the last two axes swapped) against the general
// one, on sizes that are not multiples of the tile.
TEST(WeightRecipeTest, TiledTransposeMatchesTheGeneralPath) {
  Sources s;
  std::vector<float> v(2 * 37 * 45);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i);
  s.Add("m", {2, 37, 45}, v);
  WeightRecipe tiled;
  tiled.AddTranspose(tiled.AddSource("m"), {0, 2, 1});
  auto t = tiled.Evaluate(s.lookup());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->shape(), Shape({2, 45, 37}));
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < 37; ++i) {
      for (int64_t j = 0; j < 45; ++j) {
        ASSERT_EQ(t->data_as<float>()[(b * 45 + j) * 37 + i], v[size_t((b * 37 + i) * 45 + j)]);
      }
    }
  }
}

// Values a refit must refuse instead of baking in: a conversion that overflows, a BatchNorm that
// divides by zero.
TEST(WeightRecipeTest, NonFiniteResultsAreErrors) {
  Sources s;
  s.Add("w", {3}, {1, 70000, -2});
  WeightRecipe cast;
  cast.AddCast(cast.AddSource("w"), DataType::kF16);
  auto c = cast.Evaluate(s.lookup());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("overflows"), std::string::npos) << c.status().ToString();
  EXPECT_NE(c.status().message().find("element 1"), std::string::npos) << c.status().ToString();

  Sources bn = BnSources();
  bn.Add("zero_var", {2}, {-1, 3});  // + eps 1 -> sqrt(0) for channel 0
  WeightRecipe scale;
  scale.AddBnScale(scale.AddSource("conv.weight"), scale.AddSource("bn.weight"),
                   scale.AddSource("zero_var"), 1.f, 0);
  auto sc = scale.Evaluate(bn.lookup());
  ASSERT_FALSE(sc.ok());
  EXPECT_NE(sc.status().message().find("not finite"), std::string::npos) << sc.status().ToString();
}

TEST(WeightRecipeTest, IdentityDoesNotAliasTheSource) {
  Sources s;
  s.Add("a", {2}, {1, 2});
  auto t = WeightRecipe::FromSource("a").Evaluate(s.lookup());
  ASSERT_TRUE(t.ok());
  EXPECT_NE(t->data(), s.lookup()("a")->data());
  EXPECT_EQ(Values(*t), (std::vector<float>{1, 2}));
}

TEST(WeightRecipeTest, ErrorsNameTheStepAndSource) {
  Sources s = BnSources();
  s.Add("short", {3}, {1, 1, 1});
  WeightRecipe r;
  r.AddBnScale(r.AddSource("conv.weight"), r.AddSource("short"), r.AddSource("bn.running_var"),
               1e-5f, 0);
  auto t = r.Evaluate(s.lookup());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("step 3 (bn_scale)"), std::string::npos)
      << t.status().ToString();
  EXPECT_NE(t.status().message().find("'short'"), std::string::npos);
  EXPECT_NE(t.status().message().find("expected 2"), std::string::npos);
  auto missing = WeightRecipe::FromSource("nope").Evaluate(s.lookup());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'nope'"), std::string::npos);
  WeightRecipe bad;
  bad.AddReshape(bad.AddSource("conv.weight"), {3});
  EXPECT_FALSE(bad.Evaluate(s.lookup()).ok());
}

// InferType agrees with what Evaluate produces, and refuses what Evaluate refuses.
TEST(WeightRecipeTest, InferTypeMatchesEvaluate) {
  Sources s = BnSources();
  auto type_of = [&](const std::string& n) -> std::optional<WeightRecipe::TensorType> {
    const Tensor* t = s.lookup()(n);
    if (t == nullptr) return std::nullopt;
    return WeightRecipe::TensorType{t->dtype(), t->shape()};
  };
  WeightRecipe grouped = BnScaleRecipe(1e-5f);
  int x = grouped.AddTranspose(grouped.AddReshape(3, {2, 2}), {1, 0});
  grouped.AddConcat({x, grouped.AddCast(x, DataType::kF32)}, 1);
  WeightRecipe bias;
  bias.AddBnBias(bias.AddSource("conv.bias"), bias.AddSource("bn.weight"),
                 bias.AddSource("bn.bias"), bias.AddSource("bn.running_mean"),
                 bias.AddSource("bn.running_var"), 1e-5f);
  for (const WeightRecipe* r : {&grouped, &bias}) {
    auto t = r->InferType(type_of);
    auto v = r->Evaluate(s.lookup());
    ASSERT_TRUE(t.ok() && v.ok()) << t.status().ToString() << v.status().ToString();
    EXPECT_EQ(t->shape, v->shape()) << r->ToString();
    EXPECT_EQ(t->dtype, v->dtype());
  }
  EXPECT_EQ(grouped.InferType(type_of)->shape, Shape({2, 4}));
  WeightRecipe cat;
  cat.AddConcat({cat.AddSource("conv.weight"), cat.AddSource("conv.bias")}, 0);
  auto bad = cat.InferType(type_of);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'conv.bias' [2]"), std::string::npos)
      << bad.status().ToString();
  EXPECT_FALSE(cat.Evaluate(s.lookup()).ok());
}

// EvaluateOver gives Evaluate's bytes over the same tensors, with or without the type checks;
// unchecked, it still checks values, and a wrong number of tensors is an error either way.
TEST(WeightRecipeTest, EvaluateOverMatchesEvaluate) {
  Sources s = BnSources();
  WeightRecipe grouped = BnScaleRecipe(1e-5f);
  int x = grouped.AddTranspose(grouped.AddReshape(3, {2, 2}), {1, 0});
  grouped.AddConcat({x, grouped.AddCast(x, DataType::kF32)}, 1);
  for (const WeightRecipe& r : {grouped, WeightRecipe::FromSource("bn.bias")}) {
    std::vector<const Tensor*> tensors;
    for (const std::string& name : r.Sources()) tensors.push_back(s.lookup()(name));
    auto expected = r.Evaluate(s.lookup());
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    for (bool checked : {false, true}) {
      auto v = r.EvaluateOver(tensors, checked);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      EXPECT_EQ(Values(*v), Values(*expected)) << r.ToString();
      EXPECT_EQ(v->shape(), expected->shape());
    }
    tensors.pop_back();
    EXPECT_FALSE(r.EvaluateOver(tensors, true).ok());
  }
  // Unchecked types: the type errors Evaluate reports.
  Sources bad = BnSources();
  bad.Add("short", {3}, {1, 1, 1});
  WeightRecipe r;
  r.AddBnScale(r.AddSource("conv.weight"), r.AddSource("short"), r.AddSource("bn.running_var"),
               1e-5f, 0);
  std::vector<const Tensor*> tensors;
  for (const std::string& name : r.Sources()) tensors.push_back(bad.lookup()(name));
  auto refused = r.EvaluateOver(tensors, false);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("'short'"), std::string::npos);
  // Checked types: value checks stay (a zero variance and gamma 0 give a non-finite factor).
  Sources zero = BnSources();
  zero.Add("zero_var", {2}, {-1, 3});
  WeightRecipe scale;
  scale.AddBnScale(scale.AddSource("conv.weight"), scale.AddSource("bn.weight"),
                   scale.AddSource("zero_var"), 1.f, 0);
  tensors.clear();
  for (const std::string& name : scale.Sources()) tensors.push_back(zero.lookup()(name));
  auto not_finite = scale.EvaluateOver(tensors, true);
  ASSERT_FALSE(not_finite.ok());
  EXPECT_NE(not_finite.status().message().find("not finite"), std::string::npos);
}

TEST(WeightRecipeTest, ToStringMatchesTheDocumentedForm) {
  WeightRecipe r;
  const int w = r.AddSource("conv1.weight");
  const int gamma = r.AddSource("bn1.weight");
  r.AddBnScale(w, gamma, r.AddSource("bn1.running_var"), 1e-5f, 0);
  EXPECT_EQ(r.ToString(), "bn_scale(conv1.weight, bn1.weight, bn1.running_var, eps=1e-05, axis=0)");
  EXPECT_EQ(r.Sources(),
            (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.running_var"}));
}

TEST(WeightRecipeTest, SerializeRoundTripsAndEvaluatesIdentically) {
  Sources s = BnSources();
  WeightRecipe r = BnScaleRecipe(1e-3f);
  r.AddTranspose(r.AddReshape(int(r.steps().size()) - 1, {2, 2}), {1, 0});
  const std::string bytes = r.Serialize();
  auto p = WeightRecipe::Parse(bytes);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(*p == r);
  EXPECT_EQ(p->Serialize(), bytes);
  auto a = r.Evaluate(s.lookup());
  auto b = p->Evaluate(s.lookup());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(std::memcmp(a->data(), b->data(), a->nbytes()), 0);
}

TEST(WeightRecipeTest, ParseRejectsEveryTruncationAndCorruption) {
  WeightRecipe r = BnScaleRecipe(1e-5f);
  const std::string bytes = r.Serialize();
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(WeightRecipe::Parse(bytes.substr(0, n)).ok()) << "prefix " << n;
  }
  EXPECT_FALSE(WeightRecipe::Parse(bytes + "x").ok());
  std::string magic = bytes;
  magic[0] = 'X';
  EXPECT_FALSE(WeightRecipe::Parse(magic).ok());
  // A step whose argument refers to itself or a later step.
  WeightRecipe fwd;
  fwd.AddSource("a");
  fwd.AddTranspose(1, {0});
  auto p = WeightRecipe::Parse(fwd.Serialize());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(p.status().message().find("not an earlier step"), std::string::npos);
  WeightRecipe perm;
  perm.AddTranspose(perm.AddSource("a"), {0, 0});
  EXPECT_FALSE(WeightRecipe::Parse(perm.Serialize()).ok());
  // A huge step count in a short buffer must fail before allocating.
  std::string huge = bytes;
  huge[6] = '\xff';
  huge[7] = '\xff';
  EXPECT_FALSE(WeightRecipe::Parse(huge).ok());
}

// Every single-byte corruption either fails to parse or parses to a recipe that validates and
// re-serialises to exactly the corrupted bytes (nothing is silently dropped).
TEST(WeightRecipeTest, ParseSurvivesEveryByteCorruption) {
  WeightRecipe r = BnScaleRecipe(1e-5f);
  r.AddConcat({r.AddTranspose(r.AddReshape(3, {2, 2}), {1, 0}), 3}, 0);
  const std::string bytes = r.Serialize();
  int parsed = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      std::string b = bytes;
      b[i] = char(v);
      auto p = WeightRecipe::Parse(b);
      if (!p.ok()) continue;
      ++parsed;
      EXPECT_TRUE(p->Validate().ok());
      EXPECT_EQ(p->Serialize(), b) << "byte " << i;
    }
  }
  EXPECT_GT(parsed, 0);  // e.g. eps or a name byte changed: still well formed
}

}  // namespace
}  // namespace refit::ir
