#include "cache/cache_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace refit::cache::internal {
namespace fs = std::filesystem;

bool IsCacheKey(std::string_view key) {
  return key.size() == 32 && std::all_of(key.begin(), key.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string EntryPath(const std::string& dir, const std::string& key) {
  return dir + "/" + key + kEntrySuffix;
}

std::string KeyLockPath(const std::string& dir, const std::string& key) {
  return dir + "/" + key + kLockSuffix;
}

FileLock::~FileLock() { Release(); }

FileLock::FileLock(FileLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    Release();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

void FileLock::Release() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
  fd_ = -1;
}

void FileLock::RemoveFile() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  Release();
}

StatusOr<FileLock> FileLock::Acquire(const std::string& path, Kind kind) {
  return Lock(path, kind, /*wait=*/true);
}

StatusOr<FileLock> FileLock::TryAcquire(const std::string& path, Kind kind) {
  return Lock(path, kind, /*wait=*/false);
}

StatusOr<FileLock> FileLock::Lock(const std::string& path, Kind kind, bool wait) {
  const int op = (kind == Kind::kShared ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB);
  for (;;) {
    FileLock lock;
    lock.path_ = path;
    lock.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock.fd_ < 0) {
      return IoError("cannot open the lock file '" + path + "': " + std::strerror(errno));
    }
    int rc;
    do {
      rc = ::flock(lock.fd_, op);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      if (errno == EWOULDBLOCK && !wait) return FileLock();
      return IoError("cannot lock '" + path + "': " + std::strerror(errno));
    }
    struct stat held, named;
    if (::fstat(lock.fd_, &held) != 0) {
      return IoError("cannot stat the lock file '" + path + "': " + std::strerror(errno));
    }
    if (::stat(path.c_str(), &named) == 0 && named.st_ino == held.st_ino &&
        named.st_dev == held.st_dev) {
      return lock;
    }
    // Removed (or replaced) while we waited: the lock guards nothing, start over.
  }
}

StatusOr<std::vector<CacheEntry>> ScanEntries(const std::string& dir) {
  struct Found {
    CacheEntry entry;
    int64_t mtime_ns;  // breaks ties between entries used within one second
  };
  std::vector<Found> found;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return IoError("cannot read the cache directory '" + dir + "': " + ec.message());
  const size_t suffix = sizeof(kEntrySuffix) - 1;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= suffix || name.compare(name.size() - suffix, suffix, kEntrySuffix) != 0) {
      continue;
    }
    CacheEntry e;
    e.key = name.substr(0, name.size() - suffix);
    if (!IsCacheKey(e.key)) continue;
    e.path = it->path().string();
    struct stat st;
    if (::stat(e.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // gone meanwhile
    e.bytes = uint64_t(st.st_size);
    e.last_used_unix = int64_t(st.st_mtim.tv_sec);
    found.push_back({std::move(e), int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec});
  }
  if (ec) return IoError("cannot read the cache directory '" + dir + "': " + ec.message());
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    if (a.mtime_ns != b.mtime_ns) return a.mtime_ns > b.mtime_ns;
    return a.entry.key < b.entry.key;
  });
  std::vector<CacheEntry> entries;
  entries.reserve(found.size());
  for (Found& f : found) entries.push_back(std::move(f.entry));
  return entries;
}

StatusOr<int> EvictLocked(const std::string& dir, uint64_t max_bytes, const std::string& keep) {
  REFIT_ASSIGN_OR_RETURN(std::vector<CacheEntry> entries, ScanEntries(dir));
  uint64_t total = 0;
  for (const CacheEntry& e : entries) total += e.bytes;
  int removed = 0;
  // Oldest first: the scan is most recently used first.
  for (auto it = entries.rbegin(); it != entries.rend() && total > max_bytes; ++it) {
    if (it->key == keep) continue;
    // An entry whose key lock is held is being looked up right now: the most recently used of all.
    REFIT_ASSIGN_OR_RETURN(
        FileLock lock, FileLock::TryAcquire(KeyLockPath(dir, it->key), FileLock::Kind::kExclusive));
    if (!lock.held()) continue;
    if (::unlink(it->path.c_str()) != 0 && errno != ENOENT) {
      return IoError("cannot remove the cache entry '" + it->path + "': " + std::strerror(errno));
    }
    lock.RemoveFile();
    total -= it->bytes;
    ++removed;
  }
  return removed;
}

}  // namespace refit::cache::internal
