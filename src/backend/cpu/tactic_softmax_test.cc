// Conformance of every CPU Softmax / LogSoftmax tactic against the reference kernels.
#include <gtest/gtest.h>

#include <string>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/tactic_test_util.h"

namespace refit::cpu::testing {
namespace {

int ExpectedTactics() {
  const CpuFeatures& f = DetectCpuFeatures();
  return f.avx && f.avx2 && f.fma ? 2 : 1;
}

void CheckSoftmax(const std::string& op, const Shape& shape, int64_t axis, int64_t opset,
                  float scale = 1.0f) {
  LayerCase c;
  c.opset = opset;
  c.node.name = "softmax";
  c.node.op_type = op;
  c.node.inputs = {"x"};
  c.node.outputs = {"y"};
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = axis;
  c.node.attrs.Set("axis", a);
  c.inputs.push_back(RandomTensor(shape, 11));
  float* p = c.inputs[0].mutable_data_as<float>();
  for (int64_t i = 0; i < c.inputs[0].NumElements(); ++i) p[i] *= scale;
  c.weight = {false};
  SCOPED_TRACE(op + " " + shape.ToString() + " axis " + std::to_string(axis) + " opset " +
               std::to_string(opset) + " scale " + std::to_string(scale));
  // Softmax outputs lie in [0, 1]: 2e-6 is a few float roundings.
  EXPECT_EQ(CheckAllTactics(c, 2e-6, ExpectedTactics()), ExpectedTactics());
}

TEST(SoftmaxTactics, EveryAxisOpset13) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int64_t axis : {-1, 0, 1, 2, 3, -3}) CheckSoftmax(op, {2, 3, 5, 19}, axis, 13);
    CheckSoftmax(op, {1, 2, 128, 128}, -1, 13);  // attention scores
    CheckSoftmax(op, {4, 1000}, 1, 13);
    CheckSoftmax(op, {3, 17, 9}, 1, 13);  // strided rows with a partial block of 8
    CheckSoftmax(op, {7}, 0, 13);
    CheckSoftmax(op, {5, 1}, -1, 13);  // rows of one element
  }
}

TEST(SoftmaxTactics, Opset11FlattensFromAxis) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int64_t axis : {0, 1, 2, 3, 4}) CheckSoftmax(op, {2, 3, 4, 5}, axis, 11);
    CheckSoftmax(op, {2, 3, 4, 5}, -2, 11);
  }
}

TEST(SoftmaxTactics, LargeValues) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    CheckSoftmax(op, {3, 67}, -1, 13, 1e4f);
    CheckSoftmax(op, {3, 67, 10}, 1, 13, 1e4f);
    CheckSoftmax(op, {2, 300}, -1, 13, 60.0f);
  }
}

}  // namespace
}  // namespace refit::cpu::testing
