#include "engine/engine_file.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace refit::engine {
namespace {

std::string SmallEngine() {
  EngineFileWriter w;
  w.AddSection(SectionKind::kMetadata, R"({"mode":"refittable"})");
  w.AddSection(SectionKind::kPlan, std::string("plan\0bytes", 10));
  w.AddSection(SectionKind::kRefitMap, "");  // empty sections are legal
  w.AddSection(SectionKind::kWeights, std::string(300, '\x5a'), 4096);
  return std::move(w.Serialize()).value();
}

TEST(EngineFileTest, RoundTripAndAlignment) {
  const std::string bytes = SmallEngine();
  auto f = EngineFile::FromBytes(bytes, "test");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->format_version(), kEngineFormatVersion);
  EXPECT_EQ(*(*f)->Section(SectionKind::kMetadata), R"({"mode":"refittable"})");
  EXPECT_EQ(*(*f)->Section(SectionKind::kPlan), std::string("plan\0bytes", 10));
  EXPECT_EQ((*f)->Section(SectionKind::kRefitMap)->size(), 0u);
  auto weights = (*f)->Section(SectionKind::kWeights);
  ASSERT_TRUE(weights.ok());
  EXPECT_EQ(weights->size(), 300u);
  // The weights section starts at a file offset that is a multiple of its alignment.
  const std::string_view all(bytes);
  EXPECT_EQ(all.find(std::string(300, '\x5a')) % 4096, 0u);
  EXPECT_FALSE((*f)->Has(SectionKind::kTactics));
  auto missing = (*f)->Section(SectionKind::kTactics);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("tactics"), std::string::npos);
}

TEST(EngineFileTest, AnEmptySectionAddsNoPadding) {
  // A stripped engine's weights section is empty: it must not pad the file to its 4096 alignment.
  EngineFileWriter w;
  w.AddSection(SectionKind::kMetadata, std::string(100, 'm'));
  w.AddSection(SectionKind::kWeights, "", 4096);
  const std::string bytes = std::move(w.Serialize()).value();
  EXPECT_LT(bytes.size(), 4096u);
  auto f = EngineFile::FromBytes(bytes, "empty weights");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->Section(SectionKind::kWeights)->size(), 0u);
  EXPECT_EQ((*f)->Section(SectionKind::kMetadata)->size(), 100u);
}

TEST(EngineFileTest, MappedSectionsAreAlignedInMemory) {
  const std::string path = ::testing::TempDir() + "/refit_engine_" + std::to_string(getpid());
  EngineFileWriter w;
  w.AddSection(SectionKind::kMetadata, "{}");
  w.AddSection(SectionKind::kWeights, std::string(1000, '\x01'), 4096);
  ASSERT_TRUE(w.WriteTo(path).ok());
  auto f = EngineFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  // mmap returns page-aligned memory, so a 4096-aligned offset is a 4096-aligned address.
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*f)->Section(SectionKind::kWeights)->data()) % 4096, 0u);
  std::filesystem::remove(path);
}

TEST(EngineFileTest, EveryTruncationIsDetected) {
  const std::string bytes = SmallEngine();
  for (size_t keep = 0; keep < bytes.size(); ++keep) {
    auto f = EngineFile::FromBytes(bytes.substr(0, keep), "truncated");
    ASSERT_FALSE(f.ok()) << "kept " << keep << " of " << bytes.size();
    EXPECT_NE(f.status().message().find("truncated"), std::string::npos);
  }
}

TEST(EngineFileTest, EveryBitFlipIsDetected) {
  const std::string bytes = SmallEngine();
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit : {0, 7}) {
      std::string copy = bytes;
      copy[i] = char(copy[i] ^ (1 << bit));
      auto f = EngineFile::FromBytes(std::move(copy), "flipped");
      ASSERT_FALSE(f.ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(EngineFileTest, AppendedBytesAreDetected) {
  auto f = EngineFile::FromBytes(SmallEngine() + "x", "appended");
  ASSERT_FALSE(f.ok());
}

TEST(EngineFileTest, OtherFormatVersionIsAClearError) {
  std::string bytes = SmallEngine();
  // Rewrite the version and re-seal the header checksum, as a future refit would write it.
  const uint32_t future = kEngineFormatVersion + 1;
  std::memcpy(bytes.data() + 8, &future, 4);
  // The header checksum covers bytes [0, 40) and lives at offset 40 (docs/engine-format.md).
  const uint64_t h = XXH64(bytes.data(), 40, 0);
  std::memcpy(bytes.data() + 40, &h, 8);
  auto f = EngineFile::FromBytes(bytes, "future");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(f.status().message().find("version " + std::to_string(future)), std::string::npos)
      << f.status().message();
  EXPECT_NE(f.status().message().find("reads version " + std::to_string(kEngineFormatVersion)),
            std::string::npos);
}

TEST(EngineFileTest, WriterRefusesBadSections) {
  EngineFileWriter twice;
  twice.AddSection(SectionKind::kPlan, "a");
  twice.AddSection(SectionKind::kPlan, "b");
  EXPECT_FALSE(twice.Serialize().ok());
  EngineFileWriter misaligned;
  misaligned.AddSection(SectionKind::kPlan, "a", 3);
  EXPECT_FALSE(misaligned.Serialize().ok());
}

// A chunked section (borrowed pieces, zeros between) is the same file as its bytes laid out by
// hand, whether serialised in memory or written straight to disk.
TEST(EngineFileTest, ChunkedSectionsEqualTheirBytes) {
  const std::string a(100, '\x11'), b(7, '\x22'), c(5000, '\x33');
  std::string laid_out(64 * 3 + 5000, '\0');
  std::memcpy(laid_out.data(), a.data(), a.size());
  std::memcpy(laid_out.data() + 128, b.data(), b.size());
  std::memcpy(laid_out.data() + 192, c.data(), c.size());
  laid_out.resize(192 + 5000 + 40, '\0');  // zeros after the last chunk too

  EngineFileWriter plain, chunked;
  for (EngineFileWriter* w : {&plain, &chunked}) {
    w->AddSection(SectionKind::kMetadata, "{}");
    w->AddSection(SectionKind::kPlan, std::string("plan"));
  }
  plain.AddSection(SectionKind::kWeights, laid_out, 4096);
  chunked.AddSection(SectionKind::kWeights, {{0, a}, {128, b}, {192, c}}, laid_out.size(), 4096);
  auto want = plain.Serialize();
  auto got = chunked.Serialize();
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_TRUE(*want == *got);

  const std::string path = ::testing::TempDir() + "/refit_chunked_" + std::to_string(getpid());
  auto written = chunked.WriteTo(path);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, want->size());
  std::ifstream in(path, std::ios::binary);
  const std::string on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(on_disk == *want);
  std::filesystem::remove(path);

  EngineFileWriter overlapping;
  overlapping.AddSection(SectionKind::kWeights, {{0, a}, {50, b}}, 200, 64);
  EXPECT_FALSE(overlapping.Serialize().ok());
  EngineFileWriter overrunning;
  overrunning.AddSection(SectionKind::kWeights, {{150, a}}, 200, 64);
  EXPECT_FALSE(overrunning.Serialize().ok());
  EXPECT_FALSE(overrunning.WriteTo(path).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(EngineFileTest, NotAnEngine) {
  auto f = EngineFile::FromBytes(std::string(200, 'x'), "garbage");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("garbage"), std::string::npos);
  EXPECT_FALSE(EngineFile::Open("/nonexistent/engine").ok());
}

}  // namespace

}  // namespace refit::engine
