#include "engine/plan_check.h"

#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>

#include "engine/prepare_graph.h"

namespace refit::engine::internal {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

StatusOr<std::vector<std::vector<double>>> TimeInTurns(
    const std::vector<const Engine*>& engines, const std::map<std::string, TensorView>& inputs,
    const PlanCheckOptions& options, std::vector<std::vector<std::vector<double>>>* layer_us) {
  if (engines.empty()) return InvalidArgument("TimeInTurns: no engine to time");
  if (options.min_rounds < 1 || options.max_rounds < options.min_rounds) {
    return InvalidArgument("TimeInTurns: rounds must satisfy 1 <= min_rounds <= max_rounds");
  }
  auto run = [&](size_t e, std::vector<double>* profile = nullptr) -> StatusOr<double> {
    const auto start = Clock::now();
    auto out = engines[e]->Run(inputs, profile);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!out.ok()) return out.status().WithContext("plan check: candidate " + std::to_string(e));
    return ms;
  };
  for (int warm = 0; warm < 2; ++warm) {
    for (size_t e = 0; e < engines.size(); ++e) REFIT_RETURN_IF_ERROR(run(e).status());
  }
  std::vector<std::vector<double>> ms(engines.size());
  if (layer_us != nullptr) layer_us->assign(engines.size(), {});
  const auto start = Clock::now();
  for (int r = 0; r < options.max_rounds; ++r) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (r >= options.min_rounds && elapsed >= options.min_seconds) break;
    for (size_t k = 0; k < engines.size(); ++k) {
      const size_t e = (size_t(r) + k) % engines.size();
      if (options.settle_ms > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(options.settle_ms));
      }
      const auto turn = Clock::now();
      do {
        REFIT_RETURN_IF_ERROR(run(e).status());
      } while (std::chrono::duration<double, std::milli>(Clock::now() - turn).count() <
               options.turn_warmup_ms);
      std::vector<double> profile;
      REFIT_ASSIGN_OR_RETURN(const double t, run(e, layer_us != nullptr ? &profile : nullptr));
      ms[e].push_back(t);
      if (layer_us != nullptr) (*layer_us)[e].push_back(std::move(profile));
    }
  }
  return ms;
}

double MedianRoundRatio(const std::vector<double>& base, const std::vector<double>& other) {
  std::vector<double> ratios;
  for (size_t r = 0; r < base.size() && r < other.size(); ++r) {
    if (base[r] > 0) ratios.push_back(other[r] / base[r]);
  }
  return ratios.empty() ? 1.0 : Median(std::move(ratios));
}

size_t KeepFastest(const std::vector<std::vector<double>>& ms, double min_gain) {
  size_t keep = 0;
  double best = 1.0 - min_gain;  // min_gain >= 0: a plan of no comparable round (1) never wins
  for (size_t p = 1; p < ms.size(); ++p) {
    const double ratio = MedianRoundRatio(ms[0], ms[p]);
    if (ratio < best) {
      best = ratio;
      keep = p;
    }
  }
  return keep;
}

std::vector<size_t> FasterLayers(const std::vector<std::vector<double>>& base,
                                 const std::vector<std::vector<double>>& variant,
                                 const std::vector<size_t>& swapped, double min_gain) {
  std::vector<size_t> faster;
  for (size_t l : swapped) {
    std::vector<double> ratios;
    for (size_t r = 0; r < base.size() && r < variant.size(); ++r) {
      if (l < base[r].size() && l < variant[r].size() && base[r][l] > 0) {
        ratios.push_back(variant[r][l] / base[r][l]);
      }
    }
    if (!ratios.empty() && Median(std::move(ratios)) < 1.0 - min_gain) faster.push_back(l);
  }
  std::sort(faster.begin(), faster.end());
  return faster;
}

StatusOr<PlanInputs> MakePlanInputs(const Plan& plan,
                                    const std::map<std::string, TensorView>& samples) {
  PlanInputs in;
  in.held.reserve(plan.inputs.size());  // the views point into held tensors: no reallocation
  for (int32_t v : plan.inputs) {
    const PlanValue& pv = plan.values[size_t(v)];
    if (auto sample = samples.find(pv.name); sample != samples.end()) {
      in.views.emplace(pv.name, sample->second);
      continue;
    }
    ir::ValueInfo info;
    info.name = pv.name;
    info.dtype = pv.dtype;
    info.dims = pv.shape.dims();
    REFIT_ASSIGN_OR_RETURN(Tensor t, SyntheticInput(info, 0));
    in.held.push_back(std::move(t));
    in.views.emplace(pv.name, in.held.back().view());
  }
  return in;
}

std::string PlanCheckKey(const std::vector<std::string>& layer_keys,
                         const std::vector<std::vector<std::string>>& plan_tactics) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  auto add = [&](const std::string& s) {
    const uint64_t n = s.size();
    XXH3_128bits_update(state, &n, sizeof(n));
    XXH3_128bits_update(state, s.data(), s.size());
  };
  add("refit plan check 1");
  for (const std::string& k : layer_keys) add(k);
  for (const std::vector<std::string>& plan : plan_tactics) {
    add("plan");
    for (const std::string& t : plan) add(t);
  }
  const XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  char hex[40];
  std::snprintf(hex, sizeof(hex), "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return std::string("plan check ") + hex;
}

}  // namespace refit::engine::internal
