#include "runtime/graph/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tilefuse::internal {

ScopedFd& ScopedFd::operator=(ScopedFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path, absl::string_view what,
                                            ReadFileOptions options) {
  return ReadRegularFileAt(AT_FDCWD, path, what, options);
}

absl::StatusOr<std::string> ReadRegularFileAt(int dir_fd, const std::string& path, absl::string_view what,
                                              ReadFileOptions options) {
  const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (options.follow_links ? 0 : O_NOFOLLOW);
  const int fd = ::openat(dir_fd, path.c_str(), flags);
  if (fd < 0) {
    const int err = errno;
    const std::string message = absl::StrCat("cannot open ", what, " '", path, "': ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == ELOOP) return absl::InvalidArgumentError(absl::StrCat(what, " '", path, "' is a symbolic link"));
    return absl::PermissionDeniedError(message);
  }
  const ScopedFd closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot stat ", what, " '", path, "': ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", path, "' is not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > options.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", path, "' holds ", st.st_size, " bytes (at most ",
                                                   options.max_bytes, ")"));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat("cannot read ", what, " '", path, "': ", std::strerror(errno)));
    }
    if (n == 0) break;  // shrank meanwhile
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path, size_t max_bytes, absl::string_view what) {
  ReadFileOptions o;
  o.max_bytes = max_bytes;
  return ReadRegularFile(path, what, o);
}

bool WriteAll(int fd, absl::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

absl::StatusOr<ScopedFd> OpenPrivateDir(const std::string& path, bool follow_links, absl::string_view what) {
  std::error_code ec;
  const std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", what, " ", path, ": ", std::strerror(errno)));
  }
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow_links ? 0 : O_NOFOLLOW)));
  if (fd.get() < 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot open ", what, " ", path, ": ", std::strerror(errno),
                                                    follow_links ? "" : " (a symbolic link is refused)"));
  }
  struct stat st;
  std::string why;
  if (::fstat(fd.get(), &st) != 0) {
    why = std::strerror(errno);
  } else if (!S_ISDIR(st.st_mode)) {
    why = "not a folder";
  } else if (st.st_uid != ::geteuid()) {
    why = absl::StrCat("owned by uid ", st.st_uid, ", not by this user (uid ", ::geteuid(), ")");
  } else if ((st.st_mode & 022) != 0) {
    why = absl::StrFormat("writable by group or others (mode %03o)", st.st_mode & 0777);
  }
  if (!why.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(what, " ", path, " is not private to this user: ", why));
  }
  return fd;
}

}  // namespace tilefuse::internal
