// Conformance of the Gather tactic against the reference executor, bit for bit: every axis,
// negative and scalar indices, i32 indices, an embedding table as a weight, dtypes, threads; an
// index out of range fails the run.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

LayerCase MakeGather(const Shape& data, Tensor indices, int64_t axis, bool data_is_weight = false,
                     DataType dtype = DataType::kF32) {
  LayerCase c;
  c.opset = 13;
  c.node = MakeNode("Gather", 2);
  SetAttr(c.node, "axis", axis);
  c.inputs.push_back(RandomOf(dtype, data, 9));
  c.inputs.push_back(std::move(indices));
  c.weight = {data_is_weight, false};
  return c;
}

Tensor I32s(std::vector<int32_t> v) {
  const int64_t n = int64_t(v.size());
  return Tensor::FromVector<int32_t>(Shape({n}), v);
}

TEST(TacticGather, AxesAndIndices) {
  const Shape x({5, 6, 7});
  CheckExact(MakeGather(x, I64s({4, 0, -1, 2}), 0), "gather/rows");
  CheckExact(MakeGather(x, I64s({5, 1, 1}), 1), "gather/rows");
  CheckExact(MakeGather(x, I64s({-7, 6, 3}), -1), "gather/rows");
  CheckExact(MakeGather(x, I32s({3, 0}), 2), "gather/rows");
  // A scalar index drops the axis (a class token: x[:, 0]).
  CheckExact(MakeGather(Shape({2, 65, 64}), Tensor::FromVector<int64_t>(Shape({}), {0}), 1),
             "gather/rows");
  // Indices of rank 2 (a batch of token ids) into an embedding table held as a weight.
  Tensor ids = Tensor::FromVector<int64_t>(Shape({2, 3}), {1, 7, 0, 9, 9, 4});
  CheckExact(MakeGather(Shape({10, 16}), std::move(ids), 0, /*data_is_weight=*/true),
             "gather/rows");
}

TEST(TacticGather, DtypesAndThreads) {
  for (DataType dtype : {DataType::kF16, DataType::kI64, DataType::kU8, DataType::kBool}) {
    SCOPED_TRACE(DataTypeName(dtype));
    CheckExact(MakeGather(Shape({4, 5}), I64s({3, 1}), 1, false, dtype), "gather/rows");
  }
  std::vector<int64_t> many(512);
  for (size_t i = 0; i < many.size(); ++i) many[i] = int64_t((i * 37) % 1000);
  CheckExact(MakeGather(Shape({1000, 128}), I64s(many), 0, true), "gather/rows");
}

TEST(TacticGather, AnIndexOutOfRangeFailsTheRun) {
  LayerCase c = MakeGather(Shape({5, 3}), I64s({1, 2}), 0);
  std::vector<Tensor> run;
  run.push_back(c.inputs[0].Clone());
  run.push_back(I64s({1, 5}));
  StatusOr<Tensor> got = RunPlannedWith(c, run);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("index 5 (element 1) is out of range"), std::string::npos)
      << got.status().message();
  run[1] = I64s({-6, 0});
  EXPECT_FALSE(RunPlannedWith(c, run).ok());
}

}  // namespace
}  // namespace refit::cpu::testing
