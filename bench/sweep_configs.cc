#include "bench/sweep_configs.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "runtime/cache/kernel_cache.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/plan.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

// What a row of the grid times: a sweep point, or a catalog graph (the weight-only decode
// GEMMs, M static).
struct Subject {
  std::string name;
  const Graph* symbolic;  // forced configs run this graph (nullptr: `fixed`)
  const Graph* fixed;     // the default config runs this one
  std::function<absl::Status(std::vector<TensorArg>&, std::vector<TensorArg>&)> tensors;
  std::vector<GemmConfig> candidates;
};

struct Trial {
  const Subject* subject;
  std::optional<GemmConfig> config;  // none: the untuned default, M static
  std::optional<Plan> plan;
  std::string error;
  double us = -1;
};

GemmConfig Split(GemmConfig c, int split) {
  c.split_k = split;
  return c;
}

// The Hopper kernel's tiles for the point's M (64 rows to M = 64, 128 past it, and 64-row
// tiles to 256 too), 64 to 256 columns, deep pipelines, each unsplit and split; the
// 128 x 128 tile split (the single-tile kernel), beside the default's ping-pong one.
std::vector<GemmConfig> Candidates(const SweepPoint& p) {
  std::vector<GemmConfig> c;
  if (p.m <= 16) {
    // Decode: the mma.sync tile of 16 rows, 64 or 128 columns, its pipeline 4 to 10
    // stages deep (bytes in flight), K split 1 to 4 ways.
    for (int stages : {4, 6, 8, 10}) {
      for (int split : {1, 2, 4}) {
        c.push_back(Split(GemmConfig{16, 64, 128, 1, 4, stages}, split));
        if (stages <= 6) c.push_back(Split(GemmConfig{16, 128, 64, 1, 4, 2 * stages}, split));
      }
    }
    // The Hopper tile of 64 rows whose stages hold A's first 16 (GemmConfig::a_rows): the
    // pipeline's memory for the weight, by TMA.
    for (const auto& [stages, cols] : std::vector<std::pair<int, int>>{{8, 128}, {12, 128}, {10, 64}, {16, 64}}) {
      for (int split : {1, 2, 4}) {
        GemmConfig w = Split(WgmmaGemmConfig(stages, 64, cols), split);
        w.a_rows = 16;
        c.push_back(w);
      }
    }
    return c;
  }
  const int bm = p.m <= 64 ? 64 : 128;
  std::vector<std::tuple<int, int, int, std::vector<int>>> grid = {
      {8, bm, 64, {1, 2, 3}}, {12, bm, 64, {1, 2}}, {8, bm, 128, {1, 2, 3}}, {6, 128, 128, {1, 2, 3}}};
  if (bm == 128 && p.m <= 256) grid.push_back({8, 64, 128, {1, 2}});
  // 64-row tiles of 192 and 256 columns, K split up to 4 ways (N = 6144: 32 or 24 column
  // tiles, 128 or 96 CTAs split 4).
  if (p.m <= 256) {
    grid.push_back({5, 64, 192, {1, 2, 3, 4}});
    grid.push_back({4, 64, 256, {1, 2, 4}});
    grid.push_back({8, 64, 128, {4}});
  }
  if (bm == 128) {
    grid.push_back({5, 128, 192, {1, 2, 4}});
    grid.push_back({4, 128, 192, {1}});
    grid.push_back({4, 128, 256, {1, 2}});
    grid.push_back({3, 128, 256, {1}});
  }
  for (const auto& [stages, rows, cols, splits] : grid) {
    for (int split : splits) c.push_back(Split(WgmmaGemmConfig(stages, rows, cols), split));
  }
  // The ping-pong kernel alone and in clusters sharing B (GemmConfig::multicast), and with
  // other tile walks (GemmConfig::group: 8 rows of tiles by default).
  if (bm == 128) {
    c.push_back(WgmmaGemmConfig(5));
    c.push_back(MulticastGemmConfig());
    for (int group : {1, 2, 4, 16, 32}) {
      GemmConfig g = WgmmaGemmConfig(5);
      g.group = group;
      c.push_back(g);
    }
  }
  return c;
}

// The skinny kernel (the weight-only decode GEMM): 4 or 8 warps, its TMA form's stages of
// 128 to 512 bytes of each weight row, 2 to 6 deep, K split 1 to 4 ways.
std::vector<GemmConfig> SkinnyCandidates() {
  std::vector<GemmConfig> c;
  for (int warps : {4, 8}) {
    for (int bk : {128, 256, 512}) {
      for (int stages : {2, 3, 4, 6}) {
        for (int split : {1, 2, 4}) {
          GemmConfig g{16, 16 * warps, bk, 1, warps, stages};
          g.skinny = true;
          g.split_k = split;
          if (ValidateGemmConfig(g).ok()) c.push_back(g);
        }
      }
    }
  }
  return c;
}

}  // namespace

absl::Status RunSweepConfigs(GpuTimer& timer, const std::vector<SweepPoint>& points, int64_t only_m,
                             const std::vector<CatalogEntry>* catalog, const std::string& only) {
  std::vector<Subject> subjects;
  for (const SweepPoint& p : points) {
    if (p.bias_silu || (only_m > 0 && p.m != only_m) || (only_m <= 0 && p.m > 1024)) continue;
    subjects.push_back(Subject{p.name, &p.symbolic.graph, &p.fixed.graph,
                               [&p](std::vector<TensorArg>& in, std::vector<TensorArg>& out) {
                                 return SweepTensors(p, in, out);
                               },
                               Candidates(p)});
  }
  std::map<std::string, DeviceTensors> held;  // the catalog graphs' tensors, made once
  if (catalog != nullptr && (only_m <= 0 || only_m == 16)) {
    for (const CatalogEntry& e : *catalog) {
      if (e.file.find("a16_decode") == std::string::npos) continue;
      subjects.push_back(Subject{e.file, nullptr, &e.graph,
                                 [&e, &held](std::vector<TensorArg>& in, std::vector<TensorArg>& out) -> absl::Status {
                                   if (!held.count(e.file)) {
                                     TF_ASSIGN_OR_RETURN(DeviceTensors t, MakeTensors(e, 1234));
                                     held.emplace(e.file, std::move(t));
                                   }
                                   in = held.at(e.file).inputs;
                                   out = held.at(e.file).outputs;
                                   return absl::OkStatus();
                                 },
                                 SkinnyCandidates()});
    }
  }
  std::vector<Trial> trials;
  for (const Subject& s : subjects) {
    if (!only.empty() && s.name.find(only) == std::string::npos) continue;
    trials.push_back(Trial{.subject = &s, .config = std::nullopt, .plan = std::nullopt, .error = {}});
    for (const GemmConfig& c : s.candidates) {
      trials.push_back(Trial{.subject = &s, .config = c, .plan = std::nullopt, .error = {}});
    }
  }
  // Compiles first, in parallel: one plan per trial, one binary per signature.
  KernelCache cache;
  const std::string arch = timer.device().Arch();
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  const unsigned n = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  for (unsigned w = 0; w < n; ++w) {
    workers.emplace_back([&] {
      for (size_t i = next++; i < trials.size(); i = next++) {
        Trial& t = trials[i];
        CompileOptions o;
        o.arch = arch;
        o.cache = &cache;
        o.gemm_config = t.config;
        // Forced configs on the symbolic graph: one binary serves every M of a shape; those
        // of 16-row A stages serve M <= 16 alone (a class of the symbolic graph), so they
        // take the static one.
        const bool symbolic = t.config && t.config->a_rows == 0 && t.subject->symbolic != nullptr;
        auto plan = Compile(symbolic ? *t.subject->symbolic : *t.subject->fixed, o);
        if (!plan.ok()) {
          t.error = std::string(plan.status().message());
          continue;
        }
        const GemmConfig& got = plan->fusion_plan().kernels[0].spec.gemm;
        if (t.config && got.ToString() != t.config->ToString()) {
          t.error = absl::StrCat("planned ", got.ToString());
          continue;
        }
        t.plan = std::move(*plan);
      }
    });
  }
  for (std::thread& w : workers) w.join();

  std::printf("\n%-36s %-32s %10s\n", "sweep config grid (plain)", "config", "median us");
  const Subject* current = nullptr;
  double best_us = 0;
  std::string best;
  const auto finish = [&] {
    if (current != nullptr) std::printf("%-36s best %-27s %10.2f\n", current->name.c_str(), best.c_str(), best_us);
  };
  for (Trial& t : trials) {
    if (t.subject != current) {
      finish();
      current = t.subject;
      best_us = 0;
    }
    const std::string name = t.config ? t.config->ToString() : "default (static M)";
    if (!t.plan) {
      std::printf("%-36s %-32s %10s  %s\n", t.subject->name.c_str(), name.c_str(), "-", t.error.c_str());
      continue;
    }
    std::vector<TensorArg> in, out;
    TF_RETURN_IF_ERROR(t.subject->tensors(in, out));
    std::vector<double> us;
    absl::Status failed;
    for (int i = 0; i < 28 && failed.ok(); ++i) {
      auto ms = timer.Time([&] { return t.plan->Run(timer.stream(), in, out); });
      if (!ms.ok()) failed = ms.status();
      else if (i >= 3) us.push_back(*ms * 1e3);
    }
    if (!failed.ok()) {
      std::printf("%-36s %-32s %10s  %s\n", t.subject->name.c_str(), name.c_str(), "-", std::string(failed.message()).c_str());
      continue;
    }
    t.us = Median(us);
    std::printf("%-36s %-32s %10.2f\n", t.subject->name.c_str(), name.c_str(), t.us);
    if (t.config && (best_us == 0 || t.us < best_us)) {
      best_us = t.us;
      best = name;
    }
  }
  finish();
  return absl::OkStatus();
}

}  // namespace tilefuse::internal
