// Regions publish themselves in the page map only after the mmap returned, so no lock is ever
// held across the syscall; the cache lock is only try-locked on the allocation side.
#include "large/region.h"

#include <new>

namespace ffa {

static constinit RegionCache cache{};
RegionCache& region_cache() { return cache; }

static RegionHeader* publish(void* header_at, void* mapping, size_t mapping_size, char* payload,
                             size_t payload_size) {
  auto* region = new (header_at) RegionHeader();
  region->mapping = mapping;
  region->mapping_size = mapping_size;
  region->payload_size = payload_size;
  region->span.start = payload;
  region->span.slices = unsigned(payload_size >> kSliceShift);
  region->span.kind = SpanKind::kRegion;
  region->span.is_zero = 1;
  page_map().set(header_at, os::kPageSize + payload_size, &region->span);
  return region;
}

// Larger than any address space we can get: refused up front, so that the kernel's EINVAL for
// absurd lengths never reaches the "unexpected failure" path.
constexpr size_t kMaxRegionBytes = size_t(1) << 46;

RegionHeader* region_map(size_t size, size_t align) {
  size_t payload = align_up(size, os::kPageSize);
  if (size > kMaxRegionBytes || align > (size_t(1) << 40)) return nullptr;
  size_t slack = align > os::kPageSize ? align : 0;
  size_t total = os::kPageSize + payload + slack;
  if (total < payload) return nullptr;
  void* mapping;
  size_t mapping_size;
  char* base = static_cast<char*>(os::map(total, os::kPageSize, &mapping, &mapping_size));
  if (base == nullptr) return nullptr;
  char* user = reinterpret_cast<char*>(align_up(uintptr_t(base) + os::kPageSize,
                                                slack != 0 ? align : os::kPageSize));
  if (!page_map().ensure(user - os::kPageSize, os::kPageSize + payload)) {
    os::unmap(mapping, mapping_size);
    return nullptr;
  }
  return publish(user - os::kPageSize, mapping, mapping_size, user, payload);
}

void region_unmap(RegionHeader* region) {
  page_map().set(region->span.start - os::kPageSize, os::kPageSize + region->payload_size, nullptr);
  os::unmap(region->mapping, region->mapping_size);
}

RegionHeader* region_remap(RegionHeader* region, size_t new_size) {
  size_t payload = align_up(new_size, os::kPageSize);
  char* header = region->span.start - os::kPageSize;
  if (new_size > kMaxRegionBytes || region->mapping != header) return nullptr;
  size_t old_payload = region->payload_size;
  // Unpublish first: once mremap moves the pages, the old entries would point at nothing.
  page_map().set(header, os::kPageSize + old_payload, nullptr);
  void* moved = os::remap(header, region->mapping_size, os::kPageSize + payload);
  if (moved == nullptr) {
    page_map().set(header, os::kPageSize + old_payload, &region->span);
    return nullptr;
  }
  if (!page_map().ensure(moved, os::kPageSize + payload)) fatal("out of memory for the page map");
  auto* out = static_cast<RegionHeader*>(moved);
  out->mapping = moved;
  out->mapping_size = os::kPageSize + payload;
  out->payload_size = payload;
  out->span.start = static_cast<char*>(moved) + os::kPageSize;
  out->span.slices = unsigned(payload >> kSliceShift);
  page_map().set(moved, os::kPageSize + payload, &out->span);
  return out;
}

RegionHeader* RegionCache::try_take(size_t size, size_t align, RegionHeader** grow) {
  *grow = nullptr;
  if (bytes_.load(std::memory_order_relaxed) == 0 || !lock_.try_lock()) return nullptr;
  RegionHeader** best = nullptr;
  RegionHeader** growable = nullptr;
  for (auto& entry : entries_) {
    RegionHeader* r = entry;
    if (r == nullptr || (uintptr_t(r->span.start) & (align - 1)) != 0) continue;
    if (r->payload_size >= size) {
      if (r->payload_size / 4 <= size && (best == nullptr || r->payload_size < (*best)->payload_size)) {
        best = &entry;
      }
    } else if (r->mapping == r->span.start - os::kPageSize &&
               (growable == nullptr || r->payload_size > (*growable)->payload_size)) {
      growable = &entry;
    }
  }
  RegionHeader** chosen = best != nullptr ? best : growable;
  RegionHeader* found = nullptr;
  if (chosen != nullptr) {
    found = *chosen;
    *chosen = nullptr;
    bytes_.fetch_sub(found->mapping_size, std::memory_order_relaxed);
  }
  lock_.unlock();
  if (best == nullptr && found != nullptr) {
    *grow = found;
    return nullptr;
  }
  return found;
}

void RegionCache::queue_unmap(RegionHeader* region) {
  RegionHeader* head = unmap_queue_.load(std::memory_order_relaxed);
  do {
    region->next_unmap = head;
  } while (!unmap_queue_.compare_exchange_weak(head, region, std::memory_order_release,
                                               std::memory_order_relaxed));
}

void RegionCache::put(RegionHeader* region, uint64_t tick) {
  region->parked_tick = tick;
  bool parked = false;
  if (region->mapping_size <= kMaxCachedBytes / 2 && lock_.try_lock()) {
    if (bytes_.load(std::memory_order_relaxed) + region->mapping_size <= kMaxCachedBytes) {
      for (auto& entry : entries_) {
        if (entry != nullptr) continue;
        entry = region;
        bytes_.fetch_add(region->mapping_size, std::memory_order_relaxed);
        parked = true;
        break;
      }
    }
    lock_.unlock();
  }
  if (!parked) queue_unmap(region);
}

size_t RegionCache::trim(bool everything, uint64_t older_than) {
  RegionHeader* doomed = unmap_queue_.exchange(nullptr, std::memory_order_acquire);
  if (bytes_.load(std::memory_order_relaxed) != 0) {
    LockGuard guard(lock_);
    for (auto& entry : entries_) {
      RegionHeader* r = entry;
      if (r == nullptr || (!everything && r->parked_tick >= older_than)) continue;
      entry = nullptr;
      bytes_.fetch_sub(r->mapping_size, std::memory_order_relaxed);
      r->next_unmap = doomed;
      doomed = r;
    }
  }
  size_t released = 0;
  while (doomed != nullptr) {
    RegionHeader* next = doomed->next_unmap;
    released += doomed->mapping_size;
    region_unmap(doomed);
    doomed = next;
  }
  return released;
}

}  // namespace ffa
