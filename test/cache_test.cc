// The in-memory kernel cache: single flight, concurrency, failures not cached.
#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "runtime/cache/kernel_cache.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

TEST(KernelCache, ConcurrentRequestsForOneSignatureBuildOnce) {
  KernelCache cache;
  std::atomic<int> builds{0};
  absl::Notification release;
  const KernelCache::Builder build = [&]() -> absl::StatusOr<KernelCache::Built> {
    builds.fetch_add(1);
    release.WaitForNotification();  // hold the build so that others must wait for it
    return KernelCache::Built{"cubin-bytes", "tf_entry", 1.0};
  };
  std::vector<std::thread> threads;
  std::atomic<int> hits{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      bool hit = false;
      auto k = cache.GetOrBuild("sig A", build, &hit);
      ASSERT_TRUE(k.ok());
      EXPECT_EQ((*k)->cubin(), "cubin-bytes");
      hits += hit;
    });
  }
  absl::SleepFor(absl::Milliseconds(50));
  release.Notify();
  for (auto& t : threads) t.join();
  EXPECT_EQ(builds.load(), 1);
  EXPECT_EQ(hits.load(), 7);
  EXPECT_EQ(cache.stats().compiles, 1);
  EXPECT_NE(cache.Find("sig A"), nullptr);
  EXPECT_EQ(cache.Find("sig B"), nullptr);
}

TEST(KernelCache, DifferentSignaturesBuildConcurrently) {
  KernelCache cache;
  std::atomic<int> inside{0}, max_inside{0};
  const auto build = [&]() -> absl::StatusOr<KernelCache::Built> {
    const int now = ++inside;
    for (int seen = max_inside.load(); now > seen && !max_inside.compare_exchange_weak(seen, now);) {}
    absl::SleepFor(absl::Milliseconds(100));
    --inside;
    return KernelCache::Built{"x", "tf_x", 0};
  };
  std::thread a([&] { ASSERT_TRUE(cache.GetOrBuild("one", build).ok()); });
  std::thread b([&] { ASSERT_TRUE(cache.GetOrBuild("two", build).ok()); });
  a.join();
  b.join();
  EXPECT_EQ(max_inside.load(), 2);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(KernelCache, FailuresAreNotCached) {
  KernelCache cache;
  int calls = 0;
  const auto fail = [&]() -> absl::StatusOr<KernelCache::Built> {
    ++calls;
    return absl::InternalError("nvrtc said no");
  };
  EXPECT_TRUE(StatusIs(cache.GetOrBuild("s", fail), absl::StatusCode::kInternal, "nvrtc said no"));
  EXPECT_EQ(cache.size(), 0u);
  const auto ok = [&]() -> absl::StatusOr<KernelCache::Built> {
    ++calls;
    return KernelCache::Built{"c", "tf_c", 0};
  };
  EXPECT_TRUE(cache.GetOrBuild("s", ok).ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(cache.stats().failures, 1);
}

// Clear drops built kernels (a kernel already handed out stays valid) and leaves one being
// built alone; the next request for a dropped one builds it again.
TEST(KernelCache, ClearDropsBuiltKernelsNotOnesInFlight) {
  KernelCache cache;
  const KernelCache::Builder quick = []() -> absl::StatusOr<KernelCache::Built> {
    return KernelCache::Built{"bin", "tf_quick", 1.0};
  };
  TF_ASSERT_OK_AND_ASSIGN(auto held, cache.GetOrBuild("sig A", quick));
  absl::Notification started, release;
  std::thread slow([&] {
    auto k = cache.GetOrBuild("sig B", [&]() -> absl::StatusOr<KernelCache::Built> {
      started.Notify();
      release.WaitForNotification();
      return KernelCache::Built{"bin-b", "tf_slow", 1.0};
    });
    EXPECT_TRUE(k.ok());
  });
  started.WaitForNotification();
  EXPECT_EQ(cache.Clear(), 1u);  // A; B is being built
  release.Notify();
  slow.join();
  EXPECT_EQ(held->cubin(), "bin");
  EXPECT_EQ(cache.Find("sig A"), nullptr);
  EXPECT_NE(cache.Find("sig B"), nullptr);
  bool hit = true;
  TF_ASSERT_OK(cache.GetOrBuild("sig A", quick, &hit).status());
  EXPECT_FALSE(hit);
  EXPECT_EQ(cache.stats().compiles, 3);
}

}  // namespace
}  // namespace tilefuse::internal
