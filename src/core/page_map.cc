// Leaves are mapped outside any lock and published with a compare-and-swap (rare: once per 2 GiB
// of address space); the loser of a race unmaps its copy. Lookups need no lock.
#include "core/page_map.h"

namespace ffa {

constinit PageMap PageMap::map_{};

bool PageMap::ensure(const void* p, size_t size) {
  uintptr_t first = uintptr_t(p) >> kLeafShift;
  uintptr_t last = (uintptr_t(p) + size - 1) >> kLeafShift;
  for (uintptr_t i = first; i <= last; ++i) {
    if (i >= kTopEntries) return false;
    if (top_[i].load(std::memory_order_acquire) != nullptr) continue;
    void* base;
    size_t mapped;
    auto* leaf = static_cast<Leaf*>(os::map(sizeof(Leaf), os::kPageSize, &base, &mapped));
    if (leaf == nullptr) return false;
    Leaf* expected = nullptr;
    if (!top_[i].compare_exchange_strong(expected, leaf, std::memory_order_acq_rel)) {
      os::unmap(base, mapped);
    }
  }
  return true;
}

void PageMap::set(const void* p, size_t size, Span* span) {
  uintptr_t a = uintptr_t(p);
  uintptr_t end = a + size;
  for (; a < end; a += os::kPageSize) {
    Leaf* leaf = top_[a >> kLeafShift].load(std::memory_order_relaxed);
    leaf->entries[(a >> kPageShift) & (kLeafEntries - 1)].store(span, std::memory_order_release);
  }
}

}  // namespace ffa
