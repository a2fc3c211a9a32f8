// matmul_add_to_gemm: MatMul(x, W) -> Add(bias) becomes Gemm(x, W, bias) when x has rank 2, W is a
// [K, N] weight and bias an [N] or [1, N] weight, so later passes and tactics see one fused op.
// The weights are read by name as they are; no value is computed here.
#include <algorithm>

#include "passes/pass_util.h"

namespace refit::passes {
namespace {

constexpr char kPass[] = "matmul_add_to_gemm";

// True when `name` is a weight of `n` elements shaped [n] or [1, n].
bool IsRowBias(const ir::Graph& g, const std::string& name, int64_t n, DataType dtype) {
  if (!IsWeight(g, name)) return false;
  auto info = GetWeightInfo(g, name);
  if (!info.ok() || info->dtype != dtype) return false;
  const Shape& s = info->shape;
  return (s.rank() == 1 && s[0] == n) || (s.rank() == 2 && s[0] == 1 && s[1] == n);
}

}  // namespace

Status MatMulAddToGemmPass(ir::Graph& g, PassReport* report) {
  const std::map<std::string, int> uses = UseCounts(g);
  std::vector<bool> remove(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& mm = g.nodes[i];
    if (mm.op_type != "MatMul" || !mm.domain.empty() || mm.inputs.size() != 2 ||
        mm.outputs.size() != 1)
      continue;
    const std::string& x = mm.inputs[0];
    const std::string& w = mm.inputs[1];
    const std::string& y = mm.outputs[0];
    auto x_dims = StaticDims(g, x);
    if (!x_dims || x_dims->size() != 2 || !IsWeight(g, w)) continue;
    auto w_info = GetWeightInfo(g, w);
    if (!w_info.ok() || w_info->shape.rank() != 2 || !IsFloatingPoint(w_info->dtype)) continue;
    auto u = uses.find(y);
    if (u == uses.end() || u->second != 1 || IsGraphOutput(g, y)) continue;
    // The single reader must be the next Add of this value (anywhere later in the graph).
    size_t a = i + 1;
    while (a < g.nodes.size() && std::find(g.nodes[a].inputs.begin(), g.nodes[a].inputs.end(), y) ==
                                     g.nodes[a].inputs.end())
      ++a;
    if (a == g.nodes.size()) continue;
    ir::Node& add = g.nodes[a];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2) continue;
    const std::string bias = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
    if (!IsRowBias(g, bias, w_info->shape[1], w_info->dtype)) continue;
    const std::string mm_name = mm.name;
    add.op_type = "Gemm";
    add.inputs = {x, w, bias};
    add.attrs = ir::AttributeMap();
    add.fused.push_back(mm_name);
    add.fused.insert(add.fused.end(), mm.fused.begin(), mm.fused.end());
    g.value_infos.erase(y);
    remove[i] = true;
    Note(report, kPass, "'" + mm_name + "' + '" + add.name + "' -> Gemm");
  }
  RemoveNodes(g, remove);
  return Status::Ok();
}

}  // namespace refit::passes
