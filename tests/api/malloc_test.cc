// malloc / free / malloc_usable_size with glibc's semantics: size 0 gives a unique freeable
// pointer, every block is 16-byte aligned and writable up to its usable size, and impossible
// sizes fail with NULL + ENOMEM instead of crashing or returning a short block.
#include <errno.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "api_test.h"

using namespace ffa_test;

TEST(Malloc, ZeroSizeIsUniqueNonNullAndFreeable) {
  std::set<void*> seen;
  std::vector<void*> v;
  for (int i = 0; i < 64; ++i) {
    void* p = FN(malloc)(opaque<size_t>(0));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned(p, 16)) << p;
    EXPECT_TRUE(seen.insert(p).second) << "malloc(0) returned " << p << " twice while live";
    v.push_back(p);
  }
  if (OwnsFn owns = owns_fn()) {
    EXPECT_EQ(owns(v[0]), 1);
  }
  for (void* p : v) FN(free)(p);
}

TEST(Malloc, FreeNullIsNoop) {
  FN(free)(opaque<void*>(nullptr));
  FN(free)(opaque<void*>(nullptr));
  void* p = FN(malloc)(opaque<size_t>(32));
  ASSERT_NE(p, nullptr);
  FN(free)(p);
}

// Allocates n bytes and checks alignment, usable size and that every usable byte is writable
// and keeps its value (no overlap with another live block).
static void check_block(size_t n, std::vector<std::pair<void*, size_t>>& live) {
  void* p = FN(malloc)(n);
  ASSERT_NE(p, nullptr) << "malloc(" << n << ")";
  ASSERT_TRUE(aligned(p, 16)) << "malloc(" << n << ") = " << p;
  size_t us = FN(malloc_usable_size)(p);
  ASSERT_GE(us, n) << "malloc_usable_size too small for malloc(" << n << ")";
  memset(p, 0xA5, us);
  fill_pattern(p, us < 4096 ? us : 4096, static_cast<unsigned>(n));
  live.emplace_back(p, n);
}

static void verify_and_free(std::vector<std::pair<void*, size_t>>& live) {
  for (auto [p, n] : live) {
    size_t us = FN(malloc_usable_size)(p);
    size_t k = us < 4096 ? us : 4096;
    ASSERT_EQ(check_pattern(p, k, static_cast<unsigned>(n)), k) << "block of " << n << " bytes clobbered";
    FN(free)(p);
  }
  live.clear();
}

TEST(Malloc, AlignedAndUsableEverySmallSize) {
  std::vector<std::pair<void*, size_t>> live;
  for (size_t n = 1; n <= 4096; ++n) check_block(n, live);
  verify_and_free(live);
}

TEST(Malloc, AlignedAndUsableAroundPowersOfTwoTo4MiB) {
  std::vector<std::pair<void*, size_t>> live;
  for (size_t pw = 16; pw <= (size_t{4} << 20); pw <<= 1)
    for (size_t n : {pw - 1, pw, pw + 1, pw + pw / 2}) check_block(n, live);
  verify_and_free(live);
}

TEST(Malloc, AlignedAndUsableRandomSizes) {
  std::mt19937_64 rng(12345);
  std::vector<std::pair<void*, size_t>> live;
  for (int i = 0; i < 3000; ++i) {
    size_t n = 1 + rng() % ((rng() % 4 == 0) ? (size_t{4} << 20) : 70000);
    check_block(n, live);
    if (live.size() > 200) verify_and_free(live);
  }
  verify_and_free(live);
}

TEST(Malloc, ImpossibleSizesFailWithEnomem) {
  for (size_t n : {SIZE_MAX, SIZE_MAX - 4096, static_cast<size_t>(PTRDIFF_MAX) + 1,
                   static_cast<size_t>(PTRDIFF_MAX)}) {
    errno = 0;
    void* p = FN(malloc)(opaque(n));
    EXPECT_EQ(p, nullptr) << "malloc(" << n << ")";
    EXPECT_EQ(errno, ENOMEM) << "malloc(" << n << ")";
  }
  void* p = FN(malloc)(opaque<size_t>(100));  // the allocator still works afterwards
  ASSERT_NE(p, nullptr);
  FN(free)(p);
}
