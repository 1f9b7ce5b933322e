#include "bench/cublas_baseline.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"
#include "runtime/graph/json.h"
#include "runtime/status_macros.h"
#include "nlohmann/json.hpp"

namespace tilefuse::internal {

// The few cuBLAS entry points used, with the library's integer enums spelled out.
struct CublasBaseline::Api {
  void* lib = nullptr;
  int (*create)(void**) = nullptr;
  int (*destroy)(void*) = nullptr;
  int (*set_stream)(void*, CUstream) = nullptr;
  int (*gemm_ex)(void*, int, int, int, int, int, const void*, const void*, int, int, const void*,
                 int, int, const void*, void*, int, int, int, int) = nullptr;
  // cublasGemmStridedBatchedEx: a batched matmul's GEMMs, one call.
  int (*gemm_batched)(void*, int, int, int, int, int, const void*, const void*, int, int, long long, const void*, int,
                      int, long long, const void*, void*, int, int, long long, int, int, int) = nullptr;
};

namespace {
constexpr int kOpN = 0, kOpT = 1, kR16F = 2, kR16BF = 14, kCompute32F = 68, kGemmDefault = -1;

int64_t Size(const CatalogEntry& e, const Dim& d) { return e.Size(d); }
}  // namespace

absl::StatusOr<std::unique_ptr<CublasBaseline>> CublasBaseline::Create(const CatalogEntry& e) {
  std::unique_ptr<CublasBaseline> b(new CublasBaseline());
  b->entry_ = &e;
  const Graph& g = e.graph;
  for (const Node& n : g.nodes()) {
    if (n.kind == NodeKind::kTile && !n.custom && n.tile == TileOp::kMatmul) {
      if (b->matmul_ >= 0) return absl::UnimplementedError("more than one matmul");
      b->matmul_ = n.id;
    }
  }
  if (b->matmul_ < 0) return absl::UnimplementedError("no matmul");
  b->api_ = std::make_unique<Api>();
  Api& api = *b->api_;
  for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
    if ((api.lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
  }
  if (api.lib == nullptr) return absl::FailedPreconditionError("libcublas is not available");
  api.create = reinterpret_cast<decltype(api.create)>(dlsym(api.lib, "cublasCreate_v2"));
  api.destroy = reinterpret_cast<decltype(api.destroy)>(dlsym(api.lib, "cublasDestroy_v2"));
  api.set_stream = reinterpret_cast<decltype(api.set_stream)>(dlsym(api.lib, "cublasSetStream_v2"));
  api.gemm_ex = reinterpret_cast<decltype(api.gemm_ex)>(dlsym(api.lib, "cublasGemmEx"));
  api.gemm_batched = reinterpret_cast<decltype(api.gemm_batched)>(dlsym(api.lib, "cublasGemmStridedBatchedEx"));
  if (!api.create || !api.destroy || !api.set_stream || !api.gemm_ex || !api.gemm_batched) {
    return absl::FailedPreconditionError("libcublas lacks cublasGemmEx");
  }
  if (api.create(&b->handle_) != 0) return absl::FailedPreconditionError("cublasCreate failed");

  const Node& mm0 = g.node(b->matmul_);
  // A batched matmul: [batch, M, K] operands read from memory (cublasGemmStridedBatchedEx).
  if (IsBatchedMatmul(mm0) && (mm0.shape.size() != 3 || g.node(mm0.inputs[0]).kind != NodeKind::kInput)) {
    return absl::UnimplementedError("a batched matmul other than [batch, M, K] inputs");
  }
  const auto f8 = FindF8GemmInputs(g, b->matmul_);
  if (f8 && (mm0.dtype == DType::kBF16 || mm0.dtype == DType::kF16)) {
    b->f8_inputs_ = *f8;
    TF_ASSIGN_OR_RETURN(b->f8_, CublasLtF8::Create(g.node(f8->a).dtype, g.node(f8->w).dtype, mm0.dtype,
                                                   e.Size(mm0.shape[0]), e.Size(mm0.shape[1]),
                                                   e.Size(g.node(f8->a).shape[1])));
  }
  // B must be an input or its transpose (a computed B, a dequantized weight, is not).
  const Node& bn = g.node(g.node(b->matmul_).inputs[1]);
  if (!b->f8_ && g.node(bn.kind == NodeKind::kView ? bn.inputs[0] : bn.id).kind != NodeKind::kInput) {
    return absl::UnimplementedError("the GEMM's B is computed; cuBLAS takes it from memory");
  }
  // Split the graph at the GEMM: `pre` computes its computed operand, `post` (the matmul
  // replaced by an input) everything after it.
  const Node& mm = g.node(b->matmul_);
  nlohmann::json j = nlohmann::json::parse(GraphToJson(g));
  const int a = mm.inputs[0];
  if (!b->f8_ && g.node(a).kind != NodeKind::kInput) {
    nlohmann::json pre = j;
    pre["outputs"] = {g.node(a).name};
    TF_ASSIGN_OR_RETURN(Graph pg, GraphFromJson(pre.dump()));
    TF_ASSIGN_OR_RETURN(Plan p, Compile(pg));
    b->pre_.emplace(std::move(p));
    const int64_t bytes = Size(e, g.node(a).shape[0]) * Size(e, g.node(a).shape[1]) * 2;
    TF_ASSIGN_OR_RETURN(b->a_, DeviceBuffer::Allocate(bytes));
  }
  const bool only_output = g.outputs().size() == 1 && g.outputs()[0] == b->matmul_ &&
                           g.node(g.outputs()[0]).kind == NodeKind::kTile;
  int64_t y_bytes = 2;
  for (const Dim& d : mm.shape) y_bytes *= Size(e, d);
  TF_ASSIGN_OR_RETURN(b->y_, DeviceBuffer::Allocate(y_bytes));
  if (!only_output) {
    nlohmann::json post = j;
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& n : post["nodes"]) {
      if (n["name"] != mm.name) nodes.push_back(n);
    }
    post["nodes"] = nodes;
    nlohmann::json shape = nlohmann::json::array();
    for (const Dim& d : mm.shape) shape.push_back(d.is_static() ? nlohmann::json(d.value) : nlohmann::json(g.symbols()[d.symbol]));
    post["inputs"].push_back({{"name", mm.name}, {"shape", shape}, {"dtype", DTypeName(mm.dtype)}});
    TF_ASSIGN_OR_RETURN(Graph qg, GraphFromJson(post.dump()));
    TF_ASSIGN_OR_RETURN(Plan q, Compile(qg));
    b->post_.emplace(std::move(q));
  }
  return b;
}

CublasBaseline::~CublasBaseline() {
  if (handle_ != nullptr) api_->destroy(handle_);
}

int CublasBaseline::num_kernels() const {
  return (pre_ ? pre_->num_kernels() : 0) + (post_ ? post_->num_kernels() : 0);
}

absl::Status CublasBaseline::Run(CUstream stream, const std::vector<TensorArg>& inputs,
                                 const std::vector<TensorArg>& outputs) {
  const Graph& g = entry_->graph;
  const Node& mm = g.node(matmul_);
  const auto input_arg = [&](int id) -> const TensorArg* {
    for (size_t i = 0; i < g.inputs().size(); ++i) {
      if (g.inputs()[i] == id) return &inputs[i];
    }
    return nullptr;
  };
  if (f8_) {
    void* c = post_ ? y_.data() : outputs[0].data;
    TF_RETURN_IF_ERROR(f8_->Run(stream, input_arg(f8_inputs_.a)->data, input_arg(f8_inputs_.sa)->data,
                                input_arg(f8_inputs_.w)->data, input_arg(f8_inputs_.sw)->data, c));
    if (post_) {
      std::vector<TensorArg> in = inputs;
      in.push_back(TensorArg::Make(y_.data(), mm.dtype, {entry_->Size(mm.shape[0]), entry_->Size(mm.shape[1])}));
      TF_RETURN_IF_ERROR(post_->Run(stream, in, outputs));
    }
    return absl::OkStatus();
  }
  void* a = nullptr;
  if (pre_) {
    TensorArg out = TensorArg::Make(a_.data(), mm.dtype, {entry_->Size(mm.shape[0]),
                                                           entry_->Size(g.node(mm.inputs[0]).shape[1])});
    TF_RETURN_IF_ERROR(pre_->Run(stream, inputs, {out}));
    a = a_.data();
  } else {
    a = input_arg(mm.inputs[0])->data;
  }
  // B: a transpose of a [N, K] input (the Linear layout) or a [K, N] input.
  const Node& bn = g.node(mm.inputs[1]);
  const bool transposed = bn.kind == NodeKind::kView;
  const void* w = input_arg(transposed ? bn.inputs[0] : bn.id)->data;
  const size_t rank = mm.shape.size();  // 3 for a batched matmul
  const int M = static_cast<int>(entry_->Size(mm.shape[rank - 2])), N = static_cast<int>(entry_->Size(mm.shape[rank - 1]));
  const int K = static_cast<int>(entry_->Size(g.node(mm.inputs[0]).shape[rank - 1]));
  const int type = mm.dtype == DType::kF16 ? kR16F : kR16BF;
  const float alpha = 1.f, beta = 0.f;
  const bool direct = !post_;
  void* c = direct ? outputs[0].data : y_.data();
  api_->set_stream(handle_, stream);
  // Row-major C = A x B is column-major C^T = B^T A^T.
  const long long mk = int64_t{M} * K, kn = int64_t{K} * N, mn = int64_t{M} * N;
  const int r = rank == 3 ? api_->gemm_batched(handle_, transposed ? kOpT : kOpN, kOpN, N, M, K, &alpha, w, type,
                                               transposed ? K : N, kn, a, type, K, mk, &beta, c, type, N, mn,
                                               static_cast<int>(entry_->Size(mm.shape[0])), kCompute32F, kGemmDefault)
                          : api_->gemm_ex(handle_, transposed ? kOpT : kOpN, kOpN, N, M, K, &alpha, w, type,
                                          transposed ? K : N, a, type, K, &beta, c, type, N, kCompute32F, kGemmDefault);
  if (r != 0) return absl::InternalError(absl::StrCat("cuBLAS GEMM returned ", r));
  if (post_) {
    TensorArg y = TensorArg::Make(y_.data(), mm.dtype, {});
    for (const Dim& d : mm.shape) y.shape[y.rank++] = entry_->Size(d);
    std::vector<TensorArg> in = inputs;
    in.push_back(y);
    TF_RETURN_IF_ERROR(post_->Run(stream, in, outputs));
  }
  return absl::OkStatus();
}

}  // namespace tilefuse::internal
