// EngineCache: opening the directory and the lookup-or-build path.
#include "cache/engine_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "base/file_util.h"
#include "cache/cache_files.h"

namespace refit::cache {
namespace fs = std::filesystem;
using internal::FileLock;

const char* CacheOutcomeName(CacheOutcome outcome) {
  switch (outcome) {
    case CacheOutcome::kHit:
      return "hit";
    case CacheOutcome::kMiss:
      return "miss";
    case CacheOutcome::kCorruptRebuilt:
      return "corrupt entry rebuilt";
  }
  return "?";
}

StatusOr<std::unique_ptr<EngineCache>> EngineCache::Open(const std::string& dir,
                                                         uint64_t max_bytes) {
  if (dir.empty()) return InvalidArgument("the cache directory is empty");
  std::string path = dir;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return IoError("cannot create the cache directory '" + path + "': " + ec.message());
  if (!fs::is_directory(path, ec)) {
    return InvalidArgument("the cache directory '" + path + "' is not a directory");
  }
  // Creating the directory lock up front finds an unwritable directory now, not after a build.
  const std::string lock = path + "/" + internal::kDirLockName;
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) {
    return IoError("cannot write to the cache directory '" + path + "': " + std::strerror(errno));
  }
  ::close(fd);
  return std::unique_ptr<EngineCache>(new EngineCache(std::move(path), max_bytes));
}

StatusOr<CacheResult> EngineCache::GetOrBuild(
    const std::string& key, const std::function<StatusOr<engine::BuiltEngine>()>& build,
    const engine::EngineOptions& engine_options) {
  const auto start = std::chrono::steady_clock::now();
  if (!internal::IsCacheKey(key)) {
    return InvalidArgument("cache key '" + key + "' is not 32 hex digits (use CacheKey)");
  }
  CacheResult result;
  result.entry_path = internal::EntryPath(dir_, key);
  const std::string& path = result.entry_path;
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // A stored entry loads: a hit. Loading takes no lock: entries appear by rename, whole, and a
  // mapped entry stays readable when another process evicts or replaces it meanwhile.
  Status load_error;
  auto hit = [&]() -> bool {
    auto opened = engine::Engine::Open(path, engine_options);
    if (!opened.ok()) {
      load_error = opened.status();
      return false;
    }
    // LRU order is the mtime. Best effort: a concurrent `cache clear` may have removed it.
    (void)::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
    result.engine = std::move(opened).value();
    result.outcome = CacheOutcome::kHit;
    result.seconds = elapsed();
    return true;
  };
  std::error_code ec;
  if (fs::exists(path, ec) && hit()) return result;

  // Held until the entry is stored: a second process asking for this key waits, then hits.
  REFIT_ASSIGN_OR_RETURN(FileLock key_lock, FileLock::Acquire(internal::KeyLockPath(dir_, key),
                                                              FileLock::Kind::kExclusive));
  if (fs::exists(path, ec)) {
    if (hit()) return result;  // stored by the process that held the lock before us
    // Still there, so it failed to load (checksum, truncation, another format): never use it.
    // Gone meanwhile (`cache clear`) is a plain miss.
    if (fs::exists(path, ec)) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return IoError("cannot remove the corrupted cache entry '" + path + "': " +
                       std::strerror(errno) + " (it failed to load: " + load_error.message() + ")");
      }
      result.outcome = CacheOutcome::kCorruptRebuilt;
    }
  }

  auto built = build();
  if (!built.ok()) return built.status();
  if (built->plan.mode == engine::EngineMode::kStatic) {
    return FailedPrecondition("the engine cache in '" + dir_ +
                              "' stores refittable engines only; a static build cannot be cached");
  }
  REFIT_ASSIGN_OR_RETURN(result.engine,
                         engine::Engine::FromBuild(std::move(built).value(), engine_options));
  auto stored = result.engine->WriteFile(path, engine::EngineMode::kStripped);
  if (!stored.ok()) {
    return stored.status().WithContext("storing in the engine cache '" + dir_ + "'");
  }
  {
    REFIT_ASSIGN_OR_RETURN(FileLock dir_lock, FileLock::Acquire(dir_ + "/" + internal::kDirLockName,
                                                                FileLock::Kind::kExclusive));
    auto evicted = internal::EvictLocked(dir_, max_bytes_, key);
    if (!evicted.ok()) return evicted.status();
  }
  result.seconds = elapsed();
  return result;
}

}  // namespace refit::cache
