// The weight half of an Engine: weight sets, the refit index, packing slots from source weights.
#include <algorithm>
#include <atomic>
#include <mutex>

#include "base/finite.h"
#include "engine/engine.h"

namespace refit::engine {

bool WeightSet::complete() const {
  for (const auto& s : slots) {
    if (s == nullptr) return false;
  }
  return true;
}

uint64_t WeightSet::bytes() const {
  uint64_t total = 0;
  for (const auto& s : slots) total += s ? s->nbytes() : 0;
  return total;
}

uint64_t WeightSet::BytesNotIn(const WeightSet& base) const {
  uint64_t total = 0;
  for (size_t s = 0; s < slots.size(); ++s) {
    const bool shared = s < base.slots.size() && base.slots[s] == slots[s];
    if (!shared && slots[s] != nullptr) total += slots[s]->nbytes();
  }
  return total;
}

uint64_t SourceSet::bytes() const {
  uint64_t total = 0;
  for (const auto& t : tensors) total += t ? t->nbytes() : 0;
  return total;
}

void Engine::IndexRefitMap() {
  core_->source_index.clear();
  for (size_t i = 0; i < core_->plan.sources.size(); ++i)
    core_->source_index[core_->plan.sources[i].name] = int32_t(i);
  core_->source_slots.assign(core_->plan.sources.size(), {});
  core_->slot_sources.assign(core_->plan.slots.size(), {});
  for (size_t s = 0; s < core_->plan.slots.size(); ++s) {
    const WeightSlot& slot = core_->plan.slots[s];
    if (!slot.refittable) continue;
    // ParsePlan checked that every recipe names only sources with a prototype.
    for (const std::string& name : slot.recipe.Sources()) {
      const int32_t src = FindSource(name);
      if (src < 0) continue;
      core_->slot_sources[s].push_back(src);
      core_->source_slots[size_t(src)].push_back(int32_t(s));
    }
  }
}

int32_t Engine::FindSource(const std::string& name) const {
  auto it = core_->source_index.find(name);
  return it == core_->source_index.end() ? -1 : it->second;
}

StatusOr<std::shared_ptr<const WeightSet>> Engine::CreateWeightSet(
    const SourceLookup& sources) const {
  std::string problems;
  int count = 0;
  auto problem = [&](const std::string& p) {
    if (++count <= 20) problems += "\n  " + p;
  };
  for (const SourcePrototype& proto : core_->plan.sources) {
    const Tensor* t = sources(proto.name);
    if (t == nullptr) {
      problem("'" + proto.name + "': missing (expected " + std::string(DataTypeName(proto.dtype)) +
              proto.shape.ToString() + ")");
    } else if (const std::string m = proto.Mismatch(t->dtype(), t->shape()); !m.empty()) {
      problem("'" + proto.name + "': " + m);
    }
  }
  if (count > 0) {
    return InvalidArgument(core_->label + ": " + std::to_string(count) + " source weight problem" +
                           (count == 1 ? "" : "s") + ":" + problems +
                           (count > 20 ? "\n  ..." : ""));
  }
  std::vector<int32_t> refittable;
  for (size_t s = 0; s < core_->plan.slots.size(); ++s) {
    if (core_->plan.slots[s].refittable) refittable.push_back(int32_t(s));
  }
  REFIT_ASSIGN_OR_RETURN(auto packed, PackSlots(refittable, sources, pool_.get()));
  std::shared_ptr<const WeightSet> current = weights();
  auto ws = std::make_shared<WeightSet>(*current);
  for (size_t i = 0; i < refittable.size(); ++i) ws->slots[size_t(refittable[i])] = packed[i];
  return std::shared_ptr<const WeightSet>(std::move(ws));
}

StatusOr<std::vector<std::shared_ptr<const Tensor>>> Engine::PackSlots(
    const std::vector<int32_t>& slots, const SourceLookup& sources, ThreadPool* pool) const {
  for (int32_t s : slots) {
    if (s < 0 || size_t(s) >= core_->plan.slots.size() ||
        !core_->plan.slots[size_t(s)].refittable) {
      return InvalidArgument(core_->label + ": slot " + std::to_string(s) + " is not refittable");
    }
  }
  // Largest first, handed out one at a time: a few big convolutions dominate most models.
  std::vector<size_t> order(slots.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return core_->plan.slots[size_t(slots[a])].nbytes() >
           core_->plan.slots[size_t(slots[b])].nbytes();
  });
  std::vector<std::shared_ptr<const Tensor>> out(slots.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status error = Status::Ok();
  auto fail = [&](Status st) {
    std::lock_guard<std::mutex> lock(error_mu);
    if (error.ok()) error = std::move(st);
    failed = true;
  };
  std::vector<std::string> bad_values;  // "'name' element i", under error_mu
  auto bad_value = [&](const std::string& source, int64_t element) {
    std::lock_guard<std::mutex> lock(error_mu);
    bad_values.push_back("'" + source + "' element " + std::to_string(element));
  };
  auto scan = [&](const std::string& name) {
    const Tensor* t = sources(name);
    const int64_t i = t == nullptr ? -1 : FirstNonFinite(t->view());
    if (i >= 0) bad_value(name, i);
    return i < 0;
  };
  // Slots the split copy below already made.
  std::vector<uint8_t> done(slots.size(), 0);
  auto work = [&](int64_t, int64_t) {
    for (size_t k; !failed && (k = next.fetch_add(1)) < order.size();) {
      const size_t i = order[k];
      if (done[i]) continue;
      const WeightSlot& slot = core_->plan.slots[size_t(slots[i])];
      // Built only on failure: most slots are small, and a refit is many of them.
      auto where = [&] { return core_->label + ": slot '" + slot.name + "'"; };
      const backend::Tactic& tactic = *core_->tactics[size_t(slot.layer)];
      const bool keeps_layout = tactic.KeepsWeightLayout(size_t(slot.input));
      StatusOr<Tensor> packed = Tensor();  // every path below assigns it
      if (slot.recipe.IsIdentity()) {
        const std::string& name = slot.recipe.steps()[0].source;
        const Tensor* src = sources(name);
        if (src == nullptr || src->dtype() != slot.dtype || src->shape() != slot.shape) {
          fail(InvalidArgument(where() + ": source '" + name + "' is missing or of another type"));
          return;
        }
        if (keeps_layout) {
          // The copy into the slot is the whole pack; check the values on the way.
          packed = Tensor::Uninitialized(src->dtype(), src->shape());
          if (packed.ok()) {
            const int64_t bad = CopyCheckingFinite(src->view(), packed->mutable_data());
            if (bad >= 0) {
              bad_value(name, bad);
              continue;
            }
          }
        } else {
          // Packed straight from the source's memory; a tactic that checks values as it packs
          // needs no scan first (the scan then only names the bad element).
          const Tensor view =
              Tensor::Wrap(src->dtype(), src->shape(), const_cast<void*>(src->data()), nullptr);
          if (tactic.PacksChecked(size_t(slot.input))) {
            packed = tactic.PackWeightChecked(size_t(slot.input), view);
            if (!packed.ok() && packed.status().code() == StatusCode::kInvalidArgument &&
                !scan(name)) {
              continue;
            }
          } else {
            if (!scan(name)) continue;
            packed = tactic.PackWeight(size_t(slot.input), view);
          }
        }
      } else {
        // A BatchNorm-folded weight w * f is non-finite wherever w is (f == 0 gives NaN too), and
        // bn_scale refuses a non-finite result: w needs no scan of its own unless it fails. A
        // tactic that packs transpose(w) in one pass checks w's values as it packs them.
        const std::vector<ir::WeightRecipe::Step>& steps = slot.recipe.steps();
        const ir::WeightRecipe::Step& last = steps.back();
        const bool transposed = steps.size() == 2 && steps[0].op == ir::WeightRecipe::Op::kSource &&
                                last.op == ir::WeightRecipe::Op::kTranspose &&
                                last.ints == std::vector<int64_t>{1, 0} && slot.shape.rank() == 2 &&
                                tactic.PacksTransposed(size_t(slot.input));
        std::string checked_by_result;
        if ((last.op == ir::WeightRecipe::Op::kBnScale || transposed) &&
            steps[size_t(last.args[0])].op == ir::WeightRecipe::Op::kSource) {
          checked_by_result = steps[size_t(last.args[0])].source;
        }
        bool clean = true;
        for (const std::string& name : slot.recipe.Sources()) {
          if (name != checked_by_result) clean = scan(name) && clean;
        }
        if (!clean) continue;
        // bn_scale(w, gamma, var) straight from the sources, for a tactic that scales while it
        // packs: w is read once, and no folded copy is written and read back.
        bool fused = false;
        if (steps.size() == 4 && last.op == ir::WeightRecipe::Op::kBnScale &&
            !checked_by_result.empty() && last.axis == 0 &&
            tactic.PacksScaledRows(size_t(slot.input))) {
          const Tensor* w = sources(checked_by_result);
          const Tensor* gamma = sources(steps[size_t(last.args[1])].source);
          const Tensor* var = sources(steps[size_t(last.args[2])].source);
          if (w != nullptr && gamma != nullptr && var != nullptr && w->dtype() == DataType::kF32 &&
              w->shape() == slot.shape && gamma->dtype() == DataType::kF32 &&
              var->dtype() == DataType::kF32 && w->shape().rank() > 0 &&
              gamma->NumElements() == w->shape()[0] && var->NumElements() == w->shape()[0]) {
            std::vector<float> factor(size_t(w->shape()[0]));
            for (size_t c = 0; c < factor.size(); ++c) {
              factor[c] =
                  ir::BnScaleFactor(gamma->data_as<float>()[c], var->data_as<float>()[c], last.eps);
            }
            packed = tactic.PackWeightScaledRows(size_t(slot.input), *w, factor.data());
            fused = true;
          }
        }
        // transpose(w) straight from w.
        if (transposed) {
          const Tensor* w = sources(checked_by_result);
          if (w != nullptr && w->dtype() == slot.dtype &&
              w->shape() == Shape({slot.shape[1], slot.shape[0]})) {
            packed = tactic.PackWeightTransposed(size_t(slot.input), *w);
            fused = true;
          }
        }
        if (fused && !packed.ok() && packed.status().code() == StatusCode::kInvalidArgument &&
            !scan(checked_by_result)) {
          continue;  // a NaN or infinity in w, named by the scan
        }
        // (A transposed source of the wrong type fails in Evaluate; scanned first all the same,
        // since the transpose step does not check values.)
        if (transposed && !fused && !scan(checked_by_result)) continue;
        if (!fused) {
          // Each source looked up once. Sources of their prototypes' types need no InferType:
          // the recipe type-checked against the prototypes when the engine loaded.
          const std::vector<int32_t>& protos = core_->slot_sources[size_t(slots[i])];
          const std::vector<std::string>& names = slot.recipe.Sources();
          std::vector<const Tensor*> looked_up(names.size());
          bool typed = protos.size() == names.size();
          for (size_t k = 0; k < names.size(); ++k) {
            looked_up[k] = sources(names[k]);
            if (!typed) continue;
            const SourcePrototype& proto = core_->plan.sources[size_t(protos[k])];
            typed = looked_up[k] != nullptr && looked_up[k]->dtype() == proto.dtype &&
                    looked_up[k]->shape() == proto.shape;
          }
          auto value = slot.recipe.EvaluateOver(looked_up, typed);
          if (!value.ok()) {
            if (!checked_by_result.empty() && !scan(checked_by_result)) continue;
            fail(value.status().WithContext(where()));
            return;
          }
          // A freshly computed value in the tactic's own layout is the packed weight: no copy.
          packed = keeps_layout ? std::move(value)
                                : tactic.PackWeight(size_t(slot.input), value.value());
        }
      }
      if (!packed.ok()) {
        fail(packed.status().WithContext(where()));
        return;
      }
      if (packed->dtype() != slot.packed_dtype || packed->shape() != slot.packed_shape) {
        fail(Internal(where() + " packed to another layout than built"));
        return;
      }
      out[i] = std::make_shared<const Tensor>(std::move(packed).value());
    }
  };
  // Waking another thread costs tens of microseconds: more than packing a small model's weights.
  uint64_t total_bytes = 0;
  for (int32_t s : slots) total_bytes += core_->plan.slots[size_t(s)].nbytes();
  constexpr uint64_t kMinParallelBytes = uint64_t{1} << 20;
  if (total_bytes < kMinParallelBytes) pool = nullptr;
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  if (threads > 1) {
    // A large slot that is a checked copy of one source (its tactic keeps the layout: an
    // embedding table, a classifier read as stored) is copied in chunks by every thread first:
    // one such slot can be a third of a model's weights, which the slot-by-slot loop below would
    // leave to a single thread.
    constexpr uint64_t kSplitCopyBytes = uint64_t{1} << 20;
    constexpr int64_t kChunkBytes = int64_t{256} << 10;
    for (size_t i : order) {
      const WeightSlot& slot = core_->plan.slots[size_t(slots[i])];
      if (slot.nbytes() < kSplitCopyBytes || !slot.recipe.IsIdentity() ||
          !core_->tactics[size_t(slot.layer)]->KeepsWeightLayout(size_t(slot.input))) {
        continue;
      }
      const std::string& name = slot.recipe.steps()[0].source;
      const Tensor* src = sources(name);
      if (src == nullptr || src->dtype() != slot.dtype || src->shape() != slot.shape) continue;
      auto packed = Tensor::Uninitialized(src->dtype(), src->shape());
      if (!packed.ok()) continue;  // the loop below reports it
      const int64_t elements = src->NumElements();
      const int64_t elem_bytes = int64_t(DataTypeSize(src->dtype()));
      const int64_t per_chunk = std::max<int64_t>(1, kChunkBytes / elem_bytes);
      const int64_t chunks = (elements + per_chunk - 1) / per_chunk;
      std::atomic<int64_t> first_bad{elements};
      const char* from = static_cast<const char*>(src->data());
      char* to = static_cast<char*>(packed->mutable_data());
      ParallelFor(pool, chunks, [&](int64_t begin, int64_t end) {
        const int64_t e0 = begin * per_chunk, e1 = std::min(elements, end * per_chunk);
        const TensorView part(src->dtype(), Shape({e1 - e0}), from + e0 * elem_bytes);
        const int64_t bad = CopyCheckingFinite(part, to + e0 * elem_bytes);
        if (bad < 0) return;
        int64_t seen = first_bad.load();
        while (e0 + bad < seen && !first_bad.compare_exchange_weak(seen, e0 + bad)) {
        }
      });
      if (first_bad.load() < elements) {
        bad_value(name, first_bad.load());
      } else {
        out[i] = std::make_shared<const Tensor>(std::move(packed).value());
      }
      done[i] = 1;
    }
  }
  ParallelFor(pool, std::min<int64_t>(threads, int64_t(order.size())), work);
  if (!error.ok()) return error;
  if (!bad_values.empty()) {
    std::sort(bad_values.begin(), bad_values.end());
    bad_values.erase(std::unique(bad_values.begin(), bad_values.end()), bad_values.end());
    std::string list;
    for (size_t b = 0; b < bad_values.size() && b < 20; ++b) list += "\n  " + bad_values[b];
    if (bad_values.size() > 20) list += "\n  ...";
    return InvalidArgument(core_->label + ": " + std::to_string(bad_values.size()) +
                           " source weight(s) hold NaN or infinity (first bad element):" + list);
  }
  return out;
}

}  // namespace refit::engine
