// `tilefuse cache stat|ls|clear`: what the disk cache holds, and emptying it.
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "runtime/cache/disk_cache.h"
#include "runtime/tools/commands.h"
#include "runtime/tools/flags.h"

namespace tilefuse::internal {

int CacheCommand(const std::vector<std::string>& args) {
  auto flags = ParseFlags(args, {"cache-dir"}, {});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->positional.size() != 1) {
    return Fail(absl::InvalidArgumentError("cache takes one of stat, ls, clear"));
  }
  const std::string what = flags->positional[0];
  if (what != "stat" && what != "ls" && what != "clear") {
    return Fail(absl::InvalidArgumentError(absl::StrCat("cache: unknown action '", what, "' (stat, ls or clear)")));
  }
  std::unique_ptr<DiskCache> disk = DiskCacheFromFlags(*flags);
  if (!disk->enabled()) {
    return Fail(absl::FailedPreconditionError(absl::StrCat("no usable cache at '", disk->dir(), "' (see the warning above)")));
  }
  if (what == "clear") {
    auto removed = disk->Clear();
    if (!removed.ok()) return Fail(removed.status());
    std::printf("removed %lld entries from %s\n", static_cast<long long>(*removed), disk->dir().c_str());
    return 0;
  }
  const std::vector<DiskCache::EntryInfo> entries = disk->List();
  if (what == "ls") {
    for (const DiskCache::EntryInfo& e : entries) {
      std::printf("%-22s %-6s %9lld bytes  used %llds ago  %s\n", e.entry_name.c_str(), e.arch.c_str(),
                  static_cast<long long>(e.bytes), static_cast<long long>(e.age_seconds), e.path.c_str());
    }
    return 0;
  }
  int64_t bytes = 0;
  std::map<std::string, int> by_arch;
  for (const DiskCache::EntryInfo& e : entries) {
    bytes += e.bytes;
    ++by_arch[e.arch.empty() ? "unreadable" : e.arch];
  }
  std::printf("cache: %s (%s)\n", disk->dir().c_str(), disk->writable() ? "writable" : "read-only");
  std::printf("entries: %zu, %lld bytes (evicted past %lld)\n", entries.size(), static_cast<long long>(bytes),
              static_cast<long long>(DiskCacheOptions{}.max_bytes));
  for (const auto& [arch, n] : by_arch) std::printf("  %s: %d\n", arch.c_str(), n);
  return 0;
}

}  // namespace tilefuse::internal
