// Internal to engine: a read-only document for the JSON text sections (the tactics section).
//
// nlohmann::json builds a tree of std::map nodes and std::string copies. A Document instead decodes
// JSON text (RFC 8259) into one flat vector of items whose strings point into the input bytes; a
// DocValue is a cheap handle with the read accessors the section parsers need. The writers stay on
// nlohmann::json. The CBOR sections (plan, refit map) are streamed instead (plan_cbor.h).
//
// Every malformed input (truncated, wrong types, nesting deeper than 64, trailing bytes) is a
// Status naming what is wrong; nothing is read out of bounds. The input must outlive the Document
// and its values.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "refit/status.h"

namespace refit::engine::internal {

class Document;

class DocValue {
 public:
  enum class Kind : uint8_t { kNull, kBool, kInt, kUint, kFloat, kString, kBytes, kArray, kObject };

  DocValue() = default;

  Kind kind() const;
  bool is_null() const { return kind() == Kind::kNull; }
  bool is_boolean() const { return kind() == Kind::kBool; }
  // An integer of either sign; is_number_unsigned: a non-negative integer (as nlohmann reads one).
  bool is_number_integer() const { return kind() == Kind::kInt || kind() == Kind::kUint; }
  bool is_number_unsigned() const { return kind() == Kind::kUint; }
  bool is_number() const { return is_number_integer() || kind() == Kind::kFloat; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_binary() const { return kind() == Kind::kBytes; }
  bool is_array() const { return kind() == Kind::kArray; }
  bool is_object() const { return kind() == Kind::kObject; }

  // Element count of an array or object, byte count of a string or byte string; 0 otherwise.
  size_t size() const;

  // The value as that type; callers check the kind first (a wrong kind gives 0, false or "").
  bool as_bool() const;
  int64_t as_int() const;    // an unsigned value above INT64_MAX wraps: check is_number_unsigned
  uint64_t as_uint() const;  // a negative value wraps
  double as_double() const;  // integers convert
  std::string_view as_string() const;  // strings and byte strings

  // Object member `key`; an invalid value (valid() false) when absent or not an object.
  DocValue find(std::string_view key) const;
  // The same, searching from the member `*cursor` names on and wrapping around, and leaving
  // `*cursor` at the member after the one found (0, or what this object's find left there): a
  // reader that asks for the members in the order they were written compares one key per lookup.
  // nlohmann::json writes object keys sorted, so the section parsers read them in sorted order.
  DocValue find(std::string_view key, uint32_t* cursor) const;
  bool contains(std::string_view key) const { return find(key).valid(); }
  bool valid() const { return doc_ != nullptr; }

  // Array elements, or object members (key(), then the value) in file order.
  class Iterator {
   public:
    DocValue operator*() const { return DocValue(doc_, index_ + (object_ ? 1 : 0)); }
    std::string_view key() const;  // objects only
    Iterator& operator++();
    bool operator!=(const Iterator& o) const { return index_ != o.index_; }

   private:
    friend class DocValue;
    Iterator(const Document* doc, uint32_t index, bool object)
        : doc_(doc), index_(index), object_(object) {}
    const Document* doc_;
    uint32_t index_;
    bool object_;
  };
  Iterator begin() const;
  Iterator end() const;

 private:
  friend class Document;
  DocValue(const Document* doc, uint32_t index) : doc_(doc), index_(index) {}
  const Document* doc_ = nullptr;
  uint32_t index_ = 0;
};

class Document {
 public:
  static StatusOr<Document> FromJson(std::string_view text);

  Document(Document&&) = default;
  Document& operator=(Document&&) = default;

  DocValue root() const { return DocValue(this, 0); }

 private:
  friend class DocValue;
  friend class JsonReader;
  Document() = default;

  struct Item {
    DocValue::Kind kind = DocValue::Kind::kNull;
    uint32_t next = 0;  // index of the item after this one's subtree
    uint64_t size = 0;  // elements (arrays), members (objects), bytes (strings)
    union {
      int64_t i;
      uint64_t u;
      double d;
      const char* s;  // strings: into the input or into `decoded_`
    };
    Item() : i(0) {}
  };
  std::vector<Item> items_;
  std::deque<std::string> decoded_;  // JSON strings with escapes, decoded (stable addresses)
};

inline DocValue::Kind DocValue::kind() const {
  return doc_ != nullptr ? doc_->items_[index_].kind : Kind::kNull;
}

}  // namespace refit::engine::internal
