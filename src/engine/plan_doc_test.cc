// The Document (the JSON text sections) against nlohmann::json as the oracle: the same values as
// nlohmann reads from the text, and every malformed input refused without reading out of bounds
// (run under ASan in CI). The CBOR sections' reader is tested in plan_cbor_test.cc.
#include "engine/plan_doc.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "engine/random_json_test_util.h"

namespace refit::engine::internal {
namespace {

using Json = nlohmann::json;

void ExpectSame(const Json& want, DocValue got, const std::string& path) {
  SCOPED_TRACE(path);
  ASSERT_TRUE(got.valid());
  if (want.is_null()) {
    EXPECT_TRUE(got.is_null());
  } else if (want.is_boolean()) {
    ASSERT_TRUE(got.is_boolean());
    EXPECT_EQ(got.as_bool(), want.get<bool>());
  } else if (want.is_number_unsigned()) {
    ASSERT_TRUE(got.is_number_unsigned());
    EXPECT_EQ(got.as_uint(), want.get<uint64_t>());
  } else if (want.is_number_integer()) {
    ASSERT_TRUE(got.is_number_integer());
    EXPECT_FALSE(got.is_number_unsigned());
    EXPECT_EQ(got.as_int(), want.get<int64_t>());
  } else if (want.is_number_float()) {
    ASSERT_TRUE(got.is_number());
    EXPECT_EQ(got.as_double(), want.get<double>());
  } else if (want.is_string()) {
    ASSERT_TRUE(got.is_string());
    EXPECT_EQ(got.as_string(), want.get<std::string>());
  } else if (want.is_binary()) {
    ASSERT_TRUE(got.is_binary());
    const auto& b = want.get_binary();
    EXPECT_EQ(got.as_string(), std::string(b.begin(), b.end()));
  } else if (want.is_array()) {
    ASSERT_TRUE(got.is_array());
    ASSERT_EQ(got.size(), want.size());
    size_t i = 0;
    for (DocValue e : got) ExpectSame(want[i], e, path + "/" + std::to_string(i)), ++i;
    EXPECT_EQ(i, want.size());
  } else {
    ASSERT_TRUE(got.is_object());
    ASSERT_EQ(got.size(), want.size());
    size_t n = 0;
    for (auto it = got.begin(); it != got.end(); ++it, ++n) {
      const std::string key(it.key());
      ASSERT_TRUE(want.contains(key)) << key;
      ExpectSame(want[key], *it, path + "/" + key);
      ExpectSame(want[key], got.find(key), path + "/find " + key);
    }
    EXPECT_EQ(n, want.size());
    EXPECT_FALSE(got.find("no such key").valid());
    // With a cursor, in file order and in reverse (each lookup wrapping around), as without.
    std::vector<std::string> keys;
    for (auto it = got.begin(); it != got.end(); ++it) keys.emplace_back(it.key());
    uint32_t forward = 0, backward = 0;
    for (size_t k = 0; k < keys.size(); ++k) {
      const std::string& key = keys[keys.size() - 1 - k];
      EXPECT_EQ(got.find(keys[k], &forward).as_string(), got.find(keys[k]).as_string());
      ExpectSame(want[key], got.find(key, &backward), path + "/cursor " + key);
    }
    EXPECT_FALSE(got.find("no such key", &forward).valid());
  }
}

TEST(PlanDocTest, ReadsWhatNlohmannWrites) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    Json j = Json::object();
    for (int i = 0; i < 4; ++i) j["f" + std::to_string(i)] = RandomJson(rng, 0);
    const Json text_json = WithoutBinary(j);
    for (int indent : {-1, 2}) {
      const std::string text = text_json.dump(indent);
      auto from_text = Document::FromJson(text);
      ASSERT_TRUE(from_text.ok()) << from_text.status().ToString() << "\n" << text;
      ExpectSame(Json::parse(text), from_text->root(), "text");
    }
  }
}

TEST(PlanDocTest, EveryTruncationAndTrailingByteIsRefused) {
  std::mt19937 rng(11);
  Json j = Json::object();
  for (int i = 0; i < 6; ++i) j["f" + std::to_string(i)] = RandomJson(rng, 0);
  const std::string text = WithoutBinary(j).dump();
  for (size_t n = 0; n < text.size(); ++n) {
    auto d = Document::FromJson(text.substr(0, n));
    // A prefix that is itself a complete value (a number cut short) is valid JSON: never here,
    // since the document is an object.
    EXPECT_FALSE(d.ok()) << "text truncated at " << n;
  }
  EXPECT_FALSE(Document::FromJson(text + " x").ok());
  EXPECT_TRUE(Document::FromJson(text + " \n").ok());
}

TEST(PlanDocTest, MalformedInputsAreNamedErrors) {
  for (const char* bad :
       {"", "{", "[1,]", "{\"a\" 1}", "{1:2}", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "01", "1.",
        "1e", "-", "tru", "nul", "[1 2]", "\"a\nb\"", "{\"a\":1,}"}) {
    EXPECT_FALSE(Document::FromJson(bad).ok()) << bad;
  }
  EXPECT_FALSE(Document::FromJson(std::string(100, '[') + std::string(100, ']')).ok());
  auto big = Document::FromJson("[18446744073709551616, -9223372036854775809, 1e400]");
  EXPECT_FALSE(big.ok());  // 1e400 is out of range for a double
  auto ok =
      Document::FromJson("[18446744073709551615, -9223372036854775808, \"\\u00e9\\ud83d\\ude00\"]");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  auto it = ok->root().begin();
  EXPECT_EQ((*it).as_uint(), UINT64_MAX);
  ++it;
  EXPECT_EQ((*it).as_int(), INT64_MIN);
  ++it;
  EXPECT_EQ((*it).as_string(), "\xc3\xa9\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace refit::engine::internal
