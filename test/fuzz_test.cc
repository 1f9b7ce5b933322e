// Mutation fuzzing of every parser that reads what others wrote: JSON graphs, manifests,
// .npy files and disk-cache entries. Seeds are real inputs (the catalog and test graphs,
// entries and arrays the library writes); mutants are byte edits and, for JSON, values of
// the wrong type, size or depth put anywhere in the tree. Fixed seeds, bounded in count
// and time. Every mutant must give a value or a status (a crash, an exception or a
// sanitizer report fails the run), and a graph that plans must compile.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/cache/disk_cache.h"
#include "runtime/fusion/planner.h"
#include "runtime/graph/json.h"
#include "runtime/graph/json_value.h"
#include "runtime/manifest.h"
#include "runtime/plan.h"
#include "runtime/tools/npy.h"
#include "test/gemm_dtype_graphs.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Mutants per parser, and the time each parser's loop may take (whichever ends first).
constexpr int kMutants = 4000;
constexpr auto kTimeBound = std::chrono::seconds(60);

std::vector<std::string> GraphSeeds() {
  std::vector<std::string> seeds;
  for (const auto& e : fs::directory_iterator(std::string(TILEFUSE_SOURCE_DIR) + "/bench/graphs")) {
    std::ifstream f(e.path());
    seeds.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  for (const TestGraph& t : AllTestGraphs()) seeds.push_back(t.json);
  for (const TestGraph& t : GemmDtypeTestGraphs()) seeds.push_back(t.json);
  return seeds;
}

// Byte-level edits: flips, deletions, insertions of bytes that matter to the formats,
// duplicated and truncated runs.
std::string MutateBytes(std::string s, std::mt19937_64& rng) {
  static const std::string kTokens[] = {"{", "}", "[", "]", "\"", ",", ":", "-", "0", "9", "e", "\\", "\n",
                                        "\xff", std::string(1, '\0'), "1e308", "-1", "4294967296"};
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const size_t at = rng() % s.size();
    switch (rng() % 6) {
      case 0: s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8))); break;
      case 1: s.erase(at, 1 + rng() % 8); break;
      case 2: s.insert(at, kTokens[rng() % std::size(kTokens)]); break;
      case 3: s.insert(at, s.substr(at, 1 + rng() % 32)); break;
      case 4: s.resize(at); break;
      default: s[at] = static_cast<char>(rng()); break;
    }
  }
  return s;
}

// A value of some other type, or an extreme one.
Json Wrong(std::mt19937_64& rng) {
  switch (rng() % 12) {
    case 0: return nullptr;
    case 1: return true;
    case 2: return static_cast<int64_t>(rng());
    case 3: return -static_cast<int64_t>(rng() % 100);
    case 4: return uint64_t{18446744073709551615ull};
    case 5: return 1e308;
    case 6: return "x";
    case 7: return std::string(rng() % 3 ? "M" : "inf");
    case 8: return Json::array({1, "M", -1});
    case 9: return Json::object({{"value", "nan"}});
    case 10: return Json::array();
    default: return 4294967296;
  }
}

// Replaces one value anywhere in the tree (or a member of an object) by Wrong().
void MutateTree(Json& j, std::mt19937_64& rng, int depth = 0) {
  // Whole containers are replaced from depth 2 on (a graph without its node list tells
  // little); leaves anywhere.
  if ((!j.is_array() && !j.is_object()) || j.empty() || (depth >= 2 && rng() % 4 == 0) || depth > 8) {
    j = Wrong(rng);
    return;
  }
  if (j.is_array()) {
    const size_t i = rng() % j.size();
    if (rng() % 8 == 0) {
      j.erase(i);
    } else {
      MutateTree(j[i], rng, depth + 1);
    }
    return;
  }
  auto it = j.begin();
  std::advance(it, static_cast<long>(rng() % j.size()));
  if (rng() % 16 == 0) {  // a key the format does not have: refused, as a misspelling is
    j[std::string("unknown_") + it.key()] = Wrong(rng);
  } else {
    MutateTree(*it, rng, depth + 1);
  }
}

std::string MutateJson(const std::string& seed, std::mt19937_64& rng) {
  if (rng() % 2 == 0) return MutateBytes(seed, rng);
  absl::StatusOr<Json> j = ParseJson(seed, "seed");
  if (!j.ok()) return MutateBytes(seed, rng);
  // Mostly one edit: two break most graphs before they reach the planner.
  const int edits = 1 + static_cast<int>(rng() % 4 == 0);
  for (int e = 0; e < edits; ++e) MutateTree(*j, rng);
  return j->dump(-1, ' ', false, Json::error_handler_t::replace);
}

struct Budget {
  Clock::time_point end = Clock::now() + kTimeBound;
  int done = 0;
  bool More() { return done++ < kMutants && Clock::now() < end; }
};

TEST(Fuzz, GraphReaderGivesAStatusAndPlansThatPassCompile) {
  const std::vector<std::string> seeds = GraphSeeds();
  std::mt19937_64 rng(1601);
  std::vector<Graph> to_compile;  // distinct mutants that plan, compiled after the loop
  std::set<std::string> seen;
  int parsed = 0, planned = 0;
  for (Budget b; b.More();) {
    const std::string text = MutateJson(seeds[rng() % seeds.size()], rng);
    absl::StatusOr<Graph> g = GraphFromJson(text);
    if (!g.ok()) {
      EXPECT_FALSE(g.status().message().empty());
      continue;
    }
    ++parsed;
    for (bool fuse : {true, false}) {
      absl::StatusOr<FusionPlan> plan = PlanFusion(*g, PlanOptions{fuse, "sm_90"});
      if (!plan.ok()) continue;
      ++planned;
      if (fuse && to_compile.size() < 40 && seen.insert(GraphToJson(*g)).second) to_compile.push_back(*g);
    }
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(planned, 100);
  // A plan that passes must compile: NVRTC's front end on the sample, one in eight built
  // through ptxas, within a time bound of its own (a GEMM with shape classes is several
  // kernels, each up to seconds of NVRTC when built).
  KernelCache cache;
  int compiled = 0;
  const Clock::time_point end = Clock::now() + kTimeBound;
  for (const Graph& g : to_compile) {
    if (Clock::now() >= end) break;
    CompileOptions o;
    o.arch = "sm_90";
    o.cache = &cache;
    o.check_only = compiled % 8 != 0;
    absl::StatusOr<Plan> p = Compile(g, o);
    EXPECT_TRUE(p.ok() || p.status().code() == absl::StatusCode::kInvalidArgument) << p.status() << "\n"
                                                                                      << GraphToJson(g);
    ++compiled;
  }
  EXPECT_GE(compiled, 5);
}

TEST(Fuzz, ManifestReaderSkipsBadLinesOnly) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/tf_fuzz_manifest_", ::getpid());
  fs::create_directories(dir);
  const std::string seed_path = dir + "/seed.manifest";
  fs::remove(seed_path);
  // Eight lines: each mutant reads the whole file, and a line's damage stays in its line.
  for (size_t i = 0; i < 8; ++i) {
    TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(GemmTestGraphs()[i].json));
    TF_ASSERT_OK(AppendToManifest(seed_path, ManifestEntry{g, true, "sm_90", "/tuning.json"}));
  }
  std::ifstream f(seed_path);
  const std::string seed((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::mt19937_64 rng(1602);
  const std::string path = dir + "/m.manifest";
  for (Budget b; b.More();) {
    std::ofstream(path, std::ios::trunc | std::ios::binary) << MutateJson(seed, rng);
    absl::StatusOr<Manifest> m = ReadManifest(path);
    ASSERT_TRUE(m.ok()) << m.status();  // the file reads; bad lines are skipped
    for (const std::string& s : m->skipped) EXPECT_NE(s.find(": skipped: "), std::string::npos);
  }
}

TEST(Fuzz, NpyReaderChecksBeforeItAllocates) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/tf_fuzz_npy_", ::getpid());
  fs::create_directories(dir);
  std::vector<std::string> seeds;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kBool}) {
    for (std::vector<int64_t> shape : {std::vector<int64_t>{3, 5}, std::vector<int64_t>{0}, std::vector<int64_t>{}}) {
      const std::string path = dir + "/seed.npy";
      TF_ASSERT_OK(WriteNpy(path, HostTensor::Zeros(t, shape)));
      std::ifstream f(path, std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  }
  std::mt19937_64 rng(1603);
  const std::string path = dir + "/m.npy";
  int ok = 0;
  for (Budget b; b.More();) {
    std::ofstream(path, std::ios::trunc | std::ios::binary) << MutateBytes(seeds[rng() % seeds.size()], rng);
    const DType want = static_cast<DType>(rng() % 5);
    absl::StatusOr<HostTensor> t = ReadNpy(path, want);
    if (!t.ok()) continue;
    ++ok;
    EXPECT_EQ(t->bytes.size(), static_cast<size_t>(t->numel()) * DTypeSize(want));
  }
  EXPECT_GT(ok, 0);
}

TEST(Fuzz, DiskCacheEntryParserRejectsEveryMutant) {
  const DiskCacheKey key{"tile matmul gemm 128x128x32\nin0 bf16 full site=0 rank=2\n", 0xabcdef, "sm_90",
                         "13.0 build 13000", "--gpu-architecture=sm_90a -std=c++17", 0x1234};
  const std::string seed = DiskCache::Serialize(key, "tf_0000000000abcdef", std::string(300, '\x7f'));
  std::mt19937_64 rng(1604);
  for (Budget b; b.More();) {
    const std::string mutant = MutateBytes(seed, rng);
    absl::StatusOr<DiskCache::Hit> hit = DiskCache::Parse(mutant, key);
    if (mutant != seed) {
      EXPECT_FALSE(hit.ok()) << "a changed entry was accepted";
    }
  }
}

}  // namespace
}  // namespace tilefuse::internal
