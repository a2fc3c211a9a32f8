// fuse_residual: Add(Conv(...), Z), a residual connection, becomes the Conv alone with Z as its
// fused residual (ir/fused_ops.h: input 3, added before the fused activation), writing the Add's
// output. Conditions: the Conv's f32 output is read by that Add alone and is no graph output; the
// Conv has no fused activation or residual yet; Z is an f32 activation (not a weight or a
// Constant) of exactly the output's static shape (no broadcast). The Conv moves to the Add's place
// in the node order, where Z is already computed; fuse_activation, which runs next, then fuses a
// Relu after the sum into it, as in a ResNet block. When both operands qualify (a downsample
// branch), the Conv later in the node order takes the other one's output as Z. No weight changes.
#include "ir/fused_ops.h"
#include "passes/fusion_util.h"

namespace refit::passes {
namespace {

constexpr char kPass[] = "fuse_residual";

// Why the Add's operand `k`, the output of node `p` (-1: none), cannot absorb the Add, or "" when
// it can.
std::string Check(const ir::Graph& g, const ir::Node& add, size_t k, int p,
                  const std::map<std::string, int>& uses, const std::vector<bool>& removed) {
  const std::string& x = add.inputs[k];
  const std::string& z = add.inputs[1 - k];
  if (x == z) return "the Add reads one value twice";
  if (p < 0 || removed[size_t(p)]) return "operand is not a node's output";
  const ir::Node& conv = g.nodes[size_t(p)];
  if (conv.op_type != "Conv" || !conv.domain.empty() || conv.outputs.size() != 1) {
    return "operand is not a Conv's output";
  }
  if (conv.inputs.size() > ir::kResidualInput || ir::HasFusedResidual(conv)) {
    return "the Conv already has a residual";
  }
  if (conv.attrs.Has(ir::kActivationAttr)) return "the Conv has a fused activation";
  auto use = uses.find(x);
  if (use == uses.end() || use->second != 1 || IsGraphOutput(g, x)) {
    return "the Conv's output has other readers";
  }
  if (IsWeight(g, z)) return "the other operand is a weight";
  const int zp = ProducerOf(g, z);
  if (zp >= 0 && g.nodes[size_t(zp)].op_type == "Constant") return "the other operand is constant";
  for (const std::string& v : {x, z, add.outputs[0]}) {
    if (ValueDtype(g, v) != DataType::kF32) return "'" + v + "' is not f32";
  }
  const auto xs = StaticDims(g, x), zs = StaticDims(g, z), ys = StaticDims(g, add.outputs[0]);
  if (!xs || !zs || !ys) return "shapes not static";
  if (*xs != *zs || *xs != *ys) return "the operands' shapes differ (broadcast)";
  return "";
}

}  // namespace

Status FuseResidualPass(ir::Graph& g, PassReport* report) {
  const std::map<std::string, int> uses = UseCounts(g);
  std::vector<bool> remove(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& add = g.nodes[i];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2 ||
        add.outputs.size() != 1) {
      continue;
    }
    int conv = -1;
    size_t operand = 0;
    std::string why;
    for (size_t k = 0; k < 2; ++k) {
      const int p = ProducerOf(g, add.inputs[k]);
      const std::string skip = Check(g, add, k, p, uses, remove);
      if (skip.empty() && p > conv) {
        conv = p;
        operand = k;
      } else if (!skip.empty() && why.empty()) {
        why = skip;
      }
    }
    if (conv < 0) {
      Note(report, std::string(kPass) + ".skipped", "kept '" + add.name + "': " + why);
      continue;
    }
    ir::Node fused = g.nodes[size_t(conv)];
    g.value_infos.erase(fused.outputs[0]);
    fused.inputs.resize(ir::kResidualInput);  // an absent bias becomes ""
    fused.inputs.push_back(add.inputs[1 - operand]);
    fused.outputs[0] = add.outputs[0];
    ir::SetFusedResidual(fused);
    RecordFused(fused, add);
    Note(report, kPass, "fused '" + add.name + "' into '" + fused.name + "'");
    g.nodes[i] = std::move(fused);
    remove[size_t(conv)] = true;
  }
  RemoveNodes(g, remove);
  return Status::Ok();
}

}  // namespace refit::passes
