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
#include "runtime/cuda/device_buffer.h"
#include "runtime/graph/graph.h"
#include "runtime/tensor.h"

namespace tilefuse::internal {

class Plan;
struct CompileOptions;

struct TuningRecord {
  GemmConfig config;
  double us = 0;  // median time of the plain GEMM (or of the row-wise kernel) with this config
  std::optional<RowConfig> row;  // set for a row-wise kernel's record (config unused then)
};

// Best configs by key, persisted as JSON ({"version": 1, "records": {key: {...}}}).
class TuningRecords {
 public:
  // An absent file is an empty set. A file that is not version-1 tuning records, and each
  // record that is malformed or holds a config the kernels cannot run, is left out and
  // described in problems(): records only pick among configs, so a bad file costs speed,
  // never a compile. Errors: only a file that exists but cannot be read.
  static absl::StatusOr<TuningRecords> Load(const std::string& path);
  // Writes a temporary file and renames it into place.
  absl::Status Save(const std::string& path) const;
  std::optional<TuningRecord> Find(const std::string& key) const;
  void Put(const std::string& key, const TuningRecord& r) { records_[key] = r; }
  size_t size() const { return records_.size(); }
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::map<std::string, TuningRecord> records_;
  std::vector<std::string> problems_;
};

// "matmul bf16 wgmma b=2 m=16 n=4096 k=4096 sm_90": what a tuning result applies to
// ("wgmma": the Hopper kernel can run it). M is classed since one binary serves many token
// counts: a shape class by its bound (`class_max_m`), a static M by the smallest default
// class bound that holds it (kDefaultMClasses), "any" past them and for the kernel a
// symbolic M runs past its classes.
std::string GemmTuningKey(const Graph& graph, int matmul_node, const KernelSpec& spec,
                          const std::string& arch, int64_t class_max_m = 0);

// A GEMM config written as a tuning record's "config" object ({"bm": 16, "bn": 64, "bk": 128,
// "warps_m": 1, "warps_n": 4, "stages": 4, "wgmma": false, "skinny": true, "split_k": 2}),
// validated: what `tilefuse compile` and `run` take as --gemm-config.
absl::StatusOr<GemmConfig> GemmConfigFromJsonText(absl::string_view text);

// One timed candidate, for reports and tests.
struct TuningTrial {
  std::string spec_text;  // the tuned kernel's spec: a plain GEMM, no fusion
  GemmConfig config;
  double us = 0;
};

// Times every candidate config on the plain GEMM of `matmul_node` (M = `m_size` when M is
// symbolic) on device `device` and returns the trials, fastest first. Needs a GPU. The candidates: those
// given, else the Hopper stage counts for a Hopper config and GemmCandidates otherwise.
absl::StatusOr<std::vector<TuningTrial>> TuneGemm(const Graph& graph, int matmul_node,
                                                  const KernelSpec& spec, const std::string& arch, int device,
                                                  int64_t m_size, absl::Span<const GemmConfig> candidates = {});

// Row-wise kernels (rms_norm, layer_norm, softmax) are tuned as they are fused: their
// fusion changes what limits them (a reduction-only epilogue stores nothing row-wide), and
// they compile in well under a second. The key is the kernel's spec (its fusion, dtypes
// and width) with the default launch config, and the arch.
std::string RowTuningKey(const KernelSpec& planned, const std::string& arch);

struct RowTrial {
  RowConfig config;
  double us = 0;
};

// Times `graph` (every symbol bound to `size`) compiled with each candidate of
// RowCandidates(width) for its row-wise kernel (kernel `kernel_index` of the plan, planned
// as `base` plans it: fusion, row epilogues, norm prologues); fastest first. The graph must hold one row-wise kernel, of the static
// width `width`. Needs a GPU: device `device`.
absl::StatusOr<std::vector<RowTrial>> TuneRowwise(const Graph& graph, int kernel_index, const KernelSpec& spec,
                                                  int64_t width, const CompileOptions& base,
                                                  const std::string& arch, int device, int64_t size);

// Device tensors for every input (uniform in [-1, 1]: never zeros, which run faster than
// real data) and every output of `graph`, each symbol bound to `size`. Needs a GPU.
struct TuningTensors {
  std::vector<DeviceBuffer> buffers;  // own the memory `in` and `out` point to
  std::vector<TensorArg> in, out;
};
absl::StatusOr<TuningTensors> RandomTuningTensors(const Graph& graph, int64_t size, uint64_t seed);

// The time of one run of `plan`, median of `samples` event-timed runs after warm-ups, each
// after FlushL2 (runtime/l2_flush.h), as bench_fusion times it.
absl::StatusOr<double> TimePlan(Plan& plan, const std::vector<TensorArg>& in,
                                const std::vector<TensorArg>& out, int samples);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_AUTOTUNE_H_
