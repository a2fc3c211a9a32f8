#include "passes/fusion_util.h"

#include <algorithm>

namespace refit::passes {

namespace {

// Operators whose first output has their first input's dtype.
bool KeepsDtype(const ir::Node& n) {
  if (n.domain == "refit") return true;
  if (!n.domain.empty()) return false;
  static const char* const kOps[] = {"Conv",
                                     "ConvTranspose",
                                     "Gemm",
                                     "MatMul",
                                     "Relu",
                                     "Sigmoid",
                                     "Tanh",
                                     "Erf",
                                     "Exp",
                                     "Log",
                                     "Sqrt",
                                     "Neg",
                                     "Abs",
                                     "Reciprocal",
                                     "Add",
                                     "Sub",
                                     "Mul",
                                     "Div",
                                     "Pow",
                                     "Max",
                                     "Min",
                                     "Clip",
                                     "LeakyRelu",
                                     "HardSigmoid",
                                     "HardSwish",
                                     "BatchNormalization",
                                     "Reshape",
                                     "Transpose",
                                     "Unsqueeze",
                                     "Squeeze",
                                     "Flatten",
                                     "InstanceNormalization",
                                     "LayerNormalization",
                                     "ReduceMean",
                                     "Identity",
                                     "Softmax"};
  for (const char* op : kOps) {
    if (n.op_type == op) return true;
  }
  return false;
}

DataType ValueDtypeAt(const ir::Graph& g, const std::string& name, int depth) {
  if (const ir::ValueInfo* v = g.FindInput(name)) return v->dtype;
  if (IsWeight(g, name)) {
    auto info = GetWeightInfo(g, name);
    return info.ok() ? info->dtype : DataType::kUndefined;
  }
  auto it = g.value_infos.find(name);
  if (it != g.value_infos.end() && it->second.dtype != DataType::kUndefined) {
    return it->second.dtype;
  }
  if (const Tensor* t = ConstantNodeValue(g, name)) return t->dtype();
  // Hand-built graphs carry no inferred types: follow dtype-preserving producers a little way.
  const int p = ProducerOf(g, name);
  if (p < 0 || depth > 16) return DataType::kUndefined;
  const ir::Node& n = g.nodes[size_t(p)];
  if (n.outputs.empty() || n.outputs[0] != name || n.inputs.empty() || !KeepsDtype(n)) {
    return DataType::kUndefined;
  }
  return ValueDtypeAt(g, n.inputs[0], depth + 1);
}

}  // namespace

DataType ValueDtype(const ir::Graph& g, const std::string& name) {
  return ValueDtypeAt(g, name, 0);
}

std::map<std::string, std::vector<int>> ReaderIndex(const ir::Graph& g) {
  std::map<std::string, std::vector<int>> readers;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const std::string& in : g.nodes[i].inputs) {
      if (in.empty()) continue;
      std::vector<int>& r = readers[in];
      if (r.empty() || r.back() != int(i)) r.push_back(int(i));
    }
  }
  return readers;
}

const Tensor* ConstantNodeValue(const ir::Graph& g, const std::string& name) {
  if (name.empty() || IsWeight(g, name)) return nullptr;
  const int p = ProducerOf(g, name);
  if (p < 0) return nullptr;
  const ir::Node& n = g.nodes[size_t(p)];
  if (n.op_type != "Constant" || !n.domain.empty() || n.outputs.size() != 1) return nullptr;
  auto t = n.attrs.GetTensor("value");
  return t.ok() ? *t : nullptr;
}

std::optional<std::vector<int64_t>> ConstantInts(const Tensor& t) {
  std::vector<int64_t> v(size_t(t.NumElements()));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t.dtype() == DataType::kI64) {
      v[i] = t.data_as<int64_t>()[i];
    } else if (t.dtype() == DataType::kI32) {
      v[i] = t.data_as<int32_t>()[i];
    } else {
      return std::nullopt;
    }
  }
  return v;
}

std::optional<ScalarConstant> GetScalarConstant(const ir::Graph& g, const std::string& name) {
  const Tensor* t = ConstantNodeValue(g, name);
  if (t == nullptr || t->NumElements() != 1) return std::nullopt;
  if (t->dtype() == DataType::kF32)
    return ScalarConstant{t->data_as<float>()[0], t->shape().rank()};
  if (t->dtype() == DataType::kF64) {
    return ScalarConstant{float(t->data_as<double>()[0]), t->shape().rank()};
  }
  return std::nullopt;
}

void RecordFused(ir::Node& survivor, const ir::Node& absorbed) {
  survivor.fused.push_back(absorbed.name);
  survivor.fused.insert(survivor.fused.end(), absorbed.fused.begin(), absorbed.fused.end());
}

}  // namespace refit::passes
