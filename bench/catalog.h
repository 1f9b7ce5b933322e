// The graph catalog shared by bench_fusion, the tests and the main job: the JSON graphs of
// bench/graphs (embedded at build time) with the sizes they are benchmarked at.
#ifndef TILEFUSE_BENCH_CATALOG_H_
#define TILEFUSE_BENCH_CATALOG_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/graph/graph.h"
#include "runtime/plan.h"

namespace tilefuse::internal {

struct CatalogEntry {
  std::string file;                        // "pointwise_scale_add_gelu.json"
  Graph graph;
  std::map<std::string, int64_t> sizes;    // symbol sizes for benchmarking
  // Bytes of one read of every input and one write of every output at `sizes`: the
  // memory traffic floor of the graph.
  int64_t FloorBytes() const;
  // 2 * M * N * K summed over the matmuls at `sizes` (0 for graphs without one).
  double Flops() const;
  // Size of dim `d` at `sizes`.
  int64_t Size(const Dim& d) const;
};

// Every catalog graph, parsed, sorted by file name.
absl::StatusOr<std::vector<CatalogEntry>> LoadCatalog();

// Random device tensors for `e` at its benchmark sizes: floats in [-2, 2], never zeros
// (integer codes in [-3, 3]); outputs allocated, not filled.
struct DeviceTensors {
  std::vector<DeviceBuffer> buffers;
  std::vector<TensorArg> inputs, outputs;
};
absl::StatusOr<DeviceTensors> MakeTensors(const CatalogEntry& e, uint64_t seed);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_BENCH_CATALOG_H_
