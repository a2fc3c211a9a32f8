// The timing cache: tactic timings by layer signature, so a second build of the same shapes on the
// same machine and libraries does no timing at all.
//
// The key covers what a tactic's speed depends on and nothing else: operator, domain, attributes,
// every input's dtype, shape and whether it is a weight, output types, the thread count and the
// backend's fingerprint (CPU features, library versions). Never a weight value. The file is JSON
// ({"format": 1, "entries": {key: {"tactic", "timings"}}}), written atomically; a malformed file is
// an error naming it. The builder's plan check keeps its verdicts here too, in entries of the same
// form: key "plan check " and a hash (engine/plan_check.h), tactic the kept plan's index, timings
// each plan's.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "refit/status.h"

namespace refit::tuner {

struct CachedTiming {
  std::string tactic;  // the fastest
  std::vector<std::pair<std::string, double>> timings_us;
};

class TimingCache {
 public:
  // An empty cache when `path` does not exist.
  static StatusOr<TimingCache> Load(const std::string& path);
  Status Save(const std::string& path) const;

  static std::string Key(const backend::LayerDesc& layer, int threads,
                         const std::string& fingerprint);
  const CachedTiming* Find(const std::string& key) const;
  void Put(const std::string& key, CachedTiming timing);
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, CachedTiming> entries_;
};

}  // namespace refit::tuner
