// realloc / reallocarray with glibc's semantics: contents survive growing and shrinking across
// the small, large and huge size classes; realloc(NULL, n) is malloc, realloc(p, 0) frees and
// returns NULL; on failure (overflow, impossible size) NULL + ENOMEM and the old block is intact.
#include <errno.h>
#include <gtest/gtest.h>

#include <vector>

#include "api_test.h"

using namespace ffa_test;

TEST(Realloc, NullIsMalloc) {
  for (size_t n : {0, 1, 100, 5000, 300000}) {
    void* p = FN(realloc)(nullptr, opaque<size_t>(n));
    ASSERT_NE(p, nullptr) << "realloc(NULL, " << n << ")";
    EXPECT_TRUE(aligned(p, 16));
    EXPECT_GE(FN(malloc_usable_size)(p), n);
    memset(p, 1, n);
    if (OwnsFn owns = owns_fn()) {
      EXPECT_EQ(owns(p), 1);
    }
    FN(free)(p);
  }
}

TEST(Realloc, ZeroSizeFreesAndReturnsNull) {
  // glibc (REALLOC_ZERO_BYTES_FREES): realloc(p, 0) frees p and returns NULL.
  for (size_t n : {16, 4000, 300000}) {
    void* p = FN(malloc)(n);
    ASSERT_NE(p, nullptr);
    void* r = FN(realloc)(p, opaque<size_t>(0));
    EXPECT_EQ(r, nullptr) << "realloc(p, 0) of a " << n << "-byte block";
    if (OwnsFn owns = owns_fn()) {
      EXPECT_EQ(owns(p), 0) << "realloc(p, 0) did not free p";
    }
  }
}

// Walks one block through `sizes`, checking after every step that the common prefix survived.
static void walk(const std::vector<size_t>& sizes) {
  size_t cur = sizes[0];
  void* p = FN(malloc)(cur);
  ASSERT_NE(p, nullptr);
  fill_pattern(p, cur, 7);
  for (size_t i = 1; i < sizes.size(); ++i) {
    size_t next = sizes[i];
    void* q = FN(realloc)(p, next);
    ASSERT_NE(q, nullptr) << "realloc " << cur << " -> " << next;
    ASSERT_TRUE(aligned(q, 16));
    ASSERT_GE(FN(malloc_usable_size)(q), next);
    size_t keep = cur < next ? cur : next;
    ASSERT_EQ(check_pattern(q, keep, 7), keep) << "contents lost in realloc " << cur << " -> " << next;
    fill_pattern(q, next, 7);
    p = q;
    cur = next;
  }
  FN(free)(p);
}

TEST(Realloc, PreservesContentsUpThroughHugeAndBack) {
  walk({8, 1 << 10, 40 << 10, 300 << 10, 8 << 20, 64 << 20, 8 << 20, 300 << 10, 40 << 10, 1 << 10, 8});
}

TEST(Realloc, PreservesContentsInJumps) {
  walk({8, 64 << 20, 8, 300 << 10, 1 << 10, 8 << 20, 40 << 10, 64 << 20, 1 << 10});
}

TEST(Realloc, ManySmallGrowthSteps) {
  std::vector<size_t> sizes;
  for (size_t n = 1; n < 200000; n += n / 8 + 3) sizes.push_back(n);
  for (size_t i = sizes.size(); i-- > 0;) sizes.push_back(sizes[i]);
  walk(sizes);
}

TEST(Realloc, ImpossibleSizeFailsAndKeepsBlock) {
  for (size_t n : {100, 300000}) {
    void* p = FN(malloc)(n);
    ASSERT_NE(p, nullptr);
    fill_pattern(p, n, 3);
    for (size_t big : {SIZE_MAX, static_cast<size_t>(PTRDIFF_MAX) + 1}) {
      errno = 0;
      EXPECT_EQ(FN(realloc)(p, opaque(big)), nullptr);
      EXPECT_EQ(errno, ENOMEM);
      ASSERT_EQ(check_pattern(p, n, 3), n) << "failed realloc modified the block";
    }
    FN(free)(p);
  }
}

TEST(Reallocarray, GrowsAndPreserves) {
  int* p = static_cast<int*>(FN(reallocarray)(nullptr, 10, sizeof(int)));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 10; ++i) p[i] = i * 7;
  p = static_cast<int*>(FN(reallocarray)(opaque(p), opaque<size_t>(100000), sizeof(int)));
  ASSERT_NE(p, nullptr);
  EXPECT_GE(FN(malloc_usable_size)(p), 100000 * sizeof(int));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(p[i], i * 7);
  FN(free)(p);
}

TEST(Reallocarray, OverflowFailsWithEnomemAndKeepsBlock) {
  const size_t n = 4000;
  void* p = FN(malloc)(n);
  ASSERT_NE(p, nullptr);
  fill_pattern(p, n, 9);
  const size_t us = FN(malloc_usable_size)(p);
  const size_t cases[][2] = {{SIZE_MAX / 2, 3}, {size_t{1} << 32, size_t{1} << 32}, {3, SIZE_MAX / 2}};
  for (auto& c : cases) {
    errno = 0;
    EXPECT_EQ(FN(reallocarray)(opaque(p), opaque(c[0]), opaque(c[1])), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
  EXPECT_EQ(FN(malloc_usable_size)(p), us);
  ASSERT_EQ(check_pattern(p, n, 9), n) << "failed reallocarray modified the block";
  if (OwnsFn owns = owns_fn()) {
    EXPECT_EQ(owns(p), 1) << "failed reallocarray freed the block";
  }
  FN(free)(p);
}
