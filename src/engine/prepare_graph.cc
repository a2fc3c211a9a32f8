#include "engine/prepare_graph.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>

#include "backend/reference/evaluate_node.h"
#include "passes/fusion_util.h"
#include "passes/pass_util.h"

namespace refit::engine::internal {
namespace {

using TypeMap = std::map<std::string, backend::TensorDesc>;

std::string DimsToString(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s.empty() ? "scalar" : s;
}

Status FixInputShapes(ir::Graph& g, const BuildOptions& options, BuildStats* stats) {
  for (const auto& [name, dims] : options.input_shapes) {
    if (g.FindInput(name) == nullptr) {
      std::string names;
      for (const ir::ValueInfo& v : g.inputs) names += (names.empty() ? "'" : ", '") + v.name + "'";
      return InvalidArgument("--input names '" + name + "', which is not an input of the model (" +
                             "inputs: " + names + ")");
    }
  }
  for (ir::ValueInfo& v : g.inputs) {
    auto given = options.input_shapes.find(v.name);
    if (!v.has_shape) {
      if (given == options.input_shapes.end()) {
        return InvalidArgument("input '" + v.name + "' has no shape in the model; give one with " +
                               "--input " + v.name + ":DIMxDIM...");
      }
      v.dims = given->second;
      v.dim_params.assign(v.dims.size(), "");
      v.has_shape = true;
    }
    if (given != options.input_shapes.end()) {
      if (given->second.size() != v.dims.size()) {
        return InvalidArgument("--input " + v.name + ": rank " +
                               std::to_string(given->second.size()) +
                               ", the model's input has rank " + std::to_string(v.dims.size()));
      }
      for (size_t d = 0; d < v.dims.size(); ++d) {
        if (given->second[d] < 0) {
          return InvalidArgument("--input " + v.name + ": negative dimension");
        }
        if (v.dims[d] >= 0 && v.dims[d] != given->second[d]) {
          return InvalidArgument("--input " + v.name + ": dimension " + std::to_string(d) + " is " +
                                 std::to_string(given->second[d]) + ", the model fixes it to " +
                                 std::to_string(v.dims[d]));
        }
        v.dims[d] = given->second[d];
      }
    }
    for (size_t d = 0; d < v.dims.size(); ++d) {
      if (v.dims[d] < 0) {
        v.dims[d] = 1;
        stats->notes.push_back(
            "input '" + v.name + "': symbolic dimension " +
            (v.dim_params[d].empty() ? std::to_string(d) : "'" + v.dim_params[d] + "'") +
            " set to 1 (give --input " + v.name + ":" + DimsToString(v.dims) + " to choose)");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Tensor> SyntheticInput(const ir::ValueInfo& v, int probe) {
  REFIT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(v.dtype, Shape(v.dims)));
  std::mt19937 rng(uint32_t(17 + probe));
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  const int64_t n = t.NumElements();
  switch (v.dtype) {
    case DataType::kF32:
      for (int64_t i = 0; i < n; ++i) t.mutable_data_as<float>()[i] = float(dist(rng));
      break;
    case DataType::kF64:
      for (int64_t i = 0; i < n; ++i) t.mutable_data_as<double>()[i] = dist(rng);
      break;
    case DataType::kF16:
      for (int64_t i = 0; i < n; ++i) t.mutable_data_as<Half>()[i] = Half(float(dist(rng)));
      break;
    case DataType::kBF16:
      for (int64_t i = 0; i < n; ++i) t.mutable_data_as<BFloat16>()[i] = BFloat16(float(dist(rng)));
      break;
    default:  // integers and bools: 0 on the first probe, 1 on the second (valid indices)
      if (probe == 1) {
        for (int64_t i = 0; i < n; ++i) {
          std::memset(static_cast<char*>(t.mutable_data()) + i * DataTypeSize(v.dtype), 0,
                      DataTypeSize(v.dtype));
          static_cast<char*>(t.mutable_data())[i * DataTypeSize(v.dtype)] = 1;
        }
      }
      break;
  }
  return t;
}

namespace {

// Runs the graph on synthetic inputs and records every value's type.
StatusOr<TypeMap> Probe(const ir::Graph& g, const std::map<std::string, Tensor>& constants,
                        const std::map<std::string, TensorView>& samples, int probe,
                        ThreadPool* pool) {
  std::map<std::string, Tensor> derived;
  for (const auto& [name, recipe] : g.derived_weights) {
    auto value = recipe.Evaluate([&](const std::string& src) { return g.FindWeight(src); });
    if (!value.ok()) return value.status().WithContext("derived weight '" + name + "'");
    derived.emplace(name, std::move(value).value());
  }
  std::unordered_map<std::string, size_t> last_use;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const std::string& in : g.nodes[i].inputs) last_use[in] = i;
  }
  TypeMap types;
  std::unordered_map<std::string, Tensor> values;
  for (const ir::ValueInfo& v : g.inputs) {
    auto sample = samples.find(v.name);
    if (probe == 0 && sample != samples.end()) {
      if (sample->second.dtype() != v.dtype || sample->second.shape() != Shape(v.dims)) {
        return InvalidArgument("sample input '" + v.name + "' is " +
                               std::string(DataTypeName(sample->second.dtype())) +
                               sample->second.shape().ToString() + ", the build expects " +
                               std::string(DataTypeName(v.dtype)) + Shape(v.dims).ToString());
      }
      REFIT_ASSIGN_OR_RETURN(Tensor t, Tensor::CopyOf(sample->second));
      types[v.name] = {t.dtype(), t.shape(), false};
      values.emplace(v.name, std::move(t));
      continue;
    }
    REFIT_ASSIGN_OR_RETURN(Tensor t, SyntheticInput(v, probe));
    types[v.name] = {t.dtype(), t.shape(), false};
    values.emplace(v.name, std::move(t));
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& node = g.nodes[i];
    std::vector<const Tensor*> ins;
    for (const std::string& name : node.inputs) {
      if (name.empty()) {
        ins.push_back(nullptr);
      } else if (auto it = values.find(name); it != values.end()) {
        ins.push_back(&it->second);
      } else if (auto d = derived.find(name); d != derived.end()) {
        ins.push_back(&d->second);
      } else if (auto c = constants.find(name); c != constants.end()) {
        ins.push_back(&c->second);
      } else if (const Tensor* w = g.FindWeight(name)) {
        ins.push_back(w);
      } else {
        return Internal("node '" + node.name + "': value '" + name + "' is not available");
      }
    }
    std::vector<Tensor> outs;
    REFIT_RETURN_IF_ERROR(reference::EvaluateNode(node, g.opset, ins, &outs, pool));
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      if (node.outputs[o].empty()) continue;
      types[node.outputs[o]] = {outs[o].dtype(), outs[o].shape(), false};
      values[node.outputs[o]] = std::move(outs[o]);
    }
    for (const std::string& name : node.inputs) {
      auto lu = last_use.find(name);
      if (lu != last_use.end() && lu->second == i) values.erase(name);
    }
  }
  return types;
}

// Types of every value. With `detect_dynamic`, a second run on other inputs marks the values whose
// shapes differ as dynamic (one reference run of a big model at batch 8 takes seconds: the second
// is skipped when the graph is known to have no dynamic shapes).
StatusOr<TypeMap> ProbeTypes(const ir::Graph& g, const std::map<std::string, Tensor>& constants,
                             const std::map<std::string, TensorView>& samples, bool detect_dynamic,
                             ThreadPool* pool, BuildStats* stats) {
  auto first = Probe(g, constants, samples, 0, pool);
  if (!first.ok()) {
    return first.status().WithContext(
        "running the model on " + std::string(samples.empty() ? "synthetic" : "the sample") +
        " inputs to find its shapes" +
        (samples.empty() ? " (inputs whose values decide shapes need --sample-inputs)" : ""));
  }
  if (!detect_dynamic) return first;
  auto second = Probe(g, constants, {}, 1, pool);
  if (!second.ok()) {
    stats->notes.push_back("second shape probe failed (" + second.status().message() +
                           "); treating every shape as static");
    return first;
  }
  for (auto& [name, desc] : *first) {
    auto it = second->find(name);
    if (it == second->end() || it->second.shape != desc.shape) desc.dynamic = true;
  }
  return first;
}

// Weight-independent Constant nodes become engine constants.
Status ExtractConstants(PreparedGraph& p) {
  std::vector<ir::Node> kept;
  for (ir::Node& n : p.graph.nodes) {
    if (n.op_type != "Constant" || !n.domain.empty()) {
      kept.push_back(std::move(n));
      continue;
    }
    std::vector<Tensor> outs;
    REFIT_RETURN_IF_ERROR(reference::EvaluateNode(n, p.graph.opset, {}, &outs));
    p.constants.emplace(n.outputs[0], std::move(outs[0]));
  }
  p.graph.nodes = std::move(kept);
  return Status::Ok();
}

bool IsRandom(const ir::Node& n) {
  static const std::set<std::string> kRandom = {"RandomNormal",     "RandomUniform",
                                                "RandomNormalLike", "RandomUniformLike",
                                                "Multinomial",      "Bernoulli"};
  return kRandom.count(n.op_type) != 0;
}

// The values of constant input `k` of `n` (absent or not integers: nullopt).
std::optional<std::vector<int64_t>> ConstantInput(const ir::Node& n, size_t k,
                                                  const std::map<std::string, Tensor>& constants) {
  if (k >= n.inputs.size() || n.inputs[k].empty()) return std::nullopt;
  auto it = constants.find(n.inputs[k]);
  return it == constants.end() ? std::nullopt : passes::ConstantInts(it->second);
}

// Appends the slice steps of a Slice node `n` of unit steps over an input of type `in` (constant
// starts, ends, axes, steps as ONNX defines them); false where it is something else.
bool AddSliceSteps(const ir::Node& n, const std::map<std::string, Tensor>& constants,
                   const Shape& in, ir::WeightRecipe* recipe) {
  const auto starts = ConstantInput(n, 1, constants), ends = ConstantInput(n, 2, constants);
  if (!starts || !ends || starts->size() != ends->size()) return false;
  std::vector<int64_t> axes(starts->size());
  for (size_t a = 0; a < axes.size(); ++a) axes[a] = int64_t(a);
  if (n.inputs.size() > 3 && !n.inputs[3].empty()) {
    auto given = ConstantInput(n, 3, constants);
    if (!given || given->size() != axes.size()) return false;
    axes = *given;
  }
  if (n.inputs.size() > 4 && !n.inputs[4].empty()) {
    auto steps = ConstantInput(n, 4, constants);
    if (!steps || steps->size() != axes.size()) return false;
    for (int64_t step : *steps) {
      if (step != 1) return false;
    }
  }
  const int64_t rank = int64_t(in.rank());
  for (size_t a = 0; a < axes.size(); ++a) {
    const int64_t axis = axes[a] < 0 ? axes[a] + rank : axes[a];
    if (axis < 0 || axis >= rank) return false;
    const int64_t dim = in[size_t(axis)];
    auto clamp = [dim](int64_t v) { return std::clamp(v < 0 ? v + dim : v, int64_t(0), dim); };
    const int64_t start = clamp((*starts)[a]), end = std::max(start, clamp((*ends)[a]));
    if (start == 0 && end == dim) continue;
    recipe->AddSlice(int(recipe->steps().size()) - 1, axis, start, end);
  }
  return true;
}

// A Gather of consecutive ascending indices (position ids 0..n-1 reading a position embedding) is
// a slice along its axis; anything else is false.
bool AddGatherSlice(const ir::Node& n, const std::map<std::string, Tensor>& constants,
                    const Shape& in, ir::WeightRecipe* recipe) {
  const auto indices = ConstantInput(n, 1, constants);
  auto axis = n.attrs.GetInt("axis", 0);
  if (!indices || indices->empty() || !axis.ok()) return false;
  const int64_t rank = int64_t(in.rank()), a = *axis < 0 ? *axis + rank : *axis;
  if (a < 0 || a >= rank) return false;
  const int64_t dim = in[size_t(a)];
  const int64_t first = (*indices)[0] < 0 ? (*indices)[0] + dim : (*indices)[0];
  for (size_t k = 0; k < indices->size(); ++k) {
    const int64_t v = (*indices)[k] < 0 ? (*indices)[k] + dim : (*indices)[k];
    if (v != first + int64_t(k) || v < 0 || v >= dim) return false;
  }
  recipe->AddSlice(int(recipe->steps().size()) - 1, a, first, first + int64_t(indices->size()));
  return true;
}

// The recipe for `n` when it only reshapes, transposes, broadcasts, slices or casts one weight
// (its other inputs constants): the weight's own recipe followed by a reshape or a broadcast to
// the output's probed shape, a transpose, slices (a Slice of unit steps, a Gather of consecutive
// indices, then reshaped to the output's shape), or a cast to its probed float dtype.
std::optional<ir::WeightRecipe> LayoutRecipe(const ir::Graph& g, const ir::Node& n,
                                             const std::map<std::string, Tensor>& constants) {
  static const std::set<std::string> kReshapes = {"Reshape", "Unsqueeze", "Squeeze", "Flatten",
                                                  "Identity"};
  static const std::set<std::string> kOthers = {"Transpose", "Expand", "Cast", "Slice", "Gather"};
  if (!n.domain.empty() || n.outputs.size() != 1 || n.inputs.empty() ||
      (!kReshapes.count(n.op_type) && !kOthers.count(n.op_type))) {
    return std::nullopt;
  }
  for (size_t i = 1; i < n.inputs.size(); ++i) {
    if (!n.inputs[i].empty() && !constants.count(n.inputs[i])) return std::nullopt;
  }
  std::optional<ir::WeightRecipe> recipe = passes::RecipeOf(g, n.inputs[0]);
  if (!recipe) return std::nullopt;
  auto probed = g.value_infos.find(n.outputs[0]);
  if (probed == g.value_infos.end() || !probed->second.has_shape) return std::nullopt;
  const ir::ValueInfo& out = probed->second;
  const int last = int(recipe->steps().size()) - 1;
  if (n.op_type == "Transpose") {
    auto perm = n.attrs.GetInts("perm", {});
    if (!perm.ok() || perm->empty()) return std::nullopt;  // default perm: rank needed
    recipe->AddTranspose(last, *perm);
  } else if (n.op_type == "Expand") {
    recipe->AddExpand(last, out.dims);
  } else if (n.op_type == "Cast") {
    recipe->AddCast(last, out.dtype);
  } else if (n.op_type == "Slice" || n.op_type == "Gather") {
    auto in = passes::GetWeightInfo(g, n.inputs[0]);
    if (!in.ok()) return std::nullopt;
    const bool sliced = n.op_type == "Slice" ? AddSliceSteps(n, constants, in->shape, &*recipe)
                                             : AddGatherSlice(n, constants, in->shape, &*recipe);
    if (!sliced) return std::nullopt;
    recipe->AddReshape(int(recipe->steps().size()) - 1, out.dims);
  } else {
    recipe->AddReshape(last, out.dims);
  }
  // The recipe must give what the model gave when probed, from the weights as they are now (a
  // cast from an integer, a shape the probe left unknown: the node stays a node).
  auto type = recipe->InferType([&g](const std::string& name) {
    const Tensor* w = g.FindWeight(name);
    return w == nullptr ? std::nullopt
                        : std::optional<ir::WeightRecipe::TensorType>({w->dtype(), w->shape()});
  });
  if (!type.ok() || type->dtype != out.dtype || type->shape.dims() != out.dims) return std::nullopt;
  return recipe;
}

// Nodes whose inputs are all weights, constants or outputs of such nodes. Static builds fold
// them; the others keep them as layers and name them.
Status HandleWeightComputations(PreparedGraph& p, EngineMode mode) {
  ir::Graph& g = p.graph;
  std::set<std::string> weight_values;
  for (const auto& [name, _] : g.weights) weight_values.insert(name);
  for (const auto& [name, _] : g.derived_weights) weight_values.insert(name);
  std::vector<ir::Node> kept;
  std::map<std::string, Tensor> derived;
  for (ir::Node& n : g.nodes) {
    bool weight_only = !IsRandom(n) && !n.inputs.empty();
    bool reads_weight = false;
    for (const std::string& in : n.inputs) {
      if (in.empty()) continue;
      // Before the constants: a static build's folded results are both, and still weights.
      if (weight_values.count(in)) {
        reads_weight = true;
      } else if (!p.constants.count(in)) {
        weight_only = false;
      }
    }
    if (!weight_only || !reads_weight) {
      kept.push_back(std::move(n));
      continue;
    }
    // Pure layout changes of one weight are recipes: refittable, and folded in every mode.
    if (auto recipe = LayoutRecipe(g, n, p.constants); recipe.has_value()) {
      g.derived_weights[n.outputs[0]] = std::move(*recipe);
      weight_values.insert(n.outputs[0]);
      continue;
    }
    if (mode != EngineMode::kStatic) {
      p.weight_computations.push_back(n.name);
      for (const std::string& out : n.outputs) weight_values.insert(out);
      kept.push_back(std::move(n));
      continue;
    }
    std::vector<const Tensor*> ins;
    for (const std::string& in : n.inputs) {
      if (in.empty()) {
        ins.push_back(nullptr);
      } else if (auto c = p.constants.find(in); c != p.constants.end()) {
        ins.push_back(&c->second);
      } else if (const Tensor* w = g.FindWeight(in)) {
        ins.push_back(w);
      } else {
        auto d = derived.find(in);
        if (d == derived.end()) {
          auto value = g.FindDerivedWeight(in)->Evaluate(
              [&](const std::string& src) { return g.FindWeight(src); });
          if (!value.ok()) return value.status().WithContext("derived weight '" + in + "'");
          d = derived.emplace(in, std::move(value).value()).first;
        }
        ins.push_back(&d->second);
      }
    }
    std::vector<Tensor> outs;
    REFIT_RETURN_IF_ERROR(reference::EvaluateNode(n, g.opset, ins, &outs));
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      if (n.outputs[o].empty()) continue;
      p.constants.emplace(n.outputs[o], std::move(outs[o]));
      weight_values.insert(n.outputs[o]);  // so a chain of weight computations folds whole
    }
  }
  g.nodes = std::move(kept);
  return Status::Ok();
}

// A graph output that no node produces (an input or a weight) gets an Identity node, so every
// output is a layer's output in the arena.
void MaterialiseOutputs(ir::Graph& g) {
  std::set<std::string> produced;
  for (const ir::Node& n : g.nodes) produced.insert(n.outputs.begin(), n.outputs.end());
  for (ir::ValueInfo& out : g.outputs) {
    if (produced.count(out.name)) continue;
    ir::Node id;
    id.name = "refit_output_" + out.name;
    id.op_type = "Identity";
    id.inputs = {out.name};
    id.outputs = {out.name + ":refit_output"};
    out.name = id.outputs[0];
    produced.insert(out.name);
    g.nodes.push_back(std::move(id));
  }
}

}  // namespace

StatusOr<PreparedGraph> PrepareGraph(ir::Graph graph, const BuildOptions& options,
                                     passes::PassReport* report, BuildStats* stats) {
  const auto start = std::chrono::steady_clock::now();
  REFIT_RETURN_IF_ERROR(graph.Validate());
  REFIT_RETURN_IF_ERROR(FixInputShapes(graph, options, stats));
  // Concrete shapes everywhere let constant folding settle the shape arithmetic.
  std::unique_ptr<ThreadPool> pool;
  if (options.threads > 1) pool = std::make_unique<ThreadPool>(options.threads);
  REFIT_ASSIGN_OR_RETURN(TypeMap first,
                         ProbeTypes(graph, {}, options.sample_inputs, true, pool.get(), stats));
  bool any_dynamic = false;
  for (const auto& [name, desc] : first) any_dynamic = any_dynamic || desc.dynamic;
  for (const auto& [name, desc] : first) {
    if (desc.dynamic || graph.FindInput(name) != nullptr) continue;
    ir::ValueInfo& vi = graph.value_infos[name];
    vi.name = name;
    vi.dtype = desc.dtype;
    vi.dims = desc.shape.dims();
    vi.dim_params.assign(vi.dims.size(), "");
    vi.has_shape = true;
  }
  passes::PassOptions pass_options;
  pass_options.evaluator = [](const ir::Node& node, int64_t opset,
                              const std::vector<const Tensor*>& inputs,
                              std::vector<Tensor>* outputs) {
    return reference::EvaluateNode(node, opset, inputs, outputs);
  };
  REFIT_RETURN_IF_ERROR(passes::RunDefaultPasses(graph, report, pass_options));
  PreparedGraph p;
  p.graph = std::move(graph);
  REFIT_RETURN_IF_ERROR(ExtractConstants(p));
  REFIT_RETURN_IF_ERROR(HandleWeightComputations(p, options.mode));
  MaterialiseOutputs(p.graph);
  stats->passes_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Types of the final graph (passes add values). Constants are weights to the probe.
  REFIT_ASSIGN_OR_RETURN(p.types, ProbeTypes(p.graph, p.constants, options.sample_inputs,
                                             any_dynamic, pool.get(), stats));
  return p;
}

}  // namespace refit::engine::internal
