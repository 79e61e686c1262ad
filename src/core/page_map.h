// Page map: pointer -> Span* in O(1) with two lock-free loads, for every 4 KiB page in the
// 47-bit user address space; null for memory ffalloc does not own. Page granularity lets every
// mmap own its entries exactly. Leaves (4 MiB of entries each, covering 2 GiB) are mapped on
// demand and never freed. Includes base/ and platform/.
#pragma once

#include "core/span.h"
#include "platform/platform.h"

namespace ffa {

class PageMap {
 public:
  static constexpr unsigned kAddressBits = 47;
  static constexpr unsigned kLeafShift = 31;
  static constexpr size_t kTopEntries = size_t(1) << (kAddressBits - kLeafShift);
  static constexpr unsigned kPageShift = 12;
  static constexpr size_t kLeafEntries = size_t(1) << (kLeafShift - kPageShift);

  /// The descriptor of the slice holding p, or null. Never faults, whatever p is.
  FFA_INLINE Span* lookup(const void* p) const {
    uintptr_t a = uintptr_t(p);
    size_t top = a >> kLeafShift;
    if (FFA_UNLIKELY(top >= kTopEntries)) return nullptr;
    Leaf* leaf = top_[top].load(std::memory_order_acquire);
    if (FFA_UNLIKELY(leaf == nullptr)) return nullptr;
    return leaf->entries[(a >> kPageShift) & (kLeafEntries - 1)].load(std::memory_order_relaxed);
  }

  /// Maps the leaves covering [p, p+size): one mmap per missing leaf, no lock. False on ENOMEM.
  bool ensure(const void* p, size_t size);

  /// Points every page of [p, p+size) at span. ensure() must have succeeded for the range.
  void set(const void* p, size_t size, Span* span);

  static PageMap& instance() { return map_; }

 private:
  struct Leaf {
    std::atomic<Span*> entries[kLeafEntries];
  };
  std::atomic<Leaf*> top_[kTopEntries];
  static PageMap map_;
};

inline PageMap& page_map() { return PageMap::instance(); }

}  // namespace ffa
