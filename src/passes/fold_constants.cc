// fold_constants: nodes computable at build time from values that no weight influences become
// Constant nodes. Seeds are Constant nodes' outputs and the shapes of statically shaped values
// (Shape / Size, computed here); a weight, or anything downstream of one, is never folded, so no
// baked value can go stale when the weights are refit.
#include <algorithm>
#include <memory>
#include <set>

#include "passes/pass_util.h"

namespace refit::passes {
namespace {

constexpr char kPass[] = "fold_constants";
constexpr int64_t kMaxFoldedElements = int64_t{1} << 20;

bool NeverFold(const ir::Node& n) {
  static const std::set<std::string> kOps = {"Constant",
                                             "RandomNormal",
                                             "RandomUniform",
                                             "RandomNormalLike",
                                             "RandomUniformLike",
                                             "Multinomial",
                                             "Bernoulli",
                                             "If",
                                             "Loop",
                                             "Scan"};
  if (!n.domain.empty() || kOps.count(n.op_type)) return true;
  for (const auto& [_, a] : n.attrs.all()) {
    if (a.kind == ir::Attribute::Kind::kOther) return true;  // subgraphs and the like
  }
  return false;
}

// Shape and Size of a value whose dims are all known, without reading the value.
StatusOr<Tensor> StaticShapeOp(const ir::Node& n, const std::vector<int64_t>& dims) {
  const int64_t rank = int64_t(dims.size());
  if (n.op_type == "Size") {
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    return Tensor::FromVector<int64_t>(Shape{}, {count});
  }
  REFIT_ASSIGN_OR_RETURN(int64_t start, n.attrs.GetInt("start", 0));
  REFIT_ASSIGN_OR_RETURN(int64_t end, n.attrs.GetInt("end", rank));
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> out(dims.begin() + start, dims.begin() + std::max(start, end));
  return Tensor::FromVector<int64_t>(Shape{int64_t(out.size())}, out);
}

// Evaluates `n` when it is foldable; an empty vector when it is not.
StatusOr<std::vector<Tensor>> TryEvaluate(const ir::Graph& g, const ir::Node& n,
                                          const std::map<std::string, Tensor>& consts,
                                          const NodeEvaluator& evaluator) {
  std::vector<Tensor> outs;
  if (NeverFold(n)) return outs;
  if ((n.op_type == "Shape" || n.op_type == "Size") && n.inputs.size() == 1) {
    auto dims = StaticDims(g, n.inputs[0]);
    if (!dims || std::any_of(dims->begin(), dims->end(), [](int64_t d) { return d < 0; }))
      return outs;
    REFIT_ASSIGN_OR_RETURN(Tensor t, StaticShapeOp(n, *dims));
    outs.push_back(std::move(t));
    return outs;
  }
  std::vector<const Tensor*> inputs;
  for (const std::string& in : n.inputs) {
    if (in.empty()) {
      inputs.push_back(nullptr);
      continue;
    }
    auto it = consts.find(in);
    if (it == consts.end()) return outs;  // a run-time input, a weight, or downstream of one
    inputs.push_back(&it->second);
  }
  if (inputs.empty()) return outs;
  REFIT_RETURN_IF_ERROR(evaluator(n, g.opset, inputs, &outs));
  return outs;
}

}  // namespace

Status FoldConstantsPass(ir::Graph& g, const NodeEvaluator& evaluator, PassReport* report) {
  if (!evaluator) return InvalidArgument("fold_constants: no node evaluator given");
  std::map<std::string, Tensor> consts;
  std::vector<ir::Node> nodes;
  for (ir::Node& n : g.nodes) {
    if (n.op_type == "Constant" && n.domain.empty() && n.outputs.size() == 1) {
      std::vector<Tensor> outs;
      if (evaluator(n, g.opset, {}, &outs).ok() && outs.size() == 1 && outs[0].defined())
        consts.emplace(n.outputs[0], std::move(outs[0]));
      nodes.push_back(std::move(n));
      continue;
    }
    auto outs = TryEvaluate(g, n, consts, evaluator);
    if (!outs.ok()) {
      // Not folding is always correct: the node runs (and reports its error) at run time.
      Note(report, std::string(kPass) + ".skipped", "'" + n.name + "': " + outs.status().message());
      nodes.push_back(std::move(n));
      continue;
    }
    bool fold = !outs->empty() && outs->size() == n.outputs.size();
    for (size_t o = 0; fold && o < outs->size(); ++o) {
      fold = (*outs)[o].defined() || n.outputs[o].empty();
      fold = fold && (!(*outs)[o].defined() || (*outs)[o].NumElements() <= kMaxFoldedElements);
    }
    if (!fold) {
      nodes.push_back(std::move(n));
      continue;
    }
    Note(report, kPass, "'" + n.name + "' (" + n.op_type + ")");
    for (size_t o = 0; o < outs->size(); ++o) {
      if (n.outputs[o].empty()) continue;
      nodes.push_back(
          ConstantNode(n.outputs.size() == 1 ? n.name : n.name + "/" + std::to_string(o),
                       n.outputs[o], (*outs)[o].Clone()));
      consts.emplace(n.outputs[o], std::move((*outs)[o]));
    }
  }
  g.nodes = std::move(nodes);
  return Status::Ok();
}

}  // namespace refit::passes
