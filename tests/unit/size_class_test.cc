// Size classes: every request gets the smallest class that fits, waste stays bounded, and large
// classes are whole slices (the arena hands out slices).
#include "core/size_class.h"

#include <gtest/gtest.h>

namespace ffa {
namespace {

TEST(SizeClass, SmallestFittingClassForEverySmallSize) {
  for (size_t n = 1; n <= kSmallMax; ++n) {
    unsigned c = small_class(n);
    ASSERT_LT(c, kSmallClasses);
    ASSERT_GE(small_class_size(c), n) << n;
    if (c > 0) {
      ASSERT_LT(small_class_size(c - 1), n) << n;
    }
  }
  EXPECT_EQ(small_class(0), 0u);
  EXPECT_EQ(small_class_size(kSmallClasses - 1), kSmallMax);
}

TEST(SizeClass, SmallWasteAtMostAQuarterAndSixteenByteAligned) {
  for (size_t n = 129; n <= kSmallMax; ++n) {
    size_t got = small_class_size(small_class(n));
    ASSERT_LE((got - n) * 4, got) << n;
  }
  for (unsigned c = 0; c < kSmallClasses; ++c) EXPECT_EQ(small_class_size(c) % 16, 0u);
}

TEST(SizeClass, SizeIndexedSlotsAgreeWithClasses) {
  // The fast table maps (n + 15) / 16 to a span; every n in a slot must share one class.
  for (size_t n = 1; n <= kDirectMax; ++n) {
    ASSERT_EQ(small_class(n), small_class(size_slot(n) * 16)) << n;
  }
}

TEST(SizeClass, SpansHoldSeveralObjectsWithLittleTail) {
  for (unsigned c = 0; c < kSmallClasses; ++c) {
    for (unsigned grown = 0; grown <= kSpanGrowthSteps; ++grown) {
      size_t bytes = span_slices(c, grown) * kSliceSize;
      EXPECT_GE(bytes / small_class_size(c), small_class_size(c) < kPageObjectMin ? 8u : 2u) << c;
      EXPECT_LE((bytes % small_class_size(c)) * 8, bytes) << c;
      EXPECT_LE(bytes / small_class_size(c), 65535u) << c;  // fits the span's 16-bit counts
      if (grown > 0) EXPECT_GE(span_slices(c, grown), span_slices(c, grown - 1)) << c;
    }
  }
  EXPECT_EQ(span_slices(small_class(16), 0), 1u);   // a light user's first span: one slice
  EXPECT_EQ(span_slices(small_class(16)), 8u);      // then up to 64 KiB
}

TEST(SizeClass, LargeClassesAreSliceMultiplesWithBoundedWaste) {
  for (size_t n = kSmallMax + 1; n <= kLargeMax; n += 1 + n / 1000) {
    unsigned c = large_class(n);
    ASSERT_LT(c, kLargeClasses);
    size_t got = large_class_size(c);
    ASSERT_GE(got, n);
    if (c > 0) {
      ASSERT_LT(large_class_size(c - 1), n);
    }
    ASSERT_EQ(got % kSliceSize, 0u);
    ASSERT_LE((got - n) * 4, got);
  }
  EXPECT_EQ(large_class_size(kLargeClasses - 1), kLargeMax);
  // The seed's dominant request, a 64 KiB buffer plus a small header, wastes under 12.5%.
  EXPECT_EQ(large_class_size(large_class(64 * kKiB + 64)), 72 * kKiB);
}

}  // namespace
}  // namespace ffa
