// Kept source weights: the sources section round trip, its checks at load, and modes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "engine/engine.h"
#include "engine/engine_file.h"
#include "engine/engine_test_util.h"

namespace refit::engine {
namespace {

using namespace testing;  // NOLINT

BuildOptions KeepSources() {
  BuildOptions options = FastOptions();
  options.keep_sources = true;
  return options;
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST(EngineSources, KeptSourcesRoundTripBitExactAndOnlyWhenAsked) {
  const ir::Graph g = HandGraph();
  std::string plain_bytes, kept_bytes;
  // One timing cache for both builds, so the second picks the first's tactics and the
  // outputs below can be compared bit for bit.
  const std::string timing =
      ::testing::TempDir() + "/refit_sources_timing_" + std::to_string(getpid()) + ".json";
  std::remove(timing.c_str());
  BuildOptions plain_options = FastOptions();
  plain_options.timing_cache_path = timing;
  BuildOptions kept_options = KeepSources();
  kept_options.timing_cache_path = timing;
  auto plain = BuildAndLoad(g, plain_options, &plain_bytes);
  auto kept = BuildAndLoad(g, kept_options, &kept_bytes);
  std::remove(timing.c_str());
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(kept, nullptr);
  ASSERT_EQ(plain->plan().layers.size(), kept->plan().layers.size());
  for (size_t i = 0; i < plain->plan().layers.size(); ++i) {
    ASSERT_EQ(plain->plan().layers[i].tactic, kept->plan().layers[i].tactic) << "layer " << i;
  }
  EXPECT_EQ(plain->kept_sources(), nullptr);
  auto sources = kept->kept_sources();
  ASSERT_NE(sources, nullptr);
  ASSERT_EQ(sources->tensors.size(), kept->plan().sources.size());
  uint64_t source_bytes = 0;
  for (size_t i = 0; i < sources->tensors.size(); ++i) {
    const Tensor* w = g.FindWeight(kept->plan().sources[i].name);
    ASSERT_NE(w, nullptr);
    EXPECT_TRUE(SameBytes(*w, *sources->tensors[i])) << kept->plan().sources[i].name;
    source_bytes += w->nbytes();
  }
  // The sources travel in their own section, only when asked. (The two builds are
  // tuned separately and may pick tactics of other packed sizes, so whole file sizes
  // do not compare.)
  auto kept_file = EngineFile::FromBytes(kept_bytes, "kept");
  auto plain_file = EngineFile::FromBytes(plain_bytes, "plain");
  ASSERT_TRUE(kept_file.ok() && plain_file.ok());
  auto kept_section = (*kept_file)->Section(SectionKind::kSources);
  ASSERT_TRUE(kept_section.ok()) << kept_section.status().ToString();
  EXPECT_GE(kept_section->size(), source_bytes);
  EXPECT_FALSE((*plain_file)->Section(SectionKind::kSources).ok());
  // Same outputs: the sources are not used to run.
  ExpectBitEqual(RunOk(*plain, HandInputs()), RunOk(*kept, HandInputs()));
  // Serialize keeps them in refittable mode and drops them in stripped mode.
  auto again = kept->Serialize(EngineMode::kRefittable);
  ASSERT_TRUE(again.ok());
  auto reloaded = MustOpen(Engine::FromBytes(*again, "again"));
  ASSERT_NE(reloaded, nullptr);
  ASSERT_NE(reloaded->kept_sources(), nullptr);
  EXPECT_TRUE(SameBytes(*reloaded->kept_sources()->tensors[0], *sources->tensors[0]));
  auto stripped = kept->Serialize(EngineMode::kStripped);
  ASSERT_TRUE(stripped.ok());
  auto s = MustOpen(Engine::FromBytes(*stripped, "stripped"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->kept_sources(), nullptr);
}

TEST(EngineSources, ASourcesSectionThatLiesIsRefused) {
  const ir::Graph g = HandGraph();
  std::string bytes;
  ASSERT_NE(BuildAndLoad(g, KeepSources(), &bytes), nullptr);
  auto f = EngineFile::FromBytes(bytes, "kept");
  ASSERT_TRUE(f.ok());
  // Rewrite the container with a sources section one float short.
  auto rewrite = [&](std::string sources) {
    EngineFileWriter w;
    for (SectionKind kind : (*f)->Kinds()) {
      if (kind == SectionKind::kSources) continue;
      const uint64_t align = kind == SectionKind::kWeights ? 4096 : 64;
      w.AddSection(kind, std::string(*(*f)->Section(kind)), align);
    }
    w.AddSection(SectionKind::kSources, std::move(sources), 4096);
    return w.Serialize().value();
  };
  std::string section(*(*f)->Section(SectionKind::kSources));
  auto ok = Engine::FromBytes(rewrite(section), "same");
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  section.resize(section.size() - 4);
  auto short_one = Engine::FromBytes(rewrite(section), "short");
  ASSERT_FALSE(short_one.ok());
  EXPECT_TRUE(Contains(short_one.status().message(), "sources section"))
      << short_one.status().ToString();
  // SetKeptSources checks prototypes.
  auto e = MustOpen(Engine::FromBytes(bytes, "kept"));
  auto wrong = std::make_shared<SourceSet>(*e->kept_sources());
  wrong->tensors.pop_back();
  EXPECT_FALSE(e->SetKeptSources(wrong).ok());
}

}  // namespace
}  // namespace refit::engine
