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

RegionHeader* region_map(size_t size, size_t align) {
  size_t payload = align_up(size, os::kPageSize);
  if (payload < size || align > (size_t(1) << 40)) return nullptr;
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
  if (payload < new_size || region->mapping != header) return nullptr;
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

RegionHeader* RegionCache::try_take(size_t size, size_t align) {
  if (bytes_.load(std::memory_order_relaxed) == 0 || !lock_.try_lock()) return nullptr;
  RegionHeader* found = nullptr;
  for (auto& entry : entries_) {
    RegionHeader* r = entry;
    if (r == nullptr || r->payload_size < size || r->payload_size - size > size / 4 ||
        (uintptr_t(r->span.start) & (align - 1)) != 0) {
      continue;
    }
    found = r;
    entry = nullptr;
    bytes_.fetch_sub(r->mapping_size, std::memory_order_relaxed);
    break;
  }
  lock_.unlock();
  return found;
}

bool RegionCache::try_put(RegionHeader* region) {
  if (region->mapping_size > kMaxCachedBytes / 4 || !lock_.try_lock()) return false;
  bool parked = false;
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
  return parked;
}

size_t RegionCache::drain() {
  RegionHeader* taken[kEntries];
  unsigned n = 0;
  {
    LockGuard guard(lock_);
    for (auto& entry : entries_) {
      if (entry != nullptr) taken[n++] = entry;
      entry = nullptr;
    }
    bytes_.store(0, std::memory_order_relaxed);
  }
  size_t released = 0;
  for (unsigned i = 0; i < n; ++i) {
    released += taken[i]->mapping_size;
    region_unmap(taken[i]);
  }
  return released;
}

}  // namespace ffa
