// glibc introspection calls that programs make unconditionally (malloc_trim, mallopt,
// malloc_stats) must be accepted and harmless; the prefixed build also checks the ffa_*
// extensions: ffa_owns on foreign pointers, injected mmap failure and recovery, free_sized.
#include <errno.h>
#include <gtest/gtest.h>

#include <vector>

#include "api_test.h"

using namespace ffa_test;

TEST(MallocTrim, ReturnsZeroOrOneAndKeepsLiveBlocks) {
  std::vector<void*> v;
  for (size_t n = 16; n <= (size_t{16} << 20); n *= 4) {
    void* p = FN(malloc)(n);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, n, 5);
    v.push_back(p);
  }
  void* keep = FN(malloc)(1000);
  fill_pattern(keep, 1000, 6);
  for (void* p : v) FN(free)(p);
  for (size_t pad : {size_t{0}, size_t{4096}, size_t{1} << 30}) {
    int r = FN(malloc_trim)(pad);
    EXPECT_TRUE(r == 0 || r == 1) << "malloc_trim(" << pad << ") = " << r;
  }
  EXPECT_EQ(check_pattern(keep, 1000, 6), size_t{1000}) << "malloc_trim damaged a live block";
  FN(free)(keep);
  void* p = FN(malloc)(size_t{4} << 20);  // still works after trimming
  ASSERT_NE(p, nullptr);
  memset(p, 0, size_t{4} << 20);
  FN(free)(p);
}

TEST(Mallopt, AcceptsGlibcParameters) {
  // Values are glibc's defaults, so validating against glibc leaves its behaviour unchanged.
  const int params[][2] = {{M_MMAP_THRESHOLD, 128 * 1024}, {M_TRIM_THRESHOLD, 128 * 1024},
                           {M_TOP_PAD, 128 * 1024},         {M_MMAP_MAX, 65536},
                           {M_ARENA_TEST, 8},               {M_ARENA_MAX, 0},
                           {M_PERTURB, 0}};
  for (auto& pv : params) EXPECT_EQ(FN(mallopt)(pv[0], pv[1]), 1) << "mallopt(" << pv[0] << ")";
  void* p = FN(malloc)(1 << 20);
  ASSERT_NE(p, nullptr);
  FN(free)(p);
}

TEST(MallocStats, DoesNotCrash) {
  void* p = FN(malloc)(100);
  FN(malloc_stats)();
  FN(free)(p);
}

#if FFA_API_PREFIXED
static int g_global;
static char g_array[256];
static void some_code() {}

TEST(FfaOwns, FalseForForeignPointers) {
  int local = 0;
  void* glibc_block = malloc(opaque<size_t>(64));  // plain malloc is glibc's in this build
  void* mine = ffa_malloc(64);
  void* mine_large = ffa_malloc(size_t{2} << 20);
  EXPECT_EQ(ffa_owns(&local), 0);
  EXPECT_EQ(ffa_owns(&g_global), 0);
  EXPECT_EQ(ffa_owns(g_array + 16), 0);
  EXPECT_EQ(ffa_owns(glibc_block), 0);
  EXPECT_EQ(ffa_owns(nullptr), 0);
  EXPECT_EQ(ffa_owns(reinterpret_cast<void*>(uintptr_t{1})), 0);
  EXPECT_EQ(ffa_owns(reinterpret_cast<void*>(uintptr_t{0x1000})), 0);
  EXPECT_EQ(ffa_owns(reinterpret_cast<void*>(~uintptr_t{0} & ~uintptr_t{15})), 0);
  EXPECT_EQ(ffa_owns(reinterpret_cast<void*>(&some_code)), 0);
  EXPECT_EQ(ffa_owns(mine), 1);
  EXPECT_EQ(ffa_owns(static_cast<char*>(mine) + 16), 0) << "interior pointer is not a block start";
  EXPECT_EQ(ffa_owns(mine_large), 1);
  EXPECT_EQ(ffa_owns(static_cast<char*>(mine_large) + 4096), 0);
  ffa_free(mine);
  ffa_free(mine_large);
  EXPECT_EQ(ffa_owns(mine), 0) << "freed small block still reported live";
  EXPECT_EQ(ffa_owns(mine_large), 0) << "freed large block still reported live";
  free(glibc_block);
}

TEST(FfaFailNthMap, InjectedFailureIsEnomemThenRecovers) {
  const size_t big = (size_t{64} << 20) + 5 * 4096;  // a size no earlier test left cached
  ffa_free(ffa_malloc(100 << 10));  // the thread's heap and the arena exist: the failure is the region's
  ffa_malloc_trim(0);
  ffa_stats before{};
  ffa_stats_get(&before);
  ffa_fail_nth_map_for_test(1);
  errno = 0;
  void* p = ffa_malloc(big);
  int err = errno;
  EXPECT_EQ(p, nullptr) << "the injected mmap failure did not surface";
  EXPECT_EQ(err, ENOMEM);
  ffa_stats after{};
  ffa_stats_get(&after);
  EXPECT_GE(after.os_map_failures, before.os_map_failures + 1);
  void* q = ffa_malloc(big);
  ASSERT_NE(q, nullptr) << "allocator did not recover after one failed mmap";
  memset(q, 7, big);
  EXPECT_EQ(ffa_owns(q), 1);
  ffa_free(q);
  ffa_free(p);
}

TEST(FfaFreeSized, MatchingSizesAndAlignments) {
  for (size_t n : {1, 100, 5000, 300000}) {
    void* p = ffa_malloc(n);
    ASSERT_NE(p, nullptr);
    ffa_free_sized(p, n);
    void* q = ffa_aligned_alloc(4096, n);
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(aligned(q, 4096));
    ffa_free_aligned_sized(q, 4096, n);
  }
  ffa_free_sized(nullptr, 0);
}
#endif
