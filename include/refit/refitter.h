// Refitter: puts new source weights into a loaded engine without re-tuning it.
//
//   auto engine = refit::engine::Engine::Open("model.engine").value();  // src/engine/engine.h
//   refit::Refitter refitter(engine.get());
//   for (const auto& w : refitter.weights()) ...      // name, dtype, shape of each source weight
//   refitter.SetWeight("conv1.weight", view);         // checked at once: name, dtype, shape
//   refitter.Missing();                               // what the touched slots also need
//   auto report = refitter.Apply();                   // swapped in atomically, or nothing changes
//
// Source weights are the model's own (ONNX initializer names, PyTorch state_dict keys). A refit
// recomputes only the weight slots whose recipes read a supplied weight (a BatchNorm-folded
// convolution reads its conv weight and the four BatchNorm tensors; a weight tied to several slots
// refits all of them), packs each for the tactic chosen at build time, and builds a new WeightSet
// that shares every other slot with the current one. Apply swaps it in atomically: runs in flight
// finish on the set they started with, later runs see the new one, none sees a mix. Any failure
// (a missing weight, a NaN, a value that overflows the engine's precision) changes nothing.
//
// Thread safety: one thread drives a Refitter; other threads may run the engine meanwhile, and
// several Refitters may apply to one engine (each builds on the set it finds and retries if
// another refit swapped first, so no update is lost).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "refit/status.h"
#include "refit/tensor.h"

namespace refit {
namespace engine {
class Engine;
struct WeightSet;
}  // namespace engine
class ThreadPool;

struct WeightPrototype {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Shape shape;
};

struct RefitReport {
  int weights = 0;           // source weights applied
  int slots = 0;             // weight slots recomputed
  int refittable_slots = 0;  // weight slots a refit can change
  uint64_t bytes = 0;        // packed bytes written
  double seconds = 0;        // Apply's wall time
};

struct RefitterOptions {
  int threads = 0;  // threads evaluating and packing slots; 0: every hardware thread
  // The engine's weight variant to refit ("" = the default set). A variant that does not exist
  // yet is created by Apply, starting from the default set (untouched slots shared with it).
  std::string variant;
};

class Refitter {
 public:
  // `engine` must outlive the Refitter.
  explicit Refitter(engine::Engine* engine, const RefitterOptions& options = {});
  ~Refitter();
  Refitter(const Refitter&) = delete;
  Refitter& operator=(const Refitter&) = delete;

  // The refittable source weights (empty for a static engine).
  const std::vector<WeightPrototype>& weights() const { return prototypes_; }
  const WeightPrototype* FindWeight(const std::string& name) const;

  // Sets one source weight. An unknown name, a wrong dtype or a wrong shape is an error naming
  // the weight with expected vs found, and leaves the Refitter as it was. The view's memory is
  // borrowed: it must stay valid and unchanged until Apply or Clear returns.
  Status SetWeight(const std::string& name, const TensorView& value);
  // Same, keeping `value` alive itself.
  Status SetWeight(const std::string& name, std::shared_ptr<const Tensor> value);
  // Sets every entry of an in-memory state dict (views borrowed as above). All problems are
  // reported at once (up to 20), and on any problem nothing is set.
  Status SetWeights(const std::map<std::string, TensorView>& weights);

  // Names set since the last Apply or Clear, sorted.
  std::vector<std::string> Pending() const;
  // Source weights Apply still needs, sorted: those read by a slot that a pending weight changes
  // (a slot is recomputed from all of its sources), closed over the slots those touch in turn (a
  // BatchNorm's gamma feeds the folded weight and the folded bias), and, for a stripped engine,
  // those of every slot that has no value yet.
  std::vector<std::string> Missing() const;

  // Recomputes the slots the pending weights touch and swaps the new WeightSet in. Fails, with
  // nothing changed, when weights are missing, when a value is not finite, or when a slot's value
  // overflows the precision the engine stores. Pending weights are cleared on success only.
  StatusOr<RefitReport> Apply();
  // Drops every pending weight.
  void Clear();

 private:
  // The set Apply builds on: the variant's, or the default set for a new variant.
  std::shared_ptr<const engine::WeightSet> StartSet(bool* exists) const;
  // What is wrong with setting `name` to `value` ("" when nothing); `index` gets its source
  // index (-1 when unknown).
  std::string Problem(const std::string& name, const TensorView& value, int32_t* index) const;
  // Records source `index` (checked by Problem) as set to `value`, kept alive by `owned` if any.
  void Store(int32_t index, const TensorView& value, std::shared_ptr<const Tensor> owned);
  // Missing() as source indices, ascending.
  std::vector<int32_t> MissingIndices() const;

  engine::Engine* engine_;
  std::string variant_;
  std::unique_ptr<ThreadPool> pool_;  // null with one thread
  std::vector<WeightPrototype> prototypes_;
  // Set weights by source index (into engine plan().sources): pending_[i] wraps borrowed or owned
  // memory, owned_[i] keeps owned memory alive; set_ lists the indices set, in setting order.
  std::vector<Tensor> pending_;
  std::vector<std::shared_ptr<const Tensor>> owned_;
  std::vector<uint8_t> is_set_;
  std::vector<int32_t> set_;
};

}  // namespace refit
