// The large path policy: per-thread large cache -> contiguous arena (fails fast) -> mapped region
// (always works unless the OS says no). Includes base/, platform/, core/ and the large tiers.
//
// Contract, step by step:
//   1. LargeCache: O(1), no lock, no syscall. Exact size class, LIFO (warm blocks first).
//   2. Arena::try_claim: no syscall, no waiting, bounded scan; a miss returns at once. On
//      kNoSpace we may grow the arena by one chunk if nobody else is growing it (one mmap).
//   3. Regions: the region cache (try-lock only), else one fresh mmap made outside every lock.
// Free: back into the freeing thread's cache if within its byte budget, else to the arena
// bitmap or the region cache. Any thread may reuse any block: a cross-thread free costs what a
// local free costs.
#pragma once

#include "large/arena.h"
#include "large/region.h"

namespace ffa {

constexpr unsigned kLargeCacheDepth = 16;
constexpr size_t kLargeCacheBytes = 8 * kMiB;

/// Per-thread counters (written by the owning thread only, read by stats with relaxed loads).
struct LargeCounters {
  std::atomic<uint64_t> cache_hits{0}, arena_hits{0}, failfast_nospace{0},
      failfast_contended{0}, regions_mapped{0}, regions_reused{0};
};

struct LargeCache {
  struct Bin {
    uint32_t count = 0;
    Span* blocks[kLargeCacheDepth] = {};
  };
  Bin bins[kLargeClasses];
  size_t bytes = 0;
  unsigned arena_hint = 0;
  LargeCounters counters;
};

/// Allocates a large block (size > kSmallMax, or any size with alignment the small path cannot
/// give). Null on ENOMEM. zero: the caller needs zeroed memory (skipped when known zero).
void* large_malloc(LargeCache* cache, size_t size, size_t align, bool zero);
/// Frees a live large block or region (span->kind kLarge or kRegion). cache may be null (a
/// thread without a heap): the block then goes straight back to its tier.
void large_free(LargeCache* cache, Span* span);
/// Releases every block in the cache to the arena.
void large_cache_flush(LargeCache* cache);
/// Usable bytes of a live large block or region.
size_t large_usable_size(const Span* span);
/// Resizes in place when possible (same class, shrink, or region mremap); returns the block's
/// new start or null when the caller must allocate, copy and free.
void* large_try_resize(Span* span, size_t new_size);

/// Bumps a per-thread counter without an atomic read-modify-write.
FFA_INLINE void bump(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace ffa
