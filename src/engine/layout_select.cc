#include "engine/layout_select.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <utility>

namespace refit::engine {
namespace {

constexpr double kNone = std::numeric_limits<double>::infinity();

// Passes of the local search over every group of joints; each pass that keeps a flip lowers the
// sum, so the search ends by itself long before this on any real graph.
constexpr int kMaxPasses = 64;

// The values the layers form: per value, the layer writing it and the (layer, input)s reading it.
struct ValueGraph {
  std::vector<int> producer;
  std::vector<std::vector<std::pair<int, size_t>>> readers;
};

StatusOr<ValueGraph> MakeGraph(const std::vector<LayoutLayer>& layers) {
  int values = 0;
  for (const LayoutLayer& layer : layers) {
    values = std::max(values, layer.output + 1);
    for (int v : layer.inputs) values = std::max(values, v + 1);
  }
  ValueGraph g;
  g.producer.assign(size_t(values), -1);
  g.readers.resize(size_t(values));
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayoutLayer& layer = layers[l];
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      const int v = layer.inputs[i];
      if (v < 0) continue;
      if (g.producer[size_t(v)] < 0) {
        return InvalidArgument("layout selection: layer " + std::to_string(l) + " reads value " +
                               std::to_string(v) + " before a layer writes it");
      }
      g.readers[size_t(v)].emplace_back(int(l), i);
    }
    if (layer.output >= 0) {
      if (g.producer[size_t(layer.output)] >= 0) {
        return InvalidArgument("layout selection: value " + std::to_string(layer.output) +
                               " is written twice");
      }
      g.producer[size_t(layer.output)] = int(l);
    }
  }
  return g;
}

// A chain link: a value with one reader, which reads it as input 0. The other values a layer
// writes (several readers, or one reading it as another input) are joints.
bool IsLink(const ValueGraph& g, int v) {
  return v >= 0 && g.readers[size_t(v)].size() == 1 && g.readers[size_t(v)][0].second == 0;
}

struct Solution {
  double us = kNone;           // the sum over every layer
  std::vector<size_t> chosen;  // per layer
};

// The least sum with the joints' blocks fixed (`joint`, indexed by value; links' entries
// unused): a dynamic program over each chain of links, exact since chains only meet at joints.
// kNone when no choice agrees.
Solution SolveChains(const std::vector<LayoutLayer>& layers, const ValueGraph& g,
                     const std::vector<int>& joint) {
  const size_t n = layers.size();
  std::vector<int> producer(n, -1);  // per layer: the layer its input 0 links it to
  for (size_t l = 0; l < n; ++l) {
    if (!layers[l].inputs.empty() && IsLink(g, layers[l].inputs[0])) {
      producer[l] = g.producer[size_t(layers[l].inputs[0])];
    }
  }
  // The block a layer's input or output must have when it is no link: the joint's, or plain.
  auto fixed = [&](int v) { return v >= 0 ? joint[size_t(v)] : 0; };
  // best[l][b]: the least time of l's chain up to and including l with l's output block b, and
  // the option that gives it.
  struct Best {
    double us = kNone;
    size_t option = 0;
  };
  std::vector<std::map<int, Best>> best(n);
  for (size_t l = 0; l < n; ++l) {
    const LayoutLayer& layer = layers[l];
    for (size_t o = 0; o < layer.options.size(); ++o) {
      const LayoutOption& opt = layer.options[o];
      if (!IsLink(g, layer.output) && opt.blocks.output != fixed(layer.output)) continue;
      bool agrees = true;
      for (size_t i = producer[l] >= 0 ? 1 : 0;
           i < std::max(layer.inputs.size(), opt.blocks.inputs.size()) && agrees; ++i) {
        agrees = opt.blocks.input(i) == fixed(i < layer.inputs.size() ? layer.inputs[i] : -1);
      }
      if (!agrees) continue;
      double before = 0;
      if (producer[l] >= 0) {
        auto it = best[size_t(producer[l])].find(opt.blocks.input(0));
        if (it == best[size_t(producer[l])].end()) continue;
        before = it->second.us;
      }
      Best& b = best[l][opt.blocks.output];
      if (before + opt.us < b.us) b = {before + opt.us, o};
    }
  }
  // Back from each chain's end (a layer whose output is no link), in reverse order so each
  // layer's output block is fixed before its producer's.
  Solution s;
  s.us = 0;
  s.chosen.assign(n, 0);
  std::vector<int> want(n, 0);  // the output block each layer's chain successor fixed
  for (size_t l = n; l-- > 0;) {
    const bool end = !IsLink(g, layers[l].output);
    auto it = best[l].find(end ? fixed(layers[l].output) : want[l]);
    if (it == best[l].end()) return Solution{};
    if (end) s.us += it->second.us;
    s.chosen[l] = it->second.option;
    if (producer[l] >= 0) {
      want[size_t(producer[l])] = layers[l].options[it->second.option].blocks.input(0);
    }
  }
  return s;
}

// Groups of joints to flip together in the search: each joint alone; each set of joints that
// layers force into one layout (every option of the layer gives them the same block: a residual
// Add's inputs and output, a Conv's fused residual and its output), a stage's residual spine; and
// each set of joints that layers touching two or more of them connect (a network's whole spine,
// across the layers that could change its layout but gain nothing alone by it).
std::vector<std::vector<int>> JointGroups(const std::vector<LayoutLayer>& layers,
                                          const ValueGraph& g) {
  const size_t values = g.producer.size();
  struct Sets {
    std::vector<int> root;
    int Find(int v) {
      while (root[size_t(v)] != v) v = root[size_t(v)] = root[size_t(root[size_t(v)])];
      return v;
    }
    void Join(int a, int b) { root[size_t(Find(a))] = Find(b); }
  };
  Sets forced{std::vector<int>(values)}, touched{std::vector<int>(values)};
  for (size_t v = 0; v < values; ++v) forced.root[v] = touched.root[v] = int(v);
  auto is_joint = [&](int v) { return v >= 0 && g.producer[size_t(v)] >= 0 && !IsLink(g, v); };
  for (const LayoutLayer& layer : layers) {
    // The layer's joints, each with its port: an input's index, or -1 for the output.
    std::vector<std::pair<int, int>> ports;
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      if (is_joint(layer.inputs[i])) ports.emplace_back(layer.inputs[i], int(i));
    }
    if (is_joint(layer.output)) ports.emplace_back(layer.output, -1);
    auto block = [](const LayoutOption& o, int port) {
      return port < 0 ? o.blocks.output : o.blocks.input(size_t(port));
    };
    for (size_t a = 0; a < ports.size(); ++a) {
      for (size_t b = a + 1; b < ports.size(); ++b) {
        touched.Join(ports[a].first, ports[b].first);
        const bool same =
            std::all_of(layer.options.begin(), layer.options.end(), [&](const LayoutOption& o) {
              return block(o, ports[a].second) == block(o, ports[b].second);
            });
        if (same) forced.Join(ports[a].first, ports[b].first);
      }
    }
  }
  std::vector<std::vector<int>> groups;
  std::map<int, std::vector<int>> by_forced, by_touched;
  for (size_t v = 0; v < values; ++v) {
    if (!is_joint(int(v))) continue;
    groups.push_back({int(v)});
    by_forced[forced.Find(int(v))].push_back(int(v));
    by_touched[touched.Find(int(v))].push_back(int(v));
  }
  std::set<std::vector<int>> seen;
  for (auto* sets : {&by_forced, &by_touched}) {
    for (auto& [root_value, members] : *sets) {
      if (members.size() > 1 && seen.insert(members).second) groups.push_back(members);
    }
  }
  return groups;
}

}  // namespace

bool LayerBlocks::plain() const {
  return output == 0 && std::all_of(inputs.begin(), inputs.end(), [](int b) { return b == 0; });
}

LayerBlocks BlocksOf(const backend::Tactic& tactic, size_t num_inputs) {
  LayerBlocks b;
  for (size_t i = 0; i < num_inputs; ++i) b.inputs.push_back(tactic.InputBlockAt(i));
  b.output = tactic.OutputBlock();
  return b;
}

StatusOr<std::vector<size_t>> SelectLayouts(const std::vector<LayoutLayer>& layers) {
  REFIT_ASSIGN_OR_RETURN(std::vector<LayoutPlan> plans, SelectLayoutPlans(layers, 1, 0.0));
  return std::move(plans[0].chosen);
}

StatusOr<std::vector<LayoutPlan>> SelectLayoutPlans(const std::vector<LayoutLayer>& layers,
                                                    size_t max_plans, double margin) {
  REFIT_ASSIGN_OR_RETURN(const ValueGraph g, MakeGraph(layers));
  std::vector<int> joint(g.producer.size(), 0);
  Solution best = SolveChains(layers, g, joint);
  if (best.us == kNone) {
    for (size_t l = 0; l < layers.size(); ++l) {
      bool plain = false;
      for (const LayoutOption& o : layers[l].options) plain = plain || o.blocks.plain();
      if (!plain) {
        return InvalidArgument("layout selection: layer " + std::to_string(l) +
                               " has no tactic for plain layouts");
      }
    }
    return Internal("layout selection: no choice agrees on plain layouts");
  }
  // Every plan met, by its choices: the alternatives.
  std::map<std::vector<size_t>, double> met;
  met.emplace(best.chosen, best.us);
  // Step 2 (see the header): flips of the joints' blocks, group by group, to each block some
  // tactic uses, kept while they lower the sum.
  std::set<int> targets{0};
  for (const LayoutLayer& layer : layers) {
    for (const LayoutOption& o : layer.options) {
      targets.insert(o.blocks.output);
      targets.insert(o.blocks.inputs.begin(), o.blocks.inputs.end());
    }
  }
  const std::vector<std::vector<int>> groups = JointGroups(layers, g);
  for (int pass = 0; pass < kMaxPasses && targets.size() > 1; ++pass) {
    bool improved = false;
    for (const std::vector<int>& group : groups) {
      for (int target : targets) {
        std::vector<int> trial = joint;
        for (int v : group) trial[size_t(v)] = target;
        if (trial == joint) continue;
        Solution s = SolveChains(layers, g, trial);
        if (s.us == kNone) continue;
        met.emplace(s.chosen, s.us);
        if (s.us < best.us - 1e-9) {
          best = std::move(s);
          joint = std::move(trial);
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  // The all-plain plan: each layer's fastest plain option.
  LayoutPlan plain{std::vector<size_t>(layers.size(), 0), 0.0};
  for (size_t l = 0; l < layers.size(); ++l) {
    double fastest = kNone;
    for (size_t o = 0; o < layers[l].options.size(); ++o) {
      const LayoutOption& opt = layers[l].options[o];
      if (opt.blocks.plain() && opt.us < fastest) {
        fastest = opt.us;
        plain.chosen[l] = o;
      }
    }
    plain.us += fastest;
  }
  met.emplace(plain.chosen, plain.us);

  std::vector<LayoutPlan> plans{{best.chosen, best.us}};
  std::vector<LayoutPlan> others;
  for (auto& [chosen, us] : met) {
    if (chosen != best.chosen && us <= best.us * (1.0 + margin)) others.push_back({chosen, us});
  }
  std::stable_sort(others.begin(), others.end(),
                   [](const LayoutPlan& a, const LayoutPlan& b) { return a.us < b.us; });
  for (LayoutPlan& p : others) {
    if (plans.size() >= max_plans) break;
    plans.push_back(std::move(p));
  }
  return plans;
}

Status CheckLayouts(const Plan& plan, const std::vector<LayerBlocks>& blocks,
                    const std::string& label) {
  if (blocks.size() != plan.layers.size()) {
    return Internal("CheckLayouts: one block set per layer");
  }
  // Each value's block as written: its producer's output block when it is that layer's output 0.
  std::vector<int> written(plan.values.size(), 0);
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const auto& outs = plan.layers[l].outputs;
    if (!outs.empty() && outs[0] >= 0) written[size_t(outs[0])] = blocks[l].output;
  }
  auto layer_name = [&](size_t l) {
    return label + ": layer " + std::to_string(l) + " ('" + plan.layers[l].node.name + "', " +
           plan.layers[l].tactic + ")";
  };
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const PlanLayer& layer = plan.layers[l];
    for (size_t i = 0; i < std::max(layer.inputs.size(), blocks[l].inputs.size()); ++i) {
      const bool value =
          i < layer.inputs.size() && layer.inputs[i].kind == LayerInput::Kind::kValue;
      const int have = value ? written[size_t(layer.inputs[i].index)] : 0;
      const int want = blocks[l].input(i);
      if (have != want) {
        return DataLoss(layer_name(l) + " reads input " + std::to_string(i) + " with block " +
                        std::to_string(want) + " (0: plain), but it is written with block " +
                        std::to_string(have));
      }
    }
  }
  for (int32_t v : plan.outputs) {
    if (written[size_t(v)] > 0) {
      for (size_t l = 0; l < plan.layers.size(); ++l) {
        const auto& outs = plan.layers[l].outputs;
        if (!outs.empty() && outs[0] == v) {
          return DataLoss(layer_name(l) + " writes graph output '" + plan.values[size_t(v)].name +
                          "' channel-blocked (block " + std::to_string(written[size_t(v)]) + ")");
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace refit::engine
