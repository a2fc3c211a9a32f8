// Internal to the Conv tactic conformance tests (tactic_conv_test.cc, tactic_conv_blocked_test.cc,
// tactic_conv_depthwise_test.cc): a Conv layer case from the fields that differ from ConvSpec's
// defaults, and Check, which runs every CPU tactic on it against the reference kernel.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/tactic_test_util.h"
#include "ir/fused_ops.h"

namespace refit::cpu::conv_testing {

using testing::CheckAllTactics;
using testing::LayerCase;
using testing::RandomTensor;

struct ConvSpec {
  int64_t n = 1, c = 4, h = 7, w = 5, m = 6, kh = 3, kw = 3;
  int64_t group = 1;
  std::vector<int64_t> strides = {1, 1}, dilations = {1, 1}, pads = {1, 1, 1, 1};
  std::string auto_pad;  // "" leaves the attribute out
  bool bias = true;
  ir::FusedActivation act;
  // A 1-D Conv (NCW): h and kh are not used; strides, dilations and pads take their W entries.
  bool one_d = false;
  // A fused residual (ir/fused_ops.h): input 3, an activation of the output's shape (explicit pads
  // only), added before `act`.
  bool residual = false;
};

inline ir::Attribute Ints(std::vector<int64_t> v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

inline LayerCase MakeConv(const ConvSpec& s, uint32_t seed = 1) {
  LayerCase c;
  c.node.name = "conv";
  c.node.op_type = "Conv";
  c.node.inputs = {"x", "w"};
  c.node.outputs = {"y"};
  ir::Attribute group;
  group.kind = ir::Attribute::Kind::kInt;
  group.i = s.group;
  c.node.attrs.Set("group", group);
  auto w_only = [&](const std::vector<int64_t>& v) {
    return s.one_d ? std::vector<int64_t>{v[1]} : v;
  };
  c.node.attrs.Set("strides", Ints(w_only(s.strides)));
  c.node.attrs.Set("dilations", Ints(w_only(s.dilations)));
  c.node.attrs.Set("kernel_shape", Ints(w_only({s.kh, s.kw})));
  if (s.auto_pad.empty()) {
    c.node.attrs.Set("pads", Ints(s.one_d ? std::vector<int64_t>{s.pads[1], s.pads[3]} : s.pads));
  } else {
    ir::Attribute mode;
    mode.kind = ir::Attribute::Kind::kString;
    mode.s = s.auto_pad;
    c.node.attrs.Set("auto_pad", mode);
  }
  if (s.act.kind != ir::ActivationKind::kNone) ir::SetFusedActivation(c.node, s.act);
  c.inputs.push_back(
      RandomTensor(s.one_d ? Shape{s.n, s.c, s.w} : Shape{s.n, s.c, s.h, s.w}, seed));
  c.inputs.push_back(RandomTensor(
      s.one_d ? Shape{s.m, s.c / s.group, s.kw} : Shape{s.m, s.c / s.group, s.kh, s.kw}, seed + 1));
  c.weight = {false, true};
  if (s.bias) {
    c.node.inputs.push_back("b");
    c.inputs.push_back(RandomTensor(Shape{s.m}, seed + 2));
    c.weight.push_back(true);
  }
  if (s.residual) {
    if (!s.bias) {
      c.node.inputs.push_back("");
      c.inputs.emplace_back();
      c.weight.push_back(false);
    }
    const auto out = [](int64_t in, int64_t k, int64_t st, int64_t d, int64_t p0, int64_t p1) {
      return (in + p0 + p1 - ((k - 1) * d + 1)) / st + 1;
    };
    const int64_t ow = out(s.w, s.kw, s.strides[1], s.dilations[1], s.pads[1], s.pads[3]);
    const int64_t oh = out(s.h, s.kh, s.strides[0], s.dilations[0], s.pads[0], s.pads[2]);
    c.node.inputs.push_back("z");
    c.inputs.push_back(
        RandomTensor(s.one_d ? Shape{s.n, s.m, ow} : Shape{s.n, s.m, oh, ow}, seed + 3));
    c.weight.push_back(false);
    ir::SetFusedResidual(c.node);
  }
  return c;
}

inline bool HasAvx2() {
  const CpuFeatures& f = DetectCpuFeatures();
  return f.avx && f.avx2 && f.fma;
}

// conv_dnnl and conv_openblas everywhere; conv_gemm (4 kernels) and conv_gemm_t (kConvGemmT
// kernels) or the AVX2 depthwise kernel where the CPU has AVX2; the scalar depthwise kernel
// everywhere.
inline constexpr int kConvGemmT = 2;
// conv_winograd (at least one kernel) for 3x3, stride-1, undilated, ungrouped layers with AVX2.
inline bool Winograd(const ConvSpec& s) {
  return !s.one_d && s.group == 1 && s.kh == 3 && s.kw == 3 && s.strides[0] == 1 &&
         s.strides[1] == 1 && s.dilations[0] == 1 && s.dilations[1] == 1;
}
inline int MinTactics(const ConvSpec& s) {
  const bool depthwise = s.group == s.c && s.group == s.m;
  if (depthwise) return HasAvx2() ? 3 : 2;
  return HasAvx2() ? 6 + kConvGemmT + (Winograd(s) ? 1 : 0) : 2;
}

// conv_winograd's F(4x4, 3x3) transforms scale by up to 8 and 1/24: its documented rounding error
// is several times a direct convolution's (conv_winograd.cc).
inline double Tolerance(const std::string& tactic) {
  return tactic.rfind("conv_winograd/f4_", 0) == 0 ? 5e-5 : 1e-5;
}

inline void Check(const ConvSpec& s, uint32_t seed = 1) {
  CheckAllTactics(MakeConv(s, seed), Tolerance, MinTactics(s));
}

// Check, returning the names of the tactics it ran (seeded inputs).
inline std::vector<std::string> CheckAndList(const ConvSpec& s, uint32_t seed) {
  std::vector<std::string> names;
  CheckAllTactics(MakeConv(s, seed), Tolerance, MinTactics(s), &names);
  return names;
}

inline bool Listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace refit::cpu::conv_testing
