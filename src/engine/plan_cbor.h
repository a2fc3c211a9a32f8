// Internal to engine: a checked, streaming CBOR reader for the plan and refit map sections.
//
// The plan is the largest section an engine load decodes, once per load, and every cache hit
// loads one. Decoding it into a Document (plan_doc.h) and then looking each field up cost more
// than everything else in a small engine's load. A CborStream reads the bytes once, in order,
// straight into the plan's structures: each read names what it expects, checks the type and range
// and throws PlanError otherwise (with the byte offset), so nothing is read out of bounds and a
// malformed plan is a DataLoss naming the file. It reads the subset nlohmann::json::to_cbor writes
// (RFC 8949 without tags or indefinite lengths). ReadMembers reads one map member by member;
// ReadPlanSection and ReadRefitMapSection read the two sections.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/plan.h"
#include "engine/plan_codec.h"

namespace refit::engine::internal {

// The most elements a plan section's list may claim.
inline constexpr int64_t kMaxPlanItems = int64_t{1} << 24;

class CborStream {
 public:
  explicit CborStream(std::string_view bytes) : in_(bytes) {}

  // A map header: its member count (each member is a text key, then the value).
  uint64_t Map(const char* what);
  // An array header of at most `max_size` elements: its element count.
  uint64_t Array(const char* what, uint64_t max_size);
  std::string_view Text(const char* what);   // a text string, in place
  std::string_view Bytes(const char* what);  // a byte string, in place
  int64_t Int(const char* what, int64_t lo, int64_t hi);
  uint64_t Uint(const char* what, uint64_t max);
  bool Bool(const char* what);
  double Number(const char* what);  // an integer or a float of any width
  // Skips one value of any type (nested at most 64 deep).
  void Skip();
  // Skips one value and returns its bytes, for reading later with a CborStream of its own.
  std::string_view RawValue();
  // Throws unless every byte was read.
  void ExpectEnd() const;

  // Major type of the next item (0-7), or -1 at the end.
  int PeekMajor() const { return pos_ < in_.size() ? uint8_t(in_[pos_]) >> 5 : -1; }
  size_t position() const { return pos_; }
  [[noreturn]] void Fail(const std::string& what) const;

 private:
  // The next item's header: major type and argument (for major 7: the additional information in
  // `info`, the argument read for floats). Throws at the end of the input, on tags, indefinite
  // lengths and reserved values.
  struct Header {
    uint8_t major;
    uint8_t info;
    uint64_t arg;
  };
  Header Next(const char* what);
  // A string of major type `major` (2: bytes, 3: text), in place.
  std::string_view String(const char* what, uint8_t major);
  void SkipValue(int depth);

  std::string_view in_;
  size_t pos_ = 0;
};

// Keys are a few bytes long: comparing them inline beats a call of memcmp per key.
inline bool SameKey(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// Reads a map whose members the caller knows by `names`, sorted as nlohmann::json writes them:
// `read(i)` reads the value of member names[i]; members of other names are skipped. A name that
// repeats, or is missing and not in `optional` (a bit per name), throws naming it. `what` names
// the map in errors. Returns the bits of the names read.
template <size_t N, class Read>
uint32_t ReadMembers(CborStream& in, const char* what, const std::array<std::string_view, N>& names,
                     Read&& read, uint32_t optional = 0) {
  static_assert(N <= 32);
  const uint64_t count = in.Map(what);
  uint32_t seen = 0;
  size_t hint = 0;  // members come in `names` order: the next one is usually names[hint]
  for (uint64_t m = 0; m < count; ++m) {
    const std::string_view key = in.Text("an object key");
    size_t i = hint < N && SameKey(names[hint], key) ? hint : N;
    for (size_t k = 0; i == N && k < N; ++k) {
      if (SameKey(names[k], key)) i = k;
    }
    if (i == N) {
      in.Skip();
      continue;
    }
    if (seen & (uint32_t{1} << i)) in.Fail(std::string("field '") + std::string(key) + "' repeats");
    seen |= uint32_t{1} << i;
    hint = i + 1;
    read(i);
  }
  for (size_t i = 0; i < N; ++i) {
    if (!((seen | optional) & (uint32_t{1} << i))) {
      throw PlanError(std::string(what) + ": missing field '" + std::string(names[i]) + "'");
    }
  }
  return seen;
}

// Typed values of the plan sections, each throwing PlanError naming `what`: a dtype (an integer
// naming a known DataType), a shape (at most rank 16, dimensions in [0, 2^40], an element count
// that fits), a list of strings.
DataType ReadDType(CborStream& in, const char* what);
Shape ReadShape(CborStream& in, const char* what);
std::vector<std::string> ReadStrings(CborStream& in, const char* what);

// The plan section (SerializePlan's CBOR), read and checked: every index, offset and count is
// in range; throws PlanError otherwise.
Plan ReadPlanSection(std::string_view bytes);
// The refit map section (SerializeRefitMap's CBOR) into `plan`, read by ReadPlanSection: source
// prototypes, the architecture signature, and a recipe per refittable slot, each parsed and shown
// to read only sources with a prototype and to produce its slot's type; throws PlanError otherwise.
void ReadRefitMapSection(std::string_view bytes, Plan* plan);

}  // namespace refit::engine::internal
