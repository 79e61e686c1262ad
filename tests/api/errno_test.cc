// errno edge semantics not covered elsewhere: alignments above half the address space, valloc
// of impossible sizes, posix_memalign of size 0 at every alignment, and errno left alone by the
// calls that succeed without a return value to report through: free (POSIX 2024 requires it;
// glibc >= 2.33 does it), malloc_usable_size, realloc(p, 0). Checked on glibc 2.36 with
// FFA_TEST_EXPECT_GLIBC=1.
#include <errno.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "api_test.h"

using namespace ffa_test;

namespace {

constexpr int kSentinel = 4321;

size_t page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// Sizes that take every path: small, large (arena), large above the thread cache, huge (region).
const size_t kSizes[] = {0, 1, 16, 1000, 32768, 40000, 300000, size_t{2} << 20, size_t{9} << 20,
                         size_t{64} << 20};

}  // namespace

TEST(AlignedAlloc, AlignmentAboveHalfTheAddressSpaceIsEinval) {
  // glibc: an alignment above SIZE_MAX/2+1 cannot be a power of two -> EINVAL (aligned_alloc is
  // memalign there). 2^63 itself is ENOMEM (aligned_test.cc).
  for (size_t a : {SIZE_MAX, SIZE_MAX - 1, (SIZE_MAX / 2) + 2}) {
    errno = 0;
    EXPECT_EQ(FN(aligned_alloc)(opaque(a), 10), nullptr) << "aligned_alloc(" << a << ")";
    EXPECT_EQ(errno, EINVAL) << "aligned_alloc(" << a << ")";
    errno = 0;
    EXPECT_EQ(FN(memalign)(opaque(a), 10), nullptr) << "memalign(" << a << ")";
    EXPECT_EQ(errno, EINVAL) << "memalign(" << a << ")";
  }
}

TEST(Memalign, NonPowerOfTwoJustBelowHalfFails) {
  // 2^63 - 1 rounds up to 2^63, which cannot be satisfied: glibc says ENOMEM; EINVAL (refusing
  // to round) is as good. What matters: NULL, and errno says why.
  for (size_t a : {SIZE_MAX / 2, (SIZE_MAX / 4) * 3}) {
    errno = 0;
    EXPECT_EQ(FN(memalign)(opaque(a), 10), nullptr) << "memalign(" << a << ")";
    EXPECT_TRUE(errno == ENOMEM || errno == EINVAL) << "memalign(" << a << "): errno " << errno;
  }
}

TEST(Valloc, ImpossibleSizesFailWithEnomem) {
  const size_t pg = page();
  for (size_t n : {SIZE_MAX, SIZE_MAX - pg, SIZE_MAX - 2 * pg + 2, static_cast<size_t>(PTRDIFF_MAX),
                   static_cast<size_t>(PTRDIFF_MAX) + 1}) {
    errno = 0;
    EXPECT_EQ(FN(valloc)(opaque(n)), nullptr) << "valloc(" << n << ")";
    EXPECT_EQ(errno, ENOMEM) << "valloc(" << n << ")";
  }
  void* p = FN(valloc)(opaque<size_t>(100));  // still works
  ASSERT_NE(p, nullptr);
  FN(free)(p);
}

TEST(PosixMemalign, ZeroSizeAtEveryAlignmentIsUniqueAndFreeable) {
  for (size_t a = sizeof(void*); a <= (size_t{1} << 22); a <<= 1) {
    void* p = nullptr;
    void* q = nullptr;
    ASSERT_EQ(FN(posix_memalign)(&p, opaque(a), opaque<size_t>(0)), 0) << "alignment " << a;
    ASSERT_EQ(FN(posix_memalign)(&q, opaque(a), opaque<size_t>(0)), 0) << "alignment " << a;
    ASSERT_NE(p, nullptr);
    ASSERT_NE(q, nullptr);
    EXPECT_NE(p, q) << "two live size-0 blocks at the same address";
    EXPECT_TRUE(aligned(p, a)) << p << " not aligned to " << a;
    if (OwnsFn owns = owns_fn()) {
      EXPECT_EQ(owns(p), 1) << "alignment " << a;
    }
    FN(free)(p);
    FN(free)(q);
  }
}

TEST(Errno, FreeLeavesErrnoAlone) {
  for (size_t n : kSizes) {
    void* p = FN(malloc)(n);
    ASSERT_NE(p, nullptr) << n;
    memset(p, 1, n < 4096 ? n : 4096);
    errno = kSentinel;
    FN(free)(p);
    EXPECT_EQ(errno, kSentinel) << "free of a " << n << "-byte block changed errno";
  }
  errno = kSentinel;
  FN(free)(nullptr);
  EXPECT_EQ(errno, kSentinel) << "free(NULL) changed errno";
  // Enough huge blocks that freeing them overflows any cache (so some free unmaps).
  std::vector<void*> v;
  for (int i = 0; i < 24; ++i) {
    v.push_back(FN(malloc)((size_t{8} << 20) + size_t(i) * 3 * page()));
    ASSERT_NE(v.back(), nullptr);
  }
  for (void* p : v) {
    errno = kSentinel;
    FN(free)(p);
    ASSERT_EQ(errno, kSentinel) << "free of a huge block changed errno";
  }
}

TEST(Errno, FreeFromAnotherThreadLeavesErrnoAlone) {
  std::vector<void*> v;
  for (size_t n : kSizes) {
    v.push_back(FN(malloc)(n));
    ASSERT_NE(v.back(), nullptr);
  }
  int bad = -1;
  std::thread t([&] {  // a thread whose first call is free: no heap yet
    for (size_t i = 0; i < v.size(); ++i) {
      errno = kSentinel;
      FN(free)(v[i]);
      if (errno != kSentinel && bad < 0) bad = static_cast<int>(i);
    }
  });
  t.join();
  EXPECT_EQ(bad, -1) << "cross-thread free of a " << (bad >= 0 ? kSizes[bad] : 0)
                     << "-byte block changed errno";
}

TEST(Errno, FreeAfterIdleTimeLeavesErrnoAlone) {
  // After an idle second, the next call may do deferred work (decay: purge, unmap cached
  // regions). That must not leak an errno into free either.
  std::vector<void*> v;
  for (size_t n : {size_t{40000}, size_t{300000}, size_t{2} << 20, size_t{16} << 20}) {
    void* p = FN(malloc)(n);
    ASSERT_NE(p, nullptr);
    memset(p, 1, n);
    FN(free)(p);
    v.push_back(FN(malloc)(n + 8192));
    ASSERT_NE(v.back(), nullptr);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  for (void* p : v) {
    errno = kSentinel;
    FN(free)(p);
    EXPECT_EQ(errno, kSentinel) << "free after an idle second changed errno";
  }
}

TEST(Errno, MallocUsableSizeLeavesErrnoAlone) {
  for (size_t n : kSizes) {
    void* p = FN(malloc)(n);
    ASSERT_NE(p, nullptr);
    errno = kSentinel;
    EXPECT_GE(FN(malloc_usable_size)(p), n);
    EXPECT_EQ(errno, kSentinel) << "malloc_usable_size of a " << n << "-byte block changed errno";
    FN(free)(p);
  }
  errno = kSentinel;
  EXPECT_EQ(FN(malloc_usable_size)(nullptr), size_t{0});
  EXPECT_EQ(errno, kSentinel);
}

TEST(Errno, ReallocToZeroLeavesErrnoAlone) {
  // realloc(p, 0) frees p and returns NULL (glibc): not a failure, so errno must not say ENOMEM.
  for (size_t n : kSizes) {
    void* p = FN(malloc)(n);
    ASSERT_NE(p, nullptr);
    errno = kSentinel;
    EXPECT_EQ(FN(realloc)(p, opaque<size_t>(0)), nullptr);
    EXPECT_EQ(errno, kSentinel) << "realloc(p, 0) of a " << n << "-byte block changed errno";
  }
}
