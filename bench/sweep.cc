#include "bench/sweep.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/graph/json.h"
#include "runtime/reference.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

// x [M, K] @ w [N, K].T (+ b [N] -> silu), bf16; `m` is a number or "M".
std::string SweepJson(const std::string& m, int64_t k, int64_t n, bool bias_silu) {
  std::string inputs = absl::StrCat(R"([{"name": "x", "shape": [)", m, ", ", k, R"(], "dtype": "bf16"},)",
                                    R"({"name": "w", "shape": [)", n, ", ", k, R"(], "dtype": "bf16"})");
  std::string nodes = R"([{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},)"
                      R"({"name": "y", "op": "matmul", "inputs": ["x", "wt"]})";
  if (bias_silu) {
    absl::StrAppend(&inputs, R"(, {"name": "b", "shape": [)", n, R"(], "dtype": "bf16"})");
    absl::StrAppend(&nodes, R"(, {"name": "z", "op": "add", "inputs": ["y", "b"]})",
                    R"(, {"name": "s", "op": "silu", "inputs": ["z"]})");
  }
  const char* out = bias_silu ? "s" : "y";  // (a std::string assigned here trips GCC 12's -Wrestrict)
  return absl::StrCat(R"({"name": "sweep", "inputs": )", inputs, R"(], "nodes": )", nodes, R"(], "outputs": [")", out,
                      "\"]}");
}

// The sweep's tensors, shared by its rows: weights and biases per (K, N), activations per
// (M, K), outputs per (M, N). Random floats in [-2, 2].
std::map<std::vector<int64_t>, DeviceBuffer>& SweepBuffers() {
  static auto* buffers = new std::map<std::vector<int64_t>, DeviceBuffer>();
  return *buffers;
}

absl::StatusOr<void*> SweepBuffer(std::vector<int64_t> key, int64_t elements, bool fill) {
  auto it = SweepBuffers().find(key);
  if (it != SweepBuffers().end()) return it->second.data();
  HostTensor h = HostTensor::Zeros(DType::kBF16, {elements});
  if (fill) {
    std::minstd_rand rng(static_cast<uint32_t>(key.size() * 7919 + key.back()));
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    for (int64_t i = 0; i < elements; ++i) h.Set(i, u(rng));
  }
  TF_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(h.bytes.size()));
  if (fill) TF_RETURN_IF_ERROR(b.Upload(h.bytes.data(), h.bytes.size()));
  void* data = b.data();
  SweepBuffers().emplace(std::move(key), std::move(b));
  return data;
}

}  // namespace

absl::Status SweepTensors(const SweepPoint& p, std::vector<TensorArg>& in, std::vector<TensorArg>& out) {
  TF_ASSIGN_OR_RETURN(void* x, SweepBuffer({0, p.m, p.k}, p.m * p.k, true));
  TF_ASSIGN_OR_RETURN(void* w, SweepBuffer({1, p.n, p.k}, p.n * p.k, true));
  TF_ASSIGN_OR_RETURN(void* y, SweepBuffer({2, p.m, p.n}, p.m * p.n, false));
  in = {TensorArg::Make(x, DType::kBF16, {p.m, p.k}), TensorArg::Make(w, DType::kBF16, {p.n, p.k})};
  if (p.bias_silu) {
    TF_ASSIGN_OR_RETURN(void* b, SweepBuffer({3, p.n}, p.n, true));
    in.push_back(TensorArg::Make(b, DType::kBF16, {p.n}));
  }
  out = {TensorArg::Make(y, DType::kBF16, {p.m, p.n})};
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SweepPoint>> SweepPoints() {
  std::vector<SweepPoint> points;
  const std::pair<int64_t, int64_t> shapes[] = {{4096, 6144}, {4096, 4096}, {4096, 28672}, {14336, 4096}};
  for (const auto& [k, n] : shapes) {
    for (bool bias_silu : {false, true}) {
      for (int64_t m : {1, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 8192}) {
        SweepPoint p;
        p.k = k;
        p.n = n;
        p.m = m;
        p.bias_silu = bias_silu;
        p.name = absl::StrCat("sweep/K", k, "xN", n, bias_silu ? "/bias_silu" : "/plain", "/M=", m);
        TF_ASSIGN_OR_RETURN(Graph fixed, GraphFromJson(SweepJson(absl::StrCat(m), k, n, bias_silu)));
        TF_ASSIGN_OR_RETURN(Graph symbolic, GraphFromJson(SweepJson("\"M\"", k, n, bias_silu)));
        p.fixed = CatalogEntry{p.name, std::move(fixed), {}};
        p.symbolic = CatalogEntry{p.name, std::move(symbolic), {{"M", m}}};
        points.push_back(std::move(p));
      }
    }
  }
  return points;
}

void PrintSweepSummary(const std::vector<SweepRow>& rows, double copy_tbps) {
  struct Acc {
    double log_sum = 0, worst = 0;
    int n = 0;
  };
  std::map<std::string, Acc> groups;  // "plain static <=16" and so on
  std::printf("\n%-44s %9s %10s %10s %7s\n", "sweep row", "variant", "us", "cuBLAS us", "ratio");
  for (const SweepRow& r : rows) {
    if (r.us <= 0 || r.cublas_us <= 0) continue;
    const double ratio = r.us / r.cublas_us;
    std::printf("%-44s %9s %10.1f %10.1f %7.3f\n", r.point->name.c_str(), r.variant.c_str(), r.us, r.cublas_us, ratio);
    const char* range = r.point->m <= 16 ? "M <= 16" : r.point->m <= 256 ? "17 <= M <= 256" : "M > 256";
    Acc& a = groups[absl::StrCat(r.point->bias_silu ? "bias_silu" : "plain", " ", r.variant, ", ", range)];
    a.log_sum += std::log(ratio);
    a.worst = std::max(a.worst, ratio);
    ++a.n;
  }
  std::printf("\n%-40s %8s %8s %5s   (tilefuse time over cuBLAS (+ epilogue kernels) time)\n", "sweep summary",
              "geomean", "worst", "rows");
  for (const auto& [name, a] : groups) {
    std::printf("%-40s %8.3f %8.3f %5d\n", name.c_str(), std::exp(a.log_sum / a.n), a.worst, a.n);
  }
  if (copy_tbps <= 0) return;
  std::printf("\nweight reads at M <= 16 (K x N bf16 over the time), against the copy's %.2f TB/s:\n", copy_tbps);
  for (const SweepRow& r : rows) {
    if (r.point->m > 16 || r.us <= 0) continue;
    const double tbps = 2.0 * r.point->k * r.point->n / (r.us * 1e-6) / 1e12;
    std::printf("  %-44s %9s %6.2f TB/s  %5.1f%% of copy\n", r.point->name.c_str(), r.variant.c_str(), tbps,
                100.0 * tbps / copy_tbps);
  }
}

}  // namespace tilefuse::internal
