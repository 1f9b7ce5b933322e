// `tilefuse warmup`: compiles graph files and manifests into the disk cache ahead of time,
// so that the first request of a deployment pays no NVRTC.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/graph/json.h"
#include "runtime/manifest.h"
#include "runtime/plan.h"
#include "runtime/tools/commands.h"
#include "runtime/tools/flags.h"

namespace tilefuse::internal {
namespace {

struct Job {
  std::string source;  // the file it came from
  ManifestEntry entry;
};

// The jobs of one positional argument: a graph file, or a manifest (one entry per line).
// A manifest's bad lines go to `skipped` (the rest still compiles).
absl::StatusOr<std::vector<Job>> JobsOf(const std::string& path, const FusionSwitches& s,
                                        std::vector<std::string>& skipped) {
  auto g = GraphFromJsonFile(path);
  if (g.ok()) {
    ManifestEntry e{*std::move(g)};
    ApplyFusionSwitches(s, e);
    return std::vector<Job>{Job{path, std::move(e)}};
  }
  auto m = ReadManifest(path);
  if (!m.ok() || m->entries.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is neither a graph (", g.status().message(), ") nor a manifest (",
        m.ok() ? (m->skipped.empty() ? "no entries" : m->skipped[0]) : m.status().message(), ")"));
  }
  skipped.insert(skipped.end(), m->skipped.begin(), m->skipped.end());
  std::vector<Job> jobs;
  for (ManifestEntry& e : m->entries) jobs.push_back(Job{path, std::move(e)});
  return jobs;
}

// "[=========>          ] 9/20 graphs" on standard error, redrawn in place.
void DrawProgress(size_t done, size_t total) {
  constexpr int kWidth = 30;
  const int filled = total == 0 ? kWidth : static_cast<int>(kWidth * done / total);
  std::string bar(kWidth, ' ');
  for (int i = 0; i < filled; ++i) bar[i] = '=';
  if (filled < kWidth) bar[filled] = '>';
  std::fprintf(stderr, "\r[%s] %zu/%zu graphs", bar.c_str(), done, total);
  if (done == total) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace

int WarmupCommand(const std::vector<std::string>& args) {
  auto flags = ParseFlags(args, {"arch", "jobs", "cache-dir"}, WithFusionSwitches({}));
  if (!flags.ok()) return Fail(flags.status());
  if (flags->positional.empty()) return Fail(absl::InvalidArgumentError("warmup takes MANIFEST|GRAPH..."));
  int jobs_n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (flags->values.count("jobs") &&
      (!absl::SimpleAtoi(flags->values["jobs"].back(), &jobs_n) || jobs_n < 1)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--jobs takes a positive number, not '",
                                                        flags->values["jobs"].back(), "'")));
  }
  const std::string arch = flags->values.count("arch") ? flags->values["arch"].back() : "";
  std::unique_ptr<DiskCache> disk = DiskCacheFromFlags(*flags);
  if (!disk->enabled() || !disk->writable()) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("no writable cache at '", disk->dir(), "' (see the warning above); warmup would store nothing")));
  }

  std::vector<Job> jobs;
  std::vector<std::string> failures;
  for (const std::string& path : flags->positional) {
    auto j = JobsOf(path, FusionSwitchesOf(*flags), failures);
    if (!j.ok()) {
      failures.push_back(std::string(j.status().message()));
      continue;
    }
    jobs.insert(jobs.end(), j->begin(), j->end());
  }

  KernelCache memory;  // shared: a kernel that two graphs need compiles once
  const bool tty = ::isatty(2) != 0;
  std::mutex mu;
  int compiled = 0, cached = 0;
  size_t done = 0;
  std::atomic<size_t> next{0};
  const auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
      const Job& job = jobs[i];
      CompileOptions o;
      o.cache = &memory;
      o.disk_cache = disk.get();
      o.fuse = job.entry.fuse;
      o.arch = !arch.empty() ? arch : job.entry.arch;
      o.tuning_path = job.entry.tuning_path;  // empty: the records beside the cache
      // The plan the manifest's process made: its classes, SM count and fusions.
      if (job.entry.m_classes) o.m_classes = *job.entry.m_classes;
      o.sm_count = job.entry.sm_count;  // 0 (a manifest from before it was kept): this machine's
      o.gemm_row_epilogues = job.entry.gemm_row_epilogues;
      o.norm_prologues = job.entry.norm_prologues;
      o.wide_row_epilogues = job.entry.wide_row_epilogues;
      auto plan = Compile(job.entry.graph, o);
      std::lock_guard<std::mutex> lock(mu);
      if (!plan.ok()) {
        failures.push_back(absl::StrCat(job.source, " (graph '", job.entry.graph.name(), "'): ",
                                        plan.status().message()));
      } else {
        for (const KernelReport& r : plan->reports()) {
          (r.cache_hit ? cached : compiled) += 1;
          if (!r.store_error.empty()) {
            failures.push_back(absl::StrCat(job.source, " (graph '", job.entry.graph.name(), "'): kernel ",
                                            r.entry_name, " was compiled but not stored: ", r.store_error));
          }
        }
      }
      ++done;
      if (tty) DrawProgress(done, jobs.size());
    }
  };
  std::vector<std::thread> threads;
  for (int w = 1; w < std::min<int>(jobs_n, static_cast<int>(jobs.size())); ++w) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  for (const std::string& f : failures) std::printf("failed: %s\n", f.c_str());
  std::printf("cache: %s\n", disk->dir().c_str());
  std::printf("compiled %d, cached %d, failed %zu\n", compiled, cached, failures.size());
  return failures.empty() ? 0 : 1;
}

}  // namespace tilefuse::internal
