// A manifest: the graphs a process compiled, so that a deployment can compile them into
// the disk cache ahead of time (`tilefuse warmup MANIFEST`). It records what to compile,
// not binaries: one JSON object per line,
//
//   {"arch": "sm_90", "fuse": true, "graph": { ...the graph file format... },
//    "tuning": "/path/tuning.json", "m_classes": [8, 64], "sm_count": 114,
//    "gemm_row_epilogues": false, "norm_prologues": true, "wide_row_epilogues": true}
//
// "tuning" (present when the compile read tuning records) names the records that chose
// the GEMM and row-wise launch configs; the other options choose which kernels the plan
// has (shape classes, the SM count small-M configs are sized for, fusions), each written
// only where it is not the default (the SM count always). So warmup builds the very same
// kernels.
//
// Appends are single writes to a file opened for appending, so processes may share one
// manifest; an entry already present is not written again.
//
//   CompileOptions o; o.manifest_path = "/var/lib/engine/kernels.manifest";
#ifndef TILEFUSE_RUNTIME_MANIFEST_H_
#define TILEFUSE_RUNTIME_MANIFEST_H_

#include <cstdint>
#include <optional>
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
  // CompileOptions that choose the plan's kernels, as the compile resolved them.
  std::optional<std::vector<int64_t>> m_classes;  // unset: the default classes
  int sm_count = 0;                               // 0: unknown (the compiling machine's)
  bool gemm_row_epilogues = true;
  bool norm_prologues = false;
  bool wide_row_epilogues = false;
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
