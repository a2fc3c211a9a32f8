// fuse_elementwise: a tree of f32 element-wise operators whose intermediate values nothing else
// reads becomes one refit.FusedElementwise node (ir/fused_elementwise.h) that carries the program.
// Scalar Constant-node operands and operator attributes become program constants; every other
// operand (weights included) stays a node input, so nothing a weight feeds is ever baked.
#include <algorithm>
#include <set>

#include "ir/fused_elementwise.h"
#include "ir/fused_ops.h"
#include "passes/fusion_util.h"

namespace refit::passes {
namespace {

constexpr char kPass[] = "fuse_elementwise";
// Distinct non-constant inputs a fused node may read: more makes the tactics' broadcasting slow
// and rarely pays.
constexpr size_t kMaxInputs = 4;

class GroupBuilder {
 public:
  GroupBuilder(const ir::Graph& g, const std::map<std::string, std::vector<int>>& readers)
      : g_(g), readers_(readers) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      for (const std::string& o : g.nodes[i].outputs) producer_[o] = int(i);
    }
  }

  bool Candidate(const ir::Node& n) const {
    if (!n.domain.empty() || n.outputs.size() != 1 || n.attrs.Has(ir::kActivationAttr)) {
      return false;
    }
    auto op = ir::EwOpFromOnnx(n.op_type);
    if (!op || !ir::ProgramForNode(n, g_.opset).ok()) return false;
    if (ValueDtype(g_, n.outputs[0]) != DataType::kF32) return false;
    for (const std::string& in : n.inputs) {
      if (!in.empty() && ValueDtype(g_, in) != DataType::kF32) return false;
    }
    return true;
  }

  // Grows the group rooted at node `root` (all indices of `in_group` false on entry apart from
  // those of earlier groups, in `taken`). Returns the members in graph order.
  std::vector<int> Grow(int root, const std::vector<bool>& taken) {
    std::set<int> members = {root};
    const auto out_dims = StaticDims(g_, g_.nodes[size_t(root)].outputs[0]);
    out_rank_ = out_dims ? int(out_dims->size()) : 0;
    for (bool changed = true; changed;) {
      changed = false;
      for (int m : std::vector<int>(members.begin(), members.end())) {
        for (const std::string& v : g_.nodes[size_t(m)].inputs) {
          auto p = producer_.find(v);
          if (v.empty() || p == producer_.end() || members.count(p->second) || taken[p->second]) {
            continue;
          }
          const ir::Node& q = g_.nodes[size_t(p->second)];
          if (IsGraphOutput(g_, v) || !Candidate(q)) continue;
          bool all_inside = true;
          for (int r : readers_.at(v)) all_inside = all_inside && members.count(r);
          if (!all_inside) continue;
          std::set<int> trial = members;
          trial.insert(p->second);
          if (ExternalInputs(trial).size() > kMaxInputs) continue;
          members = std::move(trial);
          changed = true;
        }
      }
    }
    return std::vector<int>(members.begin(), members.end());
  }

  // Values the members read that no member produces and that are not inlined constants.
  std::vector<std::string> ExternalInputs(const std::set<int>& members) const {
    std::set<std::string> produced;
    for (int m : members) produced.insert(g_.nodes[size_t(m)].outputs[0]);
    std::vector<std::string> ext;
    for (int m : members) {
      for (const std::string& v : g_.nodes[size_t(m)].inputs) {
        if (v.empty() || produced.count(v) || Inlined(v)) continue;
        if (std::find(ext.begin(), ext.end(), v) == ext.end()) ext.push_back(v);
      }
    }
    return ext;
  }

  // A scalar Constant-node operand whose rank cannot widen the output.
  bool Inlined(const std::string& v) const {
    auto c = GetScalarConstant(g_, v);
    return c && int(c->rank) <= out_rank_;
  }

  // Builds the program of `members` (graph order, last one the root).
  StatusOr<ir::EwProgram> Program(const std::vector<int>& members,
                                  std::vector<std::string>* inputs) const {
    std::set<int> set(members.begin(), members.end());
    *inputs = ExternalInputs(set);
    // Operands as (kind, index) until the constant count is known: 0 input, 1 constant, 2 result.
    struct Ref {
      int kind = -1, index = -1;
    };
    struct Pending {
      ir::EwOp op;
      Ref ops[3];
    };
    ir::EwProgram p;
    p.num_inputs = int32_t(inputs->size());
    std::vector<Pending> code;
    std::map<std::string, int> result_of;
    for (int m : members) {
      const ir::Node& n = g_.nodes[size_t(m)];
      REFIT_ASSIGN_OR_RETURN(ir::EwProgram one, ir::ProgramForNode(n, g_.opset));
      const ir::EwInstr& in = one.code[0];
      Pending pend{in.op, {}};
      const int32_t local[3] = {in.a, in.b, in.c};
      for (int o = 0; o < 3; ++o) {
        const int32_t v = local[o];
        if (v < 0) continue;
        if (v >= one.num_inputs) {  // an attribute constant
          p.constants.push_back(one.constants[size_t(v - one.num_inputs)]);
          pend.ops[o] = {1, int(p.constants.size()) - 1};
          continue;
        }
        const std::string& name = n.inputs[size_t(v)];
        if (auto r = result_of.find(name); r != result_of.end()) {
          pend.ops[o] = {2, r->second};
        } else if (Inlined(name)) {
          p.constants.push_back(GetScalarConstant(g_, name)->value);
          pend.ops[o] = {1, int(p.constants.size()) - 1};
        } else {
          auto it = std::find(inputs->begin(), inputs->end(), name);
          pend.ops[o] = {0, int(it - inputs->begin())};
        }
      }
      result_of[n.outputs[0]] = int(code.size());
      code.push_back(pend);
    }
    for (const Pending& pend : code) {
      int32_t ids[3] = {-1, -1, -1};
      for (int o = 0; o < 3; ++o) {
        const Ref& r = pend.ops[o];
        if (r.kind == 0) ids[o] = r.index;
        if (r.kind == 1) ids[o] = p.ConstId(size_t(r.index));
        if (r.kind == 2) ids[o] = p.num_inputs + int32_t(p.constants.size()) + r.index;
      }
      p.code.push_back({pend.op, ids[0], ids[1], ids[2]});
    }
    return p;
  }

 private:
  const ir::Graph& g_;
  const std::map<std::string, std::vector<int>>& readers_;
  std::map<std::string, int> producer_;
  int out_rank_ = 0;
};

}  // namespace

Status FuseElementwisePass(ir::Graph& g, PassReport* report) {
  const std::map<std::string, std::vector<int>> readers = ReaderIndex(g);
  GroupBuilder builder(g, readers);
  std::vector<bool> taken(g.nodes.size(), false);
  std::vector<std::pair<std::vector<int>, ir::EwProgram>> groups;
  std::vector<std::vector<std::string>> group_inputs;
  for (int i = int(g.nodes.size()) - 1; i >= 0; --i) {
    if (taken[size_t(i)] || !builder.Candidate(g.nodes[size_t(i)])) continue;
    std::vector<int> members = builder.Grow(i, taken);
    if (members.size() < 2) continue;
    std::vector<std::string> inputs;
    auto program = builder.Program(members, &inputs);
    if (!program.ok()) {
      Note(report, std::string(kPass) + ".skipped",
           "'" + g.nodes[size_t(i)].name + "': " + program.status().message());
      continue;
    }
    if (inputs.empty()) continue;  // all constants: fold_constants' business
    for (int m : members) taken[size_t(m)] = true;
    groups.emplace_back(std::move(members), std::move(program).value());
    group_inputs.push_back(std::move(inputs));
  }
  std::vector<bool> remove(g.nodes.size(), false);
  for (size_t k = 0; k < groups.size(); ++k) {
    const auto& [members, program] = groups[k];
    ir::Node& root = g.nodes[size_t(members.back())];
    ir::Node fused;
    fused.name = root.name;
    fused.op_type = ir::kFusedElementwiseOp;
    fused.domain = ir::kRefitDomain;
    fused.inputs = group_inputs[k];
    fused.outputs = root.outputs;
    fused.fused = root.fused;
    std::string names;
    for (int m : members) {
      if (m == members.back()) continue;
      const ir::Node& n = g.nodes[size_t(m)];
      RecordFused(fused, n);
      names += ", '" + n.name + "'";
      g.value_infos.erase(n.outputs[0]);
      remove[size_t(m)] = true;
    }
    ir::SetEwProgram(fused, program);
    Note(report, kPass,
         "'" + root.name + "'" + names + " -> FusedElementwise: " + program.ToString());
    root = std::move(fused);
  }
  RemoveNodes(g, remove);
  return Status::Ok();
}

}  // namespace refit::passes
