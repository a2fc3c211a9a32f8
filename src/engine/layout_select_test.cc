#include "engine/layout_select.h"

#include <gtest/gtest.h>

#include <vector>

namespace refit::engine {
namespace {

LayoutLayer Layer(std::vector<LayoutOption> options, int producer = -1) {
  LayoutLayer l;
  l.options = std::move(options);
  l.producer = producer;
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
      Select({Layer({{0, 0, 0, 5.0}, {1, 0, 16, 1.0}, {2, 0, 0, 3.0}}),
              Layer({{0, 16, 0, 1.0}, {1, 0, 0, 4.0}, {2, 0, 0, 2.0}})});
  EXPECT_EQ(chosen, (std::vector<size_t>{2, 2}));
}

// A chain is chosen as a whole: the blocked edge wins when the pair's sum is smaller, even though
// the producer's blocked tactic is the slower of its two, and loses when the sum is not smaller.
TEST(LayoutSelectTest, AChainMinimisesTheSumOverItsEdges) {
  // plain: 3 + 3 = 6; blocked: 4 + 1 = 5.
  EXPECT_EQ(Select({Layer({{0, 0, 0, 3.0}, {1, 0, 16, 4.0}}),
                    Layer({{0, 0, 0, 3.0}, {1, 16, 0, 1.0}}, 0)}),
            (std::vector<size_t>{1, 1}));
  // plain: 3 + 3 = 6; blocked: 4 + 2.5 = 6.5.
  EXPECT_EQ(Select({Layer({{0, 0, 0, 3.0}, {1, 0, 16, 4.0}}),
                    Layer({{0, 0, 0, 3.0}, {1, 16, 0, 2.5}}, 0)}),
            (std::vector<size_t>{0, 0}));
}

// Three layers: the middle one's choice depends on both edges at once.
TEST(LayoutSelectTest, TheMiddleOfAChainAgreesWithBothNeighbours) {
  const std::vector<LayoutLayer> layers = {
      Layer({{0, 0, 0, 10.0}, {1, 0, 16, 9.0}}),
      Layer({{0, 0, 0, 6.0}, {1, 16, 0, 4.0}, {2, 0, 16, 4.0}, {3, 16, 16, 2.0}}, 0),
      Layer({{0, 0, 0, 10.0}, {1, 16, 0, 9.0}}, 1),
  };
  EXPECT_EQ(Select(layers), (std::vector<size_t>{1, 3, 1}));  // 9 + 2 + 9
  // A consumer that cannot read it blocked: the middle layer writes plain.
  std::vector<LayoutLayer> plain_end = layers;
  plain_end[2] = Layer({{0, 0, 0, 10.0}}, 1);
  EXPECT_EQ(Select(plain_end), (std::vector<size_t>{1, 1, 0}));  // 9 + 4 + 10
}

// Blocks must match: a 16-channel block is no 8-channel one.
TEST(LayoutSelectTest, BlocksOfAnotherSizeDoNotPair) {
  EXPECT_EQ(Select({Layer({{0, 0, 0, 3.0}, {1, 0, 8, 1.0}}),
                    Layer({{0, 0, 0, 3.0}, {1, 16, 0, 1.0}}, 0)}),
            (std::vector<size_t>{0, 0}));
}

// Several chains in one graph, interleaved in execution order.
TEST(LayoutSelectTest, ChainsAreIndependent) {
  const std::vector<size_t> chosen = Select({
      Layer({{0, 0, 0, 2.0}, {1, 0, 16, 1.0}}), Layer({{0, 0, 0, 2.0}, {1, 0, 16, 1.0}}),
      Layer({{0, 0, 0, 1.0}, {1, 16, 0, 5.0}}, 0),  // 2 + 1 < 1 + 5
      Layer({{0, 0, 0, 5.0}, {1, 16, 0, 1.0}}, 1),  // 1 + 1 < 2 + 5
  });
  EXPECT_EQ(chosen, (std::vector<size_t>{0, 1, 0, 1}));
}

TEST(LayoutSelectTest, RefusesWhatIsNoChain) {
  // A producer after its consumer, two consumers of one producer, a layer with no plain option.
  EXPECT_FALSE(SelectLayouts({Layer({{0, 0, 0, 1.0}}, 1), Layer({{0, 0, 0, 1.0}})}).ok());
  EXPECT_FALSE(SelectLayouts({Layer({{0, 0, 0, 1.0}}), Layer({{0, 0, 0, 1.0}}, 0),
                              Layer({{0, 0, 0, 1.0}}, 0)})
                   .ok());
  EXPECT_FALSE(SelectLayouts({Layer({{0, 16, 0, 1.0}})}).ok());
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
  const Plan chain = ChainPlan(false);
  EXPECT_TRUE(CheckLayouts(chain, {{0, 0}, {0, 0}}, "e").ok());
  EXPECT_TRUE(CheckLayouts(chain, {{0, 16}, {16, 0}}, "e").ok());
  auto refused = [](const Plan& plan, std::vector<std::pair<int, int>> blocks,
                    const std::string& what) {
    const Status s = CheckLayouts(plan, blocks, "e.refit");
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << what;
    EXPECT_NE(s.message().find("e.refit: layer"), std::string::npos) << s.message();
  };
  refused(chain, {{0, 16}, {0, 0}}, "a blocked output read plain");
  refused(chain, {{0, 0}, {16, 0}}, "a blocked input written plain");
  refused(chain, {{0, 8}, {16, 0}}, "blocks of two sizes");
  refused(chain, {{16, 0}, {0, 0}}, "a graph input read blocked");
  refused(chain, {{0, 0}, {0, 16}}, "a graph output written blocked");
  refused(ChainPlan(true), {{0, 16}, {16, 0}, {16, 0}}, "a blocked value read twice");
}

}  // namespace
}  // namespace refit::engine
