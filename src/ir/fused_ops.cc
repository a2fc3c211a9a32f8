#include "ir/fused_ops.h"

#include <array>
#include <cmath>
#include <utility>

namespace refit::ir {
namespace {

constexpr std::array<std::pair<ActivationKind, std::string_view>, 9> kNames = {{
    {ActivationKind::kRelu, "Relu"},
    {ActivationKind::kClip, "Clip"},
    {ActivationKind::kSigmoid, "Sigmoid"},
    {ActivationKind::kSilu, "SiLU"},
    {ActivationKind::kGelu, "Gelu"},
    {ActivationKind::kHardSwish, "HardSwish"},
    {ActivationKind::kHardSigmoid, "HardSigmoid"},
    {ActivationKind::kLeakyRelu, "LeakyRelu"},
    {ActivationKind::kTanh, "Tanh"},
}};

}  // namespace

std::string_view ActivationName(ActivationKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "";
}

StatusOr<FusedActivation> GetFusedActivation(const Node& node) {
  FusedActivation act;
  if (!node.attrs.Has(kActivationAttr)) return act;
  auto label = [&] { return "node '" + node.name + "' (" + node.op_type + ")"; };
  auto name = node.attrs.GetString(kActivationAttr, "");
  if (!name.ok()) return name.status().WithContext(label());
  bool found = false;
  for (const auto& [k, n] : kNames) {
    if (n == *name) {
      act.kind = k;
      found = true;
    }
  }
  if (!found) {
    return InvalidArgument(label() + ": unknown fused activation '" + *name + "'");
  }
  auto alpha = node.attrs.GetFloat(kActivationAlphaAttr, 0.0f);
  auto beta = node.attrs.GetFloat(kActivationBetaAttr, 0.0f);
  if (!alpha.ok()) return alpha.status().WithContext(label());
  if (!beta.ok()) return beta.status().WithContext(label());
  act.alpha = *alpha;
  act.beta = *beta;
  return act;
}

bool HasFusedResidual(const Node& node) {
  if (!node.attrs.Has(kResidualAttr)) return false;
  auto v = node.attrs.GetInt(kResidualAttr, 0);
  return v.ok() && *v == 1;
}

void SetFusedResidual(Node& node) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = 1;
  node.attrs.Set(kResidualAttr, a);
}

void SetFusedActivation(Node& node, const FusedActivation& act) {
  Attribute name;
  name.kind = Attribute::Kind::kString;
  name.s = std::string(ActivationName(act.kind));
  node.attrs.Set(kActivationAttr, name);
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = act.alpha;
  node.attrs.Set(kActivationAlphaAttr, a);
  a.f = act.beta;
  node.attrs.Set(kActivationBetaAttr, a);
}

float ApplyActivation(const FusedActivation& act, float xf) {
  const double x = xf;
  switch (act.kind) {
    case ActivationKind::kNone:
      return xf;
    case ActivationKind::kRelu:
      return std::isnan(xf) ? xf : (xf > 0 ? xf : 0.0f);
    case ActivationKind::kClip:
      return std::isnan(xf) ? xf : std::fmin(std::fmax(xf, act.alpha), act.beta);
    case ActivationKind::kSigmoid:
      return float(1.0 / (1.0 + std::exp(-x)));
    case ActivationKind::kSilu:
      return float(x / (1.0 + std::exp(-x)));
    case ActivationKind::kGelu:
      return float(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))));
    case ActivationKind::kHardSwish:
      return float(x * std::fmax(0.0, std::fmin(1.0, x / 6.0 + 0.5)));
    case ActivationKind::kHardSigmoid:
      return float(std::fmax(0.0, std::fmin(1.0, act.alpha * x + act.beta)));
    case ActivationKind::kLeakyRelu:
      return xf >= 0 ? xf : float(act.alpha * x);
    case ActivationKind::kTanh:
      return float(std::tanh(x));
  }
  return xf;
}

}  // namespace refit::ir
