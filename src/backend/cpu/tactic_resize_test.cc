// Conformance of the Resize/Upsample tactics against the reference executor, bit for bit: every
// nearest mode and coordinate transformation, up- and downsampling, non-integer scales, sizes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

// Cases are designated initializers that name only what differs from the defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu::testing {
namespace {

const char* const kCoords[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                               "tf_half_pixel_for_nn"};
const char* const kNearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

struct ResizeCase {
  std::string mode = "nearest";
  std::string coord = "half_pixel";
  std::string nearest = "round_prefer_floor";
  DataType dtype = DataType::kF32;
  Shape x;
  std::vector<float> scales;   // given when not empty
  std::vector<int64_t> sizes;  // otherwise
  int64_t opset = 13;
};

LayerCase MakeResize(const ResizeCase& r) {
  LayerCase c;
  c.opset = r.opset;
  c.node = MakeNode("Resize", 4, {1});
  SetAttr(c.node, "mode", r.mode);
  SetAttr(c.node, "coordinate_transformation_mode", r.coord);
  SetAttr(c.node, "nearest_mode", r.nearest);
  c.inputs.push_back(RandomOf(r.dtype, r.x, 11));
  c.inputs.emplace_back();
  if (!r.scales.empty()) {
    c.inputs.push_back(F32s(r.scales));
    c.node.inputs.resize(3);
  } else {
    c.inputs.emplace_back();
    c.node.inputs[2] = "";
    c.inputs.push_back(I64s(r.sizes));
  }
  c.weight = {false, true, true, true};
  return c;
}

TEST(TacticResize, NearestEveryModeAndTransform) {
  for (const char* coord : kCoords) {
    for (const char* nearest : kNearest) {
      for (const std::vector<float>& scales : std::vector<std::vector<float>>{{1, 1, 2, 2},
                                                                              {1, 1, 0.5f, 0.5f},
                                                                              {1, 1, 1.5f, 0.6f},
                                                                              {1, 1, 1.7f, 2.3f},
                                                                              {1, 1, 1, 3}}) {
        ResizeCase r{
            .coord = coord, .nearest = nearest, .x = Shape({1, 2, 5, 7}), .scales = scales};
        SCOPED_TRACE(std::string(coord) + " " + nearest + " " + std::to_string(scales[2]));
        CheckExact(MakeResize(r), "resize/nearest");
      }
      ResizeCase sized{
          .coord = coord, .nearest = nearest, .x = Shape({2, 3, 5, 7}), .sizes = {2, 3, 9, 4}};
      CheckExact(MakeResize(sized), "resize/nearest");
    }
  }
}

TEST(TacticResize, LinearEveryTransform) {
  for (const char* coord : kCoords) {
    if (std::string(coord) == "tf_half_pixel_for_nn") continue;
    for (const std::vector<float>& scales : std::vector<std::vector<float>>{{1, 1, 2, 2},
                                                                            {1, 1, 0.5f, 0.5f},
                                                                            {1, 1, 1.5f, 0.6f},
                                                                            {1, 1, 1.7f, 2.3f},
                                                                            {1, 1, 1, 3},
                                                                            {1, 1, 0.2f, 1}}) {
      ResizeCase r{.mode = "linear", .coord = coord, .x = Shape({1, 3, 5, 7}), .scales = scales};
      SCOPED_TRACE(std::string(coord) + " " + std::to_string(scales[2]));
      CheckExact(MakeResize(r), "resize/linear");
    }
    for (const std::vector<int64_t>& sizes : std::vector<std::vector<int64_t>>{
             {1, 3, 10, 14}, {1, 3, 3, 4}, {1, 3, 1, 1}, {1, 3, 5, 1}}) {
      ResizeCase r{.mode = "linear", .coord = coord, .x = Shape({1, 3, 5, 7}), .sizes = sizes};
      SCOPED_TRACE(std::string(coord) + " sizes " + std::to_string(sizes[2]));
      CheckExact(MakeResize(r), "resize/linear");
    }
  }
}

TEST(TacticResize, OtherRanksAndDtypes) {
  // Nearest on ranks 1, 3 and 5 and on dtypes of every element size.
  CheckExact(MakeResize({.x = Shape({7}), .scales = {2.5f}}), "resize/nearest");
  CheckExact(MakeResize({.x = Shape({3, 4, 5}), .scales = {2, 0.5f, 1.5f}}), "resize/nearest");
  CheckExact(MakeResize({.x = Shape({1, 2, 3, 4, 5}), .sizes = {1, 2, 6, 8, 3}}), "resize/nearest");
  for (DataType dtype : {DataType::kI64, DataType::kF16, DataType::kU8, DataType::kBool}) {
    CheckExact(MakeResize({.dtype = dtype, .x = Shape({1, 2, 5, 6}), .scales = {1, 1, 2, 1.5f}}),
               "resize/nearest");
  }
  // Linear over leading axes (the separable generic path) and on rank 1 and 3.
  CheckExact(MakeResize({.mode = "linear", .x = Shape({3, 4, 5}), .scales = {2, 1.5f, 0.5f}}),
             "resize/linear");
  CheckExact(MakeResize({.mode = "linear", .x = Shape({2, 3, 4, 5}), .sizes = {2, 5, 8, 10}}),
             "resize/linear");
  CheckExact(MakeResize({.mode = "linear", .x = Shape({9}), .scales = {1.3f}}), "resize/linear");
  CheckExact(MakeResize({.mode = "linear", .x = Shape({4, 6, 5}), .scales = {1, 2, 2}}),
             "resize/linear");
}

TEST(TacticResize, LargeEnoughForThreads) {
  CheckExact(MakeResize({.x = Shape({1, 8, 64, 64}), .scales = {1, 1, 2, 2}}), "resize/nearest");
  CheckExact(MakeResize({.mode = "linear",
                         .coord = "align_corners",
                         .x = Shape({1, 8, 64, 64}),
                         .scales = {1, 1, 2, 2}}),
             "resize/linear");
}

TEST(TacticResize, LegacyOpsets) {
  // Resize-10 and Upsample-9 take scales as input 1; Upsample-7 as an attribute.
  for (const char* mode : {"nearest", "linear"}) {
    for (const std::vector<float>& scales :
         std::vector<std::vector<float>>{{1, 1, 2, 3}, {1, 1, 0.5f, 0.7f}}) {
      for (const char* op : {"Resize", "Upsample"}) {
        LayerCase c;
        c.opset = std::string(op) == "Resize" ? 10 : 9;
        c.node = MakeNode(op, 2);
        SetAttr(c.node, "mode", std::string(mode));
        c.inputs.push_back(RandomTensor(Shape({1, 2, 6, 5}), 5));
        c.inputs.push_back(F32s(scales));
        c.weight = {false, true};
        CheckExact(c, std::string(mode) == "nearest" ? "resize/nearest" : "resize/linear");
      }
    }
  }
  LayerCase up7;
  up7.opset = 7;
  up7.node = MakeNode("Upsample", 1);
  SetAttr(up7.node, "mode", std::string("nearest"));
  SetAttr(up7.node, "scales", std::vector<float>{1, 1, 2, 2});
  up7.inputs.push_back(RandomTensor(Shape({1, 2, 3, 4}), 6));
  CheckExact(up7, "resize/nearest");
}

TEST(TacticResize, DeclinesWhatItDoesNotModel) {
  for (const char* coord : {"tf_crop_and_resize"}) {
    ResizeCase r{.mode = "linear", .coord = coord, .x = Shape({1, 1, 4, 4}), .sizes = {1, 1, 8, 8}};
    LayerCase c = MakeResize(r);
    c.inputs[1] = F32s({0, 0, 0, 0, 1, 1, 1, 1});
    c.node.inputs[1] = "roi";
    EXPECT_TRUE(TacticNames(c).empty());
  }
  LayerCase cubic = MakeResize({.mode = "cubic", .x = Shape({1, 1, 4, 4}), .scales = {1, 1, 2, 2}});
  EXPECT_TRUE(TacticNames(cubic).empty());
  LayerCase exclude =
      MakeResize({.mode = "linear", .x = Shape({1, 1, 4, 4}), .scales = {1, 1, 2, 2}});
  SetAttr(exclude.node, "exclude_outside", int64_t{1});
  EXPECT_TRUE(TacticNames(exclude).empty());
}

TEST(TacticResize, ScalesReadAtRunTime) {
  // Planned with scales 2: a run with scales 1.9 gives the same shape through its own plan (and
  // other values than scales 2), one with scales 3 does not give the planned shape and fails.
  LayerCase c = MakeResize({.mode = "linear", .x = Shape({1, 1, 5, 5}), .scales = {1, 1, 2, 2}});
  std::vector<Tensor> run;
  run.push_back(c.inputs[0].Clone());
  run.emplace_back();
  run.push_back(F32s({1, 1, 3, 3}));
  EXPECT_FALSE(RunPlannedWith(c, run).ok());
  run[2] = F32s({1, 1, 2.1f, 2.1f});
  StatusOr<Tensor> got = RunPlannedWith(c, run);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  LayerCase other =
      MakeResize({.mode = "linear", .x = Shape({1, 1, 5, 5}), .scales = {1, 1, 2.1f, 2.1f}});
  other.inputs[0] = c.inputs[0].Clone();
  const std::vector<Tensor> want = ReferenceOutputs(other);
  const std::vector<Tensor> planned = ReferenceOutputs(c);
  ASSERT_EQ(want[0].shape(), got->shape());
  EXPECT_EQ(std::memcmp(want[0].data(), got->data(), want[0].nbytes()), 0);
  // Scales 2.1 and 2 give the same shape but other values, so the check above can fail.
  EXPECT_NE(std::memcmp(want[0].data(), planned[0].data(), want[0].nbytes()), 0);
}

}  // namespace
}  // namespace refit::cpu::testing
