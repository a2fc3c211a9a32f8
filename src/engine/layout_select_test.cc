#include "engine/layout_select.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

namespace refit::engine {
namespace {

// An option with one input's block (or with every input's, `ins`) and output 0's.
LayoutOption Opt(size_t tactic, int in, int out, double us) { return {tactic, {{in}, out}, us}; }
LayoutOption Opts(size_t tactic, std::vector<int> ins, int out, double us) {
  return {tactic, {std::move(ins), out}, us};
}

// A layer reading values `inputs` (-1: always plain) and writing `output` (-1: always plain).
LayoutLayer Layer(std::vector<LayoutOption> options, std::vector<int> inputs = {-1},
                  int output = -1) {
  LayoutLayer l;
  l.options = std::move(options);
  l.inputs = std::move(inputs);
  l.output = output;
  return l;
}

std::vector<size_t> Select(const std::vector<LayoutLayer>& layers) {
  auto chosen = SelectLayouts(layers);
  EXPECT_TRUE(chosen.ok()) << chosen.status().ToString();
  return chosen.ok() ? *chosen : std::vector<size_t>{};
}

// Outside any chain a layer runs its fastest plain tactic, however fast its blocked ones are.
TEST(LayoutSelectTest, LayersOutsideChainsRunTheirFastestPlainTactic) {
  const std::vector<size_t> chosen =
      Select({Layer({Opt(0, 0, 0, 5.0), Opt(1, 0, 16, 1.0), Opt(2, 0, 0, 3.0)}),
              Layer({Opt(0, 16, 0, 1.0), Opt(1, 0, 0, 4.0), Opt(2, 0, 0, 2.0)})});
  EXPECT_EQ(chosen, (std::vector<size_t>{2, 2}));
}

// A chain is chosen as a whole: the blocked edge wins when the pair's sum is smaller, even though
// the producer's blocked tactic is the slower of its two, and loses when the sum is not smaller.
TEST(LayoutSelectTest, AChainMinimisesTheSumOverItsEdges) {
  // plain: 3 + 3 = 6; blocked: 4 + 1 = 5.
  EXPECT_EQ(Select({Layer({Opt(0, 0, 0, 3.0), Opt(1, 0, 16, 4.0)}, {-1}, 0),
                    Layer({Opt(0, 0, 0, 3.0), Opt(1, 16, 0, 1.0)}, {0})}),
            (std::vector<size_t>{1, 1}));
  // plain: 3 + 3 = 6; blocked: 4 + 2.5 = 6.5.
  EXPECT_EQ(Select({Layer({Opt(0, 0, 0, 3.0), Opt(1, 0, 16, 4.0)}, {-1}, 0),
                    Layer({Opt(0, 0, 0, 3.0), Opt(1, 16, 0, 2.5)}, {0})}),
            (std::vector<size_t>{0, 0}));
}

// Three layers: the middle one's choice depends on both edges at once.
TEST(LayoutSelectTest, TheMiddleOfAChainAgreesWithBothNeighbours) {
  const std::vector<LayoutLayer> layers = {
      Layer({Opt(0, 0, 0, 10.0), Opt(1, 0, 16, 9.0)}, {-1}, 0),
      Layer({Opt(0, 0, 0, 6.0), Opt(1, 16, 0, 4.0), Opt(2, 0, 16, 4.0), Opt(3, 16, 16, 2.0)}, {0},
            1),
      Layer({Opt(0, 0, 0, 10.0), Opt(1, 16, 0, 9.0)}, {1}),
  };
  EXPECT_EQ(Select(layers), (std::vector<size_t>{1, 3, 1}));  // 9 + 2 + 9
  // A consumer that cannot read it blocked: the middle layer writes plain.
  std::vector<LayoutLayer> plain_end = layers;
  plain_end[2] = Layer({Opt(0, 0, 0, 10.0)}, {1});
  EXPECT_EQ(Select(plain_end), (std::vector<size_t>{1, 1, 0}));  // 9 + 4 + 10
}

// Blocks must match: a 16-channel block is no 8-channel one.
TEST(LayoutSelectTest, BlocksOfAnotherSizeDoNotPair) {
  EXPECT_EQ(Select({Layer({Opt(0, 0, 0, 3.0), Opt(1, 0, 8, 1.0)}, {-1}, 0),
                    Layer({Opt(0, 0, 0, 3.0), Opt(1, 16, 0, 1.0)}, {0})}),
            (std::vector<size_t>{0, 0}));
}

// Several chains in one graph, interleaved in execution order.
TEST(LayoutSelectTest, ChainsAreIndependent) {
  const std::vector<size_t> chosen = Select({
      Layer({Opt(0, 0, 0, 2.0), Opt(1, 0, 16, 1.0)}, {-1}, 0),
      Layer({Opt(0, 0, 0, 2.0), Opt(1, 0, 16, 1.0)}, {-1}, 1),
      Layer({Opt(0, 0, 0, 1.0), Opt(1, 16, 0, 5.0)}, {0}),  // 2 + 1 < 1 + 5
      Layer({Opt(0, 0, 0, 5.0), Opt(1, 16, 0, 1.0)}, {1}),  // 1 + 1 < 2 + 5
  });
  EXPECT_EQ(chosen, (std::vector<size_t>{0, 1, 0, 1}));
}

// A residual block: value 0 is read by the next convolution and by the Add, whose tactics read
// both inputs and write the output in one layout. No chain reaches it; the local search flips value
// 0 and, with it, the Add's other input and its output.
std::vector<LayoutLayer> Residual(double blocked_tail_us) {
  return {
      Layer({Opt(0, 0, 0, 10.0), Opt(1, 0, 16, 10.0)}, {-1}, 0),
      Layer({Opt(0, 0, 0, 10.0), Opt(1, 16, 16, 5.0), Opt(2, 16, 0, 8.0), Opt(3, 0, 16, 9.0)}, {0},
            1),
      Layer({Opts(0, {0, 0}, 0, 1.0), Opts(1, {16, 16}, 16, 1.0)}, {1, 0}, 2),
      Layer({Opt(0, 0, 0, 10.0), Opt(1, 16, 0, blocked_tail_us)}, {2}),
  };
}

TEST(LayoutSelectTest, AValueWithSeveralReadersIsBlockedWhenEveryReaderGains) {
  // plain: 10 + 10 + 1 + 10 = 31; blocked: 10 + 5 + 1 + 6 = 22.
  EXPECT_EQ(Select(Residual(6.0)), (std::vector<size_t>{1, 1, 1, 1}));
  // blocked: 10 + 5 + 1 + 30 = 46: everything stays plain.
  EXPECT_EQ(Select(Residual(30.0)), (std::vector<size_t>{0, 0, 0, 0}));
  // An Add that cannot run blocked keeps its inputs plain.
  std::vector<LayoutLayer> plain_add = Residual(6.0);
  plain_add[2].options.pop_back();
  EXPECT_EQ(Select(plain_add), (std::vector<size_t>{0, 0, 0, 0}));
}

// Two stages: the first stage's output (value 2) feeds the second stage's convolution and its
// downsampling one, both of which can change the layout. The first stage gains from blocked
// layouts, the second loses. Neither joint of the first stage (values 0 and 2) can flip alone: its
// Add reads and writes one layout. Flipping every joint at once costs more. The first stage's
// spine, a group its Add forces, flips by itself.
TEST(LayoutSelectTest, EachStagesSpineFlipsOnItsOwn) {
  const std::vector<LayoutLayer> layers = {
      Layer({Opt(0, 0, 0, 10.0), Opt(1, 0, 16, 10.0)}, {-1}, 0),
      Layer({Opt(0, 0, 0, 10.0), Opt(1, 16, 16, 5.0), Opt(2, 16, 0, 8.0), Opt(3, 0, 16, 9.0)}, {0},
            1),
      Layer({Opts(0, {0, 0}, 0, 1.0), Opts(1, {16, 16}, 16, 1.0)}, {1, 0}, 2),
      Layer({Opt(0, 0, 0, 5.0), Opt(1, 16, 0, 5.0), Opt(2, 0, 16, 20.0), Opt(3, 16, 16, 20.0)}, {2},
            3),
      Layer({Opt(0, 0, 0, 3.0), Opt(1, 16, 0, 3.0), Opt(2, 0, 16, 3.0), Opt(3, 16, 16, 3.0)}, {2},
            4),
      Layer({Opts(0, {0, 0}, 0, 1.0), Opts(1, {16, 16}, 16, 1.0)}, {3, 4}, 5),
      Layer({Opt(0, 0, 0, 10.0), Opt(1, 16, 0, 10.0)}, {5}),
  };
  // All plain 40; the first stage blocked 35; every joint blocked 50.
  EXPECT_EQ(Select(layers), (std::vector<size_t>{1, 1, 1, 1, 1, 0, 0}));
}

// Whether `chosen` agrees on every value's block (a blockable value's readers read it with its
// producer's output block; the rest plain), and the sum of its options' times.
bool Agrees(const std::vector<LayoutLayer>& layers, const std::vector<size_t>& chosen, double* us) {
  std::map<int, int> written;
  *us = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayoutOption& o = layers[l].options[chosen[l]];
    *us += o.us;
    if (layers[l].output >= 0) {
      written[layers[l].output] = o.blocks.output;
    } else if (o.blocks.output != 0) {
      return false;
    }
    for (size_t i = 0; i < layers[l].inputs.size(); ++i) {
      const int v = layers[l].inputs[i];
      if (o.blocks.input(i) != (v >= 0 ? written.at(v) : 0)) return false;
    }
  }
  return true;
}

// Besides the best plan, the next best ones within the margin, fastest first, each agreeing on
// every block and distinct; the all-plain plan among them when it is close enough.
TEST(LayoutSelectTest, PlansBesidesTheBestAreTheNextWithinTheMargin) {
  // The two-layer chain: blocked 4 + 1 = 5, plain 3 + 3 = 6 (20% more).
  const std::vector<LayoutLayer> chain = {Layer({Opt(0, 0, 0, 3.0), Opt(1, 0, 16, 4.0)}, {-1}, 0),
                                          Layer({Opt(0, 0, 0, 3.0), Opt(1, 16, 0, 1.0)}, {0})};
  auto plans = SelectLayoutPlans(chain, 3, 0.25);
  ASSERT_TRUE(plans.ok()) << plans.status().ToString();
  ASSERT_EQ(plans->size(), 2u);
  EXPECT_EQ((*plans)[0].chosen, (std::vector<size_t>{1, 1}));
  EXPECT_DOUBLE_EQ((*plans)[0].us, 5.0);
  EXPECT_EQ((*plans)[1].chosen, (std::vector<size_t>{0, 0}));
  EXPECT_DOUBLE_EQ((*plans)[1].us, 6.0);
  // Outside a 10% margin, or with room for one plan, only the best.
  plans = SelectLayoutPlans(chain, 3, 0.10);
  ASSERT_TRUE(plans.ok());
  EXPECT_EQ(plans->size(), 1u);
  plans = SelectLayoutPlans(chain, 1, 0.25);
  ASSERT_TRUE(plans.ok());
  EXPECT_EQ(plans->size(), 1u);

  // The residual block (best 22, all plain 31): every plan agrees, adds up, is distinct, and they
  // come fastest first within 50% of the best.
  const std::vector<LayoutLayer> residual = Residual(6.0);
  plans = SelectLayoutPlans(residual, 16, 0.5);
  ASSERT_TRUE(plans.ok()) << plans.status().ToString();
  ASSERT_GE(plans->size(), 2u);
  EXPECT_EQ((*plans)[0].chosen, Select(residual));
  std::set<std::vector<size_t>> seen;
  bool all_plain = false;
  for (size_t p = 0; p < plans->size(); ++p) {
    const LayoutPlan& plan = (*plans)[p];
    double us = 0;
    EXPECT_TRUE(Agrees(residual, plan.chosen, &us)) << "plan " << p;
    EXPECT_DOUBLE_EQ(plan.us, us) << "plan " << p;
    EXPECT_LE(plan.us, 22.0 * 1.5) << "plan " << p;
    if (p > 0) {
      EXPECT_GE(plan.us, (*plans)[p - 1].us) << "plan " << p;
    }
    EXPECT_TRUE(seen.insert(plan.chosen).second) << "plan " << p << " twice";
    all_plain = all_plain || plan.chosen == std::vector<size_t>{0, 0, 0, 0};
  }
  EXPECT_TRUE(all_plain) << "the all-plain plan (31) is within the margin";
}

TEST(LayoutSelectTest, RefusesWhatIsNoGraph) {
  // A value read before it is written, a value written twice, a layer with no plain option.
  EXPECT_FALSE(
      SelectLayouts({Layer({Opt(0, 0, 0, 1.0)}, {0}), Layer({Opt(0, 0, 0, 1.0)}, {-1}, 0)}).ok());
  EXPECT_FALSE(
      SelectLayouts({Layer({Opt(0, 0, 0, 1.0)}, {-1}, 0), Layer({Opt(0, 0, 0, 1.0)}, {-1}, 0)})
          .ok());
  EXPECT_FALSE(SelectLayouts({Layer({Opt(0, 16, 0, 1.0)})}).ok());
  EXPECT_FALSE(SelectLayouts({Layer({})}).ok());
}

// x -> a -> y -> b -> z (z the graph output), and y also read by c when `fork`.
Plan ChainPlan(bool fork) {
  Plan plan;
  for (const char* name : {"x", "y", "z", "w"}) plan.values.push_back({name});
  auto layer = [](const char* name, int32_t in, int32_t out) {
    PlanLayer l;
    l.node.name = name;
    l.tactic = "t";
    l.inputs.push_back({LayerInput::Kind::kValue, in});
    l.outputs.push_back(out);
    return l;
  };
  plan.layers = {layer("a", 0, 1), layer("b", 1, 2)};
  if (fork) plan.layers.push_back(layer("c", 1, 3));
  plan.inputs = {0};
  plan.outputs = {2};
  return plan;
}

TEST(LayoutSelectTest, LoadsCheckThatNeighboursAgree) {
  using B = std::vector<LayerBlocks>;
  const Plan chain = ChainPlan(false);
  EXPECT_TRUE(CheckLayouts(chain, B{{{0}, 0}, {{0}, 0}}, "e").ok());
  EXPECT_TRUE(CheckLayouts(chain, B{{{0}, 16}, {{16}, 0}}, "e").ok());
  // A blocked value read blocked by both its readers.
  EXPECT_TRUE(CheckLayouts(ChainPlan(true), B{{{0}, 16}, {{16}, 0}, {{16}, 0}}, "e").ok());
  auto refused = [](const Plan& plan, const B& blocks, const std::string& what) {
    const Status s = CheckLayouts(plan, blocks, "e.refit");
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << what;
    EXPECT_NE(s.message().find("e.refit: layer"), std::string::npos) << s.message();
  };
  refused(chain, B{{{0}, 16}, {{0}, 0}}, "a blocked output read plain");
  refused(chain, B{{{0}, 0}, {{16}, 0}}, "a blocked input written plain");
  refused(chain, B{{{0}, 8}, {{16}, 0}}, "blocks of two sizes");
  refused(chain, B{{{16}, 0}, {{0}, 0}}, "a graph input read blocked");
  refused(chain, B{{{0}, 0}, {{0}, 16}}, "a graph output written blocked");
  refused(ChainPlan(true), B{{{0}, 16}, {{16}, 0}, {{0}, 0}}, "a second reader reading it plain");
  // b reads y as input 0 and the graph input x as input 1.
  Plan two = chain;
  two.layers[1].inputs.push_back({LayerInput::Kind::kValue, 0});
  EXPECT_TRUE(CheckLayouts(two, B{{{0}, 16}, {{16, 0}, 0}}, "e").ok());
  refused(two, B{{{0}, 16}, {{16, 16}, 0}}, "a second input read blocked");
}

}  // namespace
}  // namespace refit::engine
