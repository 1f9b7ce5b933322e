// The disk cache behind Compile and the command-line tool, with the real NVRTC: warm
// starts, misses on any change, two processes filling one folder, manifests and warmup.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/graph/json.h"
#include "runtime/log.h"
#include "runtime/manifest.h"
#include "runtime/plan.h"
#include "test/sanitizer.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
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

// The catalog's row-wise and pointwise graphs (13 kernels, seconds of NVRTC; the GEMMs'
// shape classes would take minutes of CI's time): shell globs for the CLI.
std::string CatalogRowsAndPointwise() {
  const std::string dir = absl::StrCat(TILEFUSE_SOURCE_DIR, "/bench/graphs/");
  return absl::StrCat(dir, "pointwise_*.json ", dir, "rms_norm*.json ", dir, "softmax_*.json ", dir, "rope_*.json ",
                      dir, "add_rms_norm_relu.json");
}

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
// Every kernel compiles without a word from NVRTC or ptxas (a C7515 "wgmma serialized"
// remark is a slow kernel; an unused variable is generated code to fix). Under a
// sanitizer, whose pass is for our code and not NVRTC's, the row-wise and pointwise part.
TEST(JitCache, WarmupOfTheCatalogLeavesNothingForNvrtc) {
  const std::string dir = FreshDir("catalog");
  const std::string graphs =
      kUnderSanitizer ? CatalogRowsAndPointwise() : absl::StrCat(TILEFUSE_SOURCE_DIR, "/bench/graphs/*.json");
  auto [rc, out] = Shell(absl::StrCat(Cli(), " warmup --arch sm_90 --cache-dir ", dir, " ", graphs, " 2>&1"));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(", failed 0"), std::string::npos) << out;
  EXPECT_EQ(out.find("NVRTC's log"), std::string::npos) << out;
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
  TF_ASSERT_OK_AND_ASSIGN(Manifest m, ReadManifest(manifest));
  EXPECT_TRUE(m.skipped.empty());
  const std::vector<ManifestEntry>& entries = m.entries;
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

// Eight processes warming the catalog into one empty cache at once: each kernel is
// compiled by exactly one of them (the others wait on its lock file and load the entry).
TEST(JitCache, EightConcurrentWarmupsCompileEachKernelOnce) {
  const std::string dir = FreshDir("eight"), cache = dir + "/cache";
  const std::string graphs = CatalogRowsAndPointwise();
  std::string cmd = "(";
  for (int i = 0; i < 8; ++i) {
    absl::StrAppend(&cmd, Cli(), " warmup --arch sm_90 --jobs 2 --cache-dir ", cache, " ", graphs, " > ", dir, "/w", i,
                    ".log 2>&1 & ");
  }
  absl::StrAppend(&cmd, "wait) && cat ", dir, "/w*.log");
  auto [rc, out] = Shell(cmd);
  ASSERT_EQ(rc, 0) << out;
  int compiled_total = 0, logs = 0;
  for (size_t at = out.find("compiled "); at != std::string::npos; at = out.find("compiled ", at + 1)) {
    int compiled = 0, cached = 0, failed = 0;
    if (std::sscanf(out.c_str() + at, "compiled %d, cached %d, failed %d", &compiled, &cached, &failed) != 3) continue;
    EXPECT_EQ(failed, 0);
    compiled_total += compiled;
    ++logs;
  }
  EXPECT_EQ(logs, 8) << out;
  const int entries = CountFiles(cache, ".tfk");
  EXPECT_GT(entries, 10);
  EXPECT_EQ(compiled_total, entries) << "NVRTC ran more than once for some kernel:\n" << out;
  EXPECT_EQ(CountFiles(cache, "", ".tmp-"), 0);
  // No torn entry: a ninth process finds every kernel on disk, each entry whole (a corrupt
  // one would be reported, deleted and compiled again).
  auto [rc9, out9] = Shell(absl::StrCat(Cli(), " compile --arch sm_90 --cache-dir ", cache, " ", graphs, " 2>&1"));
  ASSERT_EQ(rc9, 0) << out9;
  EXPECT_EQ(out9.find(" nvrtc "), std::string::npos) << out9;
  EXPECT_EQ(out9.find("ignoring kernel cache entry"), std::string::npos) << out9;
  EXPECT_EQ(CountFiles(cache, ".tfk"), entries);
}

// `tilefuse cache`: stat counts what warmup stored, ls names each entry, clear empties the
// folder (and a second warmup compiles again); an unknown action is refused.
TEST(JitCache, CacheCommandStatsListsAndClears) {
  const std::string dir = FreshDir("cachecmd"), cache = dir + "/cache";
  std::ofstream(dir + "/g.json") << ScaleGraph(8);
  auto [rc, out] = Shell(absl::StrCat(Cli(), " warmup --arch sm_90 --cache-dir ", cache, " ", dir, "/g.json 2>&1"));
  ASSERT_EQ(rc, 0) << out;
  auto [rc_stat, stat] = Shell(absl::StrCat(Cli(), " cache stat --cache-dir ", cache, " 2>&1"));
  EXPECT_EQ(rc_stat, 0) << stat;
  EXPECT_NE(stat.find("entries: 1,"), std::string::npos) << stat;
  EXPECT_NE(stat.find("sm_90: 1"), std::string::npos) << stat;
  auto [rc_ls, ls] = Shell(absl::StrCat(Cli(), " cache ls --cache-dir ", cache, " 2>&1"));
  EXPECT_EQ(rc_ls, 0) << ls;
  EXPECT_EQ(ls.rfind("tf_", 0), 0u) << ls;
  EXPECT_NE(ls.find(".tfk"), std::string::npos) << ls;
  auto [rc_clear, cleared] = Shell(absl::StrCat(Cli(), " cache clear --cache-dir ", cache, " 2>&1"));
  EXPECT_EQ(rc_clear, 0) << cleared;
  EXPECT_NE(cleared.find("removed 1 entries"), std::string::npos) << cleared;
  EXPECT_EQ(CountFiles(cache, ".tfk"), 0);
  auto [rc_again, again] = Shell(absl::StrCat(Cli(), " warmup --arch sm_90 --cache-dir ", cache, " ", dir, "/g.json 2>&1"));
  EXPECT_NE(again.find("compiled 1, cached 0"), std::string::npos) << again;
  auto [rc_bad, bad] = Shell(absl::StrCat(Cli(), " cache prune --cache-dir ", cache, " 2>&1"));
  EXPECT_EQ(rc_bad, 1);
  EXPECT_NE(bad.find("unknown action 'prune'"), std::string::npos) << bad;
}

// A dump folder receives every kernel of a plan, found in the cache or built: its source,
// cubin, signature and an index line; $TILEFUSE_LINEINFO gives binaries of their own.
TEST(JitCache, DumpsCoverCacheHitsAndLineinfoHasItsOwnSignature) {
  const std::string dir = FreshDir("dump"), dump = dir + "/dump";
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(ScaleGraph(5)));
  KernelCache cache;
  CompileOptions o;
  o.arch = "sm_90";
  o.cache = &cache;
  TF_ASSERT_OK_AND_ASSIGN(Plan built, Compile(g, o));
  o.dump_dir = dump;
  TF_ASSERT_OK_AND_ASSIGN(Plan hit, Compile(g, o));
  ASSERT_EQ(hit.reports().size(), 1u);
  EXPECT_TRUE(hit.reports()[0].cache_hit);
  const std::string entry = hit.reports()[0].entry_name;
  for (const char* ext : {".cu", ".ptx", ".cubin", ".sig"}) {
    EXPECT_TRUE(std::filesystem::exists(absl::StrCat(dump, "/", entry, ext))) << ext;
  }
  std::ifstream ptx(absl::StrCat(dump, "/", entry, ".ptx"));
  const std::string ptx_text((std::istreambuf_iterator<char>(ptx)), std::istreambuf_iterator<char>());
  EXPECT_NE(ptx_text.find(".target sm_90"), std::string::npos) << ptx_text.substr(0, 300);
  EXPECT_NE(ptx_text.find(".entry " + entry), std::string::npos);
  EXPECT_EQ(std::filesystem::file_size(absl::StrCat(dump, "/", entry, ".cubin")), hit.compiled_kernel(0).cubin().size());
  std::ifstream index(dump + "/index.txt");
  std::string line;
  ASSERT_TRUE(std::getline(index, line));
  EXPECT_EQ(line.rfind(entry + "\tgraph '", 0), 0u) << line;
  ::setenv("TILEFUSE_LINEINFO", "1", 1);
  auto lined = Compile(g, o);
  ::unsetenv("TILEFUSE_LINEINFO");
  ASSERT_TRUE(lined.ok()) << lined.status();
  EXPECT_FALSE(lined->reports()[0].cache_hit);
  EXPECT_NE(lined->reports()[0].entry_name, entry);
  std::ifstream sig(absl::StrCat(dump, "/", lined->reports()[0].entry_name, ".sig"));
  const std::string text((std::istreambuf_iterator<char>(sig)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("-lineinfo"), std::string::npos);
}

// The logger: at info level each kernel says where it came from (NVRTC, then memory, then
// disk); a disk-cache warning reaches it too; below its level nothing does.
TEST(JitCache, LoggerHearsWhereKernelsCameFromAndCacheWarnings) {
  std::vector<std::pair<LogLevel, std::string>> heard;
  std::mutex mu;
  SetLogger([&](LogLevel l, std::string_view m) {
    std::lock_guard<std::mutex> lock(mu);
    heard.emplace_back(l, std::string(m));
  }, LogLevel::kInfo);
  const std::string dir = FreshDir("log");
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(ScaleGraph(6)));
  DiskCache disk(DiskCacheOptions{dir + "/cache"});
  for (int round = 0; round < 3; ++round) {
    KernelCache memory;
    CompileOptions o;
    o.arch = "sm_90";
    o.cache = &memory;
    o.disk_cache = round < 2 ? &disk : nullptr;
    TF_ASSERT_OK(Compile(g, o).status());
    if (round == 1) {
      TF_ASSERT_OK(Compile(g, o).status());  // memory
    }
  }
  DiskCache unusable(DiskCacheOptions{"/proc/self/no"});  // warns once
  SetLogger(nullptr);
  const auto said = [&](const std::string& what) {
    return std::count_if(heard.begin(), heard.end(), [&](const auto& h) { return h.second.find(what) != std::string::npos; });
  };
  EXPECT_EQ(said("compiled by NVRTC in"), 2) << "round 0, and round 2 without the disk cache";
  EXPECT_EQ(said("from the disk cache"), 1);
  EXPECT_EQ(said("from memory"), 1);
  EXPECT_EQ(said("kernel disk cache disabled"), 1);
  for (const auto& [level, message] : heard) {
    if (message.find("disk cache disabled") != std::string::npos) {
      EXPECT_EQ(level, LogLevel::kWarning);
    }
  }
  EXPECT_EQ(CurrentLogLevel(), LogLevel::kWarning);  // back to the default (no env var here)
}

// A cache that cannot take the binaries: warmup says so and fails, rather than exit 0
// having stored nothing.
TEST(JitCache, WarmupFailsWhenNothingCanBeStored) {
  const std::string dir = FreshDir("nostore");
  std::ofstream(dir + "/g.json") << ScaleGraph(8);
  // As root permissions do not stop writes; /proc/self takes no files either way.
  auto [rc, out] = Shell(absl::StrCat(Cli(), " warmup --arch sm_90 --cache-dir /proc/self ", dir, "/g.json 2>&1"));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(out.find("not stored") != std::string::npos || out.find("no writable cache") != std::string::npos)
      << out;
  EXPECT_EQ(out.find("failed 0"), std::string::npos) << out;
}

// Constants JSON has no number for (inf, NaN) are written so that they read back.
// The options that choose a plan's kernels travel in the manifest: a GEMM of symbolic M
// compiled for an engine's batch sizes on a GPU of 100 SMs, and a norm over 384 columns
// in a GEMM's store (wide row epilogues). Warmup from that manifest builds exactly those
// kernels: the engine's next start finds every one on disk.
TEST(JitCache, ManifestKeepsThePlanOptionsAndWarmupBuildsTheirKernels) {
  const std::string dir = FreshDir("options");
  const std::string manifest = dir + "/kernels.manifest";
  TF_ASSERT_OK_AND_ASSIGN(Graph gemm, GraphFromJson(R"({"name": "gemm", "inputs": [
      {"name": "x", "shape": ["M", 64], "dtype": "bf16"}, {"name": "w", "shape": [64, 96], "dtype": "bf16"}],
    "nodes": [{"name": "y", "op": "matmul", "inputs": ["x", "w"]}], "outputs": ["y"]})"));
  TF_ASSERT_OK_AND_ASSIGN(Graph wide, GraphFromJson(R"({"name": "wide", "inputs": [
      {"name": "x", "shape": ["M", 64], "dtype": "bf16"}, {"name": "w", "shape": [384, 64], "dtype": "bf16"},
      {"name": "g", "shape": [384], "dtype": "bf16"}],
    "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
              {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},
              {"name": "out", "op": "rms_norm", "inputs": ["y", "g"], "attrs": {"eps": 1e-6}}],
    "outputs": ["out"]})"));
  CompileOptions o;
  o.arch = "sm_90";
  o.manifest_path = manifest;
  o.m_classes = {8, 64};
  o.sm_count = 100;
  o.wide_row_epilogues = true;
  {
    KernelCache memory;  // no disk cache: only warmup fills it
    o.cache = &memory;
    TF_ASSERT_OK(Compile(gemm, o).status());
    TF_ASSERT_OK_AND_ASSIGN(Plan p, Compile(wide, o));
    ASSERT_EQ(p.num_kernels(), 1);
  }
  TF_ASSERT_OK_AND_ASSIGN(Manifest m, ReadManifest(manifest));
  ASSERT_EQ(m.entries.size(), 2u) << (m.skipped.empty() ? "" : m.skipped[0]);
  for (const ManifestEntry& e : m.entries) {
    EXPECT_EQ(e.m_classes, std::optional<std::vector<int64_t>>(std::vector<int64_t>{8, 64}));
    EXPECT_EQ(e.sm_count, 100);
    EXPECT_TRUE(e.wide_row_epilogues);
    EXPECT_TRUE(e.gemm_row_epilogues);
    EXPECT_FALSE(e.norm_prologues);
  }
  auto [rc, out] = Shell(absl::StrCat(Cli(), " warmup --cache-dir ", dir, "/cache ", manifest));
  ASSERT_EQ(rc, 0) << out;
  KernelCache memory;
  DiskCache disk(DiskCacheOptions{dir + "/cache"});
  o.cache = &memory;
  o.disk_cache = &disk;
  o.manifest_path.clear();
  for (const Graph* g : {&gemm, &wide}) {
    TF_ASSERT_OK_AND_ASSIGN(Plan p, Compile(*g, o));
    EXPECT_GE(p.reports().size(), g == &gemm ? 3u : 1u) << p.Explain();  // <= 8, <= 64, more
    for (const KernelReport& r : p.reports()) EXPECT_TRUE(r.disk_hit) << g->name() << ": " << r.entry_name;
  }
}

TEST(JitCache, ManifestKeepsNonFiniteConstants) {
  const std::string dir = FreshDir("inf");
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "inf", "inputs": [{"name": "x", "shape": [4], "dtype": "f32"}],
    "nodes": [{"name": "y", "op": "maximum", "inputs": ["x", {"value": "-inf"}]}], "outputs": ["y"]})"));
  TF_ASSERT_OK(AppendToManifest(dir + "/m", ManifestEntry{g, true, "sm_90", ""}));
  TF_ASSERT_OK_AND_ASSIGN(Manifest m, ReadManifest(dir + "/m"));
  ASSERT_EQ(m.entries.size(), 1u) << (m.skipped.empty() ? "" : m.skipped[0]);
  EXPECT_EQ(GraphToJson(m.entries[0].graph), GraphToJson(g));
}

// A manifest line that is not an entry is skipped and reported; the other lines compile.
TEST(JitCache, ManifestBadLinesAreSkippedNotTheRest) {
  const std::string dir = FreshDir("badline");
  const std::string manifest = dir + "/kernels.manifest";
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(ScaleGraph(9)));
  TF_ASSERT_OK(AppendToManifest(manifest, ManifestEntry{g, true, "sm_90", ""}));
  {
    std::ofstream f(manifest, std::ios::app);
    f << R"({"arch": "sm_90", "fuse": "yes", "graph": {"name": "g"}})" << "\n";
    f << "not json at all\n";
  }
  TF_ASSERT_OK(AppendToManifest(manifest, ManifestEntry{g, false, "sm_90", ""}));
  TF_ASSERT_OK_AND_ASSIGN(Manifest m, ReadManifest(manifest));
  EXPECT_EQ(m.entries.size(), 2u);
  ASSERT_EQ(m.skipped.size(), 2u);
  EXPECT_NE(m.skipped[0].find(":2: skipped: \"fuse\" is \"yes\" (expected true or false)"), std::string::npos)
      << m.skipped[0];
  EXPECT_NE(m.skipped[1].find(":3: skipped: the line is not valid JSON at line 1, column 2"), std::string::npos)
      << m.skipped[1];
  auto [rc, out] = Shell(absl::StrCat(Cli(), " warmup --cache-dir ", dir, "/cache ", manifest));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("compiled 3, cached 0, failed 2"), std::string::npos) << out;
}

TEST(JitCache, EveryCommandTakesHelpAndTheToolItsVersion) {
  for (const char* cmd : {"plan --help", "compile -h", "run --help", "warmup --help", "--help"}) {
    auto [rc, out] = Shell(absl::StrCat(Cli(), " ", cmd));
    EXPECT_EQ(rc, 0) << cmd;
    EXPECT_NE(out.find("usage:"), std::string::npos) << cmd << ": " << out;
  }
  auto [rc, out] = Shell(absl::StrCat(Cli(), " --version"));
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out.rfind("tilefuse ", 0), 0u) << out;
}

// The fusion switches of the command line reach the plan: a norm over 1024 columns after a
// GEMM is a kernel of its own by default and with --no-row-epilogues, in the GEMM's store
// with --wide-row-epilogues; warmup of the graph file takes them too.
TEST(JitCache, FusionSwitchesReachThePlan) {
  const std::string dir = FreshDir("switches");
  const std::string graph = absl::StrCat(TILEFUSE_SOURCE_DIR, "/bench/graphs/gemm_rms_norm_1024.json");
  for (const auto& [flags, kernels] : std::vector<std::pair<std::string, std::string>>{
           {"", "2 kernels"}, {"--wide-row-epilogues", "1 kernel\n"},
           {"--wide-row-epilogues --no-row-epilogues", "2 kernels"}, {"--no-fusion", "2 kernels"}}) {
    auto [rc, out] = Shell(absl::StrCat(Cli(), " plan ", graph, " ", flags));
    EXPECT_EQ(rc, 0) << flags << ": " << out;
    EXPECT_NE(out.find(kernels), std::string::npos) << flags << ": " << out;
  }
  auto [rc, out] = Shell(absl::StrCat(Cli(), " warmup --arch sm_90 --wide-row-epilogues --cache-dir ", dir, " ", graph));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("compiled 1, cached 0, failed 0"), std::string::npos) << out;
  auto [rc2, out2] = Shell(absl::StrCat(Cli(), " plan ", graph, " --wide-rows 2>&1"));
  EXPECT_NE(rc2, 0);
  EXPECT_NE(out2.find("unknown flag --wide-rows"), std::string::npos) << out2;
}

// `tilefuse compile --gemm-config JSON` forces a GEMM tile config (what scripts/ncu_graph.sh
// profiles): the skinny kernel with a split on the weight-only decode GEMM, Explain saying
// so; a config the kernels do not take, or text that is not one, is an error naming it.
TEST(JitCache, GemmConfigFlagForcesTheConfig) {
  const std::string dir = FreshDir("gemm_config");
  const std::string compile = absl::StrCat(Cli(), " compile ", TILEFUSE_SOURCE_DIR,
                                           "/bench/graphs/gemm_w8a16_decode.json --arch sm_90 --cache-dir ", dir, " ");
  auto [rc, out] = Shell(absl::StrCat(compile, R"(--gemm-config '{"bm": 16, "bn": 128, "bk": 256, "warps_m": 1, )",
                                      R"("warps_n": 8, "stages": 2, "wgmma": false, "skinny": true, "split_k": 2}')"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("config: skinny 16x128x256 w8 s2 split 2"), std::string::npos) << out;
  auto [rc2, out2] = Shell(absl::StrCat(compile, R"(--gemm-config '{"bm": 16, "bn": 64, "bk": 64, "warps_m": 1, )",
                                        R"("warps_n": 4, "stages": 2, "wgmma": false, "skinny": true}' 2>&1)"));
  EXPECT_EQ(rc2, 1);
  EXPECT_NE(out2.find("128, 256 or 512 bytes of a row"), std::string::npos) << out2;
  auto [rc3, out3] = Shell(absl::StrCat(compile, "--gemm-config '{\"bm\": 16' 2>&1"));
  EXPECT_EQ(rc3, 1);
  EXPECT_NE(out3.find("GEMM config"), std::string::npos) << out3;
}

// `tilefuse run` checks its names and reads its inputs before it compiles or needs a GPU.
TEST(JitCache, RunChecksNamesAndInputsBeforeCompiling) {
  const std::string dir = FreshDir("run");
  std::ofstream(dir + "/g.json") << ScaleGraph(10);
  std::ofstream(dir + "/x.npy") << "not numpy";
  // `tilefuse run` with `flags`, input x and output `out`: fails (1) with `error`.
  const auto fails_with = [&](const std::string& flags, const std::string& out, const std::string& error) {
    auto [rc, text] = Shell(absl::StrCat(Cli(), " run ", dir, "/g.json --cache-dir ", dir, "/cache ", flags,
                                         " --input x=", dir, "/x.npy --output ", out, "=", dir, "/o.npy 2>&1"));
    EXPECT_EQ(rc, 1) << flags;
    EXPECT_NE(text.find(error), std::string::npos) << text;
  };
  fails_with("", "bogus", "--output 'bogus' is not an output of graph 'scale10' (outputs: z)");
  fails_with("", "z", "x.npy: not a .npy file");
  // --flush (each run timed alone after an L2 flush) is one of run's switches; a misspelling is not.
  fails_with("--repeat 3 --flush", "z", "x.npy: not a .npy file");
  fails_with("--flushh", "z", "unknown flag --flushh");
  EXPECT_FALSE(fs::exists(dir + "/cache")) << "compiled before reading its inputs";
}

}  // namespace
}  // namespace tilefuse::internal
