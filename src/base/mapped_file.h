// MappedFile: a read-only memory mapping of a whole file, unmapped on destruction.
//
// The mapping is PROT_READ and MAP_PRIVATE: writing through data() faults. The bytes stay valid
// while the object lives; if another process truncates the file meanwhile, reads past the new end
// raise SIGBUS (the operating system offers no cheap way to guard against that). An empty file maps
// to size() == 0 and data() == nullptr. Immutable after Open, so concurrent reads are safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "refit/status.h"

namespace refit {

class MappedFile {
 public:
  MappedFile() = default;
  // NotFound when the file does not exist; IoError naming the path for any other failure (a
  // directory, permissions, mmap refusal).
  static StatusOr<MappedFile> Open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view bytes() const { return {data_, size_}; }

 private:
  void Reset();

  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace refit
