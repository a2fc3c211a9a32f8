// eliminate_dead_code: one backward sweep from the graph outputs. A node is live when any of its
// outputs is read by a live node or is a graph output. Derived weights no live node reads are
// dropped too (they are recomputable); source weights always stay, refit addresses them by name.
#include <set>

#include "passes/pass_util.h"

namespace refit::passes {

Status EliminateDeadCodePass(ir::Graph& g, PassReport* report) {
  std::set<std::string> live;
  for (const ir::ValueInfo& v : g.outputs) live.insert(v.name);
  std::vector<bool> remove(g.nodes.size(), false);
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const ir::Node& n = g.nodes[i];
    bool needed = false;
    for (const std::string& out : n.outputs) needed = needed || (!out.empty() && live.count(out));
    if (!needed) {
      remove[i] = true;
      Note(report, "eliminate_dead_code", "removed '" + n.name + "' (" + n.op_type + ")");
      continue;
    }
    for (const std::string& in : n.inputs) {
      if (!in.empty()) live.insert(in);
    }
  }
  RemoveNodes(g, remove);
  for (auto it = g.derived_weights.begin(); it != g.derived_weights.end();) {
    if (live.count(it->first)) {
      ++it;
      continue;
    }
    Note(report, "eliminate_dead_code", "dropped derived weight '" + it->first + "'");
    it = g.derived_weights.erase(it);
  }
  for (auto it = g.value_infos.begin(); it != g.value_infos.end();) {
    it = live.count(it->first) ? std::next(it) : g.value_infos.erase(it);
  }
  return Status::Ok();
}

}  // namespace refit::passes
