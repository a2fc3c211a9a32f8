// Conformance of the comparison, logic and Where tactics against the reference executor, bit for
// bit: every operator, each operand dtype, broadcasting of every kind (scalars, rows, columns,
// both sides), NaN, sizes large enough for threads; a run on other dtypes than planned fails.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/broadcast.h"
#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

LayerCase Binary(const std::string& op, Tensor a, Tensor b) {
  LayerCase c;
  c.opset = 16;
  c.node = MakeNode(op, 2);
  c.inputs.push_back(std::move(a));
  c.inputs.push_back(std::move(b));
  return c;
}

// Values from a small set, so that equal pairs occur.
Tensor Coarse(DataType dtype, Shape shape, uint32_t seed) {
  Tensor t = RandomOf(DataType::kF32, shape, seed);
  Tensor out = std::move(Tensor::Create(dtype, shape)).value();
  for (int64_t i = 0; i < t.NumElements(); ++i) {
    const float v = std::round(t.data_as<float>()[i] * 3.0f);
    if (dtype == DataType::kF32) out.mutable_data_as<float>()[i] = v;
    if (dtype == DataType::kI32) out.mutable_data_as<int32_t>()[i] = int32_t(v);
    if (dtype == DataType::kI64) out.mutable_data_as<int64_t>()[i] = int64_t(v);
    if (dtype == DataType::kBool) out.mutable_data_as<bool>()[i] = v > 0;
  }
  return out;
}

const std::vector<std::pair<Shape, Shape>>& Broadcasts() {
  static const std::vector<std::pair<Shape, Shape>> kPairs = {
      {Shape({3, 5}), Shape({3, 5})},
      {Shape({2, 3, 7}), Shape({7})},
      {Shape({2, 3, 7}), Shape({3, 1})},
      {Shape({4, 1, 6}), Shape({1, 5, 1})},
      {Shape({1}), Shape({2, 3})},
      {Shape(std::vector<int64_t>{}), Shape({9})},
      {Shape({2, 1, 4, 1}), Shape({3, 1, 5})},
  };
  return kPairs;
}

TEST(TacticLogic, ComparisonsOnEveryDtypeAndBroadcast) {
  for (const char* op : {"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"}) {
    for (DataType dtype : {DataType::kF32, DataType::kI32, DataType::kI64, DataType::kBool}) {
      for (const auto& [a, b] : Broadcasts()) {
        SCOPED_TRACE(std::string(op) + " " + std::string(DataTypeName(dtype)) + " " + a.ToString() +
                     " " + b.ToString());
        CheckExact(Binary(op, Coarse(dtype, a, 1), Coarse(dtype, b, 2)), "compare/broadcast");
      }
    }
  }
}

TEST(TacticLogic, NanComparesFalse) {
  Tensor a = F32s({NAN, 1.0f, NAN, -2.0f});
  Tensor b = F32s({NAN, NAN, 0.0f, -2.0f});
  for (const char* op : {"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"}) {
    SCOPED_TRACE(op);
    CheckExact(Binary(op, a.Clone(), b.Clone()), "compare/broadcast");
  }
}

TEST(TacticLogic, AndOrXor) {
  for (const char* op : {"And", "Or", "Xor"}) {
    for (const auto& [a, b] : Broadcasts()) {
      SCOPED_TRACE(std::string(op) + " " + a.ToString() + " " + b.ToString());
      CheckExact(Binary(op, RandomOf(DataType::kBool, a, 3), RandomOf(DataType::kBool, b, 4)),
                 "logic/broadcast");
    }
  }
}

TEST(TacticLogic, WhereOnEveryElementSizeAndBroadcast) {
  for (DataType dtype : {DataType::kF32, DataType::kI64, DataType::kF16, DataType::kU8}) {
    for (const auto& [a, b] : Broadcasts()) {
      SCOPED_TRACE(std::string(DataTypeName(dtype)) + " " + a.ToString() + " " + b.ToString());
      LayerCase c;
      c.opset = 16;
      c.node = MakeNode("Where", 3);
      // The three operands broadcast each their own way: X as b, Y as a, and Y a scalar.
      c.inputs.push_back(RandomOf(DataType::kBool, a, 5));
      c.inputs.push_back(RandomOf(dtype, b, 6));
      c.inputs.push_back(RandomOf(dtype, a, 7));
      CheckExact(c, "where/broadcast");
      c.inputs[2] = RandomOf(dtype, Shape({1}), 8);
      CheckExact(c, "where/broadcast");
    }
  }
}

TEST(TacticLogic, LargeEnoughForThreads) {
  CheckExact(Binary("Greater", Coarse(DataType::kF32, Shape({64, 48, 40}), 8),
                    Coarse(DataType::kF32, Shape({48, 1}), 9)),
             "compare/broadcast");
  LayerCase c;  // an attention mask: where(mask, scores, -inf) over [batch, heads, q, k]
  c.node = MakeNode("Where", 3);
  c.inputs.push_back(RandomOf(DataType::kBool, Shape({4, 1, 1, 128}), 10));
  c.inputs.push_back(RandomOf(DataType::kF32, Shape({4, 8, 128, 128}), 11));
  c.inputs.push_back(F32s({-INFINITY}));
  CheckExact(c, "where/broadcast");
}

TEST(TacticLogic, OtherDtypesThanPlannedFailTheRun) {
  const LayerCase c =
      Binary("Less", Coarse(DataType::kI64, Shape({3}), 1), Coarse(DataType::kI64, Shape({3}), 2));
  std::vector<Tensor> run;
  run.push_back(Coarse(DataType::kI32, Shape({3}), 1));
  run.push_back(Coarse(DataType::kI32, Shape({3}), 2));
  StatusOr<Tensor> got = RunPlannedWith(c, run);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("another type than planned"), std::string::npos)
      << got.status().message();
}

TEST(BroadcastPlan, MergesAxesAndRefusesMismatches) {
  // [2,3,4] with [3,4] and [2,1,1]: the last two axes merge for every operand.
  auto p = internal::PlanBroadcast({2, 3, 4}, {{3, 4}, {2, 1, 1}});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->dims, (std::vector<int64_t>{2, 12}));
  EXPECT_EQ(p->strides[0], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(p->strides[1], (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(p->rows, 2);
  EXPECT_FALSE(internal::PlanBroadcast({2, 3}, {{2, 4}}).has_value());
  EXPECT_FALSE(internal::PlanBroadcast({3}, {{2, 3}}).has_value());  // operand of higher rank
  EXPECT_FALSE(internal::PlanBroadcast({0, 3}, {{3}}).has_value());
}

}  // namespace
}  // namespace refit::cpu::testing
