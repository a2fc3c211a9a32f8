// Writing safetensors files in the layout Python's safetensors produces.
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "base/file_util.h"
#include "refit/safetensors.h"

namespace refit {

StatusOr<std::string> SerializeSafetensors(const std::vector<NamedTensorView>& tensors,
                                           const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps the caller's tensor order, which is also the order of the data.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string_view> seen;
  uint64_t offset = 0;
  for (const NamedTensorView& t : tensors) {
    const std::string where = "tensor '" + t.name + "'";
    if (t.name.empty()) return InvalidArgument("safetensors tensor names must be non-empty");
    if (t.name == "__metadata__") return InvalidArgument(where + ": name is reserved");
    if (!seen.insert(t.name).second) return InvalidArgument(where + ": duplicate name");
    if (t.view.dtype() == DataType::kUndefined) return InvalidArgument(where + ": undefined dtype");
    StatusOr<int64_t> numel = CheckedNumElements(t.view.shape().dims());
    if (!numel.ok()) return numel.status().WithContext(where);
    const uint64_t nbytes = uint64_t(*numel) * DataTypeSize(t.view.dtype());
    if (nbytes > 0 && t.view.data() == nullptr) return InvalidArgument(where + ": null data");
    header[t.name] = {
        {"dtype", DataTypeSafetensorsName(t.view.dtype())},
        {"shape", t.view.shape().dims()},
        {"data_offsets", nlohmann::ordered_json::array({offset, offset + nbytes})},
    };
    offset += nbytes;
  }

  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const nlohmann::ordered_json::exception& e) {
    return InvalidArgument(std::string("cannot encode the safetensors header: ") + e.what());
  }
  // Padding to 8 bytes puts the data section at an 8-aligned file offset, so every tensor of a
  // well-ordered file can be used in place from an mmap.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + header_text.size() + offset);
  const uint64_t header_len = header_text.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((header_len >> (8 * i)) & 0xff));
  out += header_text;
  for (const NamedTensorView& t : tensors) {
    const size_t nbytes = t.view.nbytes();
    if (nbytes == 0) continue;
    const char* src = static_cast<const char*>(t.view.data());
    if (t.view.dtype() == DataType::kBool) {
      // The format stores one byte per bool, 0 or 1, whatever the source bytes held.
      for (size_t i = 0; i < nbytes; ++i) out.push_back(src[i] != 0 ? 1 : 0);
    } else {
      out.append(src, nbytes);
    }
  }
  return out;
}

Status WriteSafetensors(const std::string& path, const std::vector<NamedTensorView>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  StatusOr<std::string> bytes = SerializeSafetensors(tensors, metadata);
  if (!bytes.ok()) return bytes.status().WithContext(path);
  return WriteFileAtomically(path, *bytes);
}

}  // namespace refit
