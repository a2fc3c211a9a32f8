#include <gtest/gtest.h>

#include <cmath>

#include "backend/reference/kernel.h"
#include "backend/reference/shape_ops_test_util.h"
#include "base/thread_pool.h"

namespace refit::reference {
namespace {

using testing::F32;
using testing::FloatAttr;
using testing::Ins;
using testing::IntAttr;
using testing::IntsAttr;
using testing::NodeSpec;
using testing::Run1;
using testing::RunNode;
using testing::Values;

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  testing::ExpectNear(got, want, tol);
}

TEST(BatchNormTest, InferenceUsesGivenStatistics) {
  // Channel 0: mean 0, var 1, scale 1, bias 0. Channel 1: mean 1, var 4, scale 2, bias 1.
  Tensor y = Run1({"BatchNormalization", 15, {{"epsilon", FloatAttr(0)}}},
                  Ins(F32({1, 2, 1, 2}, {1, -2, 3, 5}), F32({2}, {1, 2}), F32({2}, {0, 1}),
                      F32({2}, {0, 1}), F32({2}, {1, 4})));
  ExpectNear(Values<float>(y), {1, -2, 3, 5});
}

TEST(BatchNormTest, TrainingModeUsesBatchStatisticsAndUpdatesRunningOnes) {
  // One channel over N=2, W=2: values 1..4, batch mean 2.5, biased variance 1.25.
  auto r = RunNode({"BatchNormalization", 15, {{"training_mode", IntAttr(1)}}, 3},
                   Ins(F32({2, 1, 1, 2}, {1, 2, 3, 4}), F32({1}, {1}), F32({1}, {0}), F32({1}, {0}),
                       F32({1}, {1})));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const float s = 1 / std::sqrt(1.25f + 1e-5f);
  ExpectNear(Values<float>((*r)[0]), {-1.5f * s, -0.5f * s, 0.5f * s, 1.5f * s});
  ExpectNear(Values<float>((*r)[1]), {0.25f});          // 0.9 * 0 + 0.1 * 2.5
  ExpectNear(Values<float>((*r)[2]), {0.9f + 0.125f});  // 0.9 * 1 + 0.1 * 1.25
}

TEST(BatchNormTest, RejectsWrongParameterSize) {
  auto r = RunNode({"BatchNormalization", 15},
                   Ins(F32({1, 2, 1, 1}, {1, 2}), F32({3}, {1, 1, 1}), F32({2}, {0, 0}),
                       F32({2}, {0, 0}), F32({2}, {1, 1})));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("scale"), std::string::npos) << r.status().ToString();
}

TEST(InstanceNormTest, NormalisesEachChannelOfEachSample) {
  // ONNX's own example: channel 0 = {-1, 0, 1} (mean 0, var 2/3), channel 1 = {2, 3, 4}.
  Tensor y = Run1({"InstanceNormalization", 6}, Ins(F32({1, 2, 1, 3}, {-1, 0, 1, 2, 3, 4}),
                                                    F32({2}, {1, 1.5f}), F32({2}, {0, 1})));
  const float k = 1 / std::sqrt(2.f / 3 + 1e-5f);
  ExpectNear(Values<float>(y), {-k, 0, k, 1 - 1.5f * k, 1, 1 + 1.5f * k});
}

TEST(LayerNormTest, AxisScaleBiasAndStatisticsOutputs) {
  // Rows {1, 3} and {2, 6}: means 2 and 4, variances 1 and 4.
  auto r = RunNode({"LayerNormalization", 17, {{"epsilon", FloatAttr(0)}}, 3},
                   Ins(F32({2, 2}, {1, 3, 2, 6}), F32({2}, {1, 2}), F32({2}, {0, 10})));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear(Values<float>((*r)[0]), {-1, 12, -1, 12});
  EXPECT_EQ((*r)[1].shape(), Shape({2, 1}));
  ExpectNear(Values<float>((*r)[1]), {2, 4});
  ExpectNear(Values<float>((*r)[2]), {1, 0.5f});
}

TEST(LayerNormTest, AxisZeroWithoutBiasBroadcastsScale) {
  // axis 0 normalises the whole [2, 2] tensor; scale [1] broadcasts; mean 2.5, var 1.25.
  auto r = RunNode({"LayerNormalization", 17, {{"axis", IntAttr(0)}, {"epsilon", FloatAttr(0)}}, 1},
                   Ins(F32({2, 2}, {1, 2, 3, 4}), F32({1}, {2})));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const float s = 2 / std::sqrt(1.25f);
  ExpectNear(Values<float>((*r)[0]), {-1.5f * s, -0.5f * s, 0.5f * s, 1.5f * s});
}

TEST(MeanVarianceNormTest, DefaultAxes) {
  // [2, 1, 1, 1]: the two samples of the only channel, 0 and 2, become -1 and 1.
  Tensor y = Run1({"MeanVarianceNormalization", 13}, Ins(F32({2, 1, 1, 1}, {0, 2})));
  ExpectNear(Values<float>(y), {-1, 1});
  Tensor z =
      Run1({"MeanVarianceNormalization", 13, {{"axes", IntsAttr({1})}}}, Ins(F32({1, 2}, {3, 5})));
  ExpectNear(Values<float>(z), {-1, 1});
}

// Runs one kernel directly, with or without a thread pool, and returns output 0.
Tensor RunKernel(const std::string& op, const std::vector<const Tensor*>& inputs,
                 ThreadPool* pool) {
  ir::Node node;
  node.name = "n";
  node.op_type = op;
  node.outputs = {"y"};
  if (op == "Resize") node.attrs.Set("mode", testing::StringAttr("linear"));
  KernelContext ctx{node, 17, inputs, {}, pool};
  ctx.outputs.resize(1);
  KernelFn fn = KernelRegistry::Default().Find(op, "", 17);
  EXPECT_NE(fn, nullptr);
  Status st = fn(ctx);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(ctx.outputs[0]);
}

TEST(ThreadedKernelsTest, MatchSerialResults) {
  Tensor x = Tensor::Create(DataType::kF32, Shape{3, 5, 7, 11}).value();
  for (int64_t i = 0; i < x.NumElements(); ++i) {
    x.mutable_data_as<float>()[i] = float((i * 7919) % 101) / 10.f;
  }
  Tensor scale = F32({5}, {1, 2, 3, 4, 5});
  Tensor bias = F32({5}, {0, 1, 0, 1, 0});
  Tensor ln_scale = testing::Iota({11});
  Tensor scales = F32({4}, {1, 1, 2.5f, 0.5f});
  ThreadPool pool(3);
  const std::vector<std::pair<std::string, std::vector<const Tensor*>>> cases = {
      {"InstanceNormalization", {&x, &scale, &bias}},
      {"LayerNormalization", {&x, &ln_scale}},
      {"Softmax", {&x}},
      {"Resize", {&x, nullptr, &scales}},
  };
  for (const auto& [op, inputs] : cases) {
    Tensor serial = RunKernel(op, inputs, nullptr);
    Tensor threaded = RunKernel(op, inputs, &pool);
    EXPECT_GT(serial.NumElements(), 0) << op;
    EXPECT_EQ(Values<float>(serial), Values<float>(threaded)) << op;
  }
}

}  // namespace
}  // namespace refit::reference
