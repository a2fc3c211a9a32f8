// MappedFile: the read-only bytes of a whole file, a memory mapping unmapped on destruction.
//
// The mapping is PROT_READ and MAP_PRIVATE: writing through data() faults. The bytes stay valid
// while the object lives; if another process truncates the file meanwhile, reads past the new end
// raise SIGBUS (the operating system offers no cheap way to guard against that). A file smaller
// than kReadBelow is read into a 4096-aligned buffer instead: for a few pages the mmap call, a page
// fault per page and the TLB flush of the unmap cost more than the read (an engine cache entry of
// a small model is 16 KiB, and a cache hit opens one); its bytes are then a snapshot. An empty
// file gives size() == 0 and data() == nullptr. Immutable after Open, so concurrent reads are safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "refit/status.h"

namespace refit {

class MappedFile {
 public:
  static constexpr size_t kReadBelow = size_t{64} << 10;

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
  bool read_ = false;  // data_ is a heap buffer (a small file, read), not a mapping
};

}  // namespace refit
