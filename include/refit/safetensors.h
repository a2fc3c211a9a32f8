// safetensors reading (mmapped, zero-copy) and writing.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the raw C-order little-endian tensor bytes. Offsets are relative to the end of the header.
//
// Open() validates the whole header before sizing anything from it: the header length lies within
// the file, the JSON parses, every dtype is known, every shape × dtype size equals its byte range,
// ranges are in bounds, sorted, contiguous and non-overlapping, and cover the data section exactly.
// Also refused: headers above 100 MB, repeated JSON keys (a parser keeping one of them would hide a
// data range), and BOOL bytes other than 0 or 1. Header lies are kDataLoss, dtypes refit cannot
// carry (F8_E4M3, U16, ...) kUnimplemented. Errors name the file and the tensor. A SafetensorsFile
// is immutable and safe to read from several threads; views it hands out stay valid while the file
// object (or a Tensor wrapping it) lives.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "refit/status.h"
#include "refit/tensor.h"

namespace refit {

class SafetensorsFile {
 public:
  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Parses an in-memory image (copied); `label` names it in errors.
  static StatusOr<std::unique_ptr<SafetensorsFile>> FromBytes(std::string bytes,
                                                              const std::string& label);
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  // Tensor names in the order of their data offsets.
  const std::vector<std::string>& names() const { return names_; }
  bool Has(const std::string& name) const { return entries_.count(name) != 0; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A borrowed view into the mapping; NotFound naming the tensor and the file when absent.
  StatusOr<TensorView> Get(const std::string& name) const;
  // A Tensor sharing the mapping (zero-copy, keeps it alive) when the bytes are aligned to the
  // element size; otherwise an aligned copy. A shared tensor is aligned to its element size only,
  // not to kTensorAlignment, and its memory is read-only: writing through mutable_data() faults for
  // an opened file (and would alter the image of a FromBytes one). Clone() it to modify.
  StatusOr<Tensor> GetTensor(const std::string& name) const;

 private:
  struct Entry {
    DataType dtype;
    Shape shape;
    size_t begin;  // offset into the data section
    size_t end;
  };
  struct Mapping;
  SafetensorsFile() = default;
  Status Parse();

  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  const char* data_ = nullptr;  // start of the data section
  std::vector<std::string> names_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

struct NamedTensorView {
  std::string name;
  TensorView view;
};

// Serialises tensors (in the given order) to the safetensors format; the header is padded with
// spaces to a multiple of 8 bytes, as Python's safetensors does. Names must be unique and
// non-empty.
StatusOr<std::string> SerializeSafetensors(const std::vector<NamedTensorView>& tensors,
                                           const std::map<std::string, std::string>& metadata = {});
// Writes atomically: a temporary file in the same directory, then rename. On error nothing is
// left at `path`.
Status WriteSafetensors(const std::string& path, const std::vector<NamedTensorView>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace refit
