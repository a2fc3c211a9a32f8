#include <optional>

#include "backend/cpu/conv_params.h"
#include "backend/cpu/conv_tactics.h"
#include "backend/cpu/conv_transpose_params.h"
#include "backend/cpu/cpu_tactics.h"

namespace refit::cpu {

void AddConvTactics(const backend::LayerDesc& layer, TacticList* out) {
  if (std::optional<ConvParams> p = ParseConvLayer(layer)) {
    AddConvDepthwiseTactics(layer, *p, out);
    AddConvGemmTactics(layer, *p, out);
    AddConvGemmTTactics(layer, *p, out);
    AddConvDnnlTactics(layer, *p, out);
    AddConvOpenBlasTactics(layer, *p, out);
  } else if (std::optional<ConvTransposeParams> pt = ParseConvTransposeLayer(layer)) {
    AddConvTransposeGemmTactics(layer, *pt, out);
  }
}

}  // namespace refit::cpu
