// fuse_activation: Conv / ConvTranspose / Gemm / MatMul (and the refit-domain GroupNorm and
// LayerNormalization) followed by an activation that alone reads its f32 output: the activation
// becomes the producer's fused activation (ir/fused_ops.h). Recognised: Relu, Tanh, Sigmoid,
// LeakyRelu, HardSigmoid, HardSwish (the operator, or x * HardSigmoid(x) with alpha 1/6), Clip with
// attribute or Constant-node bounds, SiLU written x * Sigmoid(x), and GELU as PyTorch exports it
// (x / sqrt(2) or x * (1/sqrt(2)) -> Erf -> + 1 -> * x -> * 0.5, any association of the last two).
// Parameters only ever come from attributes or Constant nodes: never from a weight.
#include <cmath>
#include <limits>

#include "ir/fused_ops.h"
#include "passes/fusion_util.h"

namespace refit::passes {
namespace {

constexpr char kPass[] = "fuse_activation";

bool IsProducer(const ir::Node& n) {
  if (n.domain.empty()) {
    return n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" ||
           n.op_type == "MatMul";
  }
  return n.domain == ir::kRefitDomain &&
         (n.op_type == "GroupNorm" || n.op_type == "LayerNormalization");
}

bool Near(float v, double want) { return std::fabs(double(v) - want) <= 1e-6 * std::fabs(want); }

class Matcher {
 public:
  Matcher(const ir::Graph& g, const std::map<std::string, std::vector<int>>& readers)
      : g_(g), readers_(readers) {}

  // The only reader of `value` when it has exactly one and is not a graph output; else null.
  const ir::Node* SoleReader(const std::string& value) const {
    auto it = readers_.find(value);
    if (it == readers_.end() || it->second.size() != 1 || IsGraphOutput(g_, value)) return nullptr;
    const ir::Node& n = g_.nodes[size_t(it->second[0])];
    return n.domain.empty() ? &n : nullptr;
  }
  std::vector<const ir::Node*> ReadersOf(const std::string& value) const {
    std::vector<const ir::Node*> out;
    auto it = readers_.find(value);
    if (it == readers_.end() || IsGraphOutput(g_, value)) return out;
    for (int i : it->second) out.push_back(&g_.nodes[size_t(i)]);
    return out;
  }
  // For a default-domain binary node reading `x`: the other operand, or "" when the node is not
  // `op` over x and something else (or reads x twice).
  static std::string Other(const ir::Node* n, const char* op, const std::string& x) {
    if (n == nullptr || n->op_type != op || !n->domain.empty() || n->inputs.size() != 2 ||
        n->outputs.size() != 1)
      return "";
    if (n->inputs[0] == x && n->inputs[1] != x) return n->inputs[1];
    if (n->inputs[1] == x && n->inputs[0] != x) return n->inputs[0];
    return "";
  }
  bool ConstIs(const std::string& v, double want) const {
    auto c = GetScalarConstant(g_, v);
    return c && c->rank <= 1 && Near(c->value, want);
  }
  std::optional<float> ClipBound(const ir::Node& clip, size_t i) const {
    if (i >= clip.inputs.size() || clip.inputs[i].empty()) {
      return i == 1 ? -std::numeric_limits<float>::infinity()
                    : std::numeric_limits<float>::infinity();
    }
    auto c = GetScalarConstant(g_, clip.inputs[i]);
    if (!c) return std::nullopt;
    return c->value;
  }

  // Matches an activation reading `y` (the producer's output). On success fills `act` and the
  // pattern's nodes (the last one's output is the result).
  bool Match(const std::string& y, ir::FusedActivation* act, std::vector<const ir::Node*>* nodes) {
    const std::vector<const ir::Node*> rd = ReadersOf(y);
    if (rd.size() == 1 && rd[0]->domain.empty() && rd[0]->inputs.size() >= 1 &&
        rd[0]->inputs[0] == y && rd[0]->outputs.size() == 1) {
      const ir::Node& a = *rd[0];
      for (size_t i = 1; i < a.inputs.size(); ++i) {
        if (a.inputs[i] == y) return false;
      }
      *nodes = {&a};
      if (a.op_type == "Relu") return Set(act, ir::ActivationKind::kRelu);
      if (a.op_type == "Tanh") return Set(act, ir::ActivationKind::kTanh);
      if (a.op_type == "Sigmoid") return Set(act, ir::ActivationKind::kSigmoid);
      if (a.op_type == "HardSwish") return Set(act, ir::ActivationKind::kHardSwish);
      if (a.op_type == "LeakyRelu") {
        auto alpha = a.attrs.GetFloat("alpha", 0.01f);
        return alpha.ok() && Set(act, ir::ActivationKind::kLeakyRelu, *alpha);
      }
      if (a.op_type == "HardSigmoid") {
        auto alpha = a.attrs.GetFloat("alpha", 0.2f);
        auto beta = a.attrs.GetFloat("beta", 0.5f);
        return alpha.ok() && beta.ok() && Set(act, ir::ActivationKind::kHardSigmoid, *alpha, *beta);
      }
      if (a.op_type == "Clip") {
        std::optional<float> lo, hi;
        if (g_.opset < 11) {
          auto l = a.attrs.GetFloat("min", -std::numeric_limits<float>::infinity());
          auto h = a.attrs.GetFloat("max", std::numeric_limits<float>::infinity());
          if (l.ok()) lo = *l;
          if (h.ok()) hi = *h;
        } else {
          lo = ClipBound(a, 1);
          hi = ClipBound(a, 2);
        }
        return lo && hi && Set(act, ir::ActivationKind::kClip, *lo, *hi);
      }
      return false;
    }
    if (rd.size() == 2) return MatchSwish(y, rd, act, nodes) || MatchGelu(y, rd, act, nodes);
    return false;
  }

 private:
  static bool Set(ir::FusedActivation* act, ir::ActivationKind k, float a = 0, float b = 0) {
    *act = {k, a, b};
    return true;
  }

  // y * Sigmoid(y) -> SiLU; y * HardSigmoid(y, 1/6, 0.5) -> HardSwish.
  bool MatchSwish(const std::string& y, const std::vector<const ir::Node*>& rd,
                  ir::FusedActivation* act, std::vector<const ir::Node*>* nodes) const {
    for (int first = 0; first < 2; ++first) {
      const ir::Node* s = rd[size_t(first)];
      const ir::Node* m = rd[size_t(1 - first)];
      if (s->inputs.size() != 1 || s->outputs.size() != 1) continue;
      if (SoleReader(s->outputs[0]) != m || Other(m, "Mul", y) != s->outputs[0]) continue;
      *nodes = {s, m};
      if (s->op_type == "Sigmoid") return Set(act, ir::ActivationKind::kSilu);
      if (s->op_type == "HardSigmoid") {
        auto alpha = s->attrs.GetFloat("alpha", 0.2f);
        auto beta = s->attrs.GetFloat("beta", 0.5f);
        if (alpha.ok() && beta.ok() && Near(*alpha, 1.0 / 6.0) && *beta == 0.5f) {
          return Set(act, ir::ActivationKind::kHardSwish);
        }
      }
    }
    return false;
  }

  // d = y / sqrt(2) (or y * 1/sqrt(2)); e = Erf(d); p = e + 1; then 0.5 * y * p in any
  // association: (y * p) * 0.5, (y * 0.5) * p, y * (p * 0.5).
  bool MatchGelu(const std::string& y, const std::vector<const ir::Node*>& rd,
                 ir::FusedActivation* act, std::vector<const ir::Node*>* nodes) const {
    for (int first = 0; first < 2; ++first) {
      const ir::Node* d = rd[size_t(first)];
      const ir::Node* mx = rd[size_t(1 - first)];
      const bool div = d->op_type == "Div" && d->inputs.size() == 2 && d->inputs[0] == y &&
                       ConstIs(d->inputs[1], std::sqrt(2.0));
      const bool mul = !Other(d, "Mul", y).empty() && ConstIs(Other(d, "Mul", y), std::sqrt(0.5));
      if (!div && !mul) continue;
      const ir::Node* e = SoleReader(d->outputs[0]);
      if (e == nullptr || e->op_type != "Erf" || e->outputs.size() != 1) continue;
      const ir::Node* p = SoleReader(e->outputs[0]);
      const std::string one = Other(p, "Add", e->outputs[0]);
      if (one.empty() || !ConstIs(one, 1.0)) continue;
      const std::string& pv = p->outputs[0];
      const ir::Node* last = nullptr;
      const ir::Node* mid = nullptr;
      if (Other(mx, "Mul", y) == pv) {  // (y * p) * 0.5
        mid = mx;
        last = SoleReader(mx->outputs[0]);
        const std::string half = Other(last, "Mul", mx->outputs[0]);
        if (half.empty() || !ConstIs(half, 0.5)) continue;
      } else if (const std::string h = Other(mx, "Mul", y); !h.empty() && ConstIs(h, 0.5)) {
        mid = mx;  // (y * 0.5) * p
        last = SoleReader(mx->outputs[0]);
        if (last == nullptr || SoleReader(pv) != last || Other(last, "Mul", pv) != mx->outputs[0])
          continue;
      } else {  // y * (p * 0.5)
        mid = SoleReader(pv);
        const std::string half = Other(mid, "Mul", pv);
        if (half.empty() || !ConstIs(half, 0.5) || Other(mx, "Mul", y) != mid->outputs[0]) continue;
        last = mx;
      }
      if (last == nullptr || mid == nullptr) continue;
      *nodes = {d, e, p, mid, last};
      return Set(act, ir::ActivationKind::kGelu);
    }
    return false;
  }

  const ir::Graph& g_;
  const std::map<std::string, std::vector<int>>& readers_;
};

}  // namespace

Status FuseActivationPass(ir::Graph& g, PassReport* report) {
  const std::map<std::string, std::vector<int>> readers = ReaderIndex(g);
  Matcher matcher(g, readers);
  std::vector<bool> remove(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& p = g.nodes[i];
    if (remove[i] || !IsProducer(p) || p.outputs.size() != 1 || p.attrs.Has(ir::kActivationAttr))
      continue;
    const std::string y = p.outputs[0];
    if (ValueDtype(g, y) != DataType::kF32) continue;
    ir::FusedActivation act;
    std::vector<const ir::Node*> nodes;
    if (!matcher.Match(y, &act, &nodes)) continue;
    bool taken = false;
    for (const ir::Node* n : nodes) taken = taken || remove[size_t(n - g.nodes.data())];
    if (taken) continue;
    ir::SetFusedActivation(p, act);
    std::string names;
    for (const ir::Node* n : nodes) {
      RecordFused(p, *n);
      names += (names.empty() ? "'" : ", '") + n->name + "'";
      remove[size_t(n - g.nodes.data())] = true;
      if (n != nodes.back()) g.value_infos.erase(n->outputs[0]);
    }
    g.value_infos.erase(y);
    p.outputs[0] = nodes.back()->outputs[0];
    Note(report, kPass,
         "'" + p.name + "' + " + names + " -> " + std::string(ir::ActivationName(act.kind)));
  }
  RemoveNodes(g, remove);
  return Status::Ok();
}

}  // namespace refit::passes
