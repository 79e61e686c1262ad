// Decay and the large path's steady state: freed memory goes back to the OS within the decay
// delay (RSS falls), no syscall is made while a workload repeats itself, and each fail-fast
// branch of the arena shows in the counters and falls back correctly.
#include "large/decay.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "ffalloc/ffalloc.h"
#include "stats_snapshot.h"
#include "runtime/runtime.h"

namespace ffa {
namespace {

size_t rss_bytes() {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr || fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  if (f != nullptr) fclose(f);
  return size_t(resident) * size_t(sysconf(_SC_PAGESIZE));
}

uint64_t syscalls(const ffa_stats& s) {
  return s.os_mmap_calls + s.os_munmap_calls + s.os_madvise_calls + s.os_mremap_calls;
}

class Decay : public ::testing::Test {
 protected:
  void SetUp() override {
    ffa_free(ffa_malloc(1));  // global init reads the options: set the delay after it
    saved_ = large_config.decay_ns;
    large_config.decay_ns = 100 * 1000000;  // 100 ms: ticks every 50 ms
  }
  void TearDown() override { large_config.decay_ns = saved_; }
  uint64_t saved_ = 0;
};

TEST_F(Decay, RssFallsAfterABurstWithinTheDelay) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  constexpr size_t kBlock = 256 * kKiB;
  std::vector<void*> burst(256);  // 64 MiB of large blocks, all touched
  for (auto& b : burst) {
    b = ffa_malloc(kBlock);
    ASSERT_NE(b, nullptr);
    memset(b, 0x33, kBlock);
  }
  size_t peak = rss_bytes();
  for (void* b : burst) ffa_free(b);
  // The program goes on with light work; decay runs from its slow paths.
  auto start = std::chrono::steady_clock::now();
  size_t rss = peak;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(600)) {
    std::vector<void*> light(2000);
    for (size_t i = 0; i < light.size(); ++i) light[i] = ffa_malloc(16 + i % 1000);
    for (void* p : light) ffa_free(p);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    rss = rss_bytes();
    if (rss + 48 * kMiB < peak) break;
  }
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(rss + 48 * kMiB, peak) << "RSS did not fall: peak " << peak << ", now " << rss;
  EXPECT_LT(waited, std::chrono::milliseconds(500));  // the delay (100 ms) plus a margin
  EXPECT_GT(stats().decay_bytes_purged, 0u);
}

// Frees a burst of 64 MiB of touched large blocks that ends up free in the arena (the caches
// keep at most a few MiB of it).
void burst_of_64_mib() {
  std::vector<void*> burst(256);
  for (auto& b : burst) {
    b = ffa_malloc(256 * kKiB);
    ASSERT_NE(b, nullptr);
    memset(b, 0x44, 256 * kKiB);
  }
  for (void* b : burst) ffa_free(b);
}

// A program that stops after a burst and runs its next slow path seconds later: that one tick
// must give the burst back, although the burst was still "recent" when the last tick ran.
TEST_F(Decay, TheFirstTickAfterAnIdleGapPurgesTheWholeBurst) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  decay_tick();
  burst_of_64_mib();
  uint64_t purged = stats().decay_bytes_purged;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // 4 ticks go by, none runs
  ASSERT_TRUE(decay_maybe_tick());
  EXPECT_GE(stats().decay_bytes_purged - purged, 48 * kMiB);
}

// ... but not what was freed just before that tick: a program that computed for a while and
// now tears down and rebuilds its objects must not fault them all in again.
TEST_F(Decay, AfterAnIdleGapMemoryFreedJustBeforeTheTickStays) {
  // Ticks of 200 ms: the free loop below must end within one for all of it to count as just
  // freed, which a loaded machine could stretch past 50 ms.
  large_config.decay_ns = 400 * 1000000;
  ffa_malloc_trim(0);  // nothing free and dirty from earlier tests
  std::vector<void*> objects(64 * 1024);  // 64 MiB of 1 KiB objects, in small spans
  for (auto& o : objects) {
    o = ffa_malloc(1000);
    ASSERT_NE(o, nullptr);
    memset(o, 0x55, 1000);
  }
  decay_tick();
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // 3 ticks go by, none runs
  for (void* o : objects) ffa_free(o);  // empty spans go back to the arena, no tick
  ASSERT_GE(arena().dirty_free_bytes(), 48 * kMiB);  // so the tick has something to spare
  uint64_t purged = stats().decay_bytes_purged;
  ASSERT_TRUE(decay_maybe_tick());
  EXPECT_LT(stats().decay_bytes_purged - purged, 8 * kMiB);
}

// Thread exit is a slow path too: in a pool that winds down after a burst, the last thing the
// threads do is exit, and the burst must not wait for a malloc that may never come.
TEST_F(Decay, AThreadExitRunsTheTickThatPurgesAnEarlierBurst) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  std::atomic<bool> ready{false}, go{false};
  std::thread worker([&] {
    ffa_free(ffa_malloc(64));  // has a heap, so its exit tidies it (and ticks)
    ready = true;
    while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  // The stats walk below reads span descriptors: only once the worker has stopped allocating.
  while (!ready.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  burst_of_64_mib();
  uint64_t purged = stats().decay_bytes_purged;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  go = true;
  worker.join();
  EXPECT_GE(stats().decay_bytes_purged - purged, 48 * kMiB);
}

TEST_F(Decay, CachedRegionsAreUnmappedAfterTheDelay) {
  void* p = ffa_malloc(20 * kMiB);
  memset(p, 1, 20 * kMiB);
  ffa_free(p);
  EXPECT_GE(stats().region_bytes_cached, 20 * kMiB);
  auto start = std::chrono::steady_clock::now();
  while (stats().region_bytes_cached != 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(1)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    decay_maybe_tick();
  }
  EXPECT_EQ(stats().region_bytes_cached, 0u);
}

TEST(SteadyState, RepeatingWorkloadMakesNoSyscalls) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  // The seed's shape, warmed up: then thousands of commits without one memory syscall. Free
  // memory earlier tests left behind goes first: a decay tick that lands in the counted rounds
  // would rightly purge it (a shuffled run once counted 276 madvise calls that way).
  ffa_malloc_trim(0);
  auto round = [] {
    std::vector<void*> v;
    for (int i = 0; i < 64; ++i) {
      size_t size = i % 3 == 0 ? 64 * kKiB : (4 + i * 13) * kKiB;
      v.push_back(ffa_malloc(size));
      memset(v.back(), i, 4096);
    }
    std::thread([&v] {
      for (void* p : v) ffa_free(p);
    }).join();
  };
  for (int i = 0; i < 5; ++i) round();
  uint64_t before = syscalls(stats());
  for (int i = 0; i < 200; ++i) round();
  EXPECT_EQ(syscalls(stats()), before);
}

TEST(FailFast, ContendedArenaFallsBackToARegionAtOnce) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  ffa_malloc_trim(0);
  ffa_stats before = stats();
  arena().lose_races_for_test(1000);  // every claim attempt loses its race
  void* p = ffa_malloc(200 * kKiB + 5);
  arena().lose_races_for_test(0);
  ASSERT_NE(p, nullptr);
  ffa_stats after = stats();
  EXPECT_EQ(after.arena_failfast_contended, before.arena_failfast_contended + 1);
  EXPECT_EQ(after.regions_mapped + after.regions_reused,
            before.regions_mapped + before.regions_reused + 1);
  memset(p, 7, 200 * kKiB);
  ffa_free(p);
}

TEST(FailFast, FullArenaFallsBackToARegionWhenItCannotGrow) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  ffa_free(ffa_malloc(64));  // this thread has its heap: the map failure below is the arena's
  ffa_malloc_trim(0);  // this thread's cache is empty: the request must go to the arena
  ffa_stats before = stats();
  // Fill the arena as it is now, then make growing it fail: the request must still succeed.
  std::vector<Span*> held;
  ClaimFailure why;
  while (Span* s = arena().try_claim(1, kSliceSize, &why)) held.push_back(s);
  ffa_fail_nth_map_for_test(1);  // the arena's growth
  void* p = ffa_malloc(300 * kKiB);
  ffa_fail_nth_map_for_test(0);
  ASSERT_NE(p, nullptr);
  ffa_stats after = stats();
  EXPECT_GT(after.arena_failfast_nospace, before.arena_failfast_nospace);
  EXPECT_EQ(after.regions_mapped, before.regions_mapped + 1);
  ffa_free(p);
  for (Span* s : held) arena().release(s);
}

TEST(Calloc, FreshLargeMemoryIsNotClearedAgain) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sanitizer shadow memory moves RSS on its own";
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
  GTEST_SKIP() << "sanitizer shadow memory moves RSS on its own";
#endif
#endif
  ffa_malloc_trim(0);
  size_t before = rss_bytes();
  auto* p = static_cast<unsigned char*>(ffa_calloc(1, 256 * kMiB));  // a fresh region
  ASSERT_NE(p, nullptr);
  EXPECT_LT(rss_bytes() - before, 8 * kMiB);  // not memset: its pages were never touched
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[256 * kMiB - 1], 0);
  ffa_free(p);
}

TEST(Realloc, ArenaRunsGrowAndShrinkInPlace) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  auto* p = static_cast<char*>(ffa_malloc(40 * kKiB));
  memset(p, 5, 40 * kKiB);
  ffa_stats before = stats();
  char* q = static_cast<char*>(ffa_realloc(p, 120 * kKiB));
  if (q == p) {  // the slices after it were free: grown in place
    EXPECT_GE(ffa_malloc_usable_size(q), 120 * kKiB);
  }
  EXPECT_EQ(q[40 * kKiB - 1], 5);
  char* r = static_cast<char*>(ffa_realloc(q, 48 * kKiB));
  EXPECT_EQ(r, q);  // shrinking never moves
  EXPECT_LT(ffa_malloc_usable_size(r), 120 * kKiB);  // the tail went back
  EXPECT_EQ(syscalls(stats()), syscalls(before));
  ffa_free(r);
}

TEST(Realloc, RegionsGrowWithMremapNotCopies) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  auto* p = static_cast<char*>(ffa_malloc(8 * kMiB));
  memset(p, 9, 8 * kMiB);
  ffa_stats before = stats();
  auto* q = static_cast<char*>(ffa_realloc(p, 64 * kMiB));
  ASSERT_NE(q, nullptr);
  ffa_stats after = stats();
  // In place if the pages after it are free, else onto a reserved range: never a copy. The
  // reservation is one mmap, and one more when it lands where the page map needs a new leaf.
  EXPECT_GE(after.os_mremap_calls, before.os_mremap_calls + 1);
  EXPECT_LE(after.os_mremap_calls, before.os_mremap_calls + 2);
  EXPECT_LE(after.os_mmap_calls, before.os_mmap_calls + 2);
  EXPECT_EQ(q[8 * kMiB - 1], 9);
  q[64 * kMiB - 1] = 1;
  ffa_free(q);
}

}  // namespace
}  // namespace ffa
