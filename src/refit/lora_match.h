// Matching LoRA adapter modules to an engine's source weights, and checking their shapes.
#pragma once

#include <string>
#include <vector>

#include "refit/lora.h"

namespace refit {

class WeightMatcher {
 public:
  explicit WeightMatcher(const std::vector<WeightPrototype>& weights);

  // The source weight `<module>.weight` for an adapter module path: the exact name, or else the
  // one whose module path ends with `module` or is a suffix of it at a '.' boundary (an adapter
  // trained on a wrapper model, an export of an inner one). With `underscored` (kohya) the
  // comparison reads every '.' of the weight names as '_'. No match or several: an error naming
  // the module (and the candidates).
  StatusOr<std::string> Match(const std::string& module, bool underscored) const;
  const WeightPrototype* Find(const std::string& name) const;

 private:
  std::vector<WeightPrototype> weights_;
};

// "lora_unet_down_blocks_0" -> "down_blocks_0" (also lora_te_, lora_te1_, lora_te2_, lora_).
std::string StripKohyaPrefix(const std::string& key);

// A target's ranks agree (down [r, ...], up [out, r] or [out, r, 1, 1], r = target.rank) and
// up @ down has the weight's shape [out, rest...].
Status CheckTarget(const LoraTarget& target, const WeightMatcher& matcher);

}  // namespace refit
