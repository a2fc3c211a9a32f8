// Conformance of the element-wise tactics: FusedElementwise programs over every broadcast pattern
// the layout code distinguishes, and each supported standard operator as a one-node layer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/activation_block.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/eltwise_kernel.h"
#include "backend/cpu/tactic_test_util.h"
#include "ir/fused_elementwise.h"
#include "ir/fused_ops.h"

namespace refit::cpu {
namespace {

using testing::CheckAllTactics;
using testing::LayerCase;
using testing::RandomTensor;

// The AVX2 runner where this CPU has it, and the baseline one.
const int kTactics = DetectCpuFeatures().avx2 && DetectCpuFeatures().fma ? 2 : 1;

Tensor Scaled(Shape shape, uint32_t seed, float lo, float hi) {
  Tensor t = RandomTensor(std::move(shape), seed);
  float* p = t.mutable_data_as<float>();
  for (int64_t i = 0; i < t.NumElements(); ++i) p[i] = lo + (p[i] + 1.f) * 0.5f * (hi - lo);
  return t;
}

ir::Node Node(const std::string& op, size_t inputs, const std::string& domain = "") {
  ir::Node n;
  n.op_type = op;
  n.domain = domain;
  n.name = "n_" + op;
  for (size_t i = 0; i < inputs; ++i) n.inputs.push_back("in" + std::to_string(i));
  n.outputs = {"out"};
  return n;
}

// gelu(x + b) * c - max(x, 0.25) / d, with b, c, d broadcast.
ir::Node GeluProgramNode() {
  using ir::EwOp;
  ir::EwProgram p;
  p.num_inputs = 4;
  p.constants = {float(M_SQRT1_2), 1.f, 0.5f, 0.25f};
  const int32_t r = p.ResultId(0);
  p.code = {{EwOp::kAdd, 0, 1, -1},        {EwOp::kMul, r, 4, -1},     {EwOp::kErf, r + 1, -1, -1},
            {EwOp::kAdd, r + 2, 5, -1},    {EwOp::kMul, r, r + 3, -1}, {EwOp::kMul, r + 4, 6, -1},
            {EwOp::kMul, r + 5, 2, -1},    {EwOp::kMax, 0, 7, -1},     {EwOp::kDiv, r + 7, 3, -1},
            {EwOp::kSub, r + 6, r + 8, -1}};
  ir::Node n = Node(ir::kFusedElementwiseOp, 4, ir::kRefitDomain);
  ir::SetEwProgram(n, p);
  return n;
}

struct Pattern {
  const char* name;
  std::vector<int64_t> x, b, c, d;
};

TEST(TacticEltwiseTest, FusedProgramOverBroadcastPatterns) {
  const std::vector<Pattern> patterns = {
      {"same", {2, 3, 5, 7}, {2, 3, 5, 7}, {2, 3, 5, 7}, {2, 3, 5, 7}},
      {"scalar", {3, 37}, {}, {1}, {1, 1}},
      {"per_channel", {2, 5, 9, 11}, {1, 5, 1, 1}, {5, 1, 1}, {1, 1, 1, 1}},
      {"trailing", {4, 6, 13}, {13}, {1, 13}, {6, 13}},
      {"general", {3, 1, 5}, {1, 4, 1}, {4, 5}, {3, 4, 1}},
      {"large_threads", {3, 7, 41, 43}, {1, 7, 1, 1}, {43}, {}},
      {"rank0", {}, {}, {}, {}},
      {"odd_block", {1, 1, 1000}, {1000}, {1}, {1, 1, 1}},
  };
  for (const Pattern& pt : patterns) {
    SCOPED_TRACE(pt.name);
    LayerCase c;
    c.node = GeluProgramNode();
    c.inputs.push_back(Scaled(Shape(pt.x), 1, -3.f, 3.f));
    c.inputs.push_back(RandomTensor(Shape(pt.b), 2));
    c.inputs.push_back(RandomTensor(Shape(pt.c), 3));
    c.inputs.push_back(Scaled(Shape(pt.d), 4, 0.5f, 2.f));
    c.weight = {false, true, true, false};
    EXPECT_GE(CheckAllTactics(c, 2e-6, kTactics), kTactics);
  }
}

struct OpCase {
  const char* op;
  size_t inputs;
  float lo, hi;  // input 0's range
};

TEST(TacticEltwiseTest, EveryStandardOperator) {
  const std::vector<OpCase> ops = {
      {"Add", 2, -1, 1},          {"Sub", 2, -1, 1},       {"Mul", 2, -1, 1},
      {"Div", 2, -1, 1},          {"Max", 2, -1, 1},       {"Min", 2, -1, 1},
      {"Relu", 1, -1, 1},         {"Sigmoid", 1, -20, 20}, {"Tanh", 1, -9, 9},
      {"Erf", 1, -5, 5},          {"Exp", 1, -80, 80},     {"Log", 1, 0.01f, 50},
      {"Sqrt", 1, 0, 9},          {"Neg", 1, -1, 1},       {"Abs", 1, -1, 1},
      {"Reciprocal", 1, 0.5f, 3}, {"Floor", 1, -5, 5},     {"Ceil", 1, -5, 5},
      {"HardSwish", 1, -5, 5},    {"LeakyRelu", 1, -1, 1}, {"HardSigmoid", 1, -4, 4},
      {"Softplus", 1, -10, 10},   {"Pow", 2, 0.1f, 3},     {"Elu", 1, -6, 3},
      {"Selu", 1, -6, 3},         {"Celu", 1, -6, 3},      {"ThresholdedRelu", 1, -2, 3},
      {"Softsign", 1, -9, 9},     {"PRelu", 2, -3, 3},     {"Sin", 1, -7, 7},
      {"Cos", 1, -7, 7},          {"Sign", 1, -2, 2},      {"Round", 1, -4, 4},
  };
  // Small and odd, plus one large enough to be split across threads and blocks.
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{3, 5}, {2, 3, 91, 67}}) {
    for (const OpCase& o : ops) {
      SCOPED_TRACE(o.op);
      LayerCase c;
      c.node = Node(o.op, o.inputs);
      c.inputs.push_back(Scaled(Shape(shape), 7, o.lo, o.hi));
      if (o.inputs == 2) c.inputs.push_back(Scaled(Shape({shape.back()}), 8, 0.5f, 2.f));
      EXPECT_GE(CheckAllTactics(c, 2e-6, kTactics), kTactics);
    }
  }
}

TEST(TacticEltwiseTest, AttributesAndBroadcastSlopes) {
  // Non-default attributes, read into the program's constants.
  for (const char* op : {"Elu", "ThresholdedRelu", "Celu", "Selu"}) {
    SCOPED_TRACE(op);
    LayerCase c;
    c.node = Node(op, 1);
    ir::Attribute a;
    a.kind = ir::Attribute::Kind::kFloat;
    a.f = 0.7f;
    c.node.attrs.Set("alpha", a);
    if (std::string(op) == "Selu") {
      a.f = 1.3f;
      c.node.attrs.Set("gamma", a);
    }
    c.inputs.push_back(Scaled(Shape({4, 37}), 5, -3, 3));
    EXPECT_GE(CheckAllTactics(c, 2e-6, kTactics), kTactics);
  }
  // PRelu's slope per channel ([C, 1, 1] against NCHW), and a single slope.
  for (const Shape& slope : {Shape({3, 1, 1}), Shape({1})}) {
    SCOPED_TRACE(slope.ToString());
    LayerCase c;
    c.node = Node("PRelu", 2);
    c.inputs.push_back(Scaled(Shape({2, 3, 9, 11}), 6, -2, 2));
    c.inputs.push_back(Scaled(slope, 9, 0.1f, 0.5f));
    EXPECT_GE(CheckAllTactics(c, 2e-6, kTactics), kTactics);
  }
}

TEST(TacticEltwiseTest, RoundHalvesToEvenAndSignOfZeros) {
  // No infinity: RelError measures against the largest reference value.
  const std::vector<float> v = {-2.5f, -1.5f,  -0.5f, 0.5f, 1.5f, 2.5f,        3.5f, -0.0f,
                                0.0f,  1e-30f, -7.f,  NAN,  4.5f, 0.49999997f, -3.5f};
  for (const char* op : {"Round", "Sign"}) {
    SCOPED_TRACE(op);
    LayerCase c;
    c.node = Node(op, 1);
    std::vector<float> many;  // long enough for the vector code, not only its scalar tail
    for (int r = 0; r < 8; ++r) many.insert(many.end(), v.begin(), v.end());
    c.inputs.push_back(Tensor::FromVector<float>(Shape({int64_t(many.size())}), many));
    EXPECT_GE(CheckAllTactics(c, 0, kTactics), kTactics);
  }
}

TEST(TacticEltwiseTest, PowBySquareAndClipBounds) {
  LayerCase pow;
  pow.node = Node("Pow", 2);
  pow.inputs.push_back(RandomTensor(Shape{4, 33}, 1));
  pow.inputs.push_back(Tensor::FromVector<float>(Shape(std::vector<int64_t>{}), {2.f}));
  EXPECT_GE(CheckAllTactics(pow, 0, kTactics), kTactics);  // x * x is exactly what pow rounds to
  LayerCase clip;
  clip.node = Node("Clip", 3);
  clip.node.inputs[1] = "";  // min absent, max present
  clip.inputs.push_back(RandomTensor(Shape{5, 17}, 2));
  clip.inputs.push_back(Tensor());
  clip.inputs.push_back(Tensor::FromVector<float>(Shape(std::vector<int64_t>{}), {0.3f}));
  EXPECT_GE(CheckAllTactics(clip, 0, kTactics), kTactics);
  LayerCase old;  // opset 6: attribute bounds
  old.opset = 6;
  old.node = Node("Clip", 1);
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloat;
  a.f = -0.2f;
  old.node.attrs.Set("min", a);
  old.inputs.push_back(RandomTensor(Shape{9}, 3));
  EXPECT_GE(CheckAllTactics(old, 0, kTactics), kTactics);
}

TEST(TacticEltwiseTest, NanAndInfinityFollowTheReference) {
  LayerCase c;
  c.node = Node("Max", 2);
  c.inputs.push_back(Tensor::FromVector<float>(Shape{6}, {NAN, 1.f, -2.f, INFINITY, 0.f, 3.f}));
  c.inputs.push_back(Tensor::FromVector<float>(Shape{6}, {1.f, NAN, -3.f, 2.f, -0.f, -INFINITY}));
  EXPECT_GE(CheckAllTactics(c, 0, kTactics), kTactics);
  for (const char* op : {"Exp", "Sigmoid", "Tanh", "Erf", "Relu"}) {
    SCOPED_TRACE(op);
    LayerCase u;
    u.node = Node(op, 1);
    u.inputs.push_back(Tensor::FromVector<float>(Shape{5}, {NAN, 100.f, -200.f, 0.f, 1e-3f}));
    EXPECT_GE(CheckAllTactics(u, 1e-6, kTactics), kTactics);
  }
}

// The AVX2 runner's whole-program fast paths (GELU in PyTorch's tanh and erf forms, with and
// without the bias add before it) give the bits of the instruction-by-instruction loop, which runs
// the same program with one product's operands swapped (IEEE products commute exactly). Inputs
// include NaN, infinities, -0, tiny and huge values; blocks end mid-vector.
TEST(TacticEltwiseTest, GeluFastPathsGiveTheInstructionLoopsBits) {
  if (kTactics < 2) GTEST_SKIP() << "no AVX2";
  using internal::EwBlock;
  using internal::EwCode;
  using internal::EwOperand;
  const int32_t kAdd = 32, kMul = 34, kDiv = 35, kTanhOp = 3, kErfOp = 4;
  struct Program {
    const char* name;
    int expected_path;
    int num_inputs;  // value ids [0, num_inputs) are the block's inputs, then the constants
    std::vector<float> constants;
    std::vector<EwCode> code;
  };
  // Ids: inputs 0 (bias, scalar or vector) and 1 (x); constants from 2; results after them.
  const std::vector<Program> programs = {
      {"tanh, bias",
       1,
       2,
       {0.044715f, 0.7978845608f, 1.f, 0.5f},
       {{kAdd, 0, 1, -1},
        {kMul, 6, 6, -1},
        {kMul, 6, 7, -1},
        {kMul, 2, 8, -1},
        {kAdd, 6, 9, -1},
        {kMul, 3, 10, -1},
        {kTanhOp, 11, -1, -1},
        {kAdd, 4, 12, -1},
        {kMul, 6, 13, -1},
        {kMul, 5, 14, -1}}},
      {"tanh",
       1,
       2,
       {0.044715f, 0.7978845608f, 1.f, 0.5f},
       {{kMul, 1, 1, -1},
        {kMul, 1, 6, -1},
        {kMul, 2, 7, -1},
        {kAdd, 1, 8, -1},
        {kMul, 3, 9, -1},
        {kTanhOp, 10, -1, -1},
        {kAdd, 4, 11, -1},
        {kMul, 1, 12, -1},
        {kMul, 5, 13, -1}}},
      {"erf, bias",
       2,
       2,
       {1.41421354f, 1.f, 0.5f},
       {{kAdd, 0, 1, -1},
        {kDiv, 5, 2, -1},
        {kErfOp, 6, -1, -1},
        {kAdd, 7, 3, -1},
        {kMul, 5, 8, -1},
        {kMul, 9, 4, -1}}},
      {"erf",
       2,
       2,
       {1.41421354f, 1.f, 0.5f},
       {{kDiv, 1, 2, -1},
        {kErfOp, 5, -1, -1},
        {kAdd, 6, 3, -1},
        {kMul, 1, 7, -1},
        {kMul, 8, 4, -1}}},
  };
  const float specials[] = {NAN,   INFINITY, -INFINITY, -0.f, 0.f,   1e-30f, -3e-4f, 5e-4f,
                            7.99f, 8.5f,     -9.f,      40.f, -40.f, 3e38f,  -3e38f, 1.f};
  for (const Program& prog : programs) {
    SCOPED_TRACE(prog.name);
    for (const int64_t n : {int64_t{16}, int64_t{203}}) {
      for (const bool scalar_bias : {false, true}) {
        std::vector<float> x(static_cast<size_t>(n)), bias(static_cast<size_t>(n));
        Tensor noise = Scaled(Shape({2 * n}), 11, -6.f, 6.f);
        for (int64_t i = 0; i < n; ++i) {
          x[size_t(i)] = i < int64_t(std::size(specials)) ? specials[i] : noise.data_as<float>()[i];
          bias[size_t(i)] = noise.data_as<float>()[n + i];
        }
        auto run = [&](const std::vector<EwCode>& code, int* path) {
          std::vector<EwOperand> values(internal::kEwMaxValues);
          values[0] = EwOperand{bias.data(), scalar_bias};
          values[1] = EwOperand{x.data(), false};
          for (size_t k = 0; k < prog.constants.size(); ++k) {
            values[size_t(prog.num_inputs) + k] = EwOperand{&prog.constants[k], true};
          }
          std::vector<float> scratch(code.size() * internal::kEwBlock), out(size_t(n), 7.f);
          EwBlock block{code.data(),
                        int(code.size()),
                        values.data(),
                        prog.num_inputs + int(prog.constants.size()),
                        scratch.data(),
                        out.data(),
                        n,
                        &internal::EwScalarInstr};
          *path = internal::EwFastPathAvx2(block);
          internal::RunEwBlockAvx2(block);
          return out;
        };
        std::vector<EwCode> swapped = prog.code;
        std::swap(swapped.back().a, swapped.back().b);  // the last product, commuted
        int fast_path = 0, loop_path = 0;
        const std::vector<float> fast = run(prog.code, &fast_path);
        const std::vector<float> loop = run(swapped, &loop_path);
        EXPECT_EQ(fast_path, prog.expected_path);
        EXPECT_EQ(loop_path, 0);
        for (int64_t i = 0; i < n; ++i) {
          uint32_t a, b;
          std::memcpy(&a, &fast[size_t(i)], 4);
          std::memcpy(&b, &loop[size_t(i)], 4);
          EXPECT_EQ(a, b) << "element " << i << " x=" << x[size_t(i)] << ": " << fast[size_t(i)]
                          << " vs " << loop[size_t(i)];
        }
      }
    }
  }
}

TEST(TacticEltwiseTest, ChannelBlockedVariantOnlyWhereEveryInputHasTheOutputsShape) {
  const int block = ActivationBlock();
  const bool avx2 = DetectCpuFeatures().avx2 && DetectCpuFeatures().fma;
  const std::string blocked = "eltwise/avx2" + BlockedIoSuffix(block, block);
  const auto has = [](const std::vector<std::string>& names, const std::string& want) {
    return std::find(names.begin(), names.end(), want) != names.end();
  };
  // A residual Add, and a fused program over three same-shape activations, at batch 2 with odd
  // spatial sizes: the blocked variant runs on the blocked bytes and matches the reference.
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{1, 32, 7, 7}, {2, 48, 5, 3}}) {
    SCOPED_TRACE(Shape(shape).ToString());
    LayerCase add;
    add.node = Node("Add", 2);
    add.inputs.push_back(RandomTensor(Shape(shape), 11));
    add.inputs.push_back(RandomTensor(Shape(shape), 12));
    std::vector<std::string> names;
    const int want = kTactics + (block > 0 && avx2 ? 1 : 0);
    EXPECT_EQ(CheckAllTactics(add, 2e-6, want, &names), want);
    EXPECT_EQ(has(names, blocked), block > 0 && avx2);

    LayerCase prog;
    prog.node = GeluProgramNode();
    prog.inputs.push_back(Scaled(Shape(shape), 1, -3.f, 3.f));
    prog.inputs.push_back(RandomTensor(Shape(shape), 2));
    prog.inputs.push_back(RandomTensor(Shape(shape), 3));
    prog.inputs.push_back(Scaled(Shape(shape), 4, 0.5f, 2.f));
    names.clear();
    EXPECT_EQ(CheckAllTactics(prog, 2e-6, want, &names), want);
    EXPECT_EQ(has(names, blocked), block > 0 && avx2);
  }
  // Broadcast operands, a weight operand, or channels the block does not divide: plain only.
  struct Plain {
    const char* name;
    std::vector<int64_t> a, b;
    bool b_weight;
  };
  const std::vector<Plain> plain = {
      {"per_channel", {1, 32, 7, 7}, {1, 32, 1, 1}, false},
      {"weight", {1, 32, 7, 7}, {1, 32, 7, 7}, true},
      {"channels", {1, 36, 7, 7}, {1, 36, 7, 7}, false},
      {"rank3", {32, 7, 7}, {32, 7, 7}, false},
  };
  for (const Plain& p : plain) {
    SCOPED_TRACE(p.name);
    LayerCase c;
    c.node = Node("Add", 2);
    c.inputs.push_back(RandomTensor(Shape(p.a), 5));
    c.inputs.push_back(RandomTensor(Shape(p.b), 6));
    c.weight = {false, p.b_weight};
    std::vector<std::string> names;
    EXPECT_EQ(CheckAllTactics(c, 2e-6, kTactics, &names), kTactics);
    EXPECT_FALSE(has(names, blocked));
  }
}

TEST(TacticEltwiseTest, DeclinesWhatItCannotRun) {
  auto backend = CreateCpuBackend();
  ir::Node n = Node("Add", 2);
  backend::LayerDesc d;
  d.node = &n;
  d.opset = 17;
  d.inputs = {{DataType::kI32, Shape{4}, false}, {DataType::kI32, Shape{4}, false}};
  d.outputs = {{DataType::kI32, Shape{4}, false}};
  EXPECT_TRUE(backend->Tactics(d).empty());
  // A planned output that is not the inputs' broadcast.
  d.inputs = {{DataType::kF32, Shape{4}, false}, {DataType::kF32, Shape{4}, false}};
  d.outputs = {{DataType::kF32, Shape{2, 4}, false}};
  EXPECT_TRUE(backend->Tactics(d).empty());
}

}  // namespace
}  // namespace refit::cpu
