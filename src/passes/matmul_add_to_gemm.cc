// matmul_add_to_gemm: MatMul(x, W) -> Add(bias) becomes Gemm(x, W, bias) when x has rank 2, W is a
// [K, N] weight and bias an [N] or [1, N] weight, so later passes and tactics see one fused op.
// An x of higher rank with static dims [..., M, K] (a transformer's activations) is a row-major
// [rows, K] matrix: Reshape(x) -> Gemm -> Reshape back to [..., M, N], the Reshapes free aliases in
// an engine and their shapes Constant nodes (no weight is added). The weights are read by name as
// they are; no value is computed here.
#include <algorithm>
#include <functional>
#include <numeric>
#include <set>

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

// A static dims list: every dim known and positive.
bool AllStatic(const std::vector<int64_t>& dims) {
  return std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d > 0; });
}

// `dims` as an int64 [dims.size()] tensor (a Reshape's shape input).
Tensor ShapeTensor(std::vector<int64_t> dims) {
  const int64_t rank = int64_t(dims.size());
  return Tensor::FromVector<int64_t>(Shape{rank}, std::move(dims));
}

void SetValueInfo(ir::Graph& g, const std::string& name, DataType dtype,
                  std::vector<int64_t> dims) {
  ir::ValueInfo vi;
  vi.name = name;
  vi.dtype = dtype;
  vi.dim_params.assign(dims.size(), "");
  vi.dims = std::move(dims);
  vi.has_shape = true;
  g.value_infos[name] = std::move(vi);
}

}  // namespace

Status MatMulAddToGemmPass(ir::Graph& g, PassReport* report) {
  const std::map<std::string, int> uses = UseCounts(g);
  std::vector<bool> remove(g.nodes.size(), false);
  // Nodes to place right before / after the node of an index.
  std::map<size_t, std::vector<ir::Node>> insert_before, insert_after;
  // Value names this pass made (not in the graph until its nodes are placed).
  std::set<std::string> made;
  auto fresh = [&](const std::string& base) {
    std::string name = UniqueValueName(g, base);
    for (int k = 1; made.count(name) != 0; ++k)
      name = UniqueValueName(g, base + "_" + std::to_string(k));
    made.insert(name);
    return name;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& mm = g.nodes[i];
    if (mm.op_type != "MatMul" || !mm.domain.empty() || mm.inputs.size() != 2 ||
        mm.outputs.size() != 1)
      continue;
    const std::string x = mm.inputs[0];
    const std::string w = mm.inputs[1];
    const std::string y = mm.outputs[0];
    auto x_dims = StaticDims(g, x);
    if (!x_dims || x_dims->size() < 2 || !IsWeight(g, w)) continue;
    const bool rows_view = x_dims->size() > 2;
    if (rows_view && !AllStatic(*x_dims)) continue;
    auto w_info = GetWeightInfo(g, w);
    if (!w_info.ok() || w_info->shape.rank() != 2 || !IsFloatingPoint(w_info->dtype)) continue;
    if (x_dims->back() != w_info->shape[0] && x_dims->back() > 0) continue;
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
    const std::vector<std::string> mm_fused = mm.fused;
    std::string gemm_x = x;
    if (rows_view) {
      // x as [rows, K], in the MatMul's place; the Gemm's [rows, N] back to [..., M, N] after it.
      const int64_t k = x_dims->back(), n = w_info->shape[1];
      const int64_t rows = std::accumulate(x_dims->begin(), x_dims->end() - 1, int64_t{1},
                                           std::multiplies<int64_t>());
      std::vector<int64_t> out_dims(x_dims->begin(), x_dims->end() - 1);
      out_dims.push_back(n);
      gemm_x = fresh(mm_name + "/refit_rows");
      const std::string gemm_y = fresh(add.name + "/refit_gemm_rows");
      const std::string in_shape = fresh(mm_name + "/refit_rows_shape");
      const std::string out_shape = fresh(add.name + "/refit_out_shape");
      insert_before[i].push_back(ConstantNode(in_shape, in_shape, ShapeTensor({rows, k})));
      ir::Node in;
      in.op_type = "Reshape";
      in.name = mm_name + "/refit_rows_view";
      in.inputs = {x, in_shape};
      in.outputs = {gemm_x};
      insert_after[a].push_back(ConstantNode(out_shape, out_shape, ShapeTensor(out_dims)));
      ir::Node back;
      back.op_type = "Reshape";
      back.name = add.name + "/refit_rows_back";
      back.inputs = {gemm_y, out_shape};
      back.outputs = add.outputs;
      insert_after[a].push_back(std::move(back));
      SetValueInfo(g, gemm_x, w_info->dtype, {rows, k});
      SetValueInfo(g, gemm_y, w_info->dtype, {rows, n});
      g.nodes[a].outputs = {gemm_y};
      g.nodes[i] = std::move(in);  // (invalidates `mm`)
    } else {
      remove[i] = true;
    }
    ir::Node& gemm = g.nodes[a];
    gemm.op_type = "Gemm";
    gemm.inputs = {gemm_x, w, bias};
    gemm.attrs = ir::AttributeMap();
    gemm.fused.push_back(mm_name);
    gemm.fused.insert(gemm.fused.end(), mm_fused.begin(), mm_fused.end());
    g.value_infos.erase(y);
    Note(report, kPass,
         "'" + mm_name + "' + '" + gemm.name + "' -> Gemm" + (rows_view ? " over rows" : ""));
  }
  std::vector<ir::Node> nodes;
  nodes.reserve(g.nodes.size() + 4 * insert_after.size());
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    for (ir::Node& n : insert_before[k]) nodes.push_back(std::move(n));
    if (!remove[k]) nodes.push_back(std::move(g.nodes[k]));
    for (ir::Node& n : insert_after[k]) nodes.push_back(std::move(n));
  }
  g.nodes = std::move(nodes);
  return Status::Ok();
}

}  // namespace refit::passes
