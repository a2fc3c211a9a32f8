// The plan-section Document against nlohmann::json as the oracle: the same values from CBOR and
// from JSON text as nlohmann reads from them, and every malformed input refused without reading
// out of bounds (run under ASan in CI).
#include "engine/plan_doc.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace refit::engine::internal {
namespace {

using Json = nlohmann::json;

// A random document exercising every kind: nested objects and arrays, both integer signs and
// widths, floats that need half, single and double precision, strings with escapes and UTF-8.
Json RandomJson(std::mt19937& rng, int depth) {
  const int pick = int(rng() % (depth > 3 ? 7 : 9));
  switch (pick) {
    case 0:
      return nullptr;
    case 1:
      return bool(rng() % 2);
    case 2:
      return int64_t(rng() % 50000) - 25000;
    case 3: {
      const uint64_t widths[] = {
          23,        24, 255, 256, 65535, 65536, 4294967295ull, 4294967296ull, uint64_t(INT64_MAX),
          UINT64_MAX};
      return widths[rng() % 10];
    }
    case 4: {
      const double floats[] = {0.5, 1.25, -3.0e38, 1e-300, 0.1, 123456.789, -0.0};
      return floats[rng() % 7];
    }
    case 5: {
      const char* strings[] = {"",
                               "plain",
                               "quote\" and \\ slash",
                               "tab\tnewline\n",
                               "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                               "\x01\x1f"};
      return strings[rng() % 6];
    }
    case 6:
      return Json::binary({1, 2, 3, uint8_t(rng() % 256)});
    case 7: {
      Json a = Json::array();
      const int n = int(rng() % 6);
      for (int i = 0; i < n; ++i) a.push_back(RandomJson(rng, depth + 1));
      return a;
    }
    default: {
      Json o = Json::object();
      const int n = int(rng() % 6);
      for (int i = 0; i < n; ++i) o["k" + std::to_string(rng() % 10)] = RandomJson(rng, depth + 1);
      return o;
    }
  }
}

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
  }
}

// JSON text cannot hold binary: nlohmann writes it as an object; compare without it there.
Json WithoutBinary(const Json& j) {
  if (j.is_binary()) return "bin";
  if (j.is_array()) {
    Json a = Json::array();
    for (const Json& e : j) a.push_back(WithoutBinary(e));
    return a;
  }
  if (j.is_object()) {
    Json o = Json::object();
    for (const auto& [k, v] : j.items()) o[k] = WithoutBinary(v);
    return o;
  }
  return j;
}

TEST(PlanDocTest, ReadsWhatNlohmannWrites) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    Json j = Json::object();
    for (int i = 0; i < 4; ++i) j["f" + std::to_string(i)] = RandomJson(rng, 0);
    const std::vector<uint8_t> cbor = Json::to_cbor(j);
    auto from_cbor = Document::FromCbor(
        std::string_view(reinterpret_cast<const char*>(cbor.data()), cbor.size()));
    ASSERT_TRUE(from_cbor.ok()) << from_cbor.status().ToString();
    // The oracle is nlohmann's own reading of the bytes (it reads a positive integer back as
    // unsigned, for one).
    ExpectSame(Json::from_cbor(cbor), from_cbor->root(), "cbor");

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
  const std::vector<uint8_t> cbor = Json::to_cbor(j);
  const std::string bytes(cbor.begin(), cbor.end());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(Document::FromCbor(bytes.substr(0, n)).ok()) << "cbor truncated at " << n;
  }
  EXPECT_FALSE(Document::FromCbor(bytes + '\0').ok());
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
  const auto cbor = [](std::initializer_list<uint8_t> b) {
    return Document::FromCbor(std::string(b.begin(), b.end()));
  };
  // An array claiming 2^32 elements in a 9-byte input.
  auto lie = cbor({0x9b, 0, 0, 0, 1, 0, 0, 0, 0});
  ASSERT_FALSE(lie.ok());
  EXPECT_NE(lie.status().message().find("element count"), std::string::npos)
      << lie.status().message();
  EXPECT_FALSE(cbor({0x9f, 0x01, 0xff}).ok());                 // indefinite-length array
  EXPECT_FALSE(cbor({0xc1, 0x01}).ok());                       // a tag
  EXPECT_FALSE(cbor({0xa1, 0x01, 0x02}).ok());                 // an integer key
  EXPECT_FALSE(cbor({0x7a, 0xff, 0xff, 0xff, 0xff}).ok());     // a string longer than the input
  EXPECT_FALSE(cbor({0x3b, 0xff, 0, 0, 0, 0, 0, 0, 0}).ok());  // below INT64_MIN
  EXPECT_FALSE(cbor({0xf8, 0x20}).ok());                       // a one-byte simple value
  std::string deep(100, char(0x81));
  deep += char(0x01);
  EXPECT_FALSE(Document::FromCbor(deep).ok());
  EXPECT_TRUE(Document::FromCbor(std::string(60, char(0x81)) + char(0x01)).ok());

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
