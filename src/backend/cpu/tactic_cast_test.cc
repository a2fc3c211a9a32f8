// Conformance of the Cast tactic against the reference executor, bit for bit: every pair of the
// dtypes it converts, values at the edges (NaN, infinities, out of an integer's range, negative
// zero, fractions of either sign), CastLike; f16 stays on the reference backend.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/data_move_test_util.h"

namespace refit::cpu::testing {
namespace {

const DataType kDtypes[] = {DataType::kF32, DataType::kF64, DataType::kI32, DataType::kI64,
                            DataType::kU8,  DataType::kI8,  DataType::kBool};

// f32 values at the edges, as the source dtype holds them (integers from their random bytes).
Tensor Edgy(DataType dtype) {
  if (dtype != DataType::kF32 && dtype != DataType::kF64) {
    return RandomOf(dtype, Shape({5, 7}), 12);
  }
  const std::vector<double> v = {NAN,  INFINITY, -INFINITY, -0.0, 0.5,  -0.5,  1.9,
                                 -1.9, 255.5,    256.0,     -129, 1e10, -1e10, 3e9,
                                 -3e9, 9.3e18,   -9.3e18,   2.5,  -2.5, 127.9, 1e-30};
  Tensor t = std::move(Tensor::Create(dtype, Shape({int64_t(v.size())}))).value();
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DataType::kF32) t.mutable_data_as<float>()[i] = float(v[i]);
    if (dtype == DataType::kF64) t.mutable_data_as<double>()[i] = v[i];
  }
  return t;
}

LayerCase MakeCast(Tensor x, DataType to) {
  LayerCase c;
  c.opset = 13;
  c.node = MakeNode("Cast", 1);
  SetAttr(c.node, "to", int64_t(DataTypeToOnnx(to)));
  c.inputs.push_back(std::move(x));
  return c;
}

TEST(TacticCast, EveryPairOfDtypes) {
  for (DataType from : kDtypes) {
    for (DataType to : kDtypes) {
      SCOPED_TRACE(std::string(DataTypeName(from)) + " to " + std::string(DataTypeName(to)));
      CheckExact(MakeCast(Edgy(from), to), "cast/convert");
    }
  }
}

TEST(TacticCast, CastLikeAndThreads) {
  LayerCase c;
  c.opset = 15;
  c.node = MakeNode("CastLike", 2);
  c.inputs.push_back(RandomOf(DataType::kI64, Shape({300, 500}), 13));
  c.inputs.push_back(RandomOf(DataType::kF32, Shape({1}), 14));
  CheckExact(c, "cast/convert");
}

TEST(TacticCast, HalfStaysOnTheReference) {
  const LayerCase c = MakeCast(RandomOf(DataType::kF32, Shape({4}), 15), DataType::kF16);
  for (const std::string& name : TacticNames(c)) EXPECT_NE(name, "cast/convert");
}

}  // namespace
}  // namespace refit::cpu::testing
