#include <optional>

#include "backend/cpu/conv_params.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/conv_transpose_params.h"
#include "backend/cpu/cpu_tactics.h"

namespace refit::cpu {

void AddConvTactics(const backend::LayerDesc& layer, TacticList* out, std::string_view name) {
  const std::string_view family = name.substr(0, name.find('/'));
  const auto wanted = [&](std::string_view f) { return family.empty() || family == f; };
  // A lookup by name (an engine load) accepts the tactics of every ISA this machine runs.
  const bool every_isa = !name.empty();
  if (std::optional<ConvParams> p = ParseConvLayer(layer)) {
    // With a fused residual, conv_nchwc adds it in its tiles and the blocked conv_winograd in its
    // output transform; the other families convolve alone (no residual, no activation) under
    // WithResidual's add pass.
    ConvParams alone = *p;
    if (p->residual) {
      alone.residual = false;
      alone.act = ir::FusedActivation{};
    }
    TacticList own;
    TacticList* list = p->residual ? &own : out;
    if (wanted("conv_depthwise")) AddConvDepthwiseTactics(layer, alone, list);
    if (wanted("conv_gemm")) AddConvGemmTactics(layer, alone, list);
    if (wanted("conv_direct")) AddConvDirectTactics(layer, alone, list);
    if (wanted("conv_nchwc")) AddConvNchwcTactics(layer, *p, out);
    if (wanted("conv_gemm_t")) AddConvGemmTTactics(layer, alone, list, every_isa);
    if (wanted("conv_winograd")) {
      AddConvWinogradTactics(layer, alone, list, every_isa);
      AddConvWinogradBlockedTactics(layer, *p, out, every_isa);
    }
    if (wanted("conv_dnnl")) AddConvDnnlTactics(layer, alone, list, name);
    if (wanted("conv_openblas")) AddConvOpenBlasTactics(layer, alone, list);
    for (auto& t : own) out->push_back(WithResidual(std::move(t), p->act));
  } else if (std::optional<ConvTransposeParams> pt = ParseConvTransposeLayer(layer)) {
    if (wanted("conv_transpose_gemm")) AddConvTransposeGemmTactics(layer, *pt, out, every_isa);
  }
}

}  // namespace refit::cpu
