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
    if (wanted("conv_depthwise")) AddConvDepthwiseTactics(layer, *p, out);
    if (wanted("conv_gemm")) AddConvGemmTactics(layer, *p, out);
    if (wanted("conv_direct")) AddConvDirectTactics(layer, *p, out);
    if (wanted("conv_nchwc")) AddConvNchwcTactics(layer, *p, out);
    if (wanted("conv_gemm_t")) AddConvGemmTTactics(layer, *p, out, every_isa);
    if (wanted("conv_winograd")) AddConvWinogradTactics(layer, *p, out, every_isa);
    if (wanted("conv_dnnl")) AddConvDnnlTactics(layer, *p, out, name);
    if (wanted("conv_openblas")) AddConvOpenBlasTactics(layer, *p, out);
  } else if (std::optional<ConvTransposeParams> pt = ParseConvTransposeLayer(layer)) {
    if (wanted("conv_transpose_gemm")) AddConvTransposeGemmTactics(layer, *pt, out, every_isa);
  }
}

}  // namespace refit::cpu
