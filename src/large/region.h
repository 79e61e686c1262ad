// Mapped regions: the fallback tier for what the arena cannot place at once (huge blocks, big
// alignments, a full or contended arena). Each region is its own mmap: a header page holding
// the descriptor, then the payload. Freed regions are parked in a small cache and reused by size.
// Includes base/, platform/ and core/.
//
//   mapping: [slack][header page: RegionHeader][(guard)][payload ............][(guard)][slack]
//                                               ^ user pointer, aligned as asked
#pragma once

#include "core/page_map.h"

namespace ffa {

/// Secure builds put a PROT_NONE page between the header and the payload and another after the
/// payload, so overflows and underflows of a large block fault instead of corrupting memory.
constexpr size_t kRegionGuard = FFA_SECURE ? os::kPageSize : 0;
constexpr size_t kRegionLead = os::kPageSize + kRegionGuard;  // header to payload

struct RegionHeader {
  Span span;                // kind kRegion / kRegionCached; start = payload
  void* mapping = nullptr;  // what os::map returned, for unmap
  size_t mapping_size = 0;
  size_t payload_size = 0;  // usable bytes from span.start
  RegionHeader* next_unmap = nullptr;
};

/// Freed regions, kept mapped (and resident) for reuse. Bounded in entries and bytes; regions
/// that do not fit, and regions older than a decay tick, are unmapped later, never inside free.
/// Lock-free: each entry is one word packing the region's address with what a search needs
/// (payload pages, growable, parking tick), taken or filled with one compare-and-swap, so no
/// thread ever reads a region another thread may be unmapping.
class RegionCache {
 public:
  static constexpr unsigned kEntries = 16;
  static constexpr size_t kMaxCachedBytes = 128 * kMiB;

  /// The smallest cached region whose payload holds size (at most 4x size) with start aligned
  /// to align. On a miss, *grow gets the largest smaller region that can be grown with mremap
  /// (no alignment slack), also taken out of the cache; both null when there is none. Never
  /// waits: a region another thread takes first is simply a miss.
  RegionHeader* try_take(size_t size, size_t align, RegionHeader** grow);
  /// Parks a region; when the cache is full or over its byte cap the region is queued for
  /// unmapping by the next large-path slow call instead. Never makes a syscall.
  void put(RegionHeader* region, uint64_t tick);
  /// Unmaps queued regions and cached regions parked before the tick preceding `now` (all of
  /// them with everything). Returns the bytes unmapped.
  size_t trim(bool everything, uint64_t now);
  /// Unmaps the regions queued by put(); cheap when the queue is empty. Called from the large
  /// path's slow calls, so memory a free could not park goes back on the next one.
  size_t drain_unmap_queue() {
    if (unmap_queue_.load(std::memory_order_relaxed) == nullptr) return 0;
    return unmap_all(unmap_queue_.exchange(nullptr, std::memory_order_acquire));
  }
  size_t cached_bytes() const { return bytes_.load(std::memory_order_relaxed); }
  /// Bytes of regions queued for unmapping or being unmapped right now.
  size_t unmapping_bytes() const { return unmapping_.load(std::memory_order_relaxed); }
  /// Out of address space: unmaps every cached and queued region, then waits (100 ms at most)
  /// until no other thread is still unmapping regions. A thread that took the queue may be
  /// preempted with hundreds of munmaps to go, and a malloc that failed meanwhile would report
  /// ENOMEM for memory already on its way back. True if address space came back.
  bool release_all();
  /// In a fork child: unmaps that threads of the parent had started never finish there, so
  /// only the queue (one thread exists) still counts.
  void forget_unmaps_in_flight();

 private:
  void queue_unmap(RegionHeader* region);
  size_t unmap_all(RegionHeader* list);
  bool try_remove(std::atomic<uint64_t>& entry, uint64_t packed);

  std::atomic<uint64_t> entries_[kEntries] = {};
  std::atomic<size_t> bytes_{0};
  std::atomic<RegionHeader*> unmap_queue_{nullptr};
  std::atomic<size_t> unmapping_{0};  // bytes queued for unmap or being unmapped
};

/// Larger than any address space we can get: refused up front, so that the kernel's EINVAL for
/// absurd lengths never reaches the "unexpected failure" path, and no memory is released for it.
constexpr size_t kMaxRegionBytes = size_t(1) << 46;
constexpr size_t kMaxRegionAlign = size_t(1) << 40;
inline bool region_possible(size_t size, size_t align) {
  return size <= kMaxRegionBytes && align <= kMaxRegionAlign;
}

/// Maps a fresh region with at least `size` payload bytes aligned to `align`: exactly one mmap,
/// made outside every lock. Null on ENOMEM.
RegionHeader* region_map(size_t size, size_t align);
/// Clears the page map entries, then unmaps: one munmap.
void region_unmap(RegionHeader* region);
/// Moves or resizes a region's payload with mremap (no copy); null on ENOMEM, the old region
/// then still valid. Only for regions mapped without alignment slack.
RegionHeader* region_remap(RegionHeader* region, size_t new_size);

RegionCache& region_cache();

}  // namespace ffa
