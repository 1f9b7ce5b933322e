// The disk cache behind Compile and the command-line tool, with the real NVRTC: warm
// starts, misses on any change, two processes filling one folder, manifests and warmup.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/graph/json.h"
#include "runtime/manifest.h"
#include "runtime/plan.h"
#include "test/status_matchers.h"

namespace tilefuse {
namespace {

namespace fs = std::filesystem;

std::string FreshDir(const std::string& name) {
  const std::string d = absl::StrCat(::testing::TempDir(), "/tf_jit_", name, "_", ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A pointwise graph whose kernel differs with `scale`.
std::string ScaleGraph(int scale) {
  return absl::StrCat(R"({"name": "scale)", scale, R"(",
    "inputs": [{"name": "x", "shape": ["N"], "dtype": "bf16"}],
    "nodes": [{"name": "y", "op": "mul", "inputs": ["x", )", scale, R"(]},
              {"name": "z", "op": "silu", "inputs": ["y"]}],
    "outputs": ["z"]})");
}

// Runs `cmd` through the shell; returns its exit code and standard output.
std::pair<int, std::string> Shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p != nullptr && fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  const int rc = p == nullptr ? -1 : pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::string Cli() { return TILEFUSE_CLI_PATH; }

int CountFiles(const std::string& dir, const std::string& suffix, const std::string& prefix = "") {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 && name.rfind(prefix, 0) == 0) {
      ++n;
    }
  }
  return n;
}

// Options for sm_90 with both caches.
CompileOptions With(KernelCache& memory, DiskCache& disk) {
  CompileOptions o;
  o.cache = &memory;
  o.disk_cache = &disk;
  o.arch = "sm_90";
  return o;
}

TEST(JitCache, SecondProcessStartsFromDiskAndAnyChangeMisses) {
  const std::string dir = FreshDir("warm");
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(ScaleGraph(3)));
  {
    KernelCache memory;
    DiskCache disk(DiskCacheOptions{dir});
    TF_ASSERT_OK_AND_ASSIGN(Plan p, Compile(g, With(memory, disk)));
    ASSERT_EQ(p.reports().size(), 1u);
    EXPECT_FALSE(p.reports()[0].cache_hit);
    EXPECT_GT(p.reports()[0].compile_ms, 0);
    EXPECT_EQ(disk.stats().writes, 1);
  }
  // A new process would start with empty memory: only the disk has it.
  KernelCache memory;
  DiskCache disk(DiskCacheOptions{dir});
  CompileOptions o = With(memory, disk);
  TF_ASSERT_OK_AND_ASSIGN(Plan warm, Compile(g, o));
  EXPECT_TRUE(warm.reports()[0].disk_hit);
  EXPECT_EQ(warm.reports()[0].compile_ms, 0);
  // Another arch (part of the NVRTC options) and another spec both miss and compile.
  o.arch = "sm_80";
  TF_ASSERT_OK_AND_ASSIGN(Plan other_arch, Compile(g, o));
  EXPECT_FALSE(other_arch.reports()[0].cache_hit);
  o.arch = "sm_90";
  TF_ASSERT_OK_AND_ASSIGN(Graph g2, GraphFromJson(ScaleGraph(4)));
  TF_ASSERT_OK_AND_ASSIGN(Plan other_spec, Compile(g2, o));
  EXPECT_FALSE(other_spec.reports()[0].cache_hit);
  EXPECT_EQ(disk.stats().rejected, 0);
}

// Two processes compile the same 20 kernels into one folder at once: 20 entries, all
// loadable, no temporary file left; a third process finds every kernel there.
TEST(JitCache, TwoProcessesFillOneFolder) {
  const std::string dir = FreshDir("two"), cache = dir + "/cache";
  std::string files;
  for (int i = 1; i <= 20; ++i) {
    const std::string path = absl::StrCat(dir, "/g", i, ".json");
    std::ofstream(path) << ScaleGraph(i);
    files += " " + path;
  }
  const std::string warm = absl::StrCat(Cli(), " warmup --arch sm_90 --jobs 2 --cache-dir ", cache, files);
  auto [rc, out] = Shell(absl::StrCat("(", warm, " > ", dir, "/a.log 2>&1 & ", warm, " > ", dir,
                                      "/b.log 2>&1 & wait) && cat ", dir, "/a.log ", dir, "/b.log"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(CountFiles(cache, ".tfk"), 20) << out;
  EXPECT_EQ(CountFiles(cache, "", ".tmp-"), 0);
  auto [rc3, out3] = Shell(absl::StrCat(Cli(), " compile --arch sm_90 --cache-dir ", cache, files));
  EXPECT_EQ(rc3, 0);
  EXPECT_NE(out3.find("compiled 20 kernels (20 cache hits, 20 from disk)"), std::string::npos) << out3;
}

// The catalog warmed up without a GPU (--arch): a later compile runs NVRTC for nothing.
TEST(JitCache, WarmupOfTheCatalogLeavesNothingForNvrtc) {
  const std::string dir = FreshDir("catalog");
  const std::string graphs = absl::StrCat(TILEFUSE_SOURCE_DIR, "/bench/graphs/*.json");
  auto [rc, out] = Shell(absl::StrCat(Cli(), " warmup --arch sm_90 --cache-dir ", dir, " ", graphs));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(", failed 0"), std::string::npos) << out;
  auto [rc2, out2] = Shell(absl::StrCat(Cli(), " compile --arch sm_90 --cache-dir ", dir, " ", graphs));
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_EQ(out2.find(" nvrtc "), std::string::npos) << "a kernel was compiled again:\n" << out2;
  const size_t at = out2.find("compiled ");
  ASSERT_NE(at, std::string::npos);
  int kernels = 0, hits = 0;
  ASSERT_EQ(std::sscanf(out2.c_str() + at, "compiled %d kernels (%d cache hits", &kernels, &hits), 2);
  EXPECT_GT(kernels, 10);
  EXPECT_EQ(hits, kernels);
}

TEST(JitCache, ManifestRecordsEachGraphOnceAndWarmsUp) {
  const std::string dir = FreshDir("manifest");
  const std::string manifest = dir + "/kernels.manifest";
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(ScaleGraph(5)));
  CompileOptions o;
  o.arch = "sm_90";
  o.manifest_path = manifest;
  o.tuning_path = dir + "/tuning.json";
  for (int i = 0; i < 2; ++i) TF_ASSERT_OK(Compile(g, o).status());
  o.fuse = false;
  TF_ASSERT_OK(Compile(g, o).status());
  TF_ASSERT_OK_AND_ASSIGN(std::vector<ManifestEntry> entries, ReadManifest(manifest));
  ASSERT_EQ(entries.size(), 2u);  // fused once, unfused once
  EXPECT_EQ(entries[0].graph.name(), "scale5");
  EXPECT_TRUE(entries[0].fuse);
  EXPECT_FALSE(entries[1].fuse);
  EXPECT_EQ(entries[0].arch, "sm_90");
  EXPECT_EQ(entries[0].tuning_path, dir + "/tuning.json");
  auto [rc, out] = Shell(absl::StrCat(Cli(), " warmup --cache-dir ", dir, "/cache ", manifest));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("compiled 3, cached 0, failed 0"), std::string::npos) << out;
}

TEST(JitCache, WarmupListsFailuresAndExitsNonZero) {
  const std::string dir = FreshDir("fail");
  std::ofstream(dir + "/bad.json") << R"({"name": "bad", "inputs": [], "nodes": [{"name": "y", "op": "frobnicate"}]})";
  std::ofstream(dir + "/good.json") << ScaleGraph(6);
  auto [rc, out] = Shell(absl::StrCat(Cli(), " warmup --arch sm_90 --cache-dir ", dir, "/cache ", dir,
                                      "/bad.json ", dir, "/good.json"));
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("failed: " + dir + "/bad.json"), std::string::npos) << out;
  EXPECT_NE(out.find("compiled 1, cached 0, failed 1"), std::string::npos) << out;
}

}  // namespace
}  // namespace tilefuse
