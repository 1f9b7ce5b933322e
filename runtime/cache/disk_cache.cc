#include "runtime/cache/disk_cache.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/graph/read_file.h"
#include "runtime/graph/stable_hash.h"
#include "runtime/log.h"

namespace tilefuse::internal {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[] = "tilefuse-kernel-cache";
constexpr char kSuffix[] = ".tfk";

std::string SubdirName(uint64_t hash) { return Hex64(hash).substr(0, 2); }
std::string FileName(uint64_t hash, absl::string_view suffix) { return absl::StrCat(Hex64(hash), suffix); }

// The header lines before the checksum, which the checksum covers with the body.
std::string HeaderText(const DiskCacheKey& key, const std::string& entry_name, size_t payload) {
  return absl::StrCat(kMagic, " ", kDiskCacheFormat, "\narch ", key.arch, "\nnvrtc ", key.nvrtc_version,
                      "\noptions ", key.options, "\ntemplate ", Hex64(key.template_hash), "\nentry ",
                      entry_name, "\nsignature_bytes ", key.signature_text.size(), "\npayload_bytes ",
                      payload, "\n");
}

}  // namespace

std::string DefaultDiskCacheDir() {
  if (const char* d = std::getenv("TILEFUSE_CACHE_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] == '/') {
    return absl::StrCat(x, "/tilefuse");
  }
  std::string home;
  if (const char* h = std::getenv("HOME"); h != nullptr) home = h;
  if (home.empty() || home[0] != '/') {
    if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_dir != nullptr) home = pw->pw_dir;
  }
  while (home.size() > 1 && home.back() == '/') home.pop_back();
  if (home.empty() || home[0] != '/' || home == "/") return "";
  return absl::StrCat(home, "/.cache/tilefuse");
}

DiskCache::DiskCache(DiskCacheOptions options) : options_(std::move(options)) {
  dir_ = options_.dir.empty() ? DefaultDiskCacheDir() : options_.dir;
  if (dir_.empty()) {
    Warn("tilefuse: kernel disk cache disabled: no cache folder (set $TILEFUSE_CACHE_DIR, $XDG_CACHE_HOME or $HOME); "
         "compiled kernels stay in memory only");
    return;
  }
  absl::StatusOr<ScopedFd> fd = OpenPrivateDir(dir_, /*follow_links=*/true, "kernel cache folder");
  if (!fd.ok()) {
    Warn(absl::StrCat("tilefuse: kernel disk cache disabled: ", fd.status().message(),
                      "; compiled kernels stay in memory only"));
    return;
  }
  dir_fd_ = *std::move(fd);
  enabled_ = true;
  if (::faccessat(dir_fd_.get(), ".", W_OK | X_OK, AT_EACCESS) != 0) {
    Warn(absl::StrCat("tilefuse: kernel disk cache at ", dir_,
                      " is not writable; compiled kernels stay in memory only"));
    return;
  }
  writable_ = true;
}

absl::StatusOr<ScopedFd> DiskCache::OpenSubdir(uint64_t hash, bool create) {
  const std::string name = SubdirName(hash);
  if (create && ::mkdirat(dir_fd_.get(), name.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create ", dir_, "/", name, ": ", std::strerror(errno)));
  }
  ScopedFd fd(::openat(dir_fd_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(name);
    return absl::PermissionDeniedError(absl::StrCat(dir_, "/", name, " cannot be opened as a folder (",
                                                    std::strerror(err), "; links are refused)"));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || st.st_uid != ::geteuid() || (st.st_mode & 022) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(dir_, "/", name, " is not this user's own folder"));
  }
  return fd;
}

DiskCache::EntryLock DiskCache::Lock(uint64_t signature_hash) {
  if (!writable_) return EntryLock();
  absl::StatusOr<ScopedFd> sub = OpenSubdir(signature_hash, /*create=*/true);
  if (!sub.ok()) return EntryLock();
  // Lock files stay: removing one while another process waits on it would let a third
  // lock a new file of the same name.
  ScopedFd fd(::openat(sub->get(), FileName(signature_hash, ".lock").c_str(),
                       O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) return EntryLock();
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return EntryLock();
  }
  return EntryLock(fd.release());
}

void DiskCache::Warn(const std::string& message) {
  if (options_.warn) {
    options_.warn(message);
  } else {
    constexpr std::string_view kPrefix = "tilefuse: ";  // the logger names the library itself
    std::string_view m = message;
    if (m.substr(0, kPrefix.size()) == kPrefix) m.remove_prefix(kPrefix.size());
    Log(LogLevel::kWarning, m);
  }
}

std::string DiskCache::PathOf(uint64_t signature_hash) const {
  const std::string h = Hex64(signature_hash);
  return absl::StrCat(dir_, "/", h.substr(0, 2), "/", h, kSuffix);
}

DiskCacheStats DiskCache::stats() const {
  return DiskCacheStats{hits_.load(), misses_.load(), rejected_.load(), writes_.load(),
                        write_failures_.load(), evictions_.load()};
}

std::string DiskCache::Serialize(const DiskCacheKey& key, const std::string& entry_name,
                                 const std::string& cubin) {
  const std::string header = HeaderText(key, entry_name, cubin.size());
  const std::string body = absl::StrCat(key.signature_text, cubin);
  const uint64_t sum = StableHash(absl::StrCat(header, body));
  return absl::StrCat(header, "checksum ", Hex64(sum), "\n\n", body);
}

absl::StatusOr<DiskCache::Hit> DiskCache::Parse(const std::string& bytes, const DiskCacheKey& key) {
  const size_t end = bytes.find("\n\n");
  if (end == std::string::npos) return absl::DataLossError("no end of header");
  const std::vector<std::string> lines = absl::StrSplit(bytes.substr(0, end), '\n');
  if (lines.size() != 9) return absl::DataLossError(absl::StrCat("header has ", lines.size(), " lines, expected 9"));
  const auto field = [&](size_t i, absl::string_view name) -> absl::StatusOr<std::string> {
    if (lines[i].rfind(absl::StrCat(name, " "), 0) != 0) {
      return absl::DataLossError(absl::StrCat("header line ", i + 1, " is not '", name, "'"));
    }
    return lines[i].substr(name.size() + 1);
  };
  const auto expect = [&](size_t i, absl::string_view name, const std::string& want) -> absl::Status {
    absl::StatusOr<std::string> v = field(i, name);
    if (!v.ok()) return v.status();
    if (*v != want) {
      return absl::FailedPreconditionError(absl::StrCat(name, " is '", *v, "', expected '", want, "'"));
    }
    return absl::OkStatus();
  };
  for (absl::Status s : {expect(0, kMagic, absl::StrCat(kDiskCacheFormat)), expect(1, "arch", key.arch),
                         expect(2, "nvrtc", key.nvrtc_version), expect(3, "options", key.options),
                         expect(4, "template", Hex64(key.template_hash))}) {
    if (!s.ok()) return s;
  }
  absl::StatusOr<std::string> entry = field(5, "entry");
  absl::StatusOr<std::string> sig_bytes = field(6, "signature_bytes");
  absl::StatusOr<std::string> payload_bytes = field(7, "payload_bytes");
  absl::StatusOr<std::string> checksum = field(8, "checksum");
  for (const auto* s : {&entry, &sig_bytes, &payload_bytes, &checksum}) {
    if (!s->ok()) return s->status();
  }
  uint64_t ns = 0, np = 0;
  if (!absl::SimpleAtoi(*sig_bytes, &ns) || !absl::SimpleAtoi(*payload_bytes, &np)) {
    return absl::DataLossError("sizes are not numbers");
  }
  const size_t body = end + 2;
  if (ns > bytes.size() - body || np != bytes.size() - body - ns) {
    return absl::DataLossError(absl::StrCat("entry holds ", bytes.size() - body, " body bytes, header says ", ns + np));
  }
  size_t header_end = 0;  // where the checksum line starts
  for (size_t i = 0; i < 8; ++i) header_end += lines[i].size() + 1;
  const std::string header = bytes.substr(0, header_end);
  if (Hex64(StableHash(absl::StrCat(header, bytes.substr(body)))) != *checksum) {
    return absl::DataLossError("checksum mismatch");
  }
  if (bytes.compare(body, ns, key.signature_text) != 0) {
    return absl::FailedPreconditionError("signature text differs (a hash collision or a foreign entry)");
  }
  return Hit{*entry, bytes.substr(body + ns)};
}

std::optional<DiskCache::Hit> DiskCache::Load(const DiskCacheKey& key) {
  if (!enabled_) return std::nullopt;
  const std::string path = PathOf(key.signature_hash);
  const std::string file = FileName(key.signature_hash, kSuffix);
  const auto reject = [&](int sub, const std::string& why) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    misses_.fetch_add(1, std::memory_order_relaxed);
    bool first;
    {
      std::unique_lock<std::mutex> lock(mu_);
      first = reported_.insert(path).second;
    }
    if (first) Warn(absl::StrCat("tilefuse: ignoring kernel cache entry ", path, ": ", why, "; it will be rebuilt"));
    if (writable_ && sub >= 0) ::unlinkat(sub, file.c_str(), 0);
  };
  absl::StatusOr<ScopedFd> sub = OpenSubdir(key.signature_hash, /*create=*/false);
  if (!sub.ok()) {
    if (absl::IsNotFound(sub.status())) {
      misses_.fetch_add(1, std::memory_order_relaxed);
    } else {
      reject(-1, std::string(sub.status().message()));
    }
    return std::nullopt;
  }
  ReadFileOptions read;
  read.max_bytes = kMaxDiskCacheEntryBytes;
  read.follow_links = false;
  absl::StatusOr<std::string> bytes = ReadRegularFileAt(sub->get(), file, "entry", read);
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) {
      misses_.fetch_add(1, std::memory_order_relaxed);
    } else {
      reject(sub->get(), std::string(bytes.status().message()));
    }
    return std::nullopt;
  }
  absl::StatusOr<Hit> hit = Parse(*bytes, key);
  if (!hit.ok()) {
    reject(sub->get(), std::string(hit.status().message()));
    return std::nullopt;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  if (writable_) ::utimensat(sub->get(), file.c_str(), nullptr, AT_SYMLINK_NOFOLLOW);  // recently used
  return *std::move(hit);
}

absl::Status DiskCache::Store(const DiskCacheKey& key, const std::string& entry_name,
                              const std::string& cubin) {
  if (!writable_) return absl::FailedPreconditionError(absl::StrCat("disk cache ", dir_, " is not writable"));
  const std::string path = PathOf(key.signature_hash);
  const auto fail = [&](const std::string& what) {
    write_failures_.fetch_add(1, std::memory_order_relaxed);
    if (writable_.exchange(false)) {
      Warn(absl::StrCat("tilefuse: kernel disk cache at ", dir_, " stopped writing: ", what,
                        "; compiled kernels stay in memory only"));
    }
    return absl::UnavailableError(what);
  };
  absl::StatusOr<ScopedFd> sub = OpenSubdir(key.signature_hash, /*create=*/true);
  if (!sub.ok()) return fail(std::string(sub.status().message()));
  const int dir = sub->get();
  // A name no other writer (thread or process) uses; renamed over the entry when complete.
  const std::string tmp = absl::StrCat(".tmp-", ::getpid(), "-", std::hash<std::thread::id>()(std::this_thread::get_id()),
                                       "-", Hex64(key.signature_hash));
  const int fd = ::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail(absl::StrCat("cannot create ", tmp, " beside ", path, ": ", std::strerror(errno)));
  const std::string bytes = Serialize(key, entry_name, cubin);
  const bool ok = WriteAll(fd, bytes) && ::fsync(fd) == 0;
  const int write_errno = errno;
  ::close(fd);
  if (!ok || ::renameat(dir, tmp.c_str(), dir, FileName(key.signature_hash, kSuffix).c_str()) != 0) {
    const int err = ok ? errno : write_errno;
    ::unlinkat(dir, tmp.c_str(), 0);
    return fail(absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
  }
  writes_.fetch_add(1, std::memory_order_relaxed);
  EvictIfNeeded(static_cast<int64_t>(bytes.size()));
  return absl::OkStatus();
}

void DiskCache::EvictIfNeeded(int64_t stored_bytes) {
  {
    // The running total (this process's stores since the last scan) decides whether to
    // look at the folder at all; a scan then counts what every process wrote.
    std::unique_lock<std::mutex> lock(mu_);
    if (known_bytes_ >= 0) {
      known_bytes_ += stored_bytes;
      if (known_bytes_ <= options_.max_bytes) return;
    }
  }
  struct Item {
    fs::file_time_type used;
    std::string path;
    uintmax_t bytes;
  };
  std::vector<Item> items;
  uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->path().extension() != kSuffix) continue;
    const uintmax_t bytes = it->file_size(ec);
    const fs::file_time_type used = it->last_write_time(ec);
    if (ec) continue;  // removed meanwhile by another process
    items.push_back(Item{used, it->path().string(), bytes});
    total += bytes;
  }
  const auto remember = [&](uintmax_t bytes) {
    std::unique_lock<std::mutex> lock(mu_);
    known_bytes_ = static_cast<int64_t>(bytes);
  };
  if (total <= static_cast<uintmax_t>(options_.max_bytes)) {
    remember(total);
    return;
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.used < b.used; });
  for (const Item& i : items) {
    if (total <= static_cast<uintmax_t>(options_.max_bytes)) break;
    if (fs::remove(i.path, ec)) evictions_.fetch_add(1, std::memory_order_relaxed);
    total -= i.bytes;
  }
  remember(total);
}

}  // namespace tilefuse::internal
