// Size classes. Small objects (<= kSmallMax) live in spans; 16-byte steps up to 128 B, then four
// classes per doubling (internal waste <= 25%, 12.5% on average). Large blocks (kSmallMax, kLargeMax]
// are runs of arena slices: exact slice multiples up to 256 KiB, then eight classes per doubling.
// Includes only base/.
#pragma once

#include <array>

#include "base/base.h"

namespace ffa {

constexpr size_t kSliceShift = 13;                 // arena slice: 8 KiB (page map: 4 KiB pages)
constexpr size_t kSliceSize = size_t(1) << kSliceShift;
constexpr size_t kSmallMax = 32 * kKiB;
constexpr size_t kLargeMax = 4 * kMiB;             // above: mapped regions
constexpr unsigned kSmallClasses = 40;
constexpr size_t kMinAlign = 16;

constexpr size_t small_class_size(unsigned c) {
  if (c < 8) return (c + 1) * 16;
  unsigned lg = 7 + (c - 8) / 4;
  return (size_t(1) << lg) + size_t((c - 8) % 4 + 1) * (size_t(1) << (lg - 2));
}

constexpr unsigned small_class_compute(size_t n) {
  if (n <= 128) return n == 0 ? 0 : unsigned((n - 1) >> 4);
  unsigned lg = log2_floor(n - 1);
  return 8 + (lg - 7) * 4 + unsigned(((n - 1) >> (lg - 2)) & 3);
}

/// Table for n <= 1024, indexed by (n + 15) / 16: one load on the malloc fast path.
inline constexpr auto kSmallClassTable = [] {
  std::array<uint8_t, 65> t{};
  for (size_t i = 0; i < t.size(); ++i) t[i] = uint8_t(small_class_compute(i * 16));
  return t;
}();

/// Slots of the size-indexed fast table: n <= kDirectMax maps to slot (n + 15) / 16.
constexpr size_t kDirectMax = 1024;
constexpr unsigned kDirectSlots = unsigned(kDirectMax / 16 + 1);
constexpr unsigned size_slot(size_t n) { return unsigned((n + 15) >> 4); }

FFA_INLINE unsigned small_class(size_t n) {
  if (FFA_LIKELY(n <= 1024)) return kSmallClassTable[(n + 15) >> 4];
  return small_class_compute(n);
}

/// Objects from this size up are page-sized: spans of 2 (span_slices), and a thread keeps the
/// empty span of only a few such classes (Heap::note_idle_span).
constexpr size_t kPageObjectMin = 4 * kKiB;

/// A heap's spans of a class up to 1 KiB start at 8 KiB and double with each new span, up to
/// 64 KiB after kSpanGrowthSteps: a thread that uses a class lightly keeps one small span of it,
/// and a busy one soon claims a span per 64 KiB.
constexpr unsigned kSpanGrowthSteps = 3;

/// Slices per span, for the `grown`-th span (0..kSpanGrowthSteps) a heap makes of class c.
/// Objects up to 1 KiB get spans of 8 << grown KiB; bigger ones get spans of 8 objects (2 from
/// 4 KiB up) rounded up to slices, whatever `grown`. At most 1/8 of a span is left over. Every
/// thread keeps a span per class it uses even while it holds no object in it, so that span is
/// kept small: page-sized classes hold 408 KiB for the 13 classes of 4-32 KiB instead of 864 KiB
/// with 8 and 4 objects (seed workload, peak RSS: 47.2 -> 41.0 MiB with 8 local committers,
/// 28.1 -> 25.2 MiB with 8 and the push thread; CPU within noise), and the classes up to 1 KiB
/// start at 8 KiB instead of 64 (see kSpanGrowthSteps).
constexpr unsigned span_slices(unsigned c, unsigned grown = kSpanGrowthSteps) {
  size_t size = small_class_size(c);
  size_t min_bytes = size <= 1024 ? (8 * kKiB) << grown : size * (size < kPageObjectMin ? 8 : 2);
  for (unsigned n = 1;; ++n) {
    size_t bytes = n * kSliceSize;
    if (bytes >= min_bytes && (bytes % size) * 8 <= bytes) return n;
  }
}

/// Large classes: index for sizes in (kSmallMax, kLargeMax].
constexpr size_t kLargeFineMax = 256 * kKiB;
constexpr unsigned kLargeFineClasses = unsigned((kLargeFineMax - kSmallMax) / kSliceSize);  // 28
constexpr unsigned kLargeClasses = kLargeFineClasses + 8 * 4;  // 256 KiB -> 4 MiB: 4 doublings

constexpr unsigned large_class(size_t n) {
  if (n <= kLargeFineMax) return unsigned((n - kSmallMax - 1) >> kSliceShift);
  unsigned lg = log2_floor(n - 1);
  return kLargeFineClasses + (lg - 18) * 8 + unsigned(((n - 1) >> (lg - 3)) & 7);
}

constexpr size_t large_class_size(unsigned c) {
  if (c < kLargeFineClasses) return kSmallMax + size_t(c + 1) * kSliceSize;
  unsigned lg = 18 + (c - kLargeFineClasses) / 8;
  return (size_t(1) << lg) + size_t((c - kLargeFineClasses) % 8 + 1) * (size_t(1) << (lg - 3));
}

}  // namespace ffa
