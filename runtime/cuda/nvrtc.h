// NVRTC: CUDA C++ source to a cubin, in process.
//
// A failed compile returns kInternal (tilefuse generated the source, so a rejection is our
// bug) with NVRTC's log and, under each error, the offending source line quoted, so that a
// message points into the generated glue.
//
//   NvrtcOptions o{.arch = "sm_90"};
//   TF_ASSIGN_OR_RETURN(CompiledCubin c, CompileToCubin(source, "k.cu", o));
#ifndef TILEFUSE_RUNTIME_CUDA_NVRTC_H_
#define TILEFUSE_RUNTIME_CUDA_NVRTC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tilefuse::internal {

struct NvrtcOptions {
  std::string arch = "sm_90";              // "sm_90", "sm_90a", "sm_80", ...
  std::vector<std::string> extra_options;  // passed through, e.g. "-lineinfo"
};

struct CompiledCubin {
  std::string cubin;     // the binary
  std::string log;       // NVRTC's log (warnings), possibly empty
  double compile_ms = 0; // wall time of nvrtcCompileProgram and the copy out
};

absl::StatusOr<CompiledCubin> CompileToCubin(const std::string& source,
                                             const std::string& file_name,
                                             const NvrtcOptions& options);

// The PTX of `source` for the virtual architecture of options.arch ("sm_90a" ->
// "compute_90a"), the other options alike: what the dumps show beside the cubin.
absl::StatusOr<std::string> CompileToPtx(const std::string& source, const std::string& file_name,
                                         const NvrtcOptions& options);

// "13.0", for signatures and reports.
std::string NvrtcVersionString();

// The options CompileToCubin passes for `options`, in order; part of every signature.
std::vector<std::string> NvrtcCommandLine(const NvrtcOptions& options);

// Quotes, under each "name(line): error" of `log`, that line of `source`.
std::string AnnotateLog(const std::string& log, const std::string& source,
                        const std::string& file_name);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_CUDA_NVRTC_H_
