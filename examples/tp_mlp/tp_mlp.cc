// tp_mlp: a tensor-parallel Llama MLP over NCCL, each rank's part a tilefuse plan.
//
//   tp_mlp [--ranks R] [--procs] [--after-reduce] [--m 16,128,4096] [--hidden H] [--inter I]
//          [--iters N] [--cache-dir DIR]
//
// Rank r runs on GPU r (mlp_model.h says what it holds); its plan ends in a partial `out`
// that ncclAllReduce sums in place. Without --procs one process drives every GPU, a
// thread per rank, sharing one KernelCache; with --procs each rank is a process of its own
// (the usual engine layout), and the processes share the disk cache only. Either way each
// kernel is compiled once for the host: the tool counts NVRTC runs against the entries of
// the disk cache (a fresh folder unless --cache-dir). Rank 0 then runs the whole MLP as one
// plan on its GPU and compares (bf16 tolerance). Prints per-rank median times.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "examples/tp_mlp/mlp_model.h"
#include "examples/tp_mlp/nccl_api.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "runtime/status_macros.h"

extern char** environ;

namespace tilefuse::internal::example {
namespace {

struct Args {
  int ranks = 0;  // 0: every GPU
  bool procs = false;
  Placement placement = Placement::kRank0;
  std::vector<int64_t> ms{16, 128, 4096};
  MlpShape shape;
  int iters = 20;
  std::string cache_dir;
  // A rank process of --procs: its rank, the NCCL id (hex) and where to write its report.
  int rank = -1;
  std::string nccl_id, report;
};

absl::StatusOr<Args> ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    const auto value = [&]() -> absl::StatusOr<std::string> {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(f, " needs a value"));
      return std::string(argv[++i]);
    };
    const auto number = [&](auto* out) -> absl::Status {
      TF_ASSIGN_OR_RETURN(std::string v, value());
      if (!absl::SimpleAtoi(v, out) || *out <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(f, " takes a positive integer, got '", v, "'"));
      }
      return absl::OkStatus();
    };
    if (f == "--ranks") {
      TF_RETURN_IF_ERROR(number(&a.ranks));
    } else if (f == "--procs") {
      a.procs = true;
    } else if (f == "--after-reduce") {
      a.placement = Placement::kAfterReduce;
    } else if (f == "--m") {
      TF_ASSIGN_OR_RETURN(std::string v, value());
      a.ms.clear();
      for (absl::string_view m : absl::StrSplit(v, ',')) {
        int64_t n = 0;
        if (!absl::SimpleAtoi(m, &n) || n <= 0) return absl::InvalidArgumentError(absl::StrCat("bad --m entry '", m, "'"));
        a.ms.push_back(n);
      }
    } else if (f == "--hidden") {
      TF_RETURN_IF_ERROR(number(&a.shape.hidden));
    } else if (f == "--inter") {
      TF_RETURN_IF_ERROR(number(&a.shape.inter));
    } else if (f == "--iters") {
      TF_RETURN_IF_ERROR(number(&a.iters));
    } else if (f == "--cache-dir") {
      TF_ASSIGN_OR_RETURN(a.cache_dir, value());
    } else if (f == "--rank") {
      TF_ASSIGN_OR_RETURN(std::string v, value());
      if (!absl::SimpleAtoi(v, &a.rank) || a.rank < 0) return absl::InvalidArgumentError("bad --rank");
    } else if (f == "--nccl-id") {
      TF_ASSIGN_OR_RETURN(a.nccl_id, value());
    } else if (f == "--report") {
      TF_ASSIGN_OR_RETURN(a.report, value());
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", f, "' (see the comment atop tp_mlp.cc)"));
    }
  }
  return a;
}

std::string Hex(const ncclUniqueId& id) {
  std::string s;
  for (char c : id.internal) absl::StrAppend(&s, absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
  return s;
}

absl::StatusOr<ncclUniqueId> FromHex(const std::string& s) {
  ncclUniqueId id;
  if (s.size() != 2 * sizeof(id.internal)) return absl::InvalidArgumentError("bad --nccl-id");
  for (size_t i = 0; i < sizeof(id.internal); ++i) {
    id.internal[i] = static_cast<char>(std::stoi(s.substr(2 * i, 2), nullptr, 16));
  }
  return id;
}

double Median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

TensorArg Arg(const DeviceBuffer& b, std::initializer_list<int64_t> shape) {
  return TensorArg::Make(b.data(), DType::kBF16, shape);
}

// A device copy of host bf16 values.
absl::StatusOr<DeviceBuffer> Upload(const std::vector<uint16_t>& v) {
  TF_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(v.size() * 2));
  TF_RETURN_IF_ERROR(b.Upload(v.data(), v.size() * 2));
  return b;
}

// Kernels built by NVRTC now (not found in memory or on disk).
int64_t Compiled(const Plan& p) {
  return std::count_if(p.reports().begin(), p.reports().end(), [](const KernelReport& r) { return !r.cache_hit; });
}

absl::StatusOr<Plan> CompileJson(const std::string& json, int device, KernelCache& cache, DiskCache& disk) {
  TF_ASSIGN_OR_RETURN(Graph g, GraphFromJson(json));
  CompileOptions o;
  o.device = device;
  o.cache = &cache;
  o.disk_cache = &disk;
  return Compile(g, o);
}

// What a rank did: its log, the kernels NVRTC built for it, and (rank 0) its results.
struct Outcome {
  std::string log;
  int64_t compiled = 0;
  std::vector<std::vector<uint16_t>> outputs;  // rank 0: the reduced `out` of each M
};

absl::Status RunRank(const Args& a, int rank, ncclComm_t comm, const Weights& w, KernelCache& cache,
                     DiskCache& disk, Outcome& result) {
  TF_ASSIGN_OR_RETURN(const Nccl* nccl, LoadNccl());
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_RETURN_IF_ERROR(UseDevice(rank).status());
  const MlpShape& s = a.shape;
  const int64_t part = s.inter / a.ranks, h = s.hidden;
  const bool epilogue_here = a.placement == Placement::kRank0 && rank == 0;
  TF_ASSIGN_OR_RETURN(Plan mlp, CompileJson(MlpGraphJson(s, part, epilogue_here), rank, cache, disk));
  std::optional<Plan> post;
  if (a.placement == Placement::kAfterReduce) {
    TF_ASSIGN_OR_RETURN(post, CompileJson(AddBiasResidualGraphJson(s), rank, cache, disk));
    result.compiled += Compiled(*post);
  }
  result.compiled += Compiled(mlp);
  absl::StrAppend(&result.log, "rank ", rank, ": ", mlp.num_kernels(), " kernels",
                  post ? absl::StrCat(" + ", post->num_kernels(), " after the all-reduce") : "", "\n");

  const WeightSlice ws = SliceWeights(s, w, rank, a.ranks);
  const int64_t max_m = *std::max_element(a.ms.begin(), a.ms.end());
  TF_ASSIGN_OR_RETURN(DeviceBuffer gate, Upload(ws.gate));
  TF_ASSIGN_OR_RETURN(DeviceBuffer up, Upload(ws.up));
  TF_ASSIGN_OR_RETURN(DeviceBuffer down, Upload(ws.down));
  TF_ASSIGN_OR_RETURN(DeviceBuffer bias, Upload(w.bias));
  TF_ASSIGN_OR_RETURN(DeviceBuffer x, DeviceBuffer::Allocate(max_m * h * 2));
  TF_ASSIGN_OR_RETURN(DeviceBuffer residual, DeviceBuffer::Allocate(max_m * h * 2));
  TF_ASSIGN_OR_RETURN(DeviceBuffer partial, DeviceBuffer::Allocate(max_m * h * 2));
  TF_ASSIGN_OR_RETURN(DeviceBuffer out, DeviceBuffer::Allocate(max_m * h * 2));
  CUstream stream = nullptr;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate"));
  CUevent ev[4];
  for (CUevent& e : ev) TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate"));

  for (int64_t m : a.ms) {
    TF_RETURN_IF_ERROR(x.Upload(RandomBf16(1000 + m, m * h, 1.0f).data(), m * h * 2));
    TF_RETURN_IF_ERROR(residual.Upload(RandomBf16(2000 + m, m * h, 1.0f).data(), m * h * 2));
    // Rank 0's epilogue writes `out` (partial + bias + residual); the others a partial.
    const DeviceBuffer& reduced = a.placement == Placement::kRank0 ? partial : out;
    std::vector<TensorArg> ins = {Arg(x, {m, h}), Arg(gate, {part, h}), Arg(up, {part, h}), Arg(down, {h, part})};
    if (epilogue_here) ins.insert(ins.end(), {Arg(bias, {h}), Arg(residual, {m, h})});
    const auto step = [&]() -> absl::Status {
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventRecord(ev[0], stream), "cuEventRecord"));
      TF_RETURN_IF_ERROR(mlp.Run(stream, ins, {Arg(partial, {m, h})}));
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventRecord(ev[1], stream), "cuEventRecord"));
      TF_RETURN_IF_ERROR(nccl->Check(nccl->AllReduce(partial.data(), partial.data(), m * h, ncclBfloat16, ncclSum, comm,
                                                     reinterpret_cast<cudaStream_t>(stream)),
                                     "ncclAllReduce"));
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventRecord(ev[2], stream), "cuEventRecord"));
      if (post) {
        TF_RETURN_IF_ERROR(post->Run(stream, {Arg(partial, {m, h}), Arg(bias, {h}), Arg(residual, {m, h})},
                                     {Arg(out, {m, h})}));
      }
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventRecord(ev[3], stream), "cuEventRecord"));
      return cu->Check(cu->cuEventSynchronize(ev[3]), "cuEventSynchronize");
    };
    TF_RETURN_IF_ERROR(step());  // warm-up; its result is the one checked
    if (rank == 0) {
      std::vector<uint16_t> host(m * h);
      TF_RETURN_IF_ERROR(reduced.Download(host.data(), host.size() * 2));
      result.outputs.push_back(std::move(host));
    }
    std::vector<float> t_mlp, t_reduce, t_post, t_all;
    for (int it = 0; it < a.iters; ++it) {
      TF_RETURN_IF_ERROR(step());
      float ms[3];
      for (int k = 0; k < 3; ++k) {
        TF_RETURN_IF_ERROR(cu->Check(cu->cuEventElapsedTime(&ms[k], ev[k], ev[k + 1]), "cuEventElapsedTime"));
      }
      t_mlp.push_back(ms[0] * 1e3f);
      t_reduce.push_back(ms[1] * 1e3f);
      t_post.push_back(ms[2] * 1e3f);
      t_all.push_back((ms[0] + ms[1] + ms[2]) * 1e3f);
    }
    absl::StrAppend(&result.log, "rank ", rank, " M=", m, ": mlp ", Median(t_mlp), " us, all-reduce ",
                    Median(t_reduce), " us", post ? absl::StrCat(", bias+residual ", Median(t_post), " us") : "",
                    ", total ", Median(t_all), " us (median of ", a.iters, ")\n");
  }
  for (CUevent e : ev) cu->cuEventDestroy(e);
  cu->cuStreamDestroy(stream);
  return absl::OkStatus();
}

// Rank 0's GPU runs the whole MLP as one plan; each reduced output must match it.
absl::Status CheckAgainstOneGpu(const Args& a, const Weights& w, KernelCache& cache, DiskCache& disk,
                                const std::vector<std::vector<uint16_t>>& reduced, Outcome& result) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_RETURN_IF_ERROR(UseDevice(0).status());
  const MlpShape& s = a.shape;
  const int64_t h = s.hidden, i = s.inter;
  TF_ASSIGN_OR_RETURN(Plan full, CompileJson(MlpGraphJson(s, i, true), 0, cache, disk));
  result.compiled += Compiled(full);
  TF_ASSIGN_OR_RETURN(DeviceBuffer gate, Upload(w.gate));
  TF_ASSIGN_OR_RETURN(DeviceBuffer up, Upload(w.up));
  TF_ASSIGN_OR_RETURN(DeviceBuffer down, Upload(w.down));
  TF_ASSIGN_OR_RETURN(DeviceBuffer bias, Upload(w.bias));
  CUevent ev[2];
  for (CUevent& e : ev) TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate"));
  bool ok = true;
  for (size_t k = 0; k < a.ms.size(); ++k) {
    const int64_t m = a.ms[k];
    TF_ASSIGN_OR_RETURN(DeviceBuffer x, Upload(RandomBf16(1000 + m, m * h, 1.0f)));
    TF_ASSIGN_OR_RETURN(DeviceBuffer residual, Upload(RandomBf16(2000 + m, m * h, 1.0f)));
    TF_ASSIGN_OR_RETURN(DeviceBuffer out, DeviceBuffer::Allocate(m * h * 2));
    const std::vector<TensorArg> ins = {Arg(x, {m, h}),      Arg(gate, {i, h}), Arg(up, {i, h}),
                                        Arg(down, {h, i}),   Arg(bias, {h}),    Arg(residual, {m, h})};
    std::vector<float> times;
    for (int it = 0; it <= a.iters; ++it) {
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventRecord(ev[0], nullptr), "cuEventRecord"));
      TF_RETURN_IF_ERROR(full.Run(nullptr, ins, {Arg(out, {m, h})}));
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventRecord(ev[1], nullptr), "cuEventRecord"));
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventSynchronize(ev[1]), "cuEventSynchronize"));
      float ms = 0;
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventElapsedTime(&ms, ev[0], ev[1]), "cuEventElapsedTime"));
      if (it > 0) times.push_back(ms * 1e3f);
    }
    std::vector<uint16_t> want(m * h);
    TF_RETURN_IF_ERROR(out.Download(want.data(), want.size() * 2));
    const std::vector<uint16_t>& got = reduced[k];
    double max_err = 0;
    int64_t bad = 0;
    for (int64_t e = 0; e < m * h; ++e) {
      const double g = FromBf16(got[e]), r = FromBf16(want[e]), err = std::fabs(g - r);
      max_err = std::max(max_err, err);
      if (!(err <= 2e-2 + 2e-2 * std::fabs(r))) ++bad;  // bf16: two roundings of each partial
    }
    ok &= bad == 0;
    absl::StrAppend(&result.log, "one GPU M=", m, ": ", Median(times), " us; tensor-parallel result ",
                    bad == 0 ? "matches" : "DIFFERS", " (max abs error ", max_err, ", ", bad,
                    " elements outside 2e-2 + 2e-2 |ref|)\n");
  }
  for (CUevent e : ev) cu->cuEventDestroy(e);
  if (!ok) return absl::InternalError("the tensor-parallel MLP does not match the one-GPU plan");
  return absl::OkStatus();
}

int64_t CountEntries(const std::string& dir) {
  int64_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); it != std::filesystem::end(it);
       it.increment(ec)) {
    n += it->path().extension() == ".tfk";
  }
  return n;
}

// Compare what NVRTC built, summed over ranks, with the kernels the cache holds.
int ReportCompiles(int64_t compiled, const std::string& cache_dir, int processes) {
  const int64_t entries = CountEntries(cache_dir);
  std::printf("NVRTC compiles: %lld over %d process%s; disk cache entries: %lld (%s)\n",
              static_cast<long long>(compiled), processes, processes == 1 ? "" : "es",
              static_cast<long long>(entries),
              compiled == entries ? "each kernel compiled once" : "SOME KERNEL COMPILED TWICE OR NOT STORED");
  return compiled == entries ? 0 : 1;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "tp_mlp: %s\n", std::string(s.message()).c_str());
  return 1;
}

// One rank of --procs: its own process, GPU `rank`.
int RankProcess(const Args& a) {
  auto nccl = LoadNccl();
  if (!nccl.ok()) return Fail(nccl.status());
  auto id = FromHex(a.nccl_id);
  if (!id.ok()) return Fail(id.status());
  if (auto s = UseDevice(a.rank); !s.ok()) return Fail(s.status());
  ncclComm_t comm;
  if (auto s = (*nccl)->Check((*nccl)->CommInitRank(&comm, a.ranks, *id, a.rank), "ncclCommInitRank"); !s.ok()) {
    return Fail(s);
  }
  KernelCache cache;
  DiskCache disk(DiskCacheOptions{a.cache_dir});
  const Weights w = MakeWeights(a.shape, 7);
  Outcome result;
  absl::Status s = RunRank(a, a.rank, comm, w, cache, disk, result);
  (*nccl)->CommDestroy(comm);
  if (s.ok() && a.rank == 0) s = CheckAgainstOneGpu(a, w, cache, disk, result.outputs, result);
  std::fputs(result.log.c_str(), stdout);
  std::ofstream(a.report) << result.compiled << "\n";
  return s.ok() ? 0 : Fail(s);
}

int Main(int argc, char** argv) {
  // NVLink multicast stays off (it can take a shared host's GPUs down); a caller's setting wins.
  setenv("NCCL_NVLS_ENABLE", "0", 0);
  auto parsed = ParseArgs(argc, argv);
  if (!parsed.ok()) return Fail(parsed.status());
  Args a = *parsed;
  if (a.rank >= 0) return RankProcess(a);
  auto nccl = LoadNccl();
  if (!nccl.ok()) return Fail(nccl.status());
  auto cu = Driver::Get();
  if (!cu.ok()) return Fail(cu.status());
  int devices = 0;
  (*cu)->cuDeviceGetCount(&devices);
  if (a.ranks == 0) a.ranks = devices;
  if (a.ranks > devices) return Fail(absl::InvalidArgumentError(absl::StrCat("--ranks ", a.ranks, " but ", devices, " GPUs")));
  if (a.shape.inter % a.ranks != 0) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--inter ", a.shape.inter, " does not split into ", a.ranks, " ranks")));
  }
  if (a.cache_dir.empty()) {
    char tmpl[] = "/tmp/tp_mlp_cache_XXXXXX";  // fresh, so that the compile count starts at zero
    if (mkdtemp(tmpl) == nullptr) return Fail(absl::InternalError("mkdtemp failed"));
    a.cache_dir = tmpl;
  }
  int version = 0;
  (*nccl)->GetVersion(&version);
  std::printf("tp_mlp: %d ranks (%s), H %lld, I %lld, NCCL %d, bias and residual %s, cache %s\n", a.ranks,
              a.procs ? "a process each" : "one process, a thread each", static_cast<long long>(a.shape.hidden),
              static_cast<long long>(a.shape.inter), version,
              a.placement == Placement::kRank0 ? "in rank 0's epilogue" : "after the all-reduce", a.cache_dir.c_str());
  std::fflush(stdout);
  if (a.procs) {
    ncclUniqueId id;
    if (auto s = (*nccl)->Check((*nccl)->GetUniqueId(&id), "ncclGetUniqueId"); !s.ok()) return Fail(s);
    std::vector<pid_t> pids;
    for (int r = 0; r < a.ranks; ++r) {
      std::vector<std::string> args(argv, argv + argc);
      args.insert(args.end(), {"--ranks", std::to_string(a.ranks), "--cache-dir", a.cache_dir, "--rank",
                               std::to_string(r), "--nccl-id", Hex(id), "--report",
                               absl::StrCat(a.cache_dir, "/rank", r, ".compiles")});
      std::vector<char*> cargs;
      for (std::string& s : args) cargs.push_back(s.data());
      cargs.push_back(nullptr);
      pid_t pid;
      if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, cargs.data(), environ) != 0) {
        return Fail(absl::InternalError("posix_spawn failed"));
      }
      pids.push_back(pid);
    }
    int rc = 0;
    for (pid_t p : pids) {
      int st = 0;
      waitpid(p, &st, 0);
      rc |= !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    int64_t compiled = 0;
    for (int r = 0; r < a.ranks; ++r) {
      std::ifstream in(absl::StrCat(a.cache_dir, "/rank", r, ".compiles"));
      int64_t n = 0;
      in >> n;
      compiled += n;
    }
    rc |= ReportCompiles(compiled, a.cache_dir, a.ranks);
    return rc;
  }
  std::vector<ncclComm_t> comms(a.ranks);
  std::vector<int> devs(a.ranks);
  for (int r = 0; r < a.ranks; ++r) devs[r] = r;
  if (auto s = (*nccl)->Check((*nccl)->CommInitAll(comms.data(), a.ranks, devs.data()), "ncclCommInitAll"); !s.ok()) {
    return Fail(s);
  }
  KernelCache cache;
  DiskCache disk(DiskCacheOptions{a.cache_dir});
  const Weights w = MakeWeights(a.shape, 7);
  std::vector<Outcome> results(a.ranks);
  std::vector<absl::Status> status(a.ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < a.ranks; ++r) {
    threads.emplace_back([&, r] { status[r] = RunRank(a, r, comms[r], w, cache, disk, results[r]); });
  }
  for (std::thread& t : threads) t.join();
  for (ncclComm_t c : comms) (*nccl)->CommDestroy(c);
  int rc = 0;
  int64_t compiled = 0;
  for (int r = 0; r < a.ranks; ++r) {
    std::fputs(results[r].log.c_str(), stdout);
    compiled += results[r].compiled;
    if (!status[r].ok()) rc = Fail(status[r]);
  }
  if (rc == 0) {
    Outcome check;
    const absl::Status s = CheckAgainstOneGpu(a, w, cache, disk, results[0].outputs, check);
    std::fputs(check.log.c_str(), stdout);
    compiled += check.compiled;
    if (!s.ok()) rc = Fail(s);
  }
  return rc | ReportCompiles(compiled, a.cache_dir, 1);
}

}  // namespace
}  // namespace tilefuse::internal::example

int main(int argc, char** argv) { return tilefuse::internal::example::Main(argc, argv); }
