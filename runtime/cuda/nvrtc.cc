#include "runtime/cuda/nvrtc.h"

#include <nvrtc.h>

#include <chrono>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tilefuse::internal {
namespace {

absl::Status NvrtcError(nvrtcResult r, absl::string_view call) {
  return absl::InternalError(absl::StrCat(call, " failed: ", nvrtcGetErrorString(r)));
}

struct ProgramDeleter {
  void operator()(nvrtcProgram p) const { nvrtcDestroyProgram(&p); }
};
using ProgramPtr = std::unique_ptr<std::remove_pointer_t<nvrtcProgram>, ProgramDeleter>;

}  // namespace

std::string NvrtcVersionString() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return absl::StrCat(major, ".", minor);
}

std::vector<std::string> NvrtcCommandLine(const NvrtcOptions& options) {
  std::vector<std::string> opts = {
      absl::StrCat("--gpu-architecture=", options.arch),
      "-std=c++17",
      // Exact IEEE math: fusion must not change results beyond the dtype's rounding.
      "--fmad=true",
      "-DTILEFUSE_NVRTC=1",
  };
  opts.insert(opts.end(), options.extra_options.begin(), options.extra_options.end());
  return opts;
}

std::string AnnotateLog(const std::string& log, const std::string& source,
                        const std::string& file_name) {
  const std::vector<absl::string_view> src = absl::StrSplit(source, '\n');
  std::string out;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    absl::StrAppend(&out, line, "\n");
    // NVRTC writes "k.cu(123): error: ...".
    const std::string prefix = absl::StrCat(file_name, "(");
    if (line.substr(0, prefix.size()) != prefix) continue;
    const size_t close = line.find(')', prefix.size());
    int n = 0;
    if (close == absl::string_view::npos ||
        !absl::SimpleAtoi(line.substr(prefix.size(), close - prefix.size()), &n) || n < 1 ||
        n > static_cast<int>(src.size())) {
      continue;
    }
    absl::StrAppend(&out, "    > ", src[n - 1], "\n");
  }
  return out;
}

absl::StatusOr<CompiledCubin> CompileToCubin(const std::string& source,
                                             const std::string& file_name,
                                             const NvrtcOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  nvrtcProgram raw = nullptr;
  nvrtcResult r = nvrtcCreateProgram(&raw, source.c_str(), file_name.c_str(), 0, nullptr, nullptr);
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "nvrtcCreateProgram");
  ProgramPtr prog(raw);
  const std::vector<std::string> opts = NvrtcCommandLine(options);
  std::vector<const char*> argv;
  for (const std::string& o : opts) argv.push_back(o.c_str());
  const nvrtcResult compiled =
      nvrtcCompileProgram(prog.get(), static_cast<int>(argv.size()), argv.data());
  CompiledCubin out;
  size_t log_size = 0;
  if (nvrtcGetProgramLogSize(prog.get(), &log_size) == NVRTC_SUCCESS && log_size > 1) {
    out.log.resize(log_size);
    nvrtcGetProgramLog(prog.get(), out.log.data());
    out.log.resize(log_size - 1);  // drop the terminating NUL
  }
  if (compiled != NVRTC_SUCCESS) {
    return absl::InternalError(absl::StrCat(
        "NVRTC rejected generated source ", file_name, " (", nvrtcGetErrorString(compiled),
        "):\n", AnnotateLog(out.log, source, file_name)));
  }
  size_t size = 0;
  r = nvrtcGetCUBINSize(prog.get(), &size);
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "nvrtcGetCUBINSize");
  out.cubin.resize(size);
  r = nvrtcGetCUBIN(prog.get(), out.cubin.data());
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "nvrtcGetCUBIN");
  out.compile_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

absl::StatusOr<std::string> CompileToPtx(const std::string& source, const std::string& file_name,
                                         const NvrtcOptions& options) {
  nvrtcProgram raw = nullptr;
  nvrtcResult r = nvrtcCreateProgram(&raw, source.c_str(), file_name.c_str(), 0, nullptr, nullptr);
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "nvrtcCreateProgram");
  ProgramPtr prog(raw);
  NvrtcOptions virt = options;
  if (absl::StartsWith(virt.arch, "sm_")) virt.arch = absl::StrCat("compute_", virt.arch.substr(3));
  const std::vector<std::string> opts = NvrtcCommandLine(virt);
  std::vector<const char*> argv;
  for (const std::string& o : opts) argv.push_back(o.c_str());
  r = nvrtcCompileProgram(prog.get(), static_cast<int>(argv.size()), argv.data());
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "nvrtcCompileProgram (PTX)");
  size_t size = 0;
  r = nvrtcGetPTXSize(prog.get(), &size);
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "nvrtcGetPTXSize");
  std::string ptx(size, '\0');
  r = nvrtcGetPTX(prog.get(), ptx.data());
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "nvrtcGetPTX");
  if (!ptx.empty() && ptx.back() == '\0') ptx.pop_back();
  return ptx;
}

}  // namespace tilefuse::internal
