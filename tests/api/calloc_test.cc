// calloc: the requested bytes are zero even when the block reuses memory a previous owner
// dirtied (small and large sizes), and count * size overflow fails with NULL + ENOMEM instead of
// returning a short block.
#include <errno.h>
#include <gtest/gtest.h>

#include <vector>

#include "api_test.h"

using namespace ffa_test;

static bool all_zero(const void* p, size_t n) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != 0) return false;
  return true;
}

// Dirties `rounds` x `count` blocks of `size` bytes, frees them, then callocs the same shapes
// (which the allocator will typically serve from the memory just freed).
static void calloc_after_dirty(size_t size, int count) {
  for (int round = 0; round < 3; ++round) {
    std::vector<void*> v;
    for (int i = 0; i < count; ++i) {
      void* p = FN(malloc)(size);
      ASSERT_NE(p, nullptr);
      memset(p, 0xFF, FN(malloc_usable_size)(p));
      v.push_back(p);
    }
    for (void* p : v) FN(free)(p);
    v.clear();
    for (int i = 0; i < count; ++i) {
      void* p = FN(calloc)(1, size);
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(aligned(p, 16));
      ASSERT_TRUE(all_zero(p, size)) << "calloc(1, " << size << ") returned dirty memory";
      memset(p, 0xEE, size);  // dirty again for the next round
      v.push_back(p);
    }
    for (void* p : v) FN(free)(p);
  }
}

TEST(Calloc, ZeroesReusedSmallBlocks) {
  for (size_t s : {1, 8, 16, 24, 48, 100, 256, 1000, 4000}) calloc_after_dirty(s, 200);
}

TEST(Calloc, ZeroesReusedLargeBlocks) {
  for (size_t s : {size_t{40} << 10, size_t{300} << 10, size_t{1} << 20, size_t{4} << 20})
    calloc_after_dirty(s, 4);
  calloc_after_dirty(size_t{64} << 20, 1);
}

TEST(Calloc, CountTimesSize) {
  unsigned* p = static_cast<unsigned*>(FN(calloc)(opaque<size_t>(1000), sizeof(unsigned)));
  ASSERT_NE(p, nullptr);
  EXPECT_GE(FN(malloc_usable_size)(p), 1000 * sizeof(unsigned));
  EXPECT_TRUE(all_zero(p, 1000 * sizeof(unsigned)));
  FN(free)(p);
}

TEST(Calloc, ZeroCountOrSizeIsNonNull) {
  void* a = FN(calloc)(opaque<size_t>(0), 16);
  void* b = FN(calloc)(16, opaque<size_t>(0));
  EXPECT_NE(a, nullptr);
  EXPECT_NE(b, nullptr);
  EXPECT_NE(a, b);
  FN(free)(a);
  FN(free)(b);
}

TEST(Calloc, OverflowFailsWithEnomem) {
  const size_t cases[][2] = {{SIZE_MAX / 2, 3}, {size_t{1} << 32, size_t{1} << 32},
                             {SIZE_MAX, SIZE_MAX}, {3, SIZE_MAX / 2}, {1, SIZE_MAX},
                             {1, static_cast<size_t>(PTRDIFF_MAX) + 1}};
  for (auto& c : cases) {
    errno = 0;
    void* p = FN(calloc)(opaque(c[0]), opaque(c[1]));
    EXPECT_EQ(p, nullptr) << "calloc(" << c[0] << ", " << c[1] << ")";
    EXPECT_EQ(errno, ENOMEM) << "calloc(" << c[0] << ", " << c[1] << ")";
  }
}
