// The on-disk kernel cache: compiled binaries that outlive the process, so that an engine
// that restarts does not pay NVRTC again. Owned by the caller, like KernelCache; pass it as
// CompileOptions::disk_cache.
//
// Layout: DIR/<2 hex>/<16 hex>.tfk, named by the signature's stable hash. An entry is a
// text header, then the signature text, then the cubin:
//
//   tilefuse-kernel-cache 1            format version (kDiskCacheFormat)
//   arch sm_90
//   nvrtc 13.0 build 13000             NVRTC version and the toolkit it was built with
//   options --gpu-architecture=sm_90 -std=c++17 ...
//   template 0123456789abcdef          hash of the kernel template text
//   entry tf_0123456789abcdef
//   signature_bytes 1234
//   payload_bytes 56789
//   checksum 0123456789abcdef          StableHash of every byte above this line and after it
//   (empty line) <signature text> <cubin>
//
// The folder holds code the process will run, so it is trusted only when it is the user's
// own: DIR (created 0700) and each <2 hex> subfolder must be folders owned by the effective
// user and writable by no one else, subfolders and entries are opened without following
// symbolic links (openat with O_NOFOLLOW), entries must be regular files of at most
// kMaxDiskCacheEntryBytes. A folder that fails these checks, or no folder at all (no
// $HOME), leaves the cache disabled with one warning: the runtime goes on from memory.
//
// A read checks every field against what the caller expects and the checksum over the
// whole entry: a corrupt, truncated, foreign or mismatched entry is reported once (through
// DiskCacheOptions::warn), deleted, and treated as a miss, never loaded. Writes go to a
// temporary file in the same folder, are flushed (fsync) and renamed into place, so that
// concurrent processes and crashes never leave a half entry under an entry's name. Reads
// touch the entry's modification time; past max_bytes the oldest entries are evicted
// (least recently used; the folder is scanned once, then only when the running total
// passes the bound). Processes that compile the same kernel at once take turns through a
// lock file beside the entry (EntryLock), so that one compiles and the others load.
//
//   DiskCache disk(DiskCacheOptions{});        // $TILEFUSE_CACHE_DIR or $XDG_CACHE_HOME/tilefuse
//   KernelCache memory;
//   CompileOptions o; o.cache = &memory; o.disk_cache = &disk;
#ifndef TILEFUSE_RUNTIME_CACHE_DISK_CACHE_H_
#define TILEFUSE_RUNTIME_CACHE_DISK_CACHE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "runtime/graph/read_file.h"

namespace tilefuse::internal {

inline constexpr int kDiskCacheFormat = 1;
// Larger files are never read as entries (cubins are well under a megabyte).
inline constexpr int64_t kMaxDiskCacheEntryBytes = int64_t{256} << 20;

// $TILEFUSE_CACHE_DIR if set, else $XDG_CACHE_HOME/tilefuse (an absolute path), else
// ~/.cache/tilefuse ($HOME, or the password database's home, when absolute and not "/").
// Empty when none of these names a folder: never a shared default such as /tmp.
std::string DefaultDiskCacheDir();

struct DiskCacheOptions {
  std::string dir;                          // empty: DefaultDiskCacheDir()
  int64_t max_bytes = int64_t{2} << 30;     // LRU bound on the entries' total size
  // Receives each warning (one per corrupt entry, one for an unwritable folder); default:
  // the logger (runtime/log.h) at warning level.
  std::function<void(const std::string&)> warn;
};

// What an entry must match to be loaded: the parts of its signature that the header
// spells out, and the signature text itself.
struct DiskCacheKey {
  std::string signature_text;
  uint64_t signature_hash = 0;
  std::string arch;
  std::string nvrtc_version;
  std::string options;  // the NVRTC command line, joined by spaces
  uint64_t template_hash = 0;
};

struct DiskCacheStats {
  int64_t hits = 0, misses = 0, rejected = 0, writes = 0, write_failures = 0, evictions = 0;
};

class DiskCache {
 public:
  explicit DiskCache(DiskCacheOptions options);
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  // The cached entry name and cubin for `key`, or nullopt on a miss (a rejected entry is
  // a miss too, and is deleted).
  struct Hit {
    std::string entry_name;
    std::string cubin;
  };
  std::optional<Hit> Load(const DiskCacheKey& key);

  // Writes the entry (temporary file, fsync, rename), then evicts past max_bytes. Errors
  // disable further writes with one warning; the returned status says what failed.
  absl::Status Store(const DiskCacheKey& key, const std::string& entry_name, const std::string& cubin);

  // Held while this process compiles the kernel of `signature_hash`: other processes that
  // ask for the same lock wait, then find the entry stored (a cross-process single flight).
  // Released when destroyed. An invalid lock (the cache is not writable) locks nothing.
  class EntryLock {
   public:
    EntryLock() = default;
    explicit EntryLock(int fd) : fd_(fd) {}
    bool held() const { return fd_.get() >= 0; }

   private:
    ScopedFd fd_;  // closing it releases the flock
  };
  EntryLock Lock(uint64_t signature_hash);

  // What `tilefuse cache ls|stat|clear` show and do (runtime/cache/disk_cache_admin.cc).
  struct EntryInfo {
    std::string path;
    int64_t bytes = 0;
    int64_t age_seconds = 0;  // since its last use (a read or the write)
    std::string arch, entry_name, nvrtc;  // from its header; empty when unreadable
  };
  // Every entry of the folder (symbolic links skipped), most recently used first.
  std::vector<EntryInfo> List() const;
  // Removes every entry; how many. Lock files stay (a process may hold one).
  absl::StatusOr<int64_t> Clear();

  bool enabled() const { return enabled_; }
  bool writable() const { return writable_; }
  const std::string& dir() const { return dir_; }
  std::string PathOf(uint64_t signature_hash) const;
  DiskCacheStats stats() const;

  // Serialized entry and its parsing, exposed for golden-file tests.
  static std::string Serialize(const DiskCacheKey& key, const std::string& entry_name,
                               const std::string& cubin);
  // The hit, or why the bytes are not a valid entry for `key`.
  static absl::StatusOr<Hit> Parse(const std::string& bytes, const DiskCacheKey& key);

 private:
  void Warn(const std::string& message);
  void EvictIfNeeded(int64_t stored_bytes);
  // The <2 hex> subfolder of `hash`, open, after the ownership checks; created if asked.
  absl::StatusOr<ScopedFd> OpenSubdir(uint64_t hash, bool create);

  DiskCacheOptions options_;
  std::string dir_;
  ScopedFd dir_fd_;
  std::atomic<bool> enabled_{false};
  std::atomic<bool> writable_{false};
  std::mutex mu_;
  std::set<std::string> reported_ ABSL_GUARDED_BY(mu_);
  int64_t known_bytes_ ABSL_GUARDED_BY(mu_) = -1;  // the entries' total as last counted, -1 before a scan
  std::atomic<int64_t> hits_{0}, misses_{0}, rejected_{0}, writes_{0}, write_failures_{0}, evictions_{0};
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_CACHE_DISK_CACHE_H_
