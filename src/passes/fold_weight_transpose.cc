// fold_weight_transpose: Transpose(W) of a weight feeding only MatMul / Gemm (how PyTorch exports
// nn.Linear without constant folding) becomes a derived weight transpose(W) under the Transpose's
// output name, so consumers are untouched and the transpose is replayed at refit.
#include <algorithm>

#include "passes/pass_util.h"

namespace refit::passes {
namespace {

constexpr char kPass[] = "fold_weight_transpose";

// True when every reader of `value` is a MatMul or Gemm (and there is at least one).
bool OnlyMatMulReaders(const ir::Graph& g, const std::string& value) {
  int readers = 0;
  for (const ir::Node& n : g.nodes) {
    if (std::find(n.inputs.begin(), n.inputs.end(), value) == n.inputs.end()) continue;
    if (!n.domain.empty() || (n.op_type != "MatMul" && n.op_type != "Gemm")) return false;
    ++readers;
  }
  return readers > 0;
}

}  // namespace

Status FoldWeightTransposePass(ir::Graph& g, PassReport* report) {
  std::vector<bool> remove(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& t = g.nodes[i];
    if (t.op_type != "Transpose" || !t.domain.empty() || t.inputs.size() != 1 ||
        t.outputs.size() != 1 || !IsWeight(g, t.inputs[0]))
      continue;
    const std::string& out = t.outputs[0];
    if (IsGraphOutput(g, out) || !OnlyMatMulReaders(g, out)) continue;
    auto info = GetWeightInfo(g, t.inputs[0]);
    if (!info.ok()) continue;
    const int64_t rank = int64_t(info->shape.rank());
    std::vector<int64_t> perm;
    for (int64_t d = rank - 1; d >= 0; --d) perm.push_back(d);  // ONNX default: reverse
    auto attr = t.attrs.GetInts("perm", perm);
    if (!attr.ok()) continue;
    perm = *attr;
    std::vector<bool> seen(size_t(rank), false);
    bool valid = int64_t(perm.size()) == rank;
    for (int64_t p : perm) {
      valid = valid && p >= 0 && p < rank && !seen[size_t(p)];
      if (valid) seen[size_t(p)] = true;
    }
    if (!valid) continue;  // the kernel reports a bad perm with the node's name at run time
    ir::WeightRecipe r;
    r.AddTranspose(r.Append(*RecipeOf(g, t.inputs[0])), perm);
    Note(report, kPass, "'" + t.name + "': " + r.ToString());
    g.derived_weights.emplace(out, std::move(r));
    // The Transpose now lives in its readers' weight: list it with them for `inspect`.
    for (ir::Node& reader : g.nodes) {
      if (std::find(reader.inputs.begin(), reader.inputs.end(), out) == reader.inputs.end())
        continue;
      reader.fused.push_back(t.name);
      reader.fused.insert(reader.fused.end(), t.fused.begin(), t.fused.end());
    }
    g.value_infos.erase(out);
    remove[i] = true;
  }
  RemoveNodes(g, remove);
  return Status::Ok();
}

}  // namespace refit::passes
