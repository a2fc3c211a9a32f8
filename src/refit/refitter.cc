#include "refit/refitter.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "base/thread_pool.h"
#include "engine/engine.h"

namespace refit {
namespace {

constexpr uint64_t kParallelBytes = uint64_t{1} << 20;

std::string TypeString(DataType dtype, const Shape& shape) {
  return std::string(DataTypeName(dtype)) + shape.ToString();
}

// "a, b, c and 4 more"
std::string NameList(const std::vector<std::string>& names, size_t limit = 20) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? "\n  " : "  ") + names[i];
  if (names.size() > limit) out += "\n  ... and " + std::to_string(names.size() - limit) + " more";
  return out;
}

}  // namespace

Refitter::Refitter(engine::Engine* engine, const RefitterOptions& options)
    : engine_(engine), variant_(options.variant) {
  int threads = options.threads;
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  if (threads > 1) pool_ = std::make_unique<ThreadPool>(threads);
  for (const engine::SourcePrototype& s : engine_->plan().sources) {
    prototypes_.push_back({s.name, s.dtype, s.shape});
  }
}

Refitter::~Refitter() = default;

const WeightPrototype* Refitter::FindWeight(const std::string& name) const {
  const int32_t i = engine_->FindSource(name);
  return i < 0 ? nullptr : &prototypes_[size_t(i)];
}

Status Refitter::SetWeight(const std::string& name, const TensorView& value) {
  const WeightPrototype* proto = FindWeight(name);
  const std::string where = engine_->label() + ": weight '" + name + "'";
  if (proto == nullptr) {
    return NotFound(where + " is not a refittable weight of this engine" +
                    (prototypes_.empty() ? std::string(" (a static engine has none)") : ""));
  }
  const std::string mismatch = engine_->plan().sources[size_t(engine_->FindSource(name))].Mismatch(
      value.dtype(), value.shape());
  if (!mismatch.empty()) return InvalidArgument(where + ": " + mismatch);
  if (value.data() == nullptr && value.nbytes() > 0) return InvalidArgument(where + " has no data");
  owned_.erase(name);
  pending_[name] =
      Tensor::Wrap(value.dtype(), value.shape(), const_cast<void*>(value.data()), nullptr);
  return Status::Ok();
}

Status Refitter::SetWeight(const std::string& name, std::shared_ptr<const Tensor> value) {
  if (value == nullptr)
    return InvalidArgument(engine_->label() + ": weight '" + name + "' is null");
  REFIT_RETURN_IF_ERROR(SetWeight(name, value->view()));
  owned_[name] = std::move(value);
  return Status::Ok();
}

Status Refitter::SetWeights(const std::map<std::string, TensorView>& weights) {
  // Validate everything first on a scratch Refitter state, so a bad entry sets nothing.
  std::string problems;
  int count = 0;
  auto saved = std::move(pending_);
  auto saved_owned = std::move(owned_);
  pending_.clear();
  owned_.clear();
  for (const auto& [name, view] : weights) {
    Status s = SetWeight(name, view);
    if (!s.ok() && ++count <= 20) problems += "\n  " + s.message();
  }
  if (count > 0) {
    pending_ = std::move(saved);
    owned_ = std::move(saved_owned);
    return InvalidArgument(std::to_string(count) + " weight(s) do not fit " + engine_->label() +
                           ":" + problems + (count > 20 ? "\n  ..." : ""));
  }
  for (auto& [name, t] : pending_) {
    saved[name] = std::move(t);
    saved_owned.erase(name);
  }
  pending_ = std::move(saved);
  owned_ = std::move(saved_owned);
  return Status::Ok();
}

std::vector<std::string> Refitter::Pending() const {
  std::vector<std::string> names;
  for (const auto& [name, _] : pending_) names.push_back(name);
  return names;
}

std::vector<std::string> Refitter::Missing() const {
  // A missing source, once supplied, touches its own slots, which may read further sources (a
  // BatchNorm's gamma feeds both the scaled weight and the folded bias): close over that, so one
  // call names everything Apply needs.
  std::set<int32_t> slots, needed;
  std::vector<int32_t> queue;
  for (const auto& [name, _] : pending_) queue.push_back(engine_->FindSource(name));
  bool exists = false;
  std::shared_ptr<const engine::WeightSet> current = StartSet(&exists);
  for (size_t s = 0; s < current->slots.size(); ++s) {
    if (current->slots[s] != nullptr || !slots.insert(int32_t(s)).second) continue;
    for (int32_t src : engine_->slot_sources()[s]) queue.push_back(src);
  }
  while (!queue.empty()) {
    const int32_t src = queue.back();
    queue.pop_back();
    if (!needed.insert(src).second) continue;
    for (int32_t s : engine_->source_slots()[size_t(src)]) {
      if (!slots.insert(s).second) continue;
      for (int32_t other : engine_->slot_sources()[size_t(s)]) queue.push_back(other);
    }
  }
  std::vector<std::string> missing;
  for (int32_t src : needed) {
    const std::string& name = prototypes_[size_t(src)].name;
    if (!pending_.count(name)) missing.push_back(name);
  }
  std::sort(missing.begin(), missing.end());
  return missing;
}

std::shared_ptr<const engine::WeightSet> Refitter::StartSet(bool* exists) const {
  std::shared_ptr<const engine::WeightSet> set = engine_->weights(variant_);
  *exists = set != nullptr;
  return set != nullptr ? set : engine_->weights();
}

void Refitter::Clear() {
  pending_.clear();
  owned_.clear();
}

StatusOr<RefitReport> Refitter::Apply() {
  const auto start = std::chrono::steady_clock::now();
  RefitReport report;
  for (const engine::WeightSlot& s : engine_->plan().slots) report.refittable_slots += s.refittable;
  const std::string& label = engine_->label();

  const std::vector<std::string> missing = Missing();
  if (!missing.empty()) {
    std::vector<std::string> lines;
    for (const std::string& name : missing) {
      const WeightPrototype* p = FindWeight(name);
      lines.push_back("'" + name + "' " + TypeString(p->dtype, p->shape));
    }
    return FailedPrecondition(label + ": " + std::to_string(missing.size()) +
                              " source weight(s) must be supplied with the ones set (their slots "
                              "are recomputed from all of their sources):\n" +
                              NameList(lines));
  }

  // Waking the pool costs tens of microseconds: small refits (a bias, a LoRA-sized update, a tiny
  // model) are faster on the calling thread alone.
  uint64_t pending_bytes = 0;
  for (const auto& [_, t] : pending_) pending_bytes += t.nbytes();
  ThreadPool* pool = pending_bytes >= kParallelBytes ? pool_.get() : nullptr;

  std::set<int32_t> touched;
  for (const auto& [name, _] : pending_) {
    for (int32_t s : engine_->source_slots()[size_t(engine_->FindSource(name))]) touched.insert(s);
  }
  const std::vector<int32_t> slots(touched.begin(), touched.end());
  auto lookup = [&](const std::string& name) -> const Tensor* {
    auto it = pending_.find(name);
    return it == pending_.end() ? nullptr : &it->second;
  };
  REFIT_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<const Tensor>> packed,
                         engine_->PackSlots(slots, lookup, pool));

  // Compare and swap: if another refit swapped first, rebuild on top of its set.
  for (bool replaced = false; !replaced;) {
    bool exists = false;
    std::shared_ptr<const engine::WeightSet> base = StartSet(&exists);
    auto next_set = std::make_shared<engine::WeightSet>(*base);
    for (size_t i = 0; i < slots.size(); ++i) next_set->slots[size_t(slots[i])] = packed[i];
    REFIT_RETURN_IF_ERROR(
        engine_->ReplaceVariant(variant_, exists ? base : nullptr, std::move(next_set), &replaced));
  }
  report.weights = int(pending_.size());
  report.slots = int(slots.size());
  for (const auto& p : packed) report.bytes += p->nbytes();
  Clear();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace refit
