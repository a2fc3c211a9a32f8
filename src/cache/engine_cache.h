// The engine cache: tuned engines on disk, keyed by everything that decides a build except the
// weight values, so a model whose weights changed (or another checkpoint of the same architecture)
// gets its engine by a refit instead of a build.
//
// Key (CacheKey): XXH3-128, as 32 hex digits, over a tagged, length-prefixed description of
//  - the graph's digest (DigestGraph): the bytes ir::ComputeGraphSignature hashes (ops,
//    attributes, edges, weight dtypes and shapes) and the opset, the VALUES of non-float weights
//    (integer shape/axes tensors decide structure), and the names of the outputs and source
//    weights (the engine's interface and its refit map use them: a renamed export must not hit an
//    engine it cannot be refitted into);
//  - every graph input's name, dtype and the dims the build fixes (BuildOptions::input_shapes, dims
//  not
//    given as 1, as the builder does), and a hash of BuildOptions::sample_inputs values;
//  - build settings that change the result: threads, min_timing_runs, min_timing_ms,
//    plan_candidates, plan_check_ms, plan_margin, tactic_margin (mode is not part of it: entries
//    are stripped and serve refittable and stripped builds; static builds are not cached);
//  - the CPU fingerprint (cpu::DetectCpuFeatures and the CPU model name) and the engine format
//    version and producer.
// Never weight values (floats): changed weights give the same key.
//
// Directory layout: DIR/<key>.engine (a stripped engine file: its sections are checksummed, so a
// corrupted or truncated entry fails Engine::Open), DIR/<key>.lock (an flock(2) file taken
// exclusively while that key is looked up and built, so several processes building one key build
// it once), DIR/cache.lock (taken for eviction and listing). Writes are atomic (temporary file in
// DIR and rename). LRU: a hit touches the entry's mtime; after each store, entries are evicted
// oldest first until the total size of *.engine files is at most max_bytes (an entry whose key
// lock is held, i.e. being looked up right now, is skipped). Lock order: a key's lock, then
// DIR/cache.lock; whoever holds DIR/cache.lock only tries key locks, never waits for them.
//
// Thread safety: an EngineCache may be used from several threads, and several processes may share
// DIR (flock locks are per open file, so threads of one process exclude each other too).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/builder.h"
#include "engine/engine.h"
#include "ir/graph.h"
#include "refit/status.h"

namespace refit::cache {

// The key for building `graph` (straight from the importer) with `options`. Pure function.
std::string CacheKey(const ir::Graph& graph, const engine::BuildOptions& options);

// The part of the key that depends on the graph alone (its structure, opset, output names,
// source weight names and non-float weight values, not its inputs): worth computing once per
// graph when it is keyed for several input shapes or settings.
struct GraphDigest {
  std::string hex;  // XXH3-128, 32 hex digits
};
GraphDigest DigestGraph(const ir::Graph& graph);
// CacheKey(graph, options), with `digest` = DigestGraph(graph) computed before.
std::string CacheKey(const GraphDigest& digest, const ir::Graph& graph,
                     const engine::BuildOptions& options);

struct CacheEntry {
  std::string key;
  std::string path;
  uint64_t bytes = 0;
  int64_t last_used_unix = 0;  // mtime, seconds
  std::string model;           // the model name from the engine's metadata ("" if unreadable)
};

enum class CacheOutcome { kHit, kMiss, kCorruptRebuilt };
const char* CacheOutcomeName(CacheOutcome outcome);  // "hit", "miss", "corrupt entry rebuilt"

struct CacheResult {
  // With every weight slot of the build (miss) or stripped and waiting for its weights (hit):
  // the caller refits it from the model's weights either way (a miss engine then changes
  // nothing). Loaded with `engine_options`.
  std::unique_ptr<engine::Engine> engine;
  CacheOutcome outcome = CacheOutcome::kMiss;
  std::string entry_path;
  double seconds = 0;  // wall time of GetOrBuild (lookup, load, or build and store)
};

class EngineCache {
 public:
  static constexpr uint64_t kDefaultMaxBytes = uint64_t{4} << 30;

  // Creates DIR if needed; fails when it cannot be created or written.
  static StatusOr<std::unique_ptr<EngineCache>> Open(const std::string& dir,
                                                     uint64_t max_bytes = kDefaultMaxBytes);

  const std::string& dir() const { return dir_; }

  // The engine for `key`: on a hit, the stored stripped engine (validated by Engine::Open; an
  // entry that fails to load is removed and rebuilt: kCorruptRebuilt). On a miss, `build()` (a
  // refittable or stripped build; static is refused), whose stripped serialization is stored before
  // returning. The key's lock is held from lookup to store, so a second process asking for the same
  // key waits and then hits.
  StatusOr<CacheResult> GetOrBuild(const std::string& key,
                                   const std::function<StatusOr<engine::BuiltEngine>()>& build,
                                   const engine::EngineOptions& engine_options = {});

  // Entries, most recently used first.
  StatusOr<std::vector<CacheEntry>> List() const;
  // Evicts least recently used entries until at most `max_bytes` remain; returns how many went.
  StatusOr<int> Prune(uint64_t max_bytes);
  // Removes every entry (and the temporary and lock files of keys no one holds); returns how many
  // entries went. A process holding an entry open keeps its mapping; one about to open it builds.
  StatusOr<int> Clear();

 private:
  EngineCache(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  std::string dir_;
  uint64_t max_bytes_;
};

}  // namespace refit::cache
