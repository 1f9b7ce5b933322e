// A manifest: the graphs a process compiled, so that a deployment can compile them into
// the disk cache ahead of time (`tilefuse warmup MANIFEST`). It records what to compile,
// not binaries: one JSON object per line,
//
//   {"arch": "sm_90", "fuse": true, "graph": { ...the graph file format... },
//    "tuning": "/path/tuning.json"}
//
// "tuning" (present when the compile read tuning records) names the records that chose
// the GEMM and row-wise launch configs, so that warmup builds the very same kernels.
//
// Appends are single writes to a file opened for appending, so processes may share one
// manifest; an entry already present is not written again.
//
//   CompileOptions o; o.manifest_path = "/var/lib/engine/kernels.manifest";
#ifndef TILEFUSE_RUNTIME_MANIFEST_H_
#define TILEFUSE_RUNTIME_MANIFEST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

struct ManifestEntry {
  Graph graph;
  bool fuse = true;
  std::string arch;
  std::string tuning_path;  // empty: default configs
};

// Appends `entry` to the manifest at `path` unless an identical line is there.
absl::Status AppendToManifest(const std::string& path, const ManifestEntry& entry);

// The entries of a manifest, and a message (naming the line) for each line that is not one:
// a bad line is skipped, not the rest of the file.
struct Manifest {
  std::vector<ManifestEntry> entries;
  std::vector<std::string> skipped;
};

// Manifests hold at most this many bytes.
inline constexpr size_t kMaxManifestBytes = size_t{256} << 20;

// The manifest at `path`; an error only when the file cannot be read.
absl::StatusOr<Manifest> ReadManifest(const std::string& path);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_MANIFEST_H_
