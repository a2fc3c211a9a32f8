// Conformance of the Slice tactic against the reference executor, bit for bit: negative indices,
// clamped ends, steps above 1 and below 0, omitted axes/steps, several ranks and dtypes.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

// Cases are designated initializers that name only what differs from the defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu::testing {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

struct SliceCase {
  Shape x;
  std::vector<int64_t> starts, ends, axes, steps;  // axes/steps omitted when empty
  DataType dtype = DataType::kF32;
  DataType index_dtype = DataType::kI64;
};

Tensor Indices(const std::vector<int64_t>& v, DataType dtype) {
  if (dtype == DataType::kI64) return I64s(v);
  std::vector<int32_t> w(v.begin(), v.end());
  return Tensor::FromVector<int32_t>(Shape({int64_t(w.size())}), w);
}

LayerCase MakeSlice(const SliceCase& s) {
  LayerCase c;
  c.opset = 13;
  const size_t n = !s.steps.empty() ? 5 : !s.axes.empty() ? 4 : 3;
  c.node = MakeNode("Slice", n);
  c.inputs.push_back(RandomOf(s.dtype, s.x, 41));
  c.inputs.push_back(Indices(s.starts, s.index_dtype));
  c.inputs.push_back(Indices(s.ends, s.index_dtype));
  if (n > 3) {
    if (s.axes.empty()) {
      c.node.inputs[3] = "";
      c.inputs.emplace_back();
    } else {
      c.inputs.push_back(Indices(s.axes, s.index_dtype));
    }
  }
  if (n > 4) c.inputs.push_back(Indices(s.steps, s.index_dtype));
  c.weight = {false, true, true, true, true};
  return c;
}

TEST(TacticSlice, IndicesStepsAndClamping) {
  const Shape x({3, 4, 6, 7});
  const std::vector<SliceCase> cases = {
      {x, {1}, {3}, {2}, {}},                     // one middle axis
      {x, {0, 1}, {2, 4}, {}, {}},                // axes omitted
      {x, {-3}, {-1}, {-1}, {}},                  // negative indices, last axis
      {x, {2, -100}, {kMax, 100}, {1, 3}, {}},    // clamped starts and ends
      {x, {0, 1}, {kMax, kMax}, {2, 3}, {2, 3}},  // steps above 1, last one on the last axis
      {x, {-1}, {kMin}, {3}, {-1}},               // reverse the last axis
      {x, {5, 3}, {0, -100}, {2, -3}, {-2, -1}},  // negative steps, clamped ends
      {x, {0, 0, 0, 0}, {kMax, kMax, kMax, kMax}, {}, {}},  // everything: one memcpy
      {x, {1}, {2}, {0}, {}},                  // first axis only: blocks of whole planes
      {x, {0, 6}, {3, 1}, {-4, -2}, {2, -2}},  // negative axes and mixed steps
      {x, {1}, {kMax}, {1}, {2}},              // stepped middle axis: gathered blocks
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case #" + std::to_string(i));
    CheckExact(MakeSlice(cases[i]), "slice/strided");
  }
}

TEST(TacticSlice, RanksAndDtypes) {
  CheckExact(MakeSlice({Shape({11}), {-8}, {-1}, {0}, {3}}), "slice/strided");
  CheckExact(MakeSlice({Shape({11}), {9}, {1}, {0}, {-2}}), "slice/strided");
  for (DataType dtype : {DataType::kI64, DataType::kF16, DataType::kU8, DataType::kBool}) {
    CheckExact(MakeSlice({Shape({2, 5, 6}), {1, 5}, {4, 0}, {1, 2}, {2, -2}, dtype}),
               "slice/strided");
  }
  // i32 indices, as some exporters write them.
  CheckExact(
      MakeSlice({Shape({4, 9}), {1, -2}, {3, 0}, {0, 1}, {1, -3}, DataType::kF32, DataType::kI32}),
      "slice/strided");
  // A shape computation: the middle of an i64 shape vector.
  CheckExact(MakeSlice({Shape({4}), {1}, {3}, {0}, {}, DataType::kI64}), "slice/strided");
}

TEST(TacticSlice, LargeEnoughForThreads) {
  CheckExact(MakeSlice({Shape({1, 32, 64, 66}), {1, 1}, {-1, -1}, {2, 3}, {}}), "slice/strided");
  CheckExact(MakeSlice({Shape({1, 32, 64, 66}), {0}, {kMax}, {3}, {2}}), "slice/strided");
}

TEST(TacticSlice, LegacyAttributes) {
  LayerCase c;
  c.opset = 9;
  c.node = MakeNode("Slice", 1);
  SetAttr(c.node, "starts", std::vector<int64_t>{1, -3});
  SetAttr(c.node, "ends", std::vector<int64_t>{kMax, -1});
  SetAttr(c.node, "axes", std::vector<int64_t>{0, 2});
  c.inputs.push_back(RandomTensor(Shape({3, 4, 5}), 4));
  CheckExact(c, "slice/strided");
}

TEST(TacticSlice, ValuesReadAtRunTime) {
  // Planned as x[1:3]; x[0:2] has the same shape and must move other data; x[0:3] must fail.
  LayerCase c = MakeSlice({Shape({5, 3}), {1}, {3}, {0}, {}});
  std::vector<Tensor> run;
  run.push_back(c.inputs[0].Clone());
  run.push_back(I64s({0}));
  run.push_back(I64s({2}));
  run.push_back(I64s({0}));
  StatusOr<Tensor> got = RunPlannedWith(c, run);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got->data_as<float>()[i], c.inputs[0].data_as<float>()[i]);
  run[2] = I64s({3});
  EXPECT_FALSE(RunPlannedWith(c, run).ok());
  // An empty slice is the reference backend's.
  EXPECT_TRUE(TacticNames(MakeSlice({Shape({5, 3}), {2}, {2}, {0}, {}})).empty());
}

}  // namespace
}  // namespace refit::cpu::testing
