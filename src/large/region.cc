// Regions publish themselves in the page map only after the mmap returned; the cache and the
// unmap queue are lock-free, so nothing here can block a thread or deadlock across fork. The one
// wait is bounded and on the way to ENOMEM: release_all gives other threads' unmaps time to finish.
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
  page_map().set(header_at, kRegionLead + payload_size, &region->span);
  return region;
}

RegionHeader* region_map(size_t size, size_t align) {
  size_t payload = align_up(size, os::kPageSize);
  if (!region_possible(size, align)) return nullptr;
  size_t slack = align > os::kPageSize ? align : 0;
  size_t total = kRegionLead + payload + kRegionGuard + slack;
  if (total < payload) return nullptr;
  void* mapping;
  size_t mapping_size;
  char* base = static_cast<char*>(os::map(total, os::kPageSize, &mapping, &mapping_size));
  if (base == nullptr) return nullptr;
  char* user = reinterpret_cast<char*>(align_up(uintptr_t(base) + kRegionLead,
                                                slack != 0 ? align : os::kPageSize));
  if (!page_map().ensure(user - kRegionLead, kRegionLead + payload)) {
    os::unmap(mapping, mapping_size);
    return nullptr;
  }
  // Out of mappings (each guard splits this one in the kernel's count): ENOMEM, as for mmap.
  if (kRegionGuard != 0 && (!os::protect_none(user - kRegionGuard, kRegionGuard) ||
                            !os::protect_none(user + payload, kRegionGuard))) {
    os::unmap(mapping, mapping_size);
    return nullptr;
  }
  return publish(user - kRegionLead, mapping, mapping_size, user, payload);
}

void region_unmap(RegionHeader* region) {
  page_map().set(region->span.start - kRegionLead, kRegionLead + region->payload_size, nullptr);
  os::unmap(region->mapping, region->mapping_size);
}

RegionHeader* region_remap(RegionHeader* region, size_t new_size) {
  size_t payload = align_up(new_size, os::kPageSize);
  char* header = region->span.start - os::kPageSize;
  if (kRegionGuard != 0 || new_size > kMaxRegionBytes || region->mapping != header) return nullptr;
  size_t old_total = region->mapping_size;
  size_t new_total = os::kPageSize + payload;
  // Page-map entries of address ranges this region gives up are cleared BEFORE the mremap that
  // gives them up: the moment the kernel has them back another thread may map them and publish
  // its own entries there, which a late clear would wipe out. Failure restores them.
  char* moved = nullptr;
  if (new_total < old_total) page_map().set(header + new_total, old_total - new_total, nullptr);
  if (page_map().ensure(header, new_total) && os::remap(header, old_total, new_total, nullptr)) {
    moved = header;  // in place
  } else if (new_total > old_total) {
    // Elsewhere: reserve the destination and ready its page map first, so that a failure at
    // any step leaves the block where it was (NULL + ENOMEM, never an abort).
    void* base;
    size_t mapped;
    char* target = static_cast<char*>(os::map(new_total, os::kPageSize, &base, &mapped));
    if (target == nullptr) return nullptr;
    if (!page_map().ensure(target, new_total)) {
      os::unmap(base, mapped);
      return nullptr;
    }
    page_map().set(header, old_total, nullptr);
    if (!os::remap(header, old_total, new_total, target)) {
      page_map().set(header, old_total, &region->span);
      os::unmap(base, mapped);
      return nullptr;
    }
    moved = target;
  } else {
    page_map().set(header + new_total, old_total - new_total, &region->span);
    return nullptr;
  }
  auto* out = reinterpret_cast<RegionHeader*>(moved);
  out->mapping = moved;
  out->mapping_size = new_total;
  out->payload_size = payload;
  out->span.start = moved + os::kPageSize;
  out->span.slices = unsigned(payload >> kSliceShift);
  page_map().set(moved, new_total, &out->span);
  return out;
}

// An entry: header address >> 12 (35 bits) | payload pages (16 bits) | growable (1 bit) |
// parking tick mod 4096 (12 bits). Zero is an empty entry.
namespace {

constexpr unsigned kPagesShift = 35, kGrowableShift = 51, kTickShift = 52;
constexpr uint64_t kTickMask = 0xfff;

uint64_t pack(const RegionHeader* r, uint64_t tick) {
  uint64_t pages = r->payload_size / os::kPageSize;
  bool growable = kRegionGuard == 0 && r->mapping == r->span.start - os::kPageSize;
  return (uintptr_t(r) >> 12) | (pages << kPagesShift) | (uint64_t(growable) << kGrowableShift) |
         ((tick & kTickMask) << kTickShift);
}
RegionHeader* header_of(uint64_t e) {
  return reinterpret_cast<RegionHeader*>((e & ((uint64_t(1) << kPagesShift) - 1)) << 12);
}
size_t payload_of(uint64_t e) {
  return ((e >> kPagesShift) & 0xffff) * os::kPageSize;
}
bool growable_of(uint64_t e) { return (e >> kGrowableShift) & 1; }
uint64_t age_of(uint64_t e, uint64_t now) { return (now - (e >> kTickShift)) & kTickMask; }

}  // namespace

bool RegionCache::try_remove(std::atomic<uint64_t>& entry, uint64_t packed) {
  if (!entry.compare_exchange_strong(packed, 0, std::memory_order_acquire)) return false;
  bytes_.fetch_sub(header_of(packed)->mapping_size, std::memory_order_relaxed);
  return true;
}

RegionHeader* RegionCache::try_take(size_t size, size_t align, RegionHeader** grow) {
  *grow = nullptr;
  if (bytes_.load(std::memory_order_relaxed) == 0) return nullptr;
  std::atomic<uint64_t>* best = nullptr;
  std::atomic<uint64_t>* growable = nullptr;
  uint64_t best_entry = 0, growable_entry = 0;
  for (auto& entry : entries_) {
    uint64_t e = entry.load(std::memory_order_acquire);
    uintptr_t start = uintptr_t(header_of(e)) + kRegionLead;
    if (e == 0 || (start & (align - 1)) != 0) continue;
    size_t payload = payload_of(e);
    if (payload >= size) {
      if (payload / 4 <= size && (best == nullptr || payload < payload_of(best_entry))) {
        best = &entry;
        best_entry = e;
      }
    } else if (growable_of(e) && align <= os::kPageSize &&  // mremap may move it anywhere
               (growable == nullptr || payload > payload_of(growable_entry))) {
      growable = &entry;
      growable_entry = e;
    }
  }
  if (best != nullptr) return try_remove(*best, best_entry) ? header_of(best_entry) : nullptr;
  if (growable != nullptr && try_remove(*growable, growable_entry)) {
    *grow = header_of(growable_entry);
  }
  return nullptr;
}

void RegionCache::queue_unmap(RegionHeader* region) {
  unmapping_.fetch_add(region->mapping_size, std::memory_order_relaxed);
  RegionHeader* head = unmap_queue_.load(std::memory_order_relaxed);
  do {
    region->next_unmap = head;
  } while (!unmap_queue_.compare_exchange_weak(head, region, std::memory_order_release,
                                               std::memory_order_relaxed));
}

void RegionCache::put(RegionHeader* region, uint64_t tick) {
  size_t bytes = region->mapping_size;
  if (bytes <= kMaxCachedBytes / 2) {
    if (bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes <= kMaxCachedBytes) {
      uint64_t packed = pack(region, tick);
      for (auto& entry : entries_) {
        uint64_t empty = 0;
        if (entry.load(std::memory_order_relaxed) == 0 &&
            entry.compare_exchange_strong(empty, packed, std::memory_order_release)) {
          return;
        }
      }
    }
    bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  queue_unmap(region);
}

size_t RegionCache::unmap_all(RegionHeader* list) {
  size_t released = 0;
  while (list != nullptr) {
    RegionHeader* next = list->next_unmap;
    size_t bytes = list->mapping_size;
    region_unmap(list);
    unmapping_.fetch_sub(bytes, std::memory_order_release);
    released += bytes;
    list = next;
  }
  return released;
}

size_t RegionCache::trim(bool everything, uint64_t now) {
  RegionHeader* doomed = unmap_queue_.exchange(nullptr, std::memory_order_acquire);
  if (bytes_.load(std::memory_order_relaxed) != 0) {
    for (auto& entry : entries_) {
      uint64_t e = entry.load(std::memory_order_acquire);
      // Parked in the current or the previous tick: not idle long enough yet.
      if (e == 0 || (!everything && age_of(e, now) < 2) || !try_remove(entry, e)) continue;
      unmapping_.fetch_add(header_of(e)->mapping_size, std::memory_order_relaxed);
      header_of(e)->next_unmap = doomed;
      doomed = header_of(e);
    }
  }
  return unmap_all(doomed);
}

bool RegionCache::release_all() {
  size_t released = trim(/*everything=*/true, 0);
  size_t in_flight = unmapping_.load(std::memory_order_acquire);
  if (in_flight != 0) {
    // Returning early once some came back would let another thread take that and leave this
    // one's retry to fail while the rest is still being unmapped: wait for all of it.
    uint64_t give_up = os::now_ns() + 100'000'000;
    while (unmapping_.load(std::memory_order_acquire) != 0 && os::now_ns() < give_up) {
      released += drain_unmap_queue();
      os::pause_briefly();
    }
  }
  return released != 0 || unmapping_.load(std::memory_order_acquire) < in_flight;
}

void RegionCache::forget_unmaps_in_flight() {
  size_t queued = 0;
  for (RegionHeader* r = unmap_queue_.load(std::memory_order_acquire); r != nullptr;
       r = r->next_unmap) {
    queued += r->mapping_size;
  }
  unmapping_.store(queued, std::memory_order_relaxed);
}

}  // namespace ffa
