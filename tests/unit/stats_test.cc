// Statistics: the counters tell what a known sequence of operations did, path by path.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "ffalloc/ffalloc.h"
#include "stats_snapshot.h"
#include "runtime/runtime.h"

namespace ffa {
namespace {

TEST(Stats, SmallOperationsAreCountedByPath) {
  if (!kFastPathStats) GTEST_SKIP() << "built with -Dstats=false";
  ffa_free(ffa_malloc(8));  // this thread has a heap
  ffa_stats before = stats();
  std::vector<void*> v(1000);
  for (auto& p : v) p = ffa_malloc(48);
  ffa_stats mid = stats();
  EXPECT_EQ(mid.small_mallocs - before.small_mallocs, 1000u);
  unsigned c = small_class(48 + kCanaryBytes);
  EXPECT_EQ(mid.class_objects_in_use[c] - before.class_objects_in_use[c], 1000u);
  EXPECT_GE(mid.small_bytes_in_use - before.small_bytes_in_use, 1000u * 48);
  for (size_t i = 0; i < 600; ++i) ffa_free(v[i]);
  std::thread([&] {
    for (size_t i = 600; i < 1000; ++i) ffa_free(v[i]);
  }).join();
  ffa_stats after = stats();
  EXPECT_EQ(after.small_frees_local - mid.small_frees_local, 600u);
  EXPECT_EQ(after.remote_frees - mid.remote_frees, 400u);
}

TEST(Stats, LargeOperationsAreCountedByPathAndTimed) {
  if (FFA_SECURE) GTEST_SKIP() << "secure builds put every large block in a guarded region";
  ffa_free(ffa_malloc(100 * 1024));   // this thread has a heap and the arena a chunk
  ffa_malloc_trim(0);
  ffa::large_config.profile = true;   // as FFALLOC_STATS=1 sets it
  ffa_stats before = stats();
  void* a = ffa_malloc(100 * 1024);   // arena
  ffa_free(a);                        // into this thread's cache
  void* b = ffa_malloc(100 * 1024);   // cache hit
  void* c = ffa_malloc(40 << 20);     // region
  ffa_stats mid = stats();
  EXPECT_EQ(mid.arena_hits - before.arena_hits, 1u);
  EXPECT_EQ(mid.large_cache_hits - before.large_cache_hits, 1u);
  EXPECT_EQ(mid.regions_mapped - before.regions_mapped, 1u);
  EXPECT_EQ(mid.regions_live - before.regions_live, 1u);
  EXPECT_GE(mid.large_bytes_in_use - before.large_bytes_in_use, (40u << 20) + 100 * 1024);
  EXPECT_GT(mid.large_slow_ns, before.large_slow_ns);
  // The region's mmap, and one more when it lands where the page map needs a new leaf.
  EXPECT_GE(mid.os_mmap_calls - before.os_mmap_calls, 1u);
  EXPECT_LE(mid.os_mmap_calls - before.os_mmap_calls, 2u);
  EXPECT_GT(mid.os_mmap_ns, before.os_mmap_ns);
  ffa_free(b);
  ffa_free(c);
  ffa_stats after = stats();
  EXPECT_EQ(after.large_frees - mid.large_frees, 2u);
  EXPECT_GE(after.region_bytes_cached, 40u << 20);
  EXPECT_EQ(after.regions_live, before.regions_live);
}

// malloc_info's count for a class is the free objects its spans hold: what the spans can hold
// (each its own size: spans grow) less what is in use. Twenty 896 B objects in a thread's
// first two spans of that class, 8 KiB (9 objects) and 16 KiB (18), leave 7 free.
TEST(Stats, MallocInfoCountsTheFreeObjectsOfSpansOfEverySize) {
  constexpr size_t kSize = 896;
  auto count_of_class = [] {
    char* text = nullptr;
    size_t length = 0;
    FILE* out = open_memstream(&text, &length);
    EXPECT_EQ(ffa_malloc_info(0, out), 0);
    fclose(out);
    unsigned long long count = 0;
    if (const char* line = strstr(text, "to=\"896\"")) {
      sscanf(strstr(line, "count=\""), "count=\"%llu", &count);
    }
    free(text);
    return count;
  };
  std::thread([&] {
    unsigned long long before = count_of_class();  // spans other threads hold
    std::vector<void*> objects(20);
    for (auto& o : objects) o = ffa_malloc(kSize - kCanaryBytes);
    EXPECT_EQ(count_of_class() - before, 7u);
    for (void* o : objects) ffa_free(o);
  }).join();
}

TEST(Stats, ReportIsOneBlockOfPrefixedLines) {
  ::testing::internal::CaptureStderr();
  ffa_stats_print();
  std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.rfind("ffalloc: statistics\n", 0), 0u);
  size_t lines = 0;
  for (size_t at = 0; at < out.size(); at = out.find('\n', at) + 1, ++lines) {
    ASSERT_EQ(out.compare(at, 9, "ffalloc: "), 0) << out.substr(at, 60);
  }
  EXPECT_GT(lines, 30u);
  EXPECT_NE(out.find("small mallocs"), std::string::npos);
  EXPECT_NE(out.find("mmap calls"), std::string::npos);
}

}  // namespace
}  // namespace ffa
