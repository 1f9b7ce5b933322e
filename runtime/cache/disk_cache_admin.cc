// Listing and clearing the disk cache's entries (`tilefuse cache`).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/cache/disk_cache.h"

namespace tilefuse::internal {
namespace {

namespace fs = std::filesystem;

constexpr char kEntrySuffix[] = ".tfk";

// The header fields an entry names itself by, read from its first lines only.
void ReadHeader(const std::string& path, DiskCache::EntryInfo& info) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  for (int n = 0; n < 16 && std::getline(in, line) && !line.empty(); ++n) {
    const std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (kv.first == "arch") info.arch = kv.second;
    if (kv.first == "entry") info.entry_name = kv.second;
    if (kv.first == "nvrtc") info.nvrtc = kv.second;
  }
}

// The entry files under `dir`, never through a symbolic link.
template <class F>
void ForEachEntry(const std::string& dir, F f) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_symlink(ec) || !it->is_regular_file(ec) || it->path().extension() != kEntrySuffix) continue;
    f(*it);
  }
}

}  // namespace

std::vector<DiskCache::EntryInfo> DiskCache::List() const {
  std::vector<EntryInfo> out;
  if (!enabled()) return out;
  const auto now = fs::file_time_type::clock::now();
  ForEachEntry(dir_, [&](const fs::directory_entry& e) {
    std::error_code ec;
    EntryInfo info;
    info.path = e.path().string();
    info.bytes = static_cast<int64_t>(e.file_size(ec));
    const auto used = e.last_write_time(ec);
    if (ec) return;  // removed meanwhile
    info.age_seconds = std::chrono::duration_cast<std::chrono::seconds>(now - used).count();
    ReadHeader(info.path, info);
    out.push_back(std::move(info));
  });
  std::sort(out.begin(), out.end(), [](const EntryInfo& a, const EntryInfo& b) {
    return a.age_seconds != b.age_seconds ? a.age_seconds < b.age_seconds : a.path < b.path;
  });
  return out;
}

absl::StatusOr<int64_t> DiskCache::Clear() {
  if (!writable()) {
    return absl::FailedPreconditionError(absl::StrCat("the disk cache at '", dir_, "' is not writable"));
  }
  std::vector<std::string> paths;
  ForEachEntry(dir_, [&](const fs::directory_entry& e) { paths.push_back(e.path().string()); });
  int64_t removed = 0;
  for (const std::string& p : paths) {
    std::error_code ec;
    removed += fs::remove(p, ec) ? 1 : 0;
  }
  std::unique_lock<std::mutex> lock(mu_);
  known_bytes_ = -1;  // scan again before the next eviction
  return removed;
}

}  // namespace tilefuse::internal
