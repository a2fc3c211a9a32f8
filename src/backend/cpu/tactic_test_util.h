// Test helper (included by *_test.cc only): the tactic conformance check. Runs EVERY tactic the
// CPU backend lists for one layer against the reference executor's result for the same node
// (reference::EvaluateNode, the oracle), with 1 and 2 threads, and reports each mismatch with
// the tactic's name.
#pragma once

#include <gtest/gtest.h>
#include <cstring>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/reference/evaluate_node.h"
#include "base/thread_pool.h"
#include "ir/graph.h"

namespace refit::cpu::testing {

struct LayerCase {
  ir::Node node;
  int64_t opset = 17;
  std::vector<Tensor> inputs;  // undefined: absent optional input
  std::vector<bool> weight;    // per input: a weight slot (packed by the tactic)
};

// A tensor of uniform values in [-1, 1) from a fixed seed.
inline Tensor RandomTensor(Shape shape, uint32_t seed) {
  Tensor t = std::move(Tensor::Create(DataType::kF32, std::move(shape))).value();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  float* p = t.mutable_data_as<float>();
  for (int64_t i = 0; i < t.NumElements(); ++i) p[i] = dist(rng);
  return t;
}

// Max |a - b| / (1 + max |b|) over the elements where b is finite (f32 only).
inline double RelError(const Tensor& a, const Tensor& b) {
  const float* pa = a.data_as<float>();
  const float* pb = b.data_as<float>();
  // A non-finite reference value must be matched exactly (NaN by NaN, an infinity by itself);
  // the rest is measured against the largest finite reference value, so that an infinity in the
  // reference does not make every finite difference vanish.
  double max_ref = 0, max_err = 0;
  for (int64_t i = 0; i < b.NumElements(); ++i) {
    if (!std::isfinite(pb[i])) {
      if (std::isnan(pb[i]) ? !std::isnan(pa[i]) : pa[i] != pb[i]) return INFINITY;
      continue;
    }
    if (!std::isfinite(pa[i])) return INFINITY;
    max_ref = std::max(max_ref, double(std::fabs(pb[i])));
    max_err = std::max(max_err, std::fabs(double(pa[i]) - double(pb[i])));
  }
  return max_err / (1.0 + max_ref);
}

// An f32 activation [N, C, spatial...] moved between NCHW and the channel-blocked layout
// [N][C / block][spatial][block] (backend::Tactic::InputBlock): into it when `to_blocked`, else
// out of it.
inline Tensor Reblock(const Tensor& x, int block, bool to_blocked) {
  Tensor y = x.Clone();
  const int64_t n = x.shape()[0], c = x.shape()[1], hw = x.NumElements() / (n * c);
  const float* src = x.data_as<float>();
  float* dst = y.mutable_data_as<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t p = 0; p < hw; ++p) {
        const int64_t plain = (i * c + ch) * hw + p;
        const int64_t blocked = ((i * (c / block) + ch / block) * hw + p) * block + ch % block;
        dst[to_blocked ? blocked : plain] = src[to_blocked ? plain : blocked];
      }
    }
  }
  return y;
}

// The LayerDesc the builder would plan for `c` with these outputs (f32 of `output_shapes`).
inline backend::LayerDesc DescOf(const LayerCase& c, const std::vector<Shape>& output_shapes) {
  backend::LayerDesc desc;
  desc.node = &c.node;
  desc.opset = c.opset;
  for (const Tensor& t : c.inputs) desc.inputs.push_back({t.dtype(), t.shape(), false});
  desc.weight = c.weight;
  desc.weight.resize(c.inputs.size(), false);
  for (const Shape& s : output_shapes) desc.outputs.push_back({DataType::kF32, s, false});
  return desc;
}

// The reference executor's outputs for `c` (the oracle). False, with a failure, when it cannot
// evaluate the node.
inline bool ReferenceOutputs(const LayerCase& c, std::vector<Tensor>* expected) {
  std::vector<const Tensor*> ins;
  for (const Tensor& t : c.inputs) ins.push_back(t.defined() ? &t : nullptr);
  Status s = reference::EvaluateNode(c.node, c.opset, ins, expected);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return s.ok();
}

// 64-byte aligned scratch, as an engine hands a kernel its workspace.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes) : p_(new (std::align_val_t(64)) char[bytes]) {}
  char* data() const { return p_.get(); }

 private:
  struct Free {
    void operator()(char* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  std::unique_ptr<char[], Free> p_;
};

// Sets io->inputs as an engine would hand them to `tactic` for `c`: each weight packed by the
// tactic (into `packed`), each activation the tactic reads channel-blocked reblocked (into
// `blocked`), the rest as they are (absent ones null). False, with a failure, when a weight does
// not pack.
inline bool TacticInputs(const backend::Tactic& tactic, const LayerCase& c,
                         const backend::LayerDesc& desc, std::vector<Tensor>* packed,
                         std::vector<Tensor>* blocked, backend::KernelIo* io) {
  packed->clear();
  packed->resize(c.inputs.size());
  blocked->clear();
  blocked->resize(c.inputs.size());
  io->inputs.clear();
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& value = c.inputs[i];
    const int in_block = tactic.InputBlockAt(i);
    if (desc.is_weight(i) && value.defined()) {
      EXPECT_EQ(in_block, 0) << "input " << i << ": a weight cannot be blocked";
      auto p = tactic.PackWeight(i, value);
      if (!p.ok()) {
        ADD_FAILURE() << "input " << i << ": " << p.status().ToString();
        return false;
      }
      (*packed)[i] = std::move(p).value();
      io->inputs.push_back(&(*packed)[i]);
    } else if (in_block > 0 && value.defined()) {
      EXPECT_TRUE(value.shape().rank() >= 3 && value.shape()[1] % in_block == 0) << "input " << i;
      (*blocked)[i] = Reblock(value, in_block, /*to_blocked=*/true);
      io->inputs.push_back(&(*blocked)[i]);
    } else {
      io->inputs.push_back(value.defined() ? &value : nullptr);
    }
  }
  return true;
}

// `pack` refuses `value` (InvalidArgument) with each of `bads` put at its first and at its last
// element in turn; `value` is left as it was. `what` names the packing path in failures.
inline void ExpectRefusesNonFinite(Tensor* value, std::initializer_list<float> bads,
                                   const std::string& what,
                                   const std::function<StatusOr<Tensor>(const Tensor&)>& pack) {
  for (int64_t at : {int64_t{0}, value->NumElements() - 1}) {
    for (float bad : bads) {
      float& x = value->mutable_data_as<float>()[at];
      const float keep = x;
      x = bad;
      auto refused = pack(*value);
      EXPECT_TRUE(!refused.ok() && refused.status().code() == StatusCode::kInvalidArgument)
          << what << " packing accepts " << bad << " at " << at;
      x = keep;
    }
  }
}

// The packing contracts of weight input `i` of `tactic` (`packed`: PackWeight's result): the
// type a loaded engine checks its slot against, and each fused packing path the tactic claims
// (kept layout, scaled rows, finiteness check, transposed source) against the plain one.
inline void CheckPacking(const backend::Tactic& tactic, const LayerCase& c,
                         const backend::LayerDesc& desc, size_t i, const Tensor& packed) {
  // What a loaded engine checks its slots against, computed without packing.
  auto type = tactic.PackedType(i, desc.inputs[i]);
  EXPECT_TRUE(type.ok() && type->dtype == packed.dtype() && type->shape == packed.shape())
      << "input " << i << ": PackedType says "
      << (type.ok() ? std::string(DataTypeName(type->dtype)) + type->shape.ToString()
                    : type.status().ToString())
      << ", PackWeight gives " << DataTypeName(packed.dtype()) << packed.shape().ToString();
  // A tactic claiming to keep the layout must pack to the very bytes it was given (refit
  // then skips the copy).
  if (tactic.KeepsWeightLayout(i)) {
    EXPECT_EQ(packed.dtype(), c.inputs[i].dtype()) << "input " << i;
    EXPECT_EQ(packed.shape(), c.inputs[i].shape()) << "input " << i;
    EXPECT_TRUE(packed.nbytes() == c.inputs[i].nbytes() &&
                std::memcmp(packed.data(), c.inputs[i].data(), packed.nbytes()) == 0)
        << "input " << i << " claims to keep its layout but is repacked";
  }
  // Packing scaled rows in one pass must give the bytes of scaling first, then packing.
  if (tactic.PacksScaledRows(i) && c.inputs[i].shape().rank() > 0) {
    const Tensor& v = c.inputs[i];
    const int64_t rows = v.shape()[0], per_row = v.NumElements() / std::max<int64_t>(rows, 1);
    std::vector<float> scale(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) scale[size_t(r)] = 0.5f + 0.25f * float(r % 7);
    Tensor scaled = v.Clone();
    float* sp = scaled.mutable_data_as<float>();
    for (int64_t e = 0; e < v.NumElements(); ++e) sp[e] *= scale[size_t(e / per_row)];
    auto fused = tactic.PackWeightScaledRows(i, v, scale.data());
    auto two_pass = tactic.PackWeight(i, scaled);
    EXPECT_TRUE(fused.ok() && two_pass.ok());
    if (fused.ok() && two_pass.ok()) {
      EXPECT_TRUE(fused->shape() == two_pass->shape() &&
                  std::memcmp(fused->data(), two_pass->data(), fused->nbytes()) == 0)
          << "input " << i << ": scaled-rows packing differs from scale-then-pack";
    }
  }
  // Packing with the finiteness check gives PackWeight's bytes, and refuses NaN and infinity.
  if (tactic.PacksChecked(i)) {
    auto checked = tactic.PackWeightChecked(i, c.inputs[i]);
    EXPECT_TRUE(checked.ok() && checked->shape() == packed.shape() &&
                std::memcmp(checked->data(), packed.data(), checked->nbytes()) == 0)
        << "input " << i << ": checked packing differs from PackWeight";
    Tensor bad_value = c.inputs[i].Clone();
    ExpectRefusesNonFinite(&bad_value, {NAN, -INFINITY}, "input " + std::to_string(i) + ": checked",
                           [&](const Tensor& v) { return tactic.PackWeightChecked(i, v); });
  }
  // Packing the transpose of a source must give the bytes of transposing, then packing.
  if (tactic.PacksTransposed(i) && c.inputs[i].shape().rank() == 2) {
    const Tensor& v = c.inputs[i];
    const int64_t rows = v.shape()[0], cols = v.shape()[1];
    Tensor source = std::move(Tensor::Create(v.dtype(), Shape({cols, rows}))).value();
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t col = 0; col < cols; ++col) {
        source.mutable_data_as<float>()[col * rows + r] = v.data_as<float>()[r * cols + col];
      }
    }
    auto fused = tactic.PackWeightTransposed(i, source);
    EXPECT_TRUE(fused.ok()) << fused.status().ToString();
    if (fused.ok()) {
      EXPECT_TRUE(fused->shape() == packed.shape() &&
                  std::memcmp(fused->data(), packed.data(), fused->nbytes()) == 0)
          << "input " << i << ": transposed packing differs from transpose-then-pack";
    }
    EXPECT_FALSE(tactic.PackWeightTransposed(i, v).ok() && rows != cols)
        << "input " << i << ": a source of the wrong shape is packed";
    // A non-finite value is refused (refit relies on it instead of scanning the source).
    ExpectRefusesNonFinite(&source, {NAN, INFINITY}, "input " + std::to_string(i) + ": transposed",
                           [&](const Tensor& v) { return tactic.PackWeightTransposed(i, v); });
  }
}

// Runs every CPU tactic for `c`; returns how many tactics ran. `min_tactics` guards against a
// case silently matching no tactic at all. `names`, when given, receives the tactics' names.
// `tolerance_for(name)` is the tolerance of the tactic `name` (for tactics whose documented
// rounding differs from the rest's, like conv_winograd's F(4x4, 3x3)).
inline int CheckAllTactics(const LayerCase& c,
                           const std::function<double(const std::string&)>& tolerance_for,
                           int min_tactics = 1, std::vector<std::string>* names = nullptr) {
  std::vector<Tensor> expected;
  if (!ReferenceOutputs(c, &expected)) return 0;
  backend::LayerDesc desc = DescOf(c, {});
  for (const Tensor& t : expected) desc.outputs.push_back({t.dtype(), t.shape(), false});

  std::unique_ptr<backend::Backend> cpu = CreateCpuBackend();
  auto tactics = cpu->Tactics(desc);
  EXPECT_GE(int(tactics.size()), min_tactics) << desc.Label() << ": too few CPU tactics";
  for (const auto& tactic : tactics) {
    SCOPED_TRACE(desc.Label() + " tactic " + tactic->name());
    if (names != nullptr) names->push_back(tactic->name());
    const double tolerance = tolerance_for(tactic->name());
    // Loading an engine finds the tactic again by name (listing only its family).
    auto found = cpu->FindTactic(desc, tactic->name());
    EXPECT_TRUE(found.ok() && (*found)->name() == tactic->name())
        << (found.ok() ? (*found)->name() : found.status().ToString());
    // A channel-blocked input is handed over blocked; a blocked output is unblocked before the
    // comparison (below).
    const int out_block = tactic->OutputBlock();
    EXPECT_EQ(tactic->InputBlockAt(0), tactic->InputBlock());
    EXPECT_TRUE(out_block == 0 ||
                (expected[0].shape().rank() >= 3 && expected[0].shape()[1] % out_block == 0));
    std::vector<Tensor> packed, blocked;
    backend::KernelIo io;
    if (!TacticInputs(*tactic, c, desc, &packed, &blocked, &io)) return 0;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (desc.is_weight(i) && c.inputs[i].defined()) CheckPacking(*tactic, c, desc, i, packed[i]);
    }
    auto kernel = tactic->Instantiate();
    if (!kernel.ok()) {
      ADD_FAILURE() << kernel.status().ToString();
      return 0;
    }
    const size_t ws_bytes = (*kernel)->workspace_bytes();
    AlignedBuffer ws_owner(ws_bytes + 64);
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      std::vector<Tensor> outs;
      io.outputs.clear();
      for (const Tensor& e : expected) {
        outs.push_back(std::move(Tensor::Create(e.dtype(), e.shape())).value());
        // Poison the outputs: a kernel that leaves an element unwritten must fail.
        if (e.dtype() == DataType::kF32) {
          std::fill_n(outs.back().mutable_data_as<float>(), e.NumElements(), 1e30f);
        }
      }
      for (Tensor& o : outs) io.outputs.push_back(&o);
      // Poison the workspace too (NaN bytes): a kernel must not read scratch that an earlier run
      // left behind.
      std::fill_n(ws_owner.data(), ws_bytes + 64, char(0xff));
      io.workspace = ws_owner.data();
      io.pool = &pool;
      Status run = (*kernel)->Run(io);
      if (!run.ok()) {
        ADD_FAILURE() << run.ToString() << " with " << threads << " threads";
        return 0;
      }
      if (out_block > 0) outs[0] = Reblock(outs[0], out_block, /*to_blocked=*/false);
      for (size_t o = 0; o < expected.size(); ++o) {
        EXPECT_EQ(outs[o].shape(), expected[o].shape());
        if (outs[o].shape() != expected[o].shape()) return 0;
        if (expected[o].dtype() == DataType::kF32) {
          EXPECT_LE(RelError(outs[o], expected[o]), tolerance)
              << "output " << o << " with " << threads << " threads";
        }
      }
    }
    // A kernel that claims output 0 may be input 0's bytes must also run with them shared (as a
    // built engine runs it) and leave the expected bytes there.
    if (tactic->AliasesInput()) {
      EXPECT_FALSE(io.inputs.empty() || io.inputs[0] == nullptr || expected.empty());
      if (io.inputs.empty() || io.inputs[0] == nullptr || expected.empty()) return 0;
      Tensor shared = io.inputs[0]->Clone();
      Tensor out =
          Tensor::Wrap(expected[0].dtype(), expected[0].shape(), shared.mutable_data(), nullptr);
      backend::KernelIo aliased = io;
      aliased.inputs[0] = &shared;
      aliased.outputs = {&out};
      Status run = (*kernel)->Run(aliased);
      EXPECT_TRUE(run.ok()) << run.ToString();
      EXPECT_EQ(std::memcmp(out.data(), expected[0].data(), expected[0].nbytes()), 0)
          << "aliased output";
    }
  }
  return int(tactics.size());
}

// The same with one tolerance for every tactic.
inline int CheckAllTactics(const LayerCase& c, double tolerance = 1e-5, int min_tactics = 1,
                           std::vector<std::string>* names = nullptr) {
  return CheckAllTactics(
      c, [tolerance](const std::string&) { return tolerance; }, min_tactics, names);
}

}  // namespace refit::cpu::testing
