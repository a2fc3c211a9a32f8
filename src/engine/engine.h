// A loaded engine: an immutable plan with one kernel per layer, plus the packed weights it runs
// with (a WeightSet).
//
// Loading validates the whole file before using any of it (container checksums, the plan's every
// index and size, the CPU features its tactics need against this CPU, each weight slot's bytes),
// and uses stored weights in place from the mmapped file. A stripped engine loads without weights;
// Run refuses until a WeightSet is supplied (CreateWeightSet + SetWeights).
//
// Variants: besides its default WeightSet an engine may hold named ones (the base model plus an
// adapter, another fine-tune); RunVariant names the set it uses. Slots a variant does not change
// are the base's own tensors (shared, not copied).
//
// Thread safety: Run may be called from several threads at once; each run takes the current
// WeightSet once and uses only it, so SetWeights never shows a run half-old, half-new weights.
// Variants may be added, replaced and removed while other threads run any of them.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "base/thread_pool.h"
#include "engine/builder.h"
#include "engine/engine_file.h"
#include "engine/plan.h"
#include "refit/status.h"
#include "refit/tensor.h"

namespace refit::engine {

class EngineFile;

struct EngineOptions {
  int threads = 1;
};

// Packed weights for every slot of one engine; immutable once made. A null slot is missing (a
// stripped engine before its weights are supplied).
struct WeightSet {
  std::vector<std::shared_ptr<const Tensor>> slots;
  // Identifies the plan and kernels the slots were packed for (an engine and those made by its
  // NewInstance): an engine refuses a set of another one. Copies keep it.
  uint64_t owner = 0;
  bool complete() const;
  uint64_t bytes() const;
  // Bytes of the slots that are not shared with `base` (what this set costs beside it).
  uint64_t BytesNotIn(const WeightSet& base) const;
};

// Source weights (before recipes), one per plan().sources entry, as the builder saw them: the
// base that LoRA deltas apply to. Immutable once made.
struct SourceSet {
  std::vector<std::shared_ptr<const Tensor>> tensors;
  uint64_t bytes() const;
};

// Source weights by name: null when not supplied.
using SourceLookup = std::function<const Tensor*(const std::string& name)>;

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> Open(const std::string& path,
                                                const EngineOptions& options = {});
  static StatusOr<std::unique_ptr<Engine>> FromBytes(std::string bytes, const std::string& label,
                                                     const EngineOptions& options = {});
  // An engine straight from the builder (no file round trip).
  static StatusOr<std::unique_ptr<Engine>> FromBuild(BuiltEngine built,
                                                     const EngineOptions& options = {});
  ~Engine();

  // Another engine over this one's plan and kernels, which it shares (they are immutable): no
  // load, no kernel instantiation. It starts with this engine's current WeightSet and kept
  // sources (shared too), and has its own thread pool (`options`), run contexts and variants, so
  // the two refit and run independently. Weight sets of one are valid for the other.
  StatusOr<std::unique_ptr<Engine>> NewInstance(const EngineOptions& options = {}) const;

  // The plan as loaded: layers, tactics, slots and recipes, without the tuner's timings when the
  // engine came from a file.
  const Plan& plan() const { return core_->plan; }
  // The threads runs use: EngineOptions::threads, at most the plan's max_threads.
  int threads() const { return pool_ != nullptr ? pool_->num_threads() : 1; }
  // The plan with every layer's tuner timings (what inspect shows and a written engine keeps). An
  // engine from a file parses its tactics section here, once, on first use: a load does not, as
  // nothing in loading or running needs it. Valid as long as the engine; a malformed section is
  // a DataLoss error naming the file.
  StatusOr<const Plan*> TimedPlan() const;
  const std::string& label() const { return core_->label; }
  uint64_t file_bytes() const { return core_->file_bytes; }
  // The metadata section's JSON (for an engine straight from the builder, what SerializeEngine
  // would write, so Serialize keeps the model name and build statistics).
  const std::string& metadata() const { return core_->metadata; }

  std::shared_ptr<const WeightSet> weights() const;
  // Evaluates every refittable slot's recipe over `sources` and packs it for its tactic; constant
  // slots are shared with the current WeightSet. Every source prototype must be supplied with its
  // dtype and shape: the error lists each problem (missing, wrong dtype, wrong shape). Changes
  // nothing in the engine.
  StatusOr<std::shared_ptr<const WeightSet>> CreateWeightSet(const SourceLookup& sources) const;
  // Atomically replaces the WeightSet later runs use. The set must come from this engine.
  Status SetWeights(std::shared_ptr<const WeightSet> weights);
  // Replaces the WeightSet only if it is still `expected` (compare and swap); false otherwise.
  // Lets concurrent refits each build on the set they read without losing the other's update.
  Status ReplaceWeights(const std::shared_ptr<const WeightSet>& expected,
                        std::shared_ptr<const WeightSet> desired, bool* replaced);

  // Named variants (sorted); "" is the default set and is not listed.
  std::vector<std::string> variants() const;
  // The set of `variant` ("" = weights()), or null when there is no such variant.
  std::shared_ptr<const WeightSet> weights(const std::string& variant) const;
  // Adds or replaces a named variant (a non-empty name of at most 256 printable characters).
  Status SetVariant(const std::string& name, std::shared_ptr<const WeightSet> weights);
  // Removes a named variant; runs in flight on it finish with the set they hold.
  Status RemoveVariant(const std::string& name);
  // ReplaceWeights for `variant` ("" = the default set); with `expected` null, it creates the
  // variant only if it does not exist yet.
  Status ReplaceVariant(const std::string& variant,
                        const std::shared_ptr<const WeightSet>& expected,
                        std::shared_ptr<const WeightSet> desired, bool* replaced);

  // The source weights kept in the engine (built with keep_sources, or the file's sources
  // section), or null.
  std::shared_ptr<const SourceSet> kept_sources() const;
  // Replaces the kept sources (one per plan().sources entry, each of its prototype's dtype and
  // shape), e.g. once adapters were merged for good; null drops them.
  Status SetKeptSources(std::shared_ptr<const SourceSet> sources);

  // The refit index, prepared once at load: which refittable slots read each source prototype
  // (by index into plan().sources), and which sources each slot's recipe reads.
  const std::vector<std::vector<int32_t>>& source_slots() const { return core_->source_slots; }
  const std::vector<std::vector<int32_t>>& slot_sources() const { return core_->slot_sources; }
  // Index of the source prototype called `name` in plan().sources, or -1.
  int32_t FindSource(const std::string& name) const;
  // Evaluates the recipes of refittable `slots` over `sources` and packs each for its tactic, on
  // `pool` (null: the calling thread), largest slots first. Every source those recipes read must
  // be supplied. A NaN or infinity in a source, or a recipe result that overflows, is an error
  // (all bad sources listed with their first bad element); the checks ride on the passes that
  // copy or compute the values. One result per entry of `slots`. Changes nothing in the engine.
  StatusOr<std::vector<std::shared_ptr<const Tensor>>> PackSlots(const std::vector<int32_t>& slots,
                                                                 const SourceLookup& sources,
                                                                 ThreadPool* pool) const;
  // The engine file for this engine's plan with `weights` (default: the current set), in `mode`
  // (refittable or stripped; a static engine can only be written as static). Metadata is kept,
  // with the mode updated. Fails when a slot the mode stores is missing. A refittable file also
  // gets `sources` (default: kept_sources()) when there are any; a stripped one never does.
  StatusOr<std::string> Serialize(EngineMode mode,
                                  std::shared_ptr<const WeightSet> weights = nullptr,
                                  std::shared_ptr<const SourceSet> sources = nullptr) const;
  // The same file written atomically to `path` (temporary file and rename; nothing is written on
  // error) straight from the weights, without a copy of the whole file in memory. Returns the
  // file size.
  StatusOr<uint64_t> WriteFile(const std::string& path, EngineMode mode,
                               std::shared_ptr<const WeightSet> weights = nullptr,
                               std::shared_ptr<const SourceSet> sources = nullptr) const;

  // Runs the engine: one input per graph input (dtype and shape as built), one output per graph
  // output. With `layer_us`, also the wall time of each layer in microseconds (a profile).
  StatusOr<std::map<std::string, Tensor>> Run(const std::map<std::string, TensorView>& inputs,
                                              std::vector<double>* layer_us = nullptr) const;
  // Run with the weights of `variant` ("" = the default set); an unknown variant is an error.
  StatusOr<std::map<std::string, Tensor>> RunVariant(
      const std::string& variant, const std::map<std::string, TensorView>& inputs,
      std::vector<double>* layer_us = nullptr) const;

 private:
  // Serialize and WriteFile's shared part: the file's sections, borrowing from `weights`,
  // `sources`.
  StatusOr<EngineFileWriter> Writer(EngineMode mode,
                                    const std::shared_ptr<const WeightSet>& weights,
                                    const std::shared_ptr<const SourceSet>& sources) const;

  struct Context;
  struct Core;
  Engine();                                     // with a new, empty core
  explicit Engine(std::shared_ptr<Core> core);  // sharing `core` (NewInstance)
  static StatusOr<std::unique_ptr<Engine>> Load(std::shared_ptr<EngineFile> file,
                                                const std::string& label,
                                                const EngineOptions& options);
  Status Init(const EngineOptions& options);
  void IndexRefitMap();
  Status CheckInputs(const std::map<std::string, TensorView>& inputs) const;
  std::unique_ptr<Context> AcquireContext() const;
  void ReleaseContext(std::unique_ptr<Context> ctx) const;
  StatusOr<std::unique_ptr<Context>> NewContext() const;
  StatusOr<std::map<std::string, Tensor>> RunWith(std::shared_ptr<const WeightSet> ws,
                                                  const std::map<std::string, TensorView>& inputs,
                                                  std::vector<double>* layer_us) const;
  Status CheckSet(const std::shared_ptr<const WeightSet>& weights) const;

  // What engines made by NewInstance share: set up once by Load or FromBuild (Init), then only
  // read.
  struct Core {
    uint64_t id = 0;  // unique in the process: WeightSet::owner
    std::string label;
    std::string metadata;
    uint64_t file_bytes = 0;
    std::shared_ptr<void> file;  // keeps mmapped weights alive
    Plan plan;
    // Files only: the tactics section (in `file`), parsed by TimedPlan into `timed_plan`, and
    // the refit map section (empty for static engines); the writers copy both as they are.
    std::string_view tactics_section;
    std::string_view refit_map_section;
    mutable std::once_flag timed_once;
    mutable std::unique_ptr<Plan> timed_plan;
    mutable Status timed_status;
    std::vector<backend::LayerDesc> descs;
    std::vector<std::unique_ptr<backend::Tactic>> tactics;
    std::vector<std::unique_ptr<backend::Kernel>> kernels;
    uint64_t workspace_bytes = 0;  // the largest kernel workspace, as instantiated
    std::vector<std::vector<int32_t>> source_slots;
    std::vector<std::vector<int32_t>> slot_sources;
    std::map<std::string, int32_t> source_index;
  };
  std::shared_ptr<Core> core_;  // never null; shared with NewInstance's engines
  // The pool for `options` and the plan's max_threads (none for one thread).
  void MakePool(const EngineOptions& options);
  std::unique_ptr<ThreadPool> pool_;
  std::shared_ptr<const WeightSet> weights_;  // accessed with std::atomic_load/store
  mutable std::mutex variants_mu_;
  std::map<std::string, std::shared_ptr<const WeightSet>> variants_;  // guarded by variants_mu_
  std::shared_ptr<const SourceSet> kept_sources_;  // accessed with std::atomic_load/store
  mutable std::mutex contexts_mu_;
  mutable std::vector<std::unique_ptr<Context>> free_contexts_;
};

}  // namespace refit::engine
