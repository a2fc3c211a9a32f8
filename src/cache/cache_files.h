// The engine cache's files (internal to src/cache): entry and lock paths, flock(2) locks, the
// directory scan and LRU eviction shared by EngineCache's methods.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/engine_cache.h"
#include "refit/status.h"

namespace refit::cache::internal {

inline constexpr char kEntrySuffix[] = ".engine";
inline constexpr char kLockSuffix[] = ".lock";
inline constexpr char kDirLockName[] = "cache.lock";

// A key as CacheKey makes it: 32 lowercase hex digits (so a key can never name another path).
bool IsCacheKey(std::string_view key);
std::string EntryPath(const std::string& dir, const std::string& key);
std::string KeyLockPath(const std::string& dir, const std::string& key);

// An flock(2) lock on a lock file, released (and the descriptor closed) on destruction. The file
// is created if needed. Acquiring checks, once the lock is held, that the path still names the
// locked file, and retries if not: a lock file may be removed by eviction (which removes only
// lock files it holds itself), and a lock on a removed file excludes nobody.
class FileLock {
 public:
  enum class Kind { kShared, kExclusive };
  FileLock() = default;
  ~FileLock();
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // Waits for the lock.
  static StatusOr<FileLock> Acquire(const std::string& path, Kind kind);
  // Takes the lock only if nobody holds it: an unheld FileLock (held() false) otherwise.
  static StatusOr<FileLock> TryAcquire(const std::string& path, Kind kind);

  bool held() const { return fd_ >= 0; }
  // Removes the lock file while holding it (then releases it): waiters retry on a fresh file.
  void RemoveFile();

 private:
  static StatusOr<FileLock> Lock(const std::string& path, Kind kind, bool wait);
  void Release();
  int fd_ = -1;
  std::string path_;
};

// The *.engine entries of `dir` (size and mtime, no model name), most recently used first.
StatusOr<std::vector<CacheEntry>> ScanEntries(const std::string& dir);

// With DIR/cache.lock held exclusively: removes least recently used entries (never `keep`, a key
// or "") until at most `max_bytes` of entries remain. Each entry's lock file goes with it when no
// one holds it. Returns how many entries went.
StatusOr<int> EvictLocked(const std::string& dir, uint64_t max_bytes, const std::string& keep);

}  // namespace refit::cache::internal
