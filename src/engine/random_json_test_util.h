// Internal to engine tests: random documents for the section readers' oracle tests (nlohmann::json
// writes them, our readers read them back).
#pragma once

#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace refit::engine::internal {

// A random document exercising every kind: nested objects and arrays, both integer signs and
// widths, floats that need half, single and double precision, strings with escapes and UTF-8.
inline nlohmann::json RandomJson(std::mt19937& rng, int depth) {
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
      return nlohmann::json::binary({1, 2, 3, uint8_t(rng() % 256)});
    case 7: {
      nlohmann::json a = nlohmann::json::array();
      const int n = int(rng() % 6);
      for (int i = 0; i < n; ++i) a.push_back(RandomJson(rng, depth + 1));
      return a;
    }
    default: {
      nlohmann::json o = nlohmann::json::object();
      const int n = int(rng() % 6);
      for (int i = 0; i < n; ++i) o["k" + std::to_string(rng() % 10)] = RandomJson(rng, depth + 1);
      return o;
    }
  }
}

// JSON text cannot hold binary: nlohmann writes it as an object; compare without it there.
inline nlohmann::json WithoutBinary(const nlohmann::json& j) {
  if (j.is_binary()) return "bin";
  if (j.is_array()) {
    nlohmann::json a = nlohmann::json::array();
    for (const nlohmann::json& e : j) a.push_back(WithoutBinary(e));
    return a;
  }
  if (j.is_object()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [k, v] : j.items()) o[k] = WithoutBinary(v);
    return o;
  }
  return j;
}

}  // namespace refit::engine::internal
