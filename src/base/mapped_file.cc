#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace refit {
namespace {

Status OsError(const std::string& what, const std::string& path, int err) {
  std::string message = "cannot " + what + " '" + path + "': " + std::strerror(err);
  return err == ENOENT ? NotFound(std::move(message)) : IoError(std::move(message));
}

}  // namespace

StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return OsError("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return OsError("stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return IoError("cannot map '" + path + "': not a regular file");
  }
  MappedFile file;
  file.size_ = size_t(st.st_size);
  if (file.size_ > 0 && file.size_ < kReadBelow) {
    const size_t capacity = (file.size_ + 4095) / 4096 * 4096;
    char* buffer = static_cast<char*>(std::aligned_alloc(4096, capacity));
    if (buffer == nullptr) {
      ::close(fd);
      return IoError("cannot read '" + path + "': out of memory");
    }
    size_t done = 0;
    while (done < file.size_) {
      const ssize_t n = ::read(fd, buffer + done, file.size_ - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : EIO;  // 0: the file shrank under us
        std::free(buffer);
        ::close(fd);
        return OsError("read", path, err);
      }
      done += size_t(n);
    }
    file.data_ = buffer;
    file.read_ = true;
  } else if (file.size_ > 0) {
    void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      file.size_ = 0;
      return OsError("mmap", path, err);
    }
    file.data_ = static_cast<const char*>(p);
  }
  // The mapping keeps its own reference to the file; the descriptor is no longer needed.
  ::close(fd);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      read_(std::exchange(other.read_, false)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    read_ = std::exchange(other.read_, false);
  }
  return *this;
}

MappedFile::~MappedFile() { Reset(); }

void MappedFile::Reset() {
  if (data_ != nullptr && read_) std::free(const_cast<char*>(data_));
  if (data_ != nullptr && !read_) ::munmap(const_cast<char*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
  read_ = false;
}

}  // namespace refit
