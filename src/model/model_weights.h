// The weights of a MutableModel: base values (as imported, or as edited), LoRA adapters over
// them, and the effective values engines are brought up to date with.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "refit/lora.h"
#include "refit/refitter.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::model {

using TensorPtr = std::shared_ptr<const Tensor>;

class ModelWeights {
 public:
  // Takes the float weights of `graph` as the base (moved out of it; the graph keeps the others).
  explicit ModelWeights(ir::Graph* graph);

  const std::vector<WeightPrototype>& prototypes() const { return prototypes_; }
  const WeightPrototype* Find(const std::string& name) const;

  // Each replaces base values; checked (name, dtype, shape, finite) before anything changes.
  Status Set(const std::map<std::string, TensorPtr>& values, const std::string& what);
  Status LoadLora(const std::string& name, std::shared_ptr<const LoraAdapter> adapter, float scale);
  Status SetLoraScale(const std::string& name, float scale);
  Status UnloadLora(const std::string& name);

  // The value engines should hold: the base with every loaded adapter merged in. The same
  // pointer until the weight or an adapter on it changes, so comparing pointers finds the dirty
  // weights.
  const std::map<std::string, TensorPtr>& effective() const { return effective_; }

 private:
  // Recomputes effective_ for `names` from base_ and adapters_; all or nothing.
  Status Remerge(const std::vector<std::string>& names);
  std::vector<std::string> Targets(const LoraAdapter& adapter) const;

  struct Adapter {
    std::shared_ptr<const LoraAdapter> adapter;
    float scale = 1;
  };
  std::vector<WeightPrototype> prototypes_;
  std::map<std::string, TensorPtr> base_;
  std::map<std::string, Adapter> adapters_;
  std::map<std::string, TensorPtr> effective_;
};

}  // namespace refit::model
