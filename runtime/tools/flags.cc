#include "runtime/tools/flags.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {

absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& args,
                                 const std::vector<std::string>& with_value,
                                 const std::vector<std::string>& switches) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      f.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (std::find(with_value.begin(), with_value.end(), name) != with_value.end()) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
        value = args[++i];
      }
      f.values[name].push_back(value);
    } else if (std::find(switches.begin(), switches.end(), name) != switches.end()) {
      f.switches[name] = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  return f;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "tilefuse: %s\n", std::string(s.message()).c_str());
  return 1;
}

std::vector<std::string> WithFusionSwitches(std::vector<std::string> switches) {
  for (const char* s : {"no-fusion", "no-row-epilogues", "wide-row-epilogues", "norm-prologues"}) switches.push_back(s);
  return switches;
}

FusionSwitches FusionSwitchesOf(const Flags& flags) {
  FusionSwitches s;
  s.fuse = !flags.switches.count("no-fusion");
  s.gemm_row_epilogues = !flags.switches.count("no-row-epilogues");
  s.wide_row_epilogues = flags.switches.count("wide-row-epilogues") > 0;
  s.norm_prologues = flags.switches.count("norm-prologues") > 0;
  return s;
}

std::unique_ptr<DiskCache> DiskCacheFromFlags(const Flags& flags) {
  if (flags.switches.count("no-disk-cache")) return nullptr;
  DiskCacheOptions o;
  if (auto it = flags.values.find("cache-dir"); it != flags.values.end()) o.dir = it->second.back();
  return std::make_unique<DiskCache>(o);
}

}  // namespace tilefuse::internal
