// Conformance of the Pad tactic against the reference executor, bit for bit: every mode, pads
// positive, zero, negative (crops) and wider than the input, several ranks and dtypes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

LayerCase MakePad(const std::string& mode, DataType dtype, Shape x, std::vector<int64_t> pads,
                  bool with_value = false) {
  LayerCase c;
  c.opset = 13;
  c.node = MakeNode("Pad", with_value ? 3 : 2);
  SetAttr(c.node, "mode", mode);
  c.inputs.push_back(RandomOf(dtype, std::move(x), 21));
  c.inputs.push_back(I64s(std::move(pads)));
  if (with_value) c.inputs.push_back(RandomOf(dtype, Shape({}), 22));
  c.weight = {false, true, true};
  return c;
}

TEST(TacticPad, EveryModeAndPadding) {
  const std::vector<std::vector<int64_t>> pads = {
      {0, 0, 1, 2, 0, 0, 3, 1},     // height and width
      {0, 1, 0, 0, 0, 2, 0, 0},     // channels only
      {0, 0, 2, 2, 0, 0, 2, 2},     // reflect's widest (dim - 1 on a 3-high input)
      {0, 0, 0, 0, 0, 0, 0, 0},     // nothing
      {1, 0, 1, 1, 0, 1, 0, 3},     // batch too
      {0, 0, -1, 1, 0, 0, 2, -2},   // crops on one side, pads on the other
      {0, -1, 0, -3, 0, 0, -1, 0},  // crops only
  };
  for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
    for (size_t i = 0; i < pads.size(); ++i) {
      SCOPED_TRACE(std::string(mode) + " pads #" + std::to_string(i));
      CheckExact(MakePad(mode, DataType::kF32, Shape({2, 3, 3, 7}), pads[i]), "pad/rows");
    }
  }
  // Wider than the input: reflect repeats with period 2 * (dim - 1), wrap with period dim.
  for (const char* mode : {"reflect", "wrap", "edge"}) {
    CheckExact(MakePad(mode, DataType::kF32, Shape({1, 2, 3, 4}), {0, 0, 5, 6, 0, 0, 4, 9}),
               "pad/rows");
  }
}

TEST(TacticPad, ConstantValueRanksAndDtypes) {
  CheckExact(MakePad("constant", DataType::kF32, Shape({2, 5, 5}), {1, 2, 0, 0, 1, 3}, true),
             "pad/rows");
  CheckExact(MakePad("reflect", DataType::kF32, Shape({9}), {3, 4}), "pad/rows");
  CheckExact(MakePad("edge", DataType::kF32, Shape({5, 1}), {1, 2, 3, 4}), "pad/rows");
  CheckExact(
      MakePad("reflect", DataType::kF32, Shape({1, 2, 3, 4, 5}), {0, 1, 1, 2, 2, 0, 0, 2, 1, 3}),
      "pad/rows");
  for (DataType dtype : {DataType::kI64, DataType::kF16, DataType::kU8, DataType::kI32}) {
    for (const char* mode : {"constant", "reflect", "edge"}) {
      CheckExact(MakePad(mode, dtype, Shape({2, 3, 4}), {0, 1, 2, 1, 0, 3},
                         std::string(mode) == "constant"),
                 "pad/rows");
    }
  }
}

TEST(TacticPad, LargeEnoughForThreads) {
  for (const char* mode : {"constant", "reflect"}) {
    CheckExact(MakePad(mode, DataType::kF32, Shape({1, 16, 64, 64}), {0, 0, 3, 3, 0, 0, 3, 3}),
               "pad/rows");
  }
}

TEST(TacticPad, LegacyAttributes) {
  LayerCase c;
  c.opset = 2;
  c.node = MakeNode("Pad", 1);
  SetAttr(c.node, "mode", std::string("constant"));
  SetAttr(c.node, "pads", std::vector<int64_t>{0, 1, 2, 0, 3, 1});
  SetFloatAttr(c.node, "value", 2.5f);
  c.inputs.push_back(RandomTensor(Shape({2, 3, 4}), 3));
  CheckExact(c, "pad/rows");
}

TEST(TacticPad, PadsReadAtRunTime) {
  // Planned with pads (1, 2) on the last axis; (2, 1) keeps the shape and must move the data,
  // (2, 2) changes the shape and must fail.
  LayerCase c = MakePad("constant", DataType::kF32, Shape({2, 4}), {0, 1, 0, 2});
  std::vector<Tensor> run;
  run.push_back(c.inputs[0].Clone());
  run.push_back(I64s({0, 2, 0, 1}));
  StatusOr<Tensor> got = RunPlannedWith(c, run);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const float* y = got->data_as<float>();
  const float* x = c.inputs[0].data_as<float>();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(y[r * 7 + 0], 0.0f);
    EXPECT_EQ(y[r * 7 + 1], 0.0f);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(y[r * 7 + 2 + j], x[r * 4 + j]);
    EXPECT_EQ(y[r * 7 + 6], 0.0f);
  }
  run[1] = I64s({0, 2, 0, 2});
  EXPECT_FALSE(RunPlannedWith(c, run).ok());
}

}  // namespace
}  // namespace refit::cpu::testing
