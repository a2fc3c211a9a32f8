// `refit cache ls DIR [--json]`, `refit cache prune DIR --max-bytes N`, `refit cache clear DIR`
//
// Looks after an engine cache directory (refit build --cache DIR): lists its entries, trims it to
// a size (least recently used first) or empties it. Safe while builds use the directory.
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "cache/engine_cache.h"
#include "cli/commands.h"
#include "cli/model_loader.h"

namespace refit::cli {
namespace {

struct CacheArgs {
  std::string dir;
  bool json = false;
  uint64_t max_bytes = 0;
};

// The commands look after an existing cache: a mistyped DIR is an error, not a new directory.
StatusOr<std::unique_ptr<cache::EngineCache>> OpenExisting(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return NotFound("no engine cache at '" + dir + "': not a directory");
  }
  return cache::EngineCache::Open(dir);
}

std::string LocalTime(int64_t unix_seconds) {
  const std::time_t t = std::time_t(unix_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

Status List(const CacheArgs& args) {
  REFIT_ASSIGN_OR_RETURN(auto c, OpenExisting(args.dir));
  REFIT_ASSIGN_OR_RETURN(std::vector<cache::CacheEntry> entries, c->List());
  uint64_t total = 0;
  for (const cache::CacheEntry& e : entries) total += e.bytes;
  if (args.json) {
    nlohmann::json j = {{"dir", c->dir()},
                        {"entries", nlohmann::json::array()},
                        {"count", entries.size()},
                        {"total_bytes", total}};
    for (const cache::CacheEntry& e : entries) {
      j["entries"].push_back({{"key", e.key},
                              {"path", e.path},
                              {"bytes", e.bytes},
                              {"last_used_unix", e.last_used_unix},
                              {"model", e.model}});
    }
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return Status::Ok();
  }
  if (!entries.empty()) {
    std::printf("%-32s  %10s  %-19s  %s\n", "KEY", "SIZE", "LAST USED", "MODEL");
  }
  for (const cache::CacheEntry& e : entries) {
    std::printf("%-32s  %10s  %-19s  %s\n", e.key.c_str(), FormatBytes(e.bytes).c_str(),
                LocalTime(e.last_used_unix).c_str(), e.model.empty() ? "?" : e.model.c_str());
  }
  std::printf("%zu entr%s, %s in '%s'\n", entries.size(), entries.size() == 1 ? "y" : "ies",
              FormatBytes(total).c_str(), c->dir().c_str());
  return Status::Ok();
}

Status Prune(const CacheArgs& args) {
  REFIT_ASSIGN_OR_RETURN(auto c, OpenExisting(args.dir));
  REFIT_ASSIGN_OR_RETURN(int removed, c->Prune(args.max_bytes));
  REFIT_ASSIGN_OR_RETURN(std::vector<cache::CacheEntry> left, c->List());
  uint64_t total = 0;
  for (const cache::CacheEntry& e : left) total += e.bytes;
  std::fprintf(stderr, "refit cache: removed %d entr%s from '%s'; %zu left (%s)\n", removed,
               removed == 1 ? "y" : "ies", c->dir().c_str(), left.size(),
               FormatBytes(total).c_str());
  return Status::Ok();
}

Status Clear(const CacheArgs& args) {
  REFIT_ASSIGN_OR_RETURN(auto c, OpenExisting(args.dir));
  REFIT_ASSIGN_OR_RETURN(int removed, c->Clear());
  std::fprintf(stderr, "refit cache: removed %d entr%s from '%s'\n", removed,
               removed == 1 ? "y" : "ies", c->dir().c_str());
  return Status::Ok();
}

}  // namespace

Command AddCacheCommand(CLI::App& app) {
  auto args = std::make_shared<CacheArgs>();
  CLI::App* cmd = app.add_subcommand(
      "cache",
      "Look after an engine cache directory (refit build --cache DIR): list, prune or clear it.");
  cmd->require_subcommand(1);
  CLI::App* ls = cmd->add_subcommand(
      "ls", "List the cached engines, most recently used first: key, size, last use, model.");
  ls->add_option("dir", args->dir, "the cache directory: DIR")->required();
  ls->add_flag("--json", args->json, "machine-readable output");
  CLI::App* prune = cmd->add_subcommand(
      "prune", "Remove least recently used engines until the directory holds at most N bytes.");
  prune->add_option("dir", args->dir, "the cache directory: DIR")->required();
  prune->add_option("--max-bytes", args->max_bytes, "the size to keep at most, in bytes")
      ->required();
  CLI::App* clear = cmd->add_subcommand("clear", "Remove every cached engine.");
  clear->add_option("dir", args->dir, "the cache directory: DIR")->required();
  return [args, ls, prune] {
    if (ls->parsed()) return List(*args);
    if (prune->parsed()) return Prune(*args);
    return Clear(*args);
  };
}

}  // namespace refit::cli
