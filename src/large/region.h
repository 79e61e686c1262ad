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
};

class RegionCache {
 public:
  static constexpr unsigned kEntries = 16;
  static constexpr size_t kMaxCachedBytes = 256 * kMiB;

  /// A cached region with payload in [size, size + size/4] and start aligned to align; null
  /// on a miss or when the cache lock is busy (never waits).
  RegionHeader* try_take(size_t size, size_t align);
  /// Parks a region; false when the cache is full or busy (the caller then unmaps it).
  bool try_put(RegionHeader* region);
  /// Unmaps every cached region; returns the bytes released.
  size_t drain();
  size_t cached_bytes() const { return bytes_.load(std::memory_order_relaxed); }
  SpinLock& lock() { return lock_; }

 private:
  SpinLock lock_;
  RegionHeader* entries_[kEntries] = {};
  std::atomic<size_t> bytes_{0};
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
