// Codegen's entry: a complete translation unit for any KernelSpec, and the kernel template
// files it is built from (their text is hashed into the signature).
#ifndef TILEFUSE_CODEGEN_GENERATE_H_
#define TILEFUSE_CODEGEN_GENERATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/fusion/kernel_spec.h"

namespace tilefuse::internal {

absl::StatusOr<std::vector<std::string>> TemplateFilesFor(const KernelSpec& spec);
absl::StatusOr<std::string> GenerateSource(const KernelSpec& spec, const std::string& entry_name);
// Threads per CTA the generated entry is declared with.
int ThreadsPerBlock(const KernelSpec& spec);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_GENERATE_H_
