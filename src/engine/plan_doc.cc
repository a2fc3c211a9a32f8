#include "engine/plan_doc.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace refit::engine::internal {

using Kind = DocValue::Kind;

namespace {
constexpr int kMaxDepth = 64;
// No document item is smaller than one input byte, so this bounds the item count of any input
// without trusting a length field.
constexpr uint64_t kMaxItems = uint64_t{1} << 31;
}  // namespace

// ---- DocValue ----

size_t DocValue::size() const {
  if (!doc_) return 0;
  const Document::Item& it = doc_->items_[index_];
  switch (it.kind) {
    case Kind::kArray:
    case Kind::kObject:
    case Kind::kString:
    case Kind::kBytes:
      return size_t(it.size);
    default:
      return 0;
  }
}

bool DocValue::as_bool() const { return kind() == Kind::kBool && doc_->items_[index_].u != 0; }

int64_t DocValue::as_int() const { return is_number_integer() ? doc_->items_[index_].i : 0; }

uint64_t DocValue::as_uint() const { return is_number_integer() ? doc_->items_[index_].u : 0; }

double DocValue::as_double() const {
  switch (kind()) {
    case Kind::kInt:
      return double(doc_->items_[index_].i);
    case Kind::kUint:
      return double(doc_->items_[index_].u);
    case Kind::kFloat:
      return doc_->items_[index_].d;
    default:
      return 0.0;
  }
}

std::string_view DocValue::as_string() const {
  if (kind() != Kind::kString && kind() != Kind::kBytes) return {};
  const Document::Item& it = doc_->items_[index_];
  return std::string_view(it.s, size_t(it.size));
}

DocValue DocValue::find(std::string_view key) const {
  uint32_t cursor = 0;
  return find(key, &cursor);
}

DocValue DocValue::find(std::string_view key, uint32_t* cursor) const {
  if (doc_ == nullptr) return DocValue();
  const std::vector<Document::Item>& items = doc_->items_;
  const Document::Item& object = items[index_];
  if (object.kind != Kind::kObject) return DocValue();
  // Members are a key item, then the value's subtree (which ends at its `next`). Keys are short
  // and often of equal length ("dtype", "shape", "input"): the first byte settles most
  // comparisons without a memcmp call.
  const auto matches = [&](const Document::Item& name) {
    return name.size == key.size() && (key.empty() || name.s[0] == key[0]) &&
           std::memcmp(name.s, key.data(), key.size()) == 0;
  };
  const uint32_t first = index_ + 1;
  const uint32_t start = *cursor > index_ && *cursor < object.next ? *cursor : first;
  for (uint32_t k = start; k < object.next; k = items[k + 1].next) {
    if (matches(items[k])) {
      *cursor = items[k + 1].next;
      return DocValue(doc_, k + 1);
    }
  }
  for (uint32_t k = first; k < start; k = items[k + 1].next) {
    if (matches(items[k])) {
      *cursor = items[k + 1].next;
      return DocValue(doc_, k + 1);
    }
  }
  return DocValue();
}

std::string_view DocValue::Iterator::key() const {
  const Document::Item& k = doc_->items_[index_];
  return std::string_view(k.s, size_t(k.size));
}

DocValue::Iterator& DocValue::Iterator::operator++() {
  // Object members are a key item then the value's subtree.
  const uint32_t value = object_ ? index_ + 1 : index_;
  index_ = doc_->items_[value].next;
  return *this;
}

DocValue::Iterator DocValue::begin() const {
  if (!is_array() && !is_object()) return end();
  return Iterator(doc_, index_ + 1, is_object());
}

DocValue::Iterator DocValue::end() const {
  return Iterator(doc_, doc_ ? doc_->items_[index_].next : 0, is_object());
}

// ---- JSON text ----

class JsonReader {
 public:
  JsonReader(std::string_view in, Document* doc) : in_(in), doc_(doc) {}

  Status Read() {
    REFIT_RETURN_IF_ERROR(Value(0));
    SkipSpace();
    if (pos_ != in_.size()) return Bad("trailing characters after the document");
    return Status::Ok();
  }

 private:
  Status Bad(const std::string& what) const {
    return DataLoss("JSON at byte " + std::to_string(pos_) + ": " + what);
  }

  void SkipSpace() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\r' || in_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool Literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += char(cp);
    } else if (cp < 0x800) {
      *out += char(0xc0 | (cp >> 6));
      *out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      *out += char(0xe0 | (cp >> 12));
      *out += char(0x80 | ((cp >> 6) & 0x3f));
      *out += char(0x80 | (cp & 0x3f));
    } else {
      *out += char(0xf0 | (cp >> 18));
      *out += char(0x80 | ((cp >> 12) & 0x3f));
      *out += char(0x80 | ((cp >> 6) & 0x3f));
      *out += char(0x80 | (cp & 0x3f));
    }
  }

  Status Hex4(uint32_t* v) {
    if (in_.size() - pos_ < 4) return Bad("truncated \\u escape");
    uint32_t x = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = in_[pos_++];
      x <<= 4;
      if (c >= '0' && c <= '9') {
        x |= uint32_t(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        x |= uint32_t(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        x |= uint32_t(c - 'A' + 10);
      } else {
        return Bad("bad \\u escape");
      }
    }
    *v = x;
    return Status::Ok();
  }

  // At the opening quote. Strings without escapes point into the input.
  Status String(Document::Item* item) {
    ++pos_;
    const size_t start = pos_;
    while (pos_ < in_.size() && in_[pos_] != '"' && in_[pos_] != '\\') {
      if (uint8_t(in_[pos_]) < 0x20) return Bad("control character in a string");
      ++pos_;
    }
    if (pos_ >= in_.size()) return Bad("unterminated string");
    item->kind = Kind::kString;
    if (in_[pos_] == '"') {
      item->s = in_.data() + start;
      item->size = pos_ - start;
      ++pos_;
      return Status::Ok();
    }
    std::string out(in_.substr(start, pos_ - start));
    while (true) {
      if (pos_ >= in_.size()) return Bad("unterminated string");
      const char c = in_[pos_++];
      if (c == '"') break;
      if (uint8_t(c) < 0x20) return Bad("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= in_.size()) return Bad("unterminated string");
      const char e = in_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          REFIT_RETURN_IF_ERROR(Hex4(&cp));
          if (cp >= 0xd800 && cp < 0xdc00) {
            uint32_t low = 0;
            if (!Literal("\\u")) return Bad("unpaired surrogate");
            REFIT_RETURN_IF_ERROR(Hex4(&low));
            if (low < 0xdc00 || low >= 0xe000) return Bad("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return Bad("unpaired surrogate");
          }
          AppendUtf8(cp, &out);
          break;
        }
        default:
          return Bad("bad escape");
      }
    }
    doc_->decoded_.push_back(std::move(out));
    item->s = doc_->decoded_.back().data();
    item->size = doc_->decoded_.back().size();
    return Status::Ok();
  }

  Status Number(Document::Item* item) {
    const size_t start = pos_;
    if (pos_ < in_.size() && in_[pos_] == '-') ++pos_;
    const size_t digits = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    if (pos_ == digits) return Bad("expected a value");
    if (in_[digits] == '0' && pos_ - digits > 1) return Bad("leading zero in a number");
    bool integer = true;
    if (pos_ < in_.size() && in_[pos_] == '.') {
      integer = false;
      const size_t frac = ++pos_;
      while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
      if (pos_ == frac) return Bad("digits expected after '.'");
    }
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      integer = false;
      ++pos_;
      if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
      const size_t exp = pos_;
      while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
      if (pos_ == exp) return Bad("digits expected in an exponent");
    }
    const char* first = in_.data() + start;
    const char* last = in_.data() + pos_;
    if (integer) {
      // As nlohmann: non-negative integers are unsigned; out of 64-bit range they become floats.
      if (*first != '-') {
        auto [p, ec] = std::from_chars(first, last, item->u);
        if (ec == std::errc() && p == last) {
          item->kind = Kind::kUint;
          return Status::Ok();
        }
      } else {
        auto [p, ec] = std::from_chars(first, last, item->i);
        if (ec == std::errc() && p == last) {
          item->kind = Kind::kInt;
          return Status::Ok();
        }
      }
    }
    auto [p, ec] = std::from_chars(first, last, item->d);
    if (ec != std::errc() || p != last) return Bad("number out of range");
    item->kind = Kind::kFloat;
    return Status::Ok();
  }

  Status Value(int depth) {
    if (depth > kMaxDepth) return Bad("nested deeper than 64");
    if (doc_->items_.size() >= kMaxItems) return Bad("too many items");
    SkipSpace();
    if (pos_ >= in_.size()) return Bad("truncated");
    const uint32_t index = uint32_t(doc_->items_.size());
    doc_->items_.emplace_back();
    Document::Item item;
    const char c = in_[pos_];
    if (c == '{' || c == '[') {
      const bool object = c == '{';
      const char close = object ? '}' : ']';
      item.kind = object ? Kind::kObject : Kind::kArray;
      ++pos_;
      SkipSpace();
      if (pos_ < in_.size() && in_[pos_] == close) {
        ++pos_;
      } else {
        while (true) {
          if (object) {
            SkipSpace();
            if (pos_ >= in_.size() || in_[pos_] != '"') return Bad("expected an object key");
            Document::Item key;
            const uint32_t key_index = uint32_t(doc_->items_.size());
            doc_->items_.emplace_back();
            REFIT_RETURN_IF_ERROR(String(&key));
            key.next = key_index + 1;
            doc_->items_[key_index] = key;
            SkipSpace();
            if (pos_ >= in_.size() || in_[pos_] != ':') return Bad("expected ':'");
            ++pos_;
          }
          REFIT_RETURN_IF_ERROR(Value(depth + 1));
          ++item.size;
          SkipSpace();
          if (pos_ >= in_.size()) return Bad("truncated");
          if (in_[pos_] == ',') {
            ++pos_;
            continue;
          }
          if (in_[pos_] == close) {
            ++pos_;
            break;
          }
          return Bad(std::string("expected ',' or '") + close + "'");
        }
      }
    } else if (c == '"') {
      REFIT_RETURN_IF_ERROR(String(&item));
    } else if (Literal("true") || Literal("false")) {
      item.kind = Kind::kBool;
      item.u = in_[pos_ - 1] == 'e' && in_[pos_ - 2] == 'u';
    } else if (Literal("null")) {
      item.kind = Kind::kNull;
    } else {
      REFIT_RETURN_IF_ERROR(Number(&item));
    }
    item.next = uint32_t(doc_->items_.size());
    doc_->items_[index] = item;
    return Status::Ok();
  }

  std::string_view in_;
  size_t pos_ = 0;
  Document* doc_;
};

StatusOr<Document> Document::FromJson(std::string_view text) {
  Document doc;
  doc.items_.reserve(text.size() / 8 + 1);
  REFIT_RETURN_IF_ERROR(JsonReader(text, &doc).Read());
  return doc;
}

}  // namespace refit::engine::internal
