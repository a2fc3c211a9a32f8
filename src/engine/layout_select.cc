#include "engine/layout_select.h"

#include <limits>
#include <map>
#include <string>

namespace refit::engine {

StatusOr<std::vector<size_t>> SelectLayouts(const std::vector<LayoutLayer>& layers) {
  constexpr double kNone = std::numeric_limits<double>::infinity();
  const size_t n = layers.size();
  std::vector<int> consumer(n, -1);
  for (size_t l = 0; l < n; ++l) {
    const int p = layers[l].producer;
    if (p < 0) continue;
    if (size_t(p) >= l || consumer[p] >= 0) {
      return InvalidArgument("layout selection: layer " + std::to_string(l) + " names producer " +
                             std::to_string(p) +
                             ", which is not an earlier layer with one consumer");
    }
    consumer[p] = int(l);
  }
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
      if (opt.out_block > 0 && consumer[l] < 0) continue;  // no consumer to agree
      double before = 0;
      if (layer.producer >= 0) {
        auto it = best[layer.producer].find(opt.in_block);
        if (it == best[layer.producer].end()) continue;
        before = it->second.us;
      } else if (opt.in_block > 0) {
        continue;
      }
      Best& b = best[l][opt.out_block];
      if (before + opt.us < b.us) b = {before + opt.us, o};
    }
    if (best[l].empty()) {
      return InvalidArgument("layout selection: layer " + std::to_string(l) +
                             " has no tactic for the layouts around it");
    }
  }
  // Back from each chain's end (a layer whose output stays plain), in reverse order so each
  // layer's choice is fixed before its producer's.
  std::vector<size_t> chosen(n, 0);
  std::vector<int> out_block(n, -1);  // the block the consumer fixed; -1: not fixed yet
  for (size_t i = n; i-- > 0;) {
    const int want = consumer[i] < 0 ? 0 : out_block[i];
    auto it = best[i].find(want < 0 ? 0 : want);
    if (it == best[i].end() || it->second.us == kNone) {
      return InvalidArgument("layout selection: layer " + std::to_string(i) +
                             " cannot write the layout its consumer reads");
    }
    chosen[i] = it->second.option;
    const int p = layers[i].producer;
    if (p >= 0) out_block[p] = layers[i].options[chosen[i]].in_block;
  }
  return chosen;
}

Status CheckLayouts(const Plan& plan, const std::vector<std::pair<int, int>>& blocks,
                    const std::string& label) {
  if (blocks.size() != plan.layers.size())
    return Internal("CheckLayouts: one block pair per layer");
  std::vector<int> readers(plan.values.size(), 0), producer(plan.values.size(), -1);
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    for (const LayerInput& in : plan.layers[l].inputs) {
      if (in.kind == LayerInput::Kind::kValue) ++readers[in.index];
    }
    for (int32_t v : plan.layers[l].outputs) {
      if (v >= 0) producer[v] = int(l);
    }
  }
  for (int32_t v : plan.outputs) ++readers[v];
  auto layer_name = [&](size_t l) {
    return label + ": layer " + std::to_string(l) + " ('" + plan.layers[l].node.name + "', " +
           plan.layers[l].tactic + ")";
  };
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const PlanLayer& layer = plan.layers[l];
    const auto [in_block, out_block] = blocks[l];
    if (in_block > 0) {
      const bool value = !layer.inputs.empty() && layer.inputs[0].kind == LayerInput::Kind::kValue;
      const int p = value ? producer[layer.inputs[0].index] : -1;
      if (p < 0 || plan.layers[p].outputs[0] != layer.inputs[0].index ||
          blocks[p].second != in_block || readers[layer.inputs[0].index] != 1) {
        return DataLoss(layer_name(l) + " reads a channel-blocked input (block " +
                        std::to_string(in_block) + ") that no layer writes for it alone");
      }
    }
    if (out_block > 0) {
      const int32_t v = layer.outputs.empty() ? -1 : layer.outputs[0];
      // The one reader must read it blocked: checked from its side above, unless it reads it
      // plain, which this finds.
      bool read_blocked = false;
      for (size_t c = 0; v >= 0 && c < plan.layers.size(); ++c) {
        const auto& ins = plan.layers[c].inputs;
        read_blocked = read_blocked || (!ins.empty() && ins[0].kind == LayerInput::Kind::kValue &&
                                        ins[0].index == v && blocks[c].first == out_block);
      }
      if (v < 0 || readers[v] != 1 || !read_blocked) {
        return DataLoss(layer_name(l) + " writes a channel-blocked output (block " +
                        std::to_string(out_block) +
                        ") that is not read blocked by one layer alone");
      }
    }
  }
  return Status::Ok();
}

}  // namespace refit::engine
