#include "engine/plan_cbor.h"

#include <cmath>
#include <cstring>

namespace refit::engine::internal {
namespace {
constexpr int kMaxDepth = 64;

double HalfToDouble(uint16_t h) {
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(double(mant), -24);
  } else if (exp != 31) {
    v = std::ldexp(double(mant + 1024), exp - 25);
  } else {
    v = mant == 0 ? INFINITY : NAN;
  }
  return (h & 0x8000) ? -v : v;
}
}  // namespace

void CborStream::Fail(const std::string& what) const {
  throw PlanError("CBOR at byte " + std::to_string(pos_) + ": " + what);
}

CborStream::Header CborStream::Next(const char* what) {
  if (pos_ >= in_.size()) Fail(std::string("truncated before ") + what);
  const uint8_t initial = uint8_t(in_[pos_++]);
  Header h{uint8_t(initial >> 5), uint8_t(initial & 0x1f), 0};
  if (h.major == 6) Fail(std::string(what) + ": tags are not supported");
  if (h.info < 24) {
    h.arg = h.major == 7 ? 0 : h.info;
    return h;
  }
  if (h.info > 27) Fail(std::string(what) + ": an indefinite or reserved length");
  const size_t bytes = size_t{1} << (h.info - 24);
  if (in_.size() - pos_ < bytes) Fail(std::string("truncated in ") + what);
  uint64_t x = 0;
  for (size_t i = 0; i < bytes; ++i) x = (x << 8) | uint8_t(in_[pos_++]);
  h.arg = x;
  return h;
}

uint64_t CborStream::Map(const char* what) {
  const Header h = Next(what);
  if (h.major != 5) Fail(std::string(what) + " is not an object");
  // Each member takes at least two bytes: a count beyond the rest is a lie.
  if (h.arg > (in_.size() - pos_) / 2) Fail(std::string(what) + ": member count beyond the input");
  return h.arg;
}

uint64_t CborStream::Array(const char* what, uint64_t max_size) {
  const Header h = Next(what);
  if (h.major != 4) Fail(std::string("field '") + what + "' is not an array");
  if (h.arg > in_.size() - pos_) Fail(std::string(what) + ": element count beyond the input");
  if (h.arg > max_size) Fail(std::string("field '") + what + "' is too long");
  return h.arg;
}

std::string_view CborStream::String(const char* what, uint8_t major) {
  const Header h = Next(what);
  const bool text = major == 3;
  if (h.major != major)
    Fail(std::string("field '") + what + "' is not " + (text ? "a string" : "binary"));
  if (h.arg > in_.size() - pos_) {
    Fail(std::string("truncated ") + (text ? "string" : "bytes") + " in " + what);
  }
  const std::string_view s = in_.substr(pos_, size_t(h.arg));
  pos_ += size_t(h.arg);
  return s;
}

std::string_view CborStream::Text(const char* what) { return String(what, 3); }

std::string_view CborStream::Bytes(const char* what) { return String(what, 2); }

int64_t CborStream::Int(const char* what, int64_t lo, int64_t hi) {
  const Header h = Next(what);
  int64_t x;
  if (h.major == 0 && h.arg <= uint64_t(INT64_MAX)) {
    x = int64_t(h.arg);
  } else if (h.major == 1 && h.arg <= uint64_t(INT64_MAX)) {
    x = -1 - int64_t(h.arg);
  } else if (h.major == 0 || h.major == 1) {
    Fail(std::string("field '") + what + "' out of range");
  } else {
    Fail(std::string("field '") + what + "' is not an integer");
  }
  if (x < lo || x > hi) {
    Fail(std::string("field '") + what + "' = " + std::to_string(x) + " outside [" +
         std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return x;
}

uint64_t CborStream::Uint(const char* what, uint64_t max) {
  const Header h = Next(what);
  if (h.major != 0) Fail(std::string("field '") + what + "' is not an unsigned integer");
  if (h.arg > max) Fail(std::string("field '") + what + "' out of range");
  return h.arg;
}

bool CborStream::Bool(const char* what) {
  const Header h = Next(what);
  if (h.major != 7 || (h.info != 20 && h.info != 21)) {
    Fail(std::string("field '") + what + "' is not a boolean");
  }
  return h.info == 21;
}

double CborStream::Number(const char* what) {
  const Header h = Next(what);
  if (h.major == 0) return double(h.arg);
  if (h.major == 1) return -1.0 - double(h.arg);
  if (h.major == 7) {
    switch (h.info) {
      case 25:
        return HalfToDouble(uint16_t(h.arg));
      case 26: {
        const uint32_t b = uint32_t(h.arg);
        float f;
        std::memcpy(&f, &b, 4);
        return f;
      }
      case 27: {
        double d;
        std::memcpy(&d, &h.arg, 8);
        return d;
      }
      default:
        break;
    }
  }
  Fail(std::string("field '") + what + "' is not a number");
}

void CborStream::Skip() { SkipValue(0); }

std::string_view CborStream::RawValue() {
  const size_t start = pos_;
  SkipValue(0);
  return in_.substr(start, pos_ - start);
}

void CborStream::SkipValue(int depth) {
  if (depth > kMaxDepth) Fail("nested deeper than 64");
  const Header h = Next("a value");
  switch (h.major) {
    case 0:
    case 1:
      return;
    case 7:
      // false, true, null, undefined and the floats: what nlohmann::json writes.
      if (h.info < 20 || h.info == 24) Fail("unsupported simple value");
      return;
    case 2:
    case 3:
      if (h.arg > in_.size() - pos_) Fail("truncated string");
      pos_ += size_t(h.arg);
      return;
    case 4:
    case 5: {
      // Each element takes at least one byte: a count beyond the rest is a lie.
      if (h.arg > in_.size() - pos_) Fail("element count beyond the input");
      const uint64_t children = h.major == 5 ? 2 * h.arg : h.arg;
      for (uint64_t c = 0; c < children; ++c) SkipValue(depth + 1);
      return;
    }
    default:
      Fail("tags are not supported");  // Next refused them already
  }
}

void CborStream::ExpectEnd() const {
  if (pos_ != in_.size()) Fail("trailing bytes after the document");
}

DataType ReadDType(CborStream& in, const char* what) {
  const int64_t d = in.Int(what, INT64_MIN, INT64_MAX);
  if (d < int64_t(DataType::kF32) || d > int64_t(DataType::kBool)) {
    throw PlanError(std::string(what) + ": not a known dtype");
  }
  return DataType(d);
}

Shape ReadShape(CborStream& in, const char* what) {
  const uint64_t rank = in.Array(what, 16);
  std::vector<int64_t> dims(rank);
  for (int64_t& d : dims) d = in.Int(what, 0, int64_t{1} << 40);
  if (!CheckedNumElements(dims).ok()) throw PlanError(std::string(what) + ": too many elements");
  return Shape(std::move(dims));
}

std::vector<std::string> ReadStrings(CborStream& in, const char* what) {
  std::vector<std::string> out(in.Array(what, kMaxPlanItems));
  for (std::string& s : out) s = in.Text(what);
  return out;
}

}  // namespace refit::engine::internal
