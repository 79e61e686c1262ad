// posix_memalign / aligned_alloc / memalign / valloc / pvalloc with glibc 2.36's semantics:
// returned blocks honour the alignment (16 B .. 1 GiB, also for size 0) and are writable; bad
// alignments fail the way glibc fails, leaving *out and errno alone for posix_memalign.
#include <errno.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "api_test.h"

using namespace ffa_test;

static size_t page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

TEST(PosixMemalign, InvalidAlignmentIsEinvalAndTouchesNothing) {
  // Not a power of two, or not a multiple of sizeof(void*), or zero.
  for (size_t a : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{12}, size_t{24},
                   size_t{48}, size_t{100}, size_t{4097}, (SIZE_MAX / 2) + 2, SIZE_MAX}) {
    void* out = reinterpret_cast<void*>(0x1234);
    errno = 4321;
    int rc = FN(posix_memalign)(&out, opaque(a), 64);
    EXPECT_EQ(rc, EINVAL) << "alignment " << a;
    EXPECT_EQ(out, reinterpret_cast<void*>(0x1234)) << "alignment " << a << ": *out was written";
    EXPECT_EQ(errno, 4321) << "alignment " << a << ": errno was changed";
  }
}

TEST(PosixMemalign, ImpossibleRequestIsEnomemAndKeepsOut) {
  // 2^63 is a valid power of two that cannot be satisfied; so is SIZE_MAX bytes.
  const size_t cases[][2] = {{(SIZE_MAX / 2) + 1, 10}, {64, SIZE_MAX}, {4096, SIZE_MAX - 4096}};
  for (auto& c : cases) {
    void* out = reinterpret_cast<void*>(0x1234);
    int rc = FN(posix_memalign)(&out, opaque(c[0]), opaque(c[1]));
    EXPECT_EQ(rc, ENOMEM) << "align " << c[0] << " size " << c[1];
    EXPECT_EQ(out, reinterpret_cast<void*>(0x1234));
  }
}

TEST(PosixMemalign, AlignmentsFrom8To1GiB) {
  std::vector<void*> live;
  for (size_t a = sizeof(void*); a <= (size_t{1} << 30); a <<= 1) {
    // 1 GiB alignment with a tiny size must only reserve address space, not commit it.
    for (size_t n : {size_t{1}, size_t{100}, a <= (size_t{1} << 20) ? 3 * a + 1 : size_t{4096}}) {
      void* p = nullptr;
      ASSERT_EQ(FN(posix_memalign)(&p, a, n), 0) << "align " << a << " size " << n;
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(aligned(p, a)) << p << " not aligned to " << a;
      EXPECT_TRUE(aligned(p, 16)) << p;
      EXPECT_GE(FN(malloc_usable_size)(p), n);
      memset(p, 0x5A, n);
      if (OwnsFn owns = owns_fn()) {
        EXPECT_EQ(owns(p), 1);
      }
      live.push_back(p);
    }
    if (a >= (size_t{1} << 24))  // do not keep several GiB of address space around
      for (; !live.empty(); live.pop_back()) FN(free)(live.back());
  }
  for (void* p : live) FN(free)(p);
}

TEST(AlignedAlloc, PowerOfTwoAlignments) {
  for (size_t a = 1; a <= (size_t{1} << 21); a <<= 1) {
    for (size_t n : {a, 2 * a, a + 8}) {
      void* p = FN(aligned_alloc)(opaque(a), n);
      ASSERT_NE(p, nullptr) << "aligned_alloc(" << a << ", " << n << ")";
      EXPECT_TRUE(aligned(p, a)) << p;
      EXPECT_TRUE(aligned(p, 16)) << p;
      EXPECT_GE(FN(malloc_usable_size)(p), n);
      memset(p, 0x11, n);
      FN(free)(p);
    }
  }
}

static size_t next_pow2(size_t a) {
  size_t r = 16;
  while (r < a) r <<= 1;
  return r;
}

// glibc 2.36 (checked on Debian 12, 2.36-9): aligned_alloc is an alias of memalign, and
// memalign rounds a non-power-of-two alignment up to the next power of two and succeeds
// (aligned_alloc(24, 10) is 32-aligned, (100) 128-, (3000) 4096-aligned). glibc >= 2.38 makes
// aligned_alloc fail with EINVAL instead (C17 DR 460). Both are accepted for aligned_alloc and
// memalign; anything else (NULL with another errno, a less aligned block) fails.
static void check_rounded_or_einval(void* (*fn)(size_t, size_t), const char* name) {
  for (size_t a : {size_t{3}, size_t{12}, size_t{24}, size_t{48}, size_t{100}, size_t{3000},
                   size_t{4097}, size_t{100000}}) {
    errno = 0;
    void* p = fn(opaque(a), 10);
    if (p == nullptr) {
      EXPECT_EQ(errno, EINVAL) << name << "(" << a << ", 10) failed with errno " << errno;
    } else {
      EXPECT_TRUE(aligned(p, next_pow2(a))) << name << "(" << a << ") = " << p;
      memset(p, 0x22, 10);
      FN(free)(p);
    }
  }
}

TEST(AlignedAlloc, NonPowerOfTwoRoundsUpOrEinval) {
  check_rounded_or_einval([](size_t a, size_t n) { return FN(aligned_alloc)(a, n); }, "aligned_alloc");
}

TEST(Memalign, NonPowerOfTwoRoundsUpOrEinval) {
  check_rounded_or_einval([](size_t a, size_t n) { return FN(memalign)(a, n); }, "memalign");
}

TEST(Memalign, ImpossibleAlignment) {
  // glibc: > SIZE_MAX/2+1 cannot be a power of two -> EINVAL; 2^63 itself -> ENOMEM.
  errno = 0;
  EXPECT_EQ(FN(memalign)(opaque(SIZE_MAX), 10), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(FN(memalign)(opaque((SIZE_MAX / 2) + 1), 10), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(FN(aligned_alloc)(opaque((SIZE_MAX / 2) + 1), 10), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Memalign, PowerOfTwoAlignments) {
  for (size_t a = 16; a <= (size_t{1} << 24); a <<= 2) {
    void* p = FN(memalign)(opaque(a), 1000);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned(p, a));
    memset(p, 0x33, 1000);
    FN(free)(p);
  }
}

TEST(AlignedZeroSize, KeepsAlignmentAndIsUnique) {
  for (size_t a : {size_t{16}, size_t{64}, size_t{4096}, size_t{1} << 21}) {
    void* p = nullptr;
    void* q = nullptr;
    ASSERT_EQ(FN(posix_memalign)(&p, a, opaque<size_t>(0)), 0);
    ASSERT_EQ(FN(posix_memalign)(&q, a, opaque<size_t>(0)), 0);
    void* r = FN(aligned_alloc)(a, opaque<size_t>(0));
    void* s = FN(memalign)(a, opaque<size_t>(0));
    for (void* x : {p, q, r, s}) {
      ASSERT_NE(x, nullptr) << "size-0 request with alignment " << a;
      EXPECT_TRUE(aligned(x, a)) << x << " not aligned to " << a;
    }
    EXPECT_NE(p, q);
    for (void* x : {p, q, r, s}) FN(free)(x);
  }
}

TEST(Valloc, PageAligned) {
  for (size_t n : {0, 1, 100, 4096, 5000, 1 << 20}) {
    void* p = FN(valloc)(opaque<size_t>(n));
    ASSERT_NE(p, nullptr) << "valloc(" << n << ")";
    EXPECT_TRUE(aligned(p, page())) << p;
    EXPECT_GE(FN(malloc_usable_size)(p), n);
    memset(p, 0x44, n);
    FN(free)(p);
  }
}

TEST(Pvalloc, RoundsSizeUpToPages) {
  const size_t pg = page();
  for (size_t n : {size_t{1}, size_t{100}, pg - 1, pg, pg + 1, 3 * pg + 7}) {
    void* p = FN(pvalloc)(opaque(n));
    ASSERT_NE(p, nullptr) << "pvalloc(" << n << ")";
    EXPECT_TRUE(aligned(p, pg)) << p;
    size_t rounded = (n + pg - 1) / pg * pg;
    size_t us = FN(malloc_usable_size)(p);
    EXPECT_GE(us, rounded) << "pvalloc(" << n << ") usable size not rounded to pages";
    memset(p, 0x55, rounded);  // the whole rounded size is the caller's
    FN(free)(p);
  }
}

TEST(Pvalloc, OverflowIsEnomem) {
  for (size_t n : {SIZE_MAX, SIZE_MAX - page() + 2, static_cast<size_t>(PTRDIFF_MAX)}) {
    errno = 0;
    EXPECT_EQ(FN(pvalloc)(opaque(n)), nullptr) << "pvalloc(" << n << ")";
    EXPECT_EQ(errno, ENOMEM) << "pvalloc(" << n << ")";
  }
}
