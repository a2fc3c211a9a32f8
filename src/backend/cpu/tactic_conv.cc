#include <optional>

#include "backend/cpu/conv_params.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/cpu_tactics.h"

namespace refit::cpu {

void AddConvTactics(const backend::LayerDesc& layer, TacticList* out) {
  if (std::optional<ConvParams> p = ParseConvLayer(layer)) {
    AddConvDepthwiseTactics(layer, *p, out);
    AddConvGemmTactics(layer, *p, out);
    AddConvGemmTTactics(layer, *p, out);
    AddConvDnnlTactics(layer, *p, out);
    AddConvOpenBlasTactics(layer, *p, out);
  }
}

}  // namespace refit::cpu
