// One test per way a safetensors file can lie about its contents. Each must be refused with a
// message naming the file and, where there is one, the tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "base/file_util.h"
#include "base/test_temp_dir.h"
#include "refit/safetensors.h"

namespace refit {
namespace {

class SafetensorsLiesTest : public ::testing::Test {
 protected:
  // Writes an 8-byte length (`header.size()` unless overridden), the header and the data to a
  // file and returns Open's status.
  Status OpenImage(const std::string& header, const std::string& data,
                   std::optional<uint64_t> header_len = std::nullopt) {
    const uint64_t n = header_len.value_or(header.size());
    std::string image(8, '\0');
    for (int i = 0; i < 8; ++i) image[i] = char((n >> (8 * i)) & 0xff);
    return OpenRaw(image + header + data);
  }
  Status OpenRaw(const std::string& image) {
    EXPECT_TRUE(WriteFileAtomically(path_, image).ok());
    return SafetensorsFile::Open(path_).status();
  }
  // Checks code and that the message names the file and each of `parts`.
  void ExpectError(const Status& s, StatusCode code, std::initializer_list<std::string> parts) {
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.message().find(path_), std::string::npos) << s.ToString();
    for (const std::string& part : parts) {
      EXPECT_NE(s.message().find(part), std::string::npos)
          << "'" << part << "' in " << s.ToString();
    }
  }

  TestTempDir dir_;
  std::string path_ = dir_.File("lie.safetensors");
};

constexpr StatusCode kDataLoss = StatusCode::kDataLoss;

TEST_F(SafetensorsLiesTest, WellFormedBaselineOpens) {
  EXPECT_TRUE(
      OpenImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'))
          .ok());
}

TEST_F(SafetensorsLiesTest, FileShorterThanLengthField) {
  ExpectError(OpenRaw("\x02\x00\x00"), kDataLoss, {"too short"});
  ExpectError(OpenRaw(""), kDataLoss, {"too short"});
}

TEST_F(SafetensorsLiesTest, TruncatedDataSection) {
  ExpectError(OpenImage(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                        std::string(10, '\0')),
              kDataLoss, {"'a'", "data section of 10 bytes"});
}

TEST_F(SafetensorsLiesTest, HeaderLengthBeyondFile) {
  ExpectError(OpenImage("{}", "", 1000), kDataLoss, {"header length 1000"});
  ExpectError(OpenImage("{}", "", UINT64_MAX), kDataLoss, {"header length"});
}

TEST_F(SafetensorsLiesTest, HeaderLengthAboveLimit) {
  // A sparse file: large enough to hold the claimed header without costing disk space.
  ASSERT_TRUE(OpenImage("{}", "", 200'000'000).code() == kDataLoss);
  std::filesystem::resize_file(path_, 8 + 200'000'000);
  ExpectError(SafetensorsFile::Open(path_).status(), kDataLoss, {"limit"});
}

TEST_F(SafetensorsLiesTest, HeaderNotJson) {
  ExpectError(OpenImage(R"({"a": )", ""), kDataLoss, {"not valid JSON"});
  ExpectError(OpenImage("\x01\x02garbage", ""), kDataLoss, {"not valid JSON"});
}

TEST_F(SafetensorsLiesTest, HeaderNotAnObject) {
  ExpectError(OpenImage("[1,2]", ""), kDataLoss, {"array", "not an object"});
  ExpectError(OpenImage("null", ""), kDataLoss, {"not an object"});
  ExpectError(OpenImage(R"({"a":5})", ""), kDataLoss, {"'a'", "not an object"});
}

TEST_F(SafetensorsLiesTest, UnknownDtypeIsUnimplemented) {
  for (const std::string dtype : {"F8_E4M3", "U16", "f32"}) {
    ExpectError(OpenImage(R"({"w8":{"dtype":")" + dtype + R"(","shape":[2],"data_offsets":[0,2]}})",
                          std::string(2, '\0')),
                StatusCode::kUnimplemented, {"'w8'", "'" + dtype + "'"});
  }
}

TEST_F(SafetensorsLiesTest, ShapeDisagreesWithByteRange) {
  ExpectError(OpenImage(R"({"m":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})",
                        std::string(20, '\0')),
              kDataLoss, {"'m'", "needs 24 bytes", "hold 20"});
}

TEST_F(SafetensorsLiesTest, OffsetsOutOfRange) {
  ExpectError(
      OpenImage(R"({"o":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})", std::string(8, '\0')),
      kDataLoss, {"'o'", "[4,12]", "data section of 8 bytes"});
  ExpectError(
      OpenImage(R"({"r":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", std::string(4, '\0')),
      kDataLoss, {"'r'", "begin after end"});
}

TEST_F(SafetensorsLiesTest, OverlappingRanges) {
  ExpectError(OpenImage(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        std::string(12, '\0')),
              kDataLoss, {"'b'", "overlaps", "'a'"});
  // Two names on the very same bytes alias each other just as well.
  ExpectError(OpenImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                        std::string(4, '\0')),
              kDataLoss, {"overlaps"});
}

TEST_F(SafetensorsLiesTest, GapBetweenRanges) {
  ExpectError(OpenImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                        std::string(12, '\0')),
              kDataLoss, {"gap of 4 bytes", "'b'", "'a'"});
  ExpectError(
      OpenImage(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0')),
      kDataLoss, {"gap of 4 bytes", "'b'"});
}

TEST_F(SafetensorsLiesTest, TrailingBytes) {
  ExpectError(
      OpenImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(9, '\0')),
      kDataLoss, {"5 trailing bytes"});
  ExpectError(OpenImage("{}", "x"), kDataLoss, {"1 trailing bytes"});
}

TEST_F(SafetensorsLiesTest, NegativeDimension) {
  ExpectError(OpenImage(R"({"n":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,0]}})", ""),
              kDataLoss, {"'n'", "negative dimension -1"});
}

TEST_F(SafetensorsLiesTest, HugeDimensionsThatOverflow) {
  // 2^32 cubed wraps to 0 in 64-bit arithmetic, which would "match" an empty range.
  ExpectError(OpenImage(R"({"h":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],)"
                        R"("data_offsets":[0,0]}})",
                        ""),
              kDataLoss, {"'h'", "more than"});
  ExpectError(OpenImage(R"({"h":{"dtype":"U8","shape":[18446744073709551615],)"
                        R"("data_offsets":[0,0]}})",
                        ""),
              kDataLoss, {"'h'", "18446744073709551615"});
  ExpectError(OpenImage(R"({"h":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}})", ""),
              kDataLoss, {"'h'", "1.5"});
  ExpectError(OpenImage(R"({"h":{"dtype":"U8","shape":[1],"data_offsets":[0,1e30]}})", "x"),
              kDataLoss, {"'h'", "data_offsets"});
}

TEST_F(SafetensorsLiesTest, DuplicateTensorName) {
  // A JSON parser that keeps one of the two would find this file perfectly consistent.
  ExpectError(OpenImage(R"({"d":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("d":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                        std::string(4, '\0')),
              kDataLoss, {"duplicate tensor name 'd'"});
  ExpectError(OpenImage(R"({"d":{"dtype":"F32","shape":[1],"data_offsets":[0,4],)"
                        R"("data_offsets":[0,4]}})",
                        std::string(4, '\0')),
              kDataLoss, {"'d'", "duplicate key 'data_offsets'"});
}

TEST_F(SafetensorsLiesTest, MetadataNotStrings) {
  ExpectError(OpenImage(R"({"__metadata__":{"epoch":3}})", ""), kDataLoss,
              {"__metadata__", "'epoch'", "not a string"});
  ExpectError(OpenImage(R"({"__metadata__":"pt"})", ""), kDataLoss, {"__metadata__"});
  ExpectError(OpenImage(R"({"__metadata__":{"a":"x","a":"y"}})", ""), kDataLoss,
              {"duplicate key 'a'"});
}

TEST_F(SafetensorsLiesTest, MissingOrMistypedFields) {
  ExpectError(OpenImage(R"({"f":{"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
              kDataLoss, {"'f'", "\"dtype\""});
  ExpectError(OpenImage(R"({"f":{"dtype":"F32","data_offsets":[0,4]}})", std::string(4, '\0')),
              kDataLoss, {"'f'", "\"shape\""});
  ExpectError(OpenImage(R"({"f":{"dtype":"F32","shape":[1]}})", std::string(4, '\0')), kDataLoss,
              {"'f'", "\"data_offsets\""});
  ExpectError(
      OpenImage(R"({"f":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
      kDataLoss, {"'f'", "dtype"});
  ExpectError(
      OpenImage(R"({"f":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", std::string(4, '\0')),
      kDataLoss, {"'f'", "shape"});
  ExpectError(
      OpenImage(R"({"f":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", std::string(4, '\0')),
      kDataLoss, {"'f'", "data_offsets"});
}

TEST_F(SafetensorsLiesTest, BoolBytesOtherThanZeroOrOne) {
  ExpectError(OpenImage(R"({"mask":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})",
                        std::string("\x01\x00\x02", 3)),
              kDataLoss, {"'mask'", "element 2", "byte value 2"});
}

TEST(SafetensorsFromBytesTest, ErrorsNameTheLabel) {
  StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::FromBytes("short", "upload.safetensors");
  EXPECT_EQ(file.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(file.status().message().find("upload.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace refit
