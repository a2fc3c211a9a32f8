// Conformance of every CPU pooling tactic against the reference kernels.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/cpu/activation_block.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/tactic_test_util.h"

// Cases are designated initializers that name only what differs from the defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace refit::cpu::testing {
namespace {

struct PoolCase {
  std::string op = "MaxPool";
  Shape x;
  std::vector<int64_t> kernel = {3, 3}, strides = {1, 1}, pads = {0, 0, 0, 0}, dilations;
  int64_t ceil_mode = 0, count_include_pad = 0;
  std::string auto_pad;
};

void SetInts(ir::Node& n, const std::string& name, const std::vector<int64_t>& v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInts;
  a.ints = v;
  n.attrs.Set(name, a);
}
void SetInt(ir::Node& n, const std::string& name, int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  n.attrs.Set(name, a);
}

// Both tactics (AVX2 where the CPU has it, and the generic one) must take every case here, and
// where the channels are a multiple of the machine's block the channel-blocked ones: blocked to
// blocked and blocked to plain (one for a global pool, whose output is alike in both).
int ExpectedTactics(const std::string& op, const Shape& x) {
  const CpuFeatures& f = DetectCpuFeatures();
  if (!(f.avx && f.avx2 && f.fma)) return 1;
  const int block = ActivationBlock();
  if (block == 0 || x[1] % block != 0) return 2;
  return op.rfind("Global", 0) == 0 ? 3 : 4;
}

void CheckPool(const PoolCase& p, uint32_t seed = 3) {
  LayerCase c;
  c.node.name = "pool";
  c.node.op_type = p.op;
  c.node.inputs = {"x"};
  c.node.outputs = {"y"};
  if (p.op == "MaxPool" || p.op == "AveragePool") {
    SetInts(c.node, "kernel_shape", p.kernel);
    SetInts(c.node, "strides", p.strides);
    if (p.auto_pad.empty()) {
      SetInts(c.node, "pads", p.pads);
    } else {
      ir::Attribute a;
      a.kind = ir::Attribute::Kind::kString;
      a.s = p.auto_pad;
      c.node.attrs.Set("auto_pad", a);
    }
    if (!p.dilations.empty()) SetInts(c.node, "dilations", p.dilations);
    SetInt(c.node, "ceil_mode", p.ceil_mode);
    if (p.op == "AveragePool") SetInt(c.node, "count_include_pad", p.count_include_pad);
  }
  c.inputs.push_back(RandomTensor(p.x, seed));
  c.weight = {false};
  SCOPED_TRACE(p.op + " x=" + p.x.ToString());
  EXPECT_EQ(CheckAllTactics(c, 1e-6, ExpectedTactics(p.op, p.x)), ExpectedTactics(p.op, p.x));
}

// Channel-blocked activations (NCHW16c with AVX-512, 8c with AVX2): windows clipped on every side,
// strides, dilation, ceil mode, averages with and without the padding, global pools, batch 2, and
// a block count that leaves the pool's output rows split unevenly over the threads.
TEST(PoolTactics, ChannelBlocked) {
  const int b = ActivationBlock();
  if (b == 0) GTEST_SKIP() << "no blocked layouts without AVX2";
  CheckPool({.x = {1, b, 28, 28}, .strides = {2, 2}, .pads = {1, 1, 1, 1}});
  CheckPool({.x = {2, 4 * b, 112, 112}, .strides = {2, 2}, .pads = {1, 1, 1, 1}});  // resnet stem
  CheckPool({.x = {2, 2 * b, 9, 13}, .kernel = {2, 3}, .strides = {2, 1}, .ceil_mode = 1});
  CheckPool(
      {.x = {1, 3 * b, 11, 10}, .strides = {1, 2}, .pads = {0, 2, 1, 0}, .dilations = {2, 1}});
  for (int64_t include_pad : {0, 1}) {
    CheckPool({.op = "AveragePool",
               .x = {1, b, 10, 9},
               .strides = {2, 2},
               .pads = {1, 1, 1, 1},
               .ceil_mode = 1,
               .count_include_pad = include_pad});
  }
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    CheckPool({.op = op, .x = {2, 2 * b, 7, 7}});
    CheckPool({.op = op, .x = {1, b, 1, 1}});
    CheckPool({.op = op, .x = {1, b, 4, 5}});
  }
}

TEST(PoolTactics, MaxPool) {
  CheckPool({.x = {1, 4, 112, 112}, .strides = {2, 2}, .pads = {1, 1, 1, 1}});  // resnet stem
  CheckPool({.x = {2, 3, 9, 31}, .kernel = {2, 2}, .strides = {2, 2}});
  CheckPool({.x = {1, 2, 10, 29}, .kernel = {3, 2}, .strides = {1, 1}, .pads = {0, 1, 2, 0}});
  CheckPool({.x = {1, 2, 11, 37}, .strides = {3, 3}, .pads = {1, 1, 1, 1}});
  CheckPool({.x = {1, 2, 12, 33}, .strides = {2, 2}, .ceil_mode = 1});
  CheckPool({.x = {1, 2, 12, 33}, .strides = {2, 1}, .pads = {1, 2, 1, 2}, .dilations = {2, 3}});
  CheckPool({.x = {1, 3, 13, 40}, .strides = {2, 2}, .auto_pad = "SAME_UPPER"});
  CheckPool({.x = {1, 3, 13, 40}, .strides = {2, 2}, .auto_pad = "SAME_LOWER"});
  CheckPool({.x = {1, 1, 3, 3}, .strides = {2, 2}});  // 1x1 output
  // 2x2 / 2 on widths whose last block of eight windows ends at the row's end, or past it.
  CheckPool({.x = {2, 3, 8, 32}, .kernel = {2, 2}, .strides = {2, 2}});
  CheckPool({.x = {1, 2, 6, 50}, .kernel = {2, 2}, .strides = {2, 2}, .ceil_mode = 1});
  CheckPool({.x = {1, 2, 5, 48}, .kernel = {2, 2}, .strides = {2, 2}, .pads = {0, 1, 1, 1}});
}

TEST(PoolTactics, AveragePool) {
  for (int64_t include_pad : {0, 1}) {
    SCOPED_TRACE("count_include_pad=" + std::to_string(include_pad));
    const std::string op = "AveragePool";
    CheckPool(
        {.op = op, .x = {1, 4, 35, 35}, .pads = {1, 1, 1, 1}, .count_include_pad = include_pad});
    CheckPool({.op = op,
               .x = {2, 3, 17, 46},
               .strides = {2, 2},
               .pads = {1, 1, 1, 1},
               .ceil_mode = 1,
               .count_include_pad = include_pad});
    CheckPool({.op = op,
               .x = {1, 2, 8, 8},
               .kernel = {2, 2},
               .strides = {2, 2},
               .count_include_pad = include_pad});
    CheckPool({.op = op,
               .x = {1, 2, 8, 48},
               .kernel = {2, 2},
               .strides = {2, 2},
               .count_include_pad = include_pad});
    CheckPool({.op = op,
               .x = {1, 2, 9, 27},
               .kernel = {3, 5},
               .strides = {1, 2},
               .pads = {2, 0, 0, 4},
               .count_include_pad = include_pad});
    CheckPool({.op = op, .x = {1, 2, 7, 7}, .kernel = {7, 7}, .count_include_pad = include_pad});
  }
}

TEST(PoolTactics, GlobalPools) {
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    CheckPool({.op = op, .x = {2, 64, 7, 7}});
    CheckPool({.op = op, .x = {1, 3, 1, 1}});
    CheckPool({.op = op, .x = {1, 5, 13, 17}});
  }
}

TEST(PoolTactics, DeclinesIndicesAndOtherRanks) {
  LayerCase c;
  c.node.name = "pool";
  c.node.op_type = "MaxPool";
  c.node.inputs = {"x"};
  c.node.outputs = {"y", "indices"};
  SetInts(c.node, "kernel_shape", {2, 2});
  c.inputs.push_back(RandomTensor({1, 2, 4, 4}, 1));
  EXPECT_EQ(CheckAllTactics(c, 1e-6, 0), 0);
  c.node.outputs = {"y"};
  SetInts(c.node, "kernel_shape", {2});
  c.inputs[0] = RandomTensor({1, 2, 9}, 1);  // 1-D pooling: the reference's
  EXPECT_EQ(CheckAllTactics(c, 1e-6, 0), 0);
}

}  // namespace
}  // namespace refit::cpu::testing
