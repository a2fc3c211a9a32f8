#include "base/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace refit {
namespace {

Status OsError(const std::string& what, const std::string& path, int err) {
  std::string message = "cannot " + what + " '" + path + "': " + std::strerror(err);
  return err == ENOENT ? NotFound(std::move(message)) : IoError(std::move(message));
}

// Splits "dir/name" into ("dir", "name"); a bare name lives in ".".
void SplitPath(const std::string& path, std::string* dir, std::string* base) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *base = path;
  } else {
    *dir = slash == 0 ? "/" : path.substr(0, slash);
    *base = path.substr(slash + 1);
  }
}

// Opens a new file next to `path` with O_EXCL, so two writers never share a temporary file.
// mkstemp would do, but it creates files with mode 0600 regardless of the umask.
StatusOr<int> CreateTempFile(const std::string& dir, const std::string& base,
                             std::string* temp_path) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t salt =
      uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) & 0xffffffu;
  for (int attempt = 0; attempt < 100; ++attempt) {
    *temp_path = dir + "/." + base + ".tmp." + std::to_string(::getpid()) + "." +
                 std::to_string(salt) + "." + std::to_string(counter.fetch_add(1));
    const int fd = ::open(temp_path->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST) return OsError("create a temporary file in", dir, errno);
  }
  return IoError("cannot find an unused temporary file name in '" + dir + "'");
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return OsError("write", path, errno);
    }
    bytes.remove_prefix(size_t(n));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return OsError("open", path, errno);
  std::string out;
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) out.reserve(size_t(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return OsError("read", path, err);
    }
    out.append(buf, size_t(n));
  }
  ::close(fd);
  return out;
}

Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  return WriteFileAtomically(path, std::vector<std::string_view>{bytes});
}

Status WriteFileAtomically(const std::string& path, const std::vector<std::string_view>& pieces) {
  std::string dir, base;
  SplitPath(path, &dir, &base);
  if (base.empty()) return InvalidArgument("cannot write '" + path + "': not a file name");
  std::string temp_path;
  REFIT_ASSIGN_OR_RETURN(const int fd, CreateTempFile(dir, base, &temp_path));
  Status status = Status::Ok();
  for (size_t i = 0; i < pieces.size() && status.ok(); ++i) {
    status = WriteAll(fd, pieces[i], temp_path);
  }
  if (status.ok() && ::fsync(fd) != 0) status = OsError("fsync", temp_path, errno);
  // close() can report a deferred write error (e.g. on NFS), so it counts as part of the write.
  if (::close(fd) != 0 && status.ok()) status = OsError("close", temp_path, errno);
  if (status.ok() && ::rename(temp_path.c_str(), path.c_str()) != 0) {
    status = OsError("rename a temporary file to", path, errno);
  }
  if (!status.ok()) {
    ::unlink(temp_path.c_str());
    return status;
  }
  // Make the rename itself durable. Best effort: some file systems refuse to fsync a directory,
  // and the data is already complete at `path` either way.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
  return Status::Ok();
}

}  // namespace refit
