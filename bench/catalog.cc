#include "bench/catalog.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "kernels/embedded.h"
#include "runtime/graph/json.h"
#include "runtime/reference.h"

namespace tilefuse::internal {
namespace {

// Benchmark sizes of the catalog's symbols, per file; the design's catalog shapes.
std::map<std::string, int64_t> SizesFor(const std::string& file) {
  if (file == "pointwise_scale_add_gelu.json") return {{"N", int64_t{1} << 26}};
  if (file.rfind("gemm_", 0) == 0) return {{"M", 4096}};
  if (file.rfind("rope_", 0) == 0) return {{"M", 4096}};  // Llama-3-8B's q and k heads, 4096 tokens
  if (file == "softmax_vocab.json") return {{"M", 1024}};  // Llama-3's vocabulary, 1024 tokens
  return {{"M", 16384}, {"N", int64_t{1} << 26}};
}

}  // namespace

int64_t CatalogEntry::FloorBytes() const {
  int64_t bytes = 0;
  const auto tensor_bytes = [&](int id) {
    const Node& n = graph.node(id);
    int64_t e = 1;
    for (const Dim& d : n.shape) {
      e *= d.is_static() ? d.value : sizes.at(graph.symbols()[d.symbol]);
    }
    return StorageBytes(n.dtype, e);
  };
  for (int id : graph.inputs()) bytes += tensor_bytes(id);
  for (int id : graph.outputs()) bytes += tensor_bytes(id);
  return bytes;
}

int64_t CatalogEntry::Size(const Dim& d) const {
  return d.is_static() ? d.value : sizes.at(graph.symbols()[d.symbol]);
}

double CatalogEntry::Flops() const {
  double flops = 0;
  for (const Node& n : graph.nodes()) {
    if (n.kind != NodeKind::kTile || n.custom || n.tile != TileOp::kMatmul) continue;
    const Node& a = graph.node(n.inputs[0]);
    flops += 2.0 * Size(n.shape[0]) * Size(n.shape[1]) * Size(a.shape[1]);
  }
  return flops;
}

absl::StatusOr<std::vector<CatalogEntry>> LoadCatalog() {
  std::vector<CatalogEntry> entries;
  for (const EmbeddedFile& f : EmbeddedCatalogFiles()) {
    auto g = GraphFromJson(std::string(f.text));
    if (!g.ok()) {
      return absl::Status(g.status().code(), absl::StrCat(f.name, ": ", g.status().message()));
    }
    CatalogEntry e{std::string(f.name), *std::move(g), SizesFor(std::string(f.name))};
    for (const std::string& s : e.graph.symbols()) {
      if (!e.sizes.count(s)) {
        return absl::InternalError(absl::StrCat(f.name, ": no benchmark size for symbol ", s));
      }
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

absl::StatusOr<DeviceTensors> MakeTensors(const CatalogEntry& e, uint64_t seed) {
  DeviceTensors t;
  std::mt19937_64 rng(seed);
  const Graph& g = e.graph;
  const auto add = [&](int id, bool fill, std::vector<TensorArg>& list) -> absl::Status {
    const Node& n = g.node(id);
    std::vector<int64_t> shape;
    for (const Dim& d : n.shape) shape.push_back(d.is_static() ? d.value : e.sizes.at(g.symbols()[d.symbol]));
    HostTensor h = HostTensor::Zeros(n.dtype, shape);
    if (fill) {
      // A cheap generator: 2^26-element inputs are common here.
      std::uniform_real_distribution<float> u(-2.f, 2.f);
      for (int64_t i = 0; i < h.numel(); ++i) h.Set(i, ComputeKindOf(n.dtype) == ComputeKind::kFloat ? u(rng) : (rng() % 7) - 3);
    }
    auto b = DeviceBuffer::Allocate(h.bytes.size());
    if (!b.ok()) return b.status();
    if (fill) {
      absl::Status s = b->Upload(h.bytes.data(), h.bytes.size());
      if (!s.ok()) return s;
    }
    TensorArg a;
    a.data = b->data();
    a.dtype = n.dtype;
    a.rank = static_cast<int>(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) a.shape[d] = shape[d];
    list.push_back(a);
    t.buffers.push_back(*std::move(b));
    return absl::OkStatus();
  };
  for (int id : g.inputs()) {
    absl::Status s = add(id, true, t.inputs);
    if (!s.ok()) return s;
  }
  for (int id : g.outputs()) {
    absl::Status s = add(id, false, t.outputs);
    if (!s.ok()) return s;
  }
  return t;
}

}  // namespace tilefuse::internal
