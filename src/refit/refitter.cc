#include "refit/refitter.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>

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
  pending_.resize(prototypes_.size());
  owned_.resize(prototypes_.size());
  is_set_.assign(prototypes_.size(), 0);
}

Refitter::~Refitter() = default;

const WeightPrototype* Refitter::FindWeight(const std::string& name) const {
  const int32_t i = engine_->FindSource(name);
  return i < 0 ? nullptr : &prototypes_[size_t(i)];
}

std::string Refitter::Problem(const std::string& name, const TensorView& value,
                              int32_t* index) const {
  *index = engine_->FindSource(name);
  // Built only for an error: this runs for every weight of every refit.
  const auto where = [&] { return engine_->label() + ": weight '" + name + "'"; };
  if (*index < 0) {
    return where() + " is not a refittable weight of this engine" +
           (prototypes_.empty() ? std::string(" (a static engine has none)") : "");
  }
  const engine::SourcePrototype& proto = engine_->plan().sources[size_t(*index)];
  if (value.dtype() != proto.dtype || value.shape() != proto.shape) {
    return where() + ": " + proto.Mismatch(value.dtype(), value.shape());
  }
  if (value.data() == nullptr && value.nbytes() > 0) return where() + " has no data";
  return "";
}

void Refitter::Store(int32_t index, const TensorView& value, std::shared_ptr<const Tensor> owned) {
  const size_t i = size_t(index);
  owned_[i] = std::move(owned);
  pending_[i] =
      Tensor::Wrap(value.dtype(), value.shape(), const_cast<void*>(value.data()), nullptr);
  if (!is_set_[i]) {
    is_set_[i] = 1;
    set_.push_back(index);
  }
}

Status Refitter::SetWeight(const std::string& name, const TensorView& value) {
  int32_t index = -1;
  if (std::string problem = Problem(name, value, &index); !problem.empty()) {
    return index < 0 ? NotFound(problem) : InvalidArgument(problem);
  }
  Store(index, value, nullptr);
  return Status::Ok();
}

Status Refitter::SetWeight(const std::string& name, std::shared_ptr<const Tensor> value) {
  if (value == nullptr)
    return InvalidArgument(engine_->label() + ": weight '" + name + "' is null");
  int32_t index = -1;
  const TensorView view = value->view();
  if (std::string problem = Problem(name, view, &index); !problem.empty()) {
    return index < 0 ? NotFound(problem) : InvalidArgument(problem);
  }
  Store(index, view, std::move(value));
  return Status::Ok();
}

Status Refitter::SetWeights(const std::map<std::string, TensorView>& weights) {
  // Check everything first, so a bad entry sets nothing.
  std::string problems;
  int count = 0;
  std::vector<int32_t> indices;
  indices.reserve(weights.size());
  for (const auto& [name, view] : weights) {
    int32_t index = -1;
    const std::string problem = Problem(name, view, &index);
    if (!problem.empty() && ++count <= 20) problems += "\n  " + problem;
    indices.push_back(index);
  }
  if (count > 0) {
    return InvalidArgument(std::to_string(count) + " weight(s) do not fit " + engine_->label() +
                           ":" + problems + (count > 20 ? "\n  ..." : ""));
  }
  size_t k = 0;
  for (const auto& entry : weights) Store(indices[k++], entry.second, nullptr);
  return Status::Ok();
}

std::vector<std::string> Refitter::Pending() const {
  std::vector<std::string> names;
  for (int32_t i : set_) names.push_back(prototypes_[size_t(i)].name);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<int32_t> Refitter::MissingIndices() const {
  // A missing source, once supplied, touches its own slots, which may read further sources (a
  // BatchNorm's gamma feeds both the scaled weight and the folded bias): close over that, so one
  // call names everything Apply needs. Flags, not sets: this runs on every Apply.
  const auto& slot_sources = engine_->slot_sources();
  const auto& source_slots = engine_->source_slots();
  std::vector<uint8_t> slot_seen(slot_sources.size(), 0), needed(prototypes_.size(), 0);
  std::vector<int32_t> queue(set_.begin(), set_.end());
  bool exists = false;
  std::shared_ptr<const engine::WeightSet> current = StartSet(&exists);
  for (size_t s = 0; s < current->slots.size(); ++s) {
    if (current->slots[s] != nullptr || slot_seen[s]) continue;
    slot_seen[s] = 1;
    for (int32_t src : slot_sources[s]) queue.push_back(src);
  }
  while (!queue.empty()) {
    const int32_t src = queue.back();
    queue.pop_back();
    if (needed[size_t(src)]) continue;
    needed[size_t(src)] = 1;
    for (int32_t s : source_slots[size_t(src)]) {
      if (slot_seen[size_t(s)]) continue;
      slot_seen[size_t(s)] = 1;
      for (int32_t other : slot_sources[size_t(s)]) queue.push_back(other);
    }
  }
  std::vector<int32_t> missing;
  for (size_t i = 0; i < needed.size(); ++i) {
    if (needed[i] && !is_set_[i]) missing.push_back(int32_t(i));
  }
  return missing;
}

std::vector<std::string> Refitter::Missing() const {
  std::vector<std::string> names;
  for (int32_t i : MissingIndices()) names.push_back(prototypes_[size_t(i)].name);
  std::sort(names.begin(), names.end());
  return names;
}

std::shared_ptr<const engine::WeightSet> Refitter::StartSet(bool* exists) const {
  std::shared_ptr<const engine::WeightSet> set = engine_->weights(variant_);
  *exists = set != nullptr;
  return set != nullptr ? set : engine_->weights();
}

void Refitter::Clear() {
  for (int32_t i : set_) {
    pending_[size_t(i)] = Tensor();
    owned_[size_t(i)] = nullptr;
    is_set_[size_t(i)] = 0;
  }
  set_.clear();
}

StatusOr<RefitReport> Refitter::Apply() {
  const auto start = std::chrono::steady_clock::now();
  RefitReport report;
  for (const engine::WeightSlot& s : engine_->plan().slots) report.refittable_slots += s.refittable;
  const std::string& label = engine_->label();

  const std::vector<int32_t> missing_indices = MissingIndices();
  if (!missing_indices.empty()) {
    const std::vector<std::string> missing = Missing();
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
  for (int32_t i : set_) pending_bytes += pending_[size_t(i)].nbytes();
  ThreadPool* pool = pending_bytes >= kParallelBytes ? pool_.get() : nullptr;

  std::vector<uint8_t> touched(engine_->slot_sources().size(), 0);
  for (int32_t i : set_) {
    for (int32_t s : engine_->source_slots()[size_t(i)]) touched[size_t(s)] = 1;
  }
  std::vector<int32_t> slots;
  for (size_t s = 0; s < touched.size(); ++s) {
    if (touched[s]) slots.push_back(int32_t(s));
  }
  auto lookup = [&](const std::string& name) -> const Tensor* {
    const int32_t i = engine_->FindSource(name);
    return i < 0 || !is_set_[size_t(i)] ? nullptr : &pending_[size_t(i)];
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
  report.weights = int(set_.size());
  report.slots = int(slots.size());
  for (const auto& p : packed) report.bytes += p->nbytes();
  Clear();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace refit
