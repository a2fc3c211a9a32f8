#include "tuner/tuner.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <random>
#include <string>

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

// Trials kept for the runoff hold at most this many bytes of packed weights each.
constexpr size_t kMaxKeptBytes = size_t{64} << 20;

// Where a layer's inputs are in an engine: in the caches of the threads that wrote them, each
// its own part, not in every core's cache at once as repeated runs over one input leave them.
// Apply() rewrites every activation input from its pristine copy, one part per thread of the pool,
// as a producing layer's threads do; a tactic whose threads read what other cores wrote is then
// timed paying for it. The parts are those the kernels before give each thread: a channel-blocked
// 4-D input of fewer images than threads by rows (each thread the same rows of every block:
// conv_nchwc, conv_depthwise, pool), any other input by contiguous bytes (whole images, or plain
// channels). Nothing to do with one thread.
class InputPlacement {
 public:
  InputPlacement(std::vector<Tensor>* activations, ThreadPool* pool) : pool_(pool) {
    if (pool == nullptr || pool->num_threads() < 2) return;
    for (size_t i = 0; i < activations->size(); ++i) {
      Tensor& t = (*activations)[i];
      if (!t.defined() || t.nbytes() == 0) continue;
      StatusOr<Tensor> copy = Tensor::Create(t.dtype(), t.shape());
      if (!copy.ok()) continue;  // out of memory: time without placing this input
      std::memcpy(copy->mutable_data(), t.data(), t.nbytes());
      inputs_.push_back({i, &t, std::move(copy).value()});
    }
  }
  // `blocks`: the tactic's block per layer input (Tactic::InputBlockAt).
  void Apply(const std::vector<int>& blocks) const {
    for (const Placed& in : inputs_) {
      const int64_t threads = pool_->num_threads();
      const size_t bytes = in.dst->nbytes();
      char* to = static_cast<char*>(in.dst->mutable_data());
      const char* from = static_cast<const char*>(in.src.data());
      const Shape& shape = in.dst->shape();
      const int block = in.index < blocks.size() ? blocks[in.index] : 0;
      if (block > 0 && shape.rank() == 4 && shape[0] < threads && shape[1] % block == 0) {
        // Per image, `parts` row ranges of every block plane (in_h rows of in_w * block values).
        const int64_t images = shape[0], planes = shape[1] / block, rows = shape[2];
        const int64_t parts = std::min(rows, (threads + images - 1) / images);
        const size_t row_bytes = bytes / size_t(images * planes * rows);
        ParallelFor(pool_, images * parts, [&](int64_t begin, int64_t end) {
          for (int64_t u = begin; u < end; ++u) {
            const int64_t n = u / parts, part = u % parts;
            const int64_t r0 = rows * part / parts, r1 = rows * (part + 1) / parts;
            for (int64_t p = 0; p < planes; ++p) {
              const size_t off = size_t((n * planes + p) * rows + r0) * row_bytes;
              std::memcpy(to + off, from + off, size_t(r1 - r0) * row_bytes);
            }
          }
        });
        continue;
      }
      ParallelFor(pool_, threads, [&](int64_t begin, int64_t end) {
        const size_t b = bytes * size_t(begin) / size_t(threads);
        const size_t e = bytes * size_t(end) / size_t(threads);
        std::memcpy(to + b, from + b, e - b);
      });
    }
  }

 private:
  struct Placed {
    size_t index;  // the layer input
    Tensor* dst;
    Tensor src;
  };
  ThreadPool* pool_;
  std::vector<Placed> inputs_;
};

// One tactic ready to run on the layer: its packed weights, kernel, workspace and outputs.
class Trial {
 public:
  static StatusOr<std::unique_ptr<Trial>> Prepare(const backend::LayerDesc& layer,
                                                  const backend::Tactic& tactic,
                                                  const std::vector<const Tensor*>& weights,
                                                  const std::vector<Tensor>& activations,
                                                  ThreadPool* pool) {
    auto t = std::unique_ptr<Trial>(new Trial());
    t->packed_.resize(layer.inputs.size());
    t->io_.pool = pool;
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      if (layer.is_weight(i) && i < weights.size() && weights[i] != nullptr) {
        REFIT_ASSIGN_OR_RETURN(t->packed_[i], tactic.PackWeight(i, *weights[i]));
        t->io_.inputs.push_back(&t->packed_[i]);
      } else {
        t->io_.inputs.push_back(activations[i].defined() ? &activations[i] : nullptr);
      }
    }
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      t->input_blocks_.push_back(tactic.InputBlockAt(i));
    }
    REFIT_ASSIGN_OR_RETURN(t->kernel_, tactic.Instantiate());
    t->workspace_.reset(new (std::align_val_t(64)) char[t->kernel_->workspace_bytes() + 64]);
    t->io_.workspace = t->workspace_.get();
    for (const backend::TensorDesc& d : layer.outputs) {
      if (d.present()) {
        REFIT_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(d.dtype, d.shape));
        t->outputs_.push_back(std::move(out));
      } else {
        t->outputs_.emplace_back();
      }
    }
    for (Tensor& o : t->outputs_) t->io_.outputs.push_back(o.defined() ? &o : nullptr);
    return t;
  }

  // Median of runs until both min_runs and min_total_ms are reached (at most max_runs), in us;
  // `warmup` runs first.
  StatusOr<double> Time(int warmup, int min_runs, int max_runs, double min_total_ms,
                        const InputPlacement& placement) {
    for (int i = 0; i < warmup; ++i) REFIT_RETURN_IF_ERROR(kernel_->Run(io_));
    std::vector<double> times;
    double total_ms = 0;
    while (int(times.size()) < max_runs &&
           (int(times.size()) < min_runs || total_ms < min_total_ms)) {
      placement.Apply(input_blocks_);
      const auto start = Clock::now();
      REFIT_RETURN_IF_ERROR(kernel_->Run(io_));
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      times.push_back(us);
      total_ms += us / 1000.0;
    }
    return Median(times);
  }

  size_t packed_bytes() const {
    size_t bytes = 0;
    for (const Tensor& t : packed_) bytes += t.defined() ? t.nbytes() : 0;
    return bytes;
  }

  static double Median(std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  }

 private:
  Trial() = default;
  std::vector<Tensor> packed_;
  std::vector<int> input_blocks_;  // Tactic::InputBlockAt per layer input
  std::unique_ptr<backend::Kernel> kernel_;
  std::unique_ptr<char[], AlignedFree> workspace_;
  std::vector<Tensor> outputs_;
  backend::KernelIo io_;
};

// The blocks a tactic reads each input and writes each output in ("16.0.16/0": input 0 in blocks of
// 16, input 1 plain, the residual in 16; the output plain).
std::string LayoutOf(const backend::LayerDesc& layer, const backend::Tactic& tactic) {
  std::string s;
  for (size_t i = 0; i < layer.inputs.size(); ++i) {
    s += (i > 0 ? "." : "") + std::to_string(tactic.InputBlockAt(i));
  }
  return s + "/" + std::to_string(tactic.OutputBlock());
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
  const InputPlacement placement(&activations, options.pool);
  // First pass: every tactic, one after another.
  std::vector<std::unique_ptr<Trial>> trials(tactics.size());
  std::vector<double> us(tactics.size(), -1);
  for (size_t t = 0; t < tactics.size(); ++t) {
    if (options.progress) {
      options.progress("tactic " + std::to_string(t + 1) + "/" + std::to_string(tactics.size()) +
                       " " + tactics[t]->name());
    }
    auto trial = Trial::Prepare(layer, *tactics[t], weights, activations, options.pool);
    StatusOr<double> time = trial.ok()
                                ? (*trial)->Time(options.warmup_runs, options.min_runs,
                                                 options.max_runs, options.min_total_ms, placement)
                                : StatusOr<double>(trial.status());
    if (!time.ok()) {
      result.failures.push_back(tactics[t]->name() + ": " + time.status().message());
      continue;
    }
    us[t] = *time;
    trials[t] = std::move(trial).value();
    // Only possible finalists keep their trial, and only while its packed weights are small:
    // those within runoff_margin of the fastest so far (see below which), up to
    // kMaxKeptBytes each (a layer whose packed weights are larger gets no runoff: holding
    // several packings of a large LM head would multiply the build's peak memory).
    double fastest = us[t];
    for (size_t o = 0; o < t; ++o) {
      if (us[o] >= 0) fastest = std::min(fastest, us[o]);
    }
    std::vector<size_t> kept;
    for (size_t o = 0; o <= t; ++o) {
      if (trials[o] == nullptr) continue;
      if (options.runoff_rounds > 0 && us[o] <= fastest * options.runoff_margin &&
          trials[o]->packed_bytes() <= kMaxKeptBytes) {
        kept.push_back(o);
      } else {
        trials[o].reset();
      }
    }
    std::stable_sort(kept.begin(), kept.end(), [&](size_t a, size_t b) { return us[a] < us[b]; });
    // The runoff_tactics fastest, and besides them the fastest of each layout the tactics read
    // and write: the engine's layout selection compares layouts by their best times.
    std::vector<std::string> layouts_kept;
    for (size_t i = 0; i < kept.size(); ++i) {
      const std::string layout = LayoutOf(layer, *tactics[kept[i]]);
      const bool first_of_layout =
          std::find(layouts_kept.begin(), layouts_kept.end(), layout) == layouts_kept.end();
      if (first_of_layout) layouts_kept.push_back(layout);
      if (i >= size_t(std::max(options.runoff_tactics, 1)) && !first_of_layout) {
        trials[kept[i]].reset();
      }
    }
  }
  // The fastest tactic with a time (tactics.size() when every one failed).
  const auto fastest_timed = [&] {
    size_t best = tactics.size();
    for (size_t t = 0; t < tactics.size(); ++t) {
      if (us[t] >= 0 && (best == tactics.size() || us[t] < us[best])) best = t;
    }
    return best;
  };
  size_t best = fastest_timed();
  if (best == tactics.size()) {
    return Internal(layer.Label() + ": every tactic failed; first: " + result.failures.front());
  }
  // The runoff: the tactics within runoff_margin of the best (the runoff_tactics fastest and the
  // fastest of each layout, fastest first) are timed again in turn, runoff_rounds times, so a burst
  // of load on a shared machine lands on all of them alike rather than on one tactic's whole first
  // pass. Each one's time is then the median of its passes. The finalists are the trials the first
  // pass kept: its last pruning measured against the fastest of all.
  std::vector<size_t> finalists;
  for (size_t t = 0; t < tactics.size(); ++t) {
    if (trials[t] != nullptr) finalists.push_back(t);
  }
  std::stable_sort(finalists.begin(), finalists.end(),
                   [&](size_t a, size_t b) { return us[a] < us[b]; });
  if (finalists.size() > 1) {
    std::vector<std::vector<double>> passes(tactics.size());
    for (size_t t : finalists) passes[t].push_back(us[t]);
    for (int round = 0; round < options.runoff_rounds; ++round) {
      for (size_t k = 0; k < finalists.size(); ++k) {
        // Rotated each round, so no tactic always runs right after the same one.
        const size_t t = finalists[(k + size_t(round)) % finalists.size()];
        if (trials[t] == nullptr) continue;  // failed in an earlier round
        StatusOr<double> time =
            trials[t]->Time(1, options.min_runs, options.max_runs, options.min_total_ms, placement);
        if (!time.ok()) {
          // Ran in the first pass, fails now: not a tactic to keep.
          result.failures.push_back(tactics[t]->name() + ": " + time.status().message());
          trials[t].reset();
          us[t] = -1;
          continue;
        }
        passes[t].push_back(*time);
      }
    }
    for (size_t t : finalists) {
      if (us[t] >= 0) us[t] = Trial::Median(passes[t]);
    }
    // Over every tactic timed: a faster one whose packing was too large to keep for the runoff
    // still counts with its first pass.
    best = fastest_timed();
    if (best == tactics.size()) {
      return Internal(layer.Label() + ": every tactic failed; first: " + result.failures.front());
    }
  }
  result.chosen = best;
  for (size_t t = 0; t < tactics.size(); ++t) {
    if (us[t] >= 0) result.timings_us.push_back({tactics[t]->name(), us[t]});
  }
  if (options.cache != nullptr) {
    options.cache->Put(key, {tactics[result.chosen]->name(), result.timings_us});
  }
  return result;
}

}  // namespace refit::tuner
