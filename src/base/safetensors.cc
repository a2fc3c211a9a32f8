// Reading safetensors files. The header comes from an untrusted file, so every number in it is
// checked against the file's real size before it is used to index or size anything.
#include "refit/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "base/mapped_file.h"

namespace refit {

using json = nlohmann::json;

// Python's safetensors refuses headers above 100 MB; so do we, before parsing anything.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct SafetensorsFile::Mapping {
  MappedFile file;    // set by Open
  std::string bytes;  // set by FromBytes
  std::string_view image;
};

namespace {

struct ParsedEntry {
  DataType dtype;
  Shape shape;
  uint64_t begin;
  uint64_t end;
};

// Built piecewise: `"'" + std::string(s) + "'"` trips a false -Wrestrict in GCC 12.
std::string Quote(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q += '\'';
  q += s;
  q += '\'';
  return q;
}

// A JSON integer in [0, 2^63); nullopt for anything else (negatives, floats, strings, huge).
std::optional<uint64_t> NonNegativeInt(const json& j) {
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (v <= uint64_t(INT64_MAX)) return v;
  } else if (j.is_number_integer()) {
    const int64_t v = j.get<int64_t>();
    if (v >= 0) return uint64_t(v);
  }
  return std::nullopt;
}

// nlohmann keeps only the last of repeated keys, which would let a file hide a second data range
// from validation; this parser callback sees every key, so repeats can be refused.
class DuplicateKeyFinder {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys_.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys_.empty()) keys_.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (keys_.size() == 1) tensor_ = key;
        if (!keys_.empty() && !keys_.back().insert(key).second && error_.empty()) {
          error_ = keys_.size() == 1 ? "duplicate tensor name " + Quote(key)
                                     : "tensor " + Quote(tensor_) + ": duplicate key " + Quote(key);
        }
        break;
      }
      default:
        break;
    }
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  std::vector<std::set<std::string>> keys_;  // one set per open object
  std::string tensor_;                       // the top-level key being parsed
  std::string error_;
};

StatusOr<ParsedEntry> ParseEntry(const std::string& name, const json& value, uint64_t data_size) {
  auto lie = [&](const std::string& what) {
    return DataLoss("tensor " + Quote(name) + ": " + what);
  };
  if (!value.is_object())
    return lie(std::string("entry is a JSON ") + value.type_name() + ", not an object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(field)) return lie(std::string("missing field \"") + field + "\"");
  }
  const json& dtype_json = value["dtype"];
  const json& shape_json = value["shape"];
  const json& offsets_json = value["data_offsets"];
  if (!dtype_json.is_string()) {
    return lie(std::string("dtype is a JSON ") + dtype_json.type_name() + ", not a string");
  }
  const std::string& dtype_name = dtype_json.get_ref<const std::string&>();
  ParsedEntry entry;
  if (std::optional<DataType> dtype = DataTypeFromSafetensorsName(dtype_name)) {
    entry.dtype = *dtype;
  } else {
    return Unimplemented("tensor " + Quote(name) + " has dtype " + Quote(dtype_name) +
                         ", which refit does not support (supported: F32 F16 BF16 F64 I8 U8 I16 "
                         "I32 I64 BOOL)");
  }

  if (!shape_json.is_array()) {
    return lie(std::string("shape is a JSON ") + shape_json.type_name() + ", not an array");
  }
  std::vector<int64_t> dims;
  for (const json& d : shape_json) {
    std::optional<uint64_t> v = NonNegativeInt(d);
    if (!v) {
      const bool negative = d.is_number_integer() && !d.is_number_unsigned();
      return lie("shape " + shape_json.dump() + " has " +
                 (negative ? "negative dimension " : "dimension ") + d.dump() +
                 (negative ? "" : ", not a non-negative 64-bit integer"));
    }
    dims.push_back(int64_t(*v));
  }
  StatusOr<int64_t> numel = CheckedNumElements(dims);
  if (!numel.ok()) return lie(numel.status().message());
  entry.shape = Shape(std::move(dims));

  std::optional<uint64_t> begin, end;
  if (offsets_json.is_array() && offsets_json.size() == 2) {
    begin = NonNegativeInt(offsets_json[0]);
    end = NonNegativeInt(offsets_json[1]);
  }
  if (!begin || !end) {
    return lie("data_offsets " + offsets_json.dump() + " is not a pair of non-negative integers");
  }
  const std::string range =
      "data_offsets [" + std::to_string(*begin) + "," + std::to_string(*end) + "]";
  if (*begin > *end) return lie(range + " begin after end");
  if (*end > data_size) {
    return lie(range + " reach past the data section of " + std::to_string(data_size) + " bytes");
  }
  // numel <= 2^48 and sizes <= 8, so the product cannot overflow.
  const uint64_t needed = uint64_t(*numel) * DataTypeSize(entry.dtype);
  if (needed != *end - *begin) {
    return lie("shape " + entry.shape.ToString() + " of " + dtype_name + " needs " +
               std::to_string(needed) + " bytes but " + range + " hold " +
               std::to_string(*end - *begin));
  }
  entry.begin = *begin;
  entry.end = *end;
  return entry;
}

StatusOr<std::map<std::string, std::string>> ParseMetadata(const json& value) {
  if (!value.is_object()) {
    return DataLoss(std::string("__metadata__ is a JSON ") + value.type_name() +
                    ", not an object of strings");
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) {
      return DataLoss("__metadata__ value of " + Quote(key) + " is a JSON " + v.type_name() +
                      ", not a string");
    }
    out.emplace(key, v.get<std::string>());
  }
  return out;
}

}  // namespace

SafetensorsFile::~SafetensorsFile() = default;

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  auto mapping = std::make_shared<Mapping>();
  REFIT_ASSIGN_OR_RETURN(mapping->file, MappedFile::Open(path));
  mapping->image = mapping->file.bytes();
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->mapping_ = std::move(mapping);
  REFIT_RETURN_IF_ERROR(file->Parse());
  return file;
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromBytes(std::string bytes,
                                                                      const std::string& label) {
  auto mapping = std::make_shared<Mapping>();
  mapping->bytes = std::move(bytes);
  mapping->image = mapping->bytes;
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = label;
  file->mapping_ = std::move(mapping);
  REFIT_RETURN_IF_ERROR(file->Parse());
  return file;
}

Status SafetensorsFile::Parse() {
  const std::string_view image = mapping_->image;
  const Status status = [&]() -> Status {
    if (image.size() < 8) {
      return DataLoss("file is " + std::to_string(image.size()) +
                      " bytes, too short for the 8-byte header length");
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | uint8_t(image[size_t(i)]);
    if (header_len > image.size() - 8) {
      return DataLoss("header length " + std::to_string(header_len) + " exceeds the " +
                      std::to_string(image.size() - 8) + " bytes that follow it");
    }
    if (header_len > kMaxHeaderBytes) {
      return DataLoss("header length " + std::to_string(header_len) + " exceeds the limit of " +
                      std::to_string(kMaxHeaderBytes) + " bytes");
    }
    const std::string_view header = image.substr(8, header_len);
    const uint64_t data_size = image.size() - 8 - header_len;
    data_ = image.data() + 8 + header_len;

    DuplicateKeyFinder finder;
    json root;
    try {
      root = json::parse(header.begin(), header.end(), std::ref(finder));
    } catch (const json::exception& e) {
      return DataLoss(std::string("header is not valid JSON: ") + e.what());
    }
    if (!finder.error().empty()) return DataLoss(finder.error());
    if (!root.is_object()) {
      return DataLoss(std::string("header is a JSON ") + root.type_name() + ", not an object");
    }

    std::vector<std::tuple<uint64_t, uint64_t, std::string>> ranges;
    for (const auto& [name, value] : root.items()) {
      if (name == "__metadata__") {
        REFIT_ASSIGN_OR_RETURN(metadata_, ParseMetadata(value));
        continue;
      }
      REFIT_ASSIGN_OR_RETURN(ParsedEntry e, ParseEntry(name, value, data_size));
      ranges.emplace_back(e.begin, e.end, name);
      entries_.emplace(name, Entry{e.dtype, std::move(e.shape), size_t(e.begin), size_t(e.end)});
    }

    // Sorted by offset, the ranges must tile the data section exactly: an overlap would alias two
    // tensors, a gap or a tail would hide bytes no tensor accounts for.
    std::sort(ranges.begin(), ranges.end());
    uint64_t covered = 0;
    const std::string* previous = nullptr;
    for (const auto& [begin, end, name] : ranges) {
      const std::string here = "tensor " + Quote(name) + " at [" + std::to_string(begin) + "," +
                               std::to_string(end) + "]";
      if (begin < covered) {
        return DataLoss(here + " overlaps tensor " + Quote(*previous) + ", which ends at " +
                        std::to_string(covered));
      }
      if (begin > covered) {
        return DataLoss("gap of " + std::to_string(begin - covered) + " bytes before " + here +
                        (previous ? " (after tensor " + Quote(*previous) + ")" : ""));
      }
      covered = end;
      previous = &name;
      names_.push_back(name);
    }
    if (covered != data_size) {
      return DataLoss("data section has " + std::to_string(data_size) +
                      " bytes but the tensors cover only " + std::to_string(covered) + " (" +
                      std::to_string(data_size - covered) + " trailing bytes)");
    }

    // Any byte other than 0 or 1 read as a C++ bool is undefined behaviour.
    for (const auto& [name, entry] : entries_) {
      if (entry.dtype != DataType::kBool) continue;
      for (size_t i = entry.begin; i < entry.end; ++i) {
        if (uint8_t(data_[i]) > 1) {
          return DataLoss("tensor " + Quote(name) + ": BOOL element " +
                          std::to_string(i - entry.begin) + " has byte value " +
                          std::to_string(uint8_t(data_[i])) + ", not 0 or 1");
        }
      }
    }
    return Status::Ok();
  }();
  return status.WithContext(path_);
}

StatusOr<TensorView> SafetensorsFile::Get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return NotFound("no tensor " + Quote(name) + " in safetensors file " + Quote(path_));
  }
  const Entry& e = it->second;
  return TensorView(e.dtype, e.shape, data_ + e.begin);
}

StatusOr<Tensor> SafetensorsFile::GetTensor(const std::string& name) const {
  REFIT_ASSIGN_OR_RETURN(TensorView view, Get(name));
  const size_t esize = DataTypeSize(view.dtype());
  if (reinterpret_cast<uintptr_t>(view.data()) % esize != 0) return Tensor::CopyOf(view);
  // The mapping is read-only; the Tensor contract makes writes the caller's responsibility.
  return Tensor::Wrap(view.dtype(), view.shape(), const_cast<void*>(view.data()), mapping_);
}

}  // namespace refit
