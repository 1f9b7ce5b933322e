// The disk cache on its own: round trips, mismatches, corruption of every byte, eviction,
// an unwritable folder, and the golden entry of format 1.
#include <sys/stat.h>
#include <unistd.h>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/cache/disk_cache.h"

namespace tilefuse::internal {
namespace {

namespace fs = std::filesystem;

// A fresh empty folder per test.
std::string FreshDir(const std::string& name) {
  const std::string d = absl::StrCat(::testing::TempDir(), "/tf_disk_", name, "_", ::getpid());
  fs::remove_all(d);
  return d;
}

DiskCacheKey Key(const std::string& sig, uint64_t hash) {
  return DiskCacheKey{sig, hash, "sm_90", "13.0 build 13000", "--gpu-architecture=sm_90 -std=c++17",
                      0x0123456789abcdefull};
}

struct Warnings {
  std::vector<std::string> lines;
  DiskCacheOptions Options(const std::string& dir, int64_t max_bytes = int64_t{1} << 30) {
    DiskCacheOptions o;
    o.dir = dir;
    o.max_bytes = max_bytes;
    o.warn = [this](const std::string& m) { lines.push_back(m); };
    return o;
  }
};

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(DiskCache, RoundTripAcrossInstancesIn0700Folder) {
  const std::string dir = FreshDir("roundtrip");
  Warnings w;
  {
    DiskCache c(w.Options(dir));
    ASSERT_TRUE(c.enabled());
    EXPECT_FALSE(c.Load(Key("sig", 7)).has_value());
    ASSERT_TRUE(c.Store(Key("sig", 7), "tf_0000000000000007", std::string("\x7f" "ELF\0cubin", 9)).ok());
  }
  DiskCache c(w.Options(dir));
  auto hit = c.Load(Key("sig", 7));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->entry_name, "tf_0000000000000007");
  EXPECT_EQ(hit->cubin, std::string("\x7f" "ELF\0cubin", 9));
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(w.lines.empty());
}

// A change of any field the header spells out (the NVRTC version, its options, the
// template text, the arch) or of the signature text is never loaded, even under the same
// file name (as a hash collision would put it).
TEST(DiskCache, AnyMismatchIsAMissNeverAStaleBinary) {
  const std::string dir = FreshDir("mismatch");
  Warnings w;
  const DiskCacheKey base = Key("sig", 9);
  std::vector<DiskCacheKey> changed(5, base);
  changed[0].nvrtc_version = "13.1 build 13010";
  changed[1].options += " -lineinfo";
  changed[2].template_hash ^= 1;
  changed[3].arch = "sm_100";
  changed[4].signature_text = "sig with another spec";
  for (const DiskCacheKey& k : changed) {
    DiskCache c(w.Options(dir));
    ASSERT_TRUE(c.Store(base, "tf_base", "old-binary").ok());
    EXPECT_FALSE(c.Load(k).has_value()) << k.nvrtc_version << " " << k.options << " " << k.arch;
    EXPECT_EQ(c.stats().rejected, 1);
    EXPECT_FALSE(fs::exists(c.PathOf(9))) << "a rejected entry is removed, to be rebuilt";
    ASSERT_TRUE(c.Store(k, "tf_new", "new-binary").ok());
    EXPECT_EQ(c.Load(k)->cubin, "new-binary");
  }
}

// Every single-byte change of an entry (header, signature, payload, the checksum itself)
// and every truncation is detected: reported once, deleted, never loaded.
TEST(DiskCache, CorruptionAtEveryByteAndTruncationIsDetected) {
  const std::string dir = FreshDir("corrupt");
  const DiskCacheKey key = Key("tile rms_norm vec=8\nin0 bf16 full site=0 rank=2\n", 42);
  const std::string good = DiskCache::Serialize(key, "tf_000000000000002a", std::string(64, '\x5a'));
  ASSERT_TRUE(DiskCache::Parse(good, key).ok());
  const size_t sig_at = good.find("\n\n") + 2;
  int header = 0, signature = 0, payload = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_FALSE(DiskCache::Parse(bad, key).ok()) << "byte " << i << " flipped went unnoticed";
    (i < sig_at ? header : i < sig_at + key.signature_text.size() ? signature : payload) += 1;
  }
  EXPECT_GT(header, 100);
  EXPECT_GT(signature, 40);
  EXPECT_EQ(payload, 64);
  for (size_t n = 0; n < good.size(); n += 7) {
    EXPECT_FALSE(DiskCache::Parse(good.substr(0, n), key).ok()) << "truncated to " << n;
  }
  EXPECT_FALSE(DiskCache::Parse(good + "x", key).ok());
  // Through the cache: one warning per bad entry however often it is read, then a rebuild.
  Warnings w;
  DiskCache c(w.Options(dir));
  ASSERT_TRUE(c.Store(key, "tf_000000000000002a", std::string(64, '\x5a')).ok());
  std::string bad = good;
  bad[bad.size() - 3] ^= 0x40;  // payload
  Spit(c.PathOf(42), bad);
  EXPECT_FALSE(c.Load(key).has_value());
  Spit(c.PathOf(42), bad);
  EXPECT_FALSE(c.Load(key).has_value());
  ASSERT_EQ(w.lines.size(), 1u);
  EXPECT_NE(w.lines[0].find("checksum mismatch"), std::string::npos) << w.lines[0];
  ASSERT_TRUE(c.Store(key, "tf_000000000000002a", std::string(64, '\x5a')).ok());
  EXPECT_TRUE(c.Load(key).has_value());
}

// Threads storing and loading one entry at once: every load sees a whole entry or none,
// and no temporary file is left.
TEST(DiskCache, ConcurrentStoresAndLoadsOfOneEntry) {
  const std::string dir = FreshDir("threads");
  Warnings w;
  DiskCache c(w.Options(dir));
  const std::string cubin(200000, 'q');
  std::atomic<int> torn{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(c.Store(Key("sig", 77), "tf_77", cubin).ok());
        auto hit = c.Load(Key("sig", 77));
        if (hit.has_value() && hit->cubin != cubin) torn.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(c.stats().rejected, 0) << "a reader saw a half-written entry";
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  EXPECT_TRUE(w.lines.empty());
}

TEST(DiskCache, EvictionKeepsTheBoundAndTheRecentlyUsed) {
  const std::string dir = FreshDir("evict");
  const std::string cubin(1000, 'c');
  const int64_t entry = static_cast<int64_t>(DiskCache::Serialize(Key("sig0", 100), "tf_e", cubin).size());
  Warnings w;
  DiskCache c(w.Options(dir, 3 * entry + entry / 2));  // room for three entries
  const auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); };
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Store(Key(absl::StrCat("sig", i), 100 + i), "tf_e", cubin).ok());
    pause();
  }
  ASSERT_TRUE(c.Load(Key("sig0", 100)).has_value());  // sig0 is now the most recently used
  pause();
  for (int i = 3; i < 10; ++i) {
    ASSERT_TRUE(c.Store(Key(absl::StrCat("sig", i), 100 + i), "tf_e", cubin).ok());
    pause();
    if (i == 3) {
      EXPECT_FALSE(fs::exists(c.PathOf(101))) << "the least recently used goes first";
      EXPECT_TRUE(fs::exists(c.PathOf(100)));
    }
    int64_t total = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) total += static_cast<int64_t>(e.file_size());
    }
    EXPECT_LE(total, 3 * entry + entry / 2);
  }
  EXPECT_EQ(c.stats().evictions, 7);
  EXPECT_TRUE(c.Load(Key("sig9", 109)).has_value());
}

TEST(DiskCache, UncreatableFolderWarnsOnceAndDisables) {
  const std::string file = FreshDir("file");
  Spit(file, "a plain file where a folder should be");
  Warnings w;
  DiskCache c(w.Options(file + "/cache"));
  EXPECT_FALSE(c.enabled());
  EXPECT_FALSE(c.Load(Key("sig", 1)).has_value());
  EXPECT_FALSE(c.Store(Key("sig", 1), "tf", "bin").ok());
  EXPECT_FALSE(c.Store(Key("sig", 2), "tf", "bin").ok());
  ASSERT_EQ(w.lines.size(), 1u);
  EXPECT_NE(w.lines[0].find("disabled"), std::string::npos) << w.lines[0];
}

// A folder the process cannot write (read-only to it; as root, which writes through
// permissions, /proc): reads still work, the first failed write warns, later ones do not.
TEST(DiskCache, UnwritableFolderWarnsOnceAndStillReads) {
  std::string dir = FreshDir("readonly");
  Warnings w;
  if (::geteuid() == 0) {
    dir = "/proc";
  } else {
    DiskCache c(w.Options(dir));
    ASSERT_TRUE(c.Store(Key("sig", 3), "tf_3", "bin").ok());
    ::chmod(dir.c_str(), 0500);
  }
  DiskCache c(w.Options(dir));
  EXPECT_TRUE(c.enabled());
  if (::geteuid() != 0) {
    EXPECT_EQ(c.Load(Key("sig", 3))->cubin, "bin");
  }
  EXPECT_FALSE(c.Store(Key("sig", 4), "tf_4", "bin").ok());
  EXPECT_FALSE(c.Store(Key("sig", 5), "tf_5", "bin").ok());
  EXPECT_EQ(w.lines.size(), 1u);
  EXPECT_EQ(c.stats().write_failures, 1);  // after one failure it stops trying
  if (::geteuid() != 0) ::chmod(dir.c_str(), 0700);
}

// The cache runs what its folder holds, so a folder anyone else can write is not used.
TEST(DiskCache, FolderWritableByOthersOrOwnedByAnotherUserIsNotTrusted) {
  const std::string dir = FreshDir("shared");
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0777);
  Warnings w;
  {
    DiskCache c(w.Options(dir));
    EXPECT_FALSE(c.enabled());
    EXPECT_FALSE(c.Load(Key("sig", 1)).has_value());
    EXPECT_FALSE(c.Store(Key("sig", 1), "tf", "bin").ok());
  }
  ASSERT_EQ(w.lines.size(), 1u);
  EXPECT_NE(w.lines[0].find("writable by group or others (mode 777)"), std::string::npos) << w.lines[0];
  if (::geteuid() == 0) {  // as root the test can give the folder away
    ::chmod(dir.c_str(), 0700);
    ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
    DiskCache c(w.Options(dir));
    EXPECT_FALSE(c.enabled());
    EXPECT_NE(w.lines.back().find("owned by uid 65534"), std::string::npos) << w.lines.back();
  }
}

TEST(DiskCache, DefaultFolderIsNeverShared) {
  const char* saved[] = {std::getenv("HOME"), std::getenv("XDG_CACHE_HOME"), std::getenv("TILEFUSE_CACHE_DIR")};
  const std::string keep[] = {saved[0] ? saved[0] : "", saved[1] ? saved[1] : "", saved[2] ? saved[2] : ""};
  ::unsetenv("TILEFUSE_CACHE_DIR");
  ::setenv("XDG_CACHE_HOME", "relative/cache", 1);  // ignored: XDG paths must be absolute
  for (const char* home : {"", "/", "relative"}) {
    ::setenv("HOME", home, 1);
    const std::string d = DefaultDiskCacheDir();
    EXPECT_NE(d, "/.cache/tilefuse") << "HOME='" << home << "'";
    EXPECT_NE(d.rfind("/tmp", 0), 0u) << d;
    EXPECT_TRUE(d.empty() || d[0] == '/') << d;
  }
  ::unsetenv("HOME");
  const std::string d = DefaultDiskCacheDir();
  EXPECT_NE(d.rfind("/tmp", 0), 0u) << d;
  const char* names[] = {"HOME", "XDG_CACHE_HOME", "TILEFUSE_CACHE_DIR"};
  for (int i = 0; i < 3; ++i) {
    if (saved[i] != nullptr) {
      ::setenv(names[i], keep[i].c_str(), 1);
    } else {
      ::unsetenv(names[i]);
    }
  }
}

// Links, FIFOs and huge files where entries or subfolders should be: refused at once,
// nothing read from them, nothing written through them.
TEST(DiskCache, LinksFifosAndHugeFilesAreRefusedWithoutReading) {
  const std::string dir = FreshDir("hostile");
  const std::string outside = FreshDir("hostile_outside");
  fs::create_directories(outside);
  Warnings w;
  DiskCache c(w.Options(dir));
  ASSERT_TRUE(c.enabled());
  // A symlinked <2 hex> subfolder: stores do not land outside the cache.
  const std::string sub = c.PathOf(0x1100000000000000ull).substr(0, c.PathOf(0x1100000000000000ull).rfind('/'));
  fs::create_directory_symlink(outside, sub);
  EXPECT_FALSE(c.Store(Key("sig", 0x1100000000000000ull), "tf", "bin").ok());
  EXPECT_TRUE(fs::is_empty(outside));
  EXPECT_FALSE(c.Load(Key("sig", 0x1100000000000000ull)).has_value());
  // Entries that are a link to /dev/zero, a FIFO, a 6 GB sparse file.
  DiskCache c2(w.Options(FreshDir("hostile2")));
  const uint64_t hashes[] = {0x2200000000000001ull, 0x2200000000000002ull, 0x2200000000000003ull};
  ASSERT_TRUE(c2.Store(Key("x", 0x2200000000000009ull), "tf", "bin").ok());  // makes the subfolder
  fs::create_symlink("/dev/zero", c2.PathOf(hashes[0]));
  ASSERT_EQ(::mkfifo(c2.PathOf(hashes[1]).c_str(), 0600), 0);
  Spit(c2.PathOf(hashes[2]), "");
  fs::resize_file(c2.PathOf(hashes[2]), uintmax_t{6} << 30);
  for (uint64_t h : hashes) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(c2.Load(Key("sig", h)).has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << "read what it should refuse";
    EXPECT_FALSE(fs::exists(fs::symlink_status(c2.PathOf(h)))) << "a refused entry is removed";
  }
  EXPECT_EQ(c2.stats().rejected, 3);
}

TEST(DiskCache, ForgedSizeFieldsAreDataLoss) {
  const DiskCacheKey key = Key("sig", 5);
  const std::string good = DiskCache::Serialize(key, "tf_5", "cubin");
  for (const char* forged : {"18446744073709551615", "18446744073709551612", "99999999999999999999999", "-1"}) {
    std::string bad = good;
    const size_t at = bad.find("signature_bytes ") + 16;
    bad.replace(at, bad.find('\n', at) - at, forged);
    const auto hit = DiskCache::Parse(bad, key);
    EXPECT_FALSE(hit.ok()) << forged;
    EXPECT_EQ(hit.status().code(), absl::StatusCode::kDataLoss) << forged << ": " << hit.status();
  }
}

// Format 1 as it was first written: a later build must still read it (or bump the version).
TEST(DiskCache, GoldenEntryOfFormat1) {
  const DiskCacheKey key = Key("pointwise vec=8\nin0 bf16 full site=-1 rank=1\n", 0xfeedull);
  const std::string path = std::string(TILEFUSE_TEST_DATA_DIR) + "/golden_entry_v1.tfk";
  if (std::getenv("TILEFUSE_REGENERATE_GOLDEN") != nullptr) {
    Spit(path, DiskCache::Serialize(key, "tf_000000000000feed", "golden cubin bytes"));
  }
  const std::string golden = Slurp(path);
  ASSERT_FALSE(golden.empty()) << path;
  auto hit = DiskCache::Parse(golden, key);
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_EQ(hit->entry_name, "tf_000000000000feed");
  EXPECT_EQ(hit->cubin, "golden cubin bytes");
  EXPECT_EQ(DiskCache::Serialize(key, "tf_000000000000feed", "golden cubin bytes"), golden);
}

}  // namespace
}  // namespace tilefuse::internal
