// MutableModel: a model whose engine is never the user's concern. Edit its weights (one tensor, a
// state dict, LoRA adapters) or run it on inputs of another shape, and the next Run does the
// cheapest thing that is correct: nothing, a refit of the slots the edits touched, an engine from
// the cache refitted with the current weights, or a build.
//
//   refit::MutableModelOptions options;
//   options.cache_dir = "/var/cache/refit";            // optional: engines survive the process
//   auto model = refit::MutableModel::Open("unet.onnx", options).value();
//   refit::RunInfo info;
//   model->Run(inputs, &info);                          // info.path: kRebuild (or kCacheHit)
//   model->LoadLora("style_a/", 0.8f);                  // marks A's target weights dirty
//   model->Run(inputs, &info);                          // kRefit: only A's slots
//   model->Run(inputs, &info);                          // kNone
//   model->Run(batch8_inputs, &info);                   // other shapes: kCacheHit or kRebuild
//
// Engines are kept per input shapes in memory (and in the cache directory when given); each
// remembers which weight values it holds, so returning to earlier shapes only refits what changed
// since. LoRA adapters apply to the base weights (the model's, or those set with SetWeight /
// LoadStateDict), so unloading one gives the base back bit for bit. With a cache directory, the
// models of one process also share engines by key (the memory tier: plan and kernels loaded once,
// each model refitting its own weights), so a second model of an architecture, or a model opened
// again, skips even the cache entry's load.
//
// Thread safety: every method may be called from several threads. Runs on the same engine proceed
// concurrently; a weight edit waits for no run, and a run sees a weight set from before or after
// the edit, never a mix.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "refit/refitter.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit {

enum class RunPath { kNone, kRefit, kCacheHit, kRebuild };
const char* RunPathName(RunPath path);  // "none", "refit", "cache hit", "rebuild"

struct RunInfo {
  RunPath path = RunPath::kNone;
  double prepare_seconds = 0;  // the path's cost: 0 for none; refit, cache load + refit, or build
  double run_seconds = 0;      // the engine run itself
  int weights_refitted = 0;    // weights whose values changed since the engine last ran
                               // (every weight after a cache hit)
  int slots_refitted = 0;
  std::string cache_key;  // the engine's key (input shapes, structure, settings)
  // On a cache hit, where the engine came from: "memory" (an engine this process already
  // loaded or built for the key, shared: no load) or "disk" (the directory's entry). Else "".
  std::string cache_tier;
};

struct MutableModelOptions {
  int threads = 1;        // threads to tune for and to run with
  std::string cache_dir;  // "" keeps engines in memory only
  uint64_t cache_max_bytes = uint64_t{4} << 30;
  // Engines kept in memory (one per input shapes), least recently run dropped first: a model fed
  // many shapes does not hold an engine for each forever. A dropped engine's shapes come back
  // through the cache (a hit) or a rebuild. At least 1.
  int max_engines = 8;
  // With a cache directory: look keys up first in the process's memory tier, the 16 most recently
  // used engines any model of the process loaded or built (their plan, kernels and constants; no
  // refittable weights), so a model whose key is there skips the entry's load. False: always the
  // directory.
  bool memory_tier = true;
  // Tuner effort (tests lower them): see engine::BuildOptions.
  int min_timing_runs = 3;
  double min_timing_ms = 3.0;
  double plan_check_ms = 1000.0;
};

class MutableModel {
 public:
  // Reads the ONNX model (graph and weights). Nothing is built until the first Run.
  static StatusOr<std::unique_ptr<MutableModel>> Open(const std::string& onnx_path,
                                                      const MutableModelOptions& options = {});
  ~MutableModel();

  // The model's weights that edits may change (float initializers), sorted by name.
  std::vector<WeightPrototype> weights() const;

  // Sets one weight (copied). Unknown names, wrong dtypes or shapes, NaN or infinity: an error,
  // nothing changed. Marks the weight dirty.
  Status SetWeight(const std::string& name, const TensorView& value);
  // Sets every weight of a safetensors state dict that names one of the model's weights (others,
  // such as PyTorch buffers, are ignored; a file that names none is refused as another model's).
  // All-or-nothing.
  Status LoadStateDict(const std::string& path);
  // LoRA adapters (PEFT directory or file, kohya file; see refit/lora.h), applied on the base
  // weights. `name` defaults to `path`; loading a name again replaces that adapter.
  Status LoadLora(const std::string& path, float scale = 1, const std::string& name = "");
  Status SetLoraScale(const std::string& name, float scale);
  Status UnloadLora(const std::string& name);

  // Replaces the model (another ONNX file: a new graph, its own weights; adapters are dropped).
  // The next Run finds its engine in memory or the cache, or builds it.
  Status ReplaceModel(const std::string& onnx_path);

  // Runs on `inputs` (one per graph input; their shapes choose the engine), after bringing an
  // engine for those shapes up to date with the current weights. `info` receives the path taken.
  StatusOr<std::map<std::string, Tensor>> Run(const std::map<std::string, TensorView>& inputs,
                                              RunInfo* info = nullptr);

 private:
  struct State;
  explicit MutableModel(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace refit
