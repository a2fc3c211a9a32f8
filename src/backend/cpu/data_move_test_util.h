// Test helper (included by *_test.cc only) for the data-movement tactics: node and tensor
// builders, and CheckExact, which runs CheckAllTactics with tolerance 0 and then compares every
// tactic's output with the reference executor's byte for byte, for every dtype (CheckAllTactics
// compares f32 outputs only).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/tactic_test_util.h"
#include "refit/float16.h"

namespace refit::cpu::testing {

inline void SetAttr(ir::Node& n, const std::string& name, int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  n.attrs.Set(name, a);
}
inline void SetAttr(ir::Node& n, const std::string& name, const std::string& v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kString;
  a.s = v;
  n.attrs.Set(name, a);
}
inline void SetAttr(ir::Node& n, const std::string& name, std::vector<int64_t> v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInts;
  a.ints = std::move(v);
  n.attrs.Set(name, a);
}
inline void SetAttr(ir::Node& n, const std::string& name, std::vector<float> v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloats;
  a.floats = std::move(v);
  n.attrs.Set(name, a);
}
inline void SetFloatAttr(ir::Node& n, const std::string& name, float v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloat;
  a.f = v;
  n.attrs.Set(name, a);
}

// A node named after its op with inputs "in0".. (absent where `absent[i]`) and output "y".
inline ir::Node MakeNode(const std::string& op, size_t num_inputs,
                         const std::vector<size_t>& absent = {}) {
  ir::Node n;
  n.name = op + "_node";
  n.op_type = op;
  for (size_t i = 0; i < num_inputs; ++i) n.inputs.push_back("in" + std::to_string(i));
  for (size_t i : absent) n.inputs[i] = "";
  n.outputs = {"y"};
  return n;
}

inline Tensor I64s(std::vector<int64_t> v) {
  const int64_t n = int64_t(v.size());
  return Tensor::FromVector<int64_t>(Shape({n}), v);
}
inline Tensor F32s(std::vector<float> v) {
  const int64_t n = int64_t(v.size());
  return Tensor::FromVector<float>(Shape({n}), v);
}

// Distinct-looking values of any dtype from a fixed seed (f32 in [-1, 1), integers spread over
// their range, bool 0/1), so that a misplaced element shows.
inline Tensor RandomOf(DataType dtype, Shape shape, uint32_t seed) {
  if (dtype == DataType::kF32) return RandomTensor(std::move(shape), seed);
  Tensor t = std::move(Tensor::Create(dtype, std::move(shape))).value();
  std::mt19937 rng(seed);
  auto* bytes = static_cast<uint8_t*>(t.mutable_data());
  if (dtype == DataType::kF16) {
    std::uniform_real_distribution<float> dist(-8.0f, 8.0f);
    for (int64_t i = 0; i < t.NumElements(); ++i) t.mutable_data_as<Half>()[i] = Half(dist(rng));
  } else if (dtype == DataType::kBool) {
    for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = uint8_t(rng() & 1);
  } else {
    for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = uint8_t(rng());
  }
  return t;
}

inline backend::LayerDesc DescOf(const LayerCase& c, const std::vector<Tensor>& outputs) {
  backend::LayerDesc desc = DescOf(c, std::vector<Shape>{});
  for (const Tensor& t : outputs) desc.outputs.push_back({t.dtype(), t.shape(), false});
  return desc;
}

inline std::vector<Tensor> ReferenceOutputs(const LayerCase& c) {
  std::vector<const Tensor*> ins;
  for (const Tensor& t : c.inputs) ins.push_back(t.defined() ? &t : nullptr);
  std::vector<Tensor> expected;
  Status s = reference::EvaluateNode(c.node, c.opset, ins, &expected);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return expected;
}

// The names of the CPU tactics for `c` (its output shapes from the reference executor).
inline std::vector<std::string> TacticNames(const LayerCase& c) {
  std::vector<Tensor> expected = ReferenceOutputs(c);
  std::vector<std::string> names;
  for (const auto& t : CreateCpuBackend()->Tactics(DescOf(c, expected))) {
    names.push_back(t->name());
  }
  return names;
}

// Plans `planned` (shapes from the reference), runs its first tactic on `run_inputs` and returns
// the first output.
inline StatusOr<Tensor> RunPlannedWith(const LayerCase& planned,
                                       const std::vector<Tensor>& run_inputs) {
  std::vector<Tensor> expected = ReferenceOutputs(planned);
  auto tactics = CreateCpuBackend()->Tactics(DescOf(planned, expected));
  if (tactics.empty()) return NotFound("no CPU tactic");
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<backend::Kernel> kernel, tactics[0]->Instantiate());
  backend::KernelIo io;
  for (const Tensor& t : run_inputs) io.inputs.push_back(t.defined() ? &t : nullptr);
  for (Tensor& t : expected) io.outputs.push_back(&t);
  REFIT_RETURN_IF_ERROR(kernel->Run(io));
  return std::move(expected[0]);
}

// Every CPU tactic must take `c` (the one named `tactic` among them) and reproduce the reference
// executor's output bits, with 1 and 4 threads.
inline void CheckExact(const LayerCase& c, const std::string& tactic) {
  std::vector<std::string> names;
  CheckAllTactics(c, /*tolerance=*/0.0, /*min_tactics=*/1, &names);
  EXPECT_NE(std::find(names.begin(), names.end(), tactic), names.end())
      << "no tactic " << tactic << " for " << c.node.op_type;
  const std::vector<Tensor> expected = ReferenceOutputs(c);
  backend::LayerDesc desc = DescOf(c, expected);
  for (const auto& t : CreateCpuBackend()->Tactics(desc)) {
    SCOPED_TRACE(desc.Label() + " tactic " + t->name());
    auto kernel = t->Instantiate();
    ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
    for (int threads : {1, 4}) {
      ThreadPool pool(threads);
      backend::KernelIo io;
      io.pool = &pool;
      for (const Tensor& in : c.inputs) io.inputs.push_back(in.defined() ? &in : nullptr);
      std::vector<Tensor> outs;
      for (const Tensor& e : expected) {
        outs.push_back(std::move(Tensor::Create(e.dtype(), e.shape())).value());
        std::memset(outs.back().mutable_data(), 0xA5, outs.back().nbytes());
      }
      for (Tensor& o : outs) io.outputs.push_back(&o);
      Status run = (*kernel)->Run(io);
      ASSERT_TRUE(run.ok()) << run.ToString();
      for (size_t o = 0; o < outs.size(); ++o) {
        ASSERT_EQ(outs[o].nbytes(), expected[o].nbytes());
        EXPECT_EQ(std::memcmp(outs[o].data(), expected[o].data(), outs[o].nbytes()), 0)
            << "output " << o << " differs in its bytes with " << threads << " threads";
      }
    }
  }
}

}  // namespace refit::cpu::testing
