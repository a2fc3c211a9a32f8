// fold_batchnorm: Conv / ConvTranspose / Gemm -> BatchNormalization (inference) becomes the
// producer alone, reading derived weight bn_scale(W, gamma, var) and bias bn_bias(B, gamma, beta,
// mean, var). The folded values only ever come from evaluating those recipes.
#include "passes/pass_util.h"

namespace refit::passes {
namespace {

constexpr char kPass[] = "fold_batchnorm";

// Why a candidate was not folded, or empty when it was.
using Skip = std::string;

// Builds the scaled-weight recipe. For a grouped ConvTranspose ([C_in, C_out/g, k...]) the output
// channel is (group, j), spread over axes 0 and 1; the recipe regroups the weight so those two
// factors are adjacent, scales along the merged axis, and restores the layout.
Skip ScaledWeight(const ir::Graph& g, const ir::Node& p, const std::string& w, const Shape& ws,
                  int64_t c, const ir::Node& bn, float eps, ir::WeightRecipe* out) {
  ir::WeightRecipe& r = *out;
  int x = r.Append(*RecipeOf(g, w));
  const int gamma = r.Append(*RecipeOf(g, bn.inputs[1]));
  const int var = r.Append(*RecipeOf(g, bn.inputs[4]));
  if (p.op_type == "Conv") {
    if (ws.rank() < 3 || ws[0] != c) return "weight shape " + ws.ToString() + " vs channels";
    r.AddBnScale(x, gamma, var, eps, 0);
    return "";
  }
  if (p.op_type == "Gemm") {
    const int64_t trans_b = p.attrs.GetInt("transB", 0).ok() ? *p.attrs.GetInt("transB", 0) : -1;
    const int64_t axis = trans_b == 1 ? 0 : 1;
    if (trans_b < 0 || ws.rank() != 2 || ws[size_t(axis)] != c) return "Gemm B layout";
    r.AddBnScale(x, gamma, var, eps, axis);
    return "";
  }
  auto group_or = p.attrs.GetInt("group", 1);
  const int64_t group = group_or.ok() ? *group_or : 0;
  if (ws.rank() < 3 || group < 1 || ws[1] * group != c || ws[0] % group != 0)
    return "ConvTranspose weight shape " + ws.ToString();
  if (group == 1) {
    r.AddBnScale(x, gamma, var, eps, 1);
    return "";
  }
  int64_t k = 1;
  for (size_t d = 2; d < ws.rank(); ++d) k *= ws[d];
  const int64_t cin_g = ws[0] / group, cout_g = ws[1];
  x = r.AddTranspose(r.AddReshape(x, {group, cin_g, cout_g, k}), {1, 0, 2, 3});
  x = r.AddBnScale(r.AddReshape(x, {cin_g, group * cout_g, k}), gamma, var, eps, 1);
  x = r.AddTranspose(r.AddReshape(x, {cin_g, group, cout_g, k}), {1, 0, 2, 3});
  r.AddReshape(x, ws.dims());
  return "";
}

// Checks one BN and its producer; on success rewrites the producer and returns "".
Skip TryFold(ir::Graph& g, size_t bn_index, int p_index, const std::map<std::string, int>& uses) {
  const ir::Node& bn = g.nodes[bn_index];
  if (bn.inputs.size() != 5) return "needs 5 inputs";
  for (size_t o = 1; o < bn.outputs.size(); ++o) {
    if (!bn.outputs[o].empty()) return "training statistics outputs requested";
  }
  auto training = bn.attrs.GetInt("training_mode", 0);
  if (!training.ok() || *training != 0) return "training mode";
  auto eps = bn.attrs.GetFloat("epsilon", 1e-5f);
  if (!eps.ok()) return eps.status().message();
  if (p_index < 0) return "input is not produced by a node";
  ir::Node& p = g.nodes[size_t(p_index)];
  if (!p.domain.empty() ||
      (p.op_type != "Conv" && p.op_type != "ConvTranspose" && p.op_type != "Gemm"))
    return "producer is " + p.op_type;
  const std::string& x = bn.inputs[0];
  if (uses.at(x) != 1 || IsGraphOutput(g, x)) return "producer output has other readers";
  if (p.inputs.size() < 2 || !IsWeight(g, p.inputs[1])) return "producer weight is not a weight";
  const std::string bias = p.inputs.size() > 2 ? p.inputs[2] : "";
  if (!bias.empty() && !IsWeight(g, bias)) return "producer bias is not a weight";
  for (size_t i = 1; i < 5; ++i) {
    if (!IsWeight(g, bn.inputs[i])) return "BN parameter '" + bn.inputs[i] + "' is not a weight";
  }
  // Shapes and dtypes: everything must be f32, one value per channel.
  auto w_info = GetWeightInfo(g, p.inputs[1]);
  auto var_info = GetWeightInfo(g, bn.inputs[4]);
  if (!w_info.ok() || !var_info.ok()) return "cannot read weight shapes";
  const int64_t c = var_info->shape.NumElements();
  std::vector<std::string> f32_names = {p.inputs[1], bn.inputs[1], bn.inputs[2], bn.inputs[3],
                                        bn.inputs[4]};
  if (!bias.empty()) f32_names.push_back(bias);
  for (const std::string& n : f32_names) {
    auto info = GetWeightInfo(g, n);
    if (!info.ok() || info->dtype != DataType::kF32) return "'" + n + "' is not f32";
    if (n != p.inputs[1] && info->shape.NumElements() != c) return "'" + n + "' size";
  }
  if (p.op_type == "Gemm" && !bias.empty()) {
    auto beta = p.attrs.GetFloat("beta", 1.f);
    if (!beta.ok() || *beta != 1.f) return "Gemm with beta != 1";
  }
  ir::WeightRecipe w_recipe;
  Skip why = ScaledWeight(g, p, p.inputs[1], w_info->shape, c, bn, *eps, &w_recipe);
  if (!why.empty()) return why;
  ir::WeightRecipe b_recipe;
  int b = -1;
  if (!bias.empty()) {
    b = b_recipe.Append(*RecipeOf(g, bias));
    b = b_recipe.AddReshape(b, {c});  // Gemm's C may be [1, C]
  }
  const int gamma = b_recipe.Append(*RecipeOf(g, bn.inputs[1]));
  const int beta = b_recipe.Append(*RecipeOf(g, bn.inputs[2]));
  const int mean = b_recipe.Append(*RecipeOf(g, bn.inputs[3]));
  const int var = b_recipe.Append(*RecipeOf(g, bn.inputs[4]));
  b_recipe.AddBnBias(b, gamma, beta, mean, var, *eps);

  const std::string w_name = UniqueValueName(g, p.inputs[1] + ".bn_folded");
  g.derived_weights.emplace(w_name, std::move(w_recipe));
  const std::string b_name =
      UniqueValueName(g, (bias.empty() ? p.inputs[1] + ".bias" : bias) + ".bn_folded");
  g.derived_weights.emplace(b_name, std::move(b_recipe));
  p.inputs.resize(3);
  p.inputs[1] = w_name;
  p.inputs[2] = b_name;
  if (p.op_type == "Gemm") {
    ir::Attribute one;
    one.kind = ir::Attribute::Kind::kFloat;
    one.f = 1.f;
    p.attrs.Set("beta", one);
  }
  g.value_infos.erase(x);
  p.outputs[0] = bn.outputs[0];
  p.fused.push_back(bn.name);
  p.fused.insert(p.fused.end(), bn.fused.begin(), bn.fused.end());
  return "";
}

}  // namespace

Status FoldBatchNormPass(ir::Graph& g, PassReport* report) {
  const std::map<std::string, int> uses = UseCounts(g);
  std::vector<bool> remove(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& bn = g.nodes[i];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.inputs.empty()) continue;
    const std::string bn_name = bn.name;
    const int p = ProducerOf(g, bn.inputs[0]);
    const std::string producer = p >= 0 ? g.nodes[size_t(p)].name : "";
    Skip why = TryFold(g, i, p, uses);
    if (!why.empty()) {
      Note(report, std::string(kPass) + ".skipped", "kept '" + bn_name + "': " + why);
      continue;
    }
    remove[i] = true;
    Note(report, kPass, "folded '" + bn_name + "' into '" + producer + "'");
  }
  RemoveNodes(g, remove);
  return Status::Ok();
}

}  // namespace refit::passes
