#include "refit/lora_match.h"

#include <algorithm>

namespace refit {
namespace {

bool EndsWithAt(const std::string& s, const std::string& suffix, char boundary) {
  if (s.size() <= suffix.size()) return false;
  return s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         s[s.size() - suffix.size() - 1] == boundary;
}

}  // namespace

WeightMatcher::WeightMatcher(const std::vector<WeightPrototype>& weights) : weights_(weights) {}

const WeightPrototype* WeightMatcher::Find(const std::string& name) const {
  for (const WeightPrototype& w : weights_) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

StatusOr<std::string> WeightMatcher::Match(const std::string& module, bool underscored) const {
  const char boundary = underscored ? '_' : '.';
  const std::string suffix = ".weight";
  std::vector<std::string> exact, partial;
  for (const WeightPrototype& w : weights_) {
    if (w.name.size() <= suffix.size() ||
        w.name.compare(w.name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::string path = w.name.substr(0, w.name.size() - suffix.size());
    if (underscored) std::replace(path.begin(), path.end(), '.', '_');
    if (path == module) {
      exact.push_back(w.name);
    } else if (EndsWithAt(path, module, boundary) || EndsWithAt(module, path, boundary)) {
      partial.push_back(w.name);
    }
  }
  const std::vector<std::string>& found = exact.empty() ? partial : exact;
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    return NotFound("module '" + module + "' matches no weight of the engine (no '" + module +
                    (underscored ? "' with dots read as underscores" : "") +
                    ".weight'); is the adapter for another model?");
  }
  std::string list;
  for (size_t i = 0; i < found.size() && i < 5; ++i) list += (i ? ", '" : "'") + found[i] + "'";
  return InvalidArgument("module '" + module + "' matches " + std::to_string(found.size()) +
                         " weights (" + list + (found.size() > 5 ? ", ..." : "") +
                         "); cannot tell which one the adapter updates");
}

std::string StripKohyaPrefix(const std::string& key) {
  for (const char* prefix : {"lora_unet_", "lora_te1_", "lora_te2_", "lora_te_", "lora_"}) {
    if (key.rfind(prefix, 0) == 0) return key.substr(std::string(prefix).size());
  }
  return key;
}

Status CheckTarget(const LoraTarget& t, const WeightMatcher& matcher) {
  const std::string where = "module '" + t.key + "'";
  const Shape& down = t.down->shape();
  const Shape& up = t.up->shape();
  if (down.rank() < 2 || up.rank() < 2) {
    return InvalidArgument(where + ": down " + down.ToString() + " and up " + up.ToString() +
                           " must have rank 2 or more");
  }
  for (size_t i = 2; i < up.rank(); ++i) {
    if (up[i] != 1) {
      return InvalidArgument(where + ": up " + up.ToString() +
                             " must be [out, r] or [out, r, 1, 1] (a 1x1 convolution)");
    }
  }
  if (down[0] != up[1]) {
    return InvalidArgument(where + ": rank mismatch: down " + down.ToString() + " has rank " +
                           std::to_string(down[0]) + ", up " + up.ToString() + " has " +
                           std::to_string(up[1]));
  }
  if (t.rank != down[0]) {
    return InvalidArgument(where + ": the config says rank " + std::to_string(t.rank) +
                           ", the tensors have rank " + std::to_string(down[0]));
  }
  const WeightPrototype* w = matcher.Find(t.weight);
  if (w == nullptr) return NotFound(where + ": weight '" + t.weight + "' is not in the engine");
  std::vector<int64_t> delta = {up[0]};
  for (size_t i = 1; i < down.rank(); ++i) delta.push_back(down[i]);
  if (Shape(delta) != w->shape) {
    return InvalidArgument(where + ": up @ down has shape " + Shape(delta).ToString() +
                           ", weight '" + t.weight + "' has " + w->shape.ToString());
  }
  if (w->dtype != DataType::kF32 && w->dtype != DataType::kF16 && w->dtype != DataType::kBF16) {
    return InvalidArgument(where + ": weight '" + t.weight + "' is " +
                           std::string(DataTypeName(w->dtype)) + "; LoRA needs a float weight");
  }
  return Status::Ok();
}

}  // namespace refit
