// Leaves are created under a lock (rare: once per 2 GiB of address space) and published with a
// release store so lookups need no lock.
#include "core/page_map.h"

namespace ffa {

constinit PageMap PageMap::map_{};

bool PageMap::ensure(const void* p, size_t size) {
  uintptr_t first = uintptr_t(p) >> kLeafShift;
  uintptr_t last = (uintptr_t(p) + size - 1) >> kLeafShift;
  for (uintptr_t i = first; i <= last; ++i) {
    if (i >= kTopEntries) return false;
    if (top_[i].load(std::memory_order_acquire) != nullptr) continue;
    LockGuard guard(lock_);
    if (top_[i].load(std::memory_order_relaxed) != nullptr) continue;
    void* base;
    size_t mapped;
    void* leaf = os::map(sizeof(Leaf), os::kPageSize, &base, &mapped);
    if (leaf == nullptr) return false;
    top_[i].store(static_cast<Leaf*>(leaf), std::memory_order_release);
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
