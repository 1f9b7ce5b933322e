// Reading a whole file that anyone may have put there (graphs, manifests, .npy inputs,
// tuning records, cache entries): regular files only, opened without blocking (a FIFO is
// refused, not waited on), bounded in size before a byte is read, read to the end the
// fstat reported (a file that grows meanwhile is cut there, so /dev/zero-like files end).
#ifndef TILEFUSE_RUNTIME_GRAPH_READ_FILE_H_
#define TILEFUSE_RUNTIME_GRAPH_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tilefuse::internal {

// Closes a file descriptor when it goes out of scope (-1: holds none).
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ScopedFd(ScopedFd&& o) noexcept : fd_(o.release()) {}
  ScopedFd& operator=(ScopedFd&& o) noexcept;
  ~ScopedFd();
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

struct ReadFileOptions {
  size_t max_bytes = size_t{1} << 30;
  bool follow_links = true;  // false: a symbolic link is refused (O_NOFOLLOW)
};

// The file's bytes. kNotFound when it does not exist; kInvalidArgument when it is not a
// regular file or holds more than max_bytes; the message names `what` and the path.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, absl::string_view what,
                                            ReadFileOptions options = {});
// The same for `name` in the folder open as `dir_fd` (openat; AT_FDCWD: the working folder).
absl::StatusOr<std::string> ReadRegularFileAt(int dir_fd, const std::string& name, absl::string_view what,
                                              ReadFileOptions options = {});
// The same with max_bytes only.
absl::StatusOr<std::string> ReadTextFile(const std::string& path, size_t max_bytes, absl::string_view what);

// Writes all of `data` to `fd`, retrying short writes; false on an error (errno says which).
bool WriteAll(int fd, absl::string_view data);

// A folder only this user may write: created 0700 (with its parents) when missing; an
// existing one must be a folder (a link to one is followed only when follow_links), owned by
// the effective user, and not writable by group or others. Else kPermissionDenied saying
// which of these failed. On success, the folder open (O_DIRECTORY).
absl::StatusOr<ScopedFd> OpenPrivateDir(const std::string& path, bool follow_links, absl::string_view what);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_READ_FILE_H_
