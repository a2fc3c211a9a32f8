// Two processes asking the cache for one key at once: one builds, the other waits and hits.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/test_temp_dir.h"
#include "cache/engine_cache.h"
#include "engine/engine_test_util.h"

namespace refit::cache {
namespace {

using engine::BuiltEngine;
using namespace engine::testing;  // NOLINT(google-build-using-namespace): test helpers

int CountLines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// The child's whole life: look the key up, building (slowly) on a miss; write the outcome to
// `outcome_path`; exit 0 on success. Only _exit: the child must not run the parent's atexit
// handlers or gtest's teardown.
[[noreturn]] void Child(const std::string& dir, const std::string& key, BuiltEngine prebuilt,
                        const std::string& counter, const std::string& outcome_path) {
  auto cache = EngineCache::Open(dir);
  if (!cache.ok()) _exit(2);
  auto result = (*cache)->GetOrBuild(key, [&]() -> StatusOr<BuiltEngine> {
    const int fd = ::open(counter.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const std::string line = std::to_string(::getpid()) + "\n";
    if (fd >= 0) {
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    }
    ::usleep(200 * 1000);  // long enough for the other process to be waiting on the key
    return std::move(prebuilt);
  });
  if (!result.ok() || result->engine == nullptr) _exit(1);
  std::ofstream(outcome_path) << CacheOutcomeName(result->outcome);
  _exit(0);
}

TEST(EngineCacheConcurrencyTest, TwoProcessesBuildOneKeyOnce) {
  TestTempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string dir = tmp.File("cache");
  const std::string counter = tmp.File("builds.txt");
  const ir::Graph g = HandGraph();
  const std::string key = CacheKey(g, FastOptions());
  // Built once here so the children do not run the tuner after fork().
  auto built = engine::BuildEngine(CloneGraph(g), FastOptions());
  ASSERT_TRUE(built.ok()) << built.status().ToString();

  pid_t pids[2];
  for (int i = 0; i < 2; ++i) {
    pids[i] = ::fork();
    ASSERT_GE(pids[i], 0);
    if (pids[i] == 0) {
      Child(dir, key, std::move(built).value(), counter, tmp.File("outcome" + std::to_string(i)));
    }
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  EXPECT_EQ(CountLines(counter), 1) << "exactly one process may build";
  std::string outcomes[2];
  for (int i = 0; i < 2; ++i) {
    std::ifstream in(tmp.File("outcome" + std::to_string(i)));
    std::getline(in, outcomes[i]);
  }
  std::sort(std::begin(outcomes), std::end(outcomes));
  EXPECT_EQ(outcomes[0], "hit");
  EXPECT_EQ(outcomes[1], "miss");

  // The entry the builder stored loads, and refits to the graph's outputs.
  auto e = MustOpen(engine::Engine::Open(dir + "/" + key + ".engine"));
  ASSERT_NE(e, nullptr);
  auto ws = e->CreateWeightSet(LookupIn(g));
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  ASSERT_TRUE(e->SetWeights(*ws).ok());
  const TensorMap inputs = HandInputs();
  ExpectClose(Reference(g, inputs), RunOk(*e, inputs));
}

}  // namespace
}  // namespace refit::cache
