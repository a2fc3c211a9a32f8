#include "tuner/tuner.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <random>

namespace refit::tuner {
namespace {

using Clock = std::chrono::steady_clock;

StatusOr<Tensor> SyntheticInput(const backend::TensorDesc& d, uint32_t seed) {
  REFIT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(d.dtype, d.shape));
  if (d.dtype == DataType::kF32) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    float* p = t.mutable_data_as<float>();
    for (int64_t i = 0; i < t.NumElements(); ++i) p[i] = dist(rng);
  }
  return t;
}

struct AlignedFree {
  void operator()(char* p) const { ::operator delete[](p, std::align_val_t(64)); }
};

// Median run time of one tactic in microseconds.
StatusOr<double> TimeTactic(const backend::LayerDesc& layer, const backend::Tactic& tactic,
                            const std::vector<const Tensor*>& weights,
                            const std::vector<Tensor>& activations, const TunerOptions& options) {
  std::vector<Tensor> packed(layer.inputs.size());
  backend::KernelIo io;
  io.pool = options.pool;
  for (size_t i = 0; i < layer.inputs.size(); ++i) {
    if (layer.is_weight(i) && i < weights.size() && weights[i] != nullptr) {
      REFIT_ASSIGN_OR_RETURN(packed[i], tactic.PackWeight(i, *weights[i]));
      io.inputs.push_back(&packed[i]);
    } else {
      io.inputs.push_back(activations[i].defined() ? &activations[i] : nullptr);
    }
  }
  REFIT_ASSIGN_OR_RETURN(std::unique_ptr<backend::Kernel> kernel, tactic.Instantiate());
  std::unique_ptr<char[], AlignedFree> workspace(
      new (std::align_val_t(64)) char[kernel->workspace_bytes() + 64]);
  io.workspace = workspace.get();
  std::vector<Tensor> outputs;
  for (const backend::TensorDesc& d : layer.outputs) {
    if (d.present()) {
      REFIT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(d.dtype, d.shape));
      outputs.push_back(std::move(t));
    } else {
      outputs.emplace_back();
    }
  }
  for (Tensor& o : outputs) io.outputs.push_back(o.defined() ? &o : nullptr);
  for (int i = 0; i < options.warmup_runs; ++i) REFIT_RETURN_IF_ERROR(kernel->Run(io));
  std::vector<double> times;
  double total_ms = 0;
  while (int(times.size()) < options.max_runs &&
         (int(times.size()) < options.min_runs || total_ms < options.min_total_ms)) {
    const auto start = Clock::now();
    REFIT_RETURN_IF_ERROR(kernel->Run(io));
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    times.push_back(us);
    total_ms += us / 1000.0;
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

}  // namespace

StatusOr<TuneResult> TuneLayer(const backend::LayerDesc& layer,
                               const std::vector<const Tensor*>& weights,
                               const std::vector<std::unique_ptr<backend::Tactic>>& tactics,
                               const std::string& fingerprint, const TunerOptions& options) {
  if (tactics.empty()) return Internal(layer.Label() + ": no tactic to tune");
  TuneResult result;
  if (tactics.size() == 1) return result;
  const int threads = options.pool != nullptr ? options.pool->num_threads() : 1;
  const std::string key = TimingCache::Key(layer, threads, fingerprint);
  if (options.cache != nullptr) {
    if (const CachedTiming* hit = options.cache->Find(key)) {
      for (size_t i = 0; i < tactics.size(); ++i) {
        if (tactics[i]->name() == hit->tactic) {
          result.chosen = i;
          result.timings_us = hit->timings_us;
          result.from_cache = true;
          return result;
        }
      }
      // The cached winner is not available any more: time again.
    }
  }
  std::vector<Tensor> activations;
  for (size_t i = 0; i < layer.inputs.size(); ++i) {
    const backend::TensorDesc& d = layer.inputs[i];
    if (!d.present() || layer.is_weight(i)) {
      activations.emplace_back();
      continue;
    }
    REFIT_ASSIGN_OR_RETURN(Tensor t, SyntheticInput(d, uint32_t(1234 + i)));
    activations.push_back(std::move(t));
  }
  double best = -1;
  for (size_t t = 0; t < tactics.size(); ++t) {
    if (options.progress) {
      options.progress("tactic " + std::to_string(t + 1) + "/" + std::to_string(tactics.size()) +
                       " " + tactics[t]->name());
    }
    auto us = TimeTactic(layer, *tactics[t], weights, activations, options);
    if (!us.ok()) {
      result.failures.push_back(tactics[t]->name() + ": " + us.status().message());
      continue;
    }
    result.timings_us.push_back({tactics[t]->name(), *us});
    if (best < 0 || *us < best) {
      best = *us;
      result.chosen = t;
    }
  }
  if (best < 0) {
    return Internal(layer.Label() + ": every tactic failed; first: " + result.failures.front());
  }
  if (options.cache != nullptr) {
    options.cache->Put(key, {tactics[result.chosen]->name(), result.timings_us});
  }
  return result;
}

}  // namespace refit::tuner
