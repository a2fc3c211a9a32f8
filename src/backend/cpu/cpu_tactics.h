// Internal to backend/cpu: one function per tactic family (one family per file, tactic_*.cc).
// Each appends the tactics it has for `layer` (none when it does not take the layer), best guess
// first. cpu_backend.cc calls them all, explicitly.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"

namespace refit::cpu {

using TacticList = std::vector<std::unique_ptr<backend::Tactic>>;

void AddConvTactics(const backend::LayerDesc& layer, TacticList* out);         // tactic_conv*.cc
void AddGemmTactics(const backend::LayerDesc& layer, TacticList* out);         // tactic_gemm*.cc
void AddPoolTactics(const backend::LayerDesc& layer, TacticList* out);         // tactic_pool.cc
void AddElementwiseTactics(const backend::LayerDesc& layer, TacticList* out);  // tactic_eltwise*.cc
void AddNormTactics(const backend::LayerDesc& layer, TacticList* out);         // tactic_norm.cc
void AddSoftmaxTactics(const backend::LayerDesc& layer, TacticList* out);      // tactic_softmax.cc

}  // namespace refit::cpu
