// Mapped regions: the fallback tier for what the arena cannot place at once (huge blocks, big
// alignments, a full or contended arena). Each region is its own mmap: a header page holding
// the descriptor, then the payload. Freed regions are parked in a small cache and reused by size.
// Includes base/, platform/ and core/.
//
//   mapping: [slack][header page: RegionHeader][payload ............][slack]
//                                               ^ user pointer, aligned as asked
#pragma once

#include "core/page_map.h"

namespace ffa {

struct RegionHeader {
  Span span;                // kind kRegion / kRegionCached; start = payload
  void* mapping = nullptr;  // what os::map returned, for unmap
  size_t mapping_size = 0;
  size_t payload_size = 0;  // usable bytes from span.start
  uint64_t parked_tick = 0; // decay tick when it entered the cache
  RegionHeader* next_unmap = nullptr;
};

/// Freed regions, kept mapped (and resident) for reuse. Bounded in entries and bytes; regions
/// that do not fit, and regions older than a decay tick, are unmapped later, never inside free.
class RegionCache {
 public:
  static constexpr unsigned kEntries = 16;
  static constexpr size_t kMaxCachedBytes = 128 * kMiB;

  /// The smallest cached region whose payload holds size (at most 4x size) with start aligned
  /// to align. On a miss, *grow gets the largest smaller region that can be grown with mremap
  /// (no alignment slack), also taken out of the cache; both null when there is none or the
  /// lock is busy (never waits).
  RegionHeader* try_take(size_t size, size_t align, RegionHeader** grow);
  /// Parks a region; when the cache is full, busy or over its byte cap the region is queued for
  /// unmapping by the next maintenance call instead. Never makes a syscall.
  void put(RegionHeader* region, uint64_t tick);
  /// Unmaps queued regions and, when older_than is set, cached regions parked before that tick.
  /// Returns the bytes unmapped. The unmaps run outside the lock.
  size_t trim(bool everything, uint64_t older_than);
  /// Unmaps the regions queued by put(); cheap when the queue is empty. Called from the large
  /// path's slow calls, so memory a free could not park goes back on the next one.
  void drain_unmap_queue() {
    if (unmap_queue_.load(std::memory_order_relaxed) != nullptr) trim(false, 0);
  }
  size_t cached_bytes() const { return bytes_.load(std::memory_order_relaxed); }
  SpinLock& lock() { return lock_; }

 private:
  void queue_unmap(RegionHeader* region);

  SpinLock lock_;
  RegionHeader* entries_[kEntries] = {};
  std::atomic<size_t> bytes_{0};
  std::atomic<RegionHeader*> unmap_queue_{nullptr};
};

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
