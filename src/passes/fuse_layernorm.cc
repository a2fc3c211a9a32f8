// fuse_layernorm: the normalisations PyTorch decomposes when it exports below opset 17 / 18.
// - LayerNorm: m = ReduceMean(x); d = x - m; v = ReduceMean(Pow(d, 2)); y = d / Sqrt(v + eps);
//   then optionally y * gamma and + beta -> refit.LayerNormalization(x, gamma, beta) with axis and
//   epsilon (ONNX LayerNormalization semantics).
// - GroupNorm: Reshape(x, [N, G, -1]) -> InstanceNormalization(s, b) -> Reshape(back to x's shape)
//   -> Mul gamma -> Add beta -> refit.GroupNorm(x, s, b, gamma, beta) with num_groups and epsilon.
// gamma, beta, s and b stay inputs (weights remain refittable); only eps and the shapes, which come
// from Constant nodes and attributes, are read.
#include <algorithm>

#include "ir/fused_ops.h"
#include "passes/fusion_util.h"

namespace refit::passes {
namespace {

constexpr char kPass[] = "fuse_layernorm";

ir::Attribute IntAttr(int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  return a;
}

ir::Attribute FloatAttr(float v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kFloat;
  a.f = v;
  return a;
}

class Fuser {
 public:
  explicit Fuser(ir::Graph& g) : g_(g), readers_(ReaderIndex(g)), remove_(g.nodes.size(), false) {}

  const std::vector<bool>& removed() const { return remove_; }

  // The sole default-domain reader of `v` with type `op`, or null.
  ir::Node* Sole(const std::string& v, const char* op) {
    auto it = readers_.find(v);
    if (it == readers_.end() || it->second.size() != 1 || IsGraphOutput(g_, v)) return nullptr;
    ir::Node& n = g_.nodes[size_t(it->second[0])];
    if (n.op_type != op || !n.domain.empty() || remove_[size_t(it->second[0])]) return nullptr;
    return &n;
  }
  ir::Node* Producer(const std::string& v, const char* op) {
    const int p = ProducerOf(g_, v);
    if (p < 0 || remove_[size_t(p)]) return nullptr;
    ir::Node& n = g_.nodes[size_t(p)];
    return n.op_type == op && n.domain.empty() ? &n : nullptr;
  }
  static std::string Other(const ir::Node& n, const std::string& x) {
    if (n.inputs.size() != 2) return "";
    if (n.inputs[0] == x && n.inputs[1] != x) return n.inputs[1];
    if (n.inputs[1] == x && n.inputs[0] != x) return n.inputs[0];
    return "";
  }

  // ReduceMean's axes, normalised to negative form, when keepdims and known; empty otherwise.
  std::vector<int64_t> MeanAxes(const ir::Node& r, int64_t rank) {
    auto keep = r.attrs.GetInt("keepdims", 1);
    if (!keep.ok() || *keep != 1) return {};
    std::vector<int64_t> axes;
    if (r.attrs.Has("axes")) {
      auto a = r.attrs.GetInts("axes");
      if (!a.ok()) return {};
      axes = *a;
    } else if (r.inputs.size() > 1) {
      const Tensor* t = ConstantNodeValue(g_, r.inputs[1]);
      if (t == nullptr) return {};
      auto a = ConstantInts(*t);
      if (!a) return {};
      axes = *a;
    }
    for (int64_t& a : axes) {
      if (a >= 0 && rank < 0) return {};
      if (a >= 0) a -= rank;
    }
    std::sort(axes.begin(), axes.end());
    for (size_t k = 0; k < axes.size(); ++k) {
      if (axes[k] != -int64_t(axes.size()) + int64_t(k)) return {};  // trailing, contiguous
    }
    return axes;
  }

  // StaticDims, or the dims of a Constant node's value (which shape inference may not record).
  std::optional<std::vector<int64_t>> Dims(const std::string& v) {
    if (auto d = StaticDims(g_, v)) return d;
    if (const Tensor* t = ConstantNodeValue(g_, v)) return t->shape().dims();
    return std::nullopt;
  }

  // True when `v` (gamma or beta) broadcasts over the last `k` axes only.
  bool NormParam(const std::string& v, size_t k) {
    auto dims = Dims(v);
    if (!dims || dims->size() > k || ValueDtype(g_, v) != DataType::kF32) return false;
    return std::all_of(dims->begin(), dims->end(), [](int64_t d) { return d >= 1; });
  }

  void Replace(std::vector<ir::Node*> pattern, ir::Node fused) {
    ir::Node* last = pattern.back();
    fused.outputs = last->outputs;
    for (ir::Node* n : pattern) {
      if (n == last) {
        fused.fused.insert(fused.fused.end(), n->fused.begin(), n->fused.end());
        continue;
      }
      RecordFused(fused, *n);
      const size_t i = size_t(n - g_.nodes.data());
      {
        g_.value_infos.erase(n->outputs[0]);
        remove_[i] = true;
      }
    }
    *last = std::move(fused);
  }

  bool TryLayerNorm(size_t i) {
    ir::Node& sub = g_.nodes[i];
    if (sub.op_type != "Sub" || !sub.domain.empty() || sub.inputs.size() != 2) return false;
    const std::string x = sub.inputs[0];
    ir::Node* mean = Producer(sub.inputs[1], "ReduceMean");
    if (mean == nullptr || mean->inputs.empty() || mean->inputs[0] != x) return false;
    if (Sole(mean->outputs[0], "Sub") != &sub || ValueDtype(g_, x) != DataType::kF32) return false;
    auto dims = StaticDims(g_, x);
    const int64_t rank = dims ? int64_t(dims->size()) : -1;
    const std::vector<int64_t> axes = MeanAxes(*mean, rank);
    if (axes.empty()) return false;
    const std::string d = sub.outputs[0];
    auto rd = readers_.find(d);
    if (rd == readers_.end() || rd->second.size() != 2 || IsGraphOutput(g_, d)) return false;
    ir::Node* pow = nullptr;
    ir::Node* div = nullptr;
    for (int r : rd->second) {
      ir::Node& n = g_.nodes[size_t(r)];
      if (n.op_type == "Pow" && n.inputs.size() == 2 && n.inputs[0] == d) pow = &n;
      if (n.op_type == "Div" && n.inputs.size() == 2 && n.inputs[0] == d) div = &n;
    }
    if (pow == nullptr || div == nullptr) return false;
    auto two = GetScalarConstant(g_, pow->inputs[1]);
    if (!two || two->value != 2.f) return false;
    ir::Node* var = Sole(pow->outputs[0], "ReduceMean");
    if (var == nullptr || MeanAxes(*var, rank) != axes) return false;
    ir::Node* add = Sole(var->outputs[0], "Add");
    if (add == nullptr) return false;
    auto eps = GetScalarConstant(g_, Other(*add, var->outputs[0]));
    ir::Node* sqrt = Sole(add->outputs[0], "Sqrt");
    if (!eps || sqrt == nullptr || Sole(sqrt->outputs[0], "Div") != div) return false;
    if (div->inputs[1] != sqrt->outputs[0]) return false;
    std::vector<ir::Node*> pattern = {mean, &sub, pow, var, add, sqrt, div};
    std::string gamma, beta;
    if (ir::Node* mul = Sole(div->outputs[0], "Mul")) {
      gamma = Other(*mul, div->outputs[0]);
      if (!gamma.empty() && NormParam(gamma, axes.size())) {
        pattern.push_back(mul);
        if (ir::Node* b = Sole(mul->outputs[0], "Add")) {
          beta = Other(*b, mul->outputs[0]);
          if (!beta.empty() && NormParam(beta, axes.size())) {
            pattern.push_back(b);
          } else {
            beta.clear();
          }
        }
      } else {
        gamma.clear();
      }
    }
    ir::Node ln;
    ln.name = pattern.back()->name;
    ln.op_type = "LayerNormalization";
    ln.domain = ir::kRefitDomain;
    ln.inputs = {x, gamma, beta};
    while (!ln.inputs.empty() && ln.inputs.back().empty()) ln.inputs.pop_back();
    ln.attrs.Set("axis", IntAttr(axes.front()));
    ln.attrs.Set("epsilon", FloatAttr(eps->value));
    const std::string label = "'" + ln.name + "'";
    Replace(pattern, std::move(ln));
    Note(&report_, kPass, label + ": LayerNorm over axes from " + std::to_string(axes.front()));
    return true;
  }

  // gamma / beta of a GroupNorm: C elements laid out per channel. A weight seen through an
  // Unsqueeze or Reshape that nothing else reads is used directly (the Unsqueeze is absorbed).
  std::string PerChannel(const std::string& v, int64_t c, size_t rank,
                         std::vector<ir::Node*>* absorbed) {
    auto dims = Dims(v);
    if (!dims || ValueDtype(g_, v) != DataType::kF32) return "";
    std::vector<int64_t> want(rank - 1, 1);
    want[0] = c;
    std::vector<int64_t> want2(rank, 1);
    want2[1] = c;
    if (*dims != want && *dims != want2) return "";
    for (const char* op : {"Unsqueeze", "Reshape"}) {
      ir::Node* u = Producer(v, op);
      if (u == nullptr || u->inputs.empty() || !IsWeight(g_, u->inputs[0])) continue;
      auto info = GetWeightInfo(g_, u->inputs[0]);
      if (!info.ok() || info->shape.NumElements() != c || info->dtype != DataType::kF32) continue;
      auto rd = readers_.find(v);
      if (rd == readers_.end() || rd->second.size() != 1 || IsGraphOutput(g_, v)) continue;
      absorbed->push_back(u);
      return u->inputs[0];
    }
    return v;
  }

  bool TryGroupNorm(size_t i) {
    ir::Node& inorm = g_.nodes[i];
    if (inorm.op_type != "InstanceNormalization" || !inorm.domain.empty() ||
        inorm.inputs.size() != 3 || inorm.outputs.size() != 1)
      return false;
    ir::Node* r1 = Producer(inorm.inputs[0], "Reshape");
    if (r1 == nullptr || r1->inputs.size() != 2 ||
        Sole(r1->outputs[0], "InstanceNormalization") != &inorm)
      return false;
    const std::string x = r1->inputs[0];
    if (ValueDtype(g_, x) != DataType::kF32) return false;
    ir::Node* r2 = Sole(inorm.outputs[0], "Reshape");
    ir::Node* mul = r2 && r2->inputs.size() == 2 ? Sole(r2->outputs[0], "Mul") : nullptr;
    ir::Node* add = mul ? Sole(mul->outputs[0], "Add") : nullptr;
    if (add == nullptr) return false;
    // Channels and rank from x when shape inference knew it, else from gamma's [C, 1, ...] (the
    // reshape back through Shape(x) stops ONNX shape inference for the rest of the graph).
    auto dims = StaticDims(g_, x);
    if (dims && std::any_of(dims->begin(), dims->end(), [](int64_t d) { return d < 1; })) {
      dims.reset();
    }
    int64_t c = -1;
    size_t rank = 0;
    if (dims) {
      rank = dims->size();
      c = rank >= 3 ? (*dims)[1] : -1;
    } else if (auto gd = Dims(Other(*mul, r2->outputs[0])); gd && gd->size() >= 2) {
      const bool leading = (*gd)[0] == 1 && gd->size() >= 3;
      rank = leading ? gd->size() : gd->size() + 1;
      c = leading ? (*gd)[1] : (*gd)[0];
    }
    if (c < 1 || rank < 3) return false;
    const Tensor* shape1 = ConstantNodeValue(g_, r1->inputs[1]);
    auto s1 = shape1 ? ConstantInts(*shape1) : std::nullopt;
    if (!s1 || s1->size() != 3) return false;
    const int64_t groups = (*s1)[1];
    if (groups < 1 || c % groups != 0) return false;
    if (!((*s1)[0] == 0 || (dims && (*s1)[0] == (*dims)[0]))) return false;
    if (!((*s1)[2] == -1 || (dims && (*s1)[2] == Shape(*dims).NumElements() / (*dims)[0] / groups)))
      return false;
    ir::Node* shape_of = Producer(r2->inputs[1], "Shape");
    const Tensor* shape2 = ConstantNodeValue(g_, r2->inputs[1]);
    const bool back = (shape_of != nullptr && shape_of->inputs.size() == 1 &&
                       shape_of->inputs[0] == x && shape_of->attrs.all().empty()) ||
                      (shape2 != nullptr && dims && ConstantInts(*shape2) == dims);
    if (!back) return false;
    for (size_t k = 1; k < 3; ++k) {
      auto d = Dims(inorm.inputs[k]);
      if (!d || Shape(*d).NumElements() != groups ||
          ValueDtype(g_, inorm.inputs[k]) != DataType::kF32)
        return false;
    }
    std::vector<ir::Node*> extra;
    const std::string gamma = PerChannel(Other(*mul, r2->outputs[0]), c, rank, &extra);
    const std::string beta = PerChannel(Other(*add, mul->outputs[0]), c, rank, &extra);
    if (gamma.empty() || beta.empty()) return false;
    auto eps = inorm.attrs.GetFloat("epsilon", 1e-5f);
    if (!eps.ok()) return false;
    ir::Node gn;
    gn.name = add->name;
    gn.op_type = "GroupNorm";
    gn.domain = ir::kRefitDomain;
    gn.inputs = {x, inorm.inputs[1], inorm.inputs[2], gamma, beta};
    gn.attrs.Set("num_groups", IntAttr(groups));
    gn.attrs.Set("epsilon", FloatAttr(*eps));
    std::vector<ir::Node*> pattern = extra;
    for (ir::Node* n : {r1, &inorm, r2, mul}) pattern.push_back(n);
    pattern.push_back(add);
    Replace(pattern, std::move(gn));
    Note(&report_, kPass,
         "'" + add->name + "': GroupNorm with " + std::to_string(groups) + " groups");
    return true;
  }

  PassReport report_;

 private:
  ir::Graph& g_;
  const std::map<std::string, std::vector<int>> readers_;
  std::vector<bool> remove_;
};

}  // namespace

Status FuseLayerNormPass(ir::Graph& g, PassReport* report) {
  Fuser f(g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (f.removed()[i]) continue;
    if (!f.TryLayerNorm(i)) f.TryGroupNorm(i);
  }
  RemoveNodes(g, f.removed());
  if (report != nullptr) {
    for (auto& e : f.report_.entries) report->Add(e.pass, e.message);
  }
  return Status::Ok();
}

}  // namespace refit::passes
