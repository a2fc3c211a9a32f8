// Conformance of the BatchNormalization tactic against the reference executor (within 1e-5 of its
// double arithmetic): ranks 2 to 5, the parameters as weights or as values, epsilon, threads; the
// training form stays on the reference.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

LayerCase MakeBatchNorm(const Shape& x, bool weights, float epsilon = 1e-5f) {
  LayerCase c;
  c.opset = 15;
  c.node = MakeNode("BatchNormalization", 5);
  ir::Attribute eps;
  eps.kind = ir::Attribute::Kind::kFloat;
  eps.f = epsilon;
  c.node.attrs.Set("epsilon", eps);
  const Shape channel({x[1]});
  c.inputs.push_back(RandomOf(DataType::kF32, x, 1));
  c.inputs.push_back(RandomOf(DataType::kF32, channel, 2));  // scale
  c.inputs.push_back(RandomOf(DataType::kF32, channel, 3));  // B
  c.inputs.push_back(RandomOf(DataType::kF32, channel, 4));  // mean
  Tensor var = RandomOf(DataType::kF32, channel, 5);
  for (int64_t i = 0; i < var.NumElements(); ++i) {
    var.mutable_data_as<float>()[i] = 0.1f + std::abs(var.data_as<float>()[i]);
  }
  c.inputs.push_back(std::move(var));
  c.weight = {false, weights, weights, weights, weights};
  return c;
}

void Check(const LayerCase& c) {
  std::vector<std::string> names;
  CheckAllTactics(c, 1e-5, 1, &names);
  EXPECT_NE(std::find(names.begin(), names.end(), "batchnorm/affine"), names.end());
}

TEST(TacticBatchNorm, RanksWeightsAndValues) {
  for (const Shape& x :
       {Shape({4, 16}), Shape({2, 3, 7}), Shape({2, 3, 5, 7}), Shape({1, 4, 2, 3, 5})}) {
    for (bool weights : {true, false}) {
      SCOPED_TRACE(x.ToString() + (weights ? " weights" : " values"));
      Check(MakeBatchNorm(x, weights));
    }
  }
  Check(MakeBatchNorm(Shape({2, 6, 4, 4}), true, 0.25f));
}

TEST(TacticBatchNorm, LargeEnoughForThreads) { Check(MakeBatchNorm(Shape({8, 64, 28, 28}), true)); }

TEST(TacticBatchNorm, TrainingModeStaysOnTheReference) {
  LayerCase c = MakeBatchNorm(Shape({2, 3, 4, 4}), true);
  SetAttr(c.node, "training_mode", int64_t{1});
  const backend::LayerDesc desc = DescOf(c, {c.inputs[0].shape()});
  for (const auto& t : CreateCpuBackend()->Tactics(desc)) EXPECT_NE(t->name(), "batchnorm/affine");
}

}  // namespace
}  // namespace refit::cpu::testing
