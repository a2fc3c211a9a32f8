// The streaming CBOR reader against nlohmann::json as the oracle (the same values as nlohmann reads
// from the bytes it wrote), and the plan and refit-map readers on a real build: they read back
// exactly what was written, in any member order, and refuse every truncation, with no read out of
// bounds on any flipped byte (run under ASan in CI).
#include "engine/plan_cbor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "engine/builder.h"
#include "engine/engine_test_util.h"
#include "engine/random_json_test_util.h"

namespace refit::engine::internal {
namespace {

using Json = nlohmann::json;

std::string Bytes(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::string Cbor(const Json& j) { return Bytes(Json::to_cbor(j)); }

// Any value, through the typed reads a parser uses (the test's own dispatch on the next byte).
Json ReadAny(CborStream& in) {
  switch (in.PeekMajor()) {
    case 0:
      return in.Uint("u", UINT64_MAX);
    case 1:
      return in.Int("i", INT64_MIN, -1);
    case 2: {
      const std::string_view b = in.Bytes("b");
      return Json::binary(std::vector<uint8_t>(b.begin(), b.end()));
    }
    case 3:
      return std::string(in.Text("t"));
    case 4: {
      Json a = Json::array();
      const uint64_t n = in.Array("a", UINT64_MAX);
      for (uint64_t i = 0; i < n; ++i) a.push_back(ReadAny(in));
      return a;
    }
    case 5: {
      Json o = Json::object();
      const uint64_t n = in.Map("m");
      for (uint64_t i = 0; i < n; ++i) {
        const std::string key(in.Text("key"));
        o[key] = ReadAny(in);
      }
      return o;
    }
    default: {
      // false, true and null are one byte each: tell them apart by what they skip over.
      const std::string_view raw = in.RawValue();
      if (raw == "\xf6") return nullptr;
      CborStream one(raw);
      if (raw == "\xf4" || raw == "\xf5") return one.Bool("bool");
      return one.Number("number");
    }
  }
}

TEST(CborStreamTest, ReadsWhatNlohmannWrites) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    Json j = Json::object();
    for (int i = 0; i < 4; ++i) j["f" + std::to_string(i)] = RandomJson(rng, 0);
    const std::string bytes = Cbor(j);
    CborStream in(bytes);
    // The oracle is nlohmann's own reading of the bytes (a positive integer comes back unsigned).
    EXPECT_EQ(ReadAny(in), Json::from_cbor(bytes));
    EXPECT_NO_THROW(in.ExpectEnd());
    CborStream skip(bytes);
    skip.Skip();
    EXPECT_EQ(skip.position(), bytes.size());
  }
}

TEST(CborStreamTest, EveryTruncationAndTrailingByteIsRefused) {
  std::mt19937 rng(11);
  Json j = Json::object();
  for (int i = 0; i < 6; ++i) j["f" + std::to_string(i)] = RandomJson(rng, 0);
  const std::string bytes = Cbor(j);
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string cut = bytes.substr(0, n);
    CborStream in(cut);
    EXPECT_THROW(ReadAny(in), PlanError) << "truncated at " << n;
    CborStream skip(cut);
    EXPECT_THROW(skip.Skip(), PlanError) << "truncated at " << n;
  }
  const std::string longer = bytes + '\0';
  CborStream in(longer);
  ReadAny(in);
  EXPECT_THROW(in.ExpectEnd(), PlanError);
}

TEST(CborStreamTest, MalformedInputsAreNamedErrors) {
  const auto message = [](std::initializer_list<uint8_t> b) -> std::string {
    const std::string bytes(b.begin(), b.end());
    CborStream in(bytes);
    try {
      ReadAny(in);
      in.ExpectEnd();
    } catch (const PlanError& e) {
      return e.what();
    }
    return "";
  };
  // An array claiming 2^32 elements in a 9-byte input.
  EXPECT_NE(message({0x9b, 0, 0, 0, 1, 0, 0, 0, 0}).find("element count"), std::string::npos);
  EXPECT_NE(message({0xbb, 0, 0, 0, 1, 0, 0, 0, 0}).find("member count"), std::string::npos);
  EXPECT_NE(message({0x9f, 0x01, 0xff}), "");  // indefinite-length array
  EXPECT_NE(message({0xc1, 0x01}).find("tags"), std::string::npos);
  EXPECT_NE(message({0xa1, 0x01, 0x02}), "");                 // an integer key
  EXPECT_NE(message({0x7a, 0xff, 0xff, 0xff, 0xff}), "");     // a string longer than the input
  EXPECT_NE(message({0x3b, 0xff, 0, 0, 0, 0, 0, 0, 0}), "");  // below INT64_MIN
  EXPECT_NE(message({0xf8, 0x20}), "");                       // a one-byte simple value
  EXPECT_EQ(message({0x82, 0x01, 0x02}), "");                 // the control: [1, 2]
  std::string deep(100, char(0x81));
  deep += char(0x01);
  CborStream too_deep(deep);
  EXPECT_THROW(too_deep.Skip(), PlanError);
  const std::string ok = std::string(60, char(0x81)) + char(0x01);
  CborStream fine(ok);
  EXPECT_NO_THROW(fine.Skip());
  // Typed reads name what they wanted.
  const std::string one = Cbor(Json("text"));
  CborStream wrong(one);
  try {
    wrong.Int("opset", 0, 10);
    ADD_FAILURE() << "a string read as an integer";
  } catch (const PlanError& e) {
    EXPECT_NE(std::string(e.what()).find("'opset' is not an integer"), std::string::npos)
        << e.what();
  }
  const std::string big = Cbor(Json(2000));
  CborStream range(big);
  EXPECT_THROW(range.Int("opset", 1, 1000), PlanError);
}

TEST(ReadMembersTest, MissingRepeatedAndUnknownMembers) {
  static constexpr std::array<std::string_view, 2> kNames = {"a", "b"};
  const auto read = [](const std::string& bytes, uint32_t optional) {
    CborStream in(bytes);
    int64_t a = 0, b = 0;
    const uint32_t seen = ReadMembers(
        in, "thing", kNames,
        [&](size_t f) { (f == 0 ? a : b) = in.Int(f == 0 ? "a" : "b", 0, 100); }, optional);
    in.ExpectEnd();
    return std::make_tuple(seen, a, b);
  };
  // Any order, unknown members skipped.
  EXPECT_EQ(read(Cbor(Json{{"b", 2}, {"z", {1, 2, {{"q", 3}}}}, {"a", 1}}), 0),
            std::make_tuple(3u, int64_t{1}, int64_t{2}));
  EXPECT_EQ(std::get<0>(read(Cbor(Json{{"a", 1}}), 0b10)), 1u);
  try {
    read(Cbor(Json{{"a", 1}}), 0);
    ADD_FAILURE() << "a missing member was not refused";
  } catch (const PlanError& e) {
    EXPECT_NE(std::string(e.what()).find("thing: missing field 'b'"), std::string::npos);
  }
  // {"a": 1, "a": 2}, which nlohmann cannot write.
  const std::string twice = {char(0xa2), char(0x61), 'a', 1, char(0x61), 'a', 2};
  EXPECT_THROW(read(twice, 0b10), PlanError);
}

// A real plan and refit map: the tiny CNN built refittable.
struct Sections {
  std::string plan, refit_map;
};
const Sections& TinySections() {
  static const Sections s = [] {
    auto built = BuildEngine(testing::TinyCnn(), testing::FastOptions());
    EXPECT_TRUE(built.ok()) << built.status().ToString();
    return Sections{SerializePlan(built->plan), SerializeRefitMap(built->plan)};
  }();
  return s;
}

Plan ReadBoth(const std::string& plan, const std::string& refit_map) {
  Plan p = ReadPlanSection(plan);
  ReadRefitMapSection(refit_map, &p);
  return p;
}

// The same document with every object's members in reverse order: nlohmann::json sorts keys on
// every write, so it is built as ordered_json.
nlohmann::ordered_json ReversedOrdered(const Json& j) {
  if (j.is_array()) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const Json& e : j) a.push_back(ReversedOrdered(e));
    return a;
  }
  if (j.is_binary()) return nlohmann::ordered_json::binary(j.get_binary());
  if (!j.is_object()) return nlohmann::ordered_json::parse(j.dump());
  nlohmann::ordered_json o = nlohmann::ordered_json::object();
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  std::reverse(keys.begin(), keys.end());
  for (const std::string& k : keys) o[k] = ReversedOrdered(j[k]);
  return o;
}

TEST(PlanSectionTest, ReadsBackExactlyWhatWasWritten) {
  const Sections& s = TinySections();
  const Plan p = ReadBoth(s.plan, s.refit_map);
  EXPECT_EQ(SerializePlan(p), s.plan);
  EXPECT_EQ(SerializeRefitMap(p), s.refit_map);
  EXPECT_FALSE(p.layers.empty());
  EXPECT_FALSE(p.sources.empty());

  // Members in another order than the writer's read the same (slower, still exact).
  const std::string plan_reversed =
      Bytes(nlohmann::ordered_json::to_cbor(ReversedOrdered(Json::from_cbor(s.plan))));
  const std::string map_reversed =
      Bytes(nlohmann::ordered_json::to_cbor(ReversedOrdered(Json::from_cbor(s.refit_map))));
  ASSERT_NE(plan_reversed, s.plan);
  const Plan r = ReadBoth(plan_reversed, map_reversed);
  EXPECT_EQ(SerializePlan(r), s.plan);
  EXPECT_EQ(SerializeRefitMap(r), s.refit_map);
}

TEST(PlanSectionTest, EveryTruncationIsRefusedAndNoFlipReadsOutOfBounds) {
  const Sections& s = TinySections();
  for (size_t n = 0; n < s.plan.size(); ++n) {
    EXPECT_THROW(ReadPlanSection(s.plan.substr(0, n)), PlanError) << "plan cut at " << n;
  }
  for (size_t n = 0; n < s.refit_map.size(); ++n) {
    Plan p = ReadPlanSection(s.plan);
    EXPECT_THROW(ReadRefitMapSection(s.refit_map.substr(0, n), &p), PlanError)
        << "refit map cut at " << n;
  }
  // A flipped byte is refused or reads as some plan; never anything else (ASan checks the reads).
  int refused = 0;
  for (size_t i = 0; i < s.plan.size(); ++i) {
    std::string bad = s.plan;
    bad[i] = char(bad[i] ^ 0x5a);
    try {
      ReadBoth(bad, s.refit_map);
    } catch (const PlanError&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, int(s.plan.size() / 4));
  for (size_t i = 0; i < s.refit_map.size(); ++i) {
    std::string bad = s.refit_map;
    bad[i] = char(bad[i] ^ 0x5a);
    try {
      ReadBoth(s.plan, bad);
    } catch (const PlanError&) {
    }
  }
}

}  // namespace
}  // namespace refit::engine::internal
