// EngineCache: listing, pruning and clearing the directory.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "cache/cache_files.h"
#include "cache/engine_cache.h"
#include "engine/engine_file.h"

namespace refit::cache {
namespace fs = std::filesystem;
using internal::FileLock;

namespace {

// The model name recorded in an entry's metadata; "" when the entry does not validate.
std::string ModelName(const std::string& path) {
  auto file = engine::EngineFile::Open(path);
  if (!file.ok()) return "";
  auto meta = (*file)->Section(engine::SectionKind::kMetadata);
  if (!meta.ok()) return "";
  const nlohmann::json j = nlohmann::json::parse(*meta, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("model") || !j["model"].is_string()) return "";
  return j["model"].get<std::string>();
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

// The key a cache file belongs to: "<key>.engine", "<key>.lock" or a temporary file of
// WriteFileAtomically (".<key>.engine.tmp.*"); "" for other files.
std::string KeyOf(const std::string& name) {
  const std::string temp_infix = std::string(internal::kEntrySuffix) + ".tmp.";
  std::string key;
  if (name.size() > 33 + temp_infix.size() && name[0] == '.' &&
      name.compare(33, temp_infix.size(), temp_infix) == 0) {
    key = name.substr(1, 32);
  } else if (EndsWith(name, internal::kEntrySuffix) || EndsWith(name, internal::kLockSuffix)) {
    key = name.substr(0, name.rfind('.'));
  }
  return internal::IsCacheKey(key) ? key : "";
}

}  // namespace

StatusOr<std::vector<CacheEntry>> EngineCache::List() const {
  REFIT_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(dir_ + "/" + internal::kDirLockName,
                                                          FileLock::Kind::kShared));
  REFIT_ASSIGN_OR_RETURN(std::vector<CacheEntry> entries, internal::ScanEntries(dir_));
  for (CacheEntry& e : entries) e.model = ModelName(e.path);
  return entries;
}

StatusOr<int> EngineCache::Prune(uint64_t max_bytes) {
  REFIT_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(dir_ + "/" + internal::kDirLockName,
                                                          FileLock::Kind::kExclusive));
  return internal::EvictLocked(dir_, max_bytes, "");
}

StatusOr<int> EngineCache::Clear() {
  REFIT_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(dir_ + "/" + internal::kDirLockName,
                                                          FileLock::Kind::kExclusive));
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) return IoError("cannot read the cache directory '" + dir_ + "': " + ec.message());
  int removed = 0;
  // Entries go even while their key is in use (a reader keeps its mapping; a lookup that finds
  // the entry gone builds it again). Lock and temporary files go only when no one holds the key:
  // the key lock is tried, never waited for, as GetOrBuild takes it before the directory lock.
  for (const std::string& name : names) {
    const std::string path = dir_ + "/" + name;
    const std::string key = KeyOf(name);
    if (key.empty()) continue;
    if (EndsWith(name, internal::kEntrySuffix) && name[0] != '.') {
      if (::unlink(path.c_str()) == 0) {
        ++removed;
      } else if (errno != ENOENT) {
        return IoError("cannot remove the cache entry '" + path + "': " + std::strerror(errno));
      }
    }
  }
  for (const std::string& name : names) {
    const std::string key = KeyOf(name);
    if (key.empty() || EndsWith(name, internal::kEntrySuffix)) continue;
    REFIT_ASSIGN_OR_RETURN(FileLock key_lock, FileLock::TryAcquire(internal::KeyLockPath(dir_, key),
                                                                   FileLock::Kind::kExclusive));
    if (!key_lock.held()) continue;
    if (name[0] == '.') (void)::unlink((dir_ + "/" + name).c_str());  // a stale temporary file
    key_lock.RemoveFile();
  }
  return removed;
}

}  // namespace refit::cache
