// GEMM autotuning that keeps fusion: candidate tile configs are timed on the plain GEMM
// (no prologue, no epilogue), so one tuning serves every fusion of that GEMM; the winner is
// recorded per (dtype, B layout, M class, N, K, arch) in a JSON file beside the kernel
// cache, and the fused kernel is then compiled with it. Without a GPU (or with tuning
// off) the documented default config of runtime/fusion/tile_config.h is used.
#ifndef TILEFUSE_RUNTIME_AUTOTUNE_H_
#define TILEFUSE_RUNTIME_AUTOTUNE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/fusion/kernel_spec.h"
#include "runtime/graph/graph.h"

namespace tilefuse {

struct TuningRecord {
  GemmConfig config;
  double us = 0;  // median time of the plain GEMM with this config
};

// Best configs by key, persisted as JSON ({"version": 1, "records": {key: {...}}}).
class TuningRecords {
 public:
  // An absent file is an empty set; an unreadable or foreign one is an error.
  static absl::StatusOr<TuningRecords> Load(const std::string& path);
  // Writes a temporary file and renames it into place.
  absl::Status Save(const std::string& path) const;
  std::optional<TuningRecord> Find(const std::string& key) const;
  void Put(const std::string& key, const TuningRecord& r) { records_[key] = r; }
  size_t size() const { return records_.size(); }

 private:
  std::map<std::string, TuningRecord> records_;
};

// "matmul bf16 b=2 m=any n=4096 k=4096 sm_90": what a tuning result applies to. M is
// classed (<=16, <=64, <=256, any) since one binary serves many token counts.
std::string GemmTuningKey(const Graph& graph, int matmul_node, const KernelSpec& spec,
                          const std::string& arch);

// One timed candidate, for reports and tests.
struct TuningTrial {
  std::string spec_text;  // the tuned kernel's spec: a plain GEMM, no fusion
  GemmConfig config;
  double us = 0;
};

// Times every candidate config on the plain GEMM of `matmul_node` (M = `m_size` when M is
// symbolic) and returns the trials, fastest first. Needs a GPU.
absl::StatusOr<std::vector<TuningTrial>> TuneGemm(const Graph& graph, int matmul_node,
                                                  const KernelSpec& spec, const std::string& arch,
                                                  int64_t m_size);

}  // namespace tilefuse

#endif  // TILEFUSE_RUNTIME_AUTOTUNE_H_
