#include "bench/cublaslt_f8.h"

#include <cublasLt.h>
#include <dlfcn.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "runtime/fusion/f8_gemm.h"

namespace tilefuse::internal {
namespace {

cudaDataType_t LtType(DType t) {
  switch (t) {
    case DType::kF8E4M3: return CUDA_R_8F_E4M3;
    case DType::kF8E5M2: return CUDA_R_8F_E5M2;
    case DType::kF16: return CUDA_R_16F;
    default: return CUDA_R_16BF;
  }
}

}  // namespace

std::optional<F8GemmInputs> FindF8GemmInputs(const Graph& g, int matmul) {
  const Node& mm = g.node(matmul);
  const Node& b = g.node(mm.inputs[1]);
  if (b.kind != NodeKind::kView || b.view != ViewOp::kTranspose) return std::nullopt;
  // cuBLASLt's scale pointers hold one f32 each.
  const auto per_tensor = [&](const std::optional<ScaledF8>& x) {
    return x && x->s >= 0 && g.node(x->s).dtype == DType::kF32 && Numel(g.node(x->s).shape) == SizeExpr{1, {}};
  };
  const auto a = ScaledF8Of(g, mm.inputs[0]), w = ScaledF8Of(g, b.inputs[0]);
  if (!per_tensor(a) || !per_tensor(w)) return std::nullopt;
  return F8GemmInputs{a->q, a->s, w->q, w->s};
}

struct CublasLtF8::Api {
  void* lib = nullptr;
  decltype(&cublasLtCreate) create = nullptr;
  decltype(&cublasLtDestroy) destroy = nullptr;
  decltype(&cublasLtMatmulDescCreate) desc_create = nullptr;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) layout_create = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic = nullptr;
  decltype(&cublasLtMatmul) matmul = nullptr;
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace_bytes = 32u << 20;
};

absl::StatusOr<std::unique_ptr<CublasLtF8>> CublasLtF8::Create(DType a, DType w, DType out, int64_t m, int64_t n,
                                                               int64_t k) {
  std::unique_ptr<CublasLtF8> r(new CublasLtF8());
  r->api_ = std::make_unique<Api>();
  Api& api = *r->api_;
  for (const char* name : {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"}) {
    if ((api.lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
  }
  if (api.lib == nullptr) return absl::FailedPreconditionError("libcublasLt is not available");
  const auto sym = [&](auto& f, const char* name) { f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(api.lib, name)); };
  sym(api.create, "cublasLtCreate");
  sym(api.destroy, "cublasLtDestroy");
  sym(api.desc_create, "cublasLtMatmulDescCreate");
  sym(api.desc_destroy, "cublasLtMatmulDescDestroy");
  sym(api.desc_set, "cublasLtMatmulDescSetAttribute");
  sym(api.layout_create, "cublasLtMatrixLayoutCreate");
  sym(api.layout_destroy, "cublasLtMatrixLayoutDestroy");
  sym(api.pref_create, "cublasLtMatmulPreferenceCreate");
  sym(api.pref_destroy, "cublasLtMatmulPreferenceDestroy");
  sym(api.pref_set, "cublasLtMatmulPreferenceSetAttribute");
  sym(api.heuristic, "cublasLtMatmulAlgoGetHeuristic");
  sym(api.matmul, "cublasLtMatmul");
  if (!api.create || !api.destroy || !api.desc_create || !api.desc_destroy || !api.desc_set || !api.layout_create ||
      !api.layout_destroy || !api.pref_create || !api.pref_destroy || !api.pref_set || !api.heuristic || !api.matmul) {
    return absl::FailedPreconditionError("libcublasLt lacks an entry point");
  }
  const auto check = [](cublasStatus_t s, const char* what) {
    return s == CUBLAS_STATUS_SUCCESS ? absl::OkStatus()
                                      : absl::FailedPreconditionError(absl::StrCat(what, " returned ", static_cast<int>(s)));
  };
  if (absl::Status s = check(api.create(&api.handle), "cublasLtCreate"); !s.ok()) return s;
  // Row-major y = a w^T is column-major y^T [N, M] = w [K, N]^T x a [K, M]: "TN", the layout
  // cuBLASLt's fp8 kernels take.
  if (absl::Status s = check(api.desc_create(&api.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate"); !s.ok()) {
    return s;
  }
  const int32_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  const int8_t fast = 1;
  api.desc_set(api.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
  api.desc_set(api.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
  api.desc_set(api.desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast));
  api.layout_create(&api.la, LtType(w), k, n, k);
  api.layout_create(&api.lb, LtType(a), k, m, k);
  api.layout_create(&api.lc, LtType(out), n, m, n);
  // Scale pointers must be set before the heuristic: they select the scaled kernels.
  const void* placeholder = nullptr;
  api.desc_set(api.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &placeholder, sizeof(placeholder));
  api.desc_set(api.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &placeholder, sizeof(placeholder));
  cublasLtMatmulPreference_t pref = nullptr;
  api.pref_create(&pref);
  api.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &api.workspace_bytes, sizeof(api.workspace_bytes));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t hs = api.heuristic(api.handle, api.desc, api.la, api.lb, api.lc, api.lc, pref, 1, &result, &found);
  api.pref_destroy(pref);
  if (hs != CUBLAS_STATUS_SUCCESS || found == 0) {
    return absl::FailedPreconditionError(absl::StrCat("cublasLt has no fp8 algorithm (status ", static_cast<int>(hs), ")"));
  }
  api.algo = result.algo;
  auto ws = DeviceBuffer::Allocate(api.workspace_bytes);
  if (!ws.ok()) return ws.status();
  r->workspace_ = std::move(*ws);
  return r;
}

CublasLtF8::~CublasLtF8() {
  if (!api_ || api_->handle == nullptr) return;
  for (cublasLtMatrixLayout_t l : {api_->la, api_->lb, api_->lc}) {
    if (l != nullptr) api_->layout_destroy(l);
  }
  if (api_->desc != nullptr) api_->desc_destroy(api_->desc);
  api_->destroy(api_->handle);
}

absl::Status CublasLtF8::Run(CUstream stream, const void* a, const void* sa, const void* w, const void* sw, void* y) {
  Api& api = *api_;
  // The scales are device pointers of the run's inputs: set per call (a host-side store).
  api.desc_set(api.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sw, sizeof(sw));
  api.desc_set(api.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sa, sizeof(sa));
  const float alpha = 1.f, beta = 0.f;
  const cublasStatus_t s = api.matmul(api.handle, api.desc, &alpha, w, api.la, a, api.lb, &beta, y, api.lc, y, api.lc,
                                      &api.algo, workspace_.data(), api.workspace_bytes,
                                      reinterpret_cast<cudaStream_t>(stream));
  if (s != CUBLAS_STATUS_SUCCESS) return absl::InternalError(absl::StrCat("cublasLtMatmul returned ", static_cast<int>(s)));
  return absl::OkStatus();
}

}  // namespace tilefuse::internal
