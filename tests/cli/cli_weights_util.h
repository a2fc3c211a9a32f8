// Weight files for the CLI tests: the tiny_cnn model's initializers as a safetensors state dict,
// optionally transformed, and small file helpers.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_engine_fixture.h"
#include "onnx/onnx_pb.h"
#include "refit/safetensors.h"

namespace refit {

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline onnx::ModelProto LoadModelProto() {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(ReadBytes(kModel)));
  return m;
}

inline void SaveModelProto(const onnx::ModelProto& m, const std::string& path) {
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
}

// The model's float initializers as a safetensors state dict, each value mapped through `f`.
template <typename F>
inline void WriteWeights(const std::string& path, F f) {
  const onnx::ModelProto m = LoadModelProto();
  std::vector<Tensor> tensors;
  std::vector<NamedTensorView> views;
  for (const onnx::TensorProto& init : m.graph().initializer()) {
    if (init.data_type() != onnx::TensorProto::FLOAT) continue;
    std::vector<int64_t> dims(init.dims().begin(), init.dims().end());
    auto t = Tensor::Create(DataType::kF32, Shape(dims));
    ASSERT_TRUE(t.ok());
    ASSERT_EQ(init.raw_data().size(), t->nbytes()) << init.name();
    std::memcpy(t->mutable_data(), init.raw_data().data(), t->nbytes());
    float* p = t->mutable_data_as<float>();
    for (int64_t i = 0; i < t->NumElements(); ++i) p[i] = f(init.name(), i, p[i]);
    tensors.push_back(std::move(t).value());
  }
  int k = 0;
  for (const onnx::TensorProto& init : m.graph().initializer()) {
    if (init.data_type() == onnx::TensorProto::FLOAT)
      views.push_back({init.name(), tensors[k++].view()});
  }
  ASSERT_TRUE(WriteSafetensors(path, views).ok());
}

}  // namespace refit
