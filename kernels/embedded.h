// Access to the kernel templates of kernels/*.cuh, embedded into the library at build time
// (cmake/EmbedFiles.cmake), so that NVRTC never reads a kernel file at run time.
#ifndef TILEFUSE_KERNELS_EMBEDDED_H_
#define TILEFUSE_KERNELS_EMBEDDED_H_

#include "absl/strings/string_view.h"
#include <string_view>
#include <vector>

namespace tilefuse::internal {

struct EmbeddedFile {
  absl::string_view name;  // e.g. "pointwise.cuh"
  absl::string_view text;
};

// Every kernels/*.cuh, sorted by name. Generated; see cmake/EmbedFilesScript.cmake.
const std::vector<EmbeddedFile>& EmbeddedKernelFiles();

// Every bench/graphs/*.json (the graph catalog), sorted by name; in tilefuse_catalog.
const std::vector<EmbeddedFile>& EmbeddedCatalogFiles();

}  // namespace tilefuse::internal

#endif  // TILEFUSE_KERNELS_EMBEDDED_H_
