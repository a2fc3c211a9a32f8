// Fused operators: how passes mark a fusion on an IR node, so every backend (the reference
// executor included, which stays the oracle) reads one definition.
//
// - A fused activation is a set of attributes on a Conv, ConvTranspose, Gemm or MatMul node (and on
//   refit-domain nodes): "refit_activation" (string, ActivationName), "refit_activation_alpha" and
//   "refit_activation_beta" (floats). The node's output is act(node's own result).
// - A fused residual is the attribute "refit_residual" (int 1) on a Conv whose input 3 (after the
//   bias, "" when there is none) is an activation of the output's shape: the output is
//   act(Conv(X, W, B) + input 3), the sum before the fused activation.
// - Nodes the passes invent live in the "refit" domain (kRefitDomain); their reference kernels are
//   registered for that domain at every opset.
// - `ir::Node::fused` lists the names of the ONNX nodes a node absorbed, for `inspect`.
#pragma once

#include <string>
#include <string_view>

#include "ir/graph.h"
#include "refit/status.h"

namespace refit::ir {

inline constexpr char kRefitDomain[] = "refit";
inline constexpr char kActivationAttr[] = "refit_activation";
inline constexpr char kActivationAlphaAttr[] = "refit_activation_alpha";
inline constexpr char kActivationBetaAttr[] = "refit_activation_beta";
inline constexpr char kResidualAttr[] = "refit_residual";
// The input index of a fused residual.
inline constexpr size_t kResidualInput = 3;

enum class ActivationKind {
  kNone,
  kRelu,
  kClip,  // min(max(x, alpha), beta)
  kSigmoid,
  kSilu,         // x * sigmoid(x)
  kGelu,         // 0.5 * x * (1 + erf(x / sqrt(2)))
  kHardSwish,    // x * max(0, min(1, x / 6 + 0.5))
  kHardSigmoid,  // max(0, min(1, alpha * x + beta))
  kLeakyRelu,    // x >= 0 ? x : alpha * x
  kTanh,
};

struct FusedActivation {
  ActivationKind kind = ActivationKind::kNone;
  float alpha = 0;
  float beta = 0;
  bool operator==(const FusedActivation&) const = default;
};

// "Relu", "Clip", "Sigmoid", "SiLU", "Gelu", "HardSwish", "HardSigmoid", "LeakyRelu", "Tanh";
// "" for kNone.
std::string_view ActivationName(ActivationKind kind);
// The node's fused activation (kNone when it has none); an error naming the node for an unknown
// name or a mistyped attribute.
StatusOr<FusedActivation> GetFusedActivation(const Node& node);
void SetFusedActivation(Node& node, const FusedActivation& act);
// True when the node carries a fused residual (kResidualAttr set to 1).
bool HasFusedResidual(const Node& node);
void SetFusedResidual(Node& node);

// The activation's value at x, computed in double and rounded once: the reference semantics.
float ApplyActivation(const FusedActivation& act, float x);

}  // namespace refit::ir
