#include "base/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "base/test_temp_dir.h"

namespace refit {
namespace {

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(FileUtilTest, WritesAndLeavesNoTemporaryFile) {
  TestTempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string payload(3 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = char(i * 131 % 251);
  ASSERT_TRUE(WriteFileAtomically(dir.File("out.bin"), payload).ok());
  EXPECT_EQ(ListDir(dir.path()), std::vector<std::string>{"out.bin"});
  StatusOr<std::string> back = ReadFile(dir.File("out.bin"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, payload);
}

TEST(FileUtilTest, OverwritesWithShorterContent) {
  TestTempDir dir;
  const std::string path = dir.File("f.txt");
  ASSERT_TRUE(WriteFileAtomically(path, "a much longer old content").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "new").ok());
  EXPECT_EQ(*ReadFile(path), "new");
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  EXPECT_EQ(*ReadFile(path), "");
  EXPECT_EQ(ListDir(dir.path()), std::vector<std::string>{"f.txt"});
}

TEST(FileUtilTest, NewFileFollowsTheUmask) {
  TestTempDir dir;
  const mode_t mask = ::umask(022);
  ASSERT_TRUE(WriteFileAtomically(dir.File("m"), "x").ok());
  ::umask(mask);
  struct stat st;
  ASSERT_EQ(::stat(dir.File("m").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(FileUtilTest, MissingDirectoryFailsAndCreatesNothing) {
  TestTempDir dir;
  const std::string path = dir.File("no/such/dir/f.bin");
  Status s = WriteFileAtomically(path, "data");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(dir.File("no/such/dir")), std::string::npos) << s.ToString();
  EXPECT_TRUE(ListDir(dir.path()).empty());
}

TEST(FileUtilTest, FailedRenameRemovesTheTemporaryFile) {
  TestTempDir dir;
  // A non-empty directory cannot be replaced by a file: everything succeeds but the rename.
  std::filesystem::create_directories(dir.File("target/child"));
  Status s = WriteFileAtomically(dir.File("target"), "data");
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  EXPECT_NE(s.message().find("target"), std::string::npos);
  EXPECT_EQ(ListDir(dir.path()), std::vector<std::string>{"target"});
  EXPECT_TRUE(std::filesystem::is_directory(dir.File("target/child")));
}

TEST(FileUtilTest, RejectsAPathWithoutAFileName) {
  TestTempDir dir;
  EXPECT_EQ(WriteFileAtomically(dir.path() + "/", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ListDir(dir.path()).empty());
}

TEST(FileUtilTest, ReadMissingFileIsNotFound) {
  StatusOr<std::string> s = ReadFile("/nonexistent/refit/file");
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("/nonexistent/refit/file"), std::string::npos);
}

TEST(MappedFileTest, MapsContentAndMovesOwnership) {
  TestTempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.File("m"), "hello mapping").ok());
  StatusOr<MappedFile> m = MappedFile::Open(dir.File("m"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->bytes(), "hello mapping");
  const char* data = m->data();
  MappedFile moved = std::move(*m);
  EXPECT_EQ(moved.data(), data);
  EXPECT_EQ(m->data(), nullptr);
  EXPECT_EQ(m->size(), 0u);
  EXPECT_EQ(moved.bytes(), "hello mapping");
}

TEST(MappedFileTest, SmallFilesAreReadLargeOnesMappedBothAligned) {
  // Sizes around the read/map boundary and page multiples: the same bytes either way, 4096-aligned
  // (an engine's weights section is used in place), and moves keep the way it was opened.
  TestTempDir dir;
  const size_t edge = MappedFile::kReadBelow;
  for (size_t size :
       {size_t{1}, size_t{4095}, size_t{4096}, size_t{4097}, edge - 1, edge, edge + 1, 3 * edge}) {
    SCOPED_TRACE(size);
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) payload[i] = char(i * 131 % 251);
    ASSERT_TRUE(WriteFileAtomically(dir.File("f"), payload).ok());
    StatusOr<MappedFile> m = MappedFile::Open(dir.File("f"));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m->data()) % 4096, 0u);
    EXPECT_EQ(m->bytes(), payload);
    MappedFile moved;
    moved = std::move(*m);
    EXPECT_EQ(moved.bytes(), payload);
    // A file replaced afterwards leaves the bytes already opened as they were.
    ASSERT_TRUE(WriteFileAtomically(dir.File("f"), std::string(size, 'x')).ok());
    EXPECT_EQ(moved.bytes(), payload);
  }
}

TEST(MappedFileTest, EmptyFileMissingFileAndDirectory) {
  TestTempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.File("empty"), "").ok());
  StatusOr<MappedFile> empty = MappedFile::Open(dir.File("empty"));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->size(), 0u);
  EXPECT_EQ(MappedFile::Open(dir.File("missing")).status().code(), StatusCode::kNotFound);
  StatusOr<MappedFile> d = MappedFile::Open(dir.path());
  EXPECT_EQ(d.status().code(), StatusCode::kIoError);
  EXPECT_NE(d.status().message().find(dir.path()), std::string::npos);
}

}  // namespace
}  // namespace refit
