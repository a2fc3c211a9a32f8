// LoRA adapters: loading PEFT and kohya files, and applying them to an engine's weights.
//
//   auto engine = refit::engine::Engine::Open("unet.engine").value();  // built --keep-sources
//   refit::LoraRefitter lora(engine.get(), refit::KeptBaseWeights(*engine));
//   auto a = refit::LoadLoraAdapter("style_a/", lora.weights()).value();   // PEFT directory
//   lora.Load("a", std::move(a), 0.8f);
//   lora.Apply();                  // recomputes only the slots the adapter's targets feed
//   lora.SetScale("a", 0.5f);      // recomputes the same slots again
//   lora.Unload("a"); lora.Apply();  // the base weights again, bit for bit
//
// Each target source weight W becomes W + sum over loaded adapters of
// scale * (alpha / r) * (up @ down) (alpha / sqrt(r) with rsLoRA), computed from the BASE value of
// W, never from the current one, then goes through the slot's recipe like any refit: a LoRA on a
// BatchNorm-folded convolution or on a transposed MatMul weight is exact, and loading A, then B,
// then A again gives A's weights exactly. The base weights come from the engine (built with
// keep_sources / `refit build --keep-sources`) or from the model's weight file.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "refit/refitter.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit {

// One low-rank update of a source weight of shape [out, rest...]:
// delta = up [out, r] @ down [r, prod(rest)] (conv: down [r, in, kh, kw], up [out, r, 1, 1]).
struct LoraTarget {
  std::string weight;                  // the engine's source weight it updates
  std::string key;                     // the adapter's module key, for messages
  std::shared_ptr<const Tensor> down;  // f32, [r, ...] (PEFT lora_A, kohya lora_down)
  std::shared_ptr<const Tensor> up;    // f32, [out, r] or [out, r, 1, 1] (lora_B, lora_up)
  int64_t rank = 0;
  float alpha_scale = 1;  // alpha / r, or alpha / sqrt(r) with rsLoRA
};

struct LoraAdapter {
  std::string path;
  std::string format;  // "peft" or "kohya"
  std::vector<LoraTarget> targets;
};

// Reads an adapter and matches its modules against `weights` (an engine's source weights):
//  - PEFT: a directory with adapter_model.safetensors and adapter_config.json, or such a
//    .safetensors file with the config beside it. Keys base_model.model.<module>.lora_A.weight /
//    .lora_B.weight target <module>.weight; r, lora_alpha, use_rslora, rank_pattern and
//    alpha_pattern come from the config.
//  - kohya: one .safetensors file with <prefix><module_path>.lora_down.weight, .lora_up.weight
//    and .alpha (prefix lora_unet_, lora_te_, lora_te1_, lora_te2_ or lora_); the underscored
//    path is matched against the source weights' module paths with dots read as underscores.
// Errors (listing up to 20 problems at once): a missing or corrupt file or config, a key that
// matches no source weight or several, a lora_A without lora_B, ranks that disagree with each
// other or with the config, a missing alpha, a delta whose shape is not the weight's.
StatusOr<LoraAdapter> LoadLoraAdapter(const std::string& path,
                                      const std::vector<WeightPrototype>& weights);

// `base` + sum of factor * (up @ down) over `deltas` (each target's factor is its adapter's scale
// times its alpha_scale): deltas are summed in f32 first and added to the base once, then rounded
// to the base's dtype (f32, f16, bf16). With no deltas, `base` itself (the same tensor).
StatusOr<std::shared_ptr<const Tensor>> MergeLora(
    const std::string& weight, const std::shared_ptr<const Tensor>& base,
    const std::vector<std::pair<const LoraTarget*, float>>& deltas);

// The base source weights adapters apply to, by name.
using BaseWeights = std::map<std::string, std::shared_ptr<const Tensor>>;
// The engine's kept source weights (empty when it keeps none).
BaseWeights KeptBaseWeights(const engine::Engine& engine);

struct LoraRefitterOptions {
  int threads = 0;      // as RefitterOptions::threads
  std::string variant;  // the engine's weight variant to update ("" = the default set)
};

struct LoadedAdapter {
  std::string name;
  float scale = 1;
  int targets = 0;
};

class LoraRefitter {
 public:
  // `engine` must outlive the LoraRefitter. `base` must hold the base value of every weight an
  // adapter targets and of every weight those share a slot with (a folded BatchNorm's tensors);
  // Apply names any that are missing.
  LoraRefitter(engine::Engine* engine, BaseWeights base, const LoraRefitterOptions& options = {});
  ~LoraRefitter();
  LoraRefitter(const LoraRefitter&) = delete;
  LoraRefitter& operator=(const LoraRefitter&) = delete;

  const std::vector<WeightPrototype>& weights() const;

  // Changes take effect at the next Apply. `name` identifies the adapter in later calls; loading
  // a name again replaces that adapter. Scales must be finite.
  Status Load(const std::string& name, LoraAdapter adapter, float scale = 1);
  Status SetScale(const std::string& name, float scale);
  Status Unload(const std::string& name);
  // Adapters as they will be after the next Apply, sorted by name.
  std::vector<LoadedAdapter> adapters() const;

  // Recomputes the target weights whose adapters or scales changed since the last Apply (from
  // their base values), refits their slots, and swaps the new set in. On error nothing changes
  // in the engine and the staged changes stay staged.
  StatusOr<RefitReport> Apply();

  // Every source weight with the applied adapters merged in, e.g. to write an engine file whose
  // kept sources include the adapters; an error when the base lacks one.
  StatusOr<std::map<std::string, std::shared_ptr<const Tensor>>> MergedWeights() const;

 private:
  struct Entry {
    std::shared_ptr<const LoraAdapter> adapter;
    float scale = 1;
  };
  StatusOr<std::shared_ptr<const Tensor>> Merge(const std::string& weight,
                                                const std::map<std::string, Entry>& set) const;

  engine::Engine* engine_;
  Refitter refitter_;
  BaseWeights base_;
  std::map<std::string, Entry> applied_;
  std::map<std::string, Entry> staged_;
};

}  // namespace refit
