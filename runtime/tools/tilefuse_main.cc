// tilefuse: plan, compile and run JSON graphs from the command line.
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/tools/commands.h"
#include "tilefuse/version.h"

namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  tilefuse plan GRAPH [FUSION] [--json]\n"
    "  tilefuse compile GRAPH... [--arch sm_90] [FUSION] [--dump DIR]\n"
    "               [--gemm-config JSON] [--cache-dir DIR | --no-disk-cache]\n"
    "  tilefuse run GRAPH --input NAME=FILE.npy ... --output NAME=FILE.npy ...\n"
    "               [FUSION] [--gemm-config JSON] [--repeat N [--flush]]\n"
    "               [--cache-dir DIR | --no-disk-cache]\n"
    "  tilefuse warmup MANIFEST|GRAPH... [--arch sm_90] [--jobs N] [FUSION]\n"
    "               [--cache-dir DIR]\n"
    "  tilefuse cache stat|ls|clear [--cache-dir DIR]\n"
    "  tilefuse --version\n"
    "FUSION (CompileOptions' switches; a manifest's entries carry their own):\n"
    "  --no-fusion  --no-row-epilogues  --wide-row-epilogues  --norm-prologues\n"
    "--gemm-config: a GEMM tile config as a tuning record's \"config\" object, forced on\n"
    "every GEMM that can run it.\n"
    "The disk cache defaults to $TILEFUSE_CACHE_DIR, else $XDG_CACHE_HOME/tilefuse, else\n"
    "~/.cache/tilefuse; README.md says more.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "--version") {
    std::printf("tilefuse %s\n", TILEFUSE_VERSION_STRING);
    return 0;
  }
  // `tilefuse COMMAND --help` prints the usage, whatever else the line holds.
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  if (cmd == "plan") return tilefuse::internal::PlanCommand(args);
  if (cmd == "compile") return tilefuse::internal::CompileCommand(args);
  if (cmd == "run") return tilefuse::internal::RunCommand(args);
  if (cmd == "warmup") return tilefuse::internal::WarmupCommand(args);
  if (cmd == "cache") return tilefuse::internal::CacheCommand(args);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "tilefuse: unknown command '%s'\n%s", cmd.c_str(), kUsage);
  return 2;
}
