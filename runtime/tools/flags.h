// Command-line flags shared by the `tilefuse` subcommands.
#ifndef TILEFUSE_RUNTIME_TOOLS_FLAGS_H_
#define TILEFUSE_RUNTIME_TOOLS_FLAGS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cache/disk_cache.h"

namespace tilefuse::internal {

struct Flags {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;  // --name VALUE (repeatable)
  std::map<std::string, bool> switches;
};

// Parses `args`; `with_value` lists the flags that take a value (--name V or --name=V).
absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& args,
                                 const std::vector<std::string>& with_value,
                                 const std::vector<std::string>& switches);

// Prints "tilefuse: MESSAGE" to standard error; returns 1.
int Fail(const absl::Status& s);

// The disk cache the flags ask for: --cache-dir DIR, else the default folder
// (DefaultDiskCacheDir); null with --no-disk-cache.
std::unique_ptr<DiskCache> DiskCacheFromFlags(const Flags& flags);

// The fusion switches of plan, compile, run and warmup: --no-fusion, --no-row-epilogues,
// --wide-row-epilogues, --norm-prologues (CompileOptions' fuse, gemm_row_epilogues,
// wide_row_epilogues, norm_prologues).
struct FusionSwitches {
  bool fuse = true;
  bool gemm_row_epilogues = true;
  bool wide_row_epilogues = false;
  bool norm_prologues = false;
};
// `switches` and the fusion switches, for ParseFlags.
std::vector<std::string> WithFusionSwitches(std::vector<std::string> switches);
FusionSwitches FusionSwitchesOf(const Flags& flags);
// Sets the fields of the same names in CompileOptions, PlanOptions or a ManifestEntry.
template <class Options>
void ApplyFusionSwitches(const FusionSwitches& s, Options& o) {
  o.fuse = s.fuse;
  o.gemm_row_epilogues = s.gemm_row_epilogues;
  o.wide_row_epilogues = s.wide_row_epilogues;
  o.norm_prologues = s.norm_prologues;
}

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_TOOLS_FLAGS_H_
